/*
 * The sandbox layer's pod half as Windows builds it (//sandbox:pods_win:
 * sandbox.c, list.c, sandbox_win.c, pods_only_win.c) against a fake
 * driver, under Wine: directories and records under a state root whose
 * path is not ASCII (UTF-16 at the edge), name reservation, a driver
 * failure leaving nothing, Stop and Remove twice, a VM's death, and a
 * restart that reattaches or finds the sandbox gone. uvmd_pods_test.sh
 * runs the same layer end to end in uvmd.exe.
 */

/* Before <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and CRI
 * messages (sandbox/container.h includes them) have fields of those names. */
#include "proto/api.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <windows.h>

#include "common/platform.h"
#include "common/utf16.h"
#include "sandbox/driver-internal.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"

struct drv_pod {
        char id[80];
        const struct drv_events *events;
        bool stopped;
};

static int live_pods, creates, stops, reattaches;
static struct drv_pod *last_pod; /* the last made: its events are its pod's */
static bool fail_create, fail_reattach;

static int fake_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                       struct uvm_error **err)
{
        struct drv_pod *p;

        creates++;
        if (fail_create)
                return uvm_error_set(err, EIO, "fake: no VM today");
        p = calloc(1, sizeof(*p));
        assert_non_null(p);
        assert_null(spec->netns_path); /* HCN is the driver's */
        snprintf(p->id, sizeof(p->id), "%s", spec->id);
        p->events = spec->events;
        last_pod = p;
        live_pods++;
        *ret = p;
        return 0;
}

static int fake_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret,
                         struct uvm_error **err)
{
        reattaches++;
        if (fail_reattach)
                return uvm_error_set(err, ESRCH, "fake: the VM is gone");
        return fake_create(spec, ret, err);
}

static int fake_stop(struct drv_pod *p, uint32_t t, struct uvm_error **err)
{
        stops++;
        p->stopped = true;
        return 0;
}

static void fake_free(struct drv_pod *p)
{
        if (p == last_pod)
                last_pod = NULL;
        live_pods--;
        free(p);
}

static const struct drv_ops fake = {
        .name = "fake",
        .pod_create = fake_create,
        .pod_reattach = fake_reattach,
        .pod_stop = fake_stop,
        .pod_free = fake_free,
};

static char *root;
static struct sbx *sbx;

static int setup(void **state)
{
        struct sbx_options o;

        /* "é" and a CJK character: UTF-8 here, UTF-16 for Windows. */
        assert_int_equal(plat_mkdtemp("sbx-\xc3\xa9\xe6\x97\xa5-", &root), 0);
        o = (struct sbx_options){.state_root = root};
        drv_register_extra(&fake);
        live_pods = creates = stops = reattaches = 0;
        last_pod = NULL;
        fail_create = fail_reattach = false;
        assert_int_equal(sbx_new(&o, &sbx, NULL), 0);
        return 0;
}

static int teardown(void **state)
{
        sbx_free(sbx);
        sbx = NULL;
        assert_int_equal(plat_rm_rf(root), 0);
        free(root);
        return 0;
}

/* Entries of <root>/pods/<sub> (sub "" for the pods directory itself). */
static int entries(const char *sub)
{
        char path[1024];
        wchar_t *w = NULL;
        WIN32_FIND_DATAW fd;
        HANDLE h;
        int n = 0;

        snprintf(path, sizeof(path), "%s\\pods%s%s\\*", root, sub[0] ? "\\" : "", sub);
        assert_int_equal(utf8_to_wide(path, UTF16_PATH_MAX, &w), 0);
        h = FindFirstFileW(w, &fd);
        free(w);
        if (h == INVALID_HANDLE_VALUE)
                return -1;
        do
                n += fd.cFileName[0] != L'.';
        while (FindNextFileW(h, &fd));
        FindClose(h);
        return n;
}

static struct pod_record rec(const char *name)
{
        return (struct pod_record){.name = (char *) name,
                                   .namespace_ = "default",
                                   .uid = "u1",
                                   .driver = "fake",
                                   .uvm = {.memory_mb = 1024, .processors = 1}};
}

static enum pod_state state_of(const char *id)
{
        struct pod_record got = {0};
        enum pod_state s;

        assert_int_equal(sbx_pod_get(sbx, id, &got, NULL), 0);
        s = got.state;
        pod_record_clear(&got);
        return s;
}

static int count_visit(const struct pod_record *r, void *arg)
{
        (*(int *) arg)++;
        return 0;
}

static int listed(void)
{
        int n = 0;

        assert_true(sbx_pod_each(sbx, NULL, count_visit, &n, NULL) >= 0);
        return n;
}

