/*
 * The hcs driver's sequencing against fake HCS, HCN and guest tables
 * (fakes.h): the order of every call on create, stop and reattach, the
 * undo after a failure at each step of create, timeouts from the config,
 * events, and containers through the guest. Portable: runs on Linux and
 * under Wine.
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

#define CREATED                                                                                    \
        "hcs.create pod1@vm 240000\n"                                                              \
        "hcs.set_callback pod1@vm\nhcs.properties pod1@vm\n"                                       \
        "hcs.start pod1@vm 240000\n"                                                               \
        "guest.connect pod1@vm 120000\n"                                                           \
        "hcn.ns_create\n"                                                                          \
        "hcn.ep_query E1\n"                                                                        \
        "hcn.ns_modify Add E1\n"                                                                   \
        "hcn.ep_query E2\n"                                                                        \
        "hcn.ns_modify Add E2\n"                                                                   \
        "hcs.modify Add E1 240000\n"                                                               \
        "guest.add_nic E1\n"                                                                       \
        "hcs.modify Add E2 240000\n"                                                               \
        "guest.add_nic E2"

#define NS_DELETED                                                                                 \
        "hcn.ns_modify Remove E2\n"                                                                \
        "hcn.ns_modify Remove E1\n"                                                                \
        "hcn.ns_delete"

#define VM_GONE                                                                                    \
        "hcs.terminate pod1@vm 30000\n"                                                            \
        "hcs.close pod1@vm"

static void test_create_sequence(void **state)
{
        struct drv_pod *pod = fixture_create();
        json_object *doc, *v;

        assert_string_equal(fixture_log(), CREATED);
        assert_int_equal(fake.systems, 1);
        assert_int_equal(fake.handles, 1);
        assert_int_equal(fake.namespaces, 1);
        assert_int_equal(fake.ns_members, 2);
        assert_int_equal(fake.host_nics, 2);
        assert_int_equal(fake.guests, 1);
        assert_int_equal(fake.guest_nics, 2);
        /* The guest got the namespace and the endpoint's addresses. */
        assert_string_equal(fake.nic_ns_id, fake.ns_id);
        assert_string_equal(fake.nic_mac, "00-15-5D-00-00-02");
        assert_string_equal(fake.nic_ip, "10.0.0.12");
        assert_int_equal(fake.nic_prefix, 24);
        /* The UVM document carries the pod's sizing. */
        doc = json_tokener_parse(fake.uvm_doc);
        assert_non_null(doc);
        assert_true(json_pointer_get(doc, "/VirtualMachine/ComputeTopology/Memory/SizeInMB", &v) ==
                    0);
        assert_int_equal(json_object_get_int(v), 1024);
        assert_true(json_pointer_get(doc, "/VirtualMachine/ComputeTopology/Processor/Count", &v) ==
                    0);
        assert_int_equal(json_object_get_int(v), 2);
        json_object_put(doc);
        /* The record: ready, with the namespace, endpoints and NICs. */
        doc = fixture_record();
        assert_string_equal(json_string_of(doc, "state"), "ready");
        assert_string_equal(json_string_of(doc, "system_id"), "pod1@vm");
        assert_string_equal(json_string_of(doc, "namespace_id"), fake.ns_id);
        assert_true(json_pointer_get(doc, "/endpoints/1", &v) == 0);
        assert_string_equal(json_object_get_string(v), E2);
        assert_true(json_pointer_get(doc, "/nics/1/ip", &v) == 0);
        assert_string_equal(json_object_get_string(v), "10.0.0.12");
        json_object_put(doc);
        assert_true(ops->pod_alive(pod));
        assert_int_equal(ops->pod_stop(pod, 1000, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* With a bridge port, the VM's kernel is told to listen there (the agent
 * reads it, agent/guest_boot.c) and HCS to let the host connect to it. */
static void test_bridge_port_in_uvm_document(void **state)
{
        struct drv_pod *pod;
        json_object *doc, *v;
        char want[128];
        size_t n;

        cfg.bridge_vsock_port = 0x40000000;
        fixture_bind();
        pod = fixture_create();
        doc = json_tokener_parse(fake.uvm_doc);
        assert_non_null(doc);
        assert_true(json_pointer_get(doc, "/VirtualMachine/Chipset/LinuxKernelDirect/KernelCmdLine",
                                     &v) == 0);
        snprintf(want, sizeof(want), " uvmd.bridge_vsock=%u", 0x40000000u);
        n = strlen(json_object_get_string(v));
        assert_true(n > strlen(want));
        assert_string_equal(json_object_get_string(v) + n - strlen(want), want);
        assert_true(json_pointer_get(doc,
                                     "/VirtualMachine/Devices/HvSocket/HvSocketConfig/"
                                     "ServiceTable/40000000-facb-11e6-bd58-64006a7986d3",
                                     &v) == 0);
        json_object_put(doc);
        assert_int_equal(ops->pod_stop(pod, 1000, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

static void test_stop_sequence_idempotent(void **state)
{
        struct drv_pod *pod = fixture_create();
        size_t n;

        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 5000, NULL), 0);
        assert_string_equal(fixture_log(), "guest.stop_all 5000\n"
                                           "guest.remove_nic E2\n"
                                           "hcs.modify Remove E2 240000\n"
                                           "guest.remove_nic E1\n"
                                           "hcs.modify Remove E1 240000\n"
                                           "hcs.shutdown pod1@vm 30000\n" NS_DELETED);
        assert_false(fixture_exists("hcs-pod.json"));
        assert_false(ops->pod_alive(pod));
        /* Nothing is left but the handle and the agent's connection (kept
         * for streaming sessions to end on: driver.h), which pod_free
         * closes. */
        assert_int_equal(fake_live(), 2);
        assert_int_equal(fake.handles, 1);
        n = fake.n_log;
        assert_int_equal(ops->pod_stop(pod, 5000, NULL), 0);
        assert_int_equal(fake.n_log, n);
        ops->pod_free(pod);
        assert_string_equal(fake.log[fake.n_log - 1], "hcs.close pod1@vm");
        assert_int_equal(fake_live(), 0);
        assert_int_equal(died, 0);
}

static void test_stop_terminates_after_failed_shutdown(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod;

        cfg.create_timeout_ms = 1000;
        cfg.guest_connect_ms = 2000;
        cfg.shutdown_wait_ms = 3000;
        cfg.terminate_wait_ms = 4000;
        fixture_bind();
        pod = fixture_create();
        assert_non_null(strstr(fake_log_text(), "hcs.create pod1@vm 1000\n"));
        assert_non_null(strstr(fake_log_text(), "hcs.start pod1@vm 1000\n"));
        assert_non_null(strstr(fake_log_text(), "guest.connect pod1@vm 2000\n"));
        assert_non_null(strstr(fixture_log(), "hcs.modify Add E2 1000\n"));
        fake_fail("hcs.shutdown", 1, ETIMEDOUT);
        fake_fail("hcs.terminate", 1, EIO);
        fixture_log_clear();
        /* Terminate fails too: the error says so, and a retry goes on. */
        assert_int_equal(ops->pod_stop(pod, 0, &err), -EIO);
        assert_non_null(strstr(err->msg, "terminate the VM pod1@vm"));
        assert_non_null(strstr(err->msg, "fake hcs.terminate failed"));
        err = uvm_error_free(err);
        assert_non_null(strstr(fake_log_text(), "hcs.shutdown pod1@vm 3000 !\n"
                                                "hcs.terminate pod1@vm 4000 !\n"));
        assert_int_equal(fake.systems, 1);
        fixture_log_clear();
        assert_int_equal(ops->pod_stop(pod, 0, &err), 0);
        assert_string_equal(fake_log_text(), "guest.stop_all 0\n"
                                             "hcs.shutdown pod1@vm 3000");
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

struct step_case {
        const char *call; /* fails */
        int nth;
        const char *message; /* in the error */
        const char *log;     /* everything called, undo included */
};

static const struct step_case step_cases[] = {
        {"hcs.create", 1, "create the VM pod1@vm: fake hcs.create failed (HRESULT 0x80004005)",
         "hcs.create pod1@vm 240000 !"},
        {"hcs.set_callback", 1, "watch the VM pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm !\n" VM_GONE},
        {"hcs.properties", 1, "query the VM pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm !\n" VM_GONE},
        {"hcs.start", 1, "start the VM pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\n"
         "hcs.start pod1@vm 240000 !\n" VM_GONE},
        {"guest.connect", 1, "connect to the agent in VM pod1@vm: fake guest.connect failed",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000 !\n" VM_GONE},
        {"hcn.ns_create", 1, "create the HCN namespace of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create !\nguest.disconnect\n" VM_GONE},
        {"hcn.ep_query", 2, "create the HCN namespace of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create\nhcn.ep_query E1\nhcn.ns_modify Add E1\n"
         "hcn.ep_query E2 !\nhcn.ns_modify Remove E1\nhcn.ns_delete\n"
         "guest.disconnect\n" VM_GONE},
        {"hcn.ns_modify", 2, "create the HCN namespace of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create\nhcn.ep_query E1\nhcn.ns_modify Add E1\n"
         "hcn.ep_query E2\nhcn.ns_modify Add E2 !\nhcn.ns_modify Remove E1\nhcn.ns_delete\n"
         "guest.disconnect\n" VM_GONE},
        {"hcs.modify", 1, "add NIC " E1 " on the host of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create\nhcn.ep_query E1\nhcn.ns_modify Add E1\n"
         "hcn.ep_query E2\nhcn.ns_modify Add E2\nhcs.modify Add E1 240000 !\n" NS_DELETED
         "\nguest.disconnect\n" VM_GONE},
        {"guest.add_nic", 1, "add NIC " E1 " in the guest of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create\nhcn.ep_query E1\nhcn.ns_modify Add E1\n"
         "hcn.ep_query E2\nhcn.ns_modify Add E2\nhcs.modify Add E1 240000\n"
         "guest.add_nic E1 !\nhcs.modify Remove E1 240000\n" NS_DELETED
         "\nguest.disconnect\n" VM_GONE},
        {"hcs.modify", 2, "add NIC " E2 " on the host of pod1@vm",
         "hcs.create pod1@vm 240000\nhcs.set_callback pod1@vm\nhcs.properties pod1@vm\nhcs.start "
         "pod1@vm 240000\n"
         "guest.connect pod1@vm 120000\nhcn.ns_create\nhcn.ep_query E1\nhcn.ns_modify Add E1\n"
         "hcn.ep_query E2\nhcn.ns_modify Add E2\nhcs.modify Add E1 240000\n"
         "guest.add_nic E1\nhcs.modify Add E2 240000 !\n"
         "guest.remove_nic E1\nhcs.modify Remove E1 240000\n" NS_DELETED
         "\nguest.disconnect\n" VM_GONE},
        {"guest.add_nic", 2, "add NIC " E2 " in the guest of pod1@vm",
         CREATED " !\nhcs.modify Remove E2 240000\n"
                 "guest.remove_nic E1\nhcs.modify Remove E1 240000\n" NS_DELETED
                 "\nguest.disconnect\n" VM_GONE},
};

/* A failure at each step of create: the error names the step, nothing is
 * left, and the log shows the undo in reverse order. */
static void test_create_fails_at_each_step(void **state)
{
        for (size_t i = 0; i < sizeof(step_cases) / sizeof(step_cases[0]); i++) {
                const struct step_case *c = &step_cases[i];
                struct uvm_error *err = NULL;
                struct drv_pod *pod = NULL;
                char expected_log[FAKE_LOG_MAX * FAKE_LINE_MAX];
                int r;

                fake_reset();
                fake_fail(c->call, c->nth, EPERM);
                r = ops->pod_create(&spec, &pod, &err);
                print_message("case %u: %s #%d: %s\n", (unsigned) i, c->call, c->nth,
                              err ? err->msg : "");
                assert_int_equal(r, -EPERM);
                assert_null(pod);
                assert_non_null(err);
                assert_non_null(strstr(err->msg, "hcs pod pod1: "));
                assert_non_null(strstr(err->msg, c->message));
                snprintf(expected_log, sizeof(expected_log), "%s", c->log);
                assert_string_equal(fixture_log(), expected_log);
                assert_int_equal(fake_live(), 0);
                assert_false(fixture_exists("hcs-pod.json"));
                assert_int_equal(died, 0);
                uvm_error_free(err);
        }
}

/* The record cannot be written (a directory is in its way): nothing is
 * made, since it is written before the VM is. A record already there is a
 * pod that has a VM: refused, and left alone. */
static void test_create_fails_at_record(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;
        char path[512];

        snprintf(path, sizeof(path), "%s/hcs-pod.json", spec.state_dir);
        assert_int_equal(plat_mkdir_p(path, 0700), 0);
        fixture_write("hcs-pod.json/keep", "x");
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EEXIST);
        assert_non_null(strstr(err->msg, "the pod has a VM already"));
        err = uvm_error_free(err);
        assert_true(fixture_exists("hcs-pod.json/keep"));
        assert_int_equal(plat_rm_rf(path), 0);

        /* The state dir is gone: nothing to record in, nothing made. */
        snprintf(path, sizeof(path), "%s/gone", spec.state_dir);
        spec.state_dir = path;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "record the pod in"));
        assert_int_equal(fake.n_log, 0);
        assert_null(pod);
        uvm_error_free(err);
}

/* A failing undo does not replace the step's error. */
static void test_create_first_error_wins(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        fake_fail("hcs.start", 1, EPERM);
        fake_fail("hcs.terminate", 1, EIO);
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EPERM);
        assert_non_null(strstr(err->msg, "start the VM pod1@vm"));
        assert_null(strstr(err->msg, "terminate"));
        assert_string_equal(fake_log_text(), "hcs.create pod1@vm 240000\n"
                                             "hcs.set_callback pod1@vm\nhcs.properties pod1@vm\n"
                                             "hcs.start pod1@vm 240000 !\n"
                                             "hcs.terminate pod1@vm 30000 !\n"
                                             "hcs.close pod1@vm");
        assert_int_equal(fake.handles, 0);
        /* The VM may still run: its record stays for a reattach to undo. */
        assert_true(fixture_exists("hcs-pod.json"));
        uvm_error_free(err);
}

