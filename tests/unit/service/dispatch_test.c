/* The method table: built from protoc-c descriptors, bindings checked. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "proto/api.pb-c.h"

#include "service/dispatch.h"

static int fake_unary(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        return 0;
}

static int fake_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, struct uvm_error **err)
{
        return 0;
}

static const ProtobufCServiceDescriptor *const services[] = {
        &runtime__v1__runtime_service__descriptor,
        &runtime__v1__image_service__descriptor,
        &grpc__health__v1__health__descriptor,
};

static const struct srv_binding good[] = {
        {"runtime.v1.RuntimeService", "Version", SRV_UNARY, true, fake_unary, NULL},
        {"grpc.health.v1.Health", "Watch", SRV_SERVER_STREAM, false, NULL, fake_stream},
        {0},
};

static void test_every_method_listed(void **state)
{
        const struct srv_binding *const b[] = {good};
        struct dispatch_table *t = NULL;
        struct uvm_error *err = NULL;
        size_t expected = 0;

        for (size_t i = 0; i < 3; i++)
                expected += services[i]->n_methods;
        assert_int_equal(dispatch_table_new(services, 3, b, 1, &t, &err), 0);
        assert_int_equal(dispatch_count(t), expected);
        /* CRI has at least the 30 RuntimeService + 5 ImageService calls. */
        assert_true(expected >= 37);
        dispatch_table_free(t);
}

static void test_lookup(void **state)
{
        const struct srv_binding *const b[] = {good};
        struct dispatch_table *t = NULL;
        const struct dispatch_entry *e;
        const char *p;

        assert_int_equal(dispatch_table_new(services, 3, b, 1, &t, NULL), 0);
        p = "/runtime.v1.RuntimeService/Version";
        e = dispatch_lookup(t, p, strlen(p));
        assert_non_null(e);
        assert_ptr_equal(e->binding, &good[0]);
        assert_ptr_equal(e->method->input, &runtime__v1__version_request__descriptor);

        p = "/runtime.v1.RuntimeService/RunPodSandbox";
        e = dispatch_lookup(t, p, strlen(p));
        assert_non_null(e);
        assert_null(e->binding); /* known but unimplemented */

        p = "/runtime.v1.ImageService/PullImage";
        assert_non_null(dispatch_lookup(t, p, strlen(p)));
        /* A prefix of a path, a longer path and other services are not found. */
        p = "/runtime.v1.RuntimeService/Versio";
        assert_null(dispatch_lookup(t, p, strlen(p)));
        p = "/runtime.v1.RuntimeService/VersionX";
        assert_null(dispatch_lookup(t, p, strlen(p)));
        p = "/runtime.v1alpha2.RuntimeService/Version";
        assert_null(dispatch_lookup(t, p, strlen(p)));
        assert_null(dispatch_lookup(t, "", 0));
        /* The length bounds the comparison (slices are not NUL-terminated). */
        p = "/runtime.v1.RuntimeService/VersionGARBAGE";
        assert_non_null(dispatch_lookup(t, p, strlen("/runtime.v1.RuntimeService/Version")));
        dispatch_table_free(t);
}

static void expect_bad_binding(const struct srv_binding *bad, const char *needle)
{
        const struct srv_binding *const b[] = {bad};
        struct dispatch_table *t = NULL;
        struct uvm_error *err = NULL;

        assert_true(dispatch_table_new(services, 3, b, 1, &t, &err) < 0);
        assert_null(t);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, needle));
        uvm_error_free(err);
}

static void test_bad_bindings(void **state)
{
        static const struct srv_binding unknown[] = {
                {"runtime.v1.RuntimeService", "Versionn", SRV_UNARY, true, fake_unary, NULL},
                {0},
        };
        static const struct srv_binding twice[] = {
                {"runtime.v1.RuntimeService", "Version", SRV_UNARY, true, fake_unary, NULL},
                {"runtime.v1.RuntimeService", "Version", SRV_UNARY, true, fake_unary, NULL},
                {0},
        };
        static const struct srv_binding mismatch[] = {
                {"grpc.health.v1.Health", "Watch", SRV_SERVER_STREAM, false, fake_unary, NULL},
                {0},
        };

        expect_bad_binding(unknown, "unknown method runtime.v1.RuntimeService/Versionn");
        expect_bad_binding(twice, "bound twice");
        expect_bad_binding(mismatch, "does not match kind");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_method_listed),
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_bad_bindings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
