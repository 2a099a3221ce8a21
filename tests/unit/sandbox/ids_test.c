/* Ids: format, randomness, unique-prefix lookup and its errors. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/ids.h"

static void test_new(void **state)
{
        char a[SBX_ID_LEN + 1], b[SBX_ID_LEN + 1];

        assert_int_equal(sbx_id_new(a), 0);
        assert_int_equal(sbx_id_new(b), 0);
        assert_true(sbx_id_valid(a));
        assert_int_equal(strlen(a), 64);
        assert_string_not_equal(a, b);
        assert_false(sbx_id_valid(NULL));
        assert_false(sbx_id_valid("abc"));
        a[5] = 'G';
        assert_false(sbx_id_valid(a));
}

static void test_match(void **state)
{
        const char *ids[] = {"abc123", "abd999", "ffff00"};
        struct uvm_error *err = NULL;

        assert_int_equal(sbx_id_match(ids, 3, "abc", "pod", NULL), 0);
        assert_int_equal(sbx_id_match(ids, 3, "abd999", "pod", NULL), 1);
        assert_int_equal(sbx_id_match(ids, 3, "f", "pod", NULL), 2);
        assert_int_equal(sbx_id_match(ids, 3, "ab", "pod", &err), -EINVAL);
        assert_string_equal(err->msg, "pod id prefix 'ab' is ambiguous");
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(sbx_id_match(ids, 3, "0", "container", &err), -ENOENT);
        assert_string_equal(err->msg, "container '0' not found");
        uvm_error_free(err);
        err = NULL;
        /* Not hex: no such object (stop/remove of it succeed). */
        assert_int_equal(sbx_id_match(ids, 3, "../x", "pod", &err), -ENOENT);
        assert_string_equal(err->msg, "pod '../x' not found");
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(sbx_id_match(ids, 3, "2c9a4e1f-7b3d-4c2a-9e8f-0123456789ab", "pod", &err),
                         -ENOENT);
        uvm_error_free(err);
        assert_int_equal(sbx_id_match(ids, 3, "", "pod", NULL), -EINVAL);
        assert_int_equal(sbx_id_match(ids, 0, "a", "pod", NULL), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new),
                cmocka_unit_test(test_match),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
