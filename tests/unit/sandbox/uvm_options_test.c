/* UVM options: hcsshim's defaults, overrides by resources and annotations,
 * and the validation errors naming the annotation. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/uvm_options.h"

static int resolve1(const char *key, const char *value, unsigned cpus, struct drv_uvm_options *o,
                    struct uvm_error **err)
{
        struct uvm_kv kv = {key, value};
        struct uvm_options_input in = {.annotations = &kv,
                                       .n_annotations = key ? 1 : 0,
                                       .host_cpus = cpus,
                                       .allow_annotations = true};

        return uvm_options_resolve(&in, o, err);
}

static void test_defaults(void **state)
{
        struct drv_uvm_options o;

        assert_int_equal(resolve1(NULL, NULL, 8, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 1024);
        assert_int_equal(o.processors, 2);
        assert_true(o.allow_overcommit);
        assert_false(o.deferred_commit);
        assert_int_equal(resolve1(NULL, NULL, 1, &o, NULL), 0);
        assert_int_equal(o.processors, 1); /* 1-CPU host */
}

static void test_memory_annotation(void **state)
{
        struct drv_uvm_options o;

        assert_int_equal(resolve1(UVM_ANN_MEMORY, "511", 4, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 512); /* rounded up to even */
        assert_int_equal(resolve1(UVM_ANN_MEMORY, "2048", 4, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 2048);
}

static void expect_bad(const char *key, const char *value, const char *msg_part)
{
        struct uvm_error *err = NULL;
        struct drv_uvm_options o = {.memory_mb = 7};

        assert_int_equal(resolve1(key, value, 4, &o, &err), -EINVAL);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, key));
        assert_non_null(strstr(err->msg, msg_part));
        assert_int_equal(o.memory_mb, 7); /* untouched on failure */
        uvm_error_free(err);
}

static void test_bad_annotations(void **state)
{
        expect_bad(UVM_ANN_MEMORY, "", "not an integer");
        expect_bad(UVM_ANN_MEMORY, "abc", "not an integer");
        expect_bad(UVM_ANN_MEMORY, "-5", "not an integer");
        expect_bad(UVM_ANN_MEMORY, "12", "from 64");
        expect_bad(UVM_ANN_MEMORY, "99999999999999999999999", "not an integer");
        expect_bad(UVM_ANN_MEMORY, "1024x", "not an integer");
        expect_bad(UVM_ANN_PROCESSORS, "0", "from 1 to 1024");
        expect_bad(UVM_ANN_PROCESSORS, "2.5", "not an integer");
        expect_bad(UVM_ANN_OVERCOMMIT, "yes", "true or false");
        expect_bad(UVM_ANN_DEFERRED, "", "true or false");
}

static void test_processors_clamped(void **state)
{
        struct drv_uvm_options o;

        assert_int_equal(resolve1(UVM_ANN_PROCESSORS, "16", 4, &o, NULL), 0);
        assert_int_equal(o.processors, 4);
        assert_int_equal(resolve1(UVM_ANN_PROCESSORS, "3", 4, &o, NULL), 0);
        assert_int_equal(o.processors, 3);
}

static void test_deferred_needs_overcommit(void **state)
{
        struct uvm_kv kv[] = {{UVM_ANN_OVERCOMMIT, "false"}, {UVM_ANN_DEFERRED, "true"}};
        struct uvm_options_input in = {
                .annotations = kv, .n_annotations = 2, .host_cpus = 2, .allow_annotations = true};
        struct uvm_error *err = NULL;
        struct drv_uvm_options o;

        assert_int_equal(uvm_options_resolve(&in, &o, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "deferred commit requires"));
        uvm_error_free(err);
        kv[0].value = "true";
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_true(o.allow_overcommit);
        assert_true(o.deferred_commit);
        kv[1].value = "false";
        kv[0].value = "false";
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_false(o.allow_overcommit);
}

static void test_from_resources(void **state)
{
        struct uvm_kv kv = {UVM_ANN_MEMORY, "300"};
        struct uvm_options_input in = {.host_cpus = 8,
                                       .memory_limit_bytes = (700ll << 20) + 1,
                                       .cpu_quota = 250000,
                                       .cpu_period = 100000};
        struct uvm_error *err = NULL;
        struct drv_uvm_options o;

        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 702); /* 701 rounded up to even */
        assert_int_equal(o.processors, 3);  /* ceil(2.5) */
        in.annotations = &kv;               /* ignored unless the config allows them */
        in.n_annotations = 1;
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 702);
        in.allow_annotations = true; /* then it may make the VM smaller... */
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 300);
        kv.value = "4096"; /* ...but never bigger than the pod's limits */
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 702);
        kv = (struct uvm_kv){UVM_ANN_PROCESSORS, "8"};
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.processors, 3);
        in.n_annotations = 0;
        in.memory_limit_bytes = 1;
        assert_int_equal(uvm_options_resolve(&in, &o, NULL), 0);
        assert_int_equal(o.memory_mb, 64); /* raised to the minimum */
        in.memory_limit_bytes = -1;
        assert_int_equal(uvm_options_resolve(&in, &o, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "negative"));
        uvm_error_free(err);
        err = NULL;
        in.memory_limit_bytes = 1ll << 62;
        assert_int_equal(uvm_options_resolve(&in, &o, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "exceeds"));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_memory_annotation),
                cmocka_unit_test(test_bad_annotations),
                cmocka_unit_test(test_processors_clamped),
                cmocka_unit_test(test_deferred_needs_overcommit),
                cmocka_unit_test(test_from_resources),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
