/* hcn_pod_create / hcn_pod_delete against a fake HCN: the calls made, in
 * order; endpoints described; a failure at any call rolled back completely;
 * delete idempotent. Portable: runs on Linux and under Wine. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "network/hcn.h"
#include "tests/unit/hcn/fake_hcn.h"

#define EP1 "0b9a3c1e-5f2d-4e8a-9c7b-1d2e3f4a5b6c"
#define EP1_UPPER "0B9A3C1E-5F2D-4E8A-9C7B-1D2E3F4A5B6C"
#define EP2 "8F14E45F-CEEA-467A-9575-A1B2C3D4E5F6"
#define NS "5d7c2b1a-0e3f-4a6b-8c9d-e0f1a2b3c4d5"

static char doc1[1024], doc2[1024];
static const char *const two_eps[] = {EP1, EP2};
static char logged[4096];

static void capture_log(const char *record, size_t len, void *userdata)
{
        strncat(logged, record, sizeof(logged) - strlen(logged) - 1);
}

static int setup(void **state)
{
        fake_hcn_reset();
        logged[0] = '\0';
        log_set_sink(capture_log, NULL);
        fake_hcn_endpoint(EP1, fake_hcn_doc(doc1, sizeof(doc1), EP1_UPPER, "00-15-5D-8A-01-05",
                                            "10.244.1.5", 24, "10.244.1.1"));
        fake_hcn_endpoint(EP2, fake_hcn_doc(doc2, sizeof(doc2), EP2, "00-15-5D-8A-01-06",
                                            "192.168.50.7", 20, "192.168.48.1"));
        return 0;
}

static int teardown(void **state)
{
        log_set_sink(NULL, NULL);
        return 0;
}

static bool is_v4_guid(const char *s)
{
        for (size_t i = 0; i < HCN_GUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
                        return false;
        }
        return s[HCN_GUID_LEN] == '\0' && s[14] == '4' && strchr("89ab", s[19]);
}

/* hcn_pod_create with a new id (hcn_new_guid), written to ret_ns only
 * on success, as the callers' record would be. */
static int create_new(const struct hcn_api *api, const char *const *ids, size_t n,
                      char ret_ns[HCN_GUID_LEN + 1], struct hcn_endpoint *eps,
                      struct uvm_error **err)
{
        char ns[HCN_GUID_LEN + 1];
        int r;

        assert_int_equal(hcn_new_guid(ns, NULL), 0);
        r = hcn_pod_create(api, ns, ids, n, eps, err);
        if (r >= 0)
                memcpy(ret_ns, ns, sizeof(ns));
        return r;
}

/* The calls of a successful create with both endpoints. */
static const char *const create_calls[] = {
        "create %s", "query " EP1, "add %s " EP1, "query " EP2, "add %s " EP2, NULL,
};

static void test_create_sequence(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        _cleanup_json_ json_object *settings = NULL, *query = NULL;
        struct hcn_endpoint eps[2];
        char ns[HCN_GUID_LEN + 1];
        json_object *v, *sv;

        assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), 0);
        assert_null(err);
        assert_true(is_v4_guid(ns));
        assert_true(fake_hcn_log_is(ns, create_calls));

        /* A new "Host" compartment, schema 2.0; the query asks for schema 2. */
        settings = json_tokener_parse(fake.last_settings);
        assert_string_equal(json_string_of(settings, "Type"), "Host");
        assert_true(json_object_object_get_ex(settings, "SchemaVersion", &sv));
        assert_true(json_object_object_get_ex(sv, "Major", &v));
        assert_int_equal(json_object_get_int(v), 2);
        query = json_tokener_parse(fake.last_query);
        assert_true(json_object_object_get_ex(query, "SchemaVersion", &sv));
        assert_true(json_object_object_get_ex(sv, "Major", &v));
        assert_int_equal(json_object_get_int(v), 2);

        assert_string_equal(eps[0].id, EP1);
        assert_string_equal(eps[0].mac, "00-15-5D-8A-01-05");
        assert_string_equal(eps[0].ip, "10.244.1.5");
        assert_int_equal(eps[0].prefix_len, 24);
        assert_string_equal(eps[0].gateway, "10.244.1.1");
        assert_string_equal(eps[1].id, EP2);
        assert_string_equal(eps[1].ip, "192.168.50.7");
        assert_int_equal(eps[1].prefix_len, 20);
        assert_string_equal(eps[1].gateway, "192.168.48.1");

        /* What the fake holds: the namespace with both endpoints in it. */
        assert_int_equal(fake.n_ns, 1);
        assert_string_equal(fake.namespaces[0], ns);
        assert_int_equal(fake.n_attached, 2);
}

