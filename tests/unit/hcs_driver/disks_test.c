/*
 * The hcs driver's layer disks (disks.c) against the fake HCS and guest
 * tables: a container's layers granted, attached read-only over SCSI and
 * mounted in the guest in order; shared by two containers and counted;
 * removed (guest, then host) after their last container and at the pod's
 * stop; undone at each failure; the LUN limit; uvmd killed at each step
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
#define L1 "C:\\data\\images\\disks\\aaa.vhd"
#define L2 "C:\\data\\images\\disks\\bbb.vhd"
#define L3 "C:\\data\\images\\disks\\ccc.vhd"

static char *const layers_a[] = {L1, L2, NULL};
static char *const layers_b[] = {L1, L3, NULL};
static const struct drv_ctr_spec ctr_a = {.id = "ctr-a", .layers = layers_a, .oci_spec_json = "{}"};
static const struct drv_ctr_spec ctr_b = {.id = "ctr-b", .layers = layers_b, .oci_spec_json = "{}"};

static int setup(void **state)
{
        fixture_setup(state);
        spec.hcn_endpoints = NULL;
        fixture_crash_setup("hcs-disks-");
        return 0;
}

static int teardown(void **state)
{
        fixture_crash_teardown();
        return fixture_teardown(state);
}

/* The record's disks in dir ("lun:host/guest/ready" each, ' '-separated)
 * and users ("id:lun,lun" each). */
static void recorded(const char *dir, char *disks, size_t dsize, char *users, size_t usize)
{
        char *path = fixture_path_in(dir, RECORD), *text = NULL;
        json_object *o, *a;
        size_t n = 0;

        disks[0] = users[0] = '\0';
        if (plat_read_file(path, 1 << 20, &text, NULL) < 0) {
                free(path);
                return;
        }
        o = json_tokener_parse(text);
        a = json_object_object_get(o, "disks");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *d = json_object_array_get_idx(a, i);
                n += (size_t) snprintf(disks + n, dsize - n, "%s%d:%d/%d/%d", i ? " " : "",
                                       json_object_get_int(json_object_object_get(d, "lun")),
                                       json_object_get_boolean(json_object_object_get(d, "host")),
                                       json_object_get_boolean(json_object_object_get(d, "guest")),
                                       json_object_get_boolean(json_object_object_get(d, "ready")));
        }
        a = json_object_object_get(o, "layer_users");
        n = 0;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *u = json_object_array_get_idx(a, i);
                json_object *l = json_object_object_get(u, "luns");
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

static void assert_recorded(const char *dir, const char *disks, const char *users)
{
        char d[512], u[512];

        recorded(dir, d, sizeof(d), u, sizeof(u));
        assert_string_equal(d, disks);
        assert_string_equal(u, users);
}

/* One container: grant, attach, mount for each layer in order, then the
 * container on the guest's paths; its delete unmounts and detaches in
 * reverse. */
static void test_attach_and_detach(void **state)
{
        struct drv_pod *pod = fixture_create();
        json_object *doc;

        fixture_log_clear();
        pair_create_ok(pod, &ctr_a);
        assert_string_equal(fake_log_text(), "hcs.grant pod1@vm aaa.vhd\n"
                                             "hcs.scsi Add 0\n"
                                             "guest.mount 0 /run/layers/0\n"
                                             "hcs.grant pod1@vm bbb.vhd\n"
                                             "hcs.scsi Add 1\n"
                                             "guest.mount 1 /run/layers/1\n"
                                             "guest.ctr_create ctr-a");
        assert_string_equal(fake.ctr_layers, "/run/layers/0 /run/layers/1");
        /* The last request: controller 0's GUID, LUN 1, read-only, the path. */
        doc = json_tokener_parse(fake.scsi_doc);
        assert_non_null(strstr(json_string_of(doc, "ResourcePath"), "/Attachments/1"));
        assert_non_null(strstr(fake.scsi_doc, "\"ReadOnly\":true"));
        assert_non_null(strstr(fake.scsi_doc, "bbb.vhd"));
        json_object_put(doc);
        assert_non_null(strstr(fake.hosted_doc, "\"Layers\":[{\"Path\":\"/run/layers/0\"},"
                                                "{\"Path\":\"/run/layers/1\"}]"));
        assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1", "ctr-a:0,1");
        assert_int_equal(fake.host_disks, 2);
        assert_int_equal(fake.guest_disks, 2);
        assert_int_equal(fake.n_grants, 2);

        fixture_log_clear();
        pair_delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount 1 /run/layers/1\n"
                                             "hcs.scsi Remove 1\n"
                                             "hcs.revoke pod1@vm bbb.vhd\n"
                                             "guest.unmount 0 /run/layers/0\n"
                                             "hcs.scsi Remove 0\n"
                                             "hcs.revoke pod1@vm aaa.vhd");
        assert_recorded(spec.state_dir, "", "");
        assert_int_equal(fake.n_grants, 0);
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Two containers share L1: attached and mounted once, removed after the
 * second is deleted. */
