/* UpdateContainerResources: checks of LinuxContainerResources and the OCI
 * linux.resources object built from them. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sandbox/cri_resources.h"

#define MiB (1ll << 20)

static Runtime__V1__LinuxContainerResources res(void)
{
        Runtime__V1__LinuxContainerResources r;

        runtime__v1__linux_container_resources__init(&r);
        return r;
}

/* Build r's JSON; fails the test on error. The caller puts the result. */
static json_object *build_ok(const Runtime__V1__LinuxContainerResources *r)
{
        struct uvm_error *err = NULL;
        char *s = NULL;
        json_object *o;

        if (cri_resources_json(r, &s, &err) != 0)
                fail_msg("unexpected error: %s", err ? err->msg : "?");
        o = json_tokener_parse(s);
        free(s);
        assert_non_null(o);
        return o;
}

static void build_bad(const Runtime__V1__LinuxContainerResources *r, const char *needle)
{
        struct uvm_error *err = NULL;
        char *s = NULL;

        assert_int_equal(cri_resources_json(r, &s, &err), -EINVAL);
        assert_null(s);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("message '%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
}

static int64_t get_i(json_object *o, const char *a, const char *b)
{
        json_object *x, *y;

        if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
                fail_msg("%s.%s missing", a, b);
        return json_object_get_int64(y);
}

static const char *get_s(json_object *o, const char *a, const char *b)
{
        json_object *x, *y;

        if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
                fail_msg("%s.%s missing", a, b);
        return json_object_get_string(y);
}

static void test_empty(void **state)
{
        Runtime__V1__LinuxContainerResources r = res();
        json_object *o = build_ok(&r);

        (void) state;
        assert_int_equal(json_object_object_length(o), 0); /* nothing set, nothing changed */
        json_object_put(o);
}

static void test_full(void **state)
{
        Runtime__V1__LinuxContainerResources r = res();
        Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT, *hps[] = {&hp};
        Runtime__V1__LinuxContainerResources__UnifiedEntry ue =
                RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
        Runtime__V1__LinuxContainerResources__UnifiedEntry *ues[] = {&ue};
        json_object *o, *a, *e, *v;

        (void) state;
        r.cpu_shares = 512;
        r.cpu_quota = 50000;
        r.cpu_period = 100000;
        r.cpuset_cpus = "0-3,8";
        r.cpuset_mems = "0";
        r.memory_limit_in_bytes = 64 * MiB;
        hp.page_size = "2MB";
        hp.limit = 4 * MiB;
        r.hugepage_limits = hps;
        r.n_hugepage_limits = 1;
        ue.key = "memory.high";
        ue.value = "50000000";
        r.unified = ues;
        r.n_unified = 1;
        o = build_ok(&r);
        assert_int_equal(get_i(o, "cpu", "shares"), 512);
        assert_int_equal(get_i(o, "cpu", "quota"), 50000);
        assert_int_equal(get_i(o, "cpu", "period"), 100000);
        assert_string_equal(get_s(o, "cpu", "cpus"), "0-3,8");
        assert_string_equal(get_s(o, "cpu", "mems"), "0");
        assert_int_equal(get_i(o, "memory", "limit"), 64 * MiB);
        /* No swap limit given: none beyond the memory limit. */
        assert_int_equal(get_i(o, "memory", "swap"), 64 * MiB);
        assert_true(json_object_object_get_ex(o, "hugepageLimits", &a));
        assert_int_equal(json_object_array_length(a), 1);
        e = json_object_array_get_idx(a, 0);
        assert_true(json_object_object_get_ex(e, "pageSize", &v));
        assert_string_equal(json_object_get_string(v), "2MB");
        assert_true(json_object_object_get_ex(e, "limit", &v));
        assert_int_equal(json_object_get_int64(v), 4 * MiB);
        assert_string_equal(get_s(o, "unified", "memory.high"), "50000000");
        json_object_put(o);
}

static void test_swap_and_unlimited(void **state)
{
        Runtime__V1__LinuxContainerResources r = res();
        json_object *o, *cpu;

        (void) state;
        r.memory_limit_in_bytes = 64 * MiB;
        r.memory_swap_limit_in_bytes = 128 * MiB;
        r.cpu_quota = -1;
        o = build_ok(&r);
        assert_int_equal(get_i(o, "memory", "swap"), 128 * MiB);
        assert_int_equal(get_i(o, "cpu", "quota"), -1);
        json_object_put(o);

        r = res();
        r.memory_swap_limit_in_bytes = -1;
        r.cpu_shares = 2;
        o = build_ok(&r);
        assert_int_equal(get_i(o, "memory", "swap"), -1);
        assert_false(json_object_object_get_ex(json_object_object_get(o, "memory"), "limit", NULL));
        assert_true(json_object_object_get_ex(o, "cpu", &cpu));
        assert_int_equal(json_object_object_length(cpu), 1);
        json_object_put(o);
}

static void test_bounds(void **state)
{
        Runtime__V1__LinuxContainerResources r;
        json_object *o;

        (void) state;
        r = res(), r.cpu_shares = -1;
        build_bad(&r, "cpu_shares -1");
        r = res(), r.cpu_shares = 262145;
        build_bad(&r, "cpu_shares 262145");
        r = res(), r.cpu_shares = 262144;
        json_object_put(build_ok(&r));
        r = res(), r.cpu_quota = 999;
        build_bad(&r, "cpu_quota 999");
        r = res(), r.cpu_quota = -2;
        build_bad(&r, "cpu_quota -2");
        r = res(), r.cpu_quota = 1000;
        json_object_put(build_ok(&r));
        r = res(), r.cpu_period = 999;
        build_bad(&r, "cpu_period 999");
        r = res(), r.cpu_period = 1000001;
        build_bad(&r, "cpu_period 1000001");
        r = res(), r.cpu_period = -1;
        build_bad(&r, "cpu_period -1");
        r = res(), r.cpu_period = 1000;
        json_object_put(build_ok(&r));
        r = res(), r.memory_limit_in_bytes = 4 * MiB - 1;
        build_bad(&r, "at least 4 MiB");
        r = res(), r.memory_limit_in_bytes = -1;
        build_bad(&r, "memory_limit_in_bytes -1");
        r = res(), r.memory_limit_in_bytes = 4 * MiB;
        o = build_ok(&r);
        assert_int_equal(get_i(o, "memory", "limit"), 4 * MiB);
        json_object_put(o);
        r = res(), r.memory_limit_in_bytes = 64 * MiB, r.memory_swap_limit_in_bytes = 32 * MiB;
        build_bad(&r, "memory_swap_limit_in_bytes");
        r = res(), r.memory_swap_limit_in_bytes = -2;
        build_bad(&r, "memory_swap_limit_in_bytes -2");
        r = res(), r.oom_score_adj = 1001;
        build_bad(&r, "oom_score_adj");
}

static void test_cpuset(void **state)
{
        static const char *const good[] = {"0", "0-3", "0,2,4", "0-1,4-7,9", "65535"};
        static const char *const badv[] = {"",   "a",   "0-",   "-1",    "3-1", "0,,1", "0,",
                                           ",0", "1 2", "0-3-", "65536", "0x1", "1-2a", "+1"};
        struct uvm_error *err = NULL;
        char big[CRI_MAX_CPUSET_LEN + 2];

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (cri_cpuset_check("cpuset_cpus", good[i], &err) != 0)
                        fail_msg("\"%s\" refused: %s", good[i], err->msg);
        for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
                if (cri_cpuset_check("cpuset_mems", badv[i], &err) != -EINVAL)
                        fail_msg("\"%s\" accepted", badv[i]);
                assert_non_null(strstr(err->msg, "cpuset_mems"));
                err = uvm_error_free(err);
        }
        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(cri_cpuset_check("cpuset_cpus", big, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "longer than"));
        err = uvm_error_free(err);
}

