/* Workload containers: records, state changes, driver calls, logs. */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "sandbox/ids.h"
#include "sandbox/log.h"
#include "sandbox/sandbox-internal.h"
#include "sandbox/spec.h"

#define SBX_MAX_CTRS 16384
#define KILL_WAIT_MS 10000

struct sbx_ctr {
        int refs;              /* atomic */
        pthread_mutex_t lock;  /* guards rec and log */
        pthread_cond_t cond;   /* rec.state changed */
        struct ctr_record rec; /* lock */
        struct crilog *log;    /* lock */
        struct sbx_pod *pod;   /* immutable, a reference */
        char *path;            /* immutable: the record file */
        int stop_signal;       /* immutable */
};

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

void ctr_record_clear(struct ctr_record *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->pod_id);
        free(r->name);
        free(r->image);
        free(r->image_id);
        free(r->log_path);
        free(r->reason);
        free(r->message);
        record_kv_free(r->labels, r->n_labels);
        record_kv_free(r->annotations, r->n_annotations);
        memset(r, 0, sizeof(*r));
}

static int rec_copy(const struct ctr_record *src, struct ctr_record *dst)
{
        struct ctr_record r = *src;

        r.id = xstrdup(src->id);
        r.pod_id = xstrdup(src->pod_id);
        r.name = xstrdup(src->name);
        r.image = xstrdup(src->image);
        r.image_id = xstrdup(src->image_id);
        r.log_path = xstrdup(src->log_path);
        r.reason = xstrdup(src->reason);
        r.message = xstrdup(src->message);
        r.labels = r.annotations = NULL;
        r.n_labels = r.n_annotations = 0;
        if (record_kv_copy(src->labels, src->n_labels, &r.labels) == 0)
                r.n_labels = src->n_labels;
        if (record_kv_copy(src->annotations, src->n_annotations, &r.annotations) == 0)
                r.n_annotations = src->n_annotations;
        if (!r.id || !r.pod_id || !r.name || !r.labels || !r.annotations) {
                ctr_record_clear(&r);
                return -ENOMEM;
        }
        *dst = r;
        return 0;
}

static void ctr_unref(struct sbx_ctr *c)
{
        if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        crilog_free(c->log);
        ctr_record_clear(&c->rec);
        pod_unref(c->pod);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c->path);
        free(c);
}

static void ctr_unrefp(struct sbx_ctr **c)
{
        ctr_unref(*c);
}

/* --- the record file --- */

