/* The JSON config: defaults, good files, and errors that name the field. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "service/config.h"

static void test_defaults(void **state)
{
        struct uvmd_config c;

        config_init_defaults(&c);
        assert_string_equal(c.socket, "/run/uvmd/uvmd.sock");
        assert_string_equal(c.state_root, "/run/uvmd");
        assert_string_equal(c.data_root, "/var/lib/uvmd");
        assert_string_equal(c.cni_conf_dir, "/etc/cni/net.d");
        assert_string_equal(c.cni_bin_dirs[0], "/opt/cni/bin");
        assert_string_equal(c.cni_bin_dirs[1], "/usr/lib/cni");
        assert_null(c.cni_bin_dirs[2]);
        assert_string_equal(c.oci_runtime, "runc");
        assert_int_equal(c.max_message_bytes, 16 << 20);
        /* The default handler's driver is chosen at start-up from probes. */
        assert_string_equal(c.default_driver, "auto");
        assert_string_equal(c.kvm_device, "/dev/kvm");
        assert_int_equal(c.n_handlers, 2);
        assert_string_equal(c.handlers[0].name, "runc");
        assert_string_equal(c.handlers[0].driver, "ns");
        assert_string_equal(c.handlers[1].name, "uvm");
        assert_string_equal(c.handlers[1].driver, "qemu");
        assert_int_equal(config_validate(&c, NULL), 0);
        config_free(&c);
}

static void test_good(void **state)
{
        struct uvmd_config c;
        struct uvm_error *err = NULL;
        const char *doc = "{\"socket\": \"/tmp/x.sock\", \"log_level\": \"debug\","
                          " \"log_format\": \"json\", \"workers\": 4,"
                          " \"cni_bin_dirs\": [\"/a\", \"/b\", \"/c\"],"
                          " \"runtime_handlers\": {\"kata\": \"qemu\", \"runc\": \"ns\"},"
                          " \"cgroup_driver\": \"systemd\", \"oci_runtime\": \"crun\"}";

        config_init_defaults(&c);
        assert_int_equal(config_parse(&c, "t.json", doc, &err), 0);
        assert_null(err);
        assert_string_equal(c.socket, "/tmp/x.sock");
        assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
        assert_int_equal(c.log_format, LOG_FORMAT_JSON);
        assert_int_equal(c.workers, 4);
        assert_string_equal(c.cni_bin_dirs[2], "/c");
        assert_int_equal(c.n_handlers, 3); /* runc and uvm kept, kata added */
        assert_string_equal(c.handlers[1].name, "uvm");
        assert_string_equal(c.handlers[2].name, "kata");
        assert_string_equal(c.handlers[2].driver, "qemu");
        assert_string_equal(c.cgroup_driver, "systemd");
        assert_string_equal(c.oci_runtime, "crun");
        config_free(&c);
}

static void expect_error(const char *doc, const char *needle)
{
        struct uvmd_config c;
        struct uvm_error *err = NULL;

        config_init_defaults(&c);
        assert_true(config_parse(&c, "/etc/uvmd/config.json", doc, &err) < 0);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("message '%s' lacks '%s'", err->msg, needle);
        assert_non_null(strstr(err->msg, "/etc/uvmd/config.json"));
        assert_int_equal(err->code, EINVAL);
        uvm_error_free(err);
        config_free(&c);
}

