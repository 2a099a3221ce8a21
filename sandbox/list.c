/*
 * sbx_pod_each / sbx_ctr_each (list.h).
 *
 * Why a visitor, not a cached list entry shared by reference: an entry
 * built once per record and shared with each list would save the copy into
 * the call's arena too, but it is a second copy of the record's fields that
 * every state change must rebuild, and the response would point into it
 * until gRPC has packed the message, so its references would have to be
 * dropped by the call layer after packing. The visitor costs, per kept
 * record, a few bump-pointer arena copies of short strings (no malloc or
 * free each), and nothing per record that is filtered out; the records stay
 * the one source of truth.
 *
 * The walk takes references under the registry lock (pointer copies and
 * atomic increments only), then takes each record's own lock in turn: the
 * registry lock is never held while a visitor runs, and each record's lock
 * only while its small answer is built.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/container-internal.h"
#include "sandbox/list.h"
#include "sandbox/sandbox-internal.h"

static int visit_failed(int r, const char *what, struct uvm_error **err)
{
        return uvm_error_set(err, -r, "listing %s: %s", what, strerror(-r));
}

/* References to every registered pod; NULL on OOM. */
static struct sbx_pod **pods_ref(struct sbx *s, size_t *ret_n)
{
        struct sbx_pod **v;

        pthread_mutex_lock(&s->lock);
        v = malloc((s->n_pods + 1) * sizeof(*v));
        for (size_t i = 0; v && i < s->n_pods; i++) {
                v[i] = s->pods[i];
                __atomic_add_fetch(&v[i]->refs, 1, __ATOMIC_ACQ_REL);
        }
        *ret_n = v ? s->n_pods : 0;
        pthread_mutex_unlock(&s->lock);
        return v;
}

int sbx_pod_each(struct sbx *s, sbx_pod_keep_fn keep, sbx_pod_visit_fn visit, void *arg,
                 struct uvm_error **err)
{
        size_t n, k = 0;
        struct sbx_pod **v = pods_ref(s, &n);
        int r = 0;

        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                if (r >= 0) {
                        pthread_mutex_lock(&v[i]->lock);
                        if (!keep || keep(&v[i]->rec, arg)) {
                                r = visit(&v[i]->rec, arg);
                                k++;
                        }
                        pthread_mutex_unlock(&v[i]->lock);
                }
                pod_unref(v[i]);
        }
        free(v);
        return r < 0 ? visit_failed(r, "pods", err) : (int) k;
}

static struct sbx_ctr **ctrs_ref(struct sbx *s, size_t *ret_n)
{
        struct sbx_ctr **v;

        pthread_mutex_lock(&s->lock);
        v = malloc((s->n_ctrs + 1) * sizeof(*v));
        for (size_t i = 0; v && i < s->n_ctrs; i++) {
                v[i] = s->ctrs[i];
                __atomic_add_fetch(&v[i]->refs, 1, __ATOMIC_ACQ_REL);
        }
        *ret_n = v ? s->n_ctrs : 0;
        pthread_mutex_unlock(&s->lock);
        return v;
}

int sbx_ctr_each(struct sbx *s, sbx_ctr_keep_fn keep, sbx_ctr_visit_fn visit, void *arg,
                 struct uvm_error **err)
{
        size_t n, k = 0;
        struct sbx_ctr **v = ctrs_ref(s, &n);
        int r = 0;

        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                if (r >= 0) {
                        pthread_mutex_lock(&v[i]->lock);
                        if (!keep || keep(&v[i]->rec, arg)) {
                                r = visit(&v[i]->rec, arg);
                                k++;
                        }
                        pthread_mutex_unlock(&v[i]->lock);
                }
                ctr_unref(v[i]);
        }
        free(v);
        return r < 0 ? visit_failed(r, "containers", err) : (int) k;
}

uint64_t sbx_list_gen(struct sbx *s)
{
        return __atomic_load_n(&s->list_gen, __ATOMIC_SEQ_CST);
}

void sbx_list_changed(struct sbx *s)
{
        __atomic_add_fetch(&s->list_gen, 1, __ATOMIC_SEQ_CST);
}