/* The VM exits once set up, before create returns: create fails, no
 * pod_died, nothing left. */
static void test_create_vm_exits(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        fake.exit_after = "guest.add_nic";
        fake.exit_nth = 2;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EIO);
        assert_non_null(strstr(err->msg, "the VM pod1@vm exited while it was set up"));
        /* Nothing to detach or shut down in a VM that is gone. */
        assert_string_equal(fixture_log(), CREATED "\n" NS_DELETED "\nguest.disconnect\n"
                                                   "hcs.terminate pod1@vm 30000 !\n"
                                                   "hcs.close pod1@vm");
        assert_int_equal(fake_live(), 0);
        assert_int_equal(died, 0);
        err = uvm_error_free(err);

        /* It exits right after start: the agent never answers. */
        fake_reset();
        fake.exit_after = "hcs.start";
        fake.exit_nth = 1;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -ETIMEDOUT);
        assert_non_null(strstr(err->msg, "connect to the agent"));
        assert_int_equal(fake_live(), 0);
        assert_int_equal(died, 0);
        uvm_error_free(err);
}

static void test_create_bad_input(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        /* Deferred commit needs overcommit: refused before any call. */
        spec.uvm.allow_overcommit = false;
        spec.uvm.deferred_commit = true;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "the document of VM pod1@vm"));
        err = uvm_error_free(err);
        spec.uvm.allow_overcommit = true;
        spec.uvm.deferred_commit = false;

        spec.host_pid = true;
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "hostPID"));
        err = uvm_error_free(err);
        spec.host_pid = false;

        /* The endpoints: GUIDs, each once, at most 8. */
        spec.hcn_endpoints = (char *const[]){E1, "not-a-guid", NULL};
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "HCN endpoint 'not-a-guid' is not a GUID"));
        err = uvm_error_free(err);
        spec.hcn_endpoints = (char *const[]){E1 "0", NULL};
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EINVAL);
        err = uvm_error_free(err);
        spec.hcn_endpoints = (char *const[]){E1, "11111111-1111-4111-8111-11111111111F",
                                             "11111111-1111-4111-8111-11111111111f", NULL};
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "given twice"));
        err = uvm_error_free(err);
        spec.hcn_endpoints = (char *const[]){
                "11111111-1111-4111-8111-111111111111", "21111111-1111-4111-8111-111111111111",
                "31111111-1111-4111-8111-111111111111", "41111111-1111-4111-8111-111111111111",
                "51111111-1111-4111-8111-111111111111", "61111111-1111-4111-8111-111111111111",
                "71111111-1111-4111-8111-111111111111", "81111111-1111-4111-8111-111111111111",
                "91111111-1111-4111-8111-111111111111", NULL};
        assert_int_equal(ops->pod_create(&spec, &pod, &err), -E2BIG);
        assert_non_null(strstr(err->msg, "more than 8 HCN endpoints"));
        err = uvm_error_free(err);
        assert_false(fixture_exists("hcs-pod.json"));
        assert_null(pod);
        assert_int_equal(fake.n_log, 0);
}