static void test_hugepages_and_unified(void **state)
{
        Runtime__V1__LinuxContainerResources r = res();
        Runtime__V1__HugepageLimit a = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
        Runtime__V1__HugepageLimit b = RUNTIME__V1__HUGEPAGE_LIMIT__INIT, *hps[] = {&a, &b};
        Runtime__V1__LinuxContainerResources__UnifiedEntry ue =
                RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
        Runtime__V1__LinuxContainerResources__UnifiedEntry *ues[] = {&ue};
        static const char *const bad_sizes[] = {"2XB",  "MB", "02MB",        "2mb",
                                                "2MB ", "",   "1234567890KB"};

        (void) state;
        r.hugepage_limits = hps;
        r.n_hugepage_limits = 2;
        a.page_size = "2MB";
        b.page_size = "1GB";
        json_object_put(build_ok(&r));
        b.page_size = "2MB";
        build_bad(&r, "given twice");
        r.n_hugepage_limits = 1;
        for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
                a.page_size = (char *) bad_sizes[i];
                build_bad(&r, "page_size");
        }
        a.page_size = NULL;
        build_bad(&r, "page_size");
        r.n_hugepage_limits = CRI_MAX_HUGEPAGE_LIMITS + 1;
        build_bad(&r, "at most");

        r = res();
        r.unified = ues;
        r.n_unified = 1;
        ue.key = "../memory.max";
        ue.value = "1";
        build_bad(&r, "unified key");
        ue.key = "memory";
        build_bad(&r, "unified key");
        ue.key = "memory.max";
        ue.value = "1\n2";
        build_bad(&r, "one line");
        ue.value = NULL;
        build_bad(&r, "one line");
        ue.value = "max";
        json_object_put(build_ok(&r));
}

