/* CRI RuntimeService, usage: ContainerStats, ListContainerStats,
 * PodSandboxStats and ListPodSandboxStats (cri_stats.h), the same on Linux
 * and Windows. Usage comes from the pod's driver (sandbox/container.h
 * sbx_ctr_usage, sandbox.h sbx_pod_usage): for VM pods, from the agent. */

#include "proto/api.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/platform.h"
#include "sandbox/container.h"
#include "sandbox/ids.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"
#include "service/cri.h"
#include "service/cri_stats.h"
#include "service/daemon.h"
#include "service/validate.h"

/* How long one container's stats may wait for its busy pod. A list call
 * gives up on a pod after one such wait (see struct busy_pods). */
#define STATS_WAIT_MS 2000

/* One container: what the answer needs of its record (in the call's arena),
 * and its usage; has_usage false when the driver could not say (busy pod,
 * agent error): the kubelet then shows no numbers rather than wrong ones. */
struct usage {
        const char *id, *pod_id;
        enum ctr_state state;
        int64_t memory_limit;
        Runtime__V1__ContainerAttributes *attrs;
        struct drv_ctr_stats st;
        bool has_usage;
};

/* Pods found busy during one list call: their other containers are not
 * asked again, so one stuck pod costs the call one wait, not one per
 * container. */
struct busy_pods {
        const char *ids[16];
        size_t n;
};

static bool is_busy(const struct busy_pods *b, const char *pod_id)
{
        for (size_t i = 0; i < b->n; i++)
                if (STR_EQ(b->ids[i], pod_id))
                        return true;
        return b->n == ARRAY_SIZE(b->ids); /* too many stuck pods: stop asking */
}

static int64_t wait_ms(struct srv_ctx *ctx)
{
        int64_t left = srv_ctx_remaining_ms(ctx);

        return left < STATS_WAIT_MS ? (left > 0 ? left : 0) : STATS_WAIT_MS;
}

/* Usage of one listed container (u->rec already filled); failures are
 * logged and leave has_usage false. */
static void usage_fill(struct srv_ctx *ctx, struct usage *u, struct busy_pods *busy)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        int r;

        if (u->state != CTR_RUNNING) {
                u->has_usage = true; /* a stopped container uses nothing */
                return;
        }
        if (is_busy(busy, u->pod_id))
                return;
        r = sbx_ctr_usage(ctx->daemon->sbx, u->id, wait_ms(ctx), NULL, &u->st, &e);
        if (r == -ENOENT) /* removed meanwhile */
                return;
        if (r < 0) {
                log_warn("container %s: no stats: %s, ignoring", u->id, e ? e->msg : "");
                if ((r == -EAGAIN || r == -ETIMEDOUT) && busy->n < ARRAY_SIZE(busy->ids))
                        busy->ids[busy->n++] = u->pod_id;
                return;
        }
        u->has_usage = true;
}

/* --- encoding --- */

static Runtime__V1__CpuUsage *cpu_msg(struct srv_ctx *ctx, const struct drv_ctr_stats *st)
{
        Runtime__V1__CpuUsage *m = srv_new(ctx, Runtime__V1__CpuUsage);

        if (m) {
                runtime__v1__cpu_usage__init(m);
                m->timestamp = st->timestamp_ns;
                m->usage_core_nano_seconds = cri_u64(ctx, st->cpu_usage_ns);
                m->usage_nano_cores = cri_u64(ctx, st->cpu_nano_cores);
        }
        return m;
}

/* limit: the memory limit (0: none, and then nothing is "available"). */
static Runtime__V1__MemoryUsage *mem_msg(struct srv_ctx *ctx, const struct drv_ctr_stats *st,
                                         uint64_t limit)
{
        Runtime__V1__MemoryUsage *m = srv_new(ctx, Runtime__V1__MemoryUsage);

        if (m) {
                runtime__v1__memory_usage__init(m);
                m->timestamp = st->timestamp_ns;
                if (limit)
                        m->available_bytes =
                                cri_u64(ctx, limit > st->memory_working_set_bytes
                                                     ? limit - st->memory_working_set_bytes
                                                     : 0);
                m->working_set_bytes = cri_u64(ctx, st->memory_working_set_bytes);
                m->usage_bytes = cri_u64(ctx, st->memory_usage_bytes);
                m->rss_bytes = cri_u64(ctx, st->memory_rss_bytes);
                m->page_faults = cri_u64(ctx, st->page_faults);
                m->major_page_faults = cri_u64(ctx, st->major_page_faults);
        }
        return m;
}