static void test_shared_layer_counted(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        fixture_log_clear();
        pair_create_ok(pod, &ctr_b);
        assert_string_equal(fake_log_text(), "hcs.grant pod1@vm ccc.vhd\n"
                                             "hcs.scsi Add 2\n"
                                             "guest.mount 2 /run/layers/2\n"
                                             "guest.ctr_create ctr-b");
        assert_string_equal(fake.ctr_layers, "/run/layers/0 /run/layers/2");
        assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1 2:1/1/1", "ctr-a:0,1 ctr-b:0,2");
        assert_int_equal(fake.host_disks, 3);

        fixture_log_clear();
        pair_delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount 1 /run/layers/1\n"
                                             "hcs.scsi Remove 1\n"
                                             "hcs.revoke pod1@vm bbb.vhd");
        assert_recorded(spec.state_dir, "0:1/1/1 2:1/1/1", "ctr-b:0,2");
        assert_int_equal(fake.host_disks, 2);
        assert_int_equal(fake.guest_disks, 2);

        /* A third container takes the free LUN 1 again. */
        fixture_log_clear();
        pair_create_ok(pod, &ctr_a);
        assert_int_equal(fake_log_count("hcs.scsi Add 1"), 1);
        assert_int_equal(fake_log_count("hcs.scsi"), 1);
        pair_delete_ok(pod, "ctr-a");

        fixture_log_clear();
        pair_delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount 2 /run/layers/2\n"
                                             "hcs.scsi Remove 2\n"
                                             "hcs.revoke pod1@vm ccc.vhd\n"
                                             "guest.unmount 0 /run/layers/0\n"
                                             "hcs.scsi Remove 0\n"
                                             "hcs.revoke pod1@vm aaa.vhd");
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Each call of ctr-b's create fails in turn: the create fails, the disks
 * it attached are gone, ctr-a's stay, the record is ctr-a's alone, and
 * the create then succeeds. */
static void test_undo_each_failure(void **state)
{
        static const struct {
                const char *call;
                int nth, err;    /* nth counts ctr-a's calls too */
                const char *log; /* after the failure */
        } cases[] = {
                {"hcs.grant", 3, EACCES, "hcs.grant pod1@vm ccc.vhd !"},
                {"hcs.scsi", 3, EIO,
                 "hcs.grant pod1@vm ccc.vhd\nhcs.scsi Add 2 !\n"
                 "hcs.scsi Remove 2 !\nhcs.revoke pod1@vm ccc.vhd"},
                {"guest.mount", 3, ETIMEDOUT,
                 "hcs.grant pod1@vm ccc.vhd\nhcs.scsi Add 2\n"
                 "guest.mount 2 /run/layers/2 !\nguest.unmount 2 /run/layers/2\n"
                 "hcs.scsi Remove 2\nhcs.revoke pod1@vm ccc.vhd"},
                {"guest.ctr_create", 2, EIO,
                 "hcs.grant pod1@vm ccc.vhd\nhcs.scsi Add 2\nguest.mount 2 /run/layers/2\n"
                 "guest.ctr_create ctr-b !\nguest.unmount 2 /run/layers/2\n"
                 "hcs.scsi Remove 2\nhcs.revoke pod1@vm ccc.vhd"},
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
                assert_int_equal(fake.n_grants, 2); /* ctr-a's */
                assert_int_equal(fake.host_disks, 2);
                assert_int_equal(fake.guest_disks, 2);
                assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1", "ctr-a:0,1");
                pair_create_ok(pod, &ctr_b);
                assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1 2:1/1/1", "ctr-a:0,1 ctr-b:0,2");
                assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
                ops->pod_free(pod);
                assert_int_equal(fake_live(), 0);
        }
}

