/* A Windows node's WindowsContainerResources as the Linux cgroup values of
 * a container in a utility VM (cri_resources_from_windows): the mapping,
 * each field's bounds, and that what comes out passes Linux's own checks.
 * Portable: on Linux and under Wine. */

/* Before <stdio.h> (cmocka's): msvcrt's stdin/stdout/stderr are macros. */
#include "proto/api.pb-c.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sandbox/cri_resources.h"

#define MiB (1ll << 20)
#define GiB (1ll << 30)

static const struct cri_uvm_facts two_cpus = {.vcpus = 2, .rootfs_max_bytes = 20 * GiB};

static Runtime__V1__WindowsContainerResources win(void)
{
        Runtime__V1__WindowsContainerResources w;

        runtime__v1__windows_container_resources__init(&w);
        return w;
}

static Runtime__V1__LinuxContainerResources map_ok(const Runtime__V1__WindowsContainerResources *w,
                                                   const struct cri_uvm_facts *f)
{
        Runtime__V1__LinuxContainerResources l;
        struct uvm_error *err = NULL;

        memset(&l, 0x5a, sizeof(l)); /* every field written by the call */
        if (cri_resources_from_windows(w, f, &l, &err) != 0)
                fail_msg("unexpected error: %s", err ? err->msg : "?");
        return l;
}

