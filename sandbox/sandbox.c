/*
 * The pod half of the sandbox layer: the registry, a pod's state machine
 * and record, its driver's sandbox, recovery after a restart. Portable:
 * what a pod gets from its host besides the driver (Linux: namespaces,
 * CNI, cgroups) comes through sandbox-plat.h.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fault.h"
#include "common/log.h"
#include "common/platform.h"
#include "sandbox/ids.h"
#include "sandbox/phase.h"
#include "sandbox/sandbox-internal.h"
#include "sandbox/sandbox-plat.h"
#include "sandbox/stream.h"

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

/* A deep copy; -ENOMEM leaves *dst cleared. */
static int rec_copy(const struct pod_record *src, struct pod_record *dst)
{
        struct pod_record r = *src;
        bool ok;

        r.labels = r.annotations = NULL;
        r.n_labels = r.n_annotations = 0;
        if (record_kv_copy(src->labels, src->n_labels, &r.labels) == 0)
                r.n_labels = src->n_labels;
        if (record_kv_copy(src->annotations, src->n_annotations, &r.annotations) == 0)
                r.n_annotations = src->n_annotations;
        ok = r.labels && r.annotations;
        r.id = xstrdup(src->id);
        r.name = xstrdup(src->name);
        r.namespace_ = xstrdup(src->namespace_);
        r.uid = xstrdup(src->uid);
        r.runtime_handler = xstrdup(src->runtime_handler);
        r.driver = xstrdup(src->driver);
        r.hostname = xstrdup(src->hostname);
        r.log_directory = xstrdup(src->log_directory);
        r.netns_path = xstrdup(src->netns_path);
        r.cgroup_parent = xstrdup(src->cgroup_parent);
        for (size_t i = 0; i < src->n_ips && i < 2; i++) {
                r.ips[i] = xstrdup(src->ips[i]);
                ok = ok && r.ips[i];
        }
        r.sysctls = NULL;
        if (src->sysctls) {
                size_t n = 0;
                while (src->sysctls[n])
                        n++;
                r.sysctls = calloc(n + 1, sizeof(char *));
                for (size_t i = 0; r.sysctls && i < n; i++)
                        ok = ok && (r.sysctls[i] = strdup(src->sysctls[i]));
                ok = ok && r.sysctls;
        }
        ok = ok && (r.cgroup_parent || !src->cgroup_parent);
        if (!ok || !r.name || !r.namespace_ || !r.uid || !r.driver || (src->id && !r.id)) {
                pod_record_clear(&r);
                memset(dst, 0, sizeof(*dst));
                return -ENOMEM;
        }
        *dst = r;
        return 0;
}

void pod_unref(struct sbx_pod *p)
{
        if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        if (p->drv)
                p->ops->pod_free(p->drv);
        pod_record_clear(&p->rec);
        strv_free(p->unreadable);
        pthread_mutex_destroy(&p->op_lock);
        pthread_rwlock_destroy(&p->drv_rw);
        pthread_mutex_destroy(&p->lock);
        free(p->dir);
        free(p->userns_path);
        free(p);
}

void pod_unrefp(struct sbx_pod **p)
{
        pod_unref(*p);
}

