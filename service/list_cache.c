/* Packed unfiltered List answers, by generation (list_cache.h). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/macros.h"
#include "service/list_cache.h"

struct list_reply {
        int refs;     /* atomic */
        uint64_t gen; /* immutable: the generation read before its walk */
        size_t len;   /* immutable */
        uint8_t data[];
};

struct list_cache {
        pthread_mutex_t lock;                 /* guards entry; held only to swap or ref */
        struct list_reply *entry[LIST_KINDS]; /* lock; NULL: none yet */
        uint64_t hits, builds;                /* atomic */
};

struct list_cache *list_cache_new(void)
{
        struct list_cache *c = calloc(1, sizeof(*c));

        if (c)
                pthread_mutex_init(&c->lock, NULL);
        return c;
}

struct list_cache *list_cache_free(struct list_cache *c)
{
        if (!c)
                return NULL;
        for (size_t k = 0; k < LIST_KINDS; k++)
                list_reply_unref(c->entry[k]);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

const uint8_t *list_reply_data(const struct list_reply *r)
{
        return r->data;
}

size_t list_reply_len(const struct list_reply *r)
{
        return r->len;
}

void list_reply_ref(struct list_reply *r)
{
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

void list_reply_unref(void *p)
{
        struct list_reply *r = p;

        if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
                free(r);
}

/* A reference to the entry when it was built at gen; c->lock held. */
static struct list_reply *entry_ref_locked(struct list_cache *c, enum list_kind kind, uint64_t gen)
{
        struct list_reply *r = c->entry[kind];

        if (!r || r->gen != gen)
                return NULL;
        list_reply_ref(r);
        return r;
}

static struct list_reply *entry_at(struct list_cache *c, enum list_kind kind, uint64_t gen)
{
        struct list_reply *r;

        pthread_mutex_lock(&c->lock);
        r = entry_ref_locked(c, kind, gen);
        pthread_mutex_unlock(&c->lock);
        return r;
}

struct list_reply *list_cache_peek(struct list_cache *c, enum list_kind kind, uint64_t gen)
{
        struct list_reply *r;

        if (pthread_mutex_trylock(&c->lock) != 0)
                return NULL;
        r = entry_ref_locked(c, kind, gen);
        pthread_mutex_unlock(&c->lock);
        if (r)
                __atomic_add_fetch(&c->hits, 1, __ATOMIC_RELAXED);
        return r;
}

/* Keep r unless the entry is newer: two builds may race, and the one that
 * read the older generation must not replace the other's. */
static void entry_offer(struct list_cache *c, enum list_kind kind, struct list_reply *r)
{
        struct list_reply *old = NULL;

        pthread_mutex_lock(&c->lock);
        if (!c->entry[kind] || c->entry[kind]->gen <= r->gen) {
                old = c->entry[kind];
                list_reply_ref(r);
                c->entry[kind] = r;
        }
        pthread_mutex_unlock(&c->lock);
        list_reply_unref(old);
}

static struct list_reply *reply_pack(const ProtobufCMessage *m, uint64_t gen)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        struct list_reply *r = malloc(sizeof(*r) + len);

        if (!r)
                return NULL;
        r->refs = 1;
        r->gen = gen;
        r->len = protobuf_c_message_pack(m, r->data);
        return r;
}

int list_cache_answer(struct list_cache *c, enum list_kind kind, uint64_t gen, list_build_fn build,
                      void *arg, struct list_reply **ret_reply, struct uvm_error **err)
{
        ProtobufCMessage *m = NULL;
        struct list_reply *r = entry_at(c, kind, gen);
        int rc;

        if (r) {
                __atomic_add_fetch(&c->hits, 1, __ATOMIC_RELAXED);
                *ret_reply = r;
                return 0;
        }
        rc = build(arg, &m, err);
        if (rc < 0)
                return rc;
        r = m ? reply_pack(m, gen) : NULL;
        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory building the response");
        __atomic_add_fetch(&c->builds, 1, __ATOMIC_RELAXED);
        entry_offer(c, kind, r);
        *ret_reply = r;
        return 0;
}

void list_cache_counts(struct list_cache *c, uint64_t *ret_hits, uint64_t *ret_builds)
{
        *ret_hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
        *ret_builds = __atomic_load_n(&c->builds, __ATOMIC_RELAXED);
}

bool list_pod_filter_empty(const Runtime__V1__PodSandboxFilter *f)
{
        return !f || (STR_EMPTY(f->id) && !f->state && f->n_label_selector == 0);
}

bool list_ctr_filter_empty(const Runtime__V1__ContainerFilter *f)
{
        return !f || (STR_EMPTY(f->id) && !f->state && STR_EMPTY(f->pod_sandbox_id) &&
                      f->n_label_selector == 0);
}
