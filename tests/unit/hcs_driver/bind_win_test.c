/*
 * drv_hcs_system() (bind_win.h) on this host, under Wine or Windows: with
 * computecore.dll and computenetwork.dll the driver is bound and its probe
 * says usable; without them (Wine) NULL, and the reason, which the probe
 * repeats, names each DLL that is missing. Windows only.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <windows.h>

#include "common/platform.h"
#include "sandbox/drivers/hcs/bind_win.h"
#include "sandbox/drivers/hcs/guest_hv_win.h"
#include "tests/unit/hcs_driver/fakes.h"

static struct drv_hcs_config cfg;

static bool dll_here(const wchar_t *name)
{
        HMODULE dll = LoadLibraryExW(name, NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

        if (dll)
                FreeLibrary(dll);
        return dll != NULL;
}

static int setup(void **state)
{
        drv_hcs_unbind();
        drv_hcs_set_unavailable(NULL);
        drv_hcs_config_init_defaults(&cfg);
        cfg.kernel_path = "C:\\ProgramData\\uvmd\\vmlinux";
        cfg.initrd_path = "C:\\ProgramData\\uvmd\\initrd.img";
        cfg.host_cpus = 0; /* this host's */
        return 0;
}

static void test_system(void **state)
{
        bool hcs = dll_here(L"computecore.dll"), hcn = dll_here(L"computenetwork.dll");
        char reason[1024] = "stale";
        const struct drv_ops *ops = drv_hcs_system(&fake_guest, &cfg, reason, sizeof(reason));
        struct drv_probe pr;

        print_message("computecore.dll %s, computenetwork.dll %s: %s\n", hcs ? "here" : "missing",
                      hcn ? "here" : "missing", ops ? "bound" : reason);
        drv_hcs_ops.probe(NULL, &pr);
        if (hcs && hcn) {
                assert_ptr_equal(ops, &drv_hcs_ops);
                assert_string_equal(reason, "");
                assert_true(pr.usable);
                assert_non_null(strstr(pr.reason, "computecore, computenetwork and the fake"));
                return;
        }
        assert_null(ops);
        assert_false(pr.usable);
        assert_non_null(strstr(reason, "hcs driver unavailable: "));
        /* Each missing DLL is named, with why; one that loads is not. */
        assert_true(!strstr(reason, "computecore.dll (HCS)") == hcs);
        assert_true(!strstr(reason, "computenetwork.dll (HCN)") == hcn);
        if (!hcs)
                assert_non_null(strstr(reason, "no Host Compute Service"));
        if (!hcn)
                assert_non_null(strstr(reason, "no Host Compute Network"));
        /* The probe says the same (cut to its size). */
        assert_int_equal(strncmp(pr.reason, reason, sizeof(pr.reason) - 1), 0);
        assert_true(strlen(pr.reason) > 40);
        /* A short buffer is cut, not overrun; none is fine. */
        assert_null(drv_hcs_system(&fake_guest, &cfg, reason, 16));
        assert_int_equal(strlen(reason), 15);
        assert_null(drv_hcs_system(&fake_guest, &cfg, NULL, 0));
}

/* By default the driver talks to the agent through the bridge over
 * HvSocket: bound where HCS and HCN are (the probe names the bridge),
 * refused for the missing DLLs elsewhere, never for the guest table. */
static void test_default_bridge(void **state)
{
        bool here = dll_here(L"computecore.dll") && dll_here(L"computenetwork.dll");
        char reason[1024] = "stale";
        const struct drv_ops *ops;
        struct drv_probe pr;

        cfg.bridge_vsock_port = 0x40000000;
        ops = drv_hcs_system(NULL, &cfg, reason, sizeof(reason));
        drv_hcs_ops.probe(NULL, &pr);
        if (here) {
                assert_ptr_equal(ops, &drv_hcs_ops);
                assert_non_null(strstr(pr.reason, "the bridge agent connection"));
                return;
        }
        assert_null(ops);
        assert_non_null(strstr(reason, "not load"));
        assert_null(strstr(reason, "bridge"));
}

static void died(void *data, const char *reason)
{
        fail_msg("no connection, no death: %s", reason);
}

/* The HvSocket guest table: it needs a port; it dials the RuntimeId it is
 * given (none: refused), and fails cleanly where HvSocket is missing
 * (Wine) or the VM is (a Hyper-V host). */
static void test_hv_guest(void **state)
{
        static const struct hcs_guest_events ev = {.died = died};
        const struct hcs_guest_ops *g;
        struct hcs_guest *conn = NULL;
        struct uvm_error *err = NULL;
        char reason[128] = "";
        uint64_t t0;
        int r;

        assert_null(hcs_guest_hv(0, reason, sizeof(reason)));
        assert_non_null(strstr(reason, "bridge_vsock_port"));
        g = hcs_guest_hv(0x40000000, reason, sizeof(reason));
        assert_non_null(g);
        assert_string_equal(g->name, "bridge");
        assert_int_equal(g->connect("pod1@vm", "", 1000, &ev, &conn, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "VM pod1@vm: no RuntimeId"));
        err = uvm_error_free(err);
        t0 = plat_now_ns();
        r = g->connect("pod1@vm", "0f7e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b", 1000, &ev, &conn, &err);
        print_message("connect: %d %s\n", r, err ? err->msg : "");
        assert_true(r < 0);
        assert_non_null(err);
        if (r == -EAFNOSUPPORT)
                assert_true((plat_now_ns() - t0) / 1000000u < 1000);
        assert_null(conn);
        uvm_error_free(err);
}

/* The caller's parts are checked first, whatever the host. */
static void test_inputs(void **state)
{
        char reason[256];
        struct drv_probe pr;

        /* No guest table: the bridge over HvSocket, which needs the port. */
        assert_null(drv_hcs_system(NULL, &cfg, reason, sizeof(reason)));
        assert_string_equal(reason, "hcs driver unavailable: no vsock port for the agent's "
                                    "bridge (bridge_vsock_port)");
        drv_hcs_ops.probe(NULL, &pr);
        assert_false(pr.usable);
        assert_string_equal(pr.reason, reason);
        assert_null(drv_hcs_system(&fake_guest, NULL, reason, sizeof(reason)));
        assert_string_equal(reason, "hcs driver unavailable: no driver config");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_system, setup, NULL),
                cmocka_unit_test_setup_teardown(test_default_bridge, setup, NULL),
                cmocka_unit_test_setup_teardown(test_hv_guest, setup, NULL),
                cmocka_unit_test_setup_teardown(test_inputs, setup, NULL),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
