/*
 * uvmd dies in the middle of pod_create: at each step, the state dir is
 * copied as it is then and the fake HCS/HCN world kept as it is then (the
 * fakes' on_step, before and after every call); the create runs on to its
 * end, and a new uvmd (a fresh binding, no handle open) reattaches from the
 * copy. Whatever the step, it undoes what exists and leaves nothing.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "common/json.h"
#include "common/platform.h"
#include "tests/unit/hcs_driver/fixture.h"

#define RECORD "hcs-pod.json"

static struct {
        int step, crash_at; /* count of steps seen; the one to crash at (0: none) */
        char what[64];      /* "after hcs.create", ... */
        char *copy;         /* the state dir as it was then */
        bool record_in_way; /* at crash_at, put a directory where the record goes */
} crash;

static char *path_in(const char *dir, const char *name)
{
        char *p = malloc(strlen(dir) + strlen(name) + 2);

        assert_non_null(p);
        sprintf(p, "%s/%s", dir, name);
        return p;
}

/* The state dir (its one file, the record) into crash.copy. */
static void copy_state_dir(void)
{
        char *from = path_in(spec.state_dir, RECORD), *to = path_in(crash.copy, RECORD);
        char *text = NULL;
        size_t len = 0;
        int r = plat_read_file(from, 1 << 16, &text, &len);

        if (r == -ENOENT)
                assert_int_equal(plat_rm_rf(to), 0);
        else
                assert_int_equal(plat_write_file_atomic(to, text, len, 0600), r);
        free(text);
        free(from);
        free(to);
}

static void on_step(const char *call, bool after)
{
        char *rec;

        if (++crash.step != crash.crash_at)
                return;
        snprintf(crash.what, sizeof(crash.what), "%s %s", after ? "after" : "before", call);
        if (crash.record_in_way) {
                rec = path_in(spec.state_dir, RECORD);
                assert_int_equal(plat_rm_rf(rec), 0);
                assert_int_equal(plat_mkdir_p(rec, 0700), 0);
                free(rec);
                fixture_write(RECORD "/keep", "x");
                return;
        }
        copy_state_dir();
        fake_crash_save();
}

static int crash_setup(void **state)
{
        fixture_setup(state);
        crash.step = crash.crash_at = 0;
        crash.record_in_way = false;
        crash.what[0] = '\0';
        assert_int_equal(plat_mkdtemp("hcs-crash-", &crash.copy), 0);
        return 0;
}

static int crash_teardown(void **state)
{
        plat_rm_rf(crash.copy);
        free(crash.copy);
        crash.copy = NULL;
        return fixture_teardown(state);
}

/* The steps of a whole create. */
static int count_steps(void)
{
        struct drv_pod *pod;

        fake.on_step = on_step;
        pod = fixture_create();
        fake.on_step = NULL;
        ops->pod_stop(pod, 0, NULL);
        ops->pod_free(pod);
        return crash.step;
}

/* The copied record says "creating". */
static void check_copy_creating(void)
{
        char *path = path_in(crash.copy, RECORD), *text = NULL;
        json_object *o;

        assert_int_equal(plat_read_file(path, 1 << 16, &text, NULL), 0);
        o = json_tokener_parse(text);
        assert_non_null(o);
        assert_string_equal(json_string_of(o, "state"), "creating");
        json_object_put(o);
        free(text);
        free(path);
}

/* Crash at step n of a create, then reattach from the copy. */
static void crash_and_reattach(int n, int *ret_left)
{
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;
        struct drv_pod_spec again = spec;
        FILE *f = NULL;
        char *rec;
        int r;

        fake_reset();
        crash.step = 0;
        crash.crash_at = n;
        fake.on_step = on_step;
        pod = fixture_create(); /* the create goes on: the copy is what counts */
        ops->pod_free(pod);
        plat_rm_rf(spec.state_dir);
        assert_int_equal(plat_mkdir_p(spec.state_dir, 0700), 0);

        check_copy_creating();
        fake_crash_restore();
        *ret_left = fake_live();
        fixture_bind(); /* the new uvmd */
        again.state_dir = crash.copy;
        pod = NULL;
        r = ops->pod_reattach(&again, &pod, &err);
        print_message("crash %s: %d live; reattach: %s\n%s\n", crash.what, *ret_left,
                      err ? err->msg : "ok", fixture_log());
        assert_int_equal(r, -ESRCH);
        assert_null(pod);
        assert_non_null(strstr(err->msg, "uvmd stopped while it created the pod: removed what "
                                         "was recorded"));
        uvm_error_free(err);
        assert_int_equal(fake_live(), 0);
        assert_int_equal(fake.handles, 0);
        assert_int_equal(died, 0);
        rec = path_in(crash.copy, RECORD);
        assert_int_equal(plat_fopen_read(rec, &f), -ENOENT);
        free(rec);
}

