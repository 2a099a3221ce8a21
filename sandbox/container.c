/* Workload containers: records, state changes, driver calls, events,
 * recovery. Portable: what the host adds (images, specs, mounts, logs)
 * comes through ctr-plat.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/log.h"
#include "common/platform.h"
#include "sandbox/container-internal.h"
#include "sandbox/ctr-plat.h"
#include "sandbox/ids.h"
#include "sandbox/phase.h"

#define KILL_WAIT_MS 10000

int64_t ctr_now_ns(void)
{
        return (int64_t) plat_realtime_ns();
}

void ctr_unref(struct sbx_ctr *c)
{
        if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        ctr_plat_log_close(c);
        ctr_record_clear(&c->rec);
        pod_unref(c->pod);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c->path);
        free(c);
}

void ctr_unrefp(struct sbx_ctr **c)
{
        ctr_unref(*c);
}

/* c->lock held. */
int ctr_save_locked(struct sbx_ctr *c, struct uvm_error **err)
{
        return ctr_record_write(c->path, &c->rec, err);
}

/* --- events --- */

static struct {
        pthread_mutex_t lock; /* guards fn and data; taken after any container lock */
        ctr_event_fn fn;
        void *data;
} event_sink = {.lock = PTHREAD_MUTEX_INITIALIZER};

void sbx_ctr_set_event_sink(ctr_event_fn fn, void *data)
{
        pthread_mutex_lock(&event_sink.lock);
        event_sink.fn = fn;
        event_sink.data = data;
        pthread_mutex_unlock(&event_sink.lock);
}

/* c->lock held. */
void ctr_emit_locked(struct sbx_ctr *c, enum ctr_event ev)
{
        pthread_mutex_lock(&event_sink.lock);
        if (event_sink.fn)
                event_sink.fn(event_sink.data, ev, &c->rec, ctr_now_ns());
        pthread_mutex_unlock(&event_sink.lock);
}

/* The only place a container's state changes: checked, logged, persisted,
 * and waiters (StopContainer) and event subscribers told. c->lock held. */
static int set_state_locked(struct sbx_ctr *c, enum ctr_state to, struct uvm_error **err)
{
        enum ctr_state from = c->rec.state;
        int r = ctr_state_change(c->rec.pod_id, c->rec.id, &c->rec.state, to, err);

        if (r == 0)
                r = ctr_save_locked(c, err);
        sbx_list_changed(c->pod->sbx);
        pthread_cond_broadcast(&c->cond);
        /* Told even when the save failed: the state did change in memory. */
        if (c->rec.state != from && (to == CTR_RUNNING || to == CTR_EXITED))
                ctr_emit_locked(c, to == CTR_RUNNING ? CTR_EVENT_STARTED : CTR_EVENT_STOPPED);
        return r;
}

/* --- lookup --- */

static int find_ref(struct sbx *s, const char *id_prefix, struct sbx_ctr **ret,
                    struct uvm_error **err)
{
        const char **ids;
        int i;

        pthread_mutex_lock(&s->lock);
        ids = calloc(s->n_ctrs + 1, sizeof(*ids));
        for (size_t k = 0; ids && k < s->n_ctrs; k++)
                ids[k] = s->ctrs[k]->rec.id; /* immutable once registered */
        i = ids ? sbx_id_match(ids, s->n_ctrs, id_prefix, "container", err)
                : uvm_error_set(err, ENOMEM, "out of memory");
        if (i >= 0) {
                *ret = s->ctrs[i];
                __atomic_add_fetch(&(*ret)->refs, 1, __ATOMIC_ACQ_REL);
        }
        pthread_mutex_unlock(&s->lock);
        free(ids);
        return i < 0 ? i : 0;
}

static struct sbx_ctr *find_exact(struct sbx *s, const char *id)
{
        struct sbx_ctr *c = NULL;

        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->n_ctrs; k++)
                if (STR_EQ(s->ctrs[k]->rec.id, id)) {
                        c = s->ctrs[k];
                        __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
                        break;
                }
        pthread_mutex_unlock(&s->lock);
        return c;
}