static void test_bad(void **state)
{
        expect_error("{", "unexpected end of file");
        expect_error("{\"a\": }", "invalid JSON at offset");
        expect_error("[]", "top level must be a JSON object");
        expect_error("{\"sockett\": \"/x\"}", "unknown field \"sockett\"");
        expect_error("{\"socket\": 5}", "field \"socket\": expected a string");
        expect_error("{\"socket\": \"relative\"}", "field \"socket\"");
        expect_error("{\"workers\": 0}", "field \"workers\": expected an integer from 1 to 256");
        expect_error("{\"workers\": \"4\"}", "field \"workers\"");
        expect_error("{\"workers\": 1000000}", "field \"workers\"");
        expect_error("{\"log_level\": \"loud\"}", "field \"log_level\"");
        expect_error("{\"log_format\": \"xml\"}", "field \"log_format\"");
        expect_error("{\"cgroup_driver\": \"cgroupfs2\"}", "field \"cgroup_driver\"");
        expect_error("{\"default_driver\": \"docker\"}", "field \"default_driver\"");
        expect_error("{\"cni_bin_dirs\": []}", "field \"cni_bin_dirs\"");
        expect_error("{\"cni_bin_dirs\": [\"rel\"]}", "field \"cni_bin_dirs\"");
        expect_error("{\"runtime_handlers\": {\"x\": \"vmware\"}}", "runtime_handlers.x");
        expect_error("{\"runtime_handlers\": {\"Bad Name\": \"ns\"}}", "bad handler name");
        expect_error("{\"runtime_handlers\": []}", "field \"runtime_handlers\"");
        expect_error("{\"oci_runtime\": \"run c\"}", "field \"oci_runtime\"");
}

/* The streaming server's keys: defaults, a good set, and what is refused. */
static void test_stream(void **state)
{
        struct uvmd_config c;
        struct uvm_error *err = NULL;

        config_init_defaults(&c);
        assert_string_equal(c.stream_address, "127.0.0.1:0");
        assert_null(c.stream_tls_cert);
        assert_int_equal(c.stream_token_ttl_ms, 60000);
        assert_int_equal(config_validate(&c, NULL), 0);
        assert_int_equal(config_parse(&c, "s.json",
                                      "{\"stream_address\": \"[::1]:10010\", "
                                      "\"stream_tls_cert\": \"/etc/uvmd/c.pem\", "
                                      "\"stream_tls_key\": \"/etc/uvmd/k.pem\", "
                                      "\"stream_token_ttl_ms\": 5000}",
                                      NULL),
                         0);
        assert_string_equal(c.stream_address, "[::1]:10010");
        assert_int_equal(c.stream_token_ttl_ms, 5000);
        assert_int_equal(config_validate(&c, NULL), 0);
        free(c.stream_tls_key);
        c.stream_tls_key = NULL;
        assert_int_equal(config_validate(&c, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "both or neither"));
        uvm_error_free(err);
        config_free(&c);
        expect_error("{\"stream_address\": \"10010\"}", "expected HOST:PORT");
        expect_error("{\"stream_address\": \"a b:1\"}", "expected HOST:PORT");
        expect_error("{\"stream_address\": 10010}", "expected HOST:PORT");
        expect_error("{\"stream_token_ttl_ms\": 10}", "field \"stream_token_ttl_ms\"");
        expect_error("{\"stream_tls_cert\": \"rel.pem\"}", "field \"stream_tls_cert\"");
}

static void test_empty_is_no_settings(void **state)
{
        struct uvmd_config c;

        config_init_defaults(&c);
        assert_int_equal(config_parse(&c, "e.json", " \n\t", NULL), 0);
        assert_string_equal(c.socket, "/run/uvmd/uvmd.sock");
        config_free(&c);
}

static void test_load(void **state)
{
        char path[] = "/tmp/uvmd-config-test-XXXXXX";
        struct uvmd_config c;
        struct uvm_error *err = NULL;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"workers\": 3}", 14), 14);
        close(fd);
        config_init_defaults(&c);
        assert_int_equal(config_load(&c, path, true, &err), 0);
        assert_int_equal(c.workers, 3);
        unlink(path);
        /* Missing: fine unless required, and then the message names it. */
        assert_int_equal(config_load(&c, path, false, &err), 0);
        assert_true(config_load(&c, path, true, &err) < 0);
        assert_non_null(strstr(err->msg, path));
        uvm_error_free(err);
        config_free(&c);
}