/* A removal's failures: an unmount that fails leaves the disk attached
 * and recorded as in the guest, not ready (the pod's stop takes it); one
 * that finds the disk gone (ENOENT) goes on to the host. */
static void test_remove_failures(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        fixture_log_clear();
        fake_fail("guest.unmount", 1, EIO);
        pair_delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount 2 /run/layers/2 !");
        assert_recorded(spec.state_dir, "0:1/1/1 1:1/1/1 2:1/1/0", "ctr-a:0,1");
        fixture_log_clear();
        fake_fail("guest.unmount", 2, ENOENT);
        pair_delete_ok(pod, "ctr-a");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-a\n"
                                             "guest.unmount 1 /run/layers/1 !\n"
                                             "hcs.scsi Remove 1\n"
                                             "hcs.revoke pod1@vm bbb.vhd\n"
                                             "guest.unmount 0 /run/layers/0\n"
                                             "hcs.scsi Remove 0\n"
                                             "hcs.revoke pod1@vm aaa.vhd");
        assert_int_equal(fake.n_grants, 1); /* LUN 2's, not removed yet */
        assert_recorded(spec.state_dir, "2:1/1/0", "");
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(fake_log_count("guest.unmount 2"), 1);
        assert_int_equal(fake_log_count("hcs.scsi Remove 2"), 1);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The VM's controller has 64 LUNs: the 65th disk is refused
 * (RESOURCE_EXHAUSTED), nothing new is left, shared disks still work. */
