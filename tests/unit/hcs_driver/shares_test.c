/*
 * The hcs driver's Plan9 shares for CRI mounts (shares.c) against the fake
 * HCS and guest tables: a container's host mounts added to the VM and
 * mounted in the guest in order, the spec's sources made the guest's
 * paths; one share for two containers mounting the same directory, another
 * for the same directory read-only; a host file's directory shared
 * restricted to it, apart from the directory's own share and from another
 * file's, the spec binding the file; removed (guest, then host) after
 * their last container and at the pod's stop; a record from before file
 * shares read; undone at each failure; bad host
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
#include "tests/unit/hcs_driver/ctr_pair.h"
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

/* Host files (ctr_win_mounts.c marks them): ctr-f binds the kubelet's
 * termination-log rw, the same pod directory whole at /dir, and a file
 * of a drive root read-only at /etc/hosts; ctr-g the same termination-log
 * and another file of its directory. */
#define FILE_MOUNT(dest, src, ro)                                                                  \
        "{\"destination\":\"" dest "\",\"type\":\"bind\",\"source\":\"" src "\","                  \
        "\"options\":[\"rbind\",\"rprivate\",\"" ro "\"],\"" DRV_HCS_MOUNT_FILE_KEY "\":true}"
#define TLOG "C:\\\\pods\\\\c1\\\\termination-log"
#define SPEC_F                                                                                     \
        "{\"mounts\":[" FILE_MOUNT(                                                                \
                "/dev/termination-log", TLOG,                                                      \
                "rw") ","                                                                          \
                      "{\"destination\":\"/"                                                       \
                      "dir\",\"type\":\"bind\",\"source\":\"C:\\\\pods\\\\c1\","                   \
                      "\"options\":[\"rbind\",\"rprivate\",\"rw\"]}," FILE_MOUNT(                  \
                              "/etc/hosts", "C:\\\\hosts", "ro") "]}"
#define SPEC_G                                                                                     \
        "{\"mounts\":[" FILE_MOUNT("/dev/termination-log", TLOG, "rw") "," FILE_MOUNT(             \
                "/other", "C:\\\\pods\\\\c1\\\\other", "rw") "]}"

static const struct drv_ctr_spec ctr_a = {.id = "ctr-a", .oci_spec_json = SPEC_A};
static const struct drv_ctr_spec ctr_f = {.id = "ctr-f", .oci_spec_json = SPEC_F};
static const struct drv_ctr_spec ctr_g = {.id = "ctr-g", .oci_spec_json = SPEC_G};
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

/* The record's shares' files, "slot:name" each ("slot:-" for a
 * directory, which has no "file", as in a record from before file
 * shares). */
static void assert_recorded_files(const char *want)
{
        char *path = fixture_path_in(spec.state_dir, RECORD), *text = NULL, got[512] = "";
        json_object *o, *a;
        size_t n = 0;

        assert_int_equal(plat_read_file(path, 1 << 20, &text, NULL), 0);
        o = json_tokener_parse(text);
        a = json_object_object_get(o, "shares");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *d = json_object_array_get_idx(a, i), *f = NULL;

                json_object_object_get_ex(d, "file", &f);
                n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%d:%s", i ? " " : "",
                                       json_object_get_int(json_object_object_get(d, "slot")),
                                       f ? json_object_get_string(f) : "-");
        }
        json_object_put(o);
        free(text);
        free(path);
        assert_string_equal(got, want);
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
        pair_create_ok(pod, &ctr_a);
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
        pair_delete_ok(pod, "ctr-a");
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

        pair_create_ok(pod, &ctr_a);
        fixture_log_clear();
        pair_create_ok(pod, &ctr_b);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m2 ro C:\\data\n"
                                             "guest.mount_share m2 /run/mounts/m2 ro\n"
                                             "guest.ctr_create ctr-b");
        assert_guest_mount("/x", "/run/mounts/m0", NULL);
        assert_guest_mount("/y", "/run/mounts/m2", NULL);
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1 2:1/1/1/1", "ctr-a:0,1 ctr-b:0,2");
        fixture_log_clear();
        pair_delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount_share /run/mounts/m1\n"
                                             "hcs.plan9 Remove m1");
        assert_int_equal(fake.host_shares, 2);
        fixture_log_clear();
        pair_delete_ok(pod, "ctr-b");
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