static Runtime__V1__ContainerAttributes *ctr_attrs(struct srv_ctx *ctx, const struct ctr_record *r)
{
        Runtime__V1__ContainerAttributes *a = srv_new(ctx, Runtime__V1__ContainerAttributes);
        Runtime__V1__ContainerMetadata *m = srv_new(ctx, Runtime__V1__ContainerMetadata);

        if (!a || !m)
                return NULL;
        runtime__v1__container_attributes__init(a);
        runtime__v1__container_metadata__init(m);
        m->name = srv_strdup(ctx, r->name);
        m->attempt = r->attempt;
        a->id = srv_strdup(ctx, r->id);
        a->metadata = m;
        a->labels = cri_kv_to(ctx, r->labels, r->n_labels,
                              &runtime__v1__container_attributes__labels_entry__descriptor,
                              &a->n_labels);
        a->annotations =
                cri_kv_to(ctx, r->annotations, r->n_annotations,
                          &runtime__v1__container_attributes__annotations_entry__descriptor,
                          &a->n_annotations);
        return a;
}

/* What the container wrote, and where: ephemeral-storage eviction reads it. */
static Runtime__V1__FilesystemUsage *writable_msg(struct srv_ctx *ctx,
                                                  const struct drv_ctr_stats *st)
{
        Runtime__V1__FilesystemUsage *m = srv_new(ctx, Runtime__V1__FilesystemUsage);
        Runtime__V1__FilesystemIdentifier *id = srv_new(ctx, Runtime__V1__FilesystemIdentifier);

        if (!m || !id || !st->writable_fs[0])
                return NULL;
        runtime__v1__filesystem_usage__init(m);
        runtime__v1__filesystem_identifier__init(id);
        id->mountpoint = srv_strdup(ctx, st->writable_fs);
        m->timestamp = st->timestamp_ns;
        m->fs_id = id;
        m->used_bytes = cri_u64(ctx, st->writable_bytes);
        m->inodes_used = cri_u64(ctx, st->writable_inodes);
        return m;
}

static Runtime__V1__ContainerStats *ctr_stats_msg(struct srv_ctx *ctx, const struct usage *u)
{
        Runtime__V1__ContainerStats *s = srv_new(ctx, Runtime__V1__ContainerStats);
        int64_t limit = u->memory_limit;

        if (!s)
                return NULL;
        runtime__v1__container_stats__init(s);
        s->attributes = u->attrs;
        if (u->has_usage) {
                s->cpu = cpu_msg(ctx, &u->st);
                s->memory = mem_msg(ctx, &u->st, limit > 0 ? (uint64_t) limit : 0);
                s->writable_layer = writable_msg(ctx, &u->st);
        }
        return s->attributes ? s : NULL;
}

/* --- listing --- */

/* u from a record (under its lock, or a copy): only what the answer needs. */
static int usage_from(struct srv_ctx *ctx, const struct ctr_record *r, struct usage *u)
{
        *u = (struct usage){
                .id = srv_strdup(ctx, r->id),
                .pod_id = srv_strdup(ctx, r->pod_id),
                .state = r->state,
                .memory_limit = r->res.memory_limit_in_bytes,
                .attrs = ctr_attrs(ctx, r),
        };
        return u->id && u->pod_id && u->attrs ? 0 : -ENOMEM;
}

/* The containers being listed (sandbox/list.h): keep() chooses on the live
 * records, and only the kept ones are copied. */
struct usage_list {
        struct srv_ctx *ctx;
        bool (*keep)(const struct ctr_record *, const void *);
        const void *arg;
        struct usage *v;
        size_t n, cap;
};

