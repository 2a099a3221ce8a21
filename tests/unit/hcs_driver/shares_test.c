/*
 * The hcs driver's Plan9 shares for CRI mounts (shares.c) against the fake
 * HCS and guest tables: a container's host mounts added to the VM and
 * mounted in the guest in order, the spec's sources made the guest's
 * paths; one share for two containers mounting the same directory, another
 * for the same directory read-only; removed (guest, then host) after their
 * last container and at the pod's stop; undone at each failure; bad host
 * paths and propagations refused before any call; uvmd killed at each step
 * of a create and of a delete, a new binding reattaching from the state
 * dir as it was then.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "common/json.h"
#include "common/platform.h"
#include "tests/unit/hcs_driver/fixture.h"

#define RECORD "hcs-pod.json"

/* ctr-a: C:\data rw at /data, C:\cfg ro at /cfg, and a guest tmpfs left
 * alone; ctr-b: C:\data rw at /x and C:\data ro at /y. */
#define SPEC_A                                                                                     \
        "{\"mounts\":[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"C:\\\\data\","     \
        "\"options\":[\"rbind\",\"rprivate\",\"rw\"]},"                                            \
        "{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"C:\\\\cfg\","                    \
        "\"options\":[\"rbind\",\"rprivate\",\"ro\"]},"                                            \
        "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}]}"
#define SPEC_B                                                                                     \
        "{\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"C:\\\\data\","        \
        "\"options\":[\"rbind\",\"rprivate\",\"rw\"]},"                                            \
        "{\"destination\":\"/y\",\"type\":\"bind\",\"source\":\"C:\\\\data\","                     \
        "\"options\":[\"rbind\",\"rprivate\",\"ro\"]}]}"

static const struct drv_ctr_spec ctr_a = {.id = "ctr-a", .oci_spec_json = SPEC_A};
static const struct drv_ctr_spec ctr_b = {.id = "ctr-b", .oci_spec_json = SPEC_B};

static int setup(void **state)
{
        fixture_setup(state);
        spec.hcn_endpoints = NULL;
        fixture_crash_setup("hcs-shares-");
        return 0;
}

static int teardown(void **state)
{
        fixture_crash_teardown();
        return fixture_teardown(state);
}

static void create_ok(struct drv_pod *pod, const struct drv_ctr_spec *c)
{
        struct uvm_error *err = NULL;

        if (ops->ctr_create(pod, c, &err) < 0)
                fail_msg("ctr_create %s: %s", c->id, err->msg);
}

static void delete_ok(struct drv_pod *pod, const char *id)
{
        struct uvm_error *err = NULL;

        if (ops->ctr_delete(pod, id, &err) < 0)
                fail_msg("ctr_delete %s: %s", id, err->msg);
}

/* The record's shares in dir ("slot:ro/host/guest/ready" each,
 * ' '-separated) and users ("id:slot,slot" each). */
static void recorded(const char *dir, char *shares, size_t ssize, char *users, size_t usize)
{
        char *path = fixture_path_in(dir, RECORD), *text = NULL;
        json_object *o, *a;
        size_t n = 0;

        shares[0] = users[0] = '\0';
        if (plat_read_file(path, 1 << 20, &text, NULL) < 0) {
                free(path);
                return;
        }
        o = json_tokener_parse(text);
        a = json_object_object_get(o, "shares");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *d = json_object_array_get_idx(a, i);
                n += (size_t) snprintf(
                        shares + n, ssize - n, "%s%d:%d/%d/%d/%d", i ? " " : "",
                        json_object_get_int(json_object_object_get(d, "slot")),
                        json_object_get_boolean(json_object_object_get(d, "read_only")),
                        json_object_get_boolean(json_object_object_get(d, "host")),
                        json_object_get_boolean(json_object_object_get(d, "guest")),
                        json_object_get_boolean(json_object_object_get(d, "ready")));
        }
        a = json_object_object_get(o, "share_users");
        n = 0;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *u = json_object_array_get_idx(a, i);
                json_object *l = json_object_object_get(u, "slots");
                n += (size_t) snprintf(users + n, usize - n, "%s%s:", i ? " " : "",
                                       json_string_of(u, "id"));
                for (size_t j = 0; j < json_object_array_length(l); j++)
                        n += (size_t) snprintf(
                                users + n, usize - n, "%s%d", j ? "," : "",
                                json_object_get_int(json_object_array_get_idx(l, j)));
        }
        json_object_put(o);
        free(text);
        free(path);
}

