/*
 * The hcs driver after create: reattach from the record, events from HCS
 * and the guest, pod_alive, and containers through the guest (fakes.h).
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
#include "tests/unit/hcs_driver/fixture.h"

#define STOPPED                                                                                    \
        "guest.stop_all 0\n"                                                                       \
        "guest.remove_nic E2\n"                                                                    \
        "hcs.modify Remove E2 240000\n"                                                            \
        "guest.remove_nic E1\n"                                                                    \
        "hcs.modify Remove E1 240000\n"                                                            \
        "hcs.shutdown pod1@vm 30000\n"                                                             \
        "hcn.ns_modify Remove E2\n"                                                                \
        "hcn.ns_modify Remove E1\n"                                                                \
        "hcn.ns_delete"

/* uvmd restarts: its handles go, the VM and the namespace stay. */
static void restart_uvmd(struct drv_pod *pod)
{
        ops->pod_free(pod);
        assert_int_equal(fake.handles, 0);
        assert_int_equal(fake.guests, 0);
        assert_int_equal(fake.systems, 1);
        assert_int_equal(fake.namespaces, 1);
        fixture_log_clear();
}

static void test_reattach(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        restart_uvmd(pod);
        pod = NULL;
        if (ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("reattach: %s", err->msg);
        assert_string_equal(fixture_log(), "hcs.open pod1@vm\n"
                                           "hcs.properties pod1@vm\n"
                                           "hcs.set_callback pod1@vm\n"
                                           "guest.connect pod1@vm 120000");
        /* The recorded NICs and namespace are torn down as if never left. */
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_string_equal(fixture_log(), STOPPED);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The VM went while uvmd was away: -ESRCH, and its namespace is deleted. */
static void test_reattach_gone(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        restart_uvmd(pod);
        pod = NULL;
        fake_hcs_forget_all();
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        assert_null(pod);
        assert_non_null(strstr(err->msg, "the VM pod1@vm is gone"));
        err = uvm_error_free(err);
        assert_string_equal(fixture_log(), "hcs.open pod1@vm !\n"
                                           "hcn.ns_modify Remove E2\n"
                                           "hcn.ns_modify Remove E1\n"
                                           "hcn.ns_delete");
        assert_int_equal(fake_live(), 0);
        assert_false(fixture_exists("hcs-pod.json"));
        /* No record now: -ESRCH without asking HCS. */
        fixture_log_clear();
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        assert_non_null(strstr(err->msg, "no VM recorded"));
        uvm_error_free(err);
        assert_int_equal(fake.n_log, 0);
}

/* HCS still knows the system, stopped: gone too, its handle closed. */
static void test_reattach_stopped(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        restart_uvmd(pod);
        pod = NULL;
        fake.state = "Stopped";
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        assert_non_null(strstr(err->msg, "the VM pod1@vm is Stopped"));
        uvm_error_free(err);
        assert_int_equal(fake.handles, 0);
        assert_int_equal(fake.namespaces, 0);
        assert_non_null(strstr(fixture_log(), "hcs.close pod1@vm"));
}

/* The agent of a live VM does not answer: the VM, the namespace and the
 * record go (-ESRCH: the sandbox layer reports the containers exited).
 * When the VM cannot be terminated, the error says so and the record
 * stays for the next try. */
static void test_reattach_no_agent(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        restart_uvmd(pod);
        pod = NULL;
        fake_fail("guest.connect", 2, ETIMEDOUT);
        fake_fail("hcs.terminate", 1, EIO);
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -EIO);
        assert_null(pod);
        assert_non_null(strstr(err->msg, "the agent in VM pod1@vm does not answer (fake "
                                         "guest.connect failed); undo it: terminate the VM "
                                         "pod1@vm: fake hcs.terminate failed"));
        err = uvm_error_free(err);
        assert_true(fixture_exists("hcs-pod.json"));
        assert_int_equal(fake.systems, 1);
        assert_int_equal(fake.namespaces, 1);
        assert_int_equal(fake.handles + fake.guests, 0);

        fixture_log_clear();
        fake_fail("guest.connect", 3, ETIMEDOUT);
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        assert_null(pod);
        assert_non_null(strstr(err->msg, "reattach to hcs pod pod1: the agent in VM pod1@vm does "
                                         "not answer"));
        assert_non_null(strstr(err->msg, "removed what was recorded"));
        uvm_error_free(err);
        assert_string_equal(fixture_log(), "hcs.open pod1@vm\n"
                                           "hcs.properties pod1@vm\n"
                                           "hcs.set_callback pod1@vm\n"
                                           "guest.connect pod1@vm 120000 !\n"
                                           "hcs.terminate pod1@vm 30000\n"
                                           "hcs.close pod1@vm\n"
                                           "hcn.ns_modify Remove E2\n"
                                           "hcn.ns_modify Remove E1\n"
                                           "hcn.ns_delete");
        assert_int_equal(fake_live(), 0);
        assert_false(fixture_exists("hcs-pod.json"));
        assert_int_equal(died, 0);
}

#define REC_HEAD "{\"system_id\":\"pod1@vm\","
#define NS "\"namespace_id\":\"33333333-3333-4333-8333-333333333333\","
#define NIC1                                                                                       \
        "{\"endpoint_id\":\"" E1 "\",\"mac\":\"m\",\"ip\":\"i\",\"gateway\":\"\",\"prefix_len\":"  \
        "8}"

static const char *const bad_records[] = {
        "{\"system_id\":\"other@vm\",\"state\":\"ready\",\"namespace_id\":\"\",\"endpoints\":[],"
        "\"nics\":[]}",
        REC_HEAD "\"namespace_id\":\"\",\"endpoints\":[],\"nics\":[]}",
        REC_HEAD "\"state\":\"running\",\"namespace_id\":\"\",\"endpoints\":[],\"nics\":[]}",
        REC_HEAD "\"state\":\"ready\",\"namespace_id\":\"\",\"endpoints\":[],"
                 "\"nics\":[{\"endpoint_id\":\"x\"}]}",
        REC_HEAD "\"state\":\"ready\",\"namespace_id\":\"nope\",\"endpoints\":[],\"nics\":[]}",
        REC_HEAD "\"state\":\"creating\"," NS "\"endpoints\":[\"" E1 "x\"],\"nics\":[]}",
        REC_HEAD "\"state\":\"creating\"," NS "\"endpoints\":[\"" E1 "\",\"" E1 "\"],\"nics\":[]}",
        REC_HEAD "\"state\":\"creating\"," NS "\"endpoints\":[7],\"nics\":[]}",
        /* Ready: every endpoint is a NIC, in the namespace. */
        REC_HEAD "\"state\":\"ready\"," NS "\"endpoints\":[\"" E1 "\",\"" E2 "\"],"
                 "\"nics\":[" NIC1 "]}",
        REC_HEAD "\"state\":\"ready\",\"namespace_id\":\"\",\"endpoints\":[\"" E1 "\"],"
                 "\"nics\":[" NIC1 "]}",
        /* A NIC is its endpoint's, in order. */
        REC_HEAD "\"state\":\"ready\"," NS "\"endpoints\":[\"" E2 "\"],\"nics\":[" NIC1 "]}",
        REC_HEAD "\"state\":\"ready\"," NS "\"endpoints\":[\"" E1 "\"],"
                 "\"nics\":[{\"endpoint_id\":\"" E1 "\",\"mac\":\"m\",\"ip\":\"i\","
                 "\"gateway\":\"\",\"prefix_len\":129}]}",
        "[]",
        "{",
};

static void test_reattach_bad_record(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        for (size_t i = 0; i < sizeof(bad_records) / sizeof(bad_records[0]); i++) {
                fixture_write("hcs-pod.json", bad_records[i]);
                assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -EINVAL);
                print_message("record %u: %s\n", (unsigned) i, err->msg);
                assert_non_null(strstr(err->msg, "hcs-pod.json"));
                err = uvm_error_free(err);
                assert_null(pod);
        }
        assert_int_equal(fake.n_log, 0);
        /* A good one, to show the cases above fail for their own reason. */
        fixture_write("hcs-pod.json", REC_HEAD "\"state\":\"ready\"," NS "\"endpoints\":[\"" E1
                                               "\"],\"nics\":[" NIC1 "]}");
        assert_int_equal(ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        assert_non_null(strstr(err->msg, "the VM pod1@vm is gone"));
        uvm_error_free(err);
        assert_false(fixture_exists("hcs-pod.json"));
}

/* The VM exits: pod_died once, pod_alive false, and stop only deletes
 * the namespace (nothing is left to shut down or detach). */
static void test_exit_event(void **state)
{
        struct drv_pod *pod = fixture_create();

        assert_non_null(fake.hcs_cb);
        fake.hcs_cb(fake.hcs_cb_data, "SystemCrashReport", "{}");
        assert_int_equal(died, 0);
        assert_true(ops->pod_alive(pod));
        fake_hcs_forget_all();
        fake.hcs_cb(fake.hcs_cb_data, "SystemExited", "{\"ExitType\":\"UnexpectedExit\"}");
        fake.hcs_cb(fake.hcs_cb_data, "SystemExited", NULL);
        assert_int_equal(died, 1);
        assert_non_null(strstr(died_reason, "the VM pod1@vm exited"));
        assert_non_null(strstr(died_reason, "UnexpectedExit"));
        assert_false(ops->pod_alive(pod));
        assert_int_equal(ops->ctr_start(pod, "c1", NULL), -ENOTCONN);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_string_equal(fixture_log(), "hcn.ns_modify Remove E2\n"
                                           "hcn.ns_modify Remove E1\n"
                                           "hcn.ns_delete");
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
        assert_int_equal(died, 1);
}

/* The agent's connection ends: the pod died. Events while stopping are
 * not deaths. */
static void test_guest_events(void **state)
{
        struct drv_pod *pod = fixture_create();
        const struct hcs_guest_events *ev = fake.guest_events;

        assert_non_null(ev);
        ev->ctr_exited(ev->data, "c1", 137, 5, false);
        assert_string_equal(exited_ctr, "c1");
        assert_int_equal(exited_code, 137);
        ev->died(ev->data, "bridge closed");
        assert_int_equal(died, 1);
        assert_non_null(strstr(died_reason, "the agent in the VM is gone: bridge closed"));
        assert_false(ops->pod_alive(pod));
        ops->pod_free(pod);

        /* A new pod whose VM exits once it is being stopped. */
        died = 0;
        fake_reset();
        assert_true(fixture_exists("hcs-pod.json")); /* the first pod's, never stopped */
        fixture_remove("hcs-pod.json");
        pod = fixture_create();
        fake.state = "Running";
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        /* The agent's connection stays until pod_free (driver.h: streaming
         * sessions end on it after the stop); its end is no death now. */
        assert_non_null(fake.guest_events);
        fake.guest_events->died(fake.guest_events->data, "bridge closed");
        assert_non_null(fake.hcs_cb);
        fake.hcs_cb(fake.hcs_cb_data, "SystemExited", NULL);
        assert_int_equal(died, 0);
        ops->pod_free(pod);
        assert_null(fake.guest_events);
        assert_null(fake.hcs_cb);
        assert_int_equal(fake_live(), 0);
}

static void test_alive(void **state)
{
        struct drv_pod *pod = fixture_create();

        fixture_log_clear();
        assert_true(ops->pod_alive(pod));
        assert_string_equal(fake_log_text(), "hcs.properties pod1@vm");
        /* The 1st was create's (RuntimeId), the 2nd the one above. */
        fake_fail("hcs.properties", 3, EBUSY); /* HCS busy: trust the events */
        assert_true(ops->pod_alive(pod));
        fake_fail("hcs.properties", 4, ENOENT);
        assert_false(ops->pod_alive(pod));
        fake.state = "Paused";
        assert_false(ops->pod_alive(pod));
        assert_int_equal(died, 0);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
}

static void test_containers(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct drv_ctr_spec c = {.id = "c1", .oci_spec_json = "{\"ociVersion\":\"1.1.0\"}"};
        char *argv[] = {"true", NULL};
        struct drv_exec_spec x = {.argv = argv};
        struct drv_exec_result res;
        enum drv_ctr_state st;
        struct uvm_error *err = NULL;
        json_object *doc, *v;
        int code = 0;

        fixture_log_clear();
        assert_int_equal(ops->ctr_create(pod, &c, NULL), 0);
        assert_int_equal(ops->ctr_start(pod, "c1", NULL), 0);
        assert_int_equal(ops->ctr_signal(pod, "c1", 15, NULL), 0);
        assert_int_equal(ops->ctr_state(pod, "c1", &st, &code, NULL), 0);
        assert_int_equal(st, DRV_CTR_EXITED);
        assert_int_equal(code, 3);
        assert_int_equal(ops->ctr_exec_sync(pod, "c1", &x, &res, NULL), 0);
        assert_int_equal(res.exit_code, 7);
        assert_int_equal(ops->ctr_update(pod, "c1", "{\"memory\":{\"limit\":8388608}}", NULL), 0);
        assert_int_equal(ops->ctr_delete(pod, "c1", NULL), 0);
        assert_string_equal(fake_log_text(),
                            "guest.ctr_create c1\n"
                            "guest.ctr_start c1\n"
                            "guest.ctr_signal c1 15\n"
                            "guest.ctr_state c1\n"
                            "guest.ctr_exec_sync c1 true\n"
                            "guest.ctr_update c1 {\"memory\":{\"limit\":8388608}}\n"
                            "guest.ctr_delete c1");
        /* The hosted document places the container in the pod's VM. */
        doc = json_tokener_parse(fake.hosted_doc);
        assert_non_null(doc);
        assert_true(json_object_object_get_ex(doc, "HostingSystemId", &v));
        assert_string_equal(json_object_get_string(v), "pod1@vm");
        json_object_put(doc);
        assert_int_equal(fake.containers, 0);

        /* A guest failure is the caller's error, with context. */
        fake_fail("guest.ctr_create", 2, EEXIST);
        assert_int_equal(ops->ctr_create(pod, &c, &err), -EEXIST);
        assert_non_null(strstr(err->msg, "create container c1 in pod pod1"));
        err = uvm_error_free(err);
        c.id = "../x";
        assert_int_equal(ops->ctr_create(pod, &c, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(ops->ctr_start(pod, "", &err), -EINVAL);
        err = uvm_error_free(err);

        /* The agent's refusal of an update is the caller's error. */
        fake_fail("guest.ctr_update", 2, EBUSY);
        assert_int_equal(ops->ctr_update(pod, "c1", "{}", &err), -EBUSY);
        err = uvm_error_free(err);
        assert_int_equal(ops->ctr_update(pod, "", "{}", &err), -EINVAL);
        err = uvm_error_free(err);

        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        assert_int_equal(ops->ctr_start(pod, "c1", &err), -ENOTCONN);
        assert_non_null(strstr(err->msg, "not running"));
        err = uvm_error_free(err);
        assert_int_equal(ops->ctr_update(pod, "c1", "{}", &err), -ENOTCONN);
        uvm_error_free(err);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The pod's files the sandbox layer wrote into its directory reach the
 * guest once it is connected, before the pod is READY; without them the
 * guest gets none; a guest that refuses them fails the create, undone. */
static void test_pod_files(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        pod = fixture_create();
        assert_int_equal(fake_log_count("guest.pod_files"), 0);
        assert_string_equal(fake.pod_hosts, "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        fixture_remove("hcs-pod.json");
        fixture_log_clear();

        fixture_write("resolv.conf", "nameserver 10.96.0.10\nsearch a.svc\n");
        fixture_write("hosts", "127.0.0.1\tlocalhost\n10.88.66.9\tweb\n");
        fixture_write("hostname", "web\n");
        pod = fixture_create();
        assert_non_null(strstr(fixture_log(), "guest.connect pod1@vm 120000\n"));
        assert_non_null(strstr(fixture_log(), "guest.pod_files 35 35 4"));
        assert_true(strstr(fixture_log(), "guest.pod_files") >
                    strstr(fixture_log(), "guest.add_nic"));
        assert_string_equal(fake.pod_resolv, "nameserver 10.96.0.10\nsearch a.svc\n");
        assert_string_equal(fake.pod_hosts, "127.0.0.1\tlocalhost\n10.88.66.9\tweb\n");
        assert_string_equal(fake.pod_hostname, "web\n");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        fixture_remove("hcs-pod.json");

        fake_fail("guest.pod_files", 2, EIO); /* the 1st was above */
        pod = NULL;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EIO);
        assert_null(pod);
        assert_non_null(strstr(err->msg, "resolv.conf, hosts and hostname"));
        uvm_error_free(err);
        assert_int_equal(fake_live(), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reattach, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reattach_gone, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reattach_stopped, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reattach_no_agent, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reattach_bad_record, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_exit_event, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_guest_events, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_alive, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_containers, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_pod_files, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
