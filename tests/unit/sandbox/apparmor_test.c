/* The AppArmor profile of a container on nodes with and without AppArmor. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/macros.h"
#include "sandbox/apparmor.h"

static bool on;

static bool enabled(void)
{
        return on;
}

static bool loaded(const char *p)
{
        return STR_EQ(p, APPARMOR_DEFAULT_PROFILE) || STR_EQ(p, "mine");
}

static const struct apparmor_node node = {enabled, loaded};

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
        on = false;
        expect(&sc, NULL, "AppArmor is not enabled on this node");
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
        expect(&sc, NULL, NULL);
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