static void test_create_without_endpoints(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char *const calls[] = {"create %s", NULL};
        char ns[HCN_GUID_LEN + 1];

        assert_int_equal(create_new(&fake_hcn_api, NULL, 0, ns, NULL, &err), 0);
        assert_true(fake_hcn_log_is(ns, calls));
}

/* Nothing of a failed create is left, and the outputs are untouched. */
static void assert_rolled_back(const char *ns, const struct hcn_endpoint *eps)
{
        assert_int_equal(fake.n_ns, 0);
        assert_int_equal(fake.n_attached, 0);
        for (size_t i = 0; i < HCN_GUID_LEN + 1; i++)
                assert_int_equal(ns[i], 'X');
        for (size_t i = 0; i < 2 * sizeof(*eps); i++)
                assert_int_equal(((const unsigned char *) eps)[i], 0xAA);
}

static void test_create_rolls_back_at_each_call(void **state)
{
        static const char *const steps[] = {
                "create HCN namespace",    "query HCN endpoint " EP1, "add HCN endpoint " EP1,
                "query HCN endpoint " EP2, "add HCN endpoint " EP2,
        };
        static const char record[] =
                "{\"ErrorCode\":2151350274,\"Error\":\"injected\",\"Success\":false}";

        for (size_t k = 1; k <= 5; k++) {
                _cleanup_error_ struct uvm_error *err = NULL;
                struct hcn_endpoint eps[2];
                char ns[HCN_GUID_LEN + 1];

                setup(state);
                memset(ns, 'X', sizeof(ns));
                memset(eps, 0xAA, sizeof(eps));
                fake_hcn_fail(k, NULL, -ENOENT, record);
                assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), -ENOENT);
                assert_non_null(err);
                assert_int_equal(err->code, ENOENT);
                assert_non_null(strstr(err->msg, steps[k - 1]));
                assert_non_null(strstr(err->msg, "HRESULT 0x803b0002: injected"));
                assert_rolled_back(ns, eps);
                /* The last calls are the rollback: removes, then the delete. */
                if (k > 1)
                        assert_int_equal(strncmp(fake.log[fake.n_log - 1], "delete ", 7), 0);
                else
                        assert_int_equal(fake.n_log, 1);
        }
}

static void test_rollback_order(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char *const calls[] = {
                "create %s",   "query " EP1,     "add %s " EP1, "query " EP2,
                "add %s " EP2, "remove %s " EP1, "delete %s",   NULL,
        };
        struct hcn_endpoint eps[2];
        char ns[HCN_GUID_LEN + 1], want[200];
        const char *ns_id;

        fake_hcn_fail(5, NULL, -EEXIST, NULL);
        assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), -EEXIST);
        ns_id = fake.log[0] + strlen("create ");
        assert_true(fake_hcn_log_is(ns_id, calls));
        snprintf(want, sizeof(want), "add HCN endpoint %s to namespace %.36s: ", EP2, ns_id);
        assert_int_equal(strncmp(err->msg, want, strlen(want)), 0);
        assert_int_equal(fake.n_ns, 0);
}

