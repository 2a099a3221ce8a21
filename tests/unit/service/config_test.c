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
        assert_string_equal(config_driver_for(&c, "uvm"), "qemu");
        assert_string_equal(config_driver_for(&c, "runc"), "ns");
        assert_string_equal(config_driver_for(&c, ""), c.default_driver);
        assert_null(config_driver_for(&c, "nope"));
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
        assert_string_equal(config_driver_for(&c, "kata"), "qemu");
        assert_string_equal(config_driver_for(&c, "uvm"), "qemu"); /* defaults kept */
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults), cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),      cmocka_unit_test(test_empty_is_no_settings),
                cmocka_unit_test(test_load),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
