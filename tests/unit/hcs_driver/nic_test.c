/*
 * The hcs driver's ComputeAgent NICs (drv_ops.nic_add, nic_modify,
 * nic_remove) against the fake HCS, HCN and guest tables: the order of the
 * calls, the rollback at each failure point of an add, the record, and
 * uvmd dying at each step of an add or a delete (the state dir and the
 * fakes' world kept as they were then, a new binding reattaching).
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

#define E3 "33333333-3333-4333-8333-333333333333"
#define RECORD "hcs-pod.json"

static const struct drv_nic nic3 = {.hcn_endpoint = E3};

static int setup(void **state)
{
        fixture_setup(state);
        spec.hcn_endpoints = NULL; /* uvmd.exe's pods today: no endpoint at create */
        fixture_crash_setup("hcs-nic-");
        return 0;
}

static int teardown(void **state)
{
        fixture_crash_teardown();
        return fixture_teardown(state);
}

/* The record's added_nics: how many, and the first one's fields. */
static size_t added(const char *dir, json_object **ret_first)
{
        char *path = fixture_path_in(dir, RECORD), *text = NULL;
        json_object *o, *list = NULL;
        size_t n;

        assert_int_equal(plat_read_file(path, 1 << 16, &text, NULL), 0);
        o = json_tokener_parse(text);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "added_nics", &list));
        n = json_object_array_length(list);
        if (ret_first)
                *ret_first = n ? json_object_get(json_object_array_get_idx(list, 0)) : NULL;
        json_object_put(o);
        free(text);
        free(path);
        return n;
}

static bool flag(json_object *o, const char *key)
{
        json_object *v = NULL;

        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_boolean(v);
}

static void add_ok(struct drv_pod *pod)
{
        struct uvm_error *err = NULL;

        if (ops->nic_add(pod, "net3", &nic3, &err) < 0)
                fail_msg("nic_add: %s", err->msg);
}

/* Add, modify, delete on a pod without endpoints: the namespace is made
 * for the NIC and goes with it. */