/* Parse doc into fresh defaults; the caller checks and frees c. */
static void parse_ok(struct uvmd_config *c, const char *doc)
{
        struct uvm_error *err = NULL;

        config_init_defaults(c);
        if (config_parse(c, "t.json", doc, &err) < 0)
                fail_msg("unexpected error: %s", err->msg);
        assert_null(err);
}

static size_t strv_len(char **v)
{
        size_t n = 0;

        while (v[n])
                n++;
        return n;
}

static void test_registry_defaults(void **state)
{
        struct uvmd_config c;

        config_init_defaults(&c);
        assert_non_null(c.insecure_registries);
        assert_null(c.insecure_registries[0]);
        assert_non_null(c.registry_mirrors);
        assert_null(c.registry_mirrors[0]);
        assert_int_equal(c.image_pull_timeout_ms, 0);
        config_free(&c);
}

static void test_insecure_registries_good(void **state)
{
        struct uvmd_config c;

        parse_ok(&c, "{\"insecure_registries\": [\"127.0.0.1:5000\", \"reg.local\","
                     " \"[::1]:5001\", \"My-Registry.example.com\"]}");
        assert_int_equal(strv_len(c.insecure_registries), 4);
        assert_string_equal(c.insecure_registries[0], "127.0.0.1:5000");
        assert_string_equal(c.insecure_registries[1], "reg.local");
        assert_string_equal(c.insecure_registries[2], "[::1]:5001");
        assert_string_equal(c.insecure_registries[3], "My-Registry.example.com");
        config_free(&c);

        /* A later document replaces the list rather than appending to it. */
        parse_ok(&c, "{\"insecure_registries\": [\"a:1\", \"b:2\"]}");
        assert_int_equal(config_parse(&c, "u.json", "{\"insecure_registries\": [\"c:3\"]}", NULL),
                         0);
        assert_int_equal(strv_len(c.insecure_registries), 1);
        assert_string_equal(c.insecure_registries[0], "c:3");
        /* An empty list clears it. */
        assert_int_equal(config_parse(&c, "v.json", "{\"insecure_registries\": []}", NULL), 0);
        assert_null(c.insecure_registries[0]);
        config_free(&c);
}

static void test_insecure_registries_bad(void **state)
{
        const char *f = "field \"insecure_registries\"";

        expect_error("{\"insecure_registries\": \"127.0.0.1:5000\"}",
                     "field \"insecure_registries\": expected an array of up to 64 hosts");
        expect_error("{\"insecure_registries\": {\"127.0.0.1:5000\": true}}", f);
        expect_error("{\"insecure_registries\": null}", f);
        expect_error("{\"insecure_registries\": [\"http://127.0.0.1:5000\"]}",
                     "\"http://127.0.0.1:5000\" is not a host[:port]");
        expect_error("{\"insecure_registries\": [\"reg.local/path\"]}", "is not a host[:port]");
        expect_error("{\"insecure_registries\": [\"bad host\"]}", "\"bad host\" is not a host");
        expect_error("{\"insecure_registries\": [\"\"]}", "is not a host[:port]");
        expect_error("{\"insecure_registries\": [5000]}", "is not a host[:port]");
        expect_error("{\"insecure_registries\": [\"ok:1\", [\"nested\"]]}", "is not a host[:port]");
}