static void test_crash_at_each_step(void **state)
{
        int steps = count_steps(), most = 0, left;

        /* create, set_callback, properties, start, connect, ns_create,
         * 2 x (ep_query, ns_modify), 2 x (modify, add_nic): 14 calls,
         * before and after. */
        assert_int_equal(steps, 28);
        for (int n = 1; n <= steps; n++) {
                crash_and_reattach(n, &left);
                if (left > most)
                        most = left;
        }
        /* There was something to undo: the VM, the namespace with two
         * endpoints, two NICs on the host and two in the guest. */
        assert_int_equal(most, 1 + 1 + 2 + 2 + 2);
}

/* uvmd dies once the pod is ready: the reattach takes it up again. */
static void test_crash_when_ready(void **state)
{
        struct drv_pod *pod = fixture_create();
        struct uvm_error *err = NULL;

        fake_crash_save();
        ops->pod_free(pod);
        fake_crash_restore();
        fixture_bind();
        pod = NULL;
        if (ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("reattach: %s", err->msg);
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}

/* The undo of an unfinished create fails: the error says what, the record
 * stays, and the next reattach finishes. */
static void test_crash_undo_fails(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;
        struct drv_pod_spec again = spec;
        int left;

        crash.crash_at = 12; /* after hcn.ns_create */
        fake.on_step = on_step;
        pod = fixture_create();
        assert_string_equal(crash.what, "after hcn.ns_create");
        ops->pod_free(pod);
        fake_crash_restore();
        left = fake_live();
        fixture_bind();
        again.state_dir = crash.copy;
        fake_fail("hcn.ns_delete", 1, EBUSY);
        assert_int_equal(ops->pod_reattach(&again, &pod, &err), -EBUSY);
        assert_non_null(strstr(err->msg, "uvmd stopped while it created the pod; undo it: delete "
                                         "the HCN namespace"));
        err = uvm_error_free(err);
        assert_int_equal(fake.systems, 0);
        assert_int_equal(fake.namespaces, 1);
        assert_true(left > 1);
        assert_int_equal(ops->pod_reattach(&again, &pod, &err), -ESRCH);
        uvm_error_free(err);
        assert_int_equal(fake_live(), 0);
}

/* The record cannot be rewritten midway (a directory took its place):
 * create fails with that, undoes everything, and says so. */
static void test_record_fails_midway(void **state)
{
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        crash.crash_at = 16; /* after hcn.ns_modify Add E1: the NIC's record fails */
        crash.record_in_way = true;
        fake.on_step = on_step;
        assert_true(ops->pod_create(&spec, &pod, &err) < 0);
        assert_string_equal(crash.what, "after hcn.ns_modify");
        assert_null(pod);
        assert_non_null(strstr(err->msg, "hcs pod pod1: record the pod in"));
        err = uvm_error_free(err);
        assert_int_equal(fake_live(), 0);
        assert_non_null(strstr(fixture_log(), "hcs.modify Add E1 240000\n"
                                              "guest.add_nic E1\n"
                                              "guest.remove_nic E1\n"));
        assert_false(fixture_exists(RECORD));

        /* After guest.connect: the namespace's id cannot be recorded, so
         * HCN is never asked to make it. */
        fake_reset();
        crash.step = 0;
        crash.crash_at = 10;
        fake.on_step = on_step;
        assert_true(ops->pod_create(&spec, &pod, &err) < 0);
        assert_string_equal(crash.what, "after guest.connect");
        assert_non_null(strstr(err->msg, "create the HCN namespace of pod1@vm"));
        assert_non_null(strstr(err->msg, "record the pod in"));
        uvm_error_free(err);
        assert_int_equal(fake_log_count("hcn."), 0);
        assert_int_equal(fake_live(), 0);
        assert_false(fixture_exists(RECORD));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_crash_at_each_step, crash_setup,
                                                crash_teardown),
                cmocka_unit_test_setup_teardown(test_crash_when_ready, crash_setup, crash_teardown),
                cmocka_unit_test_setup_teardown(test_crash_undo_fails, crash_setup, crash_teardown),
                cmocka_unit_test_setup_teardown(test_record_fails_midway, crash_setup,
                                                crash_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
