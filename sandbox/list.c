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

/*
 * The walk both lists share, over the registry's array of holders (struct
 * sbx_pod or sbx_ctr: each with refs, lock and rec): references taken under
 * the registry lock into a copy of the array, then each holder's own lock
 * around keep() and visit(), its reference dropped with unref(). A macro
 * rather than a function over void *, so that keep() and visit() keep their
 * own types and are called as directly as before.
 */
#define EACH(s, holders, count, unref, keep, visit, arg, what, err)                                \
        ({                                                                                         \
                __typeof__((s)->holders) each_v;                                                   \
                size_t each_n, each_k = 0;                                                         \
                int each_r = 0;                                                                    \
                                                                                                   \
                pthread_mutex_lock(&(s)->lock);                                                    \
                each_v = malloc(((s)->count + 1) * sizeof(*each_v));                               \
                each_n = each_v ? (s)->count : 0;                                                  \
                for (size_t i = 0; i < each_n; i++) {                                              \
                        each_v[i] = (s)->holders[i];                                               \
                        __atomic_add_fetch(&each_v[i]->refs, 1, __ATOMIC_ACQ_REL);                 \
                }                                                                                  \
                pthread_mutex_unlock(&(s)->lock);                                                  \
                if (!each_v)                                                                       \
                        each_r = -ENOMEM;                                                          \
                for (size_t i = 0; i < each_n; i++) {                                              \
                        if (each_r >= 0) {                                                         \
                                pthread_mutex_lock(&each_v[i]->lock);                              \
                                if (!(keep) || (keep) (&each_v[i]->rec, (arg))) {                  \
                                        each_r = (visit) (&each_v[i]->rec, (arg));                 \
                                        each_k++;                                                  \
                                }                                                                  \
                                pthread_mutex_unlock(&each_v[i]->lock);                            \
                        }                                                                          \
                        unref(each_v[i]);                                                          \
                }                                                                                  \
                free(each_v);                                                                      \
                each_r < 0 ? visit_failed(each_r, what, err) : (int) each_k;                       \
        })

int sbx_pod_each(struct sbx *s, sbx_pod_keep_fn keep, sbx_pod_visit_fn visit, void *arg,
                 struct uvm_error **err)
{
        return EACH(s, pods, n_pods, pod_unref, keep, visit, arg, "pods", err);
}

int sbx_ctr_each(struct sbx *s, sbx_ctr_keep_fn keep, sbx_ctr_visit_fn visit, void *arg,
                 struct uvm_error **err)
{
        return EACH(s, ctrs, n_ctrs, ctr_unref, keep, visit, arg, "containers", err);
}

uint64_t sbx_list_gen(struct sbx *s)
{
        return __atomic_load_n(&s->list_gen, __ATOMIC_SEQ_CST);
}

void sbx_list_changed(struct sbx *s)
{
        __atomic_add_fetch(&s->list_gen, 1, __ATOMIC_SEQ_CST);
}
