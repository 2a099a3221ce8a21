/* hcn_endpoint_parse: endpoint documents as HcnQueryEndpointProperties
 * writes them (field names as hcsshim's hcn package and Microsoft's HCN
 * schema documentation spell them), and malformed ones refused with a
 * message naming what is wrong. Portable: Linux and Wine. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "network/hcn.h"
#include "tests/unit/hcn/fake_hcn.h"

#define MAC "\"MacAddress\":\"00-15-5D-8A-01-05\""

static struct hcn_endpoint parse_ok(const char *doc)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        struct hcn_endpoint ep;

        if (hcn_endpoint_parse(doc, &ep, &err) != 0)
                fail_msg("'%s': %s", doc, err ? err->msg : "(no message)");
        assert_null(err);
        return ep;
}

static void test_realistic_document(void **state)
{
        char doc[1024];
        struct hcn_endpoint ep =
                parse_ok(fake_hcn_doc(doc, sizeof(doc), "8F14E45F-CEEA-467A-9575-A1B2C3D4E5F6",
                                      "00-15-5D-8A-01-06", "10.244.1.5", 24, "10.244.1.1"));

        assert_string_equal(ep.id, "8F14E45F-CEEA-467A-9575-A1B2C3D4E5F6");
        assert_string_equal(ep.mac, "00-15-5D-8A-01-06");
        assert_string_equal(ep.ip, "10.244.1.5");
        assert_int_equal(ep.prefix_len, 24);
        assert_string_equal(ep.gateway, "10.244.1.1");
}

/* Microsoft's schema page spells "IPConfigurations"/"IPAddress"; HCN's
 * output (hcsshim) "IpConfigurations"/"IpAddress": both are read. */
static void test_names_without_case(void **state)
{
        struct hcn_endpoint ep = parse_ok(
                "{\"macaddress\":\"00:15:5d:8a:01:05\",\"IPConfigurations\":[{\"IPAddress\":"
                "\"172.16.0.9\",\"prefixLength\":16}],\"ROUTES\":[{\"nexthop\":\"172.16.0.1\","
                "\"destinationprefix\":\"0.0.0.0/0\"}]}");

        assert_string_equal(ep.id, "");
        assert_string_equal(ep.mac, "00:15:5d:8a:01:05");
        assert_string_equal(ep.ip, "172.16.0.9");
        assert_int_equal(ep.prefix_len, 16);
        assert_string_equal(ep.gateway, "172.16.0.1");
}

/* Dual stack: the IPv4 address and its default route, whatever the order. */
static void test_dual_stack_prefers_ipv4(void **state)
{
        struct hcn_endpoint ep = parse_ok(
                "{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"fd00:10:244::5\",\"PrefixLength\":"
                "64},{\"IpAddress\":\"10.244.1.5\",\"PrefixLength\":24}],\"Routes\":[{\"NextHop\":"
                "\"fd00:10:244::1\",\"DestinationPrefix\":\"::/0\"},{\"NextHop\":\"10.244.1.254\","
                "\"DestinationPrefix\":\"10.96.0.0/12\"},{\"NextHop\":\"10.244.1.1\","
                "\"DestinationPrefix\":\"0.0.0.0/0\",\"Metric\":5}]}");

        assert_string_equal(ep.ip, "10.244.1.5");
        assert_int_equal(ep.prefix_len, 24);
        assert_string_equal(ep.gateway, "10.244.1.1");
}

static void test_ipv6_only_and_no_routes(void **state)
{
        struct hcn_endpoint ep = parse_ok(
                "{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"2001:db8::ffff:10.0.0.1\","
                "\"PrefixLength\":128}],\"Routes\":[{\"NextHop\":\"fe80::1\","
                "\"DestinationPrefix\":\"::/0\"}]}");

        assert_string_equal(ep.ip, "2001:db8::ffff:10.0.0.1");
        assert_int_equal(ep.prefix_len, 128);
        assert_string_equal(ep.gateway, "fe80::1");

        ep = parse_ok("{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.2\",\"PrefixLength\":"
                      "0}]}\n");
        assert_string_equal(ep.gateway, "");
        assert_int_equal(ep.prefix_len, 0);
}

/* An IpConfigurations list with one address, for the address cases. */
static const char *with_ip(char *buf, size_t size, const char *ip, int prefix)
{
        snprintf(buf, size,
                 "{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"%s\",\"PrefixLength\":%d}]}", ip,
                 prefix);
        return buf;
}

static void test_addresses(void **state)
{
        static const char *const good[] = {
                "0.0.0.0",
                "255.255.255.255",
                "::",
                "::1",
                "1::",
                "2001:db8::",
                "::ffff:1.2.3.4",
                "1:2:3:4:5:6:7:8",
                "1:2:3:4:5:6::8",
                "FE80::ABCD",
        };
        static const char *const bad[] = {
                "",          "1.2.3",
                "1.2.3.4.5", "256.1.1.1",
                "01.2.3.4",  "1.2.3.4 ",
                "1..2.3",    ":",
                ":::",       "1:::2",
                "1::2::3",   "1:2:3:4:5:6:7:8:9",
                "12345::",   "fe80::1%eth0",
                "1:",        ":1",
                "::g",       "1:2:3:4:5:6:7:1.2.3.4",
                "::1.2.3",   "a.b.c.d",
        };
        char buf[256];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_string_equal(parse_ok(with_ip(buf, sizeof(buf), good[i], 0)).ip, good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                _cleanup_error_ struct uvm_error *err = NULL;
                struct hcn_endpoint ep;

                if (hcn_endpoint_parse(with_ip(buf, sizeof(buf), bad[i], 0), &ep, &err) != -EIO)
                        fail_msg("'%s' accepted", bad[i]);
                assert_string_equal(err->msg, "IpConfigurations[0]: no valid IpAddress");
        }
}

