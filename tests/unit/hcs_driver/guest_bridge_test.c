/*
 * The hcs driver's guest table over the bridge client (guest_bridge.h)
 * against the scripted agent (tests/unit/agent/fake_agent.h) over loopback
 * TCP: connect and negotiate, the frames add_nic and the container calls
 * send, exit notifications reaching the driver's callback, the agent going
 * away (the guest died) and the timeouts. Portable: Linux and under Wine.
 */

#include <errno.h>
#include <pthread.h>
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
#include "common/platform.h"
#include "sandbox/drivers/hcs/guest_bridge.h"
#include "tests/unit/hcs_driver/bridge_dial.h"

#define SYS "pod1@vm"
#define RID "0f7e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
#define NS_ID "5d7c2b1a-0e3f-4a6b-8c9d-e0f1a2b3c4d5"
#define EP_ID "11111111-1111-4111-8111-111111111111"

/* What the guest reported, under lock. */
static struct {
        pthread_mutex_t lock;
        int exits, died;
        char exit_id[64], died_reason[256];
        int exit_code;
} ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        pthread_mutex_lock(&ev.lock);
        ev.exits++;
        ev.exit_code = code;
        snprintf(ev.exit_id, sizeof(ev.exit_id), "%s", ctr_id);
        pthread_mutex_unlock(&ev.lock);
}

static void on_died(void *data, const char *reason)
{
        pthread_mutex_lock(&ev.lock);
        ev.died++;
        snprintf(ev.died_reason, sizeof(ev.died_reason), "%s", reason);
        pthread_mutex_unlock(&ev.lock);
}

static const struct hcs_guest_events events = {.ctr_exited = on_exited, .died = on_died};
static const struct hcs_guest_ops *ops;

static int setup(void **state)
{
        bridge_dial_reset();
        pthread_mutex_lock(&ev.lock);
        ev.exits = ev.died = 0;
        ev.exit_id[0] = ev.died_reason[0] = '\0';
        pthread_mutex_unlock(&ev.lock);
        ops = hcs_guest_bridge(bridge_dial, NULL);
        return 0;
}

static int teardown(void **state)
{
        bridge_dial_reset();
        return 0;
}

/* Up to 5 s for n events of a kind (exits, died). */
static bool wait_count(const int *counter, int n)
{
        for (int i = 0; i < 5000; i++) {
                int v;

                pthread_mutex_lock(&ev.lock);
                v = *counter;
                pthread_mutex_unlock(&ev.lock);
                if (v >= n)
                        return true;
                usleep(1000);
        }
        return false;
}

static struct hcs_guest *connect_ok(void)
{
        struct hcs_guest *g = NULL;
        struct uvm_error *err = NULL;

        if (ops->connect(SYS, RID, 5000, &events, &g, &err) < 0)
                fail_msg("connect: %s", err->msg);
        assert_non_null(g);
        return g;
}

static void expect_error(int rc, struct uvm_error **errp, int code, const char *want)
{
        struct uvm_error *err = *errp;

        *errp = NULL;
        assert_int_equal(rc, -code);
        assert_non_null(err);
        if (!strstr(err->msg, want))
                fail_msg("error \"%s\" lacks \"%s\"", err->msg, want);
        uvm_error_free(err);
}

/* The last request of rpc the agent got, at path (a JSON pointer). */
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

static void test_connect_negotiates(void **state)
{
        struct hcs_guest *g = connect_ok();

        assert_string_equal(ops->name, "bridge");
        assert_int_equal(dialled.dials, 1);
        assert_string_equal(dialled.system_id, SYS);
        assert_string_equal(dialled.runtime_id, RID);
        assert_true(dialled.timeout_ms > 4000 && dialled.timeout_ms <= 5000);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_NEGOTIATE_PROTOCOL), 1);
        assert_string_equal(sent(AGENT_RPC_NEGOTIATE_PROTOCOL, "/MaximumVersion"), "1");
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_GET_PROPERTIES), 1);
        /* Hanging up is not the guest dying. */
        ops->disconnect(g);
        usleep(100 * 1000);
        assert_int_equal(ev.died, 0);
        ops->disconnect(NULL);
}

