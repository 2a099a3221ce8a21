/* Pod parent cgroups: the kubelet's (checked for the cgroup driver) or
 * uvmd's own, and the containers' cgroupsPath below them. The systemd
 * driver is checked here: PID 1 of the test machines is not systemd. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sandbox/cgroup.h"
#include "sandbox/spec.h"

static void ok(const char *parent, bool systemd)
{
        struct uvm_error *err = NULL;

        if (sbx_cgroup_parent_check(parent, systemd, &err) < 0)
                fail_msg("'%s' refused: %s", parent, err->msg);
}

static void bad(const char *parent, bool systemd, const char *needle)
{
        struct uvm_error *err = NULL;

        assert_int_equal(sbx_cgroup_parent_check(parent, systemd, &err), -EINVAL);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
}

static void test_check(void **state)
{
        ok("/kubepods/burstable/pod0f5b7c2e-9a41-4d35-8c6e-3b2a1d0e9f87", false);
        ok("/kubepods/besteffort", false);
        bad("kubepods/burstable", false, "absolute path");
        bad("/kubepods/../../etc", false, "without \"..\"");
        bad("/kubepods/..", false, "without \"..\"");
        bad("/kube pods", false, "absolute path");
        ok("kubepods-burstable-pod0f5b7c2e_9a41_4d35_8c6e_3b2a1d0e9f87.slice", true);
        ok("kubepods.slice", true);
        bad("/kubepods/burstable", true, "slice name");
        bad("kubepods-burstable", true, "slice name");
        bad("../x.slice", true, "slice name");
        bad("", true, "1 to");
}

/* Short parents are read within their bytes: each is put at the start of a
 * page that follows an unreadable one, so a read before it faults (the
 * "/.." suffix check once looked 2 bytes before "/"). */
static void test_short_parent_in_bounds(void **state)
{
        static const char *const parents[] = {"/", "/a", "/.."};
        long page = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        assert_true(m != MAP_FAILED);
        assert_int_equal(mprotect(m, page, PROT_NONE), 0);
        for (size_t i = 0; i < 3; i++) {
                strcpy(m + page, parents[i]);
                if (i < 2)
                        ok(m + page, false);
                else
                        bad(m + page, false, "without \"..\"");
        }
        munmap(m, 2 * page);
}

static void test_parent_names(void **state)
{
        char *p = sbx_cgroup_parent(NULL, "abc", false);
        assert_string_equal(p, "/uvmd/abc");
        free(p);
        p = sbx_cgroup_parent("", "abc", true);
        assert_string_equal(p, "uvmd-abc.slice");
        free(p);
        p = sbx_cgroup_parent("kubepods-besteffort-podx.slice", "abc", true);
        assert_string_equal(p, "kubepods-besteffort-podx.slice");
        free(p);
}

/* runc and crun take systemd cgroupsPath as "slice:prefix:name". */
static void test_container_paths(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        char *ep[] = {"/bin/sh", NULL};
        struct spec_image img = {ep, NULL, NULL, "/"};
        struct ctr_user user = {.n_groups = 1};
        struct spec_pod pod = {.id = "p", .caps_held = ~0ULL};
        const char *want[][2] = {
                {"/kubepods/burstable/podx", "/kubepods/burstable/podx/c1"},
                {"kubepods-burstable-podx.slice", "kubepods-burstable-podx.slice:uvmd:c1"}};

        for (size_t i = 0; i < 2; i++) {
                char *s = NULL;
                json_object *o, *lin, *cg;

                pod.cgroup_parent = want[i][0];
                pod.systemd_cgroups = i == 1;
                assert_int_equal(spec_build(&c, &img, &pod, "c1", &user, &s, NULL), 0);
                o = json_tokener_parse(s);
                assert_true(json_object_object_get_ex(o, "linux", &lin));
                assert_true(json_object_object_get_ex(lin, "cgroupsPath", &cg));
                assert_string_equal(json_object_get_string(cg), want[i][1]);
                json_object_put(o);
                free(s);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_short_parent_in_bounds),
                cmocka_unit_test(test_parent_names),
                cmocka_unit_test(test_container_paths),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
