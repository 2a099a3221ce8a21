/*
 * The unfiltered List cache (service/list_cache.h) against a fake sandbox:
 * a counter for the List generation and a builder that answers with as
 * many pods as the fake holds. A second call at the same generation is
 * answered from the entry; a bump makes it build again; a change during a
 * build leaves the entry stale; an older build never replaces a newer
 * entry; only empty filters count as unfiltered; a peek (the queue
 * thread's fast path) finds only the current entry and never builds; and
 * threads that list or peek while others change things always get the
 * answer of a generation they could have seen.
 */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "service/list_cache.h"

/* The fake sandbox: pods and the generation, bumped after each change. */
static uint64_t fake_gen; /* atomic */
static int fake_pods;     /* atomic */
static int builds;        /* atomic */
/* A change made in the middle of the next build (a walk that races). */
static int change_during_build;

static void fake_change(void)
{
        __atomic_add_fetch(&fake_pods, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&fake_gen, 1, __ATOMIC_SEQ_CST);
}

static uint64_t fake_gen_now(void)
{
        return __atomic_load_n(&fake_gen, __ATOMIC_SEQ_CST);
}

/* The answer: one pod per fake pod, its id the pod count at the walk. The
 * strings live in the builder's buffer, like a call's arena. */
struct build_buf {
        Runtime__V1__ListPodSandboxResponse resp;
        Runtime__V1__PodSandbox pods[64], *items[64];
        char ids[64][16];
};

static int build(void *arg, ProtobufCMessage **ret, struct uvm_error **err)
{
        struct build_buf *b = arg;
        int n = __atomic_load_n(&fake_pods, __ATOMIC_SEQ_CST);

        __atomic_add_fetch(&builds, 1, __ATOMIC_SEQ_CST);
        if (change_during_build) {
                change_during_build = 0;
                fake_change(); /* after the walk read the pods: it missed this one */
        }
        if (n > 64)
                return uvm_error_set(err, E2BIG, "too many");
        runtime__v1__list_pod_sandbox_response__init(&b->resp);
        for (int i = 0; i < n; i++) {
                runtime__v1__pod_sandbox__init(&b->pods[i]);
                snprintf(b->ids[i], sizeof(b->ids[i]), "n%d", n);
                b->pods[i].id = b->ids[i];
                b->items[i] = &b->pods[i];
        }
        b->resp.items = b->items;
        b->resp.n_items = (size_t) n;
        *ret = &b->resp.base;
        return 0;
}

/* How many pods an answer lists (-1: undecodable). */
static int answer_pods(const struct list_reply *r)
{
        Runtime__V1__ListPodSandboxResponse *m = runtime__v1__list_pod_sandbox_response__unpack(
                NULL, list_reply_len(r), list_reply_data(r));
        int n;

        if (!m)
                return -1;
        n = (int) m->n_items;
        /* Every item was built by the same walk. */
        for (size_t i = 0; i < m->n_items; i++) {
                char want[16];
                snprintf(want, sizeof(want), "n%d", n);
                if (strcmp(m->items[i]->id, want) != 0)
                        n = -1;
        }
        runtime__v1__list_pod_sandbox_response__free_unpacked(m, NULL);
        return n;
}

/* One List at the current generation: how many pods it showed. */
static int list_now(struct list_cache *c)
{
        struct build_buf *b = calloc(1, sizeof(*b));
        struct list_reply *r = NULL;
        int n;

        assert_int_equal(list_cache_answer(c, LIST_PODS, fake_gen_now(), build, b, &r, NULL), 0);
        free(b); /* the entry must not point into the builder's memory */
        n = answer_pods(r);
        list_reply_unref(r);
        return n;
}

static int setup(void **state)
{
        fake_gen = 0;
        fake_pods = 0;
        builds = 0;
        change_during_build = 0;
        *state = list_cache_new();
        return *state ? 0 : -1;
}

static int teardown(void **state)
{
        list_cache_free(*state);
        return 0;
}

static void test_same_generation_is_answered_from_the_entry(void **state)
{
        struct list_cache *c = *state;
        uint64_t hits, b;

        fake_change();
        fake_change();
        assert_int_equal(list_now(c), 2);
        assert_int_equal(list_now(c), 2);
        assert_int_equal(list_now(c), 2);
        assert_int_equal(builds, 1);
        list_cache_counts(c, &hits, &b);
        assert_int_equal(hits, 2);
        assert_int_equal(b, 1);
}