/* A connect that fails leaves nothing and reports no event. */
static void test_connect_failures(void **state)
{
        struct hcs_guest *g = NULL;
        struct uvm_error *err = NULL;

        expect_error(ops->connect("", RID, 5000, &events, &g, &err), &err, EINVAL,
                     "system id and events are required");
        expect_error(ops->connect(SYS, RID, 5000, NULL, &g, &err), &err, EINVAL,
                     "system id and events are required");
        assert_int_equal(dialled.dials, 0);

        dialled.fail = -ECONNREFUSED;
        expect_error(ops->connect(SYS, RID, 5000, &events, &g, &err), &err, ECONNREFUSED,
                     "test dial of " SYS " failed");
        dialled.fail = 0;

        /* The agent speaks another protocol version; it hangs up at once. */
        dialled.preset_rpc = AGENT_RPC_NEGOTIATE_PROTOCOL;
        dialled.preset = "{\"Version\":2}";
        expect_error(ops->connect(SYS, RID, 5000, &events, &g, &err), &err, EPROTONOSUPPORT,
                     "agent at VM " SYS ": agent chose protocol version 2");
        dialled.preset = FAKE_CLOSE;
        expect_error(ops->connect(SYS, RID, 5000, &events, &g, &err), &err, ECONNRESET,
                     "agent at VM " SYS);
        assert_int_equal(dialled.dials, 3);
        assert_null(g);
        usleep(100 * 1000);
        assert_int_equal(ev.died, 0);

        /* No dialler: the table cannot reach anything. */
        ops = hcs_guest_bridge(NULL, NULL);
        expect_error(ops->connect(SYS, RID, 5000, &events, &g, &err), &err, ENODEV, "no dialler");
        assert_null(g);
}

static void test_connect_timeouts(void **state)
{
        struct hcs_guest *g = NULL;
        struct uvm_error *err = NULL;
        uint64_t t0 = plat_now_ns();

        /* The dialler gives up (the VM's agent never listened). */
        dialled.fail = -ETIMEDOUT;
        expect_error(ops->connect(SYS, RID, 300, &events, &g, &err), &err, ETIMEDOUT,
                     "test dial of " SYS " failed");
        assert_int_equal(dialled.timeout_ms, 300);

        /* The dial used the whole budget: no time is left to negotiate. */
        dialled.fail = 0;
        dialled.use_all = true;
        t0 = plat_now_ns();
        expect_error(ops->connect(SYS, RID, 300, &events, &g, &err), &err, ETIMEDOUT,
                     "agent in VM " SYS ": no answer within 300 ms");
        assert_true(plat_now_ns() - t0 < 3000000000ull);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_NEGOTIATE_PROTOCOL), 0);
        assert_null(g);
}

static const struct hcn_endpoint ep4 = {
        .id = EP_ID,
        .mac = "00-15-5D-8A-01-0F",
        .ip = "10.244.1.5",
        .prefix_len = 24,
        .gateway = "10.244.1.1",
};

/* add_nic sends the qemu driver's Network settings: the interface found
 * by its MAC (':' form), its address, the default route. */