/* A removal's failures: an unmount that fails leaves the share added and
 * recorded as in the guest, not ready (the pod's stop takes it); one that
 * finds the share gone (ENOENT) goes on to the host. */
static void test_remove_failures(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        fixture_log_clear();
        fake_fail("guest.unmount_share", 1, EIO);
        pair_delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount_share /run/mounts/m2 !");
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1 2:1/1/1/0", "ctr-a:0,1");
        fixture_log_clear();
        fake_fail("guest.unmount_share", 2, ENOENT);
        pair_delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount_share /run/mounts/m1 !\n"
                                             "hcs.plan9 Remove m1\n"
                                             "guest.unmount_share /run/mounts/m0\n"
                                             "hcs.plan9 Remove m0");
        assert_recorded(spec.state_dir, "2:1/1/1/0", "");
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(fake_log_count("guest.unmount_share /run/mounts/m2"), 1);
        assert_int_equal(fake_log_count("hcs.plan9 Remove m2"), 1);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Host files: each a share of its directory restricted to it (the fake
 * logs AllowedFiles as " [name]", "?" after it without flag 0x80), apart
 * from the same directory shared whole and from another file of it; the
 * bind's source <mount point>/<name>, the marker gone from the spec; a
 * drive root's file; two containers of one file share one share, removed
 * after the last; a restarted uvmd knows which share is whose file. */