static bool usage_keep(const struct ctr_record *r, const void *arg)
{
        const struct usage_list *l = arg;

        return l->keep(r, l->arg);
}

static int usage_visit(const struct ctr_record *r, void *arg)
{
        struct usage_list *l = arg;
        struct usage *v = cri_room(l->ctx, l->v, l->n, &l->cap, sizeof(*v));

        if (!v)
                return -ENOMEM;
        l->v = v;
        return usage_from(l->ctx, r, &l->v[l->n++]);
}

/* The containers passing keep(), with their usage (in the call's arena).
 * The driver is asked after the walk, with no record's lock held. */
static int usage_list(struct srv_ctx *ctx, bool (*keep)(const struct ctr_record *, const void *),
                      const void *arg, struct usage **ret, size_t *ret_n, struct uvm_error **err)
{
        struct busy_pods busy = {.n = 0};
        struct usage_list l = {.ctx = ctx, .keep = keep, .arg = arg};
        int r = sbx_ctr_each(ctx->daemon->sbx, usage_keep, usage_visit, &l, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++)
                usage_fill(ctx, &l.v[i], &busy);
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

/* --- containers --- */

int cri_ctr_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err)
{
        const Runtime__V1__ContainerStatsRequest *req = (const void *) m;
        Runtime__V1__ContainerStatsResponse *resp =
                srv_new(ctx, Runtime__V1__ContainerStatsResponse);
        struct ctr_record rec = {0};
        struct drv_ctr_stats st;
        struct usage u;
        int r = validate_string("container_id", req->container_id, SBX_ID_LEN, err);

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = sbx_ctr_usage(ctx->daemon->sbx, req->container_id, wait_ms(ctx), &rec, &st, err);
        if (r < 0)
                return r;
        r = usage_from(ctx, &rec, &u);
        ctr_record_clear(&rec);
        u.st = st;
        u.has_usage = true;
        runtime__v1__container_stats_response__init(resp);
        resp->stats = r >= 0 ? ctr_stats_msg(ctx, &u) : NULL;
        if (!resp->stats)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &resp->base;
        return 0;
}

static bool prefix_ok(const char *s, const char *prefix)
{
        return STR_EMPTY(prefix) || strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ctr_filter_keep(const struct ctr_record *r, const void *arg)
{
        const Runtime__V1__ContainerStatsFilter *f = arg;

        return !f || (prefix_ok(r->id, f->id) && prefix_ok(r->pod_id, f->pod_sandbox_id) &&
                      cri_labels_match(r->labels, r->n_labels, (void *const *) f->label_selector,
                                       f->n_label_selector));
}

static int check_filter_ids(const char *id, const char *pod_id, struct uvm_error **err)
{
        if (id && strlen(id) > SBX_ID_LEN)
                return uvm_error_set(err, EINVAL, "filter.id: longer than %d bytes", SBX_ID_LEN);
        if (pod_id && strlen(pod_id) > SBX_ID_LEN)
                return uvm_error_set(err, EINVAL, "filter.pod_sandbox_id: longer than %d bytes",
                                     SBX_ID_LEN);
        return 0;
}

int cri_list_ctr_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__ListContainerStatsRequest *req = (const void *) m;
        Runtime__V1__ListContainerStatsResponse *resp =
                srv_new(ctx, Runtime__V1__ListContainerStatsResponse);
        struct usage *v = NULL;
        size_t n = 0;
        int r = req->filter ? check_filter_ids(req->filter->id, req->filter->pod_sandbox_id, err)
                            : 0;

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = usage_list(ctx, ctr_filter_keep, req->filter, &v, &n, err);
        if (r < 0)
                return r;
        runtime__v1__list_container_stats_response__init(resp);
        resp->stats = srv_new_array(ctx, Runtime__V1__ContainerStats *, n);
        for (size_t i = 0; resp->stats && i < n; i++)
                if ((resp->stats[resp->n_stats] = ctr_stats_msg(ctx, &v[i])))
                        resp->n_stats++;
        if (!resp->stats || resp->n_stats != n)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &resp->base;
        return 0;
}

/* --- pods --- */