static void test_a_bump_builds_again(void **state)
{
        struct list_cache *c = *state;

        assert_int_equal(list_now(c), 0);
        fake_change();
        assert_int_equal(list_now(c), 1);
        assert_int_equal(builds, 2);
        assert_int_equal(list_now(c), 1);
        assert_int_equal(builds, 2);
}

static void test_a_change_during_a_build_leaves_the_entry_stale(void **state)
{
        struct list_cache *c = *state;

        fake_change();
        change_during_build = 1;
        /* This walk began before the second pod came: it shows one. */
        assert_int_equal(list_now(c), 1);
        /* The next call must not take that answer for the current one. */
        assert_int_equal(list_now(c), 2);
        assert_int_equal(builds, 2);
        assert_int_equal(list_now(c), 2);
        assert_int_equal(builds, 2);
}

static void test_an_older_build_does_not_replace_a_newer_entry(void **state)
{
        struct list_cache *c = *state;
        struct build_buf *b = calloc(1, sizeof(*b));
        struct list_reply *r = NULL;

        fake_change();
        fake_change();
        assert_int_equal(list_now(c), 2); /* entry at generation 2 */
        /* A slow caller that read generation 1 finishes its build now. */
        assert_int_equal(list_cache_answer(c, LIST_PODS, 1, build, b, &r, NULL), 0);
        list_reply_unref(r);
        assert_int_equal(builds, 2);
        assert_int_equal(list_now(c), 2);
        assert_int_equal(builds, 2); /* still the generation-2 entry */
        free(b);
}

static void test_kinds_are_kept_apart(void **state)
{
        struct list_cache *c = *state;
        struct build_buf *b = calloc(1, sizeof(*b));
        struct list_reply *r = NULL;

        fake_change();
        assert_int_equal(list_now(c), 1);
        assert_int_equal(list_cache_answer(c, LIST_CTRS, fake_gen_now(), build, b, &r, NULL), 0);
        list_reply_unref(r);
        assert_int_equal(builds, 2);
        free(b);
}

/* Pods shown by a peek at the current generation; -2: nothing found. */
static int peek_now(struct list_cache *c, enum list_kind kind)
{
        struct list_reply *r = list_cache_peek(c, kind, fake_gen_now());
        int n;

        if (!r)
                return -2;
        n = answer_pods(r);
        list_reply_unref(r);
        return n;
}

static void test_peek_finds_only_the_current_entry(void **state)
{
        struct list_cache *c = *state;
        uint64_t hits, b;

        assert_int_equal(peek_now(c, LIST_PODS), -2); /* empty cache */
        fake_change();
        assert_int_equal(list_now(c), 1);
        assert_int_equal(peek_now(c, LIST_PODS), 1);
        assert_int_equal(peek_now(c, LIST_PODS), 1);
        assert_int_equal(peek_now(c, LIST_CTRS), -2);
        list_cache_counts(c, &hits, &b);
        assert_int_equal(hits, 2);
        assert_int_equal(b, 1);
        /* A change: the entry is stale, and a peek never builds. */
        fake_change();
        assert_int_equal(peek_now(c, LIST_PODS), -2);
        assert_int_equal(builds, 1);
        assert_int_equal(list_now(c), 2);
        assert_int_equal(peek_now(c, LIST_PODS), 2);
        /* An entry kept from a walk that raced a change is not current. */
        change_during_build = 1;
        fake_change();
        assert_int_equal(list_now(c), 3);
        assert_int_equal(peek_now(c, LIST_PODS), -2);
        assert_int_equal(list_now(c), 4);
        assert_int_equal(peek_now(c, LIST_PODS), 4);
}

/* A reply taken by a peek outlives the entry it came from. */
static void test_a_peeked_reply_outlives_its_entry(void **state)
{
        struct list_cache *c = *state;
        struct list_reply *r;

        fake_change();
        assert_int_equal(list_now(c), 1);
        r = list_cache_peek(c, LIST_PODS, fake_gen_now());
        assert_non_null(r);
        fake_change();
        assert_int_equal(list_now(c), 2); /* the entry replaced */
        assert_int_equal(answer_pods(r), 1);
        list_reply_unref(r);
}

static int fail_build(void *arg, ProtobufCMessage **ret, struct uvm_error **err)
{
        return uvm_error_set(err, EIO, "walk failed");
}

static void test_a_failed_build_keeps_nothing(void **state)
{
        struct list_cache *c = *state;
        struct list_reply *r = NULL;
        struct uvm_error *e = NULL;

        assert_int_equal(list_cache_answer(c, LIST_PODS, 0, fail_build, NULL, &r, &e), -EIO);
        assert_null(r);
        assert_string_equal(e->msg, "walk failed");
        uvm_error_free(e);
        assert_int_equal(list_now(c), 0);
        assert_int_equal(builds, 1);
}