static void test_insecure_registries_limits(void **state)
{
        char doc[8192];
        size_t off = 0;
        struct uvmd_config c;

        /* 64 hosts are accepted, 65 are not; a 256-byte host is too long. */
        off += (size_t) snprintf(doc + off, sizeof(doc) - off, "{\"insecure_registries\": [");
        for (int i = 0; i < 64; i++)
                off += (size_t) snprintf(doc + off, sizeof(doc) - off, "%s\"h%d:1\"", i ? "," : "",
                                         i);
        snprintf(doc + off, sizeof(doc) - off, "]}");
        parse_ok(&c, doc);
        assert_int_equal(strv_len(c.insecure_registries), 64);
        assert_string_equal(c.insecure_registries[63], "h63:1");
        config_free(&c);
        snprintf(doc + off, sizeof(doc) - off, ",\"h64:1\"]}");
        expect_error(doc, "expected an array of up to 64 hosts");

        off = (size_t) snprintf(doc, sizeof(doc), "{\"insecure_registries\": [\"");
        memset(doc + off, 'a', 256);
        snprintf(doc + off + 256, sizeof(doc) - off - 256, "\"]}");
        expect_error(doc, "is not a host[:port]");
}

static void test_registry_mirrors_good(void **state)
{
        struct uvmd_config c;

        parse_ok(&c, "{\"registry_mirrors\": {\"docker.io\": [\"https://a\", \"http://b\"],"
                     " \"quay.io:443\": [\"https://mirror.example/quay/\"]}}");
        assert_int_equal(strv_len(c.registry_mirrors), 2);
        assert_string_equal(c.registry_mirrors[0], "docker.io=https://a,http://b");
        assert_string_equal(c.registry_mirrors[1], "quay.io:443=https://mirror.example/quay/");
        config_free(&c);

        /* An empty object clears the mirrors. */
        parse_ok(&c, "{\"registry_mirrors\": {\"docker.io\": [\"https://a\"]}}");
        assert_int_equal(config_parse(&c, "u.json", "{\"registry_mirrors\": {}}", NULL), 0);
        assert_null(c.registry_mirrors[0]);
        config_free(&c);
}

static void test_registry_mirrors_bad(void **state)
{
        const char *obj = "field \"registry_mirrors\": expected an object mapping up to 64 "
                          "registries";

        expect_error("{\"registry_mirrors\": [\"https://a\"]}", obj);
        expect_error("{\"registry_mirrors\": \"docker.io=https://a\"}", obj);
        expect_error("{\"registry_mirrors\": null}", obj);
        /* Empty list, non-list, too many mirrors, bad registry key. */
        expect_error("{\"registry_mirrors\": {\"docker.io\": []}}",
                     "field \"registry_mirrors.docker.io\": expected a registry host and 1 to 8 "
                     "mirror URLs");
        expect_error("{\"registry_mirrors\": {\"docker.io\": \"https://a\"}}",
                     "registry_mirrors.docker.io");
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"https://1\", \"https://2\","
                     " \"https://3\", \"https://4\", \"https://5\", \"https://6\", \"https://7\","
                     " \"https://8\", \"https://9\"]}}",
                     "1 to 8 mirror URLs");
        expect_error("{\"registry_mirrors\": {\"docker io\": [\"https://a\"]}}",
                     "registry_mirrors.docker io");
        expect_error("{\"registry_mirrors\": {\"\": [\"https://a\"]}}", "expected a registry host");
        /* Bad URLs: scheme, separators that would break the "a,b" encoding. */
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"ftp://a\"]}}",
                     "\"ftp://a\" is not an http(s) URL");
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"mirror.example\"]}}",
                     "is not an http(s) URL");
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"https://a,https://b\"]}}",
                     "is not an http(s) URL");
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"https://a b\"]}}",
                     "is not an http(s) URL");
        expect_error("{\"registry_mirrors\": {\"docker.io\": [\"https://ok\", 7]}}",
                     "\"7\" is not an http(s) URL");
        /* A good entry before a bad one does not leak or survive. */
        expect_error("{\"registry_mirrors\": {\"a.io\": [\"https://a\"], \"b.io\": [\"x\"]}}",
                     "registry_mirrors.b.io");
}

