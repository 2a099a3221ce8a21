/*
 * The Plan9 share requests the hcs driver's CRI mounts send (shares.c
 * through hcs_modify_plan9_document): each field of an add and a remove,
 * the read-only flag, the port, a file's share (its directory restricted
 * to it: flag 0x80, AllowedFiles), the host path forms accepted and the
 * names, paths and allowed files refused. The golden ones are in
 * documents_test.c.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/json.h"
#include "sandbox/drivers/hcs/documents.h"

static json_object *request(enum hcs_request_type type, const struct hcs_plan9_share *s)
{
        struct uvm_error *err = NULL;
        json_object *o;
        char *json = NULL;

        if (hcs_modify_plan9_document(type, s, &json, &err) < 0)
                fail_msg("%s: %s", s->host_path ? s->host_path : s->name, err->msg);
        o = json_tokener_parse(json);
        assert_non_null(o);
        free(json);
        return o;
}

static int64_t int_of(json_object *o, const char *key)
{
        json_object *v = NULL;

        assert_true(json_object_object_get_ex(o, key, &v));
        assert_true(json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

/* A read-write share: Flags is LinuxMetadata (4) alone; read-only adds 1. */
static void test_add_fields(void **state)
{
        struct hcs_plan9_share rw = {"m0", "C:\\data", 0, false};
        struct hcs_plan9_share ro = {"m7", "\\\\?\\D:\\cfg dir\\x", 0, true};
        json_object *o = request(HCS_REQUEST_ADD, &rw), *s;

        assert_string_equal(json_string_of(o, "ResourcePath"),
                            "VirtualMachine/Devices/Plan9/Shares");
        assert_string_equal(json_string_of(o, "RequestType"), "Add");
        s = json_object_object_get(o, "Settings");
        assert_string_equal(json_string_of(s, "Name"), "m0");
        assert_string_equal(json_string_of(s, "AccessName"), "m0");
        assert_string_equal(json_string_of(s, "Path"), "C:\\data");
        assert_int_equal(int_of(s, "Port"), 564);
        assert_int_equal(int_of(s, "Flags"), 4);
        assert_int_equal(json_object_object_length(s), 5);
        json_object_put(o);

        o = request(HCS_REQUEST_ADD, &ro);
        s = json_object_object_get(o, "Settings");
        assert_string_equal(json_string_of(s, "Path"), "\\\\?\\D:\\cfg dir\\x");
        assert_int_equal(int_of(s, "Flags"), 5);
        json_object_put(o);
}

/* A file's share (hcsshim's single-file mapping): its directory, Flags
 * with RestrictFileAccess (0x80) beside LinuxMetadata and ReadOnly, and
 * AllowedFiles the one name; a directory's has neither. A drive root is
 * a directory as any other. */
static void test_file_share_fields(void **state)
{
        struct hcs_plan9_share rw = {"m2", "C:\\pods\\p1\\c1", 0, false, "termination-log"};
        struct hcs_plan9_share root = {"m3", "D:\\", 0, true, "hosts"};
        struct hcs_plan9_share dir = {"m4", "C:\\pods\\p1\\c1", 0, false, NULL};
        json_object *o = request(HCS_REQUEST_ADD, &rw), *s, *files;

        s = json_object_object_get(o, "Settings");
        assert_string_equal(json_string_of(s, "Path"), "C:\\pods\\p1\\c1");
        assert_int_equal(int_of(s, "Flags"), 0x80 | 0x4);
        assert_true(json_object_object_get_ex(s, "AllowedFiles", &files));
        assert_true(json_object_is_type(files, json_type_array));
        assert_int_equal(json_object_array_length(files), 1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(files, 0)),
                            "termination-log");
        assert_int_equal(json_object_object_length(s), 6);
        json_object_put(o);

        o = request(HCS_REQUEST_ADD, &root);
        s = json_object_object_get(o, "Settings");
        assert_string_equal(json_string_of(s, "Path"), "D:\\");
        assert_int_equal(int_of(s, "Flags"), 0x80 | 0x4 | 0x1);
        json_object_put(o);

        o = request(HCS_REQUEST_ADD, &dir);
        s = json_object_object_get(o, "Settings");
        assert_int_equal(int_of(s, "Flags"), 4);
        assert_false(json_object_object_get_ex(s, "AllowedFiles", NULL));
        json_object_put(o);

        /* Removing a file's share names it alone, as a directory's. */
        o = request(HCS_REQUEST_REMOVE, &rw);
        s = json_object_object_get(o, "Settings");
        assert_false(json_object_object_get_ex(s, "AllowedFiles", NULL));
        assert_false(json_object_object_get_ex(s, "Flags", NULL));
        json_object_put(o);
}

