/*
 * The hcs driver's scratch disks (scratch.c, through disks.c) against the
 * fake HCS and guest tables: a container's blank sparse VHD made in the
 * pod's state dir, granted, attached read-write over SCSI after its
 * layers, mounted by the guest as a scratch and named by the hosted
 * document's ScratchDirPath; removed (guest, host, file) at its delete,
 * at the pod's stop and at each failure of a create; kept by a restart;
 * uvmd killed at each step of a create and of a delete.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "common/json.h"
#include "common/platform.h"
#include "image/vhd.h"
#include "tests/unit/hcs_driver/fixture.h"

#define RECORD "hcs-pod.json"
#define L1 "C:\\data\\images\\disks\\aaa.vhd"
#define GIB (1ull << 30)
/* Creating a file where a directory is: Windows says access denied. */
#ifdef _WIN32
#define IN_WAY_ERR EACCES
#else
#define IN_WAY_ERR EISDIR
#endif

static char *const layers_a[] = {L1, NULL};
static const struct drv_ctr_spec ctr_a = {.id = "ctr-a", .layers = layers_a, .oci_spec_json = "{}"};
static const struct drv_ctr_spec ctr_b = {.id = "ctr-b", .oci_spec_json = "{}"};

static bool crash_file; /* ctr-b's scratch file was there at the crash */

static bool scratch_file(const char *id);

static void on_step(const char *call, bool after)
{
        if (fixture_crash_step(call, after))
                crash_file = scratch_file("ctr-b");
}

/* HCS takes Windows paths only: off Windows the pod's state dir is
 * "C:\\pod1" in the fixture's dir (one name there; the scratch files are
 * "C:\\pod1\\scratch-<id>.vhd" beside it, names too). */
static void remove_record(void)
{
        char *path = fixture_path_in(spec.state_dir, RECORD);

        (void) plat_rm_rf(path);
        free(path);
}

static int setup(void **state)
{
        fixture_setup(state);
#ifndef _WIN32
        assert_int_equal(chdir(spec.state_dir), 0);
        assert_int_equal(plat_mkdir_p("C:\\pod1", 0700), 0);
        spec.state_dir = "C:\\pod1";
#endif
        spec.hcn_endpoints = NULL;
        cfg.scratch_size_gb = 1;
        fixture_bind();
        fixture_crash_setup("hcs-scratch-");
        return 0;
}

static int teardown(void **state)
{
#ifndef _WIN32
        assert_int_equal(chdir("/"), 0);
#endif
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

/* Whether ctr's scratch file is there: a fixed VHD of 1 GiB, its data a
 * hole (where the file system says). */
static bool scratch_file(const char *id)
{
        static char head[1 << 20];
        char name[256], *path, footer[512];
        struct stat st;
        FILE *f = NULL;
        bool there;

        snprintf(name, sizeof(name), "%s\\scratch-%s.vhd", spec.state_dir, id);
        path = name;
        there = stat(path, &st) == 0;
        if (there) {
                assert_int_equal((uint64_t) st.st_size, GIB + 512);
#ifndef _WIN32
                assert_true((uint64_t) st.st_blocks * 512 < (1u << 20)); /* sparse */
#endif
                assert_int_equal(plat_fopen_read(path, &f), 0);
                assert_int_equal(fread(head, 1, sizeof(head), f), sizeof(head));
                for (size_t i = 0; i < sizeof(head); i++)
                        if (head[i])
                                fail_msg("scratch of %s is not blank at %zu", id, i);
#ifdef _WIN32
                assert_int_equal(_fseeki64(f, (long long) GIB, SEEK_SET), 0);
#else
                assert_int_equal(fseeko(f, (off_t) GIB, SEEK_SET), 0);
#endif
                assert_int_equal(fread(footer, 1, sizeof(footer), f), sizeof(footer));
                assert_memory_equal(footer, "conectix", 8);
                assert_int_equal(fgetc(f), EOF);
                fclose(f);
        }
        return there;
}

/* The record's disks in dir: "lun:host/guest/ready[:scratch-of/file]". */
static void recorded(const char *dir, char *buf, size_t size)
{
        char *path = fixture_path_in(dir, RECORD), *text = NULL;
        json_object *o, *a;
        size_t n = 0;

        buf[0] = '\0';
        if (plat_read_file(path, 1 << 20, &text, NULL) < 0) {
                free(path);
                return;
        }
        o = json_tokener_parse(text);
        a = json_object_object_get(o, "disks");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *d = json_object_array_get_idx(a, i);
                const char *of = json_string_of(d, "scratch");

                n += (size_t) snprintf(buf + n, size - n, "%s%d:%d/%d/%d", i ? " " : "",
                                       json_object_get_int(json_object_object_get(d, "lun")),
                                       json_object_get_boolean(json_object_object_get(d, "host")),
                                       json_object_get_boolean(json_object_object_get(d, "guest")),
                                       json_object_get_boolean(json_object_object_get(d, "ready")));
                if (of)
                        n += (size_t) snprintf(
                                buf + n, size - n, ":%s/%d", of,
                                json_object_get_boolean(json_object_object_get(d, "file")));
        }
        json_object_put(o);
        free(text);
        free(path);
}