static void test_registry_mirrors_error_keeps_old(void **state)
{
        struct uvmd_config c;
        struct uvm_error *err = NULL;

        parse_ok(&c, "{\"registry_mirrors\": {\"docker.io\": [\"https://a\"]}}");
        assert_true(config_parse(&c, "u.json",
                                 "{\"registry_mirrors\": {\"docker.io\": [\"gopher://a\"]}}",
                                 &err) < 0);
        assert_int_equal(err->code, EINVAL);
        uvm_error_free(err);
        assert_string_equal(c.registry_mirrors[0], "docker.io=https://a");
        assert_null(c.registry_mirrors[1]);
        config_free(&c);
}

static void test_image_pull_timeout(void **state)
{
        struct uvmd_config c;
        const char *range = "field \"image_pull_timeout_ms\": expected an integer from 1000 to "
                            "3600000";

        parse_ok(&c, "{\"image_pull_timeout_ms\": 1000}");
        assert_int_equal(c.image_pull_timeout_ms, 1000);
        config_free(&c);
        parse_ok(&c, "{\"image_pull_timeout_ms\": 3600000}");
        assert_int_equal(c.image_pull_timeout_ms, 3600000);
        config_free(&c);
        parse_ok(&c, "{\"image_pull_timeout_ms\": 120000}");
        assert_int_equal(c.image_pull_timeout_ms, 120000);
        config_free(&c);

        expect_error("{\"image_pull_timeout_ms\": 999}", range);
        expect_error("{\"image_pull_timeout_ms\": 0}", range);
        expect_error("{\"image_pull_timeout_ms\": -1}", range);
        expect_error("{\"image_pull_timeout_ms\": 3600001}", range);
        expect_error("{\"image_pull_timeout_ms\": 4294968296}", range); /* 2^32 + 1000 */
        expect_error("{\"image_pull_timeout_ms\": \"60000\"}", range);
        expect_error("{\"image_pull_timeout_ms\": 60000.5}", range);
}

/* A hung CNI plugin is killed after this: bounded, 10 s unless set. */
static void test_cni_plugin_timeout(void **state)
{
        struct uvmd_config c;
        const char *range = "field \"cni_plugin_timeout_ms\": expected an integer from 100 to "
                            "600000";

        config_init_defaults(&c);
        assert_int_equal(c.cni_plugin_timeout_ms, 10000);
        config_free(&c);
        parse_ok(&c, "{\"cni_plugin_timeout_ms\": 100}");
        assert_int_equal(c.cni_plugin_timeout_ms, 100);
        config_free(&c);
        parse_ok(&c, "{\"cni_plugin_timeout_ms\": 600000}");
        assert_int_equal(c.cni_plugin_timeout_ms, 600000);
        config_free(&c);
        expect_error("{\"cni_plugin_timeout_ms\": 99}", range);
        expect_error("{\"cni_plugin_timeout_ms\": 0}", range);
        expect_error("{\"cni_plugin_timeout_ms\": 600001}", range);
        expect_error("{\"cni_plugin_timeout_ms\": \"5000\"}", range);
}

/* The Windows CRI endpoint: loopback TCP with a plain port, nothing else. */
static void test_tcp_endpoint(void **state)
{
        static const struct {
                const char *endpoint, *why;
        } bad[] = {
                {"tcp://0.0.0.0:1", "loopback only"}, {"tcp://10.0.0.1:3735", "loopback only"},
                {"tcp://127.0.0.1:0", "1 to 65535"},  {"tcp://127.0.0.1:65536", "1 to 65535"},
                {"tcp://127.0.0.1:01", "1 to 65535"}, {"tcp://127.0.0.1:12ab", "1 to 65535"},
                {"tcp://127.0.0.1:", "1 to 65535"},   {"unix:/x", "not a tcp://"},
        };
        unsigned port = 0;

        assert_int_equal(config_tcp_endpoint_port("tcp://127.0.0.1:3735", &port, NULL), 0);
        assert_int_equal(port, 3735);
        assert_int_equal(config_tcp_endpoint_port("tcp://127.0.0.1:65535", &port, NULL), 0);
        assert_int_equal(port, 65535);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct uvm_error *err = NULL;

                port = 7;
                assert_int_equal(config_tcp_endpoint_port(bad[i].endpoint, &port, &err), -EINVAL);
                assert_int_equal(port, 7);
                assert_non_null(err);
                if (!strstr(err->msg, bad[i].why))
                        fail_msg("'%s': '%s' lacks '%s'", bad[i].endpoint, err->msg, bad[i].why);
                uvm_error_free(err);
        }
}

