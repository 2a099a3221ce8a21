/* CreateContainer: the record, the image and its user, the OCI spec, the
 * pod's files and log, then the driver; a failure at any step leaves
 * nothing. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fault.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "sandbox/cgroup.h"
#include "sandbox/container-internal.h"
#include "sandbox/ids.h"
#include "sandbox/log.h"
#include "sandbox/phase.h"
#include "sandbox/spec.h"
#include "sandbox/user.h"

/* Bind the pod's hosts, resolv.conf and hostname into the container unless
 * the kubelet mounts its own. */
static int add_pod_files(const char *files_dir, const Runtime__V1__ContainerConfig *cfg,
                         char **json, struct uvm_error **err)
{
        bool readonly = cfg->linux && cfg->linux->security_context &&
                        cfg->linux->security_context->readonly_rootfs;
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
                /* Shared by the pod's containers: a read-only one must not
                 * rewrite them for the others (containerd's rule too). */
                json_object_array_add(opts, json_object_new_string(readonly ? "ro" : "rw"));
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
        c->rec.created_ns = ctr_now_ns();
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
        /* What a restart could not read back is refused now. */
        if ((r = record_kv_check("labels", c->rec.labels, c->rec.n_labels, err)) < 0 ||
            (r = record_kv_check("annotations", c->rec.annotations, c->rec.n_annotations, err)) <
                    0) {
                ctr_unref(c);
                return r;
        }
        *ret = c;
        return 0;
oom:
        if (c && c->pod)
                ctr_unref(c);
        else
                free(c);
        return uvm_error_set(err, ENOMEM, "out of memory");
}

/* The resources the container starts with, as ContainerStatus reports
 * them (oom_score_adj as it is actually set). */
static int resources_from(const Runtime__V1__ContainerConfig *cfg, int oom_floor,
                          struct ctr_resources *ret)
{
        const Runtime__V1__LinuxContainerResources *r = cfg->linux ? cfg->linux->resources : NULL;

        *ret = (struct ctr_resources){0};
        if (!r)
                return 0;
        *ret = (struct ctr_resources){
                .cpu_period = r->cpu_period,
                .cpu_quota = r->cpu_quota,
                .cpu_shares = r->cpu_shares,
                .memory_limit_in_bytes = r->memory_limit_in_bytes,
                .memory_swap_limit_in_bytes = r->memory_swap_limit_in_bytes,
                .oom_score_adj = r->oom_score_adj < oom_floor ? oom_floor : r->oom_score_adj,
                .cpuset_cpus = STR_EMPTY(r->cpuset_cpus) ? NULL : strdup(r->cpuset_cpus),
                .cpuset_mems = STR_EMPTY(r->cpuset_mems) ? NULL : strdup(r->cpuset_mems),
        };
        if ((!STR_EMPTY(r->cpuset_cpus) && !ret->cpuset_cpus) ||
            (!STR_EMPTY(r->cpuset_mems) && !ret->cpuset_mems))
                return -ENOMEM;
        return 0;
}

/* The OCI spec; the user, mounts and resources go into the record. layers
 * and config are the image's. */