int sbx_new(const struct sbx_options *o, struct sbx **ret, struct uvm_error **err)
{
        struct sbx *s = calloc(1, sizeof(*s));
        _cleanup_free_ char *pods = NULL;
        int r;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        s->state_root = strdup(o->state_root);
        s->oci_runtime = strdup(o->oci_runtime ? o->oci_runtime : "runc");
        s->images_root = o->images_root ? strdup(o->images_root) : NULL;
        s->net = o->net;
        s->images = o->images;
        s->systemd_cgroups = o->systemd_cgroups;
        if (o->hooks)
                s->hooks = *o->hooks;
        for (size_t i = 0; i < o->n_features && i < SBX_MAX_DRIVERS; i++)
                s->features[s->n_features++] = o->features[i];
        s->ctrs = calloc(16384, sizeof(*s->ctrs));
        s->pods = calloc(SBX_MAX_PODS, sizeof(*s->pods));
        pthread_mutex_init(&s->lock, NULL);
        if (!s->state_root || !s->oci_runtime || !s->pods || !s->ctrs ||
            asprintf(&pods, "%s/pods", o->state_root) < 0) {
                sbx_free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = sbx_plat_pods_root(pods, err);
        if (r < 0) {
                sbx_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

struct sbx *sbx_free(struct sbx *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_pods; i++)
                pod_unref(s->pods[i]);
        while (s->n_ctrs > 0)
                sbx_ctr_forget(s, s->ctrs[s->n_ctrs - 1]);
        pthread_mutex_destroy(&s->lock);
        free(s->pods);
        free(s->ctrs);
        free(s->state_root);
        free(s->oci_runtime);
        free(s->images_root);
        free(s);
        return NULL;
}

struct sbx_driver_features sbx_features_of(const struct sbx *s, const char *driver)
{
        for (size_t i = 0; i < s->n_features; i++)
                if (STR_EQ(s->features[i].driver, driver))
                        return s->features[i];
        return (struct sbx_driver_features){.driver = driver};
}

size_t sbx_pod_count(struct sbx *s)
{
        size_t n;

        pthread_mutex_lock(&s->lock);
        n = s->n_pods;
        pthread_mutex_unlock(&s->lock);
        return n;
}

/* Under s->lock: the index of the pod id_prefix names. */
static int find_locked(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        const char *ids[SBX_MAX_PODS];

        for (size_t i = 0; i < s->n_pods; i++)
                ids[i] = s->pods[i]->rec.id; /* immutable once registered */
        return sbx_id_match(ids, s->n_pods, id_prefix, "pod", err);
}

int pod_get_ref(struct sbx *s, const char *id_prefix, struct sbx_pod **ret, struct uvm_error **err)
{
        int i;

        pthread_mutex_lock(&s->lock);
        i = find_locked(s, id_prefix, err);
        if (i >= 0) {
                *ret = s->pods[i];
                __atomic_add_fetch(&(*ret)->refs, 1, __ATOMIC_ACQ_REL);
        }
        pthread_mutex_unlock(&s->lock);
        return i < 0 ? i : 0;
}

static void registry_drop(struct sbx *s, struct sbx_pod *p)
{
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_pods; i++)
                if (s->pods[i] == p) {
                        s->pods[i] = s->pods[--s->n_pods];
                        pod_unref(p);
                        break;
                }
        pthread_mutex_unlock(&s->lock);
        sbx_list_changed(s);
}

static void hook_ready(struct sbx *s, struct sbx_pod *p)
{
        if (s->hooks.pod_ready)
                s->hooks.pod_ready(s->hooks.data, p->rec.id, p->dir, p->rec.netns_path);
}

static void hook_stopped(struct sbx *s, struct sbx_pod *p)
{
        if (s->hooks.pod_stopped)
                s->hooks.pod_stopped(s->hooks.data, p->rec.id, p->dir, p->rec.netns_path);
}

/* counts[i] += 1 for ops's index in drv_at() order. */
static void count_driver(uint64_t *counts, const struct drv_ops *ops)
{
        const struct drv_ops *o;

        for (size_t i = 0; i < SBX_MAX_DRIVERS && (o = drv_at(i)); i++)
                if (o == ops) {
                        __atomic_add_fetch(&counts[i], 1, __ATOMIC_RELAXED);
                        return;
                }
}

size_t sbx_driver_counts(struct sbx *s, struct sbx_driver_counts *v, size_t max)
{
        const struct drv_ops *o;
        size_t n = 0;

        for (size_t i = 0; i < SBX_MAX_DRIVERS && n < max && (o = drv_at(i)); i++)
                v[n++] = (struct sbx_driver_counts){
                        .driver = o->name,
                        .crashes = __atomic_load_n(&s->crashes[i], __ATOMIC_RELAXED),
                        .reattached = __atomic_load_n(&s->reattached[i], __ATOMIC_RELAXED),
                        .lost = __atomic_load_n(&s->lost[i], __ATOMIC_RELAXED),
                };
        return n;
}

/* The only place a pod's state changes: checked, logged, persisted. */
static int pod_set_state(struct sbx_pod *p, enum pod_state to, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&p->lock);
        r = pod_state_change(p->rec.id, &p->rec.state, to, err);
        if (r == 0)
                r = pod_record_save(p->dir, &p->rec, err);
        pthread_mutex_unlock(&p->lock);
        sbx_list_changed(p->sbx); /* even when the save failed: the state did change */
        return r;
}

