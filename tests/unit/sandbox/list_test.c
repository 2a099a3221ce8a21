/* sbx_pod_each against a fake driver: only the pods keep() accepts are
 * visited, on their live records; a failing visit stops the walk and leaves
 * no reference behind; a pod busy in a driver call does not hold up a list. */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fs.h"
#include "network/net.h"
#include "sandbox/driver-internal.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"

struct drv_pod {
        int unused;
};

static int live_pods; /* created and not freed */

/* A stop that waits for its release: the pod is busy meanwhile. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool block_stop, in_stop, released;

static int fake_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                       struct uvm_error **err)
{
        *ret = calloc(1, sizeof(**ret));
        live_pods++;
        return 0;
}

static int fake_stop(struct drv_pod *p, uint32_t t, struct uvm_error **err)
{
        pthread_mutex_lock(&gate_lock);
        if (block_stop) {
                in_stop = true;
                pthread_cond_broadcast(&gate_cond);
                while (!released)
                        pthread_cond_wait(&gate_cond, &gate_lock);
        }
        pthread_mutex_unlock(&gate_lock);
        return 0;
}

static void fake_free(struct drv_pod *p)
{
        live_pods--;
        free(p);
}

static const struct drv_ops fake = {
        .name = "fakel", .pod_create = fake_create, .pod_stop = fake_stop, .pod_free = fake_free};

#define DIR_TEMPLATE "/tmp/list-test-XXXXXX"
static char dir[] = DIR_TEMPLATE;
static struct sbx *sbx;

#define N_PODS 7
static char *ids[N_PODS];

/* Pods p0..p6; even ones labelled app=even, odd ones app=odd, and every
 * one tier=web. */
static int setup(void **state)
{
        struct sbx_options o = {.state_root = dir};

        memcpy(dir, DIR_TEMPLATE, sizeof(dir)); /* a fresh one per test */
        assert_non_null(mkdtemp(dir));
        drv_register_extra(&fake);
        assert_int_equal(sbx_new(&o, &sbx, NULL), 0);
        for (int i = 0; i < N_PODS; i++) {
                char name[16];
                struct record_kv labels[] = {{"app", i % 2 ? "odd" : "even"}, {"tier", "web"}};
                struct pod_record r = {.name = name,
                                       .namespace_ = "default",
                                       .uid = "u1",
                                       .driver = "fakel",
                                       .labels = labels,
                                       .n_labels = 2,
                                       .uvm = {.memory_mb = 1024, .processors = 1}};

                snprintf(name, sizeof(name), "p%d", i);
                assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "h"},
                                             true, &ids[i], NULL),
                                 0);
        }
        return 0;
}

static int teardown(void **state)
{
        for (int i = 0; i < N_PODS; i++) {
                assert_int_equal(sbx_pod_remove(sbx, ids[i], NULL), 0);
                free(ids[i]);
        }
        sbx_free(sbx);
        /* Every reference a walk took was given back: all pods were freed. */
        assert_int_equal(live_pods, 0);
        fs_rm_rf(dir);
        return 0;
}

static const char *label(const struct pod_record *r, const char *key)
{
        for (size_t i = 0; i < r->n_labels; i++)
                if (strcmp(r->labels[i].key, key) == 0)
                        return r->labels[i].value;
        return NULL;
}

/* What the visits saw. */
struct seen {
        int calls, ready, fail_at;
        char names[N_PODS][16];
};

static int visit(const struct pod_record *r, void *arg)
{
        struct seen *s = arg;

        if (s->fail_at && s->calls + 1 == s->fail_at)
                return -ENOMEM;
        snprintf(s->names[s->calls++], sizeof(s->names[0]), "%s", r->name);
        s->ready += r->state == POD_READY;
        return 0;
}

/* keep and visit share one arg: which app to keep, and what was seen. */
struct keep_and_seen {
        const char *app;
        struct seen seen;
};

static bool keep_kas(const struct pod_record *r, const void *arg)
{
        const char *v = label(r, "app");

        return v && strcmp(v, ((const struct keep_and_seen *) arg)->app) == 0;
}

static int visit_kas(const struct pod_record *r, void *arg)
{
        return visit(r, &((struct keep_and_seen *) arg)->seen);
}

static bool has_name(const struct seen *s, const char *name)
{
        for (int i = 0; i < s->calls; i++)
                if (strcmp(s->names[i], name) == 0)
                        return true;
        return false;
}

