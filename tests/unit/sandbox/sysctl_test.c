/* Which sysctls a pod may set: per-namespace ones, in namespaces it owns. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/sysctl.h"

static void test_namespace_of(void **state)
{
        assert_int_equal(sysctl_namespace("kernel.shm_rmid_forced"), SYSCTL_NS_IPC);
        assert_int_equal(sysctl_namespace("kernel.msgmax"), SYSCTL_NS_IPC);
        assert_int_equal(sysctl_namespace("kernel.sem"), SYSCTL_NS_IPC);
        assert_int_equal(sysctl_namespace("fs.mqueue.msg_max"), SYSCTL_NS_IPC);
        assert_int_equal(sysctl_namespace("net.ipv4.ip_forward"), SYSCTL_NS_NET);
        assert_int_equal(sysctl_namespace("net.core.somaxconn"), SYSCTL_NS_NET);
        assert_int_equal(sysctl_namespace("kernel.domainname"), SYSCTL_NS_UTS);
        assert_int_equal(sysctl_namespace("kernel.hostname"), SYSCTL_NS_NONE);
        assert_int_equal(sysctl_namespace("kernel.shmall2"), SYSCTL_NS_NONE);
        assert_int_equal(sysctl_namespace("vm.swappiness"), SYSCTL_NS_NONE);
        assert_int_equal(sysctl_namespace("fs.mqueue"), SYSCTL_NS_NONE);
        assert_int_equal(sysctl_namespace("network.x"), SYSCTL_NS_NONE);
}

static void expect(const char *name, bool host_net, bool host_ipc, const char *needle)
{
        struct uvm_error *err = NULL;
        int r = sysctl_check_for_pod(name, host_net, host_ipc, &err);

        if (!needle) {
                assert_int_equal(r, 0);
                return;
        }
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err->msg, name));
        if (!strstr(err->msg, needle))
                fail_msg("'%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
}

static void test_for_pod(void **state)
{
        expect("net.ipv4.ip_forward", false, true, NULL);
        expect("net.ipv4.ip_forward", true, false, "host's network");
        expect("kernel.domainname", true, false, "host's network");
        expect("kernel.msgmax", false, false, NULL);
        expect("kernel.msgmax", true, false, NULL); /* IPC is not the network */
        expect("kernel.msgmax", false, true, "host's IPC");
        expect("vm.swappiness", false, false, "not namespaced");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_namespace_of),
                cmocka_unit_test(test_for_pod),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