static void assert_recorded(const char *dir, const char *want)
{
        char d[512];

        recorded(dir, d, sizeof(d));
        assert_string_equal(d, want);
}

/* After the layer: file, grant, read-write attach, scratch mount, then
 * the container with ScratchDirPath there; its delete removes the
 * scratch before the layer, the file last. */
static void test_attach_and_detach(void **state)
{
        struct drv_pod *pod = fixture_create();

        fixture_log_clear();
        create_ok(pod, &ctr_a);
        assert_string_equal(fake_log_text(), "hcs.grant pod1@vm aaa.vhd\n"
                                             "hcs.scsi Add 0\n"
                                             "guest.mount 0 /run/layers/0\n"
                                             "hcs.grant pod1@vm scratch-ctr-a.vhd\n"
                                             "hcs.scsi Add 1\n"
                                             "guest.mount_scratch 1 /run/scratch/ctr-a\n"
                                             "guest.ctr_create ctr-a");
        assert_non_null(strstr(fake.scsi_doc, "/Attachments/1"));
        assert_non_null(strstr(fake.scsi_doc, "\"ReadOnly\":false"));
        assert_non_null(strstr(fake.scsi_doc, "scratch-ctr-a.vhd"));
        assert_non_null(strstr(fake.hosted_doc, "\"ScratchDirPath\":\"/run/scratch/ctr-a\""));
        assert_string_equal(fake.ctr_layers, "/run/layers/0");
        assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1:ctr-a/1");
        assert_true(scratch_file("ctr-a"));
        assert_int_equal(fake.host_disks, 2);
        assert_int_equal(fake.guest_disks, 2);

        fixture_log_clear();
        delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount 1 /run/scratch/ctr-a\n"
                                             "hcs.scsi Remove 1\n"
                                             "hcs.revoke pod1@vm scratch-ctr-a.vhd\n"
                                             "guest.unmount 0 /run/layers/0\n"
                                             "hcs.scsi Remove 0\n"
                                             "hcs.revoke pod1@vm aaa.vhd");
        assert_int_equal(fake.n_grants, 0);
        assert_false(scratch_file("ctr-a"));
        assert_recorded(spec.state_dir, "");
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* scratch_size_gb 0: no scratch disk, ScratchDirPath the agent's dir. */
static void test_off(void **state)
{
        struct drv_pod *pod;

        cfg.scratch_size_gb = 0;
        fixture_bind();
        pod = fixture_create();
        fixture_log_clear();
        create_ok(pod, &ctr_b);
        assert_string_equal(fake_log_text(), "guest.ctr_create ctr-b");
        assert_null(strstr(fake.hosted_doc, "/run/scratch/"));
        assert_false(scratch_file("ctr-b"));
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Each step of ctr-b's create failing in turn (the file too: a directory
 * in its place): the create fails naming ctr-b, nothing of its scratch
 * is left (disk, mount, file, record), the create then succeeds. */