/* No endpoints: a VM without NICs and without a namespace. */
static void test_create_without_network(void **state)
{
        struct drv_pod *pod;

        spec.hcn_endpoints = NULL;
        pod = fixture_create();
        assert_string_equal(fake_log_text(), "hcs.create pod1@vm 240000\n"
                                             "hcs.set_callback pod1@vm\nhcs.properties pod1@vm\n"
                                             "hcs.start pod1@vm 240000\n"
                                             "guest.connect pod1@vm 120000");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The guest is dialled at the VM's RuntimeId from HCS (braces or not);
 * a VM without a valid one is undone before it starts. */
static void test_runtime_id(void **state)
{
        static const char *const bad[] = {"", "not-a-guid", "{" FAKE_RUNTIME_ID,
                                          FAKE_RUNTIME_ID "}"};
        struct uvm_error *err = NULL;
        struct drv_pod *pod = fixture_create();

        assert_string_equal(fake.connect_runtime_id, FAKE_RUNTIME_ID);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);

        fake_reset();
        fake.runtime_id = "{" FAKE_RUNTIME_ID "}";
        pod = fixture_create();
        assert_string_equal(fake.connect_runtime_id, FAKE_RUNTIME_ID);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                fake_reset();
                fake.runtime_id = bad[i];
                pod = NULL;
                assert_int_equal(ops->pod_create(&spec, &pod, &err), -EIO);
                assert_null(pod);
                assert_non_null(strstr(err->msg, "HCS reports no valid RuntimeId for the VM"));
                err = uvm_error_free(err);
                assert_string_equal(fake_log_text(), "hcs.create pod1@vm 240000\n"
                                                     "hcs.set_callback pod1@vm\n"
                                                     "hcs.properties pod1@vm\n" VM_GONE);
                assert_int_equal(fake_live(), 0);
                assert_false(fixture_exists("hcs-pod.json"));
        }
}