static Runtime__V1__PodSandboxAttributes *pod_attrs(struct srv_ctx *ctx, const struct pod_record *p)
{
        Runtime__V1__PodSandboxAttributes *a = srv_new(ctx, Runtime__V1__PodSandboxAttributes);
        Runtime__V1__PodSandboxMetadata *m = srv_new(ctx, Runtime__V1__PodSandboxMetadata);

        if (!a || !m)
                return NULL;
        runtime__v1__pod_sandbox_attributes__init(a);
        runtime__v1__pod_sandbox_metadata__init(m);
        m->name = srv_strdup(ctx, p->name);
        m->namespace_ = srv_strdup(ctx, p->namespace_);
        m->uid = srv_strdup(ctx, p->uid);
        m->attempt = p->attempt;
        a->id = srv_strdup(ctx, p->id);
        a->metadata = m;
        a->labels = cri_kv_to(ctx, p->labels, p->n_labels,
                              &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor,
                              &a->n_labels);
        a->annotations =
                cri_kv_to(ctx, p->annotations, p->n_annotations,
                          &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor,
                          &a->n_annotations);
        return a;
}

static Runtime__V1__NetworkInterfaceUsage *iface_msg(struct srv_ctx *ctx,
                                                     const struct drv_interface_stats *i)
{
        Runtime__V1__NetworkInterfaceUsage *m = srv_new(ctx, Runtime__V1__NetworkInterfaceUsage);

        if (m) {
                runtime__v1__network_interface_usage__init(m);
                m->name = srv_strdup(ctx, i->name);
                m->rx_bytes = cri_u64(ctx, i->rx_bytes);
                m->rx_errors = cri_u64(ctx, i->rx_errors);
                m->tx_bytes = cri_u64(ctx, i->tx_bytes);
                m->tx_errors = cri_u64(ctx, i->tx_errors);
        }
        return m;
}

/* The pod's interfaces; the default one is CNI's eth0 (else the first). */
static Runtime__V1__NetworkUsage *net_msg(struct srv_ctx *ctx, const struct drv_pod_stats *ps)
{
        Runtime__V1__NetworkUsage *m = srv_new(ctx, Runtime__V1__NetworkUsage);

        if (!m || !ps || ps->n_interfaces == 0)
                return NULL;
        runtime__v1__network_usage__init(m);
        m->timestamp = ps->timestamp_ns;
        m->interfaces = srv_new_array(ctx, Runtime__V1__NetworkInterfaceUsage *, ps->n_interfaces);
        for (size_t i = 0; m->interfaces && i < ps->n_interfaces; i++) {
                if (!(m->interfaces[i] = iface_msg(ctx, &ps->interfaces[i])))
                        return NULL;
                m->n_interfaces++;
                if (STR_EQ(ps->interfaces[i].name, "eth0") || !m->default_interface)
                        m->default_interface = m->interfaces[i];
        }
        return m->interfaces ? m : NULL;
}

static Runtime__V1__ProcessUsage *process_msg(struct srv_ctx *ctx, int64_t ts, uint64_t count)
{
        Runtime__V1__ProcessUsage *m = srv_new(ctx, Runtime__V1__ProcessUsage);

        if (m) {
                runtime__v1__process_usage__init(m);
                m->timestamp = ts;
                m->process_count = cri_u64(ctx, count);
        }
        return m;
}

/* The pod's usage: its containers' summed. Left out when any running
 * container's usage is unknown, since a partial sum would under-report. */