/* A failing cleanup is logged ", ignoring"; the first error is reported. */
static void test_rollback_failure_keeps_first_error(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        struct hcn_endpoint eps[2];
        char ns[HCN_GUID_LEN + 1];

        fake_hcn_fail(4, NULL, -EPERM, "{\"Error\":\"denied\",\"Success\":false}");
        fake_hcn_fail(0, "remove", -EIO, "{\"Error\":\"remove broke\"}");
        assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), -EPERM);
        assert_non_null(strstr(err->msg, "query HCN endpoint " EP2));
        assert_non_null(strstr(err->msg, "denied"));
        assert_null(strstr(err->msg, "remove broke"));
        /* The remove failed, so the delete found the endpoint still there. */
        assert_int_equal(strncmp(fake.log[5], "delete ", 7), 0);
        assert_non_null(strstr(logged, "remove broke, ignoring"));
        assert_non_null(strstr(logged, ", ignoring"));
        assert_int_equal(fake.n_ns, 1);
}

static void test_malformed_endpoint_rolls_back(void **state)
{
        static const struct {
                const char *doc, *want;
        } cases[] = {
                {"", "not a JSON document"},
                {"{\"MacAddress\":\"00-15-5D-8A-01-05\"", "not a JSON document"},
                {"[]", "not a JSON object"},
                {"{\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.2\",\"PrefixLength\":8}]}",
                 "no valid MacAddress"},
                {"{\"MacAddress\":\"00-15-5D-8A-01-05\"}", "no IpConfigurations"},
                {"{\"MacAddress\":\"00-15-5D-8A-01-05\",\"IpConfigurations\":[{\"IpAddress\":"
                 "\"10.0.0.300\",\"PrefixLength\":8}]}",
                 "IpConfigurations[0]: no valid IpAddress"},
                {"{\"ID\":\"" EP2 "\",\"MacAddress\":\"00-15-5D-8A-01-05\",\"IpConfigurations\":"
                 "[{\"IpAddress\":\"10.0.0.3\",\"PrefixLength\":8}]}",
                 "the document is of endpoint " EP2},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_error_ struct uvm_error *err = NULL;
                struct hcn_endpoint eps[2];
                char ns[HCN_GUID_LEN + 1];

                setup(state);
                fake.endpoints[0].doc = cases[i].doc;
                memset(ns, 'X', sizeof(ns));
                memset(eps, 0xAA, sizeof(eps));
                assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), -EIO);
                if (!strstr(err->msg, cases[i].want) || !strstr(err->msg, "HCN endpoint " EP1))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err->msg, cases[i].want);
                assert_rolled_back(ns, eps);
        }
}

static void test_delete_idempotent(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char *const calls[] = {"remove %s " EP2, "remove %s " EP1, "delete %s", NULL};
        struct hcn_endpoint eps[2];
        char ns[HCN_GUID_LEN + 1];

        assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), 0);
        fake.n_log = 0;
        assert_int_equal(hcn_pod_delete(&fake_hcn_api, ns, two_eps, 2, &err), 0);
        assert_true(fake_hcn_log_is(ns, calls));
        assert_int_equal(fake.n_ns, 0);
        assert_int_equal(fake.n_attached, 0);

        /* Again: everything is gone (-ENOENT from each call), not an error. */
        fake.n_log = 0;
        assert_int_equal(hcn_pod_delete(&fake_hcn_api, ns, two_eps, 2, &err), 0);
        assert_true(fake_hcn_log_is(ns, calls));
        assert_null(err);
}

/* A failed remove is reported, the rest is still released. */
static void test_delete_goes_on_after_failure(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        struct hcn_endpoint eps[2];
        char ns[HCN_GUID_LEN + 1];

        assert_int_equal(create_new(&fake_hcn_api, two_eps, 2, ns, eps, &err), 0);
        fake.n_log = 0;
        fake_hcn_fail(fake.calls + 1, NULL, -EPERM, "{\"Error\":\"access denied\"}");
        assert_int_equal(hcn_pod_delete(&fake_hcn_api, ns, two_eps, 2, &err), -EPERM);
        assert_int_equal(fake.n_log, 3);
        assert_non_null(strstr(err->msg, "remove HCN endpoint " EP2));
        assert_non_null(strstr(err->msg, "access denied"));
        assert_int_equal(fake.n_attached, 1); /* EP2 stays: the namespace is busy */
        assert_int_equal(fake.n_ns, 1);
}