static int build_spec(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                      char *const *layers, const struct img_config *ic, char **ret_json,
                      struct uvm_error **err)
{
        struct pod_record *pr = &c->pod->rec;
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                cfg->linux ? cfg->linux->security_context : NULL;
        _cleanup_free_ char *cg = NULL, *files = sbx_pod_files_dir(s, pr->id);
        _cleanup_free_ struct spec_device *host_devs = NULL;
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
                .caps_held = spec_caps_held(),
                .rro_mounts = sbx_features_of(s, pr->driver).rro_mounts,
                .userns = &pr->userns,
        };
        int r;

        if (sc && sc->privileged && spec_host_devices(&host_devs, &sp.n_host_devices) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        sp.host_devices = host_devs;
        cg = sbx_cgroup_parent(pr->cgroup_parent, pr->id, s->systemd_cgroups);
        if (!files || !cg)
                return uvm_error_set(err, ENOMEM, "out of memory");
        sp.cgroup_parent = cg;
        r = ctr_image_check_user_files(layers, err);
        if (r >= 0)
                r = ctr_user_resolve(sc, ic->user, layers, &c->rec.user, err);
        if (r >= 0)
                r = spec_build(cfg, &si, &sp, c->rec.id, &c->rec.user, ret_json, err);
        if (r >= 0)
                r = ctr_mounts_from(cfg, &c->rec.mounts, &c->rec.n_mounts, err);
        if (r >= 0)
                r = ctr_mounts_check_propagation(c->rec.mounts, c->rec.n_mounts, err);
        if (r >= 0 && resources_from(cfg, sp.oom_score_adj_floor, &c->rec.res) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = add_pod_files(files, cfg, ret_json, err);
        return r;
}

/* Hand the container to the pod's driver, under the pod's op_lock. */
static int driver_create(struct sbx_ctr *c, const struct drv_ctr_spec *ds, struct uvm_error **err)
{
        struct drv_pod *drv;
        int r;

        pthread_mutex_lock(&c->pod->op_lock);
        pthread_mutex_lock(&c->pod->lock);
        drv = c->pod->drv;
        pthread_mutex_unlock(&c->pod->lock);
        r = drv ? c->pod->ops->ctr_create(drv, ds, err)
                : uvm_error_set(err, EBUSY, "pod %s has no sandbox", c->pod->rec.id);
        pthread_mutex_unlock(&c->pod->op_lock);
        return r;
}

static int create_steps(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                        struct phase_clock *pc, struct uvm_error **err)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *json = NULL, *dir = NULL, *image_id = NULL;
        struct drv_image_volume *vols = NULL;
        struct img_config ic = {0};
        struct drv_ctr_spec ds;
        size_t n_vols = 0;
        int r;

        if (!s->images)
                return uvm_error_set(err, ENOTSUP, "no image store");
        r = img_use(s->images, cfg->image->image, c->rec.id, &image_id, &layers, &ic, err);
        phase_mark(pc, "image");
        if (r < 0)
                return r;
        /* Registered already: List and ContainerStatus read it under the
         * lock, and List answers show it. */
        pthread_mutex_lock(&c->lock);
        c->rec.image_id = TAKE_PTR(image_id);
        pthread_mutex_unlock(&c->lock);
        sbx_list_changed(s);
        r = build_spec(s, c, cfg, layers, &ic, &json, err);
        c->stop_signal = stop_signal_of(ic.stop_signal);
        img_config_clear(&ic);
        phase_mark(pc, "spec");
        if (r >= 0)
                r = ctr_image_volumes_take(s->images, c->rec.id, c->rec.mounts, c->rec.n_mounts,
                                           &vols, &n_vols, err);
        if (r >= 0)
                r = log_file(&c->pod->rec, cfg->log_path, &c->rec.log_path, err);
        if (r >= 0 && c->rec.log_path)
                r = crilog_open(c->rec.log_path, &c->log, err);
        phase_mark(pc, "volumes_log");
        if (r >= 0 &&
            (asprintf(&dir, "%s/containers", c->pod->dir) < 0 || fs_mkdir_p(dir, 0700) < 0))
                r = uvm_error_set(err, EIO, "create %s/containers", c->pod->dir);
        if (r >= 0)
                r = ctr_save_locked(c, err); /* not shared yet: no lock needed */
        if (r >= 0)
                fault_point("create_ctr.record_written"); /* the agent has not seen it */
        phase_mark(pc, "record");
        if (r >= 0) {
                ds = (struct drv_ctr_spec){
                        .id = c->rec.id,
                        .layers = layers,
                        .readonly_rootfs = cfg->linux && cfg->linux->security_context &&
                                           cfg->linux->security_context->readonly_rootfs,
                        .image_volumes = vols,
                        .n_image_volumes = n_vols,
                        .oci_spec_json = json,
                        /* Kept by the agent for attaches (CRI Attach). */
                        .stdin_open = cfg->stdin,
                        .stdin_once = cfg->stdin_once,
                };
                r = driver_create(c, &ds, err);
                if (r >= 0)
                        fault_point("create_ctr.runc_created");
                phase_mark(pc, "driver");
                if (r < 0)
                        unlink(c->path);
        }
        ctr_image_volumes_free(vols, n_vols);
        if (r >= 0)
                return 0;
        ctr_image_volumes_release(s->images, c->rec.id, c->rec.mounts, c->rec.n_mounts);
        img_release(s->images, c->rec.image_id ? c->rec.image_id : "", c->rec.id);
        return r;
}

int sbx_ctr_create(struct sbx *s, const char *pod_id, const Runtime__V1__ContainerConfig *cfg,
                   char **ret_id, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct phase_clock pc;
        enum pod_state st;
        char *id;
        int r;

        phase_start(&pc, "create_container");
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
        sbx_list_changed(s);
        phase_mark(&pc, "lookup");
        r = create_steps(s, c, cfg, &pc, err);
        phase_done(&pc, p->rec.id, c->rec.id, r >= 0);
        if (r < 0) {
                ctr_registry_drop(s, c);
                return uvm_error_wrap(err, "create container %s", c->rec.name);
        }
        id = strdup(c->rec.id);
        if (!id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        log_pod(LOG_LEVEL_INFO, p->rec.id, "container %s (%s) created", c->rec.name, id);
        pthread_mutex_lock(&c->lock);
        ctr_emit_locked(c, CTR_EVENT_CREATED);
        pthread_mutex_unlock(&c->lock);
        *ret_id = id;
        return 0;
}