static void test_lifecycle(void **state)
{
        struct pod_record r = rec("web");
        struct uvm_error *err = NULL;
        char *id = NULL, *id2 = NULL;

        assert_int_equal(sbx_pod_run(sbx, &r, NULL, false, &id, NULL), 0);
        assert_int_equal(strlen(id), 64);
        assert_int_equal(live_pods, 1);
        assert_int_equal(entries(""), 1);
        /* pod.json, and the pod files its containers get (sandbox_win.c) */
        assert_int_equal(entries(id), 4);
        assert_int_equal(state_of(id), POD_READY);
        assert_int_equal(listed(), 1);
        /* The same name is reserved. */
        assert_int_equal(sbx_pod_run(sbx, &r, NULL, false, &id2, &err), -EEXIST);
        assert_non_null(strstr(err->msg, id));
        err = uvm_error_free(err);
        assert_int_equal(creates, 1);
        assert_int_equal(sbx_pod_stop(sbx, id, 0, NULL), 0);
        assert_int_equal(state_of(id), POD_NOTREADY);
        assert_int_equal(sbx_pod_stop(sbx, id, 0, NULL), 0);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        assert_int_equal(live_pods, 0);
        assert_int_equal(entries(""), 0);
        assert_int_equal(listed(), 0);
        assert_int_equal(sbx_pod_get(sbx, id, &(struct pod_record){0}, &err), -ENOENT);
        err = uvm_error_free(err);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0); /* gone: success */
        free(id);
}

static void test_driver_failure_leaves_nothing(void **state)
{
        struct pod_record r = rec("web");
        struct uvm_error *err = NULL;
        char *id = NULL;

        fail_create = true;
        assert_int_equal(sbx_pod_run(sbx, &r, NULL, false, &id, &err), -EIO);
        assert_non_null(strstr(err->msg, "no VM today"));
        err = uvm_error_free(err);
        assert_null(id);
        assert_int_equal(entries(""), 0);
        assert_int_equal(listed(), 0);
        /* The name is free again. */
        fail_create = false;
        assert_int_equal(sbx_pod_run(sbx, &r, NULL, false, &id, NULL), 0);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        free(id);
}

/* The driver reports the VM's death: the pod is NOTREADY, on disk too
 * (a restart does not try to reattach it). */
static void test_pod_died(void **state)
{
        struct pod_record r = rec("web");
        char *id = NULL;

        assert_int_equal(sbx_pod_run(sbx, &r, NULL, false, &id, NULL), 0);
        assert_non_null(last_pod);
        last_pod->events->pod_died(last_pod->events->data, "the VM exited");
        assert_int_equal(state_of(id), POD_NOTREADY);
        sbx_free(sbx);
        sbx = NULL;
        assert_int_equal(sbx_new(&(struct sbx_options){.state_root = root}, &sbx, NULL), 0);
        assert_int_equal(sbx_recover(sbx, NULL), 0);
        assert_int_equal(reattaches, 0);
        assert_int_equal(state_of(id), POD_NOTREADY);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        free(id);
}

/* A restart: a live sandbox is reattached, a gone one makes the pod
 * NOTREADY (kept for the kubelet to remove); records survive both. */
static void test_recover(void **state)
{
        struct pod_record a = rec("alive"), b = rec("gone");
        char *ida = NULL, *idb = NULL;

        assert_int_equal(sbx_pod_run(sbx, &a, NULL, false, &ida, NULL), 0);
        assert_int_equal(sbx_pod_run(sbx, &b, NULL, false, &idb, NULL), 0);
        assert_int_equal(sbx_pod_stop(sbx, idb, 0, NULL), 0);
        sbx_free(sbx); /* uvmd.exe stops: sandboxes are not stopped */
        sbx = NULL;
        assert_int_equal(stops, 1);
        assert_int_equal(sbx_new(&(struct sbx_options){.state_root = root}, &sbx, NULL), 0);
        assert_int_equal(sbx_recover(sbx, NULL), 0);
        assert_int_equal(listed(), 2);
        assert_int_equal(reattaches, 1); /* only the ready one */
        assert_int_equal(state_of(ida), POD_READY);
        assert_int_equal(state_of(idb), POD_NOTREADY);
        /* Now its VM is gone too. */
        sbx_free(sbx);
        sbx = NULL;
        fail_reattach = true;
        assert_int_equal(sbx_new(&(struct sbx_options){.state_root = root}, &sbx, NULL), 0);
        assert_int_equal(sbx_recover(sbx, NULL), 0);
        assert_int_equal(state_of(ida), POD_NOTREADY);
        assert_int_equal(sbx_pod_remove(sbx, ida, NULL), 0);
        assert_int_equal(sbx_pod_remove(sbx, idb, NULL), 0);
        assert_int_equal(entries(""), 0);
        free(ida);
        free(idb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_driver_failure_leaves_nothing, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_pod_died, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
