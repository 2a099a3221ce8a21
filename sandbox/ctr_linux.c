/* The Linux side of a container (ctr-plat.h): the image held in the store
 * and its user, the hardened OCI spec, CRI mounts and image volumes, the
 * pod's files, the CRI log; the records' directory. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "sandbox/cgroup.h"
#include "sandbox/container-internal.h"
#include "sandbox/ctr-plat.h"
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

int ctr_plat_prepare(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                     struct phase_clock *pc, struct ctr_plat_made *ret, struct uvm_error **err)
{
        _cleanup_free_ char *image_id = NULL;
        struct img_config ic = {0};
        int r;

        if (!s->images)
                return uvm_error_set(err, ENOTSUP, "no image store");
        r = img_use(s->images, cfg->image->image, c->rec.id, &image_id, &ret->layers, &ic, err);
        phase_mark(pc, "image");
        if (r < 0)
                return r;
        /* Registered already: List and ContainerStatus read it under the
         * lock, and List answers show it. */
        pthread_mutex_lock(&c->lock);
        c->rec.image_id = TAKE_PTR(image_id);
        pthread_mutex_unlock(&c->lock);
        sbx_list_changed(s);
        r = build_spec(s, c, cfg, ret->layers, &ic, &ret->oci_spec_json, err);
        c->stop_signal = stop_signal_of(ic.stop_signal);
        img_config_clear(&ic);
        phase_mark(pc, "spec");
        if (r >= 0)
                r = ctr_image_volumes_take(s->images, c->rec.id, c->rec.mounts, c->rec.n_mounts,
                                           &ret->vols, &ret->n_vols, err);
        if (r >= 0)
                r = log_file(&c->pod->rec, cfg->log_path, &c->rec.log_path, err);
        if (r >= 0 && c->rec.log_path)
                r = crilog_open(c->rec.log_path, &c->log, err);
        phase_mark(pc, "volumes_log");
        return r;
}

void ctr_plat_made_clear(struct ctr_plat_made *m)
{
        strv_free(m->layers);
        free(m->oci_spec_json);
        ctr_image_volumes_free(m->vols, m->n_vols);
        *m = (struct ctr_plat_made){0};
}

void ctr_plat_release(struct sbx *s, struct sbx_ctr *c)
{
        if (!s->images)
                return;
        ctr_image_volumes_release(s->images, c->rec.id, c->rec.mounts, c->rec.n_mounts);
        img_release(s->images, c->rec.image_id ? c->rec.image_id : "", c->rec.id);
}

void ctr_plat_recovered(struct sbx *s, struct sbx_ctr *c)
{
        if (c->rec.log_path && crilog_open(c->rec.log_path, &c->log, NULL) < 0)
                log_warn("container %s: cannot reopen its log, ignoring", c->rec.id);
        /* The images it holds stay held across the restart. */
        ctr_image_hold(s->images, c->rec.image_id, c->rec.id);
        ctr_image_volumes_hold(s->images, c->rec.id, c->rec.mounts, c->rec.n_mounts);
}

/* --- the CRI log --- */

void ctr_plat_log_write(struct sbx_ctr *c, enum drv_stream stream, const char *buf, size_t len)
{
        if (c->log && crilog_write(c->log, stream, buf, len) < 0)
                log_pod(LOG_LEVEL_WARN, c->rec.pod_id, "container %s: log write failed, ignoring",
                        c->rec.id);
}

void ctr_plat_log_flush(struct sbx_ctr *c)
{
        if (c->log)
                crilog_flush(c->log);
}

int ctr_plat_log_reopen(struct sbx_ctr *c, struct uvm_error **err)
{
        return c->log ? crilog_reopen(c->log, err) : 0;
}

void ctr_plat_log_close(struct sbx_ctr *c)
{
        c->log = crilog_free(c->log);
}

/* --- records --- */

void ctr_plat_unlink(const char *path)
{
        if (unlink(path) < 0 && errno != ENOENT)
                log_warn("remove %s: %m, ignoring", path);
}