/* metrics_address: off by default, loopback only when on. */
static void test_metrics_address(void **state)
{
        static const struct {
                const char *addr, *why;
        } bad[] = {
                {"0.0.0.0:9100", "only loopback"}, {"10.0.0.1:9100", "only loopback"},
                {"[::]:9100", "only loopback"},    {"localhost:9100", "only loopback"},
                {"127.0.0.1:0", "1 to 65535"},     {"127.0.0.1:65536", "1 to 65535"},
                {"[::1]:x", "1 to 65535"},         {"127.0.0.1:", "1 to 65535"},
        };
        struct uvmd_config c;
        unsigned port = 0;
        bool v6 = true;

        config_init_defaults(&c);
        assert_null(c.metrics_address);
        assert_int_equal(config_parse(&c, "t", "{\"metrics_address\": \"[::1]:9464\"}", NULL), 0);
        assert_string_equal(c.metrics_address, "[::1]:9464");
        assert_int_equal(config_validate(&c, NULL), 0);
        assert_int_equal(config_loopback_address("127.0.0.1:9464", &v6, &port, NULL), 0);
        assert_false(v6);
        assert_int_equal(port, 9464);
        assert_int_equal(config_loopback_address(c.metrics_address, &v6, &port, NULL), 0);
        assert_true(v6);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct uvm_error *err = NULL;

                free(c.metrics_address);
                c.metrics_address = strdup(bad[i].addr);
                assert_int_equal(config_validate(&c, &err), -EINVAL);
                assert_non_null(err);
                if (!strstr(err->msg, bad[i].why) || !strstr(err->msg, "metrics_address"))
                        fail_msg("'%s': '%s' lacks '%s'", bad[i].addr, err->msg, bad[i].why);
                uvm_error_free(err);
        }
        config_free(&c);
}

/* vm_templates: on by default; a JSON boolean and nothing else. */
static void test_vm_templates(void **state)
{
        struct uvmd_config c;
        struct uvm_error *err = NULL;

        config_init_defaults(&c);
        assert_true(c.vm_templates);
        assert_int_equal(config_parse(&c, "t", "{\"vm_templates\": false}", NULL), 0);
        assert_false(c.vm_templates);
        assert_int_equal(config_parse(&c, "t", "{\"vm_templates\": true}", NULL), 0);
        assert_true(c.vm_templates);
        assert_int_equal(config_parse(&c, "t", "{\"vm_templates\": \"no\"}", &err), -EINVAL);
        assert_non_null(strstr(err->msg, "expected true or false"));
        assert_true(c.vm_templates);
        uvm_error_free(err);
        config_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_empty_is_no_settings),
                cmocka_unit_test(test_load),
                cmocka_unit_test(test_registry_defaults),
                cmocka_unit_test(test_insecure_registries_good),
                cmocka_unit_test(test_insecure_registries_bad),
                cmocka_unit_test(test_insecure_registries_limits),
                cmocka_unit_test(test_registry_mirrors_good),
                cmocka_unit_test(test_registry_mirrors_bad),
                cmocka_unit_test(test_registry_mirrors_error_keeps_old),
                cmocka_unit_test(test_image_pull_timeout),
                cmocka_unit_test(test_cni_plugin_timeout),
                cmocka_unit_test(test_stream),
                cmocka_unit_test(test_tcp_endpoint),
                cmocka_unit_test(test_vm_templates),
                cmocka_unit_test(test_metrics_address),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
