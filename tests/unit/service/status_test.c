/* errno → gRPC status: the one table of STYLE.md. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "service/status.h"

static void test_table(void **state)
{
        assert_int_equal(status_from_errno(0), GRPC_STATUS_OK);
        assert_int_equal(status_from_errno(-ENOENT), GRPC_STATUS_NOT_FOUND);
        assert_int_equal(status_from_errno(ENOENT), GRPC_STATUS_NOT_FOUND);
        assert_int_equal(status_from_errno(-EEXIST), GRPC_STATUS_ALREADY_EXISTS);
        assert_int_equal(status_from_errno(-EINVAL), GRPC_STATUS_INVALID_ARGUMENT);
        assert_int_equal(status_from_errno(-ETIMEDOUT), GRPC_STATUS_DEADLINE_EXCEEDED);
        assert_int_equal(status_from_errno(-EAGAIN), GRPC_STATUS_UNAVAILABLE);
        assert_int_equal(status_from_errno(-EBUSY), GRPC_STATUS_FAILED_PRECONDITION);
        assert_int_equal(status_from_errno(-ENODEV), GRPC_STATUS_FAILED_PRECONDITION);
        assert_int_equal(status_from_errno(-EACCES), GRPC_STATUS_PERMISSION_DENIED);
        assert_int_equal(status_from_errno(-ENOSYS), GRPC_STATUS_UNIMPLEMENTED);
        assert_int_equal(status_from_errno(-ENOSPC), GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_int_equal(status_from_errno(-EMSGSIZE), GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_int_equal(status_from_errno(-EKEYREJECTED), GRPC_STATUS_UNAUTHENTICATED);
        assert_int_equal(status_from_errno(-EIO), GRPC_STATUS_INTERNAL);
        assert_int_equal(status_from_errno(-EPIPE), GRPC_STATUS_INTERNAL);
}

static void test_names(void **state)
{
        assert_string_equal(status_code_name(GRPC_STATUS_OK), "OK");
        assert_string_equal(status_code_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
        assert_string_equal(status_code_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
        assert_string_equal(status_code_name((grpc_status_code) 99), "UNKNOWN");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
