/*
 * The whole hcs driver with the real guest table (guest_bridge.h): fake
 * HCS and HCN tables (fakes.h), the agent a scripted one over loopback TCP
 * (bridge_dial.h). A pod is created (its agent dialled at the VM's
 * RuntimeId, its NICs configured by ModifySettings), a container created
 * and started, its exit reported to the sandbox layer's callback, the pod
 * stopped with nothing left; and an agent that goes away is the pod dying.
 * Portable: Linux and under Wine.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/conn.h"
#include "common/error.h"
#include "common/json.h"
#include "sandbox/drivers/hcs/guest_bridge.h"
#include "tests/unit/hcs_driver/bridge_dial.h"
#include "tests/unit/hcs_driver/fixture.h"

static int setup(void **state)
{
        fixture_setup(state);
        bridge_dial_reset();
        cfg.guest_connect_ms = 5000;
        assert_int_equal(drv_hcs_new(&fake_hcs, &fake_hcn, hcs_guest_bridge(bridge_dial, NULL),
                                     &cfg, &ops, NULL),
                         0);
        return 0;
}

static int teardown(void **state)
{
        bridge_dial_reset();
        return fixture_teardown(state);
}

/* The last request of rpc at path (a JSON pointer), as text. */
static const char *sent(uint32_t rpc, const char *path)
{
        static char buf[512];
        json_object *req = fake_agent_last(dialled.agent, rpc), *v = NULL;

        assert_non_null(req);
        if (json_pointer_get(req, path, &v) < 0)
                fail_msg("the request has no %s: %s", path, json_object_to_json_string(req));
        snprintf(buf, sizeof(buf), "%s",
                 json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                          : json_object_to_json_string(v));
        json_object_put(req);
        return buf;
}

/* Up to 5 s for *v to reach n (written by the bridge's reader thread). */
static bool wait_for(const int *v, int n)
{
        for (int i = 0; i < 5000; i++) {
                if (__atomic_load_n(v, __ATOMIC_ACQUIRE) >= n)
                        return true;
                usleep(1000);
        }
        return false;
}

static void notify_exit(const char *ctr_id, int code)
{
        char text[160];
        json_object *o;

        snprintf(text, sizeof(text),
                 "{\"ContainerId\":\"%s\",\"ExitCode\":%d,\"FinishedNs\":5,\"OomKilled\":false}",
                 ctr_id, code);
        o = json_tokener_parse(text);
        assert_int_equal(agent_conn_notify(fake_agent_conn(dialled.agent), o, NULL), 0);
        json_object_put(o);
}

static void test_pod_with_a_container(void **state)
{
        struct drv_ctr_spec c = {.id = "c1", .oci_spec_json = "{\"ociVersion\":\"1.1.0\"}"};
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        /* The agent was dialled at the VM's RuntimeId and negotiated. */
        assert_int_equal(dialled.dials, 1);
        assert_string_equal(dialled.system_id, "pod1@vm");
        assert_string_equal(dialled.runtime_id, FAKE_RUNTIME_ID);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_NEGOTIATE_PROTOCOL), 1);
        /* Both NICs, after HCS hot-added them: the last is E2's. */
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 2);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "Network");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Mac"),
                            "00:15:5d:00:00:02");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Addresses/0"),
                            "10.0.0.12/24");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Routes/0/Gateway"),
                            "10.0.0.1");
        assert_int_equal(fake.host_nics, 2);
        assert_true(ops->pod_alive(pod));

        fake_agent_set(dialled.agent, AGENT_RPC_CREATE, "{\"StdoutStream\":5,\"StderrStream\":6}");
        fake_agent_set(dialled.agent, AGENT_RPC_START, "{\"Pid\":42}");
        if (ops->ctr_create(pod, &c, &err) < 0 || ops->ctr_start(pod, "c1", &err) < 0)
                fail_msg("container: %s", err->msg);
        assert_string_equal(sent(AGENT_RPC_CREATE, "/ContainerId"), "c1");
        assert_string_equal(sent(AGENT_RPC_CREATE, "/Spec"), "{\"ociVersion\":\"1.1.0\"}");
        assert_string_equal(sent(AGENT_RPC_START, "/ContainerId"), "c1");

        notify_exit("c1", 3);
        assert_true(wait_for(&exited_code, 3));
        assert_string_equal(exited_ctr, "c1");

        /* Stop: nothing runs, the NICs go, the VM, then the namespace. */
        assert_int_equal(ops->pod_stop(pod, 1000, &err), 0);
        assert_true(strstr(fixture_log(), "hcs.shutdown pod1@vm 30000\n"
                                          "hcn.ns_modify Remove E2\n") != NULL);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
        assert_int_equal(died, 0);
}

/* The agent goes away under a running pod: the sandbox layer hears the
 * pod died, and container calls fail at once. */
static void test_agent_gone_is_pod_died(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        fake_agent_stop(dialled.agent);
        dialled.agent = NULL;
        assert_true(wait_for(&died, 1));
        assert_non_null(strstr(died_reason, "the agent in the VM is gone"));
        assert_false(ops->pod_alive(pod));
        assert_int_equal(ops->ctr_start(pod, "c1", &err), -ENOTCONN);
        err = uvm_error_free(err);
        assert_int_equal(ops->pod_stop(pod, 1000, &err), 0);
        ops->pod_free(pod);
        assert_int_equal(died, 1);
        assert_int_equal(fake.namespaces, 0);
}

/* The agent refuses the first NIC: the create fails with its error, the
 * NIC comes off the host again and everything made is undone. */
static void test_nic_refused(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        dialled.preset_rpc = AGENT_RPC_MODIFY_SETTINGS;
        dialled.preset = FAKE_FAIL;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -ETIMEDOUT);
        assert_non_null(strstr(err->msg, "add NIC " E1 " in the guest of pod1@vm"));
        assert_non_null(strstr(err->msg, "handler gave up"));
        err = uvm_error_free(err);
        assert_null(pod);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 1);
        assert_non_null(strstr(fixture_log(), "hcs.modify Add E1 240000\n"
                                              "hcs.modify Remove E1 240000\n"));
        assert_int_equal(fake_live(), 0);
        assert_false(fixture_exists("hcs-pod.json"));
        assert_int_equal(died, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pod_with_a_container, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent_gone_is_pod_died, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nic_refused, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
