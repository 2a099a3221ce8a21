/* CRI RuntimeService GetContainerEvents: a fan-out of container life-cycle
 * events (sandbox/container.h) to every subscribed stream.
 *
 * The sandbox layer calls hub_push with container locks held, so pushing
 * only copies the record into each subscriber's bounded queue; a stream's
 * own thread then looks up the pod and sends. A slow client loses its
 * oldest events (with a warning) rather than holding memory or the
 * sandbox up. Portable: Linux's daemon and uvmd.exe both bind it. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/api.pb-c.h"

#include "common/log.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "service/arena.h"
#include "service/cri.h"
#include "service/daemon.h"

#define EVENTS_QUEUE_MAX 256 /* per subscriber */
#define EVENTS_MAX_SUBSCRIBERS 64

struct ev_item {
        enum ctr_event type;
        int64_t at_ns;
        struct ctr_record rec;
};

struct ev_sub {
        struct ev_item *q;   /* ring of EVENTS_QUEUE_MAX; hub.lock */
        size_t head, n;      /* hub.lock */
        uint64_t dropped;    /* hub.lock: since the last warning */
        struct ev_sub *next; /* hub.lock */
};

static struct {
        pthread_mutex_t lock; /* guards the subscribers; never held across sandbox calls */
        pthread_cond_t cond;  /* an event was queued, or a call ended */
        struct ev_sub *subs;
        size_t n_subs;
} hub = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

static void item_clear(struct ev_item *it)
{
        ctr_record_clear(&it->rec);
}

/* hub.lock held. */
static void sub_push_locked(struct ev_sub *s, enum ctr_event type, const struct ctr_record *rec,
                            int64_t at_ns)
{
        struct ev_item *it;

        if (s->n == EVENTS_QUEUE_MAX) {
                item_clear(&s->q[s->head]);
                s->head = (s->head + 1) % EVENTS_QUEUE_MAX;
                s->n--;
                s->dropped++;
        }
        it = &s->q[(s->head + s->n) % EVENTS_QUEUE_MAX];
        if (ctr_record_copy(rec, &it->rec) < 0) {
                s->dropped++;
                return;
        }
        it->type = type;
        it->at_ns = at_ns;
        s->n++;
}

/* The sandbox layer's event sink (container lock held: copy and go). */
static void hub_push(void *data, enum ctr_event type, const struct ctr_record *rec, int64_t at_ns)
{
        (void) data;
        pthread_mutex_lock(&hub.lock);
        for (struct ev_sub *s = hub.subs; s; s = s->next)
                sub_push_locked(s, type, rec, at_ns);
        if (hub.subs)
                pthread_cond_broadcast(&hub.cond);
        pthread_mutex_unlock(&hub.lock);
}

/* Set once and never unset: with no subscriber, a push costs one lock. Not
 * done under hub.lock, which hub_push takes after the sink's own lock. */
static void install_sink(void)
{
        sbx_ctr_set_event_sink(hub_push, NULL);
}

static void wake_all(void *data)
{
        (void) data;
        pthread_mutex_lock(&hub.lock);
        pthread_cond_broadcast(&hub.cond);
        pthread_mutex_unlock(&hub.lock);
}