static void on_pod_died(void *data, const char *reason)
{
        struct sbx_pod *p = data;
        struct uvm_error *e = NULL;

        char why[256];

        log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: UVM died: %s", p->rec.id, reason);
        count_driver(p->sbx->crashes, p->ops);
        if (pod_set_state(p, POD_NOTREADY, &e) < 0)
                log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: %s, ignoring", p->rec.id, e->msg);
        uvm_error_free(e);
        /* The driver's contract: every container in it has exited. */
        snprintf(why, sizeof(why), "the pod's sandbox died: %s", reason ? reason : "");
        sbx_ctr_pod_died(p->sbx, p->rec.id, why);
}

static void on_ctr_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        struct sbx_pod *p = data;

        sbx_ctr_on_exit(p->sbx, ctr_id, code, ns, oom);
}

static void on_ctr_output(void *data, const char *ctr_id, enum drv_stream s, const char *b,
                          size_t n)
{
        struct sbx_pod *p = data;

        sbx_ctr_on_output(p->sbx, ctr_id, s, b, n);
}

static bool same_name(const struct pod_record *a, const struct pod_record *b)
{
        return STR_EQ(a->name, b->name) && STR_EQ(a->namespace_, b->namespace_) &&
               STR_EQ(a->uid, b->uid) && a->attempt == b->attempt;
}

/* Reserve the name and register p (CREATING). */
static int registry_add(struct sbx *s, struct sbx_pod *p, struct uvm_error **err)
{
        int r = 0;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_pods && r == 0; i++)
                if (same_name(&s->pods[i]->rec, &p->rec))
                        r = uvm_error_set(err, EEXIST,
                                          "pod %s/%s (uid %s, attempt %u) already exists as %s",
                                          p->rec.namespace_, p->rec.name, p->rec.uid,
                                          p->rec.attempt, s->pods[i]->rec.id);
        if (r == 0 && s->n_pods == SBX_MAX_PODS)
                r = uvm_error_set(err, ENOSPC, "too many pods (%d)", SBX_MAX_PODS);
        if (r == 0) {
                __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
                s->pods[s->n_pods++] = p;
        }
        pthread_mutex_unlock(&s->lock);
        if (r == 0)
                sbx_list_changed(s);
        return r;
}