static void test_new_guid(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        char a[HCN_GUID_LEN + 1], b[HCN_GUID_LEN + 1];

        assert_int_equal(hcn_new_guid(a, &err), 0);
        assert_int_equal(hcn_new_guid(b, &err), 0);
        assert_true(is_v4_guid(a));
        assert_true(is_v4_guid(b));
        assert_string_not_equal(a, b);
        assert_int_equal(hcn_new_guid(NULL, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "no place"));
        assert_int_equal(fake.calls, 0);
}

/* The namespace gets exactly the caller's id (either case), which the
 * later calls use too. */
static void test_caller_chooses_id(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char upper[] = "5D7C2B1A-0E3F-4A6B-8C9D-E0F1A2B3C4D5";
        static const char *const calls[] = {"create %s", "query " EP1, "add %s " EP1, NULL};
        struct hcn_endpoint ep;

        assert_int_equal(hcn_pod_create(&fake_hcn_api, upper, two_eps, 1, &ep, &err), 0);
        assert_true(fake_hcn_log_is(upper, calls));
        assert_string_equal(fake.namespaces[0], upper);
        assert_string_equal(fake.attached[0].ns, upper);
        assert_string_equal(ep.id, EP1);
}

/* A namespace that exists already is not this call's: -EEXIST, and it is
 * neither deleted nor changed. */
static void test_existing_namespace_left_alone(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char *const calls[] = {"create %s", NULL};
        struct hcn_endpoint eps[2];

        assert_int_equal(hcn_pod_create(&fake_hcn_api, NS, NULL, 0, NULL, &err), 0);
        fake.n_log = 0;
        assert_int_equal(hcn_pod_create(&fake_hcn_api, NS, two_eps, 2, eps, &err), -EEXIST);
        assert_non_null(strstr(err->msg, "create HCN namespace " NS));
        assert_true(fake_hcn_log_is(NS, calls));
        assert_int_equal(fake.n_ns, 1);
        assert_int_equal(fake.n_attached, 0);
}

static void test_bad_arguments(void **state)
{
        static const char *const bad_id[] = {EP1, "{" EP1 "}"};
        static const char *const dup[] = {EP1, EP1_UPPER};
        static const char *const null_id[] = {NULL};
        static const char *many[HCN_MAX_ENDPOINTS + 1];
        struct hcn_api partial = fake_hcn_api;
        struct hcn_endpoint eps[2];
        struct {
                const struct hcn_api *api;
                const char *const *ids;
                size_t n;
                struct hcn_endpoint *eps;
                const char *want;
        } cases[] = {
                {NULL, two_eps, 2, eps, "incomplete API table"},
                {&partial, two_eps, 2, eps, "incomplete API table"},
                {&fake_hcn_api, bad_id, 2, eps, "'{" EP1 "}' is not a GUID"},
                {&fake_hcn_api, dup, 2, eps, "given twice"},
                {&fake_hcn_api, null_id, 1, eps, "'(null)' is not a GUID"},
                {&fake_hcn_api, many, HCN_MAX_ENDPOINTS + 1, eps, "endpoints, at most"},
                {&fake_hcn_api, NULL, 1, eps, "no endpoint ids"},
                {&fake_hcn_api, two_eps, 2, NULL, "no place for the result"},
        };

        partial.endpoint_query = NULL;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_error_ struct uvm_error *err = NULL;

                assert_int_equal(hcn_pod_create(cases[i].api, NS, cases[i].ids, cases[i].n,
                                                cases[i].eps, &err),
                                 -EINVAL);
                if (!strstr(err->msg, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err->msg, cases[i].want);
        }
        {
                _cleanup_error_ struct uvm_error *err = NULL;

                assert_int_equal(hcn_pod_delete(&fake_hcn_api, "pod-1", two_eps, 2, &err), -EINVAL);
                assert_non_null(strstr(err->msg, "namespace id 'pod-1' is not a GUID"));
        }
        /* The caller's namespace id is checked like the endpoints'. */
        {
                static const char *const bad_ns[] = {NULL, "", "{" NS "}", NS "0", "pod-1"};

                for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
                        _cleanup_error_ struct uvm_error *err = NULL;

                        assert_int_equal(
                                hcn_pod_create(&fake_hcn_api, bad_ns[i], two_eps, 2, eps, &err),
                                -EINVAL);
                        assert_non_null(strstr(err->msg, "namespace id"));
                        assert_non_null(strstr(err->msg, "is not a GUID"));
                }
        }
        assert_int_equal(fake.calls, 0);
}

