/* ctr_pair.h: the crash checks of refs.c's two users' tests. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "tests/unit/hcs_driver/ctr_pair.h"
#include "tests/unit/hcs_driver/fixture.h"

#define RECORD "hcs-pod.json"

/* fixture_crash_run's steps take no argument: the pair of the run. */
static const struct ctr_pair *pair;

void pair_create_ok(struct drv_pod *pod, const struct drv_ctr_spec *c)
{
        struct uvm_error *err = NULL;

        if (ops->ctr_create(pod, c, &err) < 0)
                fail_msg("ctr_create %s: %s", c->id, err->msg);
}

void pair_delete_ok(struct drv_pod *pod, const char *id)
{
        struct uvm_error *err = NULL;

        if (ops->ctr_delete(pod, id, &err) < 0)
                fail_msg("ctr_delete %s: %s", id, err->msg);
}

static void make_a(struct drv_pod *pod)
{
        pair_create_ok(pod, pair->a);
}

static void make_ab(struct drv_pod *pod)
{
        pair_create_ok(pod, pair->a);
        pair_create_ok(pod, pair->b);
}

static void make_b(struct drv_pod *pod)
{
        pair_create_ok(pod, pair->b);
}

static void drop_a(struct drv_pod *pod)
{
        pair_delete_ok(pod, "ctr-a");
}

/* Every recorded resource is on the host and in the guest, and nothing
 * else is. */
static void assert_consistent(const struct ctr_pair *k, const char *dir)
{
        char d[512], u[512];
        int n = 0;

        k->recorded(dir, d, sizeof(d), u, sizeof(u));
        for (const char *s = d; *s; s++)
                n += *s == ':';
        for (size_t i = 0; i < 2; i++)
                if (k->half[i] && strstr(d, k->half[i]))
                        fail_msg("crash %s: %s half-made after the reattach: %s",
                                 fixture_crash.what, k->what, d);
        assert_int_equal(*k->host, n);
        assert_int_equal(*k->guest, n);
}

/* Each call the reattach must have made once to undo a half-made one. */
static void assert_undone(const char *const undo[2])
{
        for (size_t i = 0; i < 2; i++)
                if (undo[i])
                        assert_int_equal(fake_log_count(undo[i]), 1);
}

void pair_crash_at(const struct ctr_pair *k, int n, bool deleting, int *ret_steps)
{
        struct drv_pod *pod;
        char d[512], u[512], d0[512], u0[512];

        pair = k;
        *ret_steps =
                fixture_crash_run(n, deleting ? make_ab : make_a, deleting ? drop_a : make_b, NULL);
        fixture_remove(RECORD);
        if (!n)
                return;
        k->recorded(fixture_crash.copy, d0, sizeof(d0), u0, sizeof(u0));
        pod = fixture_crash_reattach();
        k->recorded(fixture_crash.copy, d, sizeof(d), u, sizeof(u));
        print_message("crash %s %s: %s %s, users %s -> %s %s, users %s\n",
                      deleting ? "deleting" : "creating", fixture_crash.what, k->what, d0, u0,
                      k->what, d, u);
        if (!deleting && strstr(d0, k->create_half))
                assert_undone(k->create_undo);
        if (deleting && strstr(d0, k->delete_half))
                assert_undone(k->delete_undo);
        assert_consistent(k, fixture_crash.copy);
        assert_non_null(strstr(d, k->kept));
        assert_non_null(strstr(u, deleting ? "ctr-b:0,2" : "ctr-a:0,1"));
        ops->ctr_delete(pod, "ctr-a", NULL);
        ops->ctr_delete(pod, "ctr-b", NULL);
        assert_int_equal(*k->host + *k->guest, 0);
        k->recorded(fixture_crash.copy, d, sizeof(d), u, sizeof(u));
        assert_string_equal(d, "");
        assert_string_equal(u, "");
        assert_int_equal(ops->pod_stop(pod, 0, NULL), 0);
        ops->pod_free(pod);
        assert_int_equal(fake_live(), 0);
}
