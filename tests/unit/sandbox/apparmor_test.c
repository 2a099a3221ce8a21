/* The AppArmor profile of a container on nodes with and without AppArmor. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fs.h"
#include "common/macros.h"
#include "sandbox/apparmor.h"

static bool on;

static bool enabled(void)
{
        return on;
}

static bool default_loaded = true; /* uvmd-default */

static bool loaded(const char *p)
{
        return (default_loaded && STR_EQ(p, APPARMOR_DEFAULT_PROFILE)) || STR_EQ(p, "mine");
}

static char loaded_from[256];
static int load_result;

static int load(const char *path, struct uvm_error **err)
{
        snprintf(loaded_from, sizeof(loaded_from), "%s", path);
        if (load_result < 0)
                return uvm_error_set(err, -load_result, "parser failed");
        default_loaded = true;
        return 0;
}

static const struct apparmor_node node = {enabled, loaded, load};

static void expect(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *want,
                   const char *err_needle)
{
        struct uvm_error *err = NULL;
        char *got = NULL;
        int r = apparmor_profile(sc, &node, &got, &err);

        if (err_needle) {
                assert_int_equal(r, -EINVAL);
                if (!strstr(err->msg, err_needle))
                        fail_msg("'%s' lacks '%s'", err->msg, err_needle);
                uvm_error_free(err);
                return;
        }
        assert_int_equal(r, 0);
        if (want)
                assert_string_equal(got, want);
        else
                assert_null(got);
        free(got);
}

static void test_profiles(void **state)
{
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__SecurityProfile p = RUNTIME__V1__SECURITY_PROFILE__INIT;

        on = true;
        expect(&sc, NULL, NULL); /* none asked for */
        sc.apparmor = &p;
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
        expect(&sc, APPARMOR_DEFAULT_PROFILE, NULL);
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        p.localhost_ref = "mine";
        expect(&sc, "mine", NULL);
        p.localhost_ref = "theirs";
        expect(&sc, NULL, "\"theirs\" is not loaded");
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
        expect(&sc, NULL, NULL);
        sc.privileged = true;
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
        expect(&sc, NULL, NULL); /* privileged: unconfined, as containerd */
        sc.privileged = false;
        default_loaded = false;
        expect(&sc, NULL, "uvmd loads it at start-up");
        default_loaded = true;
        on = false;
        /* No AppArmor: the runtime's default is no profile; a named one is
         * refused. */
        expect(&sc, NULL, NULL);
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        expect(&sc, NULL, "AppArmor is not enabled on this node");
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
        expect(&sc, NULL, NULL);
}

static void test_load_default(void **state)
{
        char dir[] = "/tmp/apparmor-test-XXXXXX", path[128], *text = NULL;
        struct uvm_error *err = NULL;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/" APPARMOR_DEFAULT_PROFILE, dir);
        /* Nothing to do without AppArmor, or with the profile there. */
        on = false;
        default_loaded = false;
        loaded_from[0] = '\0';
        assert_int_equal(apparmor_load_default(&node, dir, NULL), 0);
        on = true;
        default_loaded = true;
        assert_int_equal(apparmor_load_default(&node, dir, NULL), 0);
        assert_string_equal(loaded_from, "");
        /* Written and loaded. */
        default_loaded = false;
        assert_int_equal(apparmor_load_default(&node, dir, NULL), 0);
        assert_string_equal(loaded_from, path);
        assert_int_equal(fs_read_file(path, 1 << 20, &text, NULL), 0);
        assert_non_null(strstr(text, "profile " APPARMOR_DEFAULT_PROFILE " flags="));
        assert_non_null(strstr(text, "deny mount,"));
        free(text);
        /* The parser fails: said. */
        default_loaded = false;
        load_result = -EIO;
        assert_int_equal(apparmor_load_default(&node, dir, &err), -EIO);
        assert_non_null(strstr(err->msg, "parser failed"));
        uvm_error_free(err);
        load_result = 0;
        default_loaded = true;
        fs_rm_rf(dir);
}

static void test_legacy_forms(void **state)
{
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;

        on = true;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        sc.apparmor_profile = "runtime/default";
        expect(&sc, APPARMOR_DEFAULT_PROFILE, NULL);
        sc.apparmor_profile = "localhost/mine";
        expect(&sc, "mine", NULL);
        sc.apparmor_profile = "unconfined";
        expect(&sc, NULL, NULL);
        sc.apparmor_profile = "docker/whatever";
        expect(&sc, NULL, "unknown form");
#pragma GCC diagnostic pop
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_profiles),
                cmocka_unit_test(test_legacy_forms),
                cmocka_unit_test(test_load_default),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
