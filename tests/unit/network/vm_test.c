/* A VM pod's NIC as read back from iproute2's JSON (network/vm.h). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "network/vm.h"

static void test_link(void **state)
{
        struct net_vm_nic nic = {0};
        struct uvm_error *err = NULL;

        assert_int_equal(net_vm_parse_link("[{\"ifname\":\"eth0\",\"mtu\":1450,"
                                           "\"address\":\"0a:58:0a:58:42:05\"}]",
                                           &nic, NULL),
                         0);
        assert_string_equal(nic.mac, "0a:58:0a:58:42:05");
        assert_int_equal(nic.mtu, 1450);
        assert_int_equal(
                net_vm_parse_link("[{\"mtu\":20,\"address\":\"0a:58:0a:58:42:05\"}]", &nic, &err),
                -EINVAL);
        uvm_error_free(err);
        assert_int_equal(net_vm_parse_link("not json", &nic, NULL), -EINVAL);
        assert_int_equal(net_vm_parse_link("[{\"mtu\":1500,\"address\":\"x\"}]", &nic, NULL),
                         -EINVAL);
}

static void test_addrs(void **state)
{
        struct net_vm_nic nic = {0};

        assert_int_equal(
                net_vm_parse_addrs("[{\"addr_info\":["
                                   "{\"family\":\"inet\",\"local\":\"10.88.66.5\",\"prefixlen\":24,"
                                   "\"scope\":\"global\"},"
                                   "{\"family\":\"inet6\",\"local\":\"fe80::1\",\"prefixlen\":64,"
                                   "\"scope\":\"link\"},"
                                   "{\"family\":\"inet6\",\"local\":\"fd00::5\",\"prefixlen\":64,"
                                   "\"scope\":\"global\"}]}]",
                                   &nic, NULL),
                0);
        /* The guest makes its own link-local address. */
        assert_int_equal(nic.n_addrs, 2);
        assert_string_equal(nic.addrs[0], "10.88.66.5/24");
        assert_string_equal(nic.addrs[1], "fd00::5/64");
        assert_int_equal(net_vm_parse_addrs("[{\"addr_info\":[]}]", &nic, NULL), -EINVAL);
        assert_int_equal(net_vm_parse_addrs("{}", &nic, NULL), -EINVAL);
}

static void test_routes(void **state)
{
        struct net_vm_nic nic = {0};

        assert_int_equal(net_vm_parse_routes("[{\"dst\":\"default\",\"gateway\":\"10.88.66.1\"},"
                                             "{\"dst\":\"10.88.66.0/24\",\"scope\":\"link\"},"
                                             "{\"dst\":\"10.1.2.3\",\"gateway\":\"10.88.66.1\"},"
                                             "{\"dst\":\"default\",\"gateway\":\"fd00::1\"}]",
                                             &nic, NULL),
                         0);
        /* On-link routes follow from the addresses. */
        assert_int_equal(nic.n_routes, 3);
        assert_string_equal(nic.routes[0].dst, "0.0.0.0/0");
        assert_string_equal(nic.routes[0].gw, "10.88.66.1");
        assert_string_equal(nic.routes[1].dst, "10.1.2.3/32");
        assert_string_equal(nic.routes[2].dst, "::/0");
        assert_int_equal(net_vm_parse_routes("null", &nic, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_link),
                cmocka_unit_test(test_addrs),
                cmocka_unit_test(test_routes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