static int pod_linux(struct srv_ctx *ctx, const char *pod_id, const struct usage *v, size_t n,
                     Runtime__V1__LinuxPodSandboxStats *ret)
{
        struct drv_ctr_stats sum = {0};
        bool complete = true;

        runtime__v1__linux_pod_sandbox_stats__init(ret);
        ret->containers = srv_new_array(ctx, Runtime__V1__ContainerStats *, n);
        if (!ret->containers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct drv_ctr_stats *st = &v[i].st;
                if (!STR_EQ(v[i].pod_id, pod_id))
                        continue;
                ret->containers[ret->n_containers] = ctr_stats_msg(ctx, &v[i]);
                if (!ret->containers[ret->n_containers++])
                        return -ENOMEM;
                complete = complete && v[i].has_usage;
                if (st->timestamp_ns > sum.timestamp_ns)
                        sum.timestamp_ns = st->timestamp_ns;
                sum.cpu_usage_ns += st->cpu_usage_ns;
                sum.memory_usage_bytes += st->memory_usage_bytes;
                sum.memory_working_set_bytes += st->memory_working_set_bytes;
                sum.memory_rss_bytes += st->memory_rss_bytes;
                sum.page_faults += st->page_faults;
                sum.major_page_faults += st->major_page_faults;
                sum.cpu_nano_cores += st->cpu_nano_cores;
                sum.process_count += st->process_count;
        }
        if (!complete)
                return 0;
        if (sum.timestamp_ns == 0)
                sum.timestamp_ns = (int64_t) plat_realtime_ns();
        ret->cpu = cpu_msg(ctx, &sum);
        ret->memory = mem_msg(ctx, &sum, 0);
        ret->process = process_msg(ctx, sum.timestamp_ns, sum.process_count);
        return ret->cpu && ret->memory && ret->process ? 0 : -ENOMEM;
}

/* One pod being listed: what the answer needs of its record, in the call's
 * arena. */
struct pod_pick {
        const char *id;
        enum pod_state state;
        Runtime__V1__PodSandboxAttributes *attrs;
};

static int pick_from(struct srv_ctx *ctx, const struct pod_record *r, struct pod_pick *ret)
{
        *ret = (struct pod_pick){
                .id = srv_strdup(ctx, r->id), .state = r->state, .attrs = pod_attrs(ctx, r)};
        return ret->id && ret->attrs ? 0 : -ENOMEM;
}

/* The pod's own usage (interfaces); NULL when it cannot be had. */
static const struct drv_pod_stats *pod_usage(struct srv_ctx *ctx, const struct pod_pick *p,
                                             struct busy_pods *busy)
{
        struct drv_pod_stats *ps = srv_new(ctx, struct drv_pod_stats);
        _cleanup_error_ struct uvm_error *e = NULL;
        int r;

        if (!ps || p->state != POD_READY || is_busy(busy, p->id))
                return NULL;
        r = sbx_pod_usage(ctx->daemon->sbx, p->id, wait_ms(ctx), ps, &e);
        if (r < 0) {
                log_warn("pod %s: no network stats: %s, ignoring", p->id, e ? e->msg : "");
                if (r == -EAGAIN && busy->n < ARRAY_SIZE(busy->ids))
                        busy->ids[busy->n++] = p->id;
                return NULL;
        }
        return ps;
}

static Runtime__V1__PodSandboxStats *pod_stats_msg(struct srv_ctx *ctx, const struct pod_pick *p,
                                                   const struct usage *v, size_t n,
                                                   struct busy_pods *busy)
{
        Runtime__V1__PodSandboxStats *s = srv_new(ctx, Runtime__V1__PodSandboxStats);
        Runtime__V1__LinuxPodSandboxStats *l = srv_new(ctx, Runtime__V1__LinuxPodSandboxStats);

        if (!s || !l)
                return NULL;
        runtime__v1__pod_sandbox_stats__init(s);
        s->attributes = p->attrs;
        s->linux = l;
        if (pod_linux(ctx, p->id, v, n, l) < 0)
                return NULL;
        l->network = net_msg(ctx, pod_usage(ctx, p, busy));
        return s;
}

/* Pod ids, sorted: a container is kept when its pod_id is one of them. */
struct id_set {
        const char **ids;
        size_t n;
};

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool pod_set_keep(const struct ctr_record *r, const void *arg)
{
        const struct id_set *set = arg;

        return set->n && bsearch(&r->pod_id, set->ids, set->n, sizeof(*set->ids), cmp_str);
}

