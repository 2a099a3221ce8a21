/* The ComputeAgent's input checks (network/nic.h): ids, interface names,
 * MACs and CIDRs as they arrive from a network proxy. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "network/nic.h"

static void test_ids_and_names(void **state)
{
        (void) state;
        assert_int_equal(nic_check_id("nic_id", "ca1", NULL), 0);
        assert_int_equal(nic_check_id("nic_id", "a.b_c-1", NULL), 0);
        assert_true(nic_check_id("nic_id", "", NULL) < 0);
        assert_true(nic_check_id("nic_id", "../x", NULL) < 0);
        assert_true(nic_check_id("nic_id", "a b", NULL) < 0);
        assert_true(nic_check_id("nic_id",
                                 "0123456789012345678901234567890123456789012345678901234567890123"
                                 "4",
                                 NULL) < 0);
        assert_int_equal(nic_check_ifname("interface_name", "net1", NULL), 0);
        assert_true(nic_check_ifname("interface_name", "sixteen-chars-xx", NULL) < 0);
        assert_true(nic_check_ifname("interface_name", "a/b", NULL) < 0);
        assert_true(nic_check_ifname("interface_name", "", NULL) < 0);
}

static void test_macs(void **state)
{
        (void) state;
        assert_int_equal(nic_check_mac("02:42:ac:11:00:02", NULL), 0);
        assert_true(nic_check_mac("02:42:ac:11:00", NULL) < 0);
        assert_true(nic_check_mac("02:42:ac:11:00:0g", NULL) < 0);
        assert_true(nic_check_mac("0242ac110002", NULL) < 0);
        assert_true(nic_check_mac("02:42:ac:11:00:02:03", NULL) < 0);
}

static void test_cidrs(void **state)
{
        int fam = 0;

        (void) state;
        assert_int_equal(nic_check_cidr("addresses[0]", "10.99.7.2/24", &fam, NULL), 0);
        assert_int_equal(fam, AF_INET);
        assert_int_equal(nic_check_cidr("addresses[0]", "fd00::2/64", &fam, NULL), 0);
        assert_int_equal(fam, AF_INET6);
        assert_true(nic_check_cidr("addresses[0]", "10.99.7.2", &fam, NULL) < 0);
        assert_true(nic_check_cidr("addresses[0]", "10.99.7.2/33", &fam, NULL) < 0);
        assert_true(nic_check_cidr("addresses[0]", "fd00::2/129", &fam, NULL) < 0);
        assert_true(nic_check_cidr("addresses[0]", "10.99.7/24", &fam, NULL) < 0);
        assert_true(nic_check_cidr("addresses[0]", "10.99.7.2/-1", &fam, NULL) < 0);
        assert_true(nic_check_cidr("addresses[0]", "", &fam, NULL) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ids_and_names),
                cmocka_unit_test(test_macs),
                cmocka_unit_test(test_cidrs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