static void test_malformed(void **state)
{
        static const struct {
                const char *doc, *want;
        } cases[] = {
                {"", "not a JSON document"},
                {"{" MAC "} {}", "not a JSON document"},
                {"{" MAC ",}", "not a JSON document"},
                {"\"text\"", "not a JSON object"},
                {"{\"ID\":\"not-a-guid\"," MAC "}", "ID is not a GUID"},
                {"{\"ID\":7," MAC "}", "ID is not a GUID"},
                {"{\"MacAddress\":\"00-15-5D-8A-01\"}", "no valid MacAddress"},
                {"{\"MacAddress\":\"00-15:5D-8A-01-05\"}", "no valid MacAddress"},
                {"{\"MacAddress\":\"00-15-5D-8A-01-0G\"}", "no valid MacAddress"},
                {"{\"MacAddress\":5}", "no valid MacAddress"},
                {"{" MAC "}", "no IpConfigurations"},
                {"{" MAC ",\"IpConfigurations\":[]}", "no IpConfigurations"},
                {"{" MAC ",\"IpConfigurations\":{}}", "no IpConfigurations"},
                {"{" MAC ",\"IpConfigurations\":[7]}", "IpConfigurations[0]: no valid IpAddress"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\"}]}",
                 "IpConfigurations[0]: PrefixLength is not a number"},
                {"{" MAC
                 ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":\"24\"}]}",
                 "IpConfigurations[0]: PrefixLength is not a number"},
                {"{" MAC
                 ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":24.5}]}",
                 "IpConfigurations[0]: PrefixLength is not a number"},
                {"{" MAC
                 ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":33}]}",
                 "IpConfigurations[0]: PrefixLength 33 out of range"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"::1\",\"PrefixLength\":-1}]}",
                 "IpConfigurations[0]: PrefixLength -1 out of range"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"::1\",\"PrefixLength\":129}]}",
                 "IpConfigurations[0]: PrefixLength 129 out of range"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":8},"
                 "{\"IpAddress\":\"x\",\"PrefixLength\":8}]}",
                 "IpConfigurations[1]: no valid IpAddress"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":8}],"
                 "\"Routes\":{}}",
                 "Routes is not a list"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":8}],"
                 "\"Routes\":[null]}",
                 "Routes[0] is not an object"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":8}],"
                 "\"Routes\":[{\"DestinationPrefix\":\"0.0.0.0/0\"}]}",
                 "Routes[0]: no valid IPv4 NextHop"},
                {"{" MAC ",\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.1\",\"PrefixLength\":8}],"
                 "\"Routes\":[{\"DestinationPrefix\":\"0.0.0.0/0\",\"NextHop\":\"fe80::1\"}]}",
                 "Routes[0]: no valid IPv4 NextHop"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_error_ struct uvm_error *err = NULL;
                struct hcn_endpoint ep;

                memset(&ep, 0xAA, sizeof(ep));
                assert_int_equal(hcn_endpoint_parse(cases[i].doc, &ep, &err), -EIO);
                if (!STR_EQ(err->msg, cases[i].want))
                        fail_msg("case %zu: '%s', want '%s'", i, err->msg, cases[i].want);
                assert_int_equal(((unsigned char *) &ep)[0], 0xAA);
        }
}

/* Sizes and nesting are bounded before anything is decoded. */
static void test_bounds(void **state)
{
        _cleanup_error_ struct uvm_error *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
        _cleanup_free_ char *big = malloc(2 * 1024 * 1024), *deep = malloc(4096),
                            *many = malloc(8192);
        struct hcn_endpoint ep;
        size_t n;

        assert_non_null(big);
        memset(big, ' ', 2 * 1024 * 1024 - 1);
        big[2 * 1024 * 1024 - 1] = '\0';
        big[0] = '{';
        assert_int_equal(hcn_endpoint_parse(big, &ep, &e1), -EIO);
        assert_non_null(strstr(e1->msg, "at most 1048576"));

        n = 0;
        for (int i = 0; i < 100; i++)
                n += (size_t) sprintf(deep + n, "{\"a\":");
        strcpy(deep + n, "1");
        assert_int_equal(hcn_endpoint_parse(deep, &ep, &e2), -EIO);
        assert_string_equal(e2->msg, "not a JSON document");

        n = (size_t) sprintf(many, "{" MAC ",\"IpConfigurations\":[");
        for (int i = 0; i < 65; i++)
                n += (size_t) sprintf(many + n,
                                      "%s{\"IpAddress\":\"10.0.0.%d\",\"PrefixLength\":8}",
                                      i ? "," : "", i);
        strcpy(many + n, "]}");
        assert_int_equal(hcn_endpoint_parse(many, &ep, &e3), -EIO);
        assert_string_equal(e3->msg, "65 IpConfigurations, at most 64");

        assert_int_equal(hcn_endpoint_parse(NULL, &ep, &e4), -EIO);
        assert_string_equal(e4->msg, "no document");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_realistic_document),
                cmocka_unit_test(test_names_without_case),
                cmocka_unit_test(test_dual_stack_prefers_ipv4),
                cmocka_unit_test(test_ipv6_only_and_no_routes),
                cmocka_unit_test(test_addresses),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
