/* agent_cmdline_u32: the uvmd.* numbers a VM's PID 1 reads from the kernel
 * command line. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/cmdline.h"

#define KEY "uvmd.bridge_vsock"

static int get(const char *cmdline, uint32_t *v)
{
        *v = 7;
        return agent_cmdline_u32(cmdline, KEY, v);
}

static void test_found(void **state)
{
        uint32_t v;

        assert_int_equal(get("panic=-1 uvmd.bridge_vsock=1073741824 quiet", &v), 1);
        assert_int_equal(v, 1073741824u);
        assert_int_equal(get("uvmd.bridge_vsock=0x40000000\n", &v), 1);
        assert_int_equal(v, 0x40000000u);
        /* A leading zero is decimal, not octal. */
        assert_int_equal(get("uvmd.bridge_vsock=010", &v), 1);
        assert_int_equal(v, 10);
        assert_int_equal(get("uvmd.bridge_vsock=4294967295", &v), 1);
        assert_int_equal(v, UINT32_MAX);
        /* The last one wins, as with the kernel's parameters. */
        assert_int_equal(get("uvmd.bridge_vsock=5 \tuvmd.bridge_vsock=6", &v), 1);
        assert_int_equal(v, 6);
}

static void test_absent(void **state)
{
        uint32_t v;

        assert_int_equal(get("", &v), 0);
        assert_int_equal(get("   ", &v), 0);
        assert_int_equal(get("quiet panic=-1", &v), 0);
        /* Longer keys and bare words are other parameters. */
        assert_int_equal(get("uvmd.bridge_vsock_x=5 uvmd.bridge_vsock xuvmd.bridge_vsock=5", &v),
                         0);
        assert_int_equal(v, 7);
}

static void test_malformed(void **state)
{
        static const char *bad[] = {
                "uvmd.bridge_vsock=",           "uvmd.bridge_vsock=0",
                "uvmd.bridge_vsock=-1",         "uvmd.bridge_vsock=+5",
                "uvmd.bridge_vsock=4294967296", "uvmd.bridge_vsock=12ab",
                "uvmd.bridge_vsock=0x",         "uvmd.bridge_vsock=99999999999999999999999",
                "uvmd.bridge_vsock= 5",
        };
        uint32_t v;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                print_message("%s\n", bad[i]);
                assert_int_equal(get(bad[i], &v), -EINVAL);
        }
        /* A bad one is refused even when a good one came first. */
        assert_int_equal(get("uvmd.bridge_vsock=5 uvmd.bridge_vsock=x", &v), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_found),
                cmocka_unit_test(test_absent),
                cmocka_unit_test(test_malformed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
