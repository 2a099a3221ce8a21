#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fs.h"
#include "common/log.h"
#include "sandbox/ids.h"
#include "sandbox/sandbox.h"

#define SBX_MAX_PODS 4096

struct sbx_pod {
        int refs;                  /* atomic */
        pthread_mutex_t op_lock;   /* serialises driver calls for this pod */
        pthread_mutex_t lock;      /* guards rec and drv below; never held across blocking work */
        struct pod_record rec;     /* lock */
        struct drv_pod *drv;       /* lock (written under op_lock too) */
        const struct drv_ops *ops; /* immutable */
        char *dir;                 /* immutable */
        struct drv_events events;  /* immutable */
};

struct sbx {
        pthread_mutex_t lock; /* guards pods/n_pods */
        struct sbx_pod **pods;
        size_t n_pods;
        char *state_root, *oci_runtime; /* immutable */
};

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

/* A deep copy; -ENOMEM leaves *dst cleared. */
static int rec_copy(const struct pod_record *src, struct pod_record *dst)
{
        struct pod_record r = *src;
        struct record_kv *kvs[2] = {NULL, NULL};
        const struct record_kv *from[2] = {src->labels, src->annotations};
        size_t n[2] = {src->n_labels, src->n_annotations};
        bool ok = true;

        for (int k = 0; k < 2; k++) {
                kvs[k] = calloc(n[k] + 1, sizeof(struct record_kv));
                ok = ok && kvs[k];
                for (size_t i = 0; kvs[k] && i < n[k]; i++) {
                        kvs[k][i].key = xstrdup(from[k][i].key);
                        kvs[k][i].value = xstrdup(from[k][i].value);
                        ok = ok && kvs[k][i].key && kvs[k][i].value;
                }
        }
        r.labels = kvs[0];
        r.annotations = kvs[1];
        r.id = xstrdup(src->id);
        r.name = xstrdup(src->name);
        r.namespace_ = xstrdup(src->namespace_);
        r.uid = xstrdup(src->uid);
        r.runtime_handler = xstrdup(src->runtime_handler);
        r.driver = xstrdup(src->driver);
        r.hostname = xstrdup(src->hostname);
        r.log_directory = xstrdup(src->log_directory);
        r.netns_path = xstrdup(src->netns_path);
        if (!ok || !r.name || !r.namespace_ || !r.uid || !r.driver || (src->id && !r.id)) {
                pod_record_clear(&r);
                memset(dst, 0, sizeof(*dst));
                return -ENOMEM;
        }
        *dst = r;
        return 0;
}

static void pod_unref(struct sbx_pod *p)
{
        if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        if (p->drv)
                p->ops->pod_free(p->drv);
        pod_record_clear(&p->rec);
        pthread_mutex_destroy(&p->op_lock);
        pthread_mutex_destroy(&p->lock);
        free(p->dir);
        free(p);
}

static void pod_unrefp(struct sbx_pod **p)
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
        s->pods = calloc(SBX_MAX_PODS, sizeof(*s->pods));
        pthread_mutex_init(&s->lock, NULL);
        if (!s->state_root || !s->oci_runtime || !s->pods ||
            asprintf(&pods, "%s/pods", o->state_root) < 0) {
                sbx_free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = fs_mkdir_p(pods, 0700);
        if (r < 0) {
                sbx_free(s);
                return uvm_error_set(err, -r, "create %s: %s", pods, strerror(-r));
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
        pthread_mutex_destroy(&s->lock);
        free(s->pods);
        free(s->state_root);
        free(s->oci_runtime);
        free(s);
        return NULL;
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

static int pod_get_ref(struct sbx *s, const char *id_prefix, struct sbx_pod **ret,
                       struct uvm_error **err)
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
        return r;
}

static void on_pod_died(void *data, const char *reason)
{
        struct sbx_pod *p = data;
        struct uvm_error *e = NULL;

        log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: UVM died: %s", p->rec.id, reason);
        if (pod_set_state(p, POD_NOTREADY, &e) < 0)
                log_pod(LOG_LEVEL_WARN, p->rec.id, "pod %s: %s, ignoring", p->rec.id, e->msg);
        uvm_error_free(e);
}

static void on_ctr_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        log_debug("container %s exited %d (containers are not tracked yet), ignoring", ctr_id,
                  code);
}

static void on_ctr_output(void *data, const char *ctr_id, enum drv_stream s, const char *b,
                          size_t n)
{
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
        return r;
}