static void test_add_nic_frame(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct hcn_endpoint ep6 = {
                .id = EP_ID, .mac = "00:15:5d:8a:01:10", .ip = "fd00::5", .prefix_len = 64};
        struct uvm_error *err = NULL;

        assert_int_equal(ops->add_nic(g, NS_ID, EP_ID, &ep4, &err), 0);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 1);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "Network");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ContainerId"), "");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Mac"),
                            "00:15:5d:8a:01:0f");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Mtu"), "0");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Addresses"),
                            "[ \"10.244.1.5\\/24\" ]");
        assert_string_equal(
                sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Routes"),
                "[ { \"Destination\": \"0.0.0.0\\/0\", \"Gateway\": \"10.244.1.1\" } ]");

        /* IPv6 without a gateway: no route. */
        assert_int_equal(ops->add_nic(g, NS_ID, EP_ID, &ep6, &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Interfaces/0/Addresses/0"),
                            "fd00::5/64");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Routes"), "[ ]");
        strcpy(ep6.gateway, "fd00::1");
        assert_int_equal(ops->add_nic(g, NS_ID, EP_ID, &ep6, &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Routes/0/Destination"),
                            "::/0");

        /* Bad input is refused before anything is sent. */
        strcpy(ep6.mac, "00-15-5D-8A-01");
        expect_error(ops->add_nic(g, NS_ID, EP_ID, &ep6, &err), &err, EINVAL,
                     "MAC '00-15-5D-8A-01' is not usable");
        strcpy(ep6.mac, "00-15-5D-8A-01-GG");
        expect_error(ops->add_nic(g, NS_ID, EP_ID, &ep6, &err), &err, EINVAL, "is not usable");
        strcpy(ep6.mac, "00-15-5D-8A-01-10");
        ep6.prefix_len = 129;
        expect_error(ops->add_nic(g, NS_ID, EP_ID, &ep6, &err), &err, EINVAL, "no usable address");
        expect_error(ops->add_nic(g, NS_ID, EP_ID, NULL, &err), &err, EINVAL, "no endpoint");
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 3);

        /* The agent's refusal comes back with the NIC named. */
        fake_agent_set(dialled.agent, AGENT_RPC_MODIFY_SETTINGS, FAKE_FAIL);
        expect_error(ops->add_nic(g, NS_ID, EP_ID, &ep4, &err), &err, ETIMEDOUT,
                     "configure NIC " EP_ID " (00:15:5d:8a:01:0f) in namespace " NS_ID);
        /* remove_nic sends nothing (see guest_bridge.h). */
        assert_int_equal(ops->remove_nic(g, NS_ID, EP_ID, &err), 0);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 4);
        ops->disconnect(g);
}

/* modify_nic sends the agent's Nic settings: the adapter by its MAC, the
 * old address taken down, the new one, MTU and default route. */
static void test_modify_nic_frame(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct hcn_endpoint now = ep4;
        struct uvm_error *err = NULL;

        strcpy(now.ip, "10.244.1.77");
        now.prefix_len = 16;
        strcpy(now.gateway, "10.244.0.1");
        assert_int_equal(ops->modify_nic(g, NS_ID, EP_ID, &ep4, &now, 1400, &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "Nic");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Mac"), "00:15:5d:8a:01:0f");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Mtu"), "1400");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Addresses/0"),
                            "10.244.1.77/16");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/OldAddresses/0"),
                            "10.244.1.5/24");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Routes/0/Gateway"),
                            "10.244.0.1");
        strcpy(now.mac, "nope");
        expect_error(ops->modify_nic(g, NS_ID, EP_ID, &ep4, &now, 0, &err), &err, EINVAL,
                     "no usable MAC");
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_MODIFY_SETTINGS), 1);
        fake_agent_set(dialled.agent, AGENT_RPC_MODIFY_SETTINGS, FAKE_FAIL);
        expect_error(ops->modify_nic(g, NS_ID, EP_ID, &ep4, &ep4, 0, &err), &err, ETIMEDOUT,
                     "reconfigure NIC " EP_ID);
        ops->disconnect(g);
}

/* mount_disk and unmount_disk send the agent's Disk settings (as the qemu
 * driver does): the LUN and the mount point, "Remove" for an unmount,
 * "Scratch" from mount_scratch; the agent's refusal is the call's. */
