/* agent_client_dial_hv() (Windows only; run under Wine, which has no
 * Hyper-V): GUIDs are checked before any socket is made, and a host
 * without HvSocket gets a plain EAFNOSUPPORT at once, not a retry loop
 * until the timeout. On a Hyper-V host an unknown VM cannot be reached
 * either: then the error must name the address. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/client.h"
#include "common/platform.h"

#define VM "4d7e9b0e-3c51-4a7f-9a43-0f2b8c6d1e25"
#define SERVICE "0000ea60-facb-11e6-bd58-64006a7986d3" /* vsock port 60000 */

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

static void bad_guids_refused(void **state)
{
        const char *bad[] = {
                "",
                "4d7e9b0e-3c51-4a7f-9a43-0f2b8c6d1e2",   /* short */
                "4d7e9b0e-3c51-4a7f-9a43-0f2b8c6d1e255", /* long */
                "4d7e9b0e 3c51-4a7f-9a43-0f2b8c6d1e25",  /* no dash */
                "4d7e9b0g-3c51-4a7f-9a43-0f2b8c6d1e25",  /* not hex */
                "4d7e9b0e-3c51-4a7f-9a43-0f2b8c6d1e2x",  /* not hex, last byte */
                "{4d7e9b0e-3c51-4a7f-9a43-0f2b8c6d1e25", /* one brace */
        };
        struct uvm_error *err = NULL;
        int fd = -1;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                expect_error(agent_client_dial_hv(bad[i], SERVICE, 1000, &fd, &err), &err, EINVAL,
                             "VM id");
                expect_error(agent_client_dial_hv(VM, bad[i], 1000, &fd, &err), &err, EINVAL,
                             "HvSocket service id");
        }
        expect_error(agent_client_dial_hv(NULL, SERVICE, 1000, &fd, &err), &err, EINVAL,
                     "is not a GUID");
        assert_int_equal(fd, -1);
}

static void no_hvsocket_fails_cleanly(void **state)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;
        uint64_t t0 = plat_now_ns();
        int fd = -1, rc;

        /* Braces are fine. */
        rc = agent_client_dial_hv("{" VM "}", SERVICE, 2000, &fd, &err);
        print_message("dial: %d %s\n", rc, err ? err->msg : "");
        if (rc == -EAFNOSUPPORT) {
                /* Wine, or Windows without Hyper-V: no retrying. */
                expect_error(rc, &err, EAFNOSUPPORT, "HvSocket (AF_HYPERV) is not available");
                assert_true((plat_now_ns() - t0) / 1000000u < 1000);
        } else {
                /* A Hyper-V host: no such VM. */
                assert_true(rc < 0);
                assert_non_null(err);
                assert_non_null(strstr(err->msg, VM));
                uvm_error_free(err);
                err = NULL;
        }
        assert_int_equal(fd, -1);
        rc = agent_client_connect_hv(VM, SERVICE, 500, NULL, &c, &err);
        assert_true(rc < 0);
        assert_non_null(err);
        uvm_error_free(err);
        assert_null(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(bad_guids_refused),
                cmocka_unit_test(no_hvsocket_fails_cleanly),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
