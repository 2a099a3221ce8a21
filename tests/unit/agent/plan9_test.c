/*
 * The agent's Plan9 settings (agent/plan9.h): what is accepted and
 * refused, and the 9p mount data. The mount itself (a vsock connection to
 * the host's port 564, the kernel's 9p over it) needs a Hyper-V host and
 * is not run here.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/plan9.h"

static int parse(const char *json, struct plan9_req *q, struct uvm_error **err)
{
        json_object *o = json_tokener_parse(json);
        int r;

        assert_non_null(o);
        r = plan9_parse(o, q, err);
        json_object_put(o);
        return r;
}

static void test_mount_request(void **state)
{
        struct plan9_req q;

        assert_int_equal(parse("{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\","
                               "\"ReadOnly\":true}",
                               &q, NULL),
                         0);
        assert_int_equal(q.port, 564);
        assert_string_equal(q.name, "m0");
        assert_string_equal(q.path, "/run/mounts/m0");
        assert_true(q.read_only);
        assert_false(q.remove);
        /* ReadOnly left out: read-write. */
        assert_int_equal(
                parse("{\"Port\":5640,\"AccessName\":\"a.b_c-9\",\"Path\":\"/run/mounts/x\"}", &q,
                      NULL),
                0);
        assert_int_equal(q.port, 5640);
        assert_false(q.read_only);
}

static void test_remove_request(void **state)
{
        struct plan9_req q;

        /* A removal needs only the path. */
        assert_int_equal(parse("{\"Path\":\"/run/mounts/m3\",\"Remove\":true}", &q, NULL), 0);
        assert_true(q.remove);
        assert_string_equal(q.path, "/run/mounts/m3");
}

static void test_refused(void **state)
{
        static const struct {
                const char *json, *msg;
        } bad[] = {
                {"{\"Port\":564,\"AccessName\":\"m0\"}", "Path"},
                {"{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/etc\"}", "Path"},
                {"{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/\"}", "Path"},
                {"{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/a/b\"}", "Path"},
                {"{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/..\"}", "Path"},
                {"{\"Port\":564,\"AccessName\":\"m 0\",\"Path\":\"/run/mounts/m0\"}", "AccessName"},
                {"{\"Port\":564,\"AccessName\":\"\",\"Path\":\"/run/mounts/m0\"}", "AccessName"},
                {"{\"Port\":564,\"AccessName\":\"a,trans=virtio\",\"Path\":\"/run/mounts/m0\"}",
                 "AccessName"},
                {"{\"Port\":0,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\"}", "Port"},
                {"{\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\"}", "Port"},
                {"{\"Port\":4294967295,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\"}", "Port"},
                {"{\"Port\":\"564\",\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\"}", "Port"},
                {"{\"Port\":564,\"AccessName\":\"m0\",\"Path\":\"/run/mounts/m0\",\"ReadOnly\":1}",
                 "ReadOnly"},
                {"{\"Path\":\"/run/mounts/m0\",\"Remove\":\"yes\"}", "Remove"},
        };
        struct uvm_error *err = NULL;
        struct plan9_req q;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (parse(bad[i].json, &q, &err) != -EINVAL)
                        fail_msg("accepted: %s", bad[i].json);
                if (!strstr(err->msg, bad[i].msg))
                        fail_msg("%s: %s", bad[i].json, err->msg);
                err = uvm_error_free(err);
        }
}

static void test_mount_data(void **state)
{
        char buf[128], small[40];

        assert_int_equal(plan9_mount_data(7, "m12", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "trans=fd,rfdno=7,wfdno=7,msize=65536,version=9p2000.L,aname=m12");
        assert_int_equal(plan9_mount_data(7, "m12", small, sizeof(small)), -ENOSPC);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mount_request),
                cmocka_unit_test(test_remove_request),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_mount_data),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