int cri_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err)
{
        const Runtime__V1__PodSandboxStatsRequest *req = (const void *) m;
        Runtime__V1__PodSandboxStatsResponse *resp =
                srv_new(ctx, Runtime__V1__PodSandboxStatsResponse);
        struct pod_record rec = {0};
        struct pod_pick p;
        struct usage *v = NULL;
        size_t n = 0;
        int r = validate_string("pod_sandbox_id", req->pod_sandbox_id, SBX_ID_LEN, err);

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = sbx_pod_get(ctx->daemon->sbx, req->pod_sandbox_id, &rec, err);
        if (r < 0)
                return r;
        r = pick_from(ctx, &rec, &p);
        pod_record_clear(&rec);
        if (r < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = usage_list(ctx, pod_set_keep, &(struct id_set){&p.id, 1}, &v, &n, err);
        if (r >= 0) {
                struct busy_pods busy = {.n = 0};
                runtime__v1__pod_sandbox_stats_response__init(resp);
                resp->stats = pod_stats_msg(ctx, &p, v, n, &busy);
                if (!resp->stats)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0)
                return r;
        *ret = &resp->base;
        return 0;
}

/* The pods being listed (sandbox/list.h): the filter chooses on the live
 * records, and only the kept ones are copied. */
struct pod_picks {
        struct srv_ctx *ctx;
        const Runtime__V1__PodSandboxStatsFilter *f;
        struct pod_pick *v;
        size_t n, cap;
};

static bool pod_filter_keep(const struct pod_record *p, const void *arg)
{
        const Runtime__V1__PodSandboxStatsFilter *f = ((const struct pod_picks *) arg)->f;

        return !f || (prefix_ok(p->id, f->id) &&
                      cri_labels_match(p->labels, p->n_labels, (void *const *) f->label_selector,
                                       f->n_label_selector));
}

static int pod_pick_visit(const struct pod_record *r, void *arg)
{
        struct pod_picks *l = arg;
        struct pod_pick *v = cri_room(l->ctx, l->v, l->n, &l->cap, sizeof(*v));

        if (!v)
                return -ENOMEM;
        l->v = v;
        return pick_from(l->ctx, r, &l->v[l->n++]);
}

int cri_list_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__ListPodSandboxStatsRequest *req = (const void *) m;
        Runtime__V1__ListPodSandboxStatsResponse *resp =
                srv_new(ctx, Runtime__V1__ListPodSandboxStatsResponse);
        struct pod_picks pods = {.ctx = ctx, .f = req->filter};
        struct id_set set = {0};
        struct usage *v = NULL;
        size_t n = 0;
        struct busy_pods busy = {.n = 0};
        int r = req->filter ? check_filter_ids(req->filter->id, NULL, err) : 0;

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = sbx_pod_each(ctx->daemon->sbx, pod_filter_keep, pod_pick_visit, &pods, err);
        if (r < 0)
                return r;
        set.ids = srv_new_array(ctx, const char *, pods.n);
        if (!set.ids)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < pods.n; i++)
                set.ids[set.n++] = pods.v[i].id;
        qsort(set.ids, set.n, sizeof(*set.ids), cmp_str);
        r = usage_list(ctx, pod_set_keep, &set, &v, &n, err);
        if (r < 0)
                return r;
        runtime__v1__list_pod_sandbox_stats_response__init(resp);
        resp->stats = srv_new_array(ctx, Runtime__V1__PodSandboxStats *, pods.n);
        for (size_t i = 0; resp->stats && i < pods.n; i++)
                if ((resp->stats[resp->n_stats] = pod_stats_msg(ctx, &pods.v[i], v, n, &busy)))
                        resp->n_stats++;
        if (!resp->stats || resp->n_stats != pods.n)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &resp->base;
        return 0;
}

const struct srv_binding cri_stats_bindings[] = {
        {"runtime.v1.RuntimeService", "ContainerStats", SRV_UNARY, false, cri_ctr_stats, NULL},
        {"runtime.v1.RuntimeService", "ListContainerStats", SRV_UNARY, false, cri_list_ctr_stats,
         NULL},
        {"runtime.v1.RuntimeService", "PodSandboxStats", SRV_UNARY, false, cri_pod_stats, NULL},
        {"runtime.v1.RuntimeService", "ListPodSandboxStats", SRV_UNARY, false, cri_list_pod_stats,
         NULL},
        {0},
};