/* Usable while bound; otherwise why not, the last binding failure's
 * reason first. */
static void test_probe(void **state)
{
        struct drv_probe pr;

        assert_non_null(drv_hcs_ops.probe);
        memset(&pr, 0xff, sizeof(pr));
        drv_hcs_ops.probe(NULL, &pr);
        assert_true(pr.usable);
        assert_false(pr.accelerated);
        assert_non_null(strstr(pr.reason, "through fake, fake and the fake agent connection"));
        drv_hcs_unbind();
        drv_hcs_ops.probe(NULL, &pr);
        assert_false(pr.usable);
        assert_non_null(strstr(pr.reason, "only on a Windows host with Hyper-V"));
        drv_hcs_set_unavailable("hcs driver unavailable: no computecore.dll");
        drv_hcs_ops.probe(NULL, &pr);
        assert_false(pr.usable);
        assert_string_equal(pr.reason, "hcs driver unavailable: no computecore.dll");
        fixture_bind();
        drv_hcs_ops.probe(NULL, &pr);
        assert_true(pr.usable);
        drv_hcs_unbind();
        drv_hcs_set_unavailable(NULL);
        drv_hcs_ops.probe(NULL, &pr);
        assert_non_null(strstr(pr.reason, "only on a Windows host"));
}

static void test_bind_checks(void **state)
{
        struct hcs_api partial = fake_hcs;
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;
        const struct drv_ops *o = NULL;

        partial.modify = NULL;
        assert_int_equal(drv_hcs_new(&partial, &fake_hcn, &fake_guest, &cfg, &o, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "HCS table"));
        err = uvm_error_free(err);
        cfg.initrd_path = NULL;
        assert_int_equal(drv_hcs_new(&fake_hcs, &fake_hcn, &fake_guest, &cfg, &o, &err), -EINVAL);
        err = uvm_error_free(err);
        cfg.initrd_path = "C:\\x";
        cfg.terminate_wait_ms = 0;
        assert_int_equal(drv_hcs_new(&fake_hcs, &fake_hcn, &fake_guest, &cfg, &o, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_null(o);
        drv_hcs_unbind();
        assert_int_equal(drv_hcs_ops.pod_create(&spec, &pod, &err), -ENODEV);
        assert_non_null(strstr(err->msg, "not bound"));
        uvm_error_free(err);
        assert_int_equal(fake.n_log, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_sequence, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bridge_port_in_uvm_document, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_stop_sequence_idempotent, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_stop_terminates_after_failed_shutdown,
                                                fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_fails_at_each_step, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_fails_at_record, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_first_error_wins, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_vm_exits, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_bad_input, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_create_without_network, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_runtime_id, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_probe, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bind_checks, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
