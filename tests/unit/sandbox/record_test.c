/* Pod records: round trip, and damaged files refused with the field named. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/platform.h"
#include "sandbox/record.h"

static char *dir;
#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int setup(void **state)
{
        assert_int_equal(plat_mkdtemp("record-test-", &dir), 0);
        return 0;
}

static int teardown(void **state)
{
        assert_int_equal(plat_rm_rf(dir), 0);
        free(dir);
        dir = NULL;
        return 0;
}

static void test_round_trip(void **state)
{
        struct record_kv labels[] = {{"app", "web"}, {"tier", "front"}};
        struct pod_record in = {
                .id = ID,
                .name = "nginx",
                .namespace_ = "default",
                .uid = "u-1",
                .attempt = 3,
                .state = POD_READY,
                .created_ns = 1700000000000000000ll,
                .runtime_handler = "runc",
                .driver = "ns",
                .hostname = "web-0",
                .log_directory = "/var/log/pods/x",
                .netns_path = "/run/netns/x",
                .host_pid = true,
                .share_pid = true,
                .uvm = {.memory_mb = 512, .processors = 2, .allow_overcommit = true},
                .limits = {.memory_bytes = 80 << 20, .cpu_quota = 60000, .cpu_period = 100000},
                .userns = {.uids = {2, {{65536, 0, 1000}, {70000, 1000, 10}}},
                           .gids = {1, {{65536, 0, 65536}}}},
                .labels = labels,
                .n_labels = 2,
        };
        struct pod_record out = {0};

        assert_int_equal(pod_record_save(dir, &in, NULL), 0);
        assert_int_equal(pod_record_load(dir, &out, NULL), 0);
        assert_string_equal(out.id, ID);
        assert_string_equal(out.name, "nginx");
        assert_string_equal(out.namespace_, "default");
        assert_int_equal(out.attempt, 3);
        assert_int_equal(out.state, POD_READY);
        assert_int_equal(out.created_ns, in.created_ns);
        assert_string_equal(out.driver, "ns");
        assert_string_equal(out.netns_path, "/run/netns/x");
        assert_true(out.host_pid && out.share_pid && !out.host_ipc);
        assert_int_equal(out.uvm.memory_mb, 512);
        assert_true(out.uvm.allow_overcommit);
        assert_int_equal(out.n_labels, 2);
        assert_string_equal(out.labels[1].value, "front");
        assert_int_equal(out.n_annotations, 0);
        assert_int_equal(out.limits.memory_bytes, 80 << 20);
        assert_int_equal(out.limits.cpu_quota, 60000);
        assert_int_equal(out.limits.cpu_shares, 0);
        assert_true(idmap_equal(&out.userns.uids, &in.userns.uids));
        assert_true(idmap_equal(&out.userns.gids, &in.userns.gids));
        pod_record_clear(&out);
}

static void expect_bad(const char *text, const char *msg_part)
{
        char path[256];
        struct pod_record out = {0};
        struct uvm_error *err = NULL;

        snprintf(path, sizeof(path), "%s/pod.json", dir);
        assert_int_equal(plat_write_file_atomic(path, text, strlen(text), 0600), 0);
        assert_true(pod_record_load(dir, &out, &err) < 0);
        assert_non_null(err);
        if (!strstr(err->msg, msg_part))
                fail_msg("'%s' lacks '%s'", err->msg, msg_part);
        assert_null(out.id);
        uvm_error_free(err);
}

#define GOOD_HEAD "{\"id\":\"" ID "\",\"name\":\"n\",\"namespace\":\"d\",\"uid\":\"u\","
static void test_damaged(void **state)
{
        expect_bad("", "not a JSON object");
        expect_bad("[1]", "not a JSON object");
        expect_bad("{\"id\":\"abc\"}", "\"name\": missing");
        expect_bad("{\"id\":\"../x\",\"name\":\"n\",\"namespace\":\"d\",\"uid\":\"u\","
                   "\"state\":\"ready\",\"driver\":\"ns\"}",
                   "\"id\": not a 64-digit hex id");
        expect_bad(GOOD_HEAD "\"state\":\"flying\",\"driver\":\"ns\"}", "\"state\": unknown");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\",\"attempt\":-1}",
                   "\"attempt\"");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\",\"attempt\":0,"
                             "\"createdNs\":1}",
                   "\"uvm\": missing");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\",\"labels\":{\"a\":1}}",
                   "\"labels\": values must be strings");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":7}", "\"driver\": expected a string");
#define UVM ",\"attempt\":0,\"createdNs\":1,\"uvm\":{\"memoryMB\":1,\"processors\":1}"
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\"" UVM ",\"userns\":7}",
                   "\"userns\"");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\"" UVM
                             ",\"userns\":{\"uids\":[[0,0,10]],\"gids\":[[5,0,10]]}}",
                   "\"userns\": not valid mappings");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\"" UVM
                             ",\"userns\":{\"uids\":[[5,0,-1]],\"gids\":[[5,0,10]]}}",
                   "not [host, container, length]");
        expect_bad(GOOD_HEAD "\"state\":\"ready\",\"driver\":\"ns\"" UVM
                             ",\"limits\":{\"memoryBytes\":1,\"cpuQuota\":0,\"cpuPeriod\":0,"
                             "\"cpuShares\":999999}}",
                   "\"cpuShares\"");
}

static void test_missing(void **state)
{
        struct pod_record out = {0};
        struct uvm_error *err = NULL;

        assert_int_equal(pod_record_load("/nonexistent-dir", &out, &err), -ENOENT);
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_damaged),
                cmocka_unit_test(test_missing),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