static void test_file_shares(void **state)
{
        struct drv_pod *pod = fixture_create();
        json_object *doc, *set, *files;

        fixture_log_clear();
        pair_create_ok(pod, &ctr_f);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m0 rw C:\\pods\\c1 [termination-log]\n"
                                             "guest.mount_share m0 /run/mounts/m0 rw\n"
                                             "hcs.plan9 Add m1 rw C:\\pods\\c1\n"
                                             "guest.mount_share m1 /run/mounts/m1 rw\n"
                                             "hcs.plan9 Add m2 ro C:\\ [hosts]\n"
                                             "guest.mount_share m2 /run/mounts/m2 ro\n"
                                             "guest.ctr_create ctr-f");
        assert_guest_mount("/dev/termination-log", "/run/mounts/m0/termination-log", "\"rw\"");
        assert_guest_mount("/dir", "/run/mounts/m1", "\"rw\"");
        assert_guest_mount("/etc/hosts", "/run/mounts/m2/hosts", "\"ro\"");
        assert_null(strstr(fake.ctr_spec, DRV_HCS_MOUNT_FILE_KEY));
        doc = json_tokener_parse(fake.plan9_doc);
        set = json_object_object_get(doc, "Settings");
        assert_string_equal(json_string_of(set, "Path"), "C:\\");
        assert_int_equal(json_object_get_int(json_object_object_get(set, "Flags")), 0x85);
        files = json_object_object_get(set, "AllowedFiles");
        assert_int_equal(json_object_array_length(files), 1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(files, 0)), "hosts");
        json_object_put(doc);
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:0/1/1/1 2:1/1/1/1", "ctr-f:0,1,2");
        assert_recorded_files("0:termination-log 1:- 2:hosts");

        fixture_log_clear();
        pair_create_ok(pod, &ctr_g);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m3 rw C:\\pods\\c1 [other]\n"
                                             "guest.mount_share m3 /run/mounts/m3 rw\n"
                                             "guest.ctr_create ctr-g");
        assert_guest_mount("/dev/termination-log", "/run/mounts/m0/termination-log", NULL);
        assert_guest_mount("/other", "/run/mounts/m3/other", NULL);
        assert_recorded(spec.state_dir, "0:0/1/1/1 1:0/1/1/1 2:1/1/1/1 3:0/1/1/1",
                        "ctr-f:0,1,2 ctr-g:0,3");

        fixture_log_clear();
        pair_delete_ok(pod, "ctr-f");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-f\n"
                                             "guest.unmount_share /run/mounts/m2\n"
                                             "hcs.plan9 Remove m2\n"
                                             "guest.unmount_share /run/mounts/m1\n"
                                             "hcs.plan9 Remove m1");
        assert_recorded_files("0:termination-log 3:other");

        /* Restarted: ctr-f again finds m0 as termination-log's share, and
         * its /dir is not that share (a directory share again). */
        pod = fixture_restart(pod);
        fixture_log_clear();
        pair_create_ok(pod, &ctr_f);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m1 rw C:\\pods\\c1\n"
                                             "guest.mount_share m1 /run/mounts/m1 rw\n"
                                             "hcs.plan9 Add m2 ro C:\\ [hosts]\n"
                                             "guest.mount_share m2 /run/mounts/m2 ro\n"
                                             "guest.ctr_create ctr-f");
        assert_guest_mount("/dev/termination-log", "/run/mounts/m0/termination-log", NULL);
        assert_guest_mount("/dir", "/run/mounts/m1", NULL);
        pair_delete_ok(pod, "ctr-g");
        fixture_log_clear();
        pair_delete_ok(pod, "ctr-f");
        assert_int_equal(fake_log_count("hcs.plan9 Remove m0"), 1);
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_recorded(spec.state_dir, "", "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* A host file's directory and name: a drive root keeps its separator;
 * no name, a server alone, a bad name refused. */
static void test_file_split(void **state)
{
        static const struct {
                const char *path, *dir, *name;
        } ok[] = {
                {"C:\\pods\\c1\\termination-log", "C:\\pods\\c1", "termination-log"},
                {"C:\\hosts", "C:\\", "hosts"},
                {"c:/a/b", "c:/a", "b"},
                {"\\\\?\\D:\\f", "\\\\?\\D:\\", "f"},
                {"\\\\?\\D:\\x\\f", "\\\\?\\D:\\x", "f"},
                {"\\\\srv\\share\\f", "\\\\srv\\share", "f"},
        };
        static const char *const bad[] = {"C:\\",      "C:\\a\\", "\\\\srv\\f", "\\\\srv",
                                          "C:\\a\\..", "x",       "C:\\a\\\xff"};

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                char *dir = NULL, *name = NULL;

                assert_int_equal(drv_hcs_share_file_split(ok[i].path, &dir, &name, NULL), 0);
                assert_string_equal(dir, ok[i].dir);
                assert_string_equal(name, ok[i].name);
                free(dir);
                free(name);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *dir = NULL, *name = NULL;

                if (drv_hcs_share_file_split(bad[i], &dir, &name, NULL) != -EINVAL)
                        fail_msg("%s: not refused", bad[i]);
                assert_null(dir);
                assert_null(name);
        }
}

/* A record whose shares have no "file" (written before file shares) is
 * read as directory shares; one whose file is not a name is refused. */