void ctr_registry_drop(struct sbx *s, struct sbx_ctr *c)
{
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->n_ctrs; k++)
                if (s->ctrs[k] == c) {
                        s->ctrs[k] = s->ctrs[--s->n_ctrs];
                        ctr_unref(c);
                        break;
                }
        pthread_mutex_unlock(&s->lock);
        sbx_list_changed(s);
}

/* A missing container is fine for stop/remove (CRI idempotency). */
static int find_or_gone(struct sbx *s, const char *id_prefix, struct sbx_ctr **ret,
                        struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        int r = find_ref(s, id_prefix, ret, &e);

        if (r == -ENOENT) {
                uvm_error_free(e);
                return 0;
        }
        if (r < 0) {
                uvm_error_set(err, e->code, "%s", e->msg);
                uvm_error_free(e);
        }
        return r < 0 ? r : 1;
}

static enum ctr_state state_of(struct sbx_ctr *c)
{
        enum ctr_state st;

        pthread_mutex_lock(&c->lock);
        st = c->rec.state;
        pthread_mutex_unlock(&c->lock);
        return st;
}

/* The container id_prefix names, which must be in state want (-EBUSY,
 * naming both states, when not). */
int ctr_find_in_state(struct sbx *s, const char *id_prefix, enum ctr_state want,
                      struct sbx_ctr **ret, struct uvm_error **err)
{
        struct sbx_ctr *c = NULL;
        enum ctr_state st;
        int r = find_ref(s, id_prefix, &c, err);