static void map_bad(const Runtime__V1__WindowsContainerResources *w, const struct cri_uvm_facts *f,
                    const char *needle)
{
        Runtime__V1__LinuxContainerResources l;
        struct uvm_error *err = NULL;

        memset(&l, 0x5a, sizeof(l));
        assert_int_equal(cri_resources_from_windows(w, f, &l, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("message '%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
        /* Nothing written on failure. */
        assert_int_equal(l.cpu_quota, (int64_t) 0x5a5a5a5a5a5a5a5all);
}

static void test_unset(void **state)
{
        Runtime__V1__WindowsContainerResources w = win();
        Runtime__V1__LinuxContainerResources l = map_ok(&w, &two_cpus);

        (void) state;
        assert_int_equal(l.cpu_shares, 0);
        assert_int_equal(l.cpu_quota, 0);
        assert_int_equal(l.cpu_period, 0);
        assert_int_equal(l.memory_limit_in_bytes, 0);
        assert_int_equal(l.memory_swap_limit_in_bytes, 0);
        assert_int_equal(l.oom_score_adj, 0);
        assert_int_equal(l.n_hugepage_limits, 0);
        assert_int_equal(l.n_unified, 0);
        assert_true(!l.cpuset_cpus || !*l.cpuset_cpus);
}

/* cpu_maximum is a share of the VM's CPUs: max x period x vCPUs / 10000. */
static void test_cpu_maximum(void **state)
{
        static const struct {
                int64_t max;
                unsigned vcpus;
                int64_t quota;
        } cases[] = {
                {5000, 2, 100000},    {10000, 4, 400000}, {2500, 3, 75000},
                {10000, 1, 100000},   {1, 1, 1000},     /* 10 us: raised to the kernel's 1 ms */
                {99, 1, 1000},                          /* 990 us: likewise */
                {101, 1, 1010},       {5000, 0, 50000}, /* no count known: one CPU */
                {10000, 64, 6400000},
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Runtime__V1__WindowsContainerResources w = win();
                struct cri_uvm_facts f = {.vcpus = cases[i].vcpus, .rootfs_max_bytes = GiB};
                Runtime__V1__LinuxContainerResources l;

                w.cpu_maximum = cases[i].max;
                l = map_ok(&w, &f);
                if (l.cpu_quota != cases[i].quota || l.cpu_period != CRI_CFS_PERIOD)
                        fail_msg("cpu_maximum %lld on %u vCPUs: quota %lld period %lld, want %lld",
                                 (long long) cases[i].max, cases[i].vcpus, (long long) l.cpu_quota,
                                 (long long) l.cpu_period, (long long) cases[i].quota);
                assert_int_equal(l.cpu_shares, 0);
        }
}

/* cpu_count: that many whole CPUs, at most the VM's. */
static void test_cpu_count(void **state)
{
        Runtime__V1__WindowsContainerResources w = win();
        Runtime__V1__LinuxContainerResources l;
        struct cri_uvm_facts four = {.vcpus = 4, .rootfs_max_bytes = GiB};

        (void) state;
        w.cpu_count = 1;
        l = map_ok(&w, &two_cpus);
        assert_int_equal(l.cpu_quota, 100000);
        assert_int_equal(l.cpu_period, 100000);
        w.cpu_count = 3;
        assert_int_equal(map_ok(&w, &four).cpu_quota, 300000);
        assert_int_equal(map_ok(&w, &two_cpus).cpu_quota, 200000); /* clamped */
        w.cpu_count = INT64_MAX;
        assert_int_equal(map_ok(&w, &two_cpus).cpu_quota, 200000);
}

/* cpu_shares 1-10000 onto 2-262144, both ends kept, order kept. */
static void test_cpu_shares(void **state)
{
        Runtime__V1__WindowsContainerResources w = win();
        Runtime__V1__LinuxContainerResources l;
        int64_t prev = 0;

        (void) state;
        w.cpu_shares = 1;
        assert_int_equal(map_ok(&w, &two_cpus).cpu_shares, 2);
        w.cpu_shares = 10000;
        assert_int_equal(map_ok(&w, &two_cpus).cpu_shares, 262144);
        w.cpu_shares = 5000;
        assert_int_equal(map_ok(&w, &two_cpus).cpu_shares, 131059);
        for (int64_t s = 1; s <= 10000; s += 37) {
                w.cpu_shares = s;
                l = map_ok(&w, &two_cpus);
                assert_true(l.cpu_shares > prev);
                assert_true(l.cpu_shares >= 2 && l.cpu_shares <= CRI_MAX_CPU_SHARES);
                assert_int_equal(l.cpu_quota, 0); /* shares alone set no quota */
                prev = l.cpu_shares;
        }
        /* Shares go with a quota: both are cgroup settings here. */
        w.cpu_shares = 100;
        w.cpu_maximum = 5000;
        l = map_ok(&w, &two_cpus);
        assert_int_equal(l.cpu_shares, 2 + 99 * 262142 / 9999);
        assert_int_equal(l.cpu_quota, 100000);
}

static void test_memory_and_rootfs(void **state)
{
        Runtime__V1__WindowsContainerResources w = win();
        Runtime__V1__LinuxContainerResources l;

        (void) state;
        w.memory_limit_in_bytes = 256 * MiB;
        w.rootfs_size_in_bytes = 20 * GiB; /* the scratch's size exactly */
        l = map_ok(&w, &two_cpus);
        assert_int_equal(l.memory_limit_in_bytes, 256 * MiB);
        assert_int_equal(l.cpu_quota, 0);
        w.memory_limit_in_bytes = 4 * MiB;
        assert_int_equal(map_ok(&w, &two_cpus).memory_limit_in_bytes, 4 * MiB);
}

static void test_bounds(void **state)
{
        static const struct {
                int64_t shares, count, max, mem, rootfs;
                size_t n_affinity;
                const char *needle;
        } bad[] = {
                {-1, 0, 0, 0, 0, 0, "windows.cpu_shares -1"},
                {10001, 0, 0, 0, 0, 0, "windows.cpu_shares 10001"},
                {INT64_MIN, 0, 0, 0, 0, 0, "windows.cpu_shares"},
                {0, -1, 0, 0, 0, 0, "windows.cpu_count -1"},
                {0, 0, -1, 0, 0, 0, "windows.cpu_maximum -1"},
                {0, 0, 10001, 0, 0, 0, "windows.cpu_maximum 10001"},
                {0, 0, INT64_MAX, 0, 0, 0, "windows.cpu_maximum"},
                {0, 2, 5000, 0, 0, 0, "windows.cpu_count and windows.cpu_maximum"},
                {0, 0, 0, 1, 0, 0, "windows.memory_limit_in_bytes 1"},
                {0, 0, 0, 4 * MiB - 1, 0, 0, "windows.memory_limit_in_bytes"},
                {0, 0, 0, -5, 0, 0, "windows.memory_limit_in_bytes -5"},
                {0, 0, 0, 0, -1, 0, "windows.rootfs_size_in_bytes -1"},
                {0, 0, 0, 0, 20 * GiB + 1, 0, "windows.rootfs_size_in_bytes 21474836481"},
                {0, 0, 0, 0, 0, 1, "windows.affinity_cpus"},
        };
        Runtime__V1__WindowsCpuGroupAffinity aff = RUNTIME__V1__WINDOWS_CPU_GROUP_AFFINITY__INIT;
        Runtime__V1__WindowsCpuGroupAffinity *affs[] = {&aff};

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                Runtime__V1__WindowsContainerResources w = win();

                w.cpu_shares = bad[i].shares;
                w.cpu_count = bad[i].count;
                w.cpu_maximum = bad[i].max;
                w.memory_limit_in_bytes = bad[i].mem;
                w.rootfs_size_in_bytes = bad[i].rootfs;
                w.n_affinity_cpus = bad[i].n_affinity;
                w.affinity_cpus = bad[i].n_affinity ? affs : NULL;
                map_bad(&w, &two_cpus, bad[i].needle);
        }
}

/* What the mapping gives is what Linux's UpdateContainerResources takes:
 * the OCI object the agent hands runc. */
static void test_passes_linux_checks(void **state)
{
        Runtime__V1__WindowsContainerResources w = win();
        Runtime__V1__LinuxContainerResources l;
        struct uvm_error *err = NULL;
        json_object *o, *cpu, *mem, *v;
        char *json = NULL;

        (void) state;
        w.cpu_maximum = 1;
        w.cpu_shares = 1;
        w.memory_limit_in_bytes = 64 * MiB;
        l = map_ok(&w, &two_cpus);
        assert_int_equal(cri_resources_json(&l, &json, &err), 0);
        o = json_tokener_parse(json);
        free(json);
        assert_true(json_object_object_get_ex(o, "cpu", &cpu));
        assert_true(json_object_object_get_ex(cpu, "quota", &v));
        assert_int_equal(json_object_get_int64(v), 1000);
        assert_true(json_object_object_get_ex(cpu, "period", &v));
        assert_int_equal(json_object_get_int64(v), 100000);
        assert_true(json_object_object_get_ex(cpu, "shares", &v));
        assert_int_equal(json_object_get_int64(v), 2);
        assert_false(json_object_object_get_ex(cpu, "cpus", &v));
        assert_true(json_object_object_get_ex(o, "memory", &mem));
        assert_true(json_object_object_get_ex(mem, "limit", &v));
        assert_int_equal(json_object_get_int64(v), 64 * MiB);
        json_object_put(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unset),
                cmocka_unit_test(test_cpu_maximum),
                cmocka_unit_test(test_cpu_count),
                cmocka_unit_test(test_cpu_shares),
                cmocka_unit_test(test_memory_and_rootfs),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_passes_linux_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