static void test_old_record_loads(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;
        char *path, *text = NULL;
        const char *bad;
        json_object *o;

        pair_create_ok(pod, &ctr_a);
        fake_crash_save();
        ops->pod_free(pod);
        /* ctr-a's record is as an older uvmd wrote it: no "file" anywhere. */
        path = fixture_path_in(spec.state_dir, RECORD);
        assert_int_equal(plat_read_file(path, 1 << 20, &text, NULL), 0);
        assert_null(strstr(text, "\"file\""));

        o = json_tokener_parse(text);
        json_object_object_add(json_object_array_get_idx(json_object_object_get(o, "shares"), 1),
                               "file", json_object_new_string("..\\x"));
        bad = json_object_to_json_string(o);
        assert_int_equal(plat_write_file_atomic(path, bad, strlen(bad), 0600), 0);
        json_object_put(o);
        fake_crash_restore();
        fixture_bind();
        pod = NULL;
        assert_true(ops->pod_reattach(&spec, &pod, &err) < 0);
        assert_non_null(strstr(err->msg, "bad shares"));
        err = uvm_error_free(err);
        assert_null(pod);

        assert_int_equal(plat_write_file_atomic(path, text, strlen(text), 0600), 0);
        fake_crash_restore();
        fixture_bind();
        if (ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("reattach: %s", err->msg);
        fixture_log_clear();
        pair_create_ok(pod, &ctr_b);
        assert_string_equal(fake_log_text(), "hcs.plan9 Add m2 ro C:\\data\n"
                                             "guest.mount_share m2 /run/mounts/m2 ro\n"
                                             "guest.ctr_create ctr-b");
        assert_guest_mount("/x", "/run/mounts/m0", NULL);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
        free(text);
        free(path);
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
        {
                /* A file marker on a root, a directory of a server alone,
                 * a bad marker. */
                static const char *const bad_files[] = {
                        "{\"mounts\":[" FILE_MOUNT("/d", "C:\\\\", "rw") "]}",
                        "{\"mounts\":[" FILE_MOUNT("/d", "\\\\\\\\srv\\\\f", "rw") "]}",
                        "{\"mounts\":[" FILE_MOUNT("/d", "\\\\\\\\srv", "rw") "]}",
                        "{\"mounts\":[{\"destination\":\"/d\",\"type\":\"bind\",\"source\":"
                        "\"C:\\\\f\",\"" DRV_HCS_MOUNT_FILE_KEY "\":\"yes\"}]}",
                };

                for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
                        struct drv_ctr_spec c = {.id = "badf", .oci_spec_json = bad_files[i]};

                        fixture_log_clear();
                        if (ops->ctr_create(pod, &c, &err) != -EINVAL)
                                fail_msg("%s: not refused", bad_files[i]);
                        err = uvm_error_free(err);
                        assert_int_equal(fake_log_count(""), 0);
                }
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
                pair_create_ok(pod, &ctr_a);
                fixture_log_clear();
                fake_fail(cases[i].call, cases[i].nth, cases[i].err);
                assert_int_equal(ops->ctr_create(pod, &ctr_b, &err), -cases[i].err);
                assert_non_null(strstr(err->msg, "ctr-b"));
                err = uvm_error_free(err);
                assert_string_equal(fake_log_text(), cases[i].log);
                assert_int_equal(fake.host_shares, 2);
                assert_int_equal(fake.guest_shares, 2);
                assert_recorded(spec.state_dir, "0:0/1/1/1 1:1/1/1/1", "ctr-a:0,1");
                pair_create_ok(pod, &ctr_b);
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

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
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

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        pod = fixture_restart(pod);
        assert_int_equal(fake_log_count("hcs.plan9"), 0);
        assert_int_equal(fake.host_shares, 3);
        fixture_log_clear();
        pair_delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount_share /run/mounts/m2\n"
                                             "hcs.plan9 Remove m2");
        pair_delete_ok(pod, "ctr-a");
        assert_int_equal(fake.host_shares + fake.guest_shares, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Slot 0 (C:\data rw) is ctr-a's and ctr-b's; slot 2 (ctr-b's C:\data ro)
 * added, not mounted at a crash in ctr-b's create, and slot 1 (ctr-a's
 * C:\cfg) not ready at one in ctr-a's delete, are undone by the reattach. */
static const struct ctr_pair pair = {
        .what = "shares",
        .a = &ctr_a,
        .b = &ctr_b,
        .recorded = recorded,
        .host = &fake.host_shares,
        .guest = &fake.guest_shares,
        .half = {"/0"},
        .kept = "0:0/1/1/1",
        .create_half = "2:1/1/0/0",
        .create_undo = {"hcs.plan9 Remove m2"},
        .delete_half = "1:1/1/1/0",
        .delete_undo = {"guest.unmount_share /run/mounts/m1", "hcs.plan9 Remove m1"},
};

static void crash_at(int n, bool deleting, int *ret_steps)
{
        pair_crash_at(&pair, n, deleting, ret_steps);
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
                cmocka_unit_test(test_file_split),
                cmocka_unit_test_setup_teardown(test_file_shares, setup, teardown),
                cmocka_unit_test_setup_teardown(test_old_record_loads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_before_any_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undo_each_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_stop_removes_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_knows_shares, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