static void test_add_modify_delete(void **state)
{
        struct drv_pod *pod = fixture_create();
        const char *addrs[] = {"10.0.0.99/16"}, *dst[] = {"0.0.0.0/0"}, *gw[] = {"10.0.0.254"};
        struct drv_nic change = {.addrs = addrs,
                                 .n_addrs = 1,
                                 .route_dst = dst,
                                 .route_gw = gw,
                                 .n_routes = 1,
                                 .mtu = 1400};
        struct uvm_error *err = NULL;
        json_object *a = NULL;
        int base = fake_live();

        fixture_log_clear();
        add_ok(pod);
        assert_string_equal(fake_log_text(), "hcn.ep_query " E3 "\n"
                                             "hcn.ns_create\n"
                                             "hcn.ns_modify Add " E3 "\n"
                                             "hcs.modify Add " E3 " 240000\n"
                                             "guest.add_nic " E3);
        assert_int_equal(fake_live(), base + 4); /* namespace, member, host and guest NIC */
        assert_string_equal(fake.nic_ns_id, fake.ns_id);
        assert_int_equal(added(spec.state_dir, &a), 1);
        assert_string_equal(json_string_of(a, "nic_id"), "net3");
        assert_string_equal(json_string_of(a, "endpoint_id"), E3);
        assert_string_equal(json_string_of(a, "ip"), "10.0.0.13");
        assert_true(flag(a, "ready") && flag(a, "namespace") && flag(a, "host") &&
                    flag(a, "guest"));
        json_object_put(a);

        /* The same name or endpoint again; an unknown NIC. */
        assert_int_equal(ops->nic_add(pod, "net3", &nic3, &err), -EEXIST);
        err = uvm_error_free(err);
        assert_int_equal(ops->nic_add(pod, "other", &nic3, &err), -EEXIST);
        err = uvm_error_free(err);
        assert_int_equal(ops->nic_modify(pod, "nope", NULL, &change, &err), -ENOENT);
        err = uvm_error_free(err);
        assert_int_equal(ops->nic_remove(pod, "nope", NULL, &err), -ENOENT);
        err = uvm_error_free(err);

        fixture_log_clear();
        if (ops->nic_modify(pod, "net3", NULL, &change, &err) < 0)
                fail_msg("nic_modify: %s", err->msg);
        assert_string_equal(fake_log_text(), "guest.modify_nic " E3
                                             " 10.0.0.13/24->10.0.0.99/16 gw 10.0.0.254 mtu 1400");
        assert_int_equal(added(spec.state_dir, &a), 1);
        assert_string_equal(json_string_of(a, "ip"), "10.0.0.99");
        assert_int_equal(json_object_get_int(json_object_object_get(a, "mtu")), 1400);
        json_object_put(a);

        fixture_log_clear();
        if (ops->nic_remove(pod, "net3", NULL, &err) < 0)
                fail_msg("nic_remove: %s", err->msg);
        assert_string_equal(fake_log_text(), "guest.remove_nic " E3 "\n"
                                             "hcs.modify Remove " E3 " 240000\n"
                                             "hcn.ns_modify Remove " E3 "\n"
                                             "hcn.ns_delete");
        assert_int_equal(fake_live(), base);
        assert_int_equal(added(spec.state_dir, NULL), 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* A pod with endpoints: the NIC joins its namespace, which stays after
 * the delete; a NIC still there at the pod's stop goes with it. */
static void test_pod_with_endpoints(void **state)
{
        struct drv_pod *pod;
        struct uvm_error *err = NULL;
        int base;

        spec.hcn_endpoints = two_endpoints;
        pod = fixture_create();
        base = fake_live();
        fixture_log_clear();
        add_ok(pod);
        assert_int_equal(fake_log_count("hcn.ns_create"), 0);
        assert_int_equal(fake.ns_members, 3);
        if (ops->nic_remove(pod, "net3", NULL, &err) < 0)
                fail_msg("nic_remove: %s", err->msg);
        assert_int_equal(fake_log_count("hcn.ns_delete"), 0);
        assert_int_equal(fake_live(), base);

        add_ok(pod);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_non_null(strstr(fixture_log(), "guest.remove_nic " E3 "\n"
                                              "hcs.modify Remove " E3 " 240000\n"
                                              "guest.remove_nic E2\n"));
        assert_non_null(strstr(fixture_log(), "hcn.ns_modify Remove " E3 "\n"
                                              "hcn.ns_modify Remove E2\n"
                                              "hcn.ns_modify Remove E1\n"
                                              "hcn.ns_delete"));
        assert_int_equal(fake_live(), 0);
}

/* What the driver refuses before anything is asked of HCN or HCS. */
static void test_refused(void **state)
{
        struct drv_pod *pod = fixture_create();
        const char *two[] = {"10.0.0.5/24", "10.0.0.6/24"};
        struct drv_nic bad = {.hcn_endpoint = "not-a-guid"};
        struct uvm_error *err = NULL;

        fixture_log_clear();
        assert_int_equal(ops->nic_add(pod, "net3", &bad, &err), -EINVAL);
        err = uvm_error_free(err);
        bad = (struct drv_nic){.hcn_endpoint = E3, .mac = "02:00:00:00:00:01"};
        assert_int_equal(ops->nic_add(pod, "net3", &bad, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "come from its HCN endpoint"));
        err = uvm_error_free(err);
        assert_int_equal(ops->nic_add(pod, "bad/id", &nic3, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(fake.n_log, 0);

        add_ok(pod);
        fixture_log_clear();
        bad = (struct drv_nic){.mac = "02:00:00:00:00:01"};
        assert_int_equal(ops->nic_modify(pod, "net3", NULL, &bad, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "is its HCN endpoint's"));
        err = uvm_error_free(err);
        bad = (struct drv_nic){.addrs = two, .n_addrs = 2};
        assert_int_equal(ops->nic_modify(pod, "net3", NULL, &bad, &err), -EINVAL);
        err = uvm_error_free(err);
        bad = (struct drv_nic){.mac = "00-15-5d-00-00-03", .mtu = 20};
        assert_int_equal(ops->nic_modify(pod, "net3", NULL, &bad, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(fake.n_log, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* Each call of an add fails in turn: the error is that call's, and
 * whatever the add did is undone, the record without it. */
static void test_rollback_each_call(void **state)
{
        static const struct {
                const char *call;
                int err;
                const char *undo; /* the undo's calls, in order */
        } cases[] = {
                {"hcn.ep_query", ENOENT, ""},
                {"hcn.ns_create", EIO, ""},
                {"hcn.ns_modify", EIO, "hcn.ns_delete"},
                {"hcs.modify", EIO, "hcn.ns_modify Remove " E3 "\nhcn.ns_delete"},
                {"guest.add_nic", EIO,
                 "hcs.modify Remove " E3 " 240000\nhcn.ns_modify Remove " E3 "\nhcn.ns_delete"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct uvm_error *err = NULL;
                struct drv_pod *pod;
                const char *log, *failed;
                int base;

                fake_reset();
                pod = fixture_create();
                base = fake_live();
                fixture_log_clear();
                fake_fail(cases[i].call, 1, cases[i].err);
                assert_int_equal(ops->nic_add(pod, "net3", &nic3, &err), -cases[i].err);
                log = fake_log_text();
                print_message("%s fails: %s\n%s\n", cases[i].call, err->msg, log);
                assert_non_null(strstr(err->msg, "add NIC net3 to hcs pod pod1"));
                err = uvm_error_free(err);
                failed = strstr(log, " !");
                assert_non_null(failed);
                assert_string_equal(failed + 2 + (*cases[i].undo ? 1 : 0), cases[i].undo);
                assert_int_equal(fake_live(), base);
                assert_int_equal(
                        fake.namespaces + fake.ns_members + fake.host_nics + fake.guest_nics, 0);
                assert_int_equal(added(spec.state_dir, NULL), 0);
                assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
                ops->pod_free(pod);
                assert_int_equal(fake_live(), 0);
        }
}

/* The guest refuses a change: the error, the record as it was, and the
 * guest told to go back. */
static void test_modify_guest_fails(void **state)
{
        struct drv_pod *pod = fixture_create();
        const char *addrs[] = {"10.0.0.99/24"};
        struct drv_nic change = {.addrs = addrs, .n_addrs = 1};
        struct uvm_error *err = NULL;
        json_object *a = NULL;

        add_ok(pod);
        fixture_log_clear();
        fake_fail("guest.modify_nic", 1, EIO);
        assert_int_equal(ops->nic_modify(pod, "net3", NULL, &change, &err), -EIO);
        uvm_error_free(err);
        assert_string_equal(fake_log_text(),
                            "guest.modify_nic " E3
                            " 10.0.0.13/24->10.0.0.99/24 gw 10.0.0.1 mtu 0 !\n"
                            "guest.modify_nic " E3 " 10.0.0.99/24->10.0.0.13/24 gw 10.0.0.1 mtu 0");
        assert_int_equal(added(spec.state_dir, &a), 1);
        assert_string_equal(json_string_of(a, "ip"), "10.0.0.13");
        json_object_put(a);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The guest refuses the removal: nothing else is touched, the NIC is
 * still there and no longer ready; a second delete finishes it. */
static void test_delete_guest_fails(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;
        json_object *a = NULL;

        add_ok(pod);
        fixture_log_clear();
        fake_fail("guest.remove_nic", 1, EIO);
        assert_int_equal(ops->nic_remove(pod, "net3", NULL, &err), -EIO);
        err = uvm_error_free(err);
        assert_string_equal(fake_log_text(), "guest.remove_nic " E3 " !");
        assert_int_equal(added(spec.state_dir, &a), 1);
        assert_false(flag(a, "ready"));
        assert_true(flag(a, "guest") && flag(a, "host") && flag(a, "namespace"));
        json_object_put(a);
        if (ops->nic_remove(pod, "net3", NULL, &err) < 0)
                fail_msg("nic_remove: %s", err->msg);
        assert_int_equal(fake.host_nics + fake.guest_nics + fake.namespaces + fake.ns_members, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* uvmd is killed after an add and restarted: the NIC is known, a delete
 * works, nothing is left. */
static void test_restart_between_add_and_delete(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;

        add_ok(pod);
        pod = fixture_restart(pod);
        assert_int_equal(fake.host_nics, 1);
        assert_int_equal(ops->nic_add(pod, "net3", &nic3, &err), -EEXIST);
        err = uvm_error_free(err);
        if (ops->nic_remove(pod, "net3", NULL, &err) < 0)
                fail_msg("nic_remove after the restart: %s", err->msg);
        assert_int_equal(fake.host_nics + fake.guest_nics + fake.namespaces + fake.ns_members, 0);
        assert_int_equal(added(spec.state_dir, NULL), 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void remove_net3(struct drv_pod *pod)
{
        assert_int_equal(ops->nic_remove(pod, "net3", NULL, NULL), 0);
}

/* uvmd dies at step n of op (add, or delete after an add), then a new
 * one reattaches from the state dir as it was: the NIC is either there
 * and ready (and deletes) or gone with everything it had. */
static void crash_at(int n, bool deleting, int *ret_steps)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod;
        json_object *a = NULL;
        size_t left;

        *ret_steps = fixture_crash_run(n, deleting ? add_ok : NULL, deleting ? remove_net3 : add_ok,
                                       NULL);
        fixture_remove(RECORD); /* the next create's: the copy is what counts */
        if (!n)
                return;
        pod = fixture_crash_reattach();
        left = added(fixture_crash.copy, &a);
        print_message("crash %s %s: %u NIC(s) recorded\n%s\n", deleting ? "deleting" : "adding",
                      fixture_crash.what, (unsigned) left, fixture_log());
        if (left) {
                assert_true(flag(a, "ready"));
                assert_int_equal(fake.host_nics + fake.guest_nics, 2);
                json_object_put(a);
                if (ops->nic_remove(pod, "net3", NULL, &err) < 0)
                        fail_msg("crash %s: nic_remove: %s", fixture_crash.what, err->msg);
        }
        assert_int_equal(fake.host_nics + fake.guest_nics + fake.namespaces + fake.ns_members, 0);
        assert_int_equal(added(fixture_crash.copy, NULL), 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void test_crash_during_add(void **state)
{
        /* ep_query, ns_create, ns_modify, hcs.modify, guest.add_nic:
         * before and after each. */
        fixture_crash_each(crash_at, false, 10);
}

static void test_crash_during_delete(void **state)
{
        /* guest.remove_nic, hcs.modify, ns_modify, ns_delete. */
        fixture_crash_each(crash_at, true, 8);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_add_modify_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_with_endpoints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_each_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modify_guest_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_guest_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_between_add_and_delete, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_add, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