/* HCN's record goes into the message bounded and without control bytes. */
static void test_error_record_bounded(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static char record[20000];
        char ns[HCN_GUID_LEN + 1];

        memset(record, 'r', sizeof(record) - 1);
        memcpy(record, "line1\nline2\x1b[31m", 16);
        fake_hcn_fail(1, NULL, -EIO, record);
        assert_int_equal(create_new(&fake_hcn_api, NULL, 0, ns, NULL, &err), -EIO);
        assert_true(strlen(err->msg) < 700);
        assert_null(strchr(err->msg, '\n'));
        assert_null(strchr(err->msg, '\x1b'));
        assert_non_null(strstr(err->msg, "line1 line2 [31m"));
        assert_string_equal(err->msg + strlen(err->msg) - 3, "...");
}

/* One endpoint queried, attached and detached on its own (NICs added to a
 * running pod): unknown endpoints are -ENOENT, a second attach -EEXIST, a
 * detach of what is not there no error. */
static void test_one_endpoint(void **state)
{
        static const char *const calls[] = {"query " EP1,     "add %s " EP1,    "add %s " EP1,
                                            "remove %s " EP1, "remove %s " EP1, NULL};
        struct uvm_error *err = NULL;
        struct hcn_endpoint ep;
        char ns[HCN_GUID_LEN + 1];

        assert_int_equal(create_new(&fake_hcn_api, NULL, 0, ns, NULL, &err), 0);
        fake.n_log = 0;
        assert_int_equal(hcn_endpoint_query(&fake_hcn_api, EP1, &ep, &err), 0);
        assert_string_equal(ep.id, EP1);
        assert_string_equal(ep.ip, "10.244.1.5");
        assert_int_equal(hcn_ns_attach(&fake_hcn_api, ns, EP1, &err), 0);
        assert_int_equal(fake.n_attached, 1);
        assert_int_equal(hcn_ns_attach(&fake_hcn_api, ns, EP1, &err), -EEXIST);
        assert_non_null(strstr(err->msg, "add HCN endpoint " EP1 " to namespace"));
        err = uvm_error_free(err);
        assert_int_equal(hcn_ns_detach(&fake_hcn_api, ns, EP1, &err), 0);
        assert_int_equal(fake.n_attached, 0);
        assert_int_equal(hcn_ns_detach(&fake_hcn_api, ns, EP1, &err), 0);
        assert_null(err);
        assert_true(fake_hcn_log_is(ns, calls));

        assert_int_equal(hcn_endpoint_query(&fake_hcn_api, "99999999-9999-4999-8999-999999999999",
                                            &ep, &err),
                         -ENOENT);
        err = uvm_error_free(err);
        assert_int_equal(hcn_endpoint_query(&fake_hcn_api, "not-a-guid", &ep, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(hcn_ns_attach(&fake_hcn_api, "x", EP1, &err), -EINVAL);
        err = uvm_error_free(err);
        fake_hcn_fail(0, "remove", -EIO, NULL);
        assert_int_equal(hcn_ns_detach(&fake_hcn_api, ns, EP1, &err), -EIO);
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_sequence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_without_endpoints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_rolls_back_at_each_call, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_rollback_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_failure_keeps_first_error, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_malformed_endpoint_rolls_back, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_delete_idempotent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_goes_on_after_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_new_guid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_caller_chooses_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_existing_namespace_left_alone, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_record_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_endpoint, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
