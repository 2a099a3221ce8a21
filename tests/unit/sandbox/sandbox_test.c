/* The pod registry against a fake driver: run, name uniqueness, stop and
 * remove idempotency, a dying UVM, and a failing driver leaving nothing. */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/driver-internal.h"
#include "network/net.h"
#include "sandbox/sandbox.h"

struct drv_pod {
        const struct drv_events *ev;
        bool stopped;
};

static int live_pods; /* created and not freed */
static bool fail_create;

static int fake_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                       struct uvm_error **err)
{
        struct drv_pod *p;

        if (fail_create)
                return uvm_error_set(err, EIO, "injected failure");
        assert_non_null(spec->state_dir);
        assert_string_equal(spec->cgroup_parent + 6, spec->id);
        p = calloc(1, sizeof(*p));
        p->ev = spec->events;
        live_pods++;
        *ret = p;
        return 0;
}

static int fake_stop(struct drv_pod *p, uint32_t t, struct uvm_error **err)
{
        p->stopped = true;
        return 0;
}

static void fake_free(struct drv_pod *p)
{
        live_pods--;
        free(p);
}

static const struct drv_ops fake = {
        .name = "fake", .pod_create = fake_create, .pod_stop = fake_stop, .pod_free = fake_free};

static char dir[] = "/tmp/sbx-test-XXXXXX";
static struct sbx *sbx;

static int setup(void **state)
{
        struct sbx_options o = {.state_root = dir};

        assert_non_null(mkdtemp(dir));
        drv_register_extra(&fake);
        assert_int_equal(sbx_new(&o, &sbx, NULL), 0);
        return 0;
}

static int teardown(void **state)
{
        sbx_free(sbx);
        assert_int_equal(live_pods, 0);
        fs_rm_rf(dir);
        return 0;
}

static size_t pod_dirs(void)
{
        char path[256];
        DIR *d;
        struct dirent *e;
        size_t n = 0;

        snprintf(path, sizeof(path), "%s/pods", dir);
        d = opendir(path);
        assert_non_null(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static struct pod_record rec(const char *name, uint32_t attempt)
{
        return (struct pod_record){.name = (char *) name,
                                   .namespace_ = "default",
                                   .uid = "u1",
                                   .attempt = attempt,
                                   .driver = "fake",
                                   .uvm = {.memory_mb = 1024, .processors = 1}};
}

static void test_lifecycle(void **state)
{
        struct pod_record r = rec("web", 0), got = {0};
        struct uvm_error *err = NULL;
        char *id = NULL, *id2 = NULL;

        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id, NULL),
                         0);
        assert_int_equal(strlen(id), 64);
        assert_int_equal(live_pods, 1);
        assert_int_equal(pod_dirs(), 1);
        assert_int_equal(sbx_pod_get(sbx, id, &got, NULL), 0);
        assert_int_equal(got.state, POD_READY);
        assert_string_equal(got.name, "web");
        pod_record_clear(&got);
        /* The same name+namespace+uid+attempt is refused; another attempt is fine. */
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id2, &err),
                         -EEXIST);
        assert_non_null(strstr(err->msg, "already exists"));
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(sbx_pod_count(sbx), 1);
        /* Stop twice, then a prefix lookup, then remove twice. */
        assert_int_equal(sbx_pod_stop(sbx, id, 100, NULL), 0);
        assert_int_equal(sbx_pod_stop(sbx, id, 100, NULL), 0);
        assert_int_equal(
                sbx_pod_get(sbx, (char[]){id[0], id[1], id[2], id[3], id[4], 0}, &got, NULL), 0);
        assert_int_equal(got.state, POD_NOTREADY);
        pod_record_clear(&got);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        assert_int_equal(sbx_pod_stop(sbx, id, 0, NULL), 0);
        assert_int_equal(live_pods, 0);
        assert_int_equal(pod_dirs(), 0);
        assert_int_equal(sbx_pod_get(sbx, id, &got, &err), -ENOENT);
        uvm_error_free(err);
        free(id);
}

static void test_driver_failure_leaves_nothing(void **state)
{
        struct pod_record r = rec("db", 0);
        struct uvm_error *err = NULL;
        char *id = NULL;

        fail_create = true;
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id, &err),
                         -EIO);
        fail_create = false;
        assert_null(id);
        assert_non_null(strstr(err->msg, "create the fake sandbox: injected failure"));
        uvm_error_free(err);
        assert_int_equal(live_pods, 0);
        assert_int_equal(pod_dirs(), 0);
        assert_int_equal(sbx_pod_count(sbx), 0);
        /* The name was released: the same pod can be run now. */
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id, NULL),
                         0);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        free(id);
}

/* The step before the driver: the pod's identity files (a hostname that
 * cannot go in /etc/hostname). The driver is never asked. */
static void test_pod_files_failure_leaves_nothing(void **state)
{
        struct pod_record r = rec("files", 0);
        struct uvm_error *err = NULL;
        char *id = NULL;

        fail_create = true; /* would fail the test's message check if reached */
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "bad host!"},
                                     true, &id, &err),
                         -EINVAL);
        fail_create = false;
        assert_null(id);
        assert_non_null(strstr(err->msg, "hostname"));
        uvm_error_free(err);
        assert_int_equal(live_pods, 0);
        assert_int_equal(pod_dirs(), 0);
        assert_int_equal(sbx_pod_count(sbx), 0);
        assert_int_equal(
                sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "good"}, true, &id, NULL),
                0);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        free(id);
}

static void test_unknown_driver(void **state)
{
        struct pod_record r = rec("x", 0);
        struct uvm_error *err = NULL;
        char *id = NULL;

        r.driver = "hcs";
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id, &err),
                         -EOPNOTSUPP);
        assert_non_null(strstr(err->msg, "driver 'hcs' is not available"));
        uvm_error_free(err);
        assert_int_equal(pod_dirs(), 0);
}

static struct drv_pod *grab;
static int grab_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                       struct uvm_error **err)
{
        int r = fake_create(spec, ret, err);

        grab = *ret;
        return r;
}

static void test_pod_died(void **state)
{
        struct drv_ops ops = fake;
        struct pod_record r = rec("dies", 0), got = {0};
        char *id = NULL;

        ops.pod_create = grab_create;
        drv_register_extra(&ops);
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "pod-h"}, true,
                                     &id, NULL),
                         0);
        grab->ev->pod_died(grab->ev->data, "agent gone");
        assert_int_equal(sbx_pod_get(sbx, id, &got, NULL), 0);
        assert_int_equal(got.state, POD_NOTREADY);
        pod_record_clear(&got);
        /* The record on disk says so too. */
        {
                char pd[256];
                snprintf(pd, sizeof(pd), "%s/pods/%s", dir, id);
                assert_int_equal(pod_record_load(pd, &got, NULL), 0);
                assert_int_equal(got.state, POD_NOTREADY);
                pod_record_clear(&got);
        }
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        drv_register_extra(&fake);
        free(id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_driver_failure_leaves_nothing),
                cmocka_unit_test(test_pod_files_failure_leaves_nothing),
                cmocka_unit_test(test_unknown_driver),
                cmocka_unit_test(test_pod_died),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
