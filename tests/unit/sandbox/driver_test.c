/* The driver table: lookup by name, an extra (test) driver, result clearing. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/driver-internal.h"

static const struct drv_ops fake_ops = {.name = "fake"};

static void test_lookup(void **state)
{
        assert_null(drv_lookup(NULL));
        assert_non_null(drv_lookup("qemu"));
        assert_string_equal(drv_lookup("ns")->name, "ns");
        assert_null(drv_lookup("hcs")); /* not built yet */
        assert_null(drv_lookup("fake"));
        drv_register_extra(&fake_ops);
        assert_ptr_equal(drv_lookup("fake"), &fake_ops);
        assert_null(drv_lookup("fak"));
        drv_register_extra(NULL);
        assert_null(drv_lookup("fake"));
}

static void test_exec_result_clear(void **state)
{
        struct drv_exec_result r = {.exit_code = 3, .out = strdup("x"), .out_len = 1};

        drv_exec_result_clear(&r);
        assert_null(r.out);
        assert_int_equal(r.out_len, 0);
        assert_int_equal(r.exit_code, 0);
        drv_exec_result_clear(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_exec_result_clear),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