static void test_all_when_keep_is_null(void **state)
{
        struct seen s = {0};

        assert_int_equal(sbx_pod_each(sbx, NULL, visit, &s, NULL), N_PODS);
        assert_int_equal(s.calls, N_PODS);
        assert_int_equal(s.ready, N_PODS);
        for (int i = 0; i < N_PODS; i++) {
                char name[16];
                snprintf(name, sizeof(name), "p%d", i);
                assert_true(has_name(&s, name));
        }
}

static void test_only_kept_are_visited(void **state)
{
        struct keep_and_seen odd = {.app = "odd"}, none = {.app = "nobody"};

        assert_int_equal(sbx_pod_each(sbx, keep_kas, visit_kas, &odd, NULL), 3);
        assert_int_equal(odd.seen.calls, 3);
        assert_true(has_name(&odd.seen, "p1"));
        assert_true(has_name(&odd.seen, "p3"));
        assert_true(has_name(&odd.seen, "p5"));
        assert_int_equal(sbx_pod_each(sbx, keep_kas, visit_kas, &none, NULL), 0);
        assert_int_equal(none.seen.calls, 0);
}

/* The visit sees the record as it is now, not a copy from before. */
static void test_live_state(void **state)
{
        struct seen s = {0};

        assert_int_equal(sbx_pod_stop(sbx, ids[2], 0, NULL), 0);
        assert_int_equal(sbx_pod_stop(sbx, ids[4], 0, NULL), 0);
        assert_int_equal(sbx_pod_each(sbx, NULL, visit, &s, NULL), N_PODS);
        assert_int_equal(s.ready, N_PODS - 2);
}

static void test_failing_visit_stops_the_walk(void **state)
{
        struct seen s = {.fail_at = 3};
        struct uvm_error *err = NULL;

        assert_int_equal(sbx_pod_each(sbx, NULL, visit, &s, &err), -ENOMEM);
        assert_int_equal(s.calls, 2); /* the third visit failed; no fourth */
        assert_non_null(err);
        assert_int_equal(err->code, ENOMEM);
        assert_non_null(strstr(err->msg, "listing pods"));
        uvm_error_free(err);
        /* teardown checks that every pod is still freed: no reference kept */
}

static void *stop_thread(void *arg)
{
        assert_int_equal(sbx_pod_stop(sbx, arg, 0, NULL), 0);
        return NULL;
}

/* A pod in the middle of a driver call (its op_lock held) is still listed,
 * and the list does not wait for the call. */
static void test_busy_pod_does_not_block(void **state)
{
        struct seen s = {0};
        pthread_t t;

        block_stop = true;
        in_stop = released = false;
        assert_int_equal(pthread_create(&t, NULL, stop_thread, ids[0]), 0);
        pthread_mutex_lock(&gate_lock);
        while (!in_stop)
                pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);

        assert_int_equal(sbx_pod_each(sbx, NULL, visit, &s, NULL), N_PODS);
        assert_int_equal(s.calls, N_PODS);

        pthread_mutex_lock(&gate_lock);
        released = true;
        block_stop = false;
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
        assert_int_equal(pthread_join(t, NULL), 0);
}

/* Running, stopping and removing a pod move the List generation (the
 * unfiltered List cache depends on it); a walk does not. */
static void test_list_generation(void **state)
{
        struct pod_record r = {.name = "gen",
                               .namespace_ = "default",
                               .uid = "u2",
                               .driver = "fakel",
                               .uvm = {.memory_mb = 1024, .processors = 1}};
        struct seen s = {0};
        uint64_t g = sbx_list_gen(sbx), g2;
        char *id = NULL;

        assert_int_equal(sbx_pod_each(sbx, NULL, visit, &s, NULL), N_PODS);
        assert_true(sbx_list_gen(sbx) == g);
        assert_int_equal(
                sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "h"}, true, &id, NULL),
                0);
        g2 = sbx_list_gen(sbx);
        assert_true(g2 > g);
        assert_int_equal(sbx_pod_stop(sbx, id, 0, NULL), 0);
        g = sbx_list_gen(sbx);
        assert_true(g > g2);
        assert_int_equal(sbx_pod_remove(sbx, id, NULL), 0);
        assert_true(sbx_list_gen(sbx) > g);
        free(id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_all_when_keep_is_null, setup, teardown),
                cmocka_unit_test_setup_teardown(test_only_kept_are_visited, setup, teardown),
                cmocka_unit_test_setup_teardown(test_live_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failing_visit_stops_the_walk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_busy_pod_does_not_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_generation, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