static int pod_new(struct sbx *s, const struct pod_record *rec, const struct drv_ops *ops,
                   struct sbx_pod **ret, struct uvm_error **err)
{
        struct sbx_pod *p = calloc(1, sizeof(*p));
        char id[SBX_ID_LEN + 1];

        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        p->refs = 1;
        p->ops = ops;
        p->net = s->net;
        p->sbx = s;
        pthread_mutex_init(&p->op_lock, NULL);
        pthread_rwlock_init(&p->drv_rw, NULL);
        pthread_mutex_init(&p->lock, NULL);
        p->events = (struct drv_events){p, on_ctr_exited, on_ctr_output, on_pod_died};
        if (sbx_id_new(id) < 0 || rec_copy(rec, &p->rec) < 0) {
                pod_unref(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        free(p->rec.id);
        p->rec.id = strdup(id);
        p->rec.created_ns = (int64_t) plat_realtime_ns();
        p->rec.state = POD_CREATING;
        if (!p->rec.id || asprintf(&p->dir, "%s/pods/%s", s->state_root, id) < 0)
                p->dir = NULL;
        else if (asprintf(&p->userns_path, "%s/userns", p->dir) < 0)
                p->userns_path = NULL;
        if (!p->userns_path) {
                pod_unref(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = p;
        return 0;
}

void sbx_pod_fill_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec)
{
        *spec = (struct drv_pod_spec){
                .id = p->rec.id,
                .hostname = p->rec.hostname,
                .state_dir = p->dir,
                .netns_path = p->rec.netns_path,
                .userns_path = userns_map_enabled(&p->rec.userns) ? p->userns_path : NULL,
                .host_ipc = p->rec.host_ipc,
                .host_pid = p->rec.host_pid,
                .share_pid = p->rec.share_pid,
                .sysctls = p->rec.sysctls,
                .oci_runtime = s->oci_runtime,
                .uvm = p->rec.uvm,
                .events = &p->events,
        };
}

/* Steps after the name is reserved; on failure undo them in reverse: the
 * driver's sandbox, what the platform made, the directory (the record)
 * last, so a kill in between leaves it to find the rest. */
static int pod_create_steps(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                            bool host_network, struct phase_clock *pc, struct uvm_error **err)
{
        struct drv_pod *drv = NULL;
        int r;

        r = sbx_plat_pod_dir_create(p->dir, err);
        if (r < 0)
                return r;
        r = pod_record_save(p->dir, &p->rec, err);
        if (r >= 0)
                fault_point("run_pod.record_created"); /* CREATING, nothing else yet */
        if (r >= 0)
                r = sbx_plat_pod_start(s, p, net, host_network, pc, &drv, err);
        if (r >= 0) {
                pthread_mutex_lock(&p->lock);
                p->drv = drv;
                pthread_mutex_unlock(&p->lock);
                r = pod_set_state(p, POD_READY, err);
                if (r >= 0)
                        fault_point("run_pod.record_written"); /* READY, not answered */
                phase_mark(pc, "record");
        }
        if (r >= 0) {
                hook_ready(s, p);
                return 0;
        }
        if (drv) {
                p->ops->pod_stop(drv, 0, NULL);
                pthread_mutex_lock(&p->lock);
                p->drv = NULL;
                pthread_mutex_unlock(&p->lock);
                p->ops->pod_free(drv);
        }
        sbx_plat_pod_release(s, p->rec.id, p->rec.cgroup_parent, true);
        sbx_plat_pod_dir_remove(p->dir, NULL);
        return r;
}

int sbx_pod_run(struct sbx *s, const struct pod_record *rec, const struct net_pod_config *net,
                bool host_network, char **ret_id, struct uvm_error **err)
{
        return sbx_pod_run_timed(s, rec, net, host_network, ret_id, NULL, err);
}

int sbx_pod_run_timed(struct sbx *s, const struct pod_record *rec, const struct net_pod_config *net,
                      bool host_network, char **ret_id, struct sbx_pod_timing *ret_timing,
                      struct uvm_error **err)
{
        const struct drv_ops *ops = drv_lookup(rec->driver);
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct phase_clock pc;
        char *id;
        int r;

        phase_start(&pc, "run_pod");
        if (!ops)
                return uvm_error_set(err, EOPNOTSUPP, "driver '%s' is not available in this build",
                                     rec->driver ? rec->driver : "");
        r = pod_new(s, rec, ops, &p, err);
        if (r < 0)
                return r;
        id = strdup(p->rec.id);
        if (!id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = registry_add(s, p, err);
        if (r < 0) {
                free(id);
                return r;
        }
        pthread_mutex_lock(&p->op_lock);
        r = pod_create_steps(s, p, net, host_network, &pc, err);
        pthread_mutex_unlock(&p->op_lock);
        phase_done(&pc, id, NULL, r >= 0);
        if (r < 0) {
                registry_drop(s, p);
                free(id);
                return r;
        }
        *ret_id = id;
        if (ret_timing)
                *ret_timing = (struct sbx_pod_timing){
                        .network_ns = phase_ns(&pc, "netns") + phase_ns(&pc, "cni"),
                        .driver_ns = phase_ns(&pc, "driver"),
                };
        return 0;
}

static int pod_stop_locked(struct sbx_pod *p, uint32_t timeout_ms, struct phase_clock *pc,
                           struct uvm_error **err)
{
        struct drv_pod *drv;
        int r = 0;

        pthread_mutex_lock(&p->lock);
        drv = p->drv;
        pthread_mutex_unlock(&p->lock);
        if (drv) {
                r = p->ops->pod_stop(drv, timeout_ms, err);
                if (r >= 0)
                        fault_point("stop_pod.ctrs_stopped"); /* the sandbox is gone */
                phase_mark(pc, "driver");
                if (r < 0)
                        return uvm_error_wrap(err, "stop pod %s", p->rec.id);
        }
        /* Exec, Attach and PortForward sessions end with the UVM. */
        sbx_streams_end(p, "the pod sandbox was stopped");
        sbx_ctr_pod_stopped(p->sbx, p->rec.id);
        /* Per-pod services and what they added go before the network does. */
        hook_stopped(p->sbx, p);
        phase_mark(pc, "containers");
        /* As containerd does: a stopped pod gives its IP back. */
        r = sbx_plat_pod_net_stop(p, pc, err);
        if (r < 0)
                return uvm_error_wrap(err, "stop pod %s", p->rec.id);
        r = pod_set_state(p, POD_NOTREADY, err);
        phase_mark(pc, "record");
        if (r >= 0)
                fault_point("stop_pod.record_written");
        return r;
}

/* UpdatePodSandboxResources: applied by the platform, then kept. */
int sbx_pod_set_limits(struct sbx *s, const char *id_prefix, const struct sbx_pod_limits *l,
                       struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        int r = pod_get_ref(s, id_prefix, &p, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&p->op_lock);
        r = sbx_plat_pod_limits(s, p, l, err);
        if (r >= 0) {
                pthread_mutex_lock(&p->lock);
                p->rec.limits = *l;
                r = pod_record_save(p->dir, &p->rec, err);
                pthread_mutex_unlock(&p->lock);
        }
        pthread_mutex_unlock(&p->op_lock);
        return r;
}

int sbx_pod_stop(struct sbx *s, const char *id_prefix, uint32_t timeout_ms, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct uvm_error *e = NULL;
        struct phase_clock pc;
        int r;

        phase_start(&pc, "stop_pod");
        r = pod_get_ref(s, id_prefix, &p, &e);
        if (r == -ENOENT) { /* CRI: stopping a missing pod succeeds */
                uvm_error_free(e);
                return 0;
        }
        if (r < 0) {
                uvm_error_set(err, e->code, "%s", e->msg);
                uvm_error_free(e);
                return r;
        }
        pthread_mutex_lock(&p->op_lock);
        phase_mark(&pc, "lock");
        r = pod_stop_locked(p, timeout_ms, &pc, err);
        pthread_mutex_unlock(&p->op_lock);
        phase_done(&pc, p->rec.id, NULL, r >= 0);
        return r;
}

int sbx_pod_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct uvm_error *e = NULL;
        struct phase_clock pc;
        struct drv_pod *drv;
        int r;

        phase_start(&pc, "remove_pod");
        r = pod_get_ref(s, id_prefix, &p, &e);
        if (r == -ENOENT) {
                uvm_error_free(e);
                return 0;
        }
        if (r < 0) {
                uvm_error_set(err, e->code, "%s", e->msg);
                uvm_error_free(e);
                return r;
        }
        r = sbx_ctr_remove_pod(s, p->rec.id, err);
        if (r >= 0)
                fault_point("remove_pod.ctrs_removed");
        phase_mark(&pc, "containers");
        if (r < 0)
                goto done;
        pthread_mutex_lock(&p->op_lock);
        phase_mark(&pc, "lock");
        r = pod_stop_locked(p, 0, &pc, err); /* the kubelet stops first; be safe anyway */
        if (r == 0) {
                sbx_streams_end(p, "the pod sandbox was removed");
                pthread_rwlock_wrlock(&p->drv_rw);
                pthread_mutex_lock(&p->lock);
                drv = TAKE_PTR(p->drv);
                pthread_mutex_unlock(&p->lock);
                if (drv)
                        p->ops->pod_free(drv);
                pthread_rwlock_unlock(&p->drv_rw);
                phase_mark(&pc, "driver");
                /* The record goes last: a restart in between must still
                 * know the pod, or its cgroup would be left. */
                sbx_plat_pod_release(s, p->rec.id, p->rec.cgroup_parent, false);
                fault_point("remove_pod.cgroup_removed");
                phase_mark(&pc, "cgroup");
                r = sbx_plat_pod_dir_remove(p->dir, err);
                if (r >= 0)
                        fault_point("remove_pod.record_removed");
                phase_mark(&pc, "dir");
        }
        pthread_mutex_unlock(&p->op_lock);
        if (r == 0)
                registry_drop(s, p);
done:
        phase_done(&pc, p->rec.id, NULL, r >= 0);
        return r;
}

int sbx_pod_get(struct sbx *s, const char *id_prefix, struct pod_record *ret,
                struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        int r = pod_get_ref(s, id_prefix, &p, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        r = rec_copy(&p->rec, ret);
        pthread_mutex_unlock(&p->lock);
        return r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

struct timespec sbx_realtime_in(int64_t ms)
{
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += ms / 1000;
        t.tv_nsec += (ms % 1000) * 1000000;
        if (t.tv_nsec >= 1000000000) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000;
        }
        return t;
}

int pod_op_lock_within(struct sbx_pod *p, int64_t ms)
{
        struct timespec until = sbx_realtime_in(ms);

        return -pthread_mutex_timedlock(&p->op_lock, &until);
}

int sbx_pod_usage(struct sbx *s, const char *id_prefix, int64_t wait_ms, struct drv_pod_stats *ret,
                  struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct drv_pod *drv;
        int r = pod_get_ref(s, id_prefix, &p, err);

        if (r < 0)
                return r;
        *ret = (struct drv_pod_stats){0};
        if (!p->ops->pod_stats)
                return 0;
        if (pod_op_lock_within(p, wait_ms < 0 ? 0 : wait_ms) < 0)
                return uvm_error_set(err, EAGAIN, "pod %s is busy: no stats within %lld ms",
                                     p->rec.id, (long long) wait_ms);
        pthread_mutex_lock(&p->lock);
        drv = p->rec.state == POD_READY ? p->drv : NULL;
        pthread_mutex_unlock(&p->lock);
        /* A stopped pod has no interfaces left to count. */
        r = drv ? p->ops->pod_stats(drv, ret, err) : 0;
        pthread_mutex_unlock(&p->op_lock);
        return r;
}

bool sbx_pod_guest_nics(struct sbx *s, const char *pod_id)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;

        return pod_get_ref(s, pod_id, &p, NULL) >= 0 && p->ops->nic_add && p->ops->nic_modify &&
               p->ops->nic_remove;
}

int sbx_pod_nic(struct sbx *s, const char *pod_id, enum sbx_nic_op op, const char *nic_id,
                const struct drv_nic *old, const struct drv_nic *nic, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct drv_pod *drv;
        int r = pod_get_ref(s, pod_id, &p, err);

        if (r < 0)
                return r;
        if (!p->ops->nic_add || !p->ops->nic_modify || !p->ops->nic_remove)
                return uvm_error_set(err, EOPNOTSUPP, "pod %s (%s) has no guest NICs", p->rec.id,
                                     p->ops->name);
        /* Bounded: a pod being stopped holds its op_lock while its
         * ComputeAgent endpoint waits for this very call to end. */
        if (pod_op_lock_within(p, SBX_NIC_LOCK_MS) < 0)
                return uvm_error_set(err, EAGAIN, "pod %s is busy: try again", p->rec.id);
        pthread_mutex_lock(&p->lock);
        drv = p->rec.state == POD_READY ? p->drv : NULL;
        pthread_mutex_unlock(&p->lock);
        if (!drv)
                r = op == SBX_NIC_REMOVE
                            ? 0
                            : uvm_error_set(err, EBUSY, "pod %s is not ready", p->rec.id);
        else if (op == SBX_NIC_ADD)
                r = p->ops->nic_add(drv, nic_id, nic, err);
        else if (op == SBX_NIC_MODIFY)
                r = p->ops->nic_modify(drv, nic_id, old, nic, err);
        else
                r = p->ops->nic_remove(drv, nic_id, nic, err);
        pthread_mutex_unlock(&p->op_lock);
        return r;
}

char *sbx_pod_files_dir(struct sbx *s, const char *pod_id)
{
        char *p = NULL;

        if (asprintf(&p, "%s/pods/%s/files", s->state_root, pod_id) < 0)
                return NULL;
        return p;
}

/* --- after a uvmd restart --- */

/* A pod from its record on disk, registered as it was; the driver is
 * reattached by the caller. */
static int pod_load(struct sbx *s, const char *dir, struct sbx_pod **ret, struct uvm_error **err)
{
        struct sbx_pod *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        p->refs = 1;
        p->net = s->net;
        p->sbx = s;
        pthread_mutex_init(&p->op_lock, NULL);
        pthread_rwlock_init(&p->drv_rw, NULL);
        pthread_mutex_init(&p->lock, NULL);
        p->events = (struct drv_events){p, on_ctr_exited, on_ctr_output, on_pod_died};
        p->dir = strdup(dir);
        if (asprintf(&p->userns_path, "%s/userns", dir) < 0)
                p->userns_path = NULL;
        r = p->dir && p->userns_path ? pod_record_load(dir, &p->rec, err)
                                     : uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0 && !(p->ops = drv_lookup(p->rec.driver)))
                r = uvm_error_set(err, EOPNOTSUPP, "driver '%s' is not available", p->rec.driver);
        if (r < 0) {
                pod_unref(p);
                return r;
        }
        *ret = p;
        return 0;
}

/* A pod that will not run again and what its drivers may have left in its
 * directory: each reattaches (it needs only the id and the directory) and
 * stops it; then the pod's network, directory and own cgroup go. ops: the
 * pod's driver, or NULL for every driver (its record was unreadable). */
static void destroy_leftovers(struct sbx *s, const struct drv_ops *ops,
                              const struct drv_pod_spec *spec, const char *kubelet_parent)
{
        const struct drv_ops *only[] = {ops, NULL}, *o;

        for (size_t i = 0; (o = ops ? only[i] : drv_at(i)); i++) {
                struct drv_pod *drv = NULL;

                if (!o->pod_reattach || o->pod_reattach(spec, &drv, NULL) < 0)
                        continue;
                log_pod(LOG_LEVEL_WARN, spec->id, "pod %s: stopping its %s sandbox", spec->id,
                        o->name);
                o->pod_stop(drv, 0, NULL);
                o->pod_free(drv);
        }
        /* The directory (the record) last, as in sbx_pod_remove. */
        sbx_plat_pod_release(s, spec->id, kubelet_parent, true);
        (void) sbx_plat_pod_dir_remove(spec->state_dir, NULL);
}

/* A pod directory whose record cannot be read back: nothing it started may
 * run on unreported. */
static void pod_destroy_unreadable(struct sbx *s, const char *id, const char *dir)
{
        struct drv_events none = {0};
        struct drv_pod_spec spec = {.id = id, .state_dir = dir, .events = &none};

        destroy_leftovers(s, NULL, &spec, NULL);
}

static void pod_recover(struct sbx *s, struct sbx_pod *p)
{
        struct drv_pod_spec spec;
        struct drv_pod *drv = NULL;
        struct uvm_error *e = NULL;
        _cleanup_free_ char *owned = NULL;

        if (p->rec.state == POD_CREATING) {
                /* uvmd died inside RunPodSandbox: finish the failure. */
                log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: creation was cut short, removing it",
                        p->rec.id);
                sbx_pod_fill_spec(s, p, &spec);
                destroy_leftovers(s, p->ops, &spec, p->rec.cgroup_parent);
                registry_drop(s, p);
                return;
        }
        if (p->rec.state == POD_READY) {
                sbx_pod_fill_spec(s, p, &spec);
                if (sbx_plat_spec(s, p, &spec, &owned, &e) >= 0 && p->ops->pod_reattach &&
                    p->ops->pod_reattach(&spec, &drv, &e) >= 0) {
                        pthread_mutex_lock(&p->lock);
                        p->drv = drv;
                        pthread_mutex_unlock(&p->lock);
                        log_pod(LOG_LEVEL_INFO, p->rec.id, "pod %s: reattached", p->rec.id);
                        count_driver(s->reattached, p->ops);
                        hook_ready(s, p);
                } else {
                        log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: sandbox gone (%s)", p->rec.id,
                                e && e->msg ? e->msg : "no reattach");
                        (void) pod_set_state(p, POD_NOTREADY, NULL);
                        count_driver(s->lost, p->ops);
                }
                uvm_error_free(e);
        }
        sbx_ctr_reconcile_pod(s, p);
}