/* A removal names the share and its port, no path or flags. */
static void test_remove_fields(void **state)
{
        struct hcs_plan9_share s = {"m63", NULL, 5640, false};
        json_object *o = request(HCS_REQUEST_REMOVE, &s), *set;

        assert_string_equal(json_string_of(o, "RequestType"), "Remove");
        set = json_object_object_get(o, "Settings");
        assert_string_equal(json_string_of(set, "Name"), "m63");
        assert_int_equal(int_of(set, "Port"), 5640);
        assert_false(json_object_object_get_ex(set, "Path", NULL));
        assert_false(json_object_object_get_ex(set, "Flags", NULL));
        json_object_put(o);
}

static void test_refusals(void **state)
{
        static const char *const bad_paths[] = {"data", "C:data", "/tmp/x", "", "C:\\a\x01"};
        static const char *const bad_names[] = {
                "", "a b", "../m0", "m0/x",
                "a23456789012345678901234567890123456789012345678901234567890123456"};
        struct hcs_plan9_share s = {"m0", NULL, 0, false};
        struct uvm_error *err = NULL;
        char *json = NULL;

        for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
                s.host_path = bad_paths[i];
                assert_int_equal(hcs_modify_plan9_document(HCS_REQUEST_ADD, &s, &json, &err),
                                 -EINVAL);
                assert_non_null(strstr(err->msg, "Plan9 share path"));
                err = uvm_error_free(err);
        }
        s.host_path = "C:\\data";
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                s.name = bad_names[i];
                assert_int_equal(hcs_modify_plan9_document(HCS_REQUEST_ADD, &s, &json, &err),
                                 -EINVAL);
                assert_non_null(strstr(err->msg, "Plan9 share name"));
                err = uvm_error_free(err);
                assert_int_equal(hcs_modify_plan9_document(HCS_REQUEST_REMOVE, &s, &json, NULL),
                                 -EINVAL);
        }
        assert_null(json);
}

/* The allowed file is one name: no separator, stream, "." or "..", not
 * empty nor past 255 bytes; in a VM document's shares too. */
static void test_file_name_refusals(void **state)
{
        static const char *const bad[] = {"", "a\\b", "a/b", "a:s", ".", "..", "x\x01y", "\xff"};
        char longname[300];
        struct hcs_plan9_share s = {"m0", "C:\\data", 0, false, NULL};
        struct hcs_uvm_config cfg;
        struct uvm_error *err = NULL;
        char *json = NULL;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
                memset(longname, 'a', 256);
                longname[256] = '\0';
                s.allowed_file = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : longname;
                if (hcs_modify_plan9_document(HCS_REQUEST_ADD, &s, &json, &err) != -EINVAL)
                        fail_msg("allowed file '%s' not refused", s.allowed_file);
                assert_non_null(strstr(err->msg, "Plan9 share file"));
                err = uvm_error_free(err);
        }
        longname[255] = '\0';
        s.allowed_file = longname;
        json_object_put(request(HCS_REQUEST_ADD, &s));
        assert_null(json);

        hcs_uvm_config_init_defaults(&cfg, 2);
        cfg.id = "p@vm";
        cfg.kernel_path = "C:\\k";
        cfg.initrd_path = "C:\\i";
        s.allowed_file = "..";
        cfg.shares = &s;
        cfg.n_shares = 1;
        assert_int_equal(hcs_uvm_config_validate(&cfg, 2, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "Plan9 share file"));
        err = uvm_error_free(err);
        s.allowed_file = "hosts";
        assert_int_equal(hcs_uvm_config_validate(&cfg, 2, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_fields),         cmocka_unit_test(test_file_share_fields),
                cmocka_unit_test(test_remove_fields),      cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_file_name_refusals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