static void add_str(json_object *o, const char *k, const char *v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

/* c->lock held. */
static int save_locked(struct sbx_ctr *c, struct uvm_error **err)
{
        const struct ctr_record *r = &c->rec;
        json_object *o = json_object_new_object();
        const char *text;
        int rc;

        add_str(o, "id", r->id);
        add_str(o, "podId", r->pod_id);
        add_str(o, "name", r->name);
        json_object_object_add(o, "attempt", json_object_new_int64(r->attempt));
        add_str(o, "image", r->image);
        add_str(o, "imageId", r->image_id);
        add_str(o, "logPath", r->log_path);
        add_str(o, "state", ctr_state_to_string(r->state));
        json_object_object_add(o, "createdNs", json_object_new_int64(r->created_ns));
        json_object_object_add(o, "startedNs", json_object_new_int64(r->started_ns));
        json_object_object_add(o, "finishedNs", json_object_new_int64(r->finished_ns));
        json_object_object_add(o, "exitCode", json_object_new_int(r->exit_code));
        add_str(o, "reason", r->reason);
        add_str(o, "message", r->message);
        json_object_object_add(o, "labels", record_kv_to_json(r->labels, r->n_labels));
        json_object_object_add(o, "annotations",
                               record_kv_to_json(r->annotations, r->n_annotations));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        rc = fs_write_atomic(c->path, text, strlen(text), 0600);
        json_object_put(o);
        if (rc < 0)
                return uvm_error_set(err, -rc, "write %s: %s", c->path, strerror(-rc));
        return 0;
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
static void emit_locked(struct sbx_ctr *c, enum ctr_event ev)
{
        pthread_mutex_lock(&event_sink.lock);
        if (event_sink.fn)
                event_sink.fn(event_sink.data, ev, &c->rec, now_ns());
        pthread_mutex_unlock(&event_sink.lock);
}

/* The only place a container's state changes: checked, logged, persisted,
 * and waiters (StopContainer) and event subscribers told. c->lock held. */
static int set_state_locked(struct sbx_ctr *c, enum ctr_state to, struct uvm_error **err)
{
        enum ctr_state from = c->rec.state;
        int r = ctr_state_change(c->rec.pod_id, c->rec.id, &c->rec.state, to, err);

        if (r == 0)
                r = save_locked(c, err);
        pthread_cond_broadcast(&c->cond);
        /* Told even when the save failed: the state did change in memory. */
        if (c->rec.state != from && (to == CTR_RUNNING || to == CTR_EXITED))
                emit_locked(c, to == CTR_RUNNING ? CTR_EVENT_STARTED : CTR_EVENT_STOPPED);
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

static void registry_drop(struct sbx *s, struct sbx_ctr *c)
{
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->n_ctrs; k++)
                if (s->ctrs[k] == c) {
                        s->ctrs[k] = s->ctrs[--s->n_ctrs];
                        ctr_unref(c);
                        break;
                }
        pthread_mutex_unlock(&s->lock);
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
static int find_in_state(struct sbx *s, const char *id_prefix, enum ctr_state want,
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

/* --- create --- */

/* Look name up in the image's /etc/passwd (topmost layer that has one). */
static int passwd_lookup(char *const *layers, const char *name, unsigned *uid, unsigned *gid)
{
        size_t n = 0;

        while (layers && layers[n])
                n++;
        for (size_t i = n; i-- > 0;) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                char *save = NULL;

                if (asprintf(&path, "%s/etc/passwd", layers[i]) < 0)
                        return -ENOMEM;
                if (fs_read_file(path, 1 << 20, &text, NULL) < 0)
                        continue;
                for (char *line = strtok_r(text, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        char user[256];
                        unsigned u, g;
                        if (sscanf(line, "%255[^:]:%*[^:]:%u:%u:", user, &u, &g) == 3 &&
                            STR_EQ(user, name)) {
                                *uid = u;
                                *gid = g;
                                return 0;
                        }
                }
                return -ENOENT; /* the topmost passwd decides */
        }
        return -ENOENT;
}

/* uid/gid: run_as_user/run_as_group, else the image's USER (number or name). */
static int resolve_user(const Runtime__V1__ContainerConfig *cfg, const char *image_user,
                        char *const *layers, unsigned *ret_uid, unsigned *ret_gid,
                        struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                cfg->linux ? cfg->linux->security_context : NULL;
        const char *user = sc && !STR_EMPTY(sc->run_as_username) ? sc->run_as_username : image_user;
        _cleanup_free_ char *name = NULL;
        unsigned uid = 0, gid = 0;
        char *colon = NULL, *end;

        if (sc && sc->run_as_user) {
                if (sc->run_as_user->value < 0 || sc->run_as_user->value > 0xfffffffe)
                        return uvm_error_set(err, EINVAL, "run_as_user %lld: out of range",
                                             (long long) sc->run_as_user->value);
                uid = (unsigned) sc->run_as_user->value;
        } else if (!STR_EMPTY(user)) {
                name = strdup(user);
                if (!name)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if ((colon = strchr(name, ':')))
                        *colon++ = '\0';
                errno = 0;
                uid = (unsigned) strtoul(name, &end, 10);
                if (*end || errno || !*name) {
                        if (passwd_lookup(layers, name, &uid, &gid) < 0)
                                return uvm_error_set(err, EINVAL,
                                                     "user \"%s\" not found in the image's "
                                                     "/etc/passwd",
                                                     name);
                }
                if (colon && *colon) {
                        gid = (unsigned) strtoul(colon, &end, 10);
                        if (*end)
                                return uvm_error_set(err, EINVAL,
                                                     "group \"%s\": only numeric groups are "
                                                     "supported",
                                                     colon);
                }
        }
        if (sc && sc->run_as_group) {
                if (sc->run_as_group->value < 0 || sc->run_as_group->value > 0xfffffffe)
                        return uvm_error_set(err, EINVAL, "run_as_group %lld: out of range",
                                             (long long) sc->run_as_group->value);
                gid = (unsigned) sc->run_as_group->value;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* Bind the pod's hosts, resolv.conf and hostname into the container unless
 * the kubelet mounts its own. */
static int add_pod_files(const char *files_dir, const Runtime__V1__ContainerConfig *cfg,
                         char **json, struct uvm_error **err)
{
        static const char *const names[] = {"hosts", "resolv.conf", "hostname"};
        json_object *spec = json_tokener_parse(*json), *mounts;
        char *out;

        if (!spec || !json_object_object_get_ex(spec, "mounts", &mounts)) {
                json_object_put(spec);
                return uvm_error_set(err, EINVAL, "internal: spec without mounts");
        }
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *dst = NULL, *src = NULL;
                bool own = false;
                json_object *m, *opts;

                if (asprintf(&dst, "/etc/%s", names[i]) < 0 ||
                    asprintf(&src, "%s/%s", files_dir, names[i]) < 0)
                        break;
                for (size_t k = 0; k < cfg->n_mounts; k++)
                        own = own || STR_EQ(cfg->mounts[k]->container_path, dst);
                if (own || access(src, F_OK) < 0)
                        continue;
                m = json_object_new_object();
                opts = json_object_new_array();
                json_object_array_add(opts, json_object_new_string("rbind"));
                json_object_array_add(opts, json_object_new_string("rprivate"));
                json_object_array_add(opts, json_object_new_string("rw"));
                json_object_object_add(m, "destination", json_object_new_string(dst));
                json_object_object_add(m, "type", json_object_new_string("bind"));
                json_object_object_add(m, "source", json_object_new_string(src));
                json_object_object_add(m, "options", opts);
                json_object_array_add(mounts, m);
        }
        out = strdup(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(spec);
        if (!out)
                return uvm_error_set(err, ENOMEM, "out of memory");
        free(*json);
        *json = out;
        return 0;
}

static int oom_floor(void)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file("/proc/self/oom_score_adj", 64, &text, NULL) < 0)
                return 0;
        return atoi(text);
}

static int stop_signal_of(const char *name)
{
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {{"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},    {"SIGQUIT", SIGQUIT},
                    {"SIGKILL", SIGKILL}, {"SIGHUP", SIGHUP},    {"SIGUSR1", SIGUSR1},
                    {"SIGUSR2", SIGUSR2}, {"SIGWINCH", SIGWINCH}};

        for (size_t i = 0; name && i < ARRAY_SIZE(sigs); i++)
                if (strcasecmp(name, sigs[i].name) == 0 || strcasecmp(name, sigs[i].name + 3) == 0)
                        return sigs[i].sig;
        if (name && atoi(name) > 0 && atoi(name) < 65)
                return atoi(name);
        return SIGTERM;
}

/* The CRI log path: <pod log dir>/<log_path>, staying inside the directory. */
static int log_file(const struct pod_record *pod, const char *rel, char **ret,
                    struct uvm_error **err)
{
        char *p = NULL, *slash;
        int r;

        *ret = NULL;
        if (STR_EMPTY(pod->log_directory) || STR_EMPTY(rel))
                return 0;
        if (rel[0] == '/' || strstr(rel, "..") || strlen(rel) > 1024)
                return uvm_error_set(err, EINVAL,
                                     "log_path \"%s\": must be relative to the pod's log "
                                     "directory, without \"..\"",
                                     rel);
        if (asprintf(&p, "%s/%s", pod->log_directory, rel) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        slash = strrchr(p, '/');
        *slash = '\0';
        r = fs_mkdir_p(p, 0755);
        *slash = '/';
        if (r < 0) {
                free(p);
                return uvm_error_set(err, -r, "create the log directory: %s", strerror(-r));
        }
        *ret = p;
        return 0;
}

static int check_unique_locked(struct sbx *s, const char *pod_id, const char *name,
                               uint32_t attempt, struct uvm_error **err)
{
        for (size_t k = 0; k < s->n_ctrs; k++) {
                const struct ctr_record *o = &s->ctrs[k]->rec; /* identity fields are immutable */
                if (STR_EQ(o->pod_id, pod_id) && STR_EQ(o->name, name) && o->attempt == attempt)
                        return uvm_error_set(err, EEXIST,
                                             "container \"%s\" (attempt %u) already exists in pod "
                                             "%s as %s",
                                             name, attempt, pod_id, o->id);
        }
        if (s->n_ctrs >= SBX_MAX_CTRS)
                return uvm_error_set(err, ENOSPC, "too many containers (%d)", SBX_MAX_CTRS);
        return 0;
}

static int new_ctr(struct sbx_pod *p, const Runtime__V1__ContainerConfig *cfg, struct sbx_ctr **ret,
                   struct uvm_error **err)
{
        struct sbx_ctr *c = calloc(1, sizeof(*c));
        char id[SBX_ID_LEN + 1];
        struct record_kv *kv[2] = {NULL, NULL};
        int r = 0;

        if (!c || sbx_id_new(id) < 0)
                goto oom;
        c->refs = 1;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->pod = p;
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
        c->rec.id = strdup(id);
        c->rec.pod_id = strdup(p->rec.id);
        c->rec.name = strdup(cfg->metadata->name);
        c->rec.attempt = cfg->metadata->attempt;
        c->rec.image = strdup(cfg->image->image);
        c->rec.created_ns = now_ns();
        c->rec.state = CTR_CREATED;
        kv[0] = calloc(cfg->n_labels + 1, sizeof(*kv[0]));
        kv[1] = calloc(cfg->n_annotations + 1, sizeof(*kv[1]));
        c->rec.labels = kv[0];
        c->rec.annotations = kv[1];
        for (size_t i = 0; kv[0] && i < cfg->n_labels; i++, c->rec.n_labels++)
                if (!(kv[0][i].key = strdup(cfg->labels[i]->key)) ||
                    !(kv[0][i].value = strdup(cfg->labels[i]->value)))
                        r = -ENOMEM;
        for (size_t i = 0; kv[1] && i < cfg->n_annotations; i++, c->rec.n_annotations++)
                if (!(kv[1][i].key = strdup(cfg->annotations[i]->key)) ||
                    !(kv[1][i].value = strdup(cfg->annotations[i]->value)))
                        r = -ENOMEM;
        if (r < 0 || !c->rec.id || !c->rec.pod_id || !c->rec.name || !c->rec.image || !kv[0] ||
            !kv[1] || asprintf(&c->path, "%s/containers/%s.json", p->dir, id) < 0)
                goto oom;
        *ret = c;
        return 0;
oom:
        if (c && c->pod)
                ctr_unref(c);
        else
                free(c);
        return uvm_error_set(err, ENOMEM, "out of memory");
}

/* The OCI spec and the driver's container spec; layers and config from the
 * image (taken: released by the caller on failure). */
static int build_spec(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                      char *const *layers, const struct img_config *ic, char **ret_json,
                      struct uvm_error **err)
{
        struct pod_record *pr = &c->pod->rec;
        _cleanup_free_ char *cg = NULL, *files = sbx_pod_files_dir(s, pr->id);
        struct spec_image si = {ic->entrypoint, ic->cmd, ic->env, ic->working_dir};
        struct spec_pod sp = {
                .id = pr->id,
                .systemd_cgroups = s->systemd_cgroups,
                .host_network = pr->netns_path == NULL,
                .host_ipc = pr->host_ipc,
                .host_pid = pr->host_pid,
                .share_pid = pr->share_pid,
                .hostname = pr->hostname,
                .oom_score_adj_floor = oom_floor(),
        };
        unsigned uid = 0, gid = 0;
        int r;

        if (!files || asprintf(&cg, s->systemd_cgroups ? "uvmd-%s.slice" : "/uvmd/%s", pr->id) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        sp.cgroup_parent = cg;
        r = resolve_user(cfg, ic->user, layers, &uid, &gid, err);
        if (r >= 0)
                r = spec_build(cfg, &si, &sp, c->rec.id, uid, gid, ret_json, err);
        if (r >= 0)
                r = add_pod_files(files, cfg, ret_json, err);
        return r;
}

static int create_steps(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                        struct uvm_error **err)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *json = NULL, *dir = NULL;
        struct img_config ic = {0};
        struct drv_ctr_spec ds;
        struct drv_pod *drv;
        int r;

        if (!s->images)
                return uvm_error_set(err, ENOTSUP, "no image store");
        r = img_use(s->images, cfg->image->image, c->rec.id, &c->rec.image_id, &layers, &ic, err);
        if (r < 0)
                return r;
        r = build_spec(s, c, cfg, layers, &ic, &json, err);
        c->stop_signal = stop_signal_of(ic.stop_signal);
        img_config_clear(&ic);
        if (r >= 0)
                r = log_file(&c->pod->rec, cfg->log_path, &c->rec.log_path, err);
        if (r >= 0 && c->rec.log_path)
                r = crilog_open(c->rec.log_path, &c->log, err);
        if (r >= 0 &&
            (asprintf(&dir, "%s/containers", c->pod->dir) < 0 || fs_mkdir_p(dir, 0700) < 0))
                r = uvm_error_set(err, EIO, "create %s/containers", c->pod->dir);
        if (r >= 0)
                r = save_locked(c, err); /* not shared yet: no lock needed */
        if (r < 0)
                goto fail;
        ds = (struct drv_ctr_spec){
                .id = c->rec.id,
                .layers = layers,
                .readonly_rootfs = cfg->linux && cfg->linux->security_context &&
                                   cfg->linux->security_context->readonly_rootfs,
                .oci_spec_json = json,
        };
        pthread_mutex_lock(&c->pod->op_lock);
        pthread_mutex_lock(&c->pod->lock);
        drv = c->pod->drv;
        pthread_mutex_unlock(&c->pod->lock);
        r = drv ? c->pod->ops->ctr_create(drv, &ds, err)
                : uvm_error_set(err, EBUSY, "pod %s has no sandbox", c->pod->rec.id);
        pthread_mutex_unlock(&c->pod->op_lock);
        if (r >= 0)
                return 0;
        unlink(c->path);
fail:
        img_release(s->images, c->rec.image_id ? c->rec.image_id : "", c->rec.id);
        return r;
}

int sbx_ctr_create(struct sbx *s, const char *pod_id, const Runtime__V1__ContainerConfig *cfg,
                   char **ret_id, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        enum pod_state st;
        char *id;
        int r;

        if (!cfg->metadata || STR_EMPTY(cfg->metadata->name))
                return uvm_error_set(err, EINVAL, "config.metadata.name is required");
        if (!cfg->image || STR_EMPTY(cfg->image->image))
                return uvm_error_set(err, EINVAL, "config.image.image is required");
        r = pod_get_ref(s, pod_id, &p, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        st = p->rec.state;
        pthread_mutex_unlock(&p->lock);
        if (st != POD_READY)
                return uvm_error_set(err, EBUSY, "pod %s is %s, not ready", p->rec.id,
                                     pod_state_to_string(st));
        r = new_ctr(p, cfg, &c, err);
        if (r < 0)
                return r;
        /* Reserve the name first so two concurrent creates cannot both pass. */
        pthread_mutex_lock(&s->lock);
        r = check_unique_locked(s, p->rec.id, c->rec.name, c->rec.attempt, err);
        if (r == 0) {
                __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
                s->ctrs[s->n_ctrs++] = c;
        }
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return r;
        r = create_steps(s, c, cfg, err);
        if (r < 0) {
                registry_drop(s, c);
                return uvm_error_wrap(err, "create container %s", c->rec.name);
        }
        id = strdup(c->rec.id);
        if (!id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        log_pod(LOG_LEVEL_INFO, p->rec.id, "container %s (%s) created", c->rec.name, id);
        pthread_mutex_lock(&c->lock);
        emit_locked(c, CTR_EVENT_CREATED);
        pthread_mutex_unlock(&c->lock);
        *ret_id = id;
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
        struct drv_pod *drv;
        int r = find_in_state(s, id_prefix, CTR_CREATED, &c, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&c->pod->op_lock);
        drv = pod_drv(c->pod);
        r = drv ? c->pod->ops->ctr_start(drv, c->rec.id, err)
                : uvm_error_set(err, EBUSY, "pod %s is not running", c->rec.pod_id);
        pthread_mutex_unlock(&c->pod->op_lock);
        pthread_mutex_lock(&c->lock);
        if (r >= 0 && c->rec.state == CTR_CREATED) {
                c->rec.started_ns = now_ns();
                r = set_state_locked(c, CTR_RUNNING, err);
        } else if (r >= 0 && c->rec.started_ns == 0) {
                /* It ran and exited before start returned: the exit came first. */
                c->rec.started_ns = c->rec.finished_ns;
                (void) save_locked(c, NULL);
        } else if (r < 0 && c->rec.state == CTR_CREATED) {
                /* A failed start leaves an exited container, as runc does. */
                c->rec.finished_ns = now_ns();
                c->rec.exit_code = 128;
                free(c->rec.reason);
                c->rec.reason = strdup("StartError");
                free(c->rec.message);
                c->rec.message = strdup((*err && (*err)->msg) ? (*err)->msg : "start failed");
                (void) set_state_locked(c, CTR_EXITED, NULL);
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* Wait until the container has exited or ms passed; true when exited. */
static bool wait_exited(struct sbx_ctr *c, int64_t ms)
{
        struct timespec until;
        bool done;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
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
        r = signal_ctr(c, SIGKILL, err);
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
        struct drv_pod *drv;
        int r;

        if (state_of(c) == CTR_RUNNING && (r = stop_ctr(c, 0, err)) < 0)
                return r;
        pthread_mutex_lock(&c->pod->op_lock);
        drv = pod_drv(c->pod);
        /* A stopped pod's sandbox took its containers with it. */
        r = drv && pod_ready(c->pod) ? c->pod->ops->ctr_delete(drv, c->rec.id, err) : 0;
        pthread_mutex_unlock(&c->pod->op_lock);
        if (r < 0)
                return uvm_error_wrap(err, "remove container %s", c->rec.id);
        if (s->images && c->rec.image_id)
                img_release(s->images, c->rec.image_id, c->rec.id);
        pthread_mutex_lock(&c->lock);
        c->log = crilog_free(c->log);
        pthread_mutex_unlock(&c->lock);
        if (unlink(c->path) < 0 && errno != ENOENT)
                log_warn("remove %s: %m, ignoring", c->path);
        registry_drop(s, c);
        log_pod(LOG_LEVEL_INFO, c->rec.pod_id, "container %s removed", c->rec.id);
        pthread_mutex_lock(&c->lock);
        emit_locked(c, CTR_EVENT_DELETED);
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
        r = rec_copy(&c->rec, ret);
        pthread_mutex_unlock(&c->lock);
        return r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

int sbx_ctr_list(struct sbx *s, struct ctr_record **ret, size_t *ret_n, struct uvm_error **err)
{
        struct sbx_ctr **v;
        struct ctr_record *out;
        size_t n;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        n = s->n_ctrs;
        v = calloc(n + 1, sizeof(*v));
        for (size_t k = 0; v && k < n; k++) {
                v[k] = s->ctrs[k];
                __atomic_add_fetch(&v[k]->refs, 1, __ATOMIC_ACQ_REL);
        }
        pthread_mutex_unlock(&s->lock);
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        out = calloc(n + 1, sizeof(*out));
        for (size_t k = 0; k < n; k++) {
                if (out && r == 0) {
                        pthread_mutex_lock(&v[k]->lock);
                        r = rec_copy(&v[k]->rec, &out[k]);
                        pthread_mutex_unlock(&v[k]->lock);
                }
                ctr_unref(v[k]);
        }
        free(v);
        if (!out || r < 0) {
                sbx_ctr_list_free(out, n);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

void sbx_ctr_list_free(struct ctr_record *v, size_t n)
{
        for (size_t k = 0; v && k < n; k++)
                ctr_record_clear(&v[k]);
        free(v);
}

int sbx_ctr_exec_sync(struct sbx *s, const char *id_prefix, const struct drv_exec_spec *spec,
                      struct drv_exec_result *ret, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct drv_pod *drv;
        int r = find_in_state(s, id_prefix, CTR_RUNNING, &c, err);

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
        else if (c->log)
                r = crilog_reopen(c->log, err);
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
        c->rec.finished_ns = finished_ns > 0 ? finished_ns : now_ns();
        free(c->rec.reason);
        c->rec.reason = strdup(oom ? "OOMKilled" : code == 0 ? "Completed" : "Error");
        if (c->log)
                crilog_flush(c->log);
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
        if (c->log && crilog_write(c->log, stream, buf, len) < 0)
                log_pod(LOG_LEVEL_WARN, c->rec.pod_id, "container %s: log write failed, ignoring",
                        c->rec.id);
        pthread_mutex_unlock(&c->lock);
        ctr_unref(c);
}

void sbx_ctr_pod_stopped(struct sbx *s, const char *pod_id)
{
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->n_ctrs; k++) {
                struct sbx_ctr *c = s->ctrs[k];
                if (!STR_EQ(c->rec.pod_id, pod_id))
                        continue;
                pthread_mutex_lock(&c->lock);
                if (c->rec.state == CTR_RUNNING || c->rec.state == CTR_UNKNOWN)
                        mark_exited_locked(c, 128 + SIGKILL, 0, false);
                else if (c->rec.state == CTR_CREATED)
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

/* A container record's labels or annotations: required. */
static int load_kv(json_object *o, const char *key, struct record_kv **ret, size_t *ret_n)
{
        const char *why;
        json_object *m;

        *ret = NULL;
        *ret_n = 0;
        if (!json_object_object_get_ex(o, key, &m))
                return -EINVAL;
        return record_kv_from_json(m, ret, ret_n, &why);
}

static char *get_s(json_object *o, const char *key, bool *ok, bool required)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ok = *ok && !required;
                return NULL;
        }
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 4096) {
                *ok = false;
                return NULL;
        }
        return strdup(json_object_get_string(v));
}

static int64_t get_i(json_object *o, const char *key, bool *ok)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) {
                *ok = false;
                return 0;
        }
        return json_object_get_int64(v);
}

/* Read one record file; every field checked. */
static int load_record(const char *path, struct ctr_record *r)
{
        _cleanup_free_ char *text = NULL, *state = NULL;
        json_object *o;
        bool ok = true;
        int64_t v;

        if (fs_read_file(path, RECORD_MAX_BYTES, &text, NULL) < 0)
                return -EIO;
        o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EINVAL;
        }
        r->id = get_s(o, "id", &ok, true);
        r->pod_id = get_s(o, "podId", &ok, true);
        r->name = get_s(o, "name", &ok, true);
        r->image = get_s(o, "image", &ok, true);
        r->image_id = get_s(o, "imageId", &ok, false);
        r->log_path = get_s(o, "logPath", &ok, false);
        r->reason = get_s(o, "reason", &ok, false);
        r->message = get_s(o, "message", &ok, false);
        state = get_s(o, "state", &ok, true);
        v = get_i(o, "attempt", &ok);
        r->attempt = v >= 0 && v <= UINT32_MAX ? (uint32_t) v : 0;
        r->created_ns = get_i(o, "createdNs", &ok);
        r->started_ns = get_i(o, "startedNs", &ok);
        r->finished_ns = get_i(o, "finishedNs", &ok);
        r->exit_code = (int) get_i(o, "exitCode", &ok);
        ok = ok && load_kv(o, "labels", &r->labels, &r->n_labels) == 0 &&
             load_kv(o, "annotations", &r->annotations, &r->n_annotations) == 0;
        json_object_put(o);
        ok = ok && r->id && sbx_id_valid(r->id) && state &&
             ctr_state_from_string(state, &r->state) == 0;
        return ok ? 0 : -EINVAL;
}

/* What the driver says a container is now; exited while we were away gets
 * its exit code from the agent. */
static void reconcile(struct sbx_ctr *c, struct drv_pod *drv)
{
        enum drv_ctr_state ds = DRV_CTR_UNKNOWN;
        int code = 0;

        if (c->rec.state == CTR_EXITED)
                return;
        if (!drv || c->pod->ops->ctr_state(drv, c->rec.id, &ds, &code, NULL) < 0)
                ds = DRV_CTR_EXITED, code = 128 + SIGKILL;
        pthread_mutex_lock(&c->lock);
        if (ds == DRV_CTR_EXITED)
                mark_exited_locked(c, code, 0, false);
        else if (ds == DRV_CTR_RUNNING && c->rec.state != CTR_RUNNING)
                (void) set_state_locked(c, CTR_RUNNING, NULL);
        pthread_mutex_unlock(&c->lock);
}

/* Reload the containers of a pod that was just re-registered. */
void sbx_ctr_recover_pod(struct sbx *s, struct sbx_pod *p)
{
        _cleanup_free_ char *dir = NULL;
        struct dirent *e;
        DIR *d;

        if (asprintf(&dir, "%s/containers", p->dir) < 0 || !(d = opendir(dir)))
                return;
        while ((e = readdir(d))) {
                struct sbx_ctr *c;
                size_t len = strlen(e->d_name);

                if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
                        continue;
                c = calloc(1, sizeof(*c));
                if (!c || asprintf(&c->path, "%s/%s", dir, e->d_name) < 0) {
                        free(c);
                        break;
                }
                c->refs = 1;
                pthread_mutex_init(&c->lock, NULL);
                pthread_cond_init(&c->cond, NULL);
                c->pod = p;
                __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
                c->stop_signal = SIGTERM;
                if (load_record(c->path, &c->rec) < 0 || !STR_EQ(c->rec.pod_id, p->rec.id)) {
                        log_warn("%s: damaged container record, ignoring", c->path);
                        ctr_unref(c);
                        continue;
                }
                if (c->rec.log_path && crilog_open(c->rec.log_path, &c->log, NULL) < 0)
                        log_warn("container %s: cannot reopen its log, ignoring", c->rec.id);
                if (s->images && c->rec.image_id) {
                        _cleanup_strv_ char **layers = NULL;
                        _cleanup_free_ char *id = NULL;
                        struct img_config ic = {0};
                        if (img_use(s->images, c->rec.image_id, c->rec.id, &id, &layers, &ic,
                                    NULL) >= 0)
                                img_config_clear(&ic);
                }
                pthread_mutex_lock(&s->lock);
                s->ctrs[s->n_ctrs++] = c;
                pthread_mutex_unlock(&s->lock);
        }
        closedir(d);
}

void sbx_ctr_reconcile_pod(struct sbx *s, struct sbx_pod *p)
{
        struct drv_pod *drv = pod_drv(p);

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

int ctr_record_copy(const struct ctr_record *src, struct ctr_record *ret)
{
        return rec_copy(src, ret);
}

/* Take the pod's op_lock, waiting at most ms: stats must not queue behind a
 * stuck pod for longer than their caller is willing to wait. */
static int op_lock_within(struct sbx_pod *p, int64_t ms)
{
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        return -pthread_mutex_timedlock(&p->op_lock, &until);
}

/* Under op_lock, because pod_free (RemovePodSandbox) runs under it too. */
static int usage_from_driver(struct sbx_ctr *c, int64_t wait_ms, struct drv_ctr_stats *ret,
                             struct uvm_error **err)
{
        struct drv_pod *drv;
        int r;

        if (!c->pod->ops->ctr_stats)
                return uvm_error_set(err, EOPNOTSUPP, "the %s driver has no container stats",
                                     c->pod->ops->name);
        if (op_lock_within(c->pod, wait_ms < 0 ? 0 : wait_ms) < 0)
                return uvm_error_set(err, EAGAIN,
                                     "pod %s is busy: no stats for container %s within %lld ms",
                                     c->rec.pod_id, c->rec.id, (long long) wait_ms);
        drv = pod_drv(c->pod);
        /* No sandbox: the container went with it, and uses nothing. */
        r = drv ? c->pod->ops->ctr_stats(drv, c->rec.id, ret, err) : 0;
        pthread_mutex_unlock(&c->pod->op_lock);
        return r;
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
                st.timestamp_ns = now_ns();
        if (ret_rec) {
                pthread_mutex_lock(&c->lock);
                r = rec_copy(&c->rec, &rec);
                pthread_mutex_unlock(&c->lock);
                if (r < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                *ret_rec = rec;
        }
        *ret = st;
        return 0;
}

int sbx_ctr_update(struct sbx *s, const char *id_prefix, const char *resources_json,
                   struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct drv_pod *drv;
        int r = find_in_state(s, id_prefix, CTR_RUNNING, &c, err);

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
        log_pod(LOG_LEVEL_INFO, c->rec.pod_id, "container %s: resources updated", c->rec.id);
        return 0;
}