static void test_disk_frames(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct uvm_error *err = NULL;

        assert_int_equal(ops->mount_disk(g, 5, "/run/layers/5", &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "Disk");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Lun"), "5");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Path"), "/run/layers/5");
        assert_null(strstr(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings"), "Remove"));
        assert_null(strstr(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings"), "Scratch"));
        /* A scratch: the same settings with "Scratch". */
        assert_int_equal(ops->mount_scratch(g, 7, "/run/scratch/c1", &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Lun"), "7");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Path"), "/run/scratch/c1");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Scratch"), "true");
        assert_null(strstr(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings"), "Remove"));
        assert_int_equal(ops->unmount_disk(g, 5, "/run/layers/5", &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Remove"), "true");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Path"), "/run/layers/5");
        fake_agent_set(dialled.agent, AGENT_RPC_MODIFY_SETTINGS, FAKE_FAIL);
        expect_error(ops->mount_disk(g, 6, "/run/layers/6", &err), &err, ETIMEDOUT, "Disk");
        ops->disconnect(g);
}

/* mount_share and unmount_share send the agent's Plan9 settings: the
 * port, access name, mount point and read-only flag, only the mount point
 * and "Remove" for an unmount; the agent's refusal is the call's. */
static void test_share_frames(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct uvm_error *err = NULL;

        assert_int_equal(ops->mount_share(g, 564, "m3", "/run/mounts/m3", true, &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "Plan9");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Port"), "564");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/AccessName"), "m3");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Path"), "/run/mounts/m3");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/ReadOnly"), "true");
        assert_null(strstr(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings"), "Remove"));
        assert_int_equal(ops->mount_share(g, 564, "m4", "/run/mounts/m4", false, &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/ReadOnly"), "false");
        assert_int_equal(ops->unmount_share(g, "/run/mounts/m3", &err), 0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Remove"), "true");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Path"), "/run/mounts/m3");
        assert_null(strstr(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings"), "AccessName"));
        fake_agent_set(dialled.agent, AGENT_RPC_MODIFY_SETTINGS, FAKE_FAIL);
        expect_error(ops->mount_share(g, 564, "m5", "/run/mounts/m5", false, &err), &err, ETIMEDOUT,
                     "Plan9");
        ops->disconnect(g);
}

/* pod_files sends the agent's PodFiles settings, the three texts as
 * given; the agent's refusal is the call's. */
static void test_pod_files_frames(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct uvm_error *err = NULL;

        assert_non_null(ops->pod_files);
        assert_int_equal(ops->pod_files(g, "nameserver 10.96.0.10\n", "127.0.0.1\tlocalhost\n",
                                        "web\n", &err),
                         0);
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/ResourceType"), "PodFiles");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/ResolvConf"),
                            "nameserver 10.96.0.10\n");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Hosts"),
                            "127.0.0.1\tlocalhost\n");
        assert_string_equal(sent(AGENT_RPC_MODIFY_SETTINGS, "/Settings/Hostname"), "web\n");
        fake_agent_set(dialled.agent, AGENT_RPC_MODIFY_SETTINGS, FAKE_FAIL);
        expect_error(ops->pod_files(g, "", "h", "n", &err), &err, ETIMEDOUT, "PodFiles");
        ops->disconnect(g);
}

/* Each container call reaches the agent with the right fields. */
static void test_container_calls(void **state)
{
        struct hcs_guest *g = connect_ok();
        char *layers[] = {"/run/layers/0", NULL}, *argv[] = {"cat", "/etc/hostname", NULL};
        struct drv_ctr_spec spec = {.id = "c1",
                                    .layers = layers,
                                    .oci_spec_json = "{\"ociVersion\":\"1.1.0\"}",
                                    .stdin_open = true};
        struct drv_exec_spec x = {.argv = argv, .timeout_ms = 1500};
        struct drv_exec_result res = {0};
        struct uvm_error *err = NULL;
        enum drv_ctr_state st;
        int code = 0;

        fake_agent_set(dialled.agent, AGENT_RPC_CREATE, "{\"StdoutStream\":5,\"StderrStream\":6}");
        assert_int_equal(ops->ctr_create(g, &spec, "{\"HostedSystem\":{}}", &err), 0);
        assert_string_equal(sent(AGENT_RPC_CREATE, "/ContainerId"), "c1");
        assert_string_equal(sent(AGENT_RPC_CREATE, "/Spec"), "{\"ociVersion\":\"1.1.0\"}");
        assert_string_equal(sent(AGENT_RPC_CREATE, "/Layers/0"), "/run/layers/0");
        assert_string_equal(sent(AGENT_RPC_CREATE, "/Stdin"), "true");

        fake_agent_set(dialled.agent, AGENT_RPC_START, "{\"Pid\":42}");
        assert_int_equal(ops->ctr_start(g, "c1", &err), 0);
        assert_string_equal(sent(AGENT_RPC_START, "/ContainerId"), "c1");

        assert_int_equal(ops->ctr_signal(g, "c1", 15, &err), 0);
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/ContainerId"), "c1");
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/Signal"), "15");
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/All"), "false");

        fake_agent_set(
                dialled.agent, AGENT_RPC_EXECUTE_PROCESS,
                "{\"ExitCode\":7,\"TimedOut\":false,\"Stdout\":\"cG9kMQo=\",\"Stderr\":\"\"}");
        assert_int_equal(ops->ctr_exec_sync(g, "c1", &x, &res, &err), 0);
        assert_int_equal(res.exit_code, 7);
        assert_int_equal(res.out_len, 5);
        assert_memory_equal(res.out, "pod1\n", 5);
        drv_exec_result_clear(&res);
        assert_string_equal(sent(AGENT_RPC_EXECUTE_PROCESS, "/Args/1"), "/etc/hostname");
        assert_string_equal(sent(AGENT_RPC_EXECUTE_PROCESS, "/TimeoutMs"), "1500");

        fake_agent_set(dialled.agent, AGENT_RPC_GET_PROPERTIES,
                       "{\"Containers\":[{\"Id\":\"c1\",\"State\":\"exited\",\"ExitCode\":3,"
                       "\"FinishedNs\":9,\"OomKilled\":false}]}");
        assert_int_equal(ops->ctr_state(g, "c1", &st, &code, &err), 0);
        assert_int_equal(st, DRV_CTR_EXITED);
        assert_int_equal(code, 3);
        assert_string_equal(sent(AGENT_RPC_GET_PROPERTIES, "/ContainerId"), "c1");
        expect_error(ops->ctr_state(g, "c2", &st, &code, &err), &err, ENOENT,
                     "agent does not know container c2");

        /* A resource update is the agent's UpdateContainer, the OCI object
         * as it is (runc update -r in the VM). */
        assert_int_equal(ops->ctr_update(g, "c1", "{\"cpu\":{\"quota\":50000}}", &err), 0);
        assert_string_equal(sent(AGENT_RPC_UPDATE_CONTAINER, "/ContainerId"), "c1");
        assert_string_equal(sent(AGENT_RPC_UPDATE_CONTAINER, "/Resources/cpu/quota"), "50000");
        fake_agent_set(dialled.agent, AGENT_RPC_UPDATE_CONTAINER, FAKE_FAIL);
        expect_error(ops->ctr_update(g, "c1", "{}", &err), &err, ETIMEDOUT, "handler gave up");
        expect_error(ops->ctr_update(g, "c1", "[1]", &err), &err, EINVAL, "not a JSON object");

        assert_int_equal(ops->ctr_delete(g, "c1", &err), 0);
        assert_string_equal(sent(AGENT_RPC_DELETE_CONTAINER_STATE, "/ContainerId"), "c1");

        /* The agent's errors come back as they are. */
        fake_agent_set(dialled.agent, AGENT_RPC_START, FAKE_FAIL);
        expect_error(ops->ctr_start(g, "c1", &err), &err, ETIMEDOUT, "handler gave up");
        expect_error(ops->ctr_create(g, NULL, NULL, &err), &err, EINVAL, "no container spec");
        ops->disconnect(g);
}

/* The agent's exit notification reaches the driver's callback. */
static void test_exit_notification(void **state)
{
        struct hcs_guest *g = connect_ok();
        json_object *exit = json_tokener_parse("{\"ContainerId\":\"c1\",\"ExitCode\":137,"
                                               "\"FinishedNs\":123,\"OomKilled\":true}");

        assert_int_equal(agent_conn_notify(fake_agent_conn(dialled.agent), exit, NULL), 0);
        json_object_put(exit);
        assert_true(wait_count(&ev.exits, 1));
        assert_string_equal(ev.exit_id, "c1");
        assert_int_equal(ev.exit_code, 137);
        assert_int_equal(ev.died, 0);
        ops->disconnect(g);
}

/* The agent goes away: the guest died, once; calls fail at once after. */
static void test_agent_closes(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct uvm_error *err = NULL;

        fake_agent_stop(dialled.agent);
        dialled.agent = NULL;
        assert_true(wait_count(&ev.died, 1));
        assert_non_null(strstr(ev.died_reason, "closed"));
        expect_error(ops->ctr_start(g, "c1", &err), &err, ECONNRESET, "closed");
        expect_error(ops->remove_nic(g, NS_ID, EP_ID, &err), &err, ENOTCONN, "the agent is gone");
        expect_error(ops->ctr_stop_all(g, 100, &err), &err, ECONNRESET, "stop the containers");
        ops->disconnect(g);
        assert_int_equal(ev.died, 1);

        /* Mid-call: the call fails, the guest died. */
        g = connect_ok();
        fake_agent_set(dialled.agent, AGENT_RPC_SIGNAL_PROCESS, FAKE_CLOSE);
        expect_error(ops->ctr_signal(g, "c1", 9, &err), &err, ECONNRESET, "signal container c1");
        assert_true(wait_count(&ev.died, 2));
        ops->disconnect(g);
        assert_int_equal(ev.died, 2);
}

struct exits_later {
        struct fake_agent *agent;
        const char *after; /* GetProperties' answer once a signal arrived */
};

/* Once the agent got a SIGTERM, its containers are reported exited. */
static void *exit_on_signal(void *arg)
{
        struct exits_later *x = arg;

        for (int i = 0; i < 5000 && fake_agent_calls(x->agent, AGENT_RPC_SIGNAL_PROCESS) == 0; i++)
                usleep(1000);
        fake_agent_set(x->agent, AGENT_RPC_GET_PROPERTIES, x->after);
        return NULL;
}

#define RUNNING_C1 "{\"Containers\":[{\"Id\":\"c1\",\"State\":\"running\",\"Pid\":7}]}"
#define EXITED_C1                                                                                  \
        "{\"Containers\":[{\"Id\":\"c1\",\"State\":\"exited\",\"ExitCode\":0,\"FinishedNs\":1,"    \
        "\"OomKilled\":false}]}"

static void test_stop_all(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct exits_later x = {dialled.agent, EXITED_C1};
        struct uvm_error *err = NULL;
        pthread_t t;

        /* Nothing runs: nothing is signalled. */
        assert_int_equal(ops->ctr_stop_all(g, 1000, &err), 0);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_SIGNAL_PROCESS), 0);

        /* c1 stops on SIGTERM, well within the timeout: no SIGKILL. */
        fake_agent_set(dialled.agent, AGENT_RPC_GET_PROPERTIES, RUNNING_C1);
        assert_int_equal(pthread_create(&t, NULL, exit_on_signal, &x), 0);
        assert_int_equal(ops->ctr_stop_all(g, 5000, &err), 0);
        pthread_join(t, NULL);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_SIGNAL_PROCESS), 1);
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/Signal"), "15");
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/All"), "false");
        ops->disconnect(g);
}