/* One pod directory found at recovery: loaded, registered, reattached. */
static void recover_one(void *data, const char *name, bool is_dir)
{
        struct sbx *s = data;
        _cleanup_free_ char *dir = NULL;
        struct sbx_pod *p = NULL;
        struct uvm_error *e = NULL;

        if (!is_dir || !sbx_id_valid(name) || asprintf(&dir, "%s/pods/%s", s->state_root, name) < 0)
                return;
        if (pod_load(s, dir, &p, &e) < 0) {
                log_warn("%s: %s: destroying what it ran", dir,
                         e && e->msg ? e->msg : "unreadable");
                uvm_error_free(e);
                pod_destroy_unreadable(s, name, dir);
                return;
        }
        pthread_mutex_lock(&s->lock);
        if (s->n_pods < SBX_MAX_PODS) {
                s->pods[s->n_pods++] = p;
                p = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        sbx_list_changed(s);
        if (p) {
                pod_unref(p);
                return;
        }
        p = s->pods[s->n_pods - 1];
        /* Containers first, so what the agent replays on reconnect (exits,
         * buffered output) finds them. */
        sbx_ctr_recover_pod(s, p);
        pod_recover(s, p);
}

int sbx_recover(struct sbx *s, struct uvm_error **err)
{
        _cleanup_free_ char *root = NULL;
        int r;

        if (asprintf(&root, "%s/pods", s->state_root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_dir_each(root, recover_one, s);
        return r < 0 ? uvm_error_set(err, -r, "open %s: %s", root, strerror(-r)) : 0;
}