static void test_only_empty_filters_are_unfiltered(void **state)
{
        Runtime__V1__PodSandboxFilter pf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__PodSandboxStateValue ps = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
        Runtime__V1__ContainerStateValue cs = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry pl =
                RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__ContainerFilter__LabelSelectorEntry cl =
                RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry *pls[] = {&pl};
        Runtime__V1__ContainerFilter__LabelSelectorEntry *cls[] = {&cl};

        assert_true(list_pod_filter_empty(NULL));
        assert_true(list_pod_filter_empty(&pf));
        pf.id = "";
        assert_true(list_pod_filter_empty(&pf));
        pf.id = "ab";
        assert_false(list_pod_filter_empty(&pf));
        pf.id = "";
        pf.state = &ps; /* SANDBOX_READY is 0: present is what counts */
        assert_false(list_pod_filter_empty(&pf));
        pf.state = NULL;
        pf.label_selector = pls;
        pf.n_label_selector = 1;
        assert_false(list_pod_filter_empty(&pf));

        assert_true(list_ctr_filter_empty(NULL));
        assert_true(list_ctr_filter_empty(&cf));
        cf.id = "ab";
        assert_false(list_ctr_filter_empty(&cf));
        cf.id = "";
        cf.pod_sandbox_id = "cd";
        assert_false(list_ctr_filter_empty(&cf));
        cf.pod_sandbox_id = "";
        assert_true(list_ctr_filter_empty(&cf));
        cf.state = &cs;
        assert_false(list_ctr_filter_empty(&cf));
        cf.state = NULL;
        cf.label_selector = cls;
        cf.n_label_selector = 1;
        assert_false(list_ctr_filter_empty(&cf));
}

/* Listers and a changer at once: every answer is at least as new as the
 * generation its caller read, and the answer after the changes stop is the
 * final count. Run under ASan (and TSan)
 * for the entry swaps. */
#define CHANGES 40

struct lister {
        struct list_cache *c;
        int bad;
};

static void *lister_main(void *arg)
{
        struct lister *l = arg;

        for (int i = 0; i < 400; i++) {
                uint64_t gen = fake_gen_now();
                struct build_buf *b = calloc(1, sizeof(*b));
                struct list_reply *r = NULL;
                int n;

                if (list_cache_answer(l->c, LIST_PODS, gen, build, b, &r, NULL) < 0) {
                        l->bad++;
                        free(b);
                        continue;
                }
                free(b);
                n = answer_pods(r);
                list_reply_unref(r);
                /* Pods are added before the generation moves: an answer
                 * at gen shows at least gen pods, and none not yet made. */
                if (n < (int) gen || n > __atomic_load_n(&fake_pods, __ATOMIC_SEQ_CST))
                        l->bad++;
        }
        return NULL;
}

/* Peeks while others build and change: a found reply obeys the same
 * bounds as a built one. */
static void *peeker_main(void *arg)
{
        struct lister *l = arg;

        for (int i = 0; i < 4000; i++) {
                uint64_t gen = fake_gen_now();
                struct list_reply *r = list_cache_peek(l->c, LIST_PODS, gen);
                int n;

                if (!r)
                        continue;
                n = answer_pods(r);
                list_reply_unref(r);
                if (n < (int) gen || n > __atomic_load_n(&fake_pods, __ATOMIC_SEQ_CST))
                        l->bad++;
        }
        return NULL;
}

static void test_concurrent_lists_and_changes(void **state)
{
        struct lister l[4] = {{*state}, {*state}, {*state}, {*state}};
        pthread_t t[4];

        for (int i = 0; i < 4; i++)
                assert_int_equal(
                        pthread_create(&t[i], NULL, i < 3 ? lister_main : peeker_main, &l[i]), 0);
        for (int i = 0; i < CHANGES; i++) {
                fake_change();
                usleep(200);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(l[i].bad, 0);
        }
        assert_int_equal(list_now(*state), CHANGES);
        assert_int_equal(peek_now(*state, LIST_PODS), CHANGES);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_same_generation_is_answered_from_the_entry,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_bump_builds_again, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_change_during_a_build_leaves_the_entry_stale,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_an_older_build_does_not_replace_a_newer_entry,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_kinds_are_kept_apart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_peek_finds_only_the_current_entry, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_peeked_reply_outlives_its_entry, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_failed_build_keeps_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_only_empty_filters_are_unfiltered, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_lists_and_changes, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