static void test_undo_each_failure(void **state)
{
        static const struct {
                const char *call;
                int err;
                const char *log;
        } cases[] = {
                {"file", IN_WAY_ERR, ""},
                {"hcs.grant", EACCES, "hcs.grant pod1@vm scratch-ctr-b.vhd !"},
                {"hcs.scsi", EIO,
                 "hcs.grant pod1@vm scratch-ctr-b.vhd\nhcs.scsi Add 0 !\nhcs.scsi Remove 0 !\n"
                 "hcs.revoke pod1@vm scratch-ctr-b.vhd"},
                {"guest.mount_scratch", ETIMEDOUT,
                 "hcs.grant pod1@vm scratch-ctr-b.vhd\nhcs.scsi Add 0\n"
                 "guest.mount_scratch 0 /run/scratch/ctr-b !\n"
                 "guest.unmount 0 /run/scratch/ctr-b\nhcs.scsi Remove 0\n"
                 "hcs.revoke pod1@vm scratch-ctr-b.vhd"},
                {"guest.ctr_create", EIO,
                 "hcs.grant pod1@vm scratch-ctr-b.vhd\nhcs.scsi Add 0\n"
                 "guest.mount_scratch 0 /run/scratch/ctr-b\nguest.ctr_create ctr-b !\n"
                 "guest.unmount 0 /run/scratch/ctr-b\nhcs.scsi Remove 0\n"
                 "hcs.revoke pod1@vm scratch-ctr-b.vhd"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct uvm_error *err = NULL;
                char in_way[256];
                struct drv_pod *pod;

                fake_reset();
                remove_record();
                snprintf(in_way, sizeof(in_way), "%s\\scratch-ctr-b.vhd", spec.state_dir);
                pod = fixture_create();
                fixture_log_clear();
                if (STR_EQ(cases[i].call, "file"))
                        assert_int_equal(plat_mkdir_p(in_way, 0700), 0);
                else
                        fake_fail(cases[i].call, 1, cases[i].err);
                assert_int_equal(ops->ctr_create(pod, &ctr_b, &err), -cases[i].err);
                assert_non_null(strstr(err->msg, "ctr-b"));
                err = uvm_error_free(err);
                assert_string_equal(fake_log_text(), cases[i].log);
                assert_int_equal(fake.host_disks + fake.guest_disks + fake.n_grants, 0);
                assert_recorded(spec.state_dir, "");
                if (STR_EQ(cases[i].call, "file"))
                        assert_int_equal(plat_rm_rf(in_way), 0);
                assert_false(scratch_file("ctr-b"));
                create_ok(pod, &ctr_b);
                assert_recorded(spec.state_dir, "0:1/1/1:ctr-b/1");
                assert_true(scratch_file("ctr-b"));
                assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
                assert_false(scratch_file("ctr-b"));
                ops->pod_free(pod);
                assert_int_equal(fake_live(), 0);
        }
}

/* The pod's stop removes the scratch disks, their grants and files. */
static void test_pod_stop(void **state)
{
        struct drv_pod *pod = fixture_create();

        create_ok(pod, &ctr_a);
        create_ok(pod, &ctr_b);
        assert_true(scratch_file("ctr-a") && scratch_file("ctr-b"));
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(fake_log_count("guest.unmount"), 3);
        assert_int_equal(fake_log_count("hcs.scsi Remove"), 3);
        assert_int_equal(fake_log_count("hcs.revoke pod1@vm scratch-"), 2);
        assert_int_equal(fake.n_grants, 0);
        assert_false(scratch_file("ctr-a") || scratch_file("ctr-b"));
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* A restart keeps the scratch disks of the containers (no layer user
 * counts them); their deletes then remove them. */
static void test_restart_keeps(void **state)
{
        struct drv_pod *pod = fixture_create();

        create_ok(pod, &ctr_a);
        create_ok(pod, &ctr_b);
        pod = fixture_restart(pod);
        assert_int_equal(fake_log_count("hcs.scsi"), 0);
        assert_int_equal(fake.host_disks, 3);
        assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1:ctr-a/1 2:1/1/1:ctr-b/1");
        fixture_log_clear();
        delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount 2 /run/scratch/ctr-b\n"
                                             "hcs.scsi Remove 2\n"
                                             "hcs.revoke pod1@vm scratch-ctr-b.vhd");
        assert_false(scratch_file("ctr-b"));
        assert_true(scratch_file("ctr-a"));
        delete_ok(pod, "ctr-a");
        assert_false(scratch_file("ctr-a"));
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void make_b(struct drv_pod *pod)
{
        create_ok(pod, &ctr_b);
}

static void drop_b(struct drv_pod *pod)
{
        delete_ok(pod, "ctr-b");
}

/* uvmd dies at step n of ctr-b's create (deleting: of its delete); a new
 * one reattaches from the record as it was: ctr-b's scratch is whole
 * (attached, mounted, its file there) or gone, all of it. */
static void crash_at(int n, bool deleting, int *ret_steps)
{
        struct drv_pod *pod;
        char d0[512], d[512];

        *ret_steps =
                fixture_crash_run(n, deleting ? make_b : NULL, deleting ? drop_b : make_b, on_step);
        remove_record();
        if (!n) {
                char f[256];

                snprintf(f, sizeof(f), "%s\\scratch-ctr-b.vhd", spec.state_dir);
                if (!deleting)
                        assert_int_equal(plat_rm_rf(f), 0);
                return;
        }
        /* The file as the dead uvmd left it (the run went on after). */
        if (crash_file && !scratch_file("ctr-b")) {
                char f[256];

                snprintf(f, sizeof(f), "%s\\scratch-ctr-b.vhd", spec.state_dir);
                assert_int_equal(img_vhd_create_sparse(f, GIB, NULL), 0);
        }
        recorded(fixture_crash.copy, d0, sizeof(d0));
        pod = fixture_crash_reattach();
        recorded(fixture_crash.copy, d, sizeof(d));
        print_message("crash %s %s: disks %s -> %s\n", deleting ? "deleting" : "creating",
                      fixture_crash.what, d0, d);
        if (d[0]) {
                assert_string_equal(d, "0:1/1/1:ctr-b/1");
                assert_int_equal(fake.host_disks, 1);
                assert_int_equal(fake.guest_disks, 1);
                assert_true(scratch_file("ctr-b"));
        } else {
                assert_int_equal(fake.host_disks + fake.guest_disks, 0);
                assert_false(scratch_file("ctr-b"));
        }
        ops->ctr_delete(pod, "ctr-b", NULL);
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_false(scratch_file("ctr-b"));
        assert_recorded(fixture_crash.copy, "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void test_crash_during_create(void **state)
{
        /* grant, scsi, mount_scratch, ctr_create: before and after each. */
        fixture_crash_each(crash_at, false, 8);
}

static void test_crash_during_delete(void **state)
{
        /* ctr_delete, unmount, scsi remove, revoke. */
        fixture_crash_each(crash_at, true, 8);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_attach_and_detach, setup, teardown),
                cmocka_unit_test_setup_teardown(test_off, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undo_each_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_keeps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