static void test_pod_limits(void **state)
{
        Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT,
                                             ovh = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        struct sbx_pod_limits l;
        struct uvm_error *err = NULL;

        /* Nothing given, or only an overhead: no bound. */
        assert_int_equal(cri_pod_limits(NULL, NULL, &l, NULL), 0);
        assert_false(sbx_pod_limits_set(&l));
        ovh.memory_limit_in_bytes = 16 << 20;
        assert_int_equal(cri_pod_limits(&res, &ovh, &l, NULL), 0);
        assert_false(sbx_pod_limits_set(&l));
        /* The overhead adds to what the pod bounds, scaled to its period. */
        res.memory_limit_in_bytes = 64 << 20;
        res.cpu_quota = 50000;
        res.cpu_period = 200000;
        res.cpu_shares = 262000;
        ovh.cpu_quota = 5000;
        ovh.cpu_period = 50000;
        ovh.cpu_shares = 1000;
        assert_int_equal(cri_pod_limits(&res, &ovh, &l, NULL), 0);
        assert_int_equal(l.memory_bytes, 80 << 20);
        assert_int_equal(l.cpu_period, 200000);
        assert_int_equal(l.cpu_quota, 70000);
        assert_int_equal(l.cpu_shares, CRI_MAX_CPU_SHARES);
        /* Sums stop at 2^63-1. */
        res.memory_limit_in_bytes = INT64_MAX - 1;
        res.cpu_quota = INT64_MAX - 1;
        ovh.cpu_quota = INT64_MAX / 2;
        assert_int_equal(cri_pod_limits(&res, &ovh, &l, NULL), 0);
        assert_int_equal(l.memory_bytes, INT64_MAX);
        assert_int_equal(l.cpu_quota, INT64_MAX);
        /* Each part is checked, and named. */
        ovh.memory_limit_in_bytes = -5;
        assert_int_equal(cri_pod_limits(&res, &ovh, &l, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "linux.overhead"));
        uvm_error_free(err);
        err = NULL;
        res.cpu_period = 5;
        assert_int_equal(cri_pod_limits(&res, NULL, &l, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "linux.resources"));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_swap_and_unlimited),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_cpuset),
                cmocka_unit_test(test_hugepages_and_unified),
                cmocka_unit_test(test_pod_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