static void assert_recorded(const char *dir, const char *shares, const char *users)
{
        char d[512], u[512];

        recorded(dir, d, sizeof(d), u, sizeof(u));
        assert_string_equal(d, shares);
        assert_string_equal(u, users);
}

/* The source and options of the spec mount at dest in the guest's spec. */
static void assert_guest_mount(const char *dest, const char *source, const char *opt)
{
        json_object *s = json_tokener_parse(fake.ctr_spec), *m = NULL, *a;
        bool found = false;

        assert_non_null(s);
        a = json_object_object_get(s, "mounts");
        for (size_t i = 0; i < json_object_array_length(a) && !found; i++) {
                m = json_object_array_get_idx(a, i);
                found = strcmp(json_string_of(m, "destination"), dest) == 0;
        }
        assert_true(found);
        assert_string_equal(json_string_of(m, "source"), source);
        if (opt)
                assert_non_null(strstr(json_object_to_json_string(m), opt));
        json_object_put(s);
}

/* One container: each host mount added and mounted in order, the spec's
 * sources the guest's paths, a tmpfs left alone; its delete unmounts and
 * removes in reverse. */
static void test_share_and_unshare(void **state)
{
        struct drv_pod *pod = fixture_create();
        json_object *doc, *set;

        fixture_log_clear();
        create_ok(pod, &ctr_a);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m0 rw C:\\data\n"
                                             "guest.mount_share m0 /run/mounts/m0 rw\n"
                                             "hcs.plan9 Add m1 ro C:\\cfg\n"
                                             "guest.mount_share m1 /run/mounts/m1 ro\n"
                                             "guest.ctr_create ctr-a");
        assert_guest_mount("/data", "/run/mounts/m0", "\"rw\"");
        assert_guest_mount("/cfg", "/run/mounts/m1", "\"ro\"");
        assert_guest_mount("/tmp", "tmpfs", NULL);
        /* The last request: the share's fields, read-only in its flags. */
        doc = json_tokener_parse(fake.plan9_doc);
        set = json_object_object_get(doc, "Settings");
        assert_string_equal(json_string_of(doc, "ResourcePath"),
                            "VirtualMachine/Devices/Plan9/Shares");
        assert_string_equal(json_string_of(set, "Name"), "m1");
        assert_string_equal(json_string_of(set, "AccessName"), "m1");
        assert_string_equal(json_string_of(set, "Path"), "C:\\cfg");
        assert_int_equal(json_object_get_int(json_object_object_get(set, "Port")), 564);
        assert_int_equal(json_object_get_int(json_object_object_get(set, "Flags")) & 1, 1);
        json_object_put(doc);
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1", "ctr-a:0,1");
        assert_int_equal(fake.host_shares, 2);
        assert_int_equal(fake.guest_shares, 2);

        fixture_log_clear();
        delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount_share /run/mounts/m1\n"
                                             "hcs.plan9 Remove m1\n"
                                             "guest.unmount_share /run/mounts/m0\n"
                                             "hcs.plan9 Remove m0");
        assert_recorded(spec.state_dir, "", "");
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Two containers mount C:\data rw: one share, removed after the second
 * goes; the same directory read-only is a share of its own. */