static void test_luns_exhausted(void **state)
{
        static char names[65][48];
        char *many[65], *one_more[] = {names[64], NULL}, *shared[] = {names[3], NULL};
        struct drv_ctr_spec big = {.id = "big", .layers = many, .oci_spec_json = "{}"};
        struct drv_ctr_spec more = {.id = "more", .layers = one_more, .oci_spec_json = "{}"};
        struct drv_ctr_spec share = {.id = "share", .layers = shared, .oci_spec_json = "{}"};
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        for (int i = 0; i < 65; i++)
                snprintf(names[i], sizeof(names[i]), "C:\\d\\disks\\%02d.vhd", i);
        for (int i = 0; i < 64; i++)
                many[i] = names[i];
        many[64] = NULL;
        pair_create_ok(pod, &big);
        assert_int_equal(fake.host_disks, 64);
        fixture_log_clear();
        assert_int_equal(ops->ctr_create(pod, &more, &err), -ENOSPC);
        assert_non_null(strstr(err->msg, "no LUN left"));
        err = uvm_error_free(err);
        assert_int_equal(fake_log_count("hcs."), 0);
        assert_int_equal(fake.host_disks, 64);
        pair_create_ok(pod, &share);
        assert_int_equal(fake.host_disks, 64);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(fake_log_count("hcs.scsi Remove"), 64);
        assert_int_equal(fake_log_count("guest.unmount"), 64);
        assert_int_equal(fake_log_count("hcs.revoke"), 64);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The pod's stop unmounts and detaches every disk before the VM goes. */
static void test_pod_stop_detaches_all(void **state)
{
        struct drv_pod *pod = fixture_create();
        const char *log;

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        log = fake_log_text();
        assert_int_equal(fake_log_count("guest.unmount"), 3);
        assert_int_equal(fake_log_count("hcs.scsi Remove"), 3);
        assert_true(strstr(log, "hcs.scsi Remove 0") < strstr(log, "hcs.shutdown"));
        assert_int_equal(fake_log_count("hcs.revoke"), 3);
        assert_int_equal(fake.n_grants, 0);
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_false(fixture_exists(RECORD));
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static bool granted(const char *entry)
{
        for (int i = 0; i < fake.n_grants; i++)
                if (strcmp(fake.grants[i], entry) == 0)
                        return true;
        return false;
}

/* A layer's grant stays while a container uses it, goes after its last;
 * the VM is a file's user, not a container: one grant per file. */
static void test_grants_follow_last_user(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        assert_int_equal(fake_log_count("hcs.grant pod1@vm aaa.vhd"), 1);
        assert_int_equal(fake.n_grants, 3);
        pair_delete_ok(pod, "ctr-a");
        assert_int_equal(fake.n_grants, 2);
        assert_true(granted("pod1@vm aaa.vhd"));
        assert_true(granted("pod1@vm ccc.vhd"));
        assert_false(granted("pod1@vm bbb.vhd"));
        pair_delete_ok(pod, "ctr-b");
        assert_int_equal(fake.n_grants, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* A revoke that fails is logged: the container's delete succeeds, the
 * LUN is free again; the file keeps the VM's entry (nothing else can
 * take it off). */
static void test_revoke_failure_ignored(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        fixture_log_clear();
        fake_fail("hcs.revoke", 1, EPERM);
        pair_delete_ok(pod, "ctr-a");
        assert_int_equal(fake_log_count("hcs.revoke pod1@vm bbb.vhd !"), 1);
        assert_int_equal(fake_log_count("hcs.revoke pod1@vm aaa.vhd"), 1);
        assert_true(granted("pod1@vm bbb.vhd"));
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_recorded(spec.state_dir, "", "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        fake.n_grants = 0;
        assert_int_equal(fake_live(), 0);
}

/* The pod's stop revokes a disk whose removal failed too: the VM's end
 * takes the disk off, not the file's entry. */
static void test_stop_revokes_unremoved(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        fixture_log_clear();
        fake_fail("guest.unmount", 1, EIO);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(fake_log_count("guest.unmount 1 /run/layers/1 !"), 1);
        assert_int_equal(fake_log_count("hcs.revoke pod1@vm bbb.vhd"), 1);
        assert_int_equal(fake_log_count("hcs.revoke pod1@vm aaa.vhd"), 1);
        assert_int_equal(fake.n_grants, 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The VM went while uvmd was away: the reattach that finds it gone
 * revokes what the record lists. */
static void test_vm_gone_revokes(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        fake_crash_save();
        ops->pod_free(pod);
        fake_crash_restore();
        fixture_bind();
        fake_hcs_forget_all();
        pod = NULL;
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        uvm_error_free(err);
        assert_int_equal(fake_log_count("hcs.revoke"), 2);
        assert_int_equal(fake_log_count("hcs.scsi"), 0);
        assert_int_equal(fake_live(), 0);
        assert_false(fixture_exists(RECORD));
}

/* uvmd is killed with two containers and restarted: the reattached pod
 * knows its disks and their users; the deletes then remove them. */
static void test_restart_knows_disks(void **state)
{
        struct drv_pod *pod = fixture_create();

        pair_create_ok(pod, &ctr_a);
        pair_create_ok(pod, &ctr_b);
        pod = fixture_restart(pod);
        assert_int_equal(fake_log_count("hcs.scsi"), 0);
        assert_int_equal(fake.host_disks, 3);
        fixture_log_clear();
        pair_delete_ok(pod, "ctr-b");
        assert_string_equal(fake_log_text(), "guest.ctr_delete ctr-b\n"
                                             "guest.unmount 2 /run/layers/2\n"
                                             "hcs.scsi Remove 2\n"
                                             "hcs.revoke pod1@vm ccc.vhd");
        pair_delete_ok(pod, "ctr-a");
        assert_int_equal(fake.n_grants, 0);
        assert_int_equal(fake.host_disks + fake.guest_disks, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* LUN 0 (L1) is ctr-a's and ctr-b's; LUN 2 (ctr-b's L3) attached, not
 * mounted at a crash in ctr-b's create, and LUN 1 (ctr-a's L2) not ready
 * at one in ctr-a's delete, are undone by the reattach. */
static const struct ctr_pair pair = {
        .what = "disks",
        .a = &ctr_a,
        .b = &ctr_b,
        .recorded = recorded,
        .host = &fake.host_disks,
        .guest = &fake.guest_disks,
        .half = {"0/", "/0"},
        .kept = "0:1/1/1",
        .create_half = "2:1/0/0",
        .create_undo = {"hcs.scsi Remove 2"},
        .delete_half = "1:1/1/0",
        .delete_undo = {"guest.unmount 1", "hcs.scsi Remove 1"},
};

static void crash_at(int n, bool deleting, int *ret_steps)
{
        pair_crash_at(&pair, n, deleting, ret_steps);
}

static void test_crash_during_create(void **state)
{
        /* grant, scsi, mount, ctr_create: before and after each. */
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
                cmocka_unit_test_setup_teardown(test_shared_layer_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undo_each_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_luns_exhausted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_stop_detaches_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_knows_disks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grants_follow_last_user, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revoke_failure_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_revokes_unremoved, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_gone_revokes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
