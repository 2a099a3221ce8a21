/* The pure parts of a VM pod's added NICs (sandbox/drivers/qemu/nic.h): root
 * port choice, records, ids and the guest's request. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sandbox/drivers/qemu/nic.h"

static void test_free_port(void **state)
{
        bool used[QNIC_PORTS] = {false};

        (void) state;
        assert_int_equal(qnic_free_port(used), 0);
        used[0] = used[2] = true;
        assert_int_equal(qnic_free_port(used), 1);
        used[1] = true;
        assert_int_equal(qnic_free_port(used), 3);
        used[3] = true;
        assert_int_equal(qnic_free_port(used), -ENOSPC);
}

static void test_parse_record(void **state)
{
        unsigned port = 99;

        (void) state;
        assert_int_equal(qnic_parse_record("2\n", &port), 0);
        assert_int_equal(port, 2);
        assert_int_equal(qnic_parse_record("0", &port), 0);
        assert_int_equal(port, 0);
        port = 99;
        assert_int_equal(qnic_parse_record("4\n", &port), -EINVAL); /* past rp3 */
        assert_int_equal(qnic_parse_record("", &port), -EINVAL);
        assert_int_equal(qnic_parse_record(NULL, &port), -EINVAL);
        assert_int_equal(qnic_parse_record("-1\n", &port), -EINVAL);
        assert_int_equal(qnic_parse_record(" 1\n", &port), -EINVAL);
        assert_int_equal(qnic_parse_record("1x\n", &port), -EINVAL);
        assert_int_equal(qnic_parse_record("1\n\n", &port), -EINVAL);
        assert_int_equal(qnic_parse_record("99999999999999999999", &port), -EINVAL);
        assert_int_equal(port, 99); /* untouched on failure */
}

static void test_id_valid(void **state)
{
        char longest[65], too_long[66];

        (void) state;
        memset(longest, 'a', 64);
        longest[64] = '\0';
        memset(too_long, 'a', 65);
        too_long[65] = '\0';
        assert_true(qnic_id_valid("vn1"));
        assert_true(qnic_id_valid("a.b_c-9"));
        assert_true(qnic_id_valid(longest));
        assert_false(qnic_id_valid(too_long));
        assert_false(qnic_id_valid(""));
        assert_false(qnic_id_valid(NULL));
        /* what would break a QMP id or a path under the records' dir */
        assert_false(qnic_id_valid("a/b"));
        assert_false(qnic_id_valid("a b"));
        assert_false(qnic_id_valid("a,b"));
        assert_false(qnic_id_valid("a\"b"));
}

static const char *str_at(json_object *o, const char *k, size_t i)
{
        return json_object_get_string(json_object_array_get_idx(json_object_object_get(o, k), i));
}

static const char *const addrs[] = {"10.0.0.2/24", "fd00::2/64"};
static const char *const dst[] = {"10.1.0.0/16", "10.2.0.0/16"};
static const char *const gw[] = {"10.0.0.1", NULL};
static const char *const old_addrs[] = {"10.0.0.9/24"};

static void test_guest_request(void **state)
{
        struct drv_nic nic = {.netns_path = "/run/netns/x",
                              .ifname = "vnet1",
                              .mac = "02:00:00:00:00:02",
                              .mtu = 1400,
                              .addrs = addrs,
                              .n_addrs = 2,
                              .route_dst = dst,
                              .route_gw = gw,
                              .n_routes = 2};
        struct drv_nic old = nic;
        json_object *s, *rt;

        (void) state;
        /* added: waits for the adapter, no old addresses, no FromMac */
        s = qnic_guest_request(&nic, NULL, false, 20000);
        assert_string_equal(json_object_get_string(json_object_object_get(s, "Mac")), nic.mac);
        assert_int_equal(json_object_get_int(json_object_object_get(s, "Mtu")), 1400);
        assert_int_equal(json_object_get_int(json_object_object_get(s, "WaitMs")), 20000);
        assert_null(json_object_object_get(s, "FromMac"));
        assert_null(json_object_object_get(s, "OldAddresses"));
        assert_null(json_object_object_get(s, "Remove"));
        assert_string_equal(str_at(s, "Addresses", 1), "fd00::2/64");
        rt = json_object_array_get_idx(json_object_object_get(s, "Routes"), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(rt, "Gateway")),
                            "10.0.0.1");
        rt = json_object_array_get_idx(json_object_object_get(s, "Routes"), 1);
        assert_string_equal(json_object_get_string(json_object_object_get(rt, "Destination")),
                            "10.2.0.0/16");
        assert_null(json_object_object_get(rt, "Gateway")); /* on-link */
        json_object_put(s);

        /* modified: the old addresses go, a new MAC replaces the old one */
        old.mac = "02:00:00:00:00:01";
        old.addrs = old_addrs;
        old.n_addrs = 1;
        s = qnic_guest_request(&nic, &old, false, 0);
        assert_string_equal(json_object_get_string(json_object_object_get(s, "FromMac")),
                            "02:00:00:00:00:01");
        assert_string_equal(str_at(s, "OldAddresses", 0), "10.0.0.9/24");
        assert_int_equal(json_object_array_length(json_object_object_get(s, "Addresses")), 2);
        json_object_put(s);
        /* the same MAC in other case is no change */
        old.mac = "02:00:00:00:00:02";
        s = qnic_guest_request(&nic, &old, false, 0);
        assert_null(json_object_object_get(s, "FromMac"));
        json_object_put(s);

        /* removed: its addresses go, nothing is added */
        s = qnic_guest_request(&nic, NULL, true, 0);
        assert_true(json_object_get_boolean(json_object_object_get(s, "Remove")));
        assert_string_equal(str_at(s, "OldAddresses", 0), "10.0.0.2/24");
        assert_null(json_object_object_get(s, "Addresses"));
        assert_null(json_object_object_get(s, "Routes"));
        json_object_put(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_free_port),
                cmocka_unit_test(test_parse_record),
                cmocka_unit_test(test_id_valid),
                cmocka_unit_test(test_guest_request),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