static int pod_new(struct sbx *s, const struct pod_record *rec, const struct drv_ops *ops,
                   struct sbx_pod **ret, struct uvm_error **err)
{
        struct sbx_pod *p = calloc(1, sizeof(*p));
        char id[SBX_ID_LEN + 1];
        struct timespec ts;

        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        p->refs = 1;
        p->ops = ops;
        pthread_mutex_init(&p->op_lock, NULL);
        pthread_mutex_init(&p->lock, NULL);
        p->events = (struct drv_events){p, on_ctr_exited, on_ctr_output, on_pod_died};
        if (sbx_id_new(id) < 0 || rec_copy(rec, &p->rec) < 0) {
                pod_unref(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        free(p->rec.id);
        p->rec.id = strdup(id);
        clock_gettime(CLOCK_REALTIME, &ts);
        p->rec.created_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
        p->rec.state = POD_CREATING;
        if (!p->rec.id || asprintf(&p->dir, "%s/pods/%s", s->state_root, id) < 0) {
                p->dir = NULL;
                pod_unref(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = p;
        return 0;
}

static void fill_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec)
{
        *spec = (struct drv_pod_spec){
                .id = p->rec.id,
                .hostname = p->rec.hostname,
                .state_dir = p->dir,
                .netns_path = p->rec.netns_path,
                .host_ipc = p->rec.host_ipc,
                .host_pid = p->rec.host_pid,
                .share_pid = p->rec.share_pid,
                .oci_runtime = s->oci_runtime,
                .uvm = p->rec.uvm,
                .events = &p->events,
        };
}

/* Steps after the name is reserved; on failure undo them in reverse. */
static int pod_create_steps(struct sbx *s, struct sbx_pod *p, struct uvm_error **err)
{
        _cleanup_free_ char *cg = NULL;
        struct drv_pod_spec spec;
        struct drv_pod *drv = NULL;
        int r;

        if (mkdir(p->dir, 0700) < 0)
                return uvm_error_set(err, errno, "create %s: %s", p->dir, strerror(errno));
        r = pod_record_save(p->dir, &p->rec, err);
        if (r < 0)
                goto fail;
        if (asprintf(&cg, "/uvmd/%s", p->rec.id) < 0) {
                r = uvm_error_set(err, ENOMEM, "out of memory");
                goto fail;
        }
        fill_spec(s, p, &spec);
        spec.cgroup_parent = cg;
        r = p->ops->pod_create(&spec, &drv, err);
        if (r < 0) {
                uvm_error_wrap(err, "create the %s sandbox", p->ops->name);
                goto fail;
        }
        pthread_mutex_lock(&p->lock);
        p->drv = drv;
        pthread_mutex_unlock(&p->lock);
        r = pod_set_state(p, POD_READY, err);
        if (r >= 0)
                return 0;
        p->ops->pod_stop(drv, 0, NULL);
        pthread_mutex_lock(&p->lock);
        p->drv = NULL;
        pthread_mutex_unlock(&p->lock);
        p->ops->pod_free(drv);
fail:
        fs_rm_rf(p->dir);
        return r;
}

int sbx_pod_run(struct sbx *s, const struct pod_record *rec, char **ret_id, struct uvm_error **err)
{
        const struct drv_ops *ops = drv_lookup(rec->driver);
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        char *id;
        int r;

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
        r = pod_create_steps(s, p, err);
        pthread_mutex_unlock(&p->op_lock);
        if (r < 0) {
                registry_drop(s, p);
                free(id);
                return r;
        }
        *ret_id = id;
        return 0;
}

static int pod_stop_locked(struct sbx_pod *p, uint32_t timeout_ms, struct uvm_error **err)
{
        struct drv_pod *drv;
        int r = 0;

        pthread_mutex_lock(&p->lock);
        drv = p->drv;
        pthread_mutex_unlock(&p->lock);
        if (drv) {
                r = p->ops->pod_stop(drv, timeout_ms, err);
                if (r < 0)
                        return uvm_error_wrap(err, "stop pod %s", p->rec.id);
        }
        return pod_set_state(p, POD_NOTREADY, err);
}

int sbx_pod_stop(struct sbx *s, const char *id_prefix, uint32_t timeout_ms, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct uvm_error *e = NULL;
        int r = pod_get_ref(s, id_prefix, &p, &e);

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
        r = pod_stop_locked(p, timeout_ms, err);
        pthread_mutex_unlock(&p->op_lock);
        return r;
}

int sbx_pod_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        struct uvm_error *e = NULL;
        struct drv_pod *drv;
        int r = pod_get_ref(s, id_prefix, &p, &e);

        if (r == -ENOENT) {
                uvm_error_free(e);
                return 0;
        }
        if (r < 0) {
                uvm_error_set(err, e->code, "%s", e->msg);
                uvm_error_free(e);
                return r;
        }
        pthread_mutex_lock(&p->op_lock);
        r = pod_stop_locked(p, 0, err); /* the kubelet stops first; be safe anyway */
        if (r == 0) {
                pthread_mutex_lock(&p->lock);
                drv = TAKE_PTR(p->drv);
                pthread_mutex_unlock(&p->lock);
                if (drv)
                        p->ops->pod_free(drv);
                r = fs_rm_rf(p->dir);
                if (r < 0)
                        uvm_error_set(err, -r, "remove %s: %s", p->dir, strerror(-r));
        }
        pthread_mutex_unlock(&p->op_lock);
        if (r == 0)
                registry_drop(s, p);
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