        if (r < 0)
                return r;
        st = state_of(c);
        if (st != want) {
                r = uvm_error_set(err, EBUSY, "container %s is %s, not %s", c->rec.id,
                                  ctr_state_to_string(st), ctr_state_to_string(want));
                ctr_unref(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* --- life cycle --- */

/* The pod's driver handle, or NULL when the pod has none (stopped). */
static struct drv_pod *pod_drv(struct sbx_pod *p)
{
        struct drv_pod *d;

        pthread_mutex_lock(&p->lock);
        d = p->drv;
        pthread_mutex_unlock(&p->lock);
        return d;
}

static bool pod_ready(struct sbx_pod *p)
{
        bool ready;

        pthread_mutex_lock(&p->lock);
        ready = p->rec.state == POD_READY;
        pthread_mutex_unlock(&p->lock);
        return ready;
}

int sbx_ctr_start(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct phase_clock pc;
        struct drv_pod *drv;
        int r;

        phase_start(&pc, "start_container");
        r = ctr_find_in_state(s, id_prefix, CTR_CREATED, &c, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->pod->op_lock);
        phase_mark(&pc, "lock");
        drv = pod_drv(c->pod);
        r = drv ? c->pod->ops->ctr_start(drv, c->rec.id, err)
                : uvm_error_set(err, EBUSY, "pod %s is not running", c->rec.pod_id);
        if (r >= 0)
                fault_point("start_ctr.started"); /* running; the record says created */
        pthread_mutex_unlock(&c->pod->op_lock);
        phase_mark(&pc, "driver");
        pthread_mutex_lock(&c->lock);
        if (r >= 0 && c->rec.state == CTR_CREATED) {
                c->rec.started_ns = ctr_now_ns();
                r = set_state_locked(c, CTR_RUNNING, err);
        } else if (r >= 0 && c->rec.started_ns == 0) {
                /* It ran and exited before start returned: the exit came first. */
                c->rec.started_ns = c->rec.finished_ns;
                (void) ctr_save_locked(c, NULL);
        } else if (r < 0 && c->rec.state == CTR_CREATED) {
                /* A failed start leaves an exited container, as runc does. */
                c->rec.finished_ns = ctr_now_ns();
                c->rec.exit_code = 128;
                free(c->rec.reason);
                c->rec.reason = strdup("StartError");
                free(c->rec.message);
                c->rec.message = strdup((*err && (*err)->msg) ? (*err)->msg : "start failed");
                (void) set_state_locked(c, CTR_EXITED, NULL);
        }
        pthread_mutex_unlock(&c->lock);
        phase_mark(&pc, "record");
        phase_done(&pc, c->rec.pod_id, c->rec.id, r >= 0);
        return r;
}

/* Wait until the container has exited or ms passed; true when exited. */
static bool wait_exited(struct sbx_ctr *c, int64_t ms)
{
        struct timespec until = sbx_realtime_in(ms);
        bool done;

        pthread_mutex_lock(&c->lock);
        while (c->rec.state != CTR_EXITED &&
               pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
                ;
        done = c->rec.state == CTR_EXITED;
        pthread_mutex_unlock(&c->lock);
        return done;
}

static int signal_ctr(struct sbx_ctr *c, int sig, struct uvm_error **err)
{
        struct drv_pod *drv;
        int r;

        pthread_mutex_lock(&c->pod->op_lock);
        drv = pod_drv(c->pod);
        r = drv ? c->pod->ops->ctr_signal(drv, c->rec.id, sig, err) : 0;
        pthread_mutex_unlock(&c->pod->op_lock);
        return r;
}

static int stop_ctr(struct sbx_ctr *c, int64_t timeout_s, struct uvm_error **err)
{
        int r;

        if (state_of(c) == CTR_EXITED)
                return 0;
        if (timeout_s > 0) {
                r = signal_ctr(c, c->stop_signal, err);
                if (r < 0 || wait_exited(c, timeout_s > 3600 ? 3600000 : timeout_s * 1000))
                        return r < 0 ? r : 0;
                log_pod(LOG_LEVEL_INFO, c->rec.pod_id,
                        "container %s did not stop within %llds, killing it", c->rec.id,
                        (long long) timeout_s);
        }
        r = signal_ctr(c, CTR_SIGKILL, err);
        if (r < 0)
                return r;
        if (!wait_exited(c, KILL_WAIT_MS))
                return uvm_error_set(err, ETIMEDOUT, "container %s did not exit after SIGKILL",
                                     c->rec.id);
        return 0;
}

int sbx_ctr_stop(struct sbx *s, const char *id_prefix, int64_t timeout_s, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        int r = find_or_gone(s, id_prefix, &c, err);

        if (r <= 0)
                return r;
        return stop_ctr(c, timeout_s, err);
}

static int remove_ctr(struct sbx *s, struct sbx_ctr *c, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        struct drv_pod *drv;
        int r;

        if (state_of(c) == CTR_RUNNING && (r = stop_ctr(c, 0, err)) < 0)
                return r;
        pthread_mutex_lock(&c->pod->op_lock);
        drv = pod_drv(c->pod);
        /* A stopped pod's sandbox took its containers with it. */
        r = drv && pod_ready(c->pod) ? c->pod->ops->ctr_delete(drv, c->rec.id, &e) : 0;
        /* The sandbox never had it or already deleted it (uvmd died inside
         * CreateContainer or RemoveContainer): only the record is left. */
        if (r == -ENOENT)
                r = 0;
        else if (r < 0)
                uvm_error_set(err, -r, "%s", e && e->msg ? e->msg : "delete failed");
        e = uvm_error_free(e);
        if (r >= 0)
                fault_point("remove_ctr.runc_deleted"); /* its record is still there */
        pthread_mutex_unlock(&c->pod->op_lock);
        if (r < 0)
                return uvm_error_wrap(err, "remove container %s", c->rec.id);
        ctr_plat_release(s, c);
        pthread_mutex_lock(&c->lock);
        ctr_plat_log_close(c);
        pthread_mutex_unlock(&c->lock);
        ctr_plat_unlink(c->path);
        ctr_registry_drop(s, c);
        log_pod(LOG_LEVEL_INFO, c->rec.pod_id, "container %s removed", c->rec.id);
        pthread_mutex_lock(&c->lock);
        ctr_emit_locked(c, CTR_EVENT_DELETED);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

int sbx_ctr_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        int r = find_or_gone(s, id_prefix, &c, err);

        if (r <= 0)
                return r;
        return remove_ctr(s, c, err);
}

int sbx_ctr_remove_pod(struct sbx *s, const char *pod_id, struct uvm_error **err)
{
        for (;;) {
                struct sbx_ctr *c = NULL;
                int r;

                pthread_mutex_lock(&s->lock);
                for (size_t k = 0; k < s->n_ctrs && !c; k++)
                        if (STR_EQ(s->ctrs[k]->rec.pod_id, pod_id)) {
                                c = s->ctrs[k];
                                __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
                        }
                pthread_mutex_unlock(&s->lock);
                if (!c)
                        return 0;
                r = remove_ctr(s, c, err);
                ctr_unref(c);
                if (r < 0)
                        return r;
        }
}

int sbx_ctr_get(struct sbx *s, const char *id_prefix, struct ctr_record *ret,
                struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        int r = find_ref(s, id_prefix, &c, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        r = ctr_record_copy(&c->rec, ret);
        pthread_mutex_unlock(&c->lock);
        return r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

int sbx_ctr_exec_sync(struct sbx *s, const char *id_prefix, const struct drv_exec_spec *spec,
                      struct drv_exec_result *ret, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct drv_pod *drv;
        int r = ctr_find_in_state(s, id_prefix, CTR_RUNNING, &c, err);

        if (r < 0)
                return r;
        /* Not under the pod's op_lock: a long exec must not hold up the
         * pod's other containers (the driver's exec is thread-safe). */
        pthread_rwlock_rdlock(&c->pod->drv_rw);
        drv = pod_drv(c->pod);
        r = drv ? c->pod->ops->ctr_exec_sync(drv, c->rec.id, spec, ret, err)
                : uvm_error_set(err, EBUSY, "pod %s is not running", c->rec.pod_id);
        pthread_rwlock_unlock(&c->pod->drv_rw);
        return r;
}

int sbx_ctr_reopen_log(struct sbx *s, const char *id_prefix, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        int r = find_ref(s, id_prefix, &c, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        if (c->rec.state != CTR_RUNNING)
                r = uvm_error_set(err, EBUSY, "container %s is not running", c->rec.id);
        else
                r = ctr_plat_log_reopen(c, err);
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* --- driver events --- */

static void mark_exited_locked(struct sbx_ctr *c, int code, int64_t finished_ns, bool oom)
{
        struct uvm_error *e = NULL;

        if (c->rec.state == CTR_EXITED)
                return;
        c->rec.exit_code = code;
        c->rec.finished_ns = finished_ns > 0 ? finished_ns : ctr_now_ns();
        /* started_ns is taken when the start call returns; a process that
         * exited at once may have finished (by the agent's clock) before. */
        if (c->rec.started_ns > c->rec.finished_ns)
                c->rec.started_ns = c->rec.finished_ns;
        free(c->rec.reason);
        c->rec.reason = strdup(oom ? "OOMKilled" : code == 0 ? "Completed" : "Error");
        ctr_plat_log_flush(c);
        if (set_state_locked(c, CTR_EXITED, &e) < 0)
                log_pod(LOG_LEVEL_WARN, c->rec.pod_id, "container %s: %s, ignoring", c->rec.id,
                        e->msg);
        uvm_error_free(e);
}

void sbx_ctr_on_exit(struct sbx *s, const char *ctr_id, int exit_code, int64_t finished_ns,
                     bool oom_killed)
{
        struct sbx_ctr *c = find_exact(s, ctr_id);

        if (!c) {
                log_debug("exit of unknown container %s, ignoring", ctr_id);
                return;
        }
        pthread_mutex_lock(&c->lock);
        mark_exited_locked(c, exit_code, finished_ns, oom_killed);
        pthread_mutex_unlock(&c->lock);
        ctr_unref(c);
}

void sbx_ctr_on_output(struct sbx *s, const char *ctr_id, enum drv_stream stream, const char *buf,
                       size_t len)
{
        struct sbx_ctr *c = find_exact(s, ctr_id);

        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        ctr_plat_log_write(c, stream, buf, len);
        pthread_mutex_unlock(&c->lock);
        ctr_unref(c);
}

void sbx_ctr_pod_stopped(struct sbx *s, const char *pod_id)
{
        sbx_ctr_pod_died(s, pod_id, NULL);
}

void sbx_ctr_pod_died(struct sbx *s, const char *pod_id, const char *why)
{
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->n_ctrs; k++) {
                struct sbx_ctr *c = s->ctrs[k];
                if (!STR_EQ(c->rec.pod_id, pod_id))
                        continue;
                pthread_mutex_lock(&c->lock);
                if (c->rec.state == CTR_RUNNING || c->rec.state == CTR_UNKNOWN) {
                        mark_exited_locked(c, 128 + CTR_SIGKILL, 0, false);
                        if (why) {
                                free(c->rec.message);
                                c->rec.message = strdup(why);
                        }
                } else if (c->rec.state == CTR_CREATED)
                        mark_exited_locked(c, 0, 0, false);
                pthread_mutex_unlock(&c->lock);
        }
        pthread_mutex_unlock(&s->lock);
}

/* At shutdown: drop a container from the registry without touching it. */
void sbx_ctr_forget(struct sbx *s, struct sbx_ctr *c)
{
        s->ctrs[--s->n_ctrs] = NULL;
        ctr_unref(c);
}

/* --- after a uvmd restart --- */

/* What the driver says a container is now; exited while we were away gets
 * its exit code from the agent. */
static void reconcile(struct sbx_ctr *c, struct drv_pod *drv)
{
        enum drv_ctr_state ds = DRV_CTR_UNKNOWN;
        int code = 0;

        if (c->rec.state == CTR_EXITED)
                return;
        if (!drv || c->pod->ops->ctr_state(drv, c->rec.id, &ds, &code, NULL) < 0)
                ds = DRV_CTR_EXITED, code = 128 + CTR_SIGKILL;
        pthread_mutex_lock(&c->lock);
        if (ds == DRV_CTR_EXITED)
                mark_exited_locked(c, code, 0, false);
        else if (ds == DRV_CTR_RUNNING && c->rec.state != CTR_RUNNING) {
                /* uvmd died inside StartContainer, after the agent started
                 * it: started now, as far as anyone can tell (never 0). */
                if (c->rec.started_ns == 0)
                        c->rec.started_ns = ctr_now_ns();
                (void) set_state_locked(c, CTR_RUNNING, NULL);
        }
        pthread_mutex_unlock(&c->lock);
}

/* A container whose record cannot be read back: its id (the file name) is
 * kept so that, once the pod's sandbox is reattached, it is removed rather
 * than left running unreported. Recovery runs before serving: no lock. */
static void unreadable_add(struct sbx_pod *p, const char *name, size_t len)
{
        char **v;
        size_t n = 0;

        while (p->unreadable && p->unreadable[n])
                n++;
        v = realloc(p->unreadable, (n + 2) * sizeof(char *));
        if (!v)
                return;
        p->unreadable = v;
        v[n] = strndup(name, len);
        v[n + 1] = NULL;
}

static void remove_unreadable(struct sbx_pod *p, struct drv_pod *drv)
{
        for (size_t i = 0; p->unreadable && p->unreadable[i]; i++) {
                const char *id = p->unreadable[i];
                _cleanup_free_ char *path = NULL;

                if (drv && sbx_id_valid(id)) {
                        (void) p->ops->ctr_signal(drv, id, CTR_SIGKILL, NULL);
                        for (int t = 0; t < 50; t++) { /* its exit, then its removal */
                                enum drv_ctr_state st = DRV_CTR_UNKNOWN;
                                int code;
                                if (p->ops->ctr_state(drv, id, &st, &code, NULL) < 0 ||
                                    st == DRV_CTR_EXITED || st == DRV_CTR_CREATED)
                                        break;
                                usleep(20000);
                        }
                        if (p->ops->ctr_delete(drv, id, NULL) >= 0)
                                log_pod(LOG_LEVEL_WARN, p->rec.id,
                                        "container %s: removed (its record was unreadable)", id);
                }
                if (asprintf(&path, "%s/containers/%s.json", p->dir, id) >= 0)
                        ctr_plat_unlink(path);
        }
        strv_free(p->unreadable);
        p->unreadable = NULL;
}

struct recover_ctx {
        struct sbx *s;
        struct sbx_pod *p;
        const char *dir;
};

/* Each "<id>.json" record file of the pod's containers directory. */
static void recover_one(void *data, const char *name, bool is_dir)
{
        struct recover_ctx *rc = data;
        struct sbx_pod *p = rc->p;
        size_t len = strlen(name);
        _cleanup_free_ char *id = NULL;
        struct sbx_ctr *c;

        if (is_dir || len < 6 || strcmp(name + len - 5, ".json") != 0 || !(id = malloc(len - 4)))
                return;
        memcpy(id, name, len - 5);
        id[len - 5] = '\0';
        c = calloc(1, sizeof(*c));
        if (!c || asprintf(&c->path, "%s/%s.json", rc->dir, id) < 0) {
                free(c);
                return;
        }
        c->refs = 1;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->pod = p;
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
        c->stop_signal = CTR_SIGTERM;
        if (ctr_record_load(c->path, &c->rec) < 0 || !STR_EQ(c->rec.pod_id, p->rec.id)) {
                log_warn("%s: damaged container record: the container goes", c->path);
                unreadable_add(p, id, strlen(id));
                ctr_unref(c);
                return;
        }
        ctr_plat_recovered(rc->s, c);
        pthread_mutex_lock(&rc->s->lock);
        rc->s->ctrs[rc->s->n_ctrs++] = c;
        pthread_mutex_unlock(&rc->s->lock);
        sbx_list_changed(rc->s);
}

/* Reload the containers of a pod that was just re-registered. */
void sbx_ctr_recover_pod(struct sbx *s, struct sbx_pod *p)
{
        _cleanup_free_ char *dir = NULL;
        struct recover_ctx rc = {.s = s, .p = p};
        int r;

        if (asprintf(&dir, "%s/containers", p->dir) < 0)
                return;
        rc.dir = dir;
        r = plat_dir_each(dir, recover_one, &rc);
        if (r < 0)
                log_warn("pod %s: cannot list %s (%s): its containers are not reloaded", p->rec.id,
                         dir, strerror(-r));
}

void sbx_ctr_reconcile_pod(struct sbx *s, struct sbx_pod *p)
{
        struct drv_pod *drv = pod_drv(p);

        remove_unreadable(p, drv);
        for (size_t k = 0;; k++) {
                struct sbx_ctr *c = NULL;

                pthread_mutex_lock(&s->lock);
                for (; k < s->n_ctrs && !c; k++)
                        if (s->ctrs[k]->pod == p) {
                                c = s->ctrs[k];
                                __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
                        }
                pthread_mutex_unlock(&s->lock);
                if (!c)
                        return;
                k--;
                reconcile(c, drv);
                ctr_unref(c);
        }
}

/* --- stats, resources --- */

/* Under op_lock, because pod_free (RemovePodSandbox) runs under it too. */
static int usage_from_driver(struct sbx_ctr *c, int64_t wait_ms, struct drv_ctr_stats *ret,
                             struct uvm_error **err)
{
        struct drv_pod *drv;
        int r;

        if (!c->pod->ops->ctr_stats)
                return uvm_error_set(err, EOPNOTSUPP, "the %s driver has no container stats",
                                     c->pod->ops->name);
        if (pod_op_lock_within(c->pod, wait_ms < 0 ? 0 : wait_ms) < 0)
                return uvm_error_set(err, EAGAIN,
                                     "pod %s is busy: no stats for container %s within %lld ms",
                                     c->rec.pod_id, c->rec.id, (long long) wait_ms);
        drv = pod_drv(c->pod);
        /* No sandbox: the container went with it, and uses nothing. */
        r = drv ? c->pod->ops->ctr_stats(drv, c->rec.id, ret, err) : 0;
        pthread_mutex_unlock(&c->pod->op_lock);
        return r;
}

/* The CPU rate since this container's previous sample (the first: since it
 * started), as kubectl top and the HPA read it. */
static void cpu_rate(struct sbx_ctr *c, struct drv_ctr_stats *st)
{
        int64_t since;
        uint64_t used;

        pthread_mutex_lock(&c->lock);
        since = c->prev_ts ? c->prev_ts : c->rec.started_ns;
        used = st->cpu_usage_ns >= c->prev_cpu ? st->cpu_usage_ns - c->prev_cpu : 0;
        if (st->cpu_usage_ns && since > 0 && st->timestamp_ns > since)
                st->cpu_nano_cores = (uint64_t) ((long double) used * 1e9L /
                                                 (long double) (st->timestamp_ns - since));
        if (st->cpu_usage_ns) {
                c->prev_ts = st->timestamp_ns;
                c->prev_cpu = st->cpu_usage_ns;
        }
        pthread_mutex_unlock(&c->lock);
}

int sbx_ctr_usage(struct sbx *s, const char *id_prefix, int64_t wait_ms, struct ctr_record *ret_rec,
                  struct drv_ctr_stats *ret, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct drv_ctr_stats st = {0};
        struct ctr_record rec = {0};
        struct uvm_error *e = NULL;
        int r = find_ref(s, id_prefix, &c, err);

        if (r < 0)
                return r;
        if (state_of(c) == CTR_RUNNING) {
                r = usage_from_driver(c, wait_ms, &st, &e);
                /* It may have exited while we asked: then it uses nothing. */
                if (r < 0 && state_of(c) == CTR_RUNNING) {
                        uvm_error_set(err, e ? e->code : -r, "%s",
                                      e ? e->msg : "container stats failed");
                        uvm_error_free(e);
                        return r;
                }
                uvm_error_free(e);
                if (r < 0)
                        st = (struct drv_ctr_stats){0};
        }
        if (st.timestamp_ns == 0)
                st.timestamp_ns = ctr_now_ns();
        cpu_rate(c, &st);
        if (ret_rec) {
                pthread_mutex_lock(&c->lock);
                r = ctr_record_copy(&c->rec, &rec);
                pthread_mutex_unlock(&c->lock);
                if (r < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                *ret_rec = rec;
        }
        *ret = st;
        return 0;
}

/* containerd's rule: a field the update sets replaces the current one. */
static void merge_resources(struct ctr_resources *cur, const struct ctr_resources *u)
{
        if (u->cpu_period)
                cur->cpu_period = u->cpu_period;
        if (u->cpu_quota)
                cur->cpu_quota = u->cpu_quota;
        if (u->cpu_shares)
                cur->cpu_shares = u->cpu_shares;
        if (u->memory_limit_in_bytes)
                cur->memory_limit_in_bytes = u->memory_limit_in_bytes;
        if (u->memory_swap_limit_in_bytes)
                cur->memory_swap_limit_in_bytes = u->memory_swap_limit_in_bytes;
        if (u->oom_score_adj)
                cur->oom_score_adj = u->oom_score_adj;
        if (!STR_EMPTY(u->cpuset_cpus)) {
                free(cur->cpuset_cpus);
                cur->cpuset_cpus = strdup(u->cpuset_cpus);
        }
        if (!STR_EMPTY(u->cpuset_mems)) {
                free(cur->cpuset_mems);
                cur->cpuset_mems = strdup(u->cpuset_mems);
        }
}

int sbx_ctr_update(struct sbx *s, const char *id_prefix, const struct ctr_resources *res,
                   const char *resources_json, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct drv_pod *drv;
        int r = ctr_find_in_state(s, id_prefix, CTR_RUNNING, &c, err);

        if (r < 0)
                return r;
        if (!c->pod->ops->ctr_update)
                return uvm_error_set(err, EOPNOTSUPP, "the %s driver cannot update resources",
                                     c->pod->ops->name);
        pthread_mutex_lock(&c->pod->op_lock);
        drv = pod_drv(c->pod);
        r = drv ? c->pod->ops->ctr_update(drv, c->rec.id, resources_json, err)
                : uvm_error_set(err, EBUSY, "pod %s is not running", c->rec.pod_id);
        pthread_mutex_unlock(&c->pod->op_lock);
        if (r < 0)
                return uvm_error_wrap(err, "update container %s", c->rec.id);
        pthread_mutex_lock(&c->lock);
        merge_resources(&c->rec.res, res);
        if (ctr_save_locked(c, NULL) < 0)
                log_pod(LOG_LEVEL_WARN, c->rec.pod_id,
                        "container %s: record not saved after an update, ignoring", c->rec.id);
        pthread_mutex_unlock(&c->lock);
        log_pod(LOG_LEVEL_INFO, c->rec.pod_id, "container %s: resources updated", c->rec.id);
        return 0;
}