static int subscribe(struct ev_sub **ret, struct uvm_error **err)
{
        struct ev_sub *s = calloc(1, sizeof(*s));

        if (s)
                s->q = calloc(EVENTS_QUEUE_MAX, sizeof(*s->q));
        if (!s || !s->q) {
                free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_once(&sink_once, install_sink);
        pthread_mutex_lock(&hub.lock);
        if (hub.n_subs >= EVENTS_MAX_SUBSCRIBERS) {
                pthread_mutex_unlock(&hub.lock);
                free(s->q);
                free(s);
                return uvm_error_set(err, EAGAIN, "too many event subscribers (%d)",
                                     EVENTS_MAX_SUBSCRIBERS);
        }
        s->next = hub.subs;
        hub.subs = s;
        hub.n_subs++;
        pthread_mutex_unlock(&hub.lock);
        *ret = s;
        return 0;
}

static void unsubscribe(struct ev_sub *s)
{
        pthread_mutex_lock(&hub.lock);
        for (struct ev_sub **p = &hub.subs; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        hub.n_subs--;
                        break;
                }
        pthread_mutex_unlock(&hub.lock);
        for (size_t i = 0; i < s->n; i++)
                item_clear(&s->q[(s->head + i) % EVENTS_QUEUE_MAX]);
        free(s->q);
        free(s);
}

/* Wait for the next event: 1 with *ret filled, 0 when the call is over. */
static int next_event(struct srv_ctx *ctx, struct ev_sub *s, struct ev_item *ret,
                      uint64_t *ret_dropped)
{
        pthread_mutex_lock(&hub.lock);
        while (s->n == 0 && !srv_ctx_done(ctx))
                pthread_cond_wait(&hub.cond, &hub.lock);
        if (s->n == 0 || srv_ctx_done(ctx)) {
                pthread_mutex_unlock(&hub.lock);
                return 0;
        }
        *ret = s->q[s->head];
        memset(&s->q[s->head], 0, sizeof(s->q[s->head]));
        s->head = (s->head + 1) % EVENTS_QUEUE_MAX;
        s->n--;
        *ret_dropped = s->dropped;
        s->dropped = 0;
        pthread_mutex_unlock(&hub.lock);
        return 1;
}

/* --- encoding, from a per-event arena (a stream's call arena would grow
 * for as long as the stream lives) --- */

/* Map entries: protoc-c makes one struct per map, all of this shape. */
struct kv_entry {
        ProtobufCMessage base;
        char *key, *value;
};

static void *kv_to(struct arena *a, const struct record_kv *kv, size_t n,
                   const ProtobufCMessageDescriptor *desc, size_t *ret_n)
{
        void **v = arena_alloc(a, sizeof(void *) * (n ? n : 1));

        for (size_t i = 0; v && i < n; i++) {
                struct kv_entry *e = arena_alloc(a, desc->sizeof_message);
                if (!e)
                        return NULL;
                protobuf_c_message_init(desc, e);
                e->key = arena_strdup(a, kv[i].key);
                e->value = arena_strdup(a, kv[i].value);
                v[i] = e;
        }
        *ret_n = v ? n : 0;
        return v;
}

static Runtime__V1__ContainerStatus *ctr_status(struct arena *a, const struct ctr_record *r)
{
        Runtime__V1__ContainerStatus *st = arena_alloc(a, sizeof(*st));
        Runtime__V1__ContainerMetadata *m = arena_alloc(a, sizeof(*m));
        Runtime__V1__ImageSpec *img = arena_alloc(a, sizeof(*img));

        if (!st || !m || !img)
                return NULL;
        runtime__v1__container_status__init(st);
        runtime__v1__container_metadata__init(m);
        runtime__v1__image_spec__init(img);
        m->name = arena_strdup(a, r->name);
        m->attempt = r->attempt;
        img->image = arena_strdup(a, r->image);
        st->id = arena_strdup(a, r->id);
        st->metadata = m;
        st->state = cri_ctr_state(r->state);
        st->created_at = r->created_ns;
        st->started_at = r->started_ns;
        st->finished_at = r->finished_ns;
        st->exit_code = r->exit_code;
        st->image = img;
        st->image_ref = arena_strdup(a, r->image_id);
        st->image_id = st->image_ref;
        st->reason = arena_strdup(a, r->reason);
        st->message = arena_strdup(a, r->message);
        st->log_path = arena_strdup(a, r->log_path);
        st->labels = kv_to(a, r->labels, r->n_labels,
                           &runtime__v1__container_status__labels_entry__descriptor, &st->n_labels);
        st->annotations = kv_to(a, r->annotations, r->n_annotations,
                                &runtime__v1__container_status__annotations_entry__descriptor,
                                &st->n_annotations);
        return st->labels && st->annotations ? st : NULL;
}

/* The pod's status now; just its id when it is already gone. */
static Runtime__V1__PodSandboxStatus *pod_status(struct arena *a, struct uvmd *d,
                                                 const char *pod_id)
{
        Runtime__V1__PodSandboxStatus *st = arena_alloc(a, sizeof(*st));
        Runtime__V1__PodSandboxMetadata *m = arena_alloc(a, sizeof(*m));
        struct pod_record p = {0};

        if (!st || !m)
                return NULL;
        runtime__v1__pod_sandbox_status__init(st);
        runtime__v1__pod_sandbox_metadata__init(m);
        st->id = arena_strdup(a, pod_id);
        st->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
        if (sbx_pod_get(d->sbx, pod_id, &p, NULL) < 0)
                return st;
        m->name = arena_strdup(a, p.name);
        m->namespace_ = arena_strdup(a, p.namespace_);
        m->uid = arena_strdup(a, p.uid);
        m->attempt = p.attempt;
        st->metadata = m;
        if (p.state == POD_READY)
                st->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        st->created_at = p.created_ns;
        st->runtime_handler = arena_strdup(a, p.runtime_handler);
        st->labels =
                kv_to(a, p.labels, p.n_labels,
                      &runtime__v1__pod_sandbox_status__labels_entry__descriptor, &st->n_labels);
        st->annotations = kv_to(a, p.annotations, p.n_annotations,
                                &runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
                                &st->n_annotations);
        pod_record_clear(&p);
        return st->labels && st->annotations ? st : NULL;
}

static const Runtime__V1__ContainerEventType event_types[] = {
        [CTR_EVENT_CREATED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT,
        [CTR_EVENT_STARTED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT,
        [CTR_EVENT_STOPPED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT,
        [CTR_EVENT_DELETED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT,
};

/* -ECANCELED once the peer has gone. */
static int send_event(struct srv_ctx *ctx, const struct ev_item *it)
{
        struct arena a = {0};
        Runtime__V1__ContainerEventResponse *ev = arena_alloc(&a, sizeof(*ev));
        Runtime__V1__ContainerStatus **sts = arena_alloc(&a, sizeof(*sts));
        int r = -ENOMEM;

        if (ev && sts) {
                runtime__v1__container_event_response__init(ev);
                ev->container_id = arena_strdup(&a, it->rec.id);
                ev->container_event_type = event_types[it->type];
                ev->created_at = it->at_ns;
                ev->pod_sandbox_status = pod_status(&a, ctx->daemon, it->rec.pod_id);
                sts[0] = ctr_status(&a, &it->rec);
                ev->containers_statuses = sts;
                ev->n_containers_statuses = 1;
                if (ev->container_id && ev->pod_sandbox_status && sts[0])
                        r = srv_stream_send(ctx, &ev->base);
        }
        arena_release(&a);
        return r;
}

static int cri_get_events(struct srv_ctx *ctx, const ProtobufCMessage *first_req,
                          struct uvm_error **err)
{
        struct ev_sub *s = NULL;
        struct ev_item it;
        uint64_t dropped = 0;
        int r;

        (void) first_req; /* GetEventsRequest has no fields */
        r = subscribe(&s, err);
        if (r < 0)
                return r;
        srv_ctx_on_done(ctx, wake_all, NULL);
        while (next_event(ctx, s, &it, &dropped) > 0) {
                if (dropped)
                        log_warn("container events: a slow client lost %llu events",
                                 (unsigned long long) dropped);
                r = send_event(ctx, &it);
                if (r == -ENOMEM)
                        log_warn("container events: out of memory, event for %s dropped",
                                 it.rec.id);
                item_clear(&it);
                if (r < 0 && r != -ENOMEM)
                        break;
        }
        srv_ctx_on_done(ctx, NULL, NULL);
        unsubscribe(s);
        /* The client went away or the server drains: either way the stream
         * simply ends. */
        return 0;
}

const struct srv_binding cri_events_bindings[] = {
        {"runtime.v1.RuntimeService", "GetContainerEvents", SRV_SERVER_STREAM, false, NULL,
         cri_get_events},
        {0},
};