/* c1 ignores SIGTERM: SIGKILL (to all its processes) after the timeout;
 * it survives even that: -ETIMEDOUT once the kill wait passed too. */
static void test_stop_all_timeouts(void **state)
{
        struct hcs_guest *g = connect_ok();
        struct uvm_error *err = NULL;
        uint64_t t0, ms;

        fake_agent_set(dialled.agent, AGENT_RPC_GET_PROPERTIES, RUNNING_C1);
        t0 = plat_now_ns();
        expect_error(ops->ctr_stop_all(g, 300, &err), &err, ETIMEDOUT,
                     "1 containers still run 2000 ms after SIGKILL");
        ms = (plat_now_ns() - t0) / 1000000u;
        assert_true(ms >= 300 + HCS_BRIDGE_KILL_WAIT_MS - 10);
        assert_true(ms < 300 + HCS_BRIDGE_KILL_WAIT_MS + 3000);
        assert_int_equal(fake_agent_calls(dialled.agent, AGENT_RPC_SIGNAL_PROCESS), 2);
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/Signal"), "9");
        assert_string_equal(sent(AGENT_RPC_SIGNAL_PROCESS, "/All"), "true");
        ops->disconnect(g);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_connect_negotiates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_timeouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_add_nic_frame, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modify_nic_frame, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_frames, setup, teardown),
                cmocka_unit_test_setup_teardown(test_share_frames, setup, teardown),
                cmocka_unit_test_setup_teardown(test_container_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_notification, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent_closes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_all_timeouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_files_frames, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
