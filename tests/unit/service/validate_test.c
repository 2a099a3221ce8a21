/* Request validation helpers. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "service/validate.h"

static void ok(int r)
{
        assert_int_equal(r, 0);
}

static void bad(int r, struct uvm_error **err, const char *needle)
{
        assert_int_equal(r, -EINVAL);
        assert_non_null(*err);
        if (!strstr((*err)->msg, needle))
                fail_msg("message '%s' lacks '%s'", (*err)->msg, needle);
        *err = uvm_error_free(*err);
}

static void test_string(void **state)
{
        struct uvm_error *err = NULL;

        ok(validate_string("f", "abc", 3, &err));
        bad(validate_string("metadata.name", "", 10, &err), &err, "metadata.name is required");
        bad(validate_string("f", NULL, 10, &err), &err, "required");
        bad(validate_string("f", "abcd", 3, &err), &err, "longer than 3");
        bad(validate_string("f", "a\nb", 10, &err), &err, "control character");
}

static void test_cidrs(void **state)
{
        struct uvm_error *err = NULL;

        ok(validate_cidrs("c", "10.88.0.0/16", &err));
        ok(validate_cidrs("c", "10.88.0.0/16,fd00:1::/64", &err));
        ok(validate_cidrs("c", "0.0.0.0/0", &err));
        bad(validate_cidrs("c", "10.88.0.0", &err), &err, "no prefix length");
        bad(validate_cidrs("c", "10.88.0.0/33", &err), &err, "bad prefix length");
        bad(validate_cidrs("c", "10.88.0.0/", &err), &err, "bad prefix length");
        bad(validate_cidrs("c", "10.88.0.0/1x", &err), &err, "bad prefix length");
        bad(validate_cidrs("c", "300.1.1.1/8", &err), &err, "not an IP address");
        bad(validate_cidrs("c", "a,b,c", &err), &err, "at most two");
        bad(validate_cidrs("c", "", &err), &err, "required");
        bad(validate_cidrs("c", "fd00::/129", &err), &err, "bad prefix length");
}

static void test_paths(void **state)
{
        struct uvm_error *err = NULL;

        ok(validate_relative_path("log_path", "ctr/0.log", &err));
        ok(validate_relative_path("log_path", "a..b/c", &err));
        bad(validate_relative_path("log_path", "../x", &err), &err, "must not contain \"..\"");
        bad(validate_relative_path("log_path", "a/../../x", &err), &err, "..");
        bad(validate_relative_path("log_path", "a/..", &err), &err, "..");
        bad(validate_relative_path("log_path", "/abs", &err), &err, "relative");
        ok(validate_absolute_path("host_path", "/var/lib/x", &err));
        bad(validate_absolute_path("host_path", "var", &err), &err, "absolute");
        bad(validate_absolute_path("host_path", "/a/../etc", &err), &err, "..");
}

static void test_hostname(void **state)
{
        struct uvm_error *err = NULL;
        char longest[65], too_long[66];

        memset(longest, 'a', 64);
        longest[64] = '\0';
        memset(too_long, 'a', 65);
        too_long[65] = '\0';
        ok(validate_hostname("hostname", "web-0.svc", &err));
        ok(validate_hostname("hostname", longest, &err));
        bad(validate_hostname("hostname", too_long, &err), &err, "longer than 64 bytes");
        bad(validate_hostname("hostname", "a b", &err), &err, "only letters");
        bad(validate_hostname("hostname", "a_b", &err), &err, "only letters");
        bad(validate_hostname("hostname", "-a", &err), &err, "not first");
        bad(validate_hostname("hostname", "", &err), &err, "empty");
}

static void test_sysctl(void **state)
{
        struct uvm_error *err = NULL;

        ok(validate_sysctl("net.ipv4.ip_forward", "1", &err));
        ok(validate_sysctl("net.ipv4.conf.eth0/100.rp_filter", "2", &err));
        ok(validate_sysctl("net.ipv4.ip_local_port_range", "1024 65000", &err));
        bad(validate_sysctl("net..x", "1", &err), &err, "not valid");
        bad(validate_sysctl("../../etc", "1", &err), &err, "not valid");
        bad(validate_sysctl("/net/x", "1", &err), &err, "not valid");
        bad(validate_sysctl("net.x y", "1", &err), &err, "not valid");
        bad(validate_sysctl("", "1", &err), &err, "not valid");
        bad(validate_sysctl("net.x", "1\nkernel.y=2", &err), &err, "one line");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_string), cmocka_unit_test(test_cidrs),
                cmocka_unit_test(test_paths),  cmocka_unit_test(test_hostname),
                cmocka_unit_test(test_sysctl),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