static void test_shared_dir_counted(void **state)
{
        struct drv_pod *pod = fixture_create();

        create_ok(pod, &ctr_a);
        fixture_log_clear();
        create_ok(pod, &ctr_b);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m2 ro C:\\data\n"
                                             "guest.mount_share m2 /run/mounts/m2 ro\n"
                                             "guest.ctr_create ctr-b");
        assert_guest_mount("/x", "/run/mounts/m0", NULL);
        assert_guest_mount("/y", "/run/mounts/m2", NULL);
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1 2:1/1/1/1", "ctr-a:0,1 ctr-b:0,2");
        fixture_log_clear();
        delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount_share /run/mounts/m1\n"
                                             "hcs.plan9 Remove m1");
        assert_int_equal(fake.host_shares, 2);
        fixture_log_clear();
        delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount_share /run/mounts/m2\n"
                                             "hcs.plan9 Remove m2\n"
                                             "guest.unmount_share /run/mounts/m0\n"
                                             "hcs.plan9 Remove m0");
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Bad host paths and propagations: EINVAL before any call, nothing left. */
static void test_refused_before_any_call(void **state)
{
        static const char *const bad[] = {
                "data",
                "C:data",
                "C:\\a\\..\\b",
                "C:\\a\\.\\b",
                "C:\\a\\\\b",
                "\\\\.\\PhysicalDrive0",
                "\\\\?\\C:\\a/b",
                "C:\\a:stream",
                "C:\\a*",
                "\\\\",
                "",
        };
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;
        char json[512];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_object *o = json_object_new_object(), *a = json_object_new_array(),
                            *m = json_object_new_object(), *opts = json_object_new_array();
                struct drv_ctr_spec c = {.id = "bad", .oci_spec_json = json};

                json_object_object_add(m, "destination", json_object_new_string("/d"));
                json_object_object_add(m, "source", json_object_new_string(bad[i]));
                json_object_array_add(opts, json_object_new_string("rbind"));
                json_object_object_add(m, "options", opts);
                json_object_array_add(a, m);
                json_object_object_add(o, "mounts", a);
                snprintf(json, sizeof(json), "%s", json_object_to_json_string(o));
                json_object_put(o);
                fixture_log_clear();
                if (ops->ctr_create(pod, &c, &err) != -EINVAL)
                        fail_msg("%s: not refused", bad[i]);
                assert_non_null(strstr(err->msg, "host path"));
                err = uvm_error_free(err);
                assert_int_equal(fake_log_count(""), 0);
        }
        {
                struct drv_ctr_spec c = {
                        .id = "prop",
                        .oci_spec_json = "{\"mounts\":[{\"destination\":\"/d\",\"source\":"
                                         "\"C:\\\\d\",\"options\":[\"rbind\",\"rshared\"]}]}"};

                fixture_log_clear();
                assert_int_equal(ops->ctr_create(pod, &c, &err), -EINVAL);
                assert_non_null(strstr(err->msg, "propagation 'rshared'"));
                err = uvm_error_free(err);
                assert_int_equal(fake_log_count(""), 0);
        }
        assert_recorded(spec.state_dir, "", "");
        assert_int_equal(drv_hcs_share_path_check("\\\\?\\C:\\a\\b", NULL), 0);
        assert_int_equal(drv_hcs_share_path_check("\\\\server\\share\\d", NULL), 0);
        assert_int_equal(drv_hcs_share_path_check("c:/a/b/", NULL), 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Each call of ctr-b's create fails in turn: the create fails, the share
 * it made is gone, ctr-a's stay, the record is ctr-a's alone, and the
 * create then succeeds. */
static void test_undo_each_failure(void **state)
{
        static const struct {
                const char *call;
                int nth, err;    /* nth counts ctr-a's calls too */
                const char *log; /* after the failure */
        } cases[] = {
                {"hcs.plan9", 3, EACCES, "hcs.plan9 Add m2 ro C:\\data !\nhcs.plan9 Remove m2 !"},
                {"guest.mount_share", 3, EIO,
                 "hcs.plan9 Add m2 ro C:\\data\n"
                 "guest.mount_share m2 /run/mounts/m2 ro !\n"
                 "guest.unmount_share /run/mounts/m2\n"
                 "hcs.plan9 Remove m2"},
                {"guest.ctr_create", 2, EIO,
                 "hcs.plan9 Add m2 ro C:\\data\n"
                 "guest.mount_share m2 /run/mounts/m2 ro\n"
                 "guest.ctr_create ctr-b !\n"
                 "guest.unmount_share /run/mounts/m2\n"
                 "hcs.plan9 Remove m2"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct uvm_error *err = NULL;
                struct drv_pod *pod;

                fake_reset();
                fixture_remove(RECORD);
                pod = fixture_create();
                create_ok(pod, &ctr_a);
                fixture_log_clear();
                fake_fail(cases[i].call, cases[i].nth, cases[i].err);
                assert_int_equal(ops->ctr_create(pod, &ctr_b, &err), -cases[i].err);
                assert_non_null(strstr(err->msg, "ctr-b"));
                err = uvm_error_free(err);
                assert_string_equal(fake_log_text(), cases[i].log);
                assert_int_equal(fake.host_shares, 2);
                assert_int_equal(fake.guest_shares, 2);
                assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1", "ctr-a:0,1");
                create_ok(pod, &ctr_b);
                assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1 2:1/1/1/1",
                                "ctr-a:0,1 ctr-b:0,2");
                assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
                ops->pod_free(pod);
                assert_int_equal(fake_live(), 0);
        }
}

/* The pod's stop unmounts and removes every share before the VM goes. */
static void test_pod_stop_removes_all(void **state)
{
        struct drv_pod *pod = fixture_create();
        const char *log;

        create_ok(pod, &ctr_a);
        create_ok(pod, &ctr_b);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        log = fake_log_text();
        assert_int_equal(fake_log_count("guest.unmount_share"), 3);
        assert_int_equal(fake_log_count("hcs.plan9 Remove"), 3);
        assert_true(strstr(log, "hcs.plan9 Remove m0") < strstr(log, "hcs.shutdown"));
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_false(fixture_exists(RECORD));
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* uvmd is killed with two containers and restarted: the reattached pod
 * knows its shares and their users; the deletes then remove them. */
static void test_restart_knows_shares(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;

        create_ok(pod, &ctr_a);
        create_ok(pod, &ctr_b);
        fake_crash_save();
        ops->pod_free(pod);
        fake_crash_restore();
        fixture_bind();
        pod = NULL;
        if (ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("reattach: %s", err->msg);
        assert_int_equal(fake_log_count("hcs.plan9"), 0);
        assert_int_equal(fake.host_shares, 3);
        fixture_log_clear();
        delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount_share /run/mounts/m2\n"
                                             "hcs.plan9 Remove m2");
        delete_ok(pod, "ctr-a");
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Every recorded share is added and mounted, and nothing else is. */
static void assert_consistent(const char *dir)
{
        char d[512], u[512];
        int n = 0;

        recorded(dir, d, sizeof(d), u, sizeof(u));
        for (const char *s = d; *s; s++)
                n += *s == ':';
        if (strstr(d, "/0"))
                fail_msg("crash %s: a share half-made after the reattach: %s", fixture_crash.what,
                         d);
        assert_int_equal(fake.host_shares, n);
        assert_int_equal(fake.guest_shares, n);
}

static void make_a(struct drv_pod *pod)
{
        create_ok(pod, &ctr_a);
}

static void make_ab(struct drv_pod *pod)
{
        create_ok(pod, &ctr_a);
        create_ok(pod, &ctr_b);
}

static void make_b(struct drv_pod *pod)
{
        create_ok(pod, &ctr_b);
}

static void drop_a(struct drv_pod *pod)
{
        delete_ok(pod, "ctr-a");
}

/* uvmd dies at step n of ctr-b's create (deleting: of ctr-a's delete),
 * ctr-a (and for a delete ctr-b) made before; a new one reattaches: every
 * share it keeps is whole, the other container's are kept, the deletes
 * leave nothing. */
static void crash_at(int n, bool deleting, int *ret_steps)
{
        struct drv_pod *pod;
        char d[512], u[512], d0[512], u0[512];

        *ret_steps =
                fixture_crash_run(n, deleting ? make_ab : make_a, deleting ? drop_a : make_b, NULL);
        fixture_remove(RECORD);
        if (!n)
                return;
        recorded(fixture_crash.copy, d0, sizeof(d0), u0, sizeof(u0));
        pod = fixture_crash_reattach();
        recorded(fixture_crash.copy, d, sizeof(d), u, sizeof(u));
        print_message("crash %s %s: shares %s, users %s -> shares %s, users %s\n",
                      deleting ? "deleting" : "creating", fixture_crash.what, d0, u0, d, u);
        if (strstr(d0, "2:1/1/0/0") && !deleting)
                assert_int_equal(fake_log_count("hcs.plan9 Remove m2"), 1);
        if (strstr(d0, "1:1/1/1/0") && deleting) {
                assert_int_equal(fake_log_count("guest.unmount_share /run/mounts/m1"), 1);
                assert_int_equal(fake_log_count("hcs.plan9 Remove m1"), 1);
        }
        assert_consistent(fixture_crash.copy);
        /* C:\data rw (slot 0) is always kept: one of them uses it. */
        assert_non_null(strstr(d, "0:0/1/1/1"));
        if (!deleting)
                assert_non_null(strstr(u, "ctr-a:0,1"));
        else
                assert_non_null(strstr(u, "ctr-b:0,2"));
        ops->ctr_delete(pod, "ctr-a", NULL);
        ops->ctr_delete(pod, "ctr-b", NULL);
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_recorded(fixture_crash.copy, "", "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void test_crash_during_create(void **state)
{
        /* plan9 add, mount, ctr_create: before and after each. */
        fixture_crash_each(crash_at, false, 6);
}

static void test_crash_during_delete(void **state)
{
        /* ctr_delete, unmount, plan9 remove. */
        fixture_crash_each(crash_at, true, 6);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_share_and_unshare, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shared_dir_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_before_any_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undo_each_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_stop_removes_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_knows_shares, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
