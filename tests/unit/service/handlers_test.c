/* Runtime handlers and the default driver, chosen from fake driver probes:
 * a qemu driver not built; built with no KVM device; with a device whose
 * guest runs; with a device whose guest never runs (the PVM host case). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macros.h"
#include "service/handlers.h"

static bool qemu_built, guest_runs;

static void ns_probe(const struct drv_probe_env *env, struct drv_probe *ret)
{
        *ret = (struct drv_probe){.usable = true, .rro_mounts = true};
        snprintf(ret->reason, sizeof(ret->reason), "namespaces");
}

/* As the real one will: the device node is only where the evidence starts. */
static void qemu_probe(const struct drv_probe_env *env, struct drv_probe *ret)
{
        *ret = (struct drv_probe){.usable = true}; /* TCG always runs */
        if (access(env->kvm_device, F_OK) < 0)
                snprintf(ret->reason, sizeof(ret->reason), "no %s: TCG only", env->kvm_device);
        else if (!guest_runs)
                snprintf(ret->reason, sizeof(ret->reason),
                         "%s opens but a test guest did not run: TCG only", env->kvm_device);
        else {
                ret->accelerated = true;
                snprintf(ret->reason, sizeof(ret->reason), "a test guest ran under KVM");
        }
}

static const struct drv_ops fake_ns = {.name = "ns", .probe = ns_probe};
static const struct drv_ops fake_qemu = {.name = "qemu", .probe = qemu_probe};

static const struct drv_ops *lookup(const char *name)
{
        if (STR_EQ(name, "ns"))
                return &fake_ns;
        if (STR_EQ(name, "qemu") && qemu_built)
                return &fake_qemu;
        return NULL;
}

static const struct handlers_probe_ops ops = {.lookup = lookup};

/* Resolve the default config (runc -> ns, uvm -> qemu) on a fake node. */
static void resolve(const char *kvm_device, struct handlers *h)
{
        struct uvmd_config c;
        struct drv_probe_env env = {.oci_runtime = "/usr/bin/runc", .kvm_device = kvm_device};
        struct uvm_error *err = NULL;

        config_init_defaults(&c);
        assert_int_equal(handlers_resolve(&c, &env, &ops, h, &err), 0);
        assert_null(err);
        config_free(&c);
}

static const struct handler_entry *entry(const struct handlers *h, const char *name)
{
        for (size_t i = 0; i < h->n; i++)
                if (STR_EQ(h->v[i].name, name))
                        return &h->v[i];
        fail_msg("no handler \"%s\"", name);
        return NULL;
}

static void expect_refused(const struct handlers *h, const char *name, int code, const char *needle)
{
        struct uvm_error *err = NULL;
        const char *drv = NULL;

        assert_int_equal(handlers_driver_for(h, name, &drv, &err), -code);
        assert_null(drv);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, name));
        if (!strstr(err->msg, needle))
                fail_msg("\"%s\" not in \"%s\"", needle, err->msg);
        uvm_error_free(err);
}

static void expect_driver(const struct handlers *h, const char *name, const char *driver)
{
        const char *drv = NULL;

        assert_int_equal(handlers_driver_for(h, name, &drv, NULL), 0);
        assert_string_equal(drv, driver);
}

static void test_qemu_not_built(void **state)
{
        struct handlers h;

        qemu_built = false;
        guest_runs = true; /* whatever the device could do */
        resolve("/dev/null", &h);
        expect_driver(&h, "", "ns");
        expect_driver(&h, NULL, "ns");
        expect_driver(&h, "runc", "ns");
        assert_non_null(strstr(entry(&h, "")->reason, "not built"));
        assert_false(entry(&h, "uvm")->usable);
        expect_refused(&h, "uvm", EOPNOTSUPP, "\"qemu\" is not built into this uvmd");
        expect_refused(&h, "nope", EINVAL, "is not configured");
        handlers_clear(&h);
}

static void test_no_kvm_device(void **state)
{
        struct handlers h;

        qemu_built = true;
        guest_runs = true;
        resolve("/nonexistent/kvm", &h);
        expect_driver(&h, "", "ns");
        assert_non_null(strstr(entry(&h, "")->reason, "no /nonexistent/kvm"));
        expect_driver(&h, "uvm", "qemu"); /* still there, emulated */
        handlers_clear(&h);
}

static void test_kvm_runs_a_guest(void **state)
{
        struct handlers h;

        qemu_built = true;
        guest_runs = true;
        resolve("/dev/null", &h);
        expect_driver(&h, "", "qemu");
        assert_non_null(strstr(entry(&h, "")->reason, "ran under KVM"));
        expect_driver(&h, "uvm", "qemu");
        expect_driver(&h, "runc", "ns");
        handlers_clear(&h);
}

static void test_kvm_device_that_runs_no_guest(void **state)
{
        struct handlers h;

        qemu_built = true;
        guest_runs = false;
        resolve("/dev/null", &h); /* the node exists */
        expect_driver(&h, "", "ns");
        assert_non_null(strstr(entry(&h, "")->reason, "did not run"));
        expect_driver(&h, "uvm", "qemu");
        handlers_clear(&h);
}

static void test_features_follow_the_driver(void **state)
{
        struct handlers h;

        qemu_built = false;
        resolve("/dev/null", &h);
        assert_true(entry(&h, "runc")->rro_mounts);
        assert_true(entry(&h, "")->rro_mounts);
        assert_false(entry(&h, "runc")->user_namespaces);
        assert_false(entry(&h, "uvm")->rro_mounts); /* not usable: nothing advertised */
        handlers_clear(&h);
}

static void test_explicit_default(void **state)
{
        struct drv_probe_env env = {.oci_runtime = "/usr/bin/runc", .kvm_device = "/dev/null"};
        struct uvm_error *err = NULL;
        struct uvmd_config c;
        struct handlers h;

        qemu_built = false;
        config_init_defaults(&c);
        assert_int_equal(config_parse(&c, "t", "{\"default_driver\": \"qemu\"}", NULL), 0);
        assert_int_equal(handlers_resolve(&c, &env, &ops, &h, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err->msg, "default_driver \"qemu\""));
        uvm_error_free(err);
        assert_int_equal(config_parse(&c, "t", "{\"default_driver\": \"ns\"}", NULL), 0);
        assert_int_equal(handlers_resolve(&c, &env, &ops, &h, NULL), 0);
        expect_driver(&h, "", "ns");
        assert_non_null(strstr(entry(&h, "")->reason, "configuration"));
        handlers_clear(&h);
        config_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_qemu_not_built),
                cmocka_unit_test(test_no_kvm_device),
                cmocka_unit_test(test_kvm_runs_a_guest),
                cmocka_unit_test(test_kvm_device_that_runs_no_guest),
                cmocka_unit_test(test_features_follow_the_driver),
                cmocka_unit_test(test_explicit_default),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
