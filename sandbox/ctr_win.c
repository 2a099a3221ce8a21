/*
 * The Windows side of a container (ctr-plat.h), for hcs pods. A
 * container's image must already be in the node's image store, whose
 * record file (images.json) and config blob are read here, never written;
 * its layers are the store's read-only disks, <images>\disks\<chain id
 * hex>.vhd (image/store_win.h), which the hcs driver attaches to the VM
 * over SCSI; a missing one, or an image not in the store, is refused
 * before anything exists. The OCI spec is a plain
 * one (process, root, hostname, namespaces, the resources checked as
 * UpdateContainerResources checks them): the hardening of spec.c
 * (seccomp, AppArmor, capabilities from the node) is Linux's.
 * CRI mounts are host directories shared over Plan9 (ctr_win_mounts.c).
 * What a container writes, relayed by the agent, goes to its CRI log
 * (log.h, shared with Linux).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include <windows.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "image/image.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "sandbox/ctr-plat.h"
#include "sandbox/ctr_win_mounts.h"
#include "sandbox/drivers/hcs/guest.h"
#include "sandbox/log.h"
#include "sandbox/cri_resources.h"

#define IMAGES_MAX_BYTES (16u << 20)
#define CONFIG_MAX_BYTES (4u << 20)
#define NOT_PORTED "pull it first (PullImage)"

/* --- the image: already in the store --- */

static bool json_strv_has(json_object *o, const char *key, const char *want)
{
        json_object *a;

        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(a); i++)
                if (STR_EQ(json_object_get_string(json_object_array_get_idx(a, i)), want))
                        return true;
        return false;
}

/* Whether ref names rec: its id (with or without "sha256:"), a tag or a
 * digest, as the kubelet's reference normalises. */
static bool image_matches(json_object *rec, const char *ref, const char *canonical)
{
        const char *id = json_object_get_string(json_object_object_get(rec, "id"));

        if (!id || strncmp(id, "sha256:", 7) != 0)
                return false;
        if (STR_EQ(ref, id) || STR_EQ(ref, id + 7))
                return true;
        return canonical &&
               (json_strv_has(rec, "tags", canonical) || json_strv_has(rec, "digests", canonical));
}

static int known_image(const char *root, const char *ref, char **ret_id, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL, *canonical = NULL;
        json_object *top, *arr;
        struct img_ref parsed = {0};
        int r;

        if (!root)
                return uvm_error_set(err, EBUSY, "no image store: %s", NOT_PORTED);
        if (img_ref_parse(ref, &parsed, NULL) >= 0)
                canonical = img_ref_string(&parsed);
        img_ref_clear(&parsed);
        if (asprintf(&path, "%s/images.json", root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMAGES_MAX_BYTES, &text, NULL);
        if (r == -ENOENT)
                return uvm_error_set(err, EBUSY, "image \"%s\" is not on this node (%s)", ref,
                                     NOT_PORTED);
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        top = json_tokener_parse(text);
        r = -ENOENT;
        if (json_object_object_get_ex(top, "images", &arr) &&
            json_object_is_type(arr, json_type_array))
                for (size_t i = 0; r == -ENOENT && i < json_object_array_length(arr); i++) {
                        json_object *rec = json_object_array_get_idx(arr, i);
                        if (image_matches(rec, ref, canonical))
                                r = (*ret_id = strdup(json_object_get_string(
                                             json_object_object_get(rec, "id"))))
                                            ? 0
                                            : -ENOMEM;
                }
        json_object_put(top);
        if (r == -ENOMEM)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return uvm_error_set(err, EBUSY, "image \"%s\" is not on this node (%s)", ref,
                                     NOT_PORTED);
        return 0;
}

/* The image's config blob, parsed (NULL when unreadable). */
static json_object *image_blob(const char *root, const char *id)
{
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (asprintf(&path, "%s/blobs/sha256/%s", root, id + 7) < 0 ||
            plat_read_file(path, CONFIG_MAX_BYTES, &text, NULL) < 0)
                return NULL;
        return json_tokener_parse(text);
}

/* The blob's "config", a new reference. */
static json_object *image_config(json_object *blob)
{
        json_object *cfg = NULL;

        if (json_object_object_get_ex(blob, "config", &cfg) &&
            json_object_is_type(cfg, json_type_object))
                return json_object_get(cfg);
        return NULL;
}

/* rootfs.diff_ids, NULL-terminated; none (an empty list) when the config
 * names no layers. */
static int diff_ids(json_object *blob, char ***ret, struct uvm_error **err)
{
        json_object *rootfs = NULL, *ids = NULL;
        _cleanup_strv_ char **v = NULL;
        size_t n = 0;

        if (json_object_object_get_ex(blob, "rootfs", &rootfs))
                json_object_object_get_ex(rootfs, "diff_ids", &ids);
        if (ids && !json_object_is_type(ids, json_type_array))
                return uvm_error_set(err, EINVAL, "the image's rootfs.diff_ids is not a list");
        n = ids ? json_object_array_length(ids) : 0;
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *d = json_object_get_string(json_object_array_get_idx(ids, i));

                if (!json_object_is_type(json_object_array_get_idx(ids, i), json_type_string) ||
                    !(v[i] = strdup(d)))
                        return uvm_error_set(err, EINVAL, "the image's diff id %zu is not a string",
                                             i);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* <root>\disks\<chain id hex>.vhd for each layer, lowest first, each
 * present: -EBUSY naming the first missing one. Backslashes throughout:
 * HCS gets these paths. */
static int layer_disks(const char *root, json_object *blob, char ***ret, struct uvm_error **err)
{
        _cleanup_strv_ char **diffs = NULL, **chain = NULL, **paths = NULL;
        size_t n = 0;
        int r;

        r = diff_ids(blob, &diffs, err);
        if (r < 0)
                return r;
        r = img_chain_ids(diffs, &chain);
        if (r < 0)
                return uvm_error_set(err, -r, "the image's diff ids: %s",
                                     r == -EINVAL ? "not sha256 digests" : strerror(-r));
        while (chain[n])
                n++;
        paths = calloc(n + 1, sizeof(char *));
        if (!paths)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                FILE *f = NULL;

                if (asprintf(&paths[i], "%s\\disks\\%s.vhd", root, chain[i] + 7) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                for (char *c = paths[i]; *c; c++)
                        if (*c == '/')
                                *c = '\\';
                r = plat_fopen_read(paths[i], &f);
                if (f)
                        fclose(f);
                if (r < 0)
                        return uvm_error_set(err, r == -ENOENT ? EBUSY : -r,
                                             "layer %zu of the image (chain id %s): no disk %s "
                                             "(%s)",
                                             i, chain[i], paths[i], strerror(-r));
        }
        *ret = TAKE_PTR(paths);
        return 0;
}

/* --- the OCI spec --- */

static json_object *strings(char *const *v, size_t n)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < n; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static void append_array(json_object *to, json_object *from)
{
        for (size_t i = 0;
             json_object_is_type(from, json_type_array) && i < json_object_array_length(from); i++)
                json_object_array_add(to, json_object_get(json_object_array_get_idx(from, i)));
}

/* The kubelet's rule: command replaces the entrypoint and drops the
 * image's cmd; args replace the cmd. */
static json_object *process_args(const Runtime__V1__ContainerConfig *cfg, json_object *ic)
{
        json_object *a =
                cfg->n_command ? strings(cfg->command, cfg->n_command) : json_object_new_array();

        if (!cfg->n_command)
                append_array(a, json_object_object_get(ic, "Entrypoint"));
        if (cfg->n_args) {
                json_object *args = strings(cfg->args, cfg->n_args);
                append_array(a, args);
                json_object_put(args);
        } else if (!cfg->n_command)
                append_array(a, json_object_object_get(ic, "Cmd"));
        return a;
}

/* What the agent is sent to resolve, in one allocation (req first, so
 * freeing it frees all): the strings copied, the image's config goes. */
struct agent_user {
        struct user_db_req req;
        unsigned groups[CTR_USER_MAX_GROUPS];
        char strings[];
};

static struct agent_user *agent_user_new(const struct user_db_req *q)
{
        const char *in[3] = {q->image_user ?: "", q->username ?: "", q->image ?: ""};
        const char **out[3];
        size_t len[3], total = 0;
        struct agent_user *a;
        char *p;

        for (size_t i = 0; i < 3; i++)
                total += (len[i] = strlen(in[i])) + 1;
        a = calloc(1, sizeof(*a) + total);
        if (!a)
                return NULL;
        a->req = *q;
        memcpy(a->groups, q->supplemental, q->n_supplemental * sizeof(unsigned));
        a->req.supplemental = a->groups;
        out[0] = &a->req.image_user;
        out[1] = &a->req.username;
        out[2] = &a->req.image;
        p = a->strings;
        for (size_t i = 0; i < 3; i++) {
                memcpy(p, in[i], len[i] + 1);
                *out[i] = p;
                p += len[i] + 1;
        }
        return a;
}

/* The user, by Linux's rules (user.h): resolved here when nothing names a
 * user or uid; else by the agent in the VM, where the image's /etc/passwd
 * and /etc/group are (*ret_req, sent with the create), and until it
 * answers the record says the request's ids or root. */
static int process_user(const Runtime__V1__ContainerConfig *cfg, json_object *ic,
                        struct ctr_user *ret, struct user_db_req **ret_req, struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                cfg->linux ? cfg->linux->security_context : NULL;
        const char *u = json_object_get_string(json_object_object_get(ic, "User"));
        unsigned groups[CTR_USER_MAX_GROUPS];
        struct agent_user *a;
        struct user_db_req q;
        struct user_db_ids ids;
        int r;

        r = ctr_user_request(sc, u, cfg->image->image, groups, &q, err);
        if (r < 0)
                return r;
        if (!user_db_req_needs_files(&q)) {
                r = user_db_resolve(&q, NULL, NULL, &ids, err);
                if (r >= 0)
                        ctr_user_from_ids(ret, &ids);
                return r;
        }
        a = agent_user_new(&q);
        if (!a)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = (struct ctr_user){.uid = q.has_uid ? q.uid : 0, .gid = q.has_gid ? q.gid : 0};
        ret->groups[0] = ret->gid;
        ret->n_groups = 1;
        *ret_req = &a->req;
        return 0;
}

/* The container's cgroup values in the VM: config.linux.resources (the
 * CRI layer maps a Windows node's windows ones to these first,
 * cri_ctr_win.c), checked as UpdateContainerResources checks them
 * (cri_resources.h), into the spec and the record (ContainerStatus). */
static int resources(struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg, json_object *spec,
                     json_object *lin, struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerResources *r = cfg->linux ? cfg->linux->resources : NULL;
        _cleanup_free_ char *json = NULL;
        json_object *o;
        int rc;

        if (!r) {
                json_object_object_add(lin, "resources", json_object_new_object());
                return 0;
        }
        rc = cri_resources_json(r, &json, err);
        if (rc < 0)
                return uvm_error_wrap(err, "linux.resources");
        o = json_tokener_parse(json);
        if (!o)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_add(lin, "resources", o);
        if (r->oom_score_adj)
                json_object_object_add(json_object_object_get(spec, "process"), "oomScoreAdj",
                                       json_object_new_int64(r->oom_score_adj));
        ctr_resources_clear(&c->rec.res);
        c->rec.res = (struct ctr_resources){
                .cpu_period = r->cpu_period,
                .cpu_quota = r->cpu_quota,
                .cpu_shares = r->cpu_shares,
                .memory_limit_in_bytes = r->memory_limit_in_bytes,
                .memory_swap_limit_in_bytes = r->memory_swap_limit_in_bytes,
                .oom_score_adj = r->oom_score_adj,
                .cpuset_cpus = STR_EMPTY(r->cpuset_cpus) ? NULL : strdup(r->cpuset_cpus),
                .cpuset_mems = STR_EMPTY(r->cpuset_mems) ? NULL : strdup(r->cpuset_mems),
        };
        if ((!STR_EMPTY(r->cpuset_cpus) && !c->rec.res.cpuset_cpus) ||
            (!STR_EMPTY(r->cpuset_mems) && !c->rec.res.cpuset_mems))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static json_object *namespaces(void)
{
        static const char *const types[] = {"pid", "ipc", "uts", "mount"};
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                json_object *n = json_object_new_object();
                json_object_object_add(n, "type", json_object_new_string(types[i]));
                json_object_array_add(a, n);
        }
        return a;
}

/* The pod's hosts, resolv.conf and hostname, which the hcs driver gave
 * the agent in the VM (HCS_GUEST_POD_FILES), bound over the image's unless
 * the kubelet mounts its own there. A pod without them in its directory
 * (made by an older uvmd) has none in the VM either. Read-write as on
 * Linux (ctr_linux.c), read-only with a read-only rootfs: shared by the
 * pod's containers, one that may not write must not rewrite them. */
static int pod_files_add(struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                         json_object *spec, struct uvm_error **err)
{
        static const char *const names[] = {"hosts", "resolv.conf", "hostname"};
        bool ro = cfg->linux && cfg->linux->security_context &&
                  cfg->linux->security_context->readonly_rootfs;
        _cleanup_free_ char *probe = NULL;
        json_object *mounts = json_object_object_get(spec, "mounts");
        FILE *f = NULL;

        if (asprintf(&probe, "%s/hostname", c->pod->dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (plat_fopen_read(probe, &f) < 0)
                return 0;
        fclose(f);
        if (!json_object_is_type(mounts, json_type_array))
                return uvm_error_set(err, EINVAL, "internal: spec without mounts");
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                char dst[32], src[64];
                json_object *m, *opts;
                bool own = false;

                snprintf(dst, sizeof(dst), "/etc/%s", names[i]);
                snprintf(src, sizeof(src), "%s/%s", HCS_GUEST_POD_FILES, names[i]);
                for (size_t k = 0; k < cfg->n_mounts; k++)
                        own = own || STR_EQ(cfg->mounts[k]->container_path, dst);
                if (own)
                        continue;
                m = json_object_new_object();
                opts = json_object_new_array();
                if (!m || !opts) {
                        json_object_put(m);
                        json_object_put(opts);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
                json_object_array_add(opts, json_object_new_string("rbind"));
                json_object_array_add(opts, json_object_new_string("rprivate"));
                json_object_array_add(opts, json_object_new_string(ro ? "ro" : "rw"));
                json_object_object_add(m, "destination", json_object_new_string(dst));
                json_object_object_add(m, "type", json_object_new_string("bind"));
                json_object_object_add(m, "source", json_object_new_string(src));
                json_object_object_add(m, "options", opts);
                json_object_array_add(mounts, m);
        }
        return 0;
}

static int build_spec(struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg, json_object *ic,
                      char **ret_json, struct uvm_error **err)
{
        json_object *spec = json_object_new_object(), *proc = json_object_new_object();
        json_object *user = json_object_new_object(), *root = json_object_new_object();
        json_object *env = json_object_new_array(), *lin = json_object_new_object();
        const char *cwd =
                !STR_EMPTY(cfg->working_dir)
                        ? cfg->working_dir
                        : json_object_get_string(json_object_object_get(ic, "WorkingDir"));
        json_object *args = process_args(cfg, ic);
        int r = 0;

        if (json_object_array_length(args) == 0)
                r = uvm_error_set(err, EINVAL,
                                  "no command: neither the config nor the image "
                                  "gives one");
        append_array(env, json_object_object_get(ic, "Env"));
        for (size_t i = 0; r >= 0 && i < cfg->n_envs; i++) {
                char *kv = NULL;
                if (asprintf(&kv, "%s=%s", cfg->envs[i]->key, cfg->envs[i]->value) < 0) {
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                json_object_array_add(env, json_object_new_string(kv));
                free(kv);
        }
        json_object_object_add(user, "uid", json_object_new_int64(c->rec.user.uid));
        json_object_object_add(user, "gid", json_object_new_int64(c->rec.user.gid));
        json_object_object_add(proc, "terminal", json_object_new_boolean(cfg->tty));
        json_object_object_add(proc, "user", user);
        json_object_object_add(proc, "args", args);
        json_object_object_add(proc, "env", env);
        json_object_object_add(proc, "cwd", json_object_new_string(STR_EMPTY(cwd) ? "/" : cwd));
        json_object_object_add(root, "path", json_object_new_string("rootfs"));
        json_object_object_add(
                root, "readonly",
                json_object_new_boolean(cfg->linux && cfg->linux->security_context &&
                                        cfg->linux->security_context->readonly_rootfs));
        json_object_object_add(lin, "namespaces", namespaces());
        json_object_object_add(spec, "ociVersion", json_object_new_string("1.0.2"));
        json_object_object_add(spec, "process", proc);
        if (r >= 0)
                r = resources(c, cfg, spec, lin, err);
        json_object_object_add(spec, "root", root);
        if (!STR_EMPTY(c->pod->rec.hostname))
                json_object_object_add(spec, "hostname",
                                       json_object_new_string(c->pod->rec.hostname));
        if (r >= 0)
                r = ctr_win_mounts_add(c, cfg, spec, err);
        if (r >= 0)
                r = pod_files_add(c, cfg, spec, err);
        json_object_object_add(spec, "linux", lin);
        if (r >= 0) {
                *ret_json = strdup(json_object_to_json_string_ext(
                        spec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                if (!*ret_json)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        json_object_put(spec);
        return r;
}

/* The image's STOPSIGNAL as the agent's (Linux) number. */
static int stop_signal_of(const char *name)
{
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {{"SIGTERM", 15}, {"SIGINT", 2},   {"SIGQUIT", 3},  {"SIGKILL", 9},
                    {"SIGHUP", 1},   {"SIGUSR1", 10}, {"SIGUSR2", 12}, {"SIGWINCH", 28}};

        for (size_t i = 0; name && i < ARRAY_SIZE(sigs); i++)
                if (strcasecmp(name, sigs[i].name) == 0 || strcasecmp(name, sigs[i].name + 3) == 0)
                        return sigs[i].sig;
        if (name && atoi(name) > 0 && atoi(name) < 65)
                return atoi(name);
        return CTR_SIGTERM;
}

/* --- the CRI log --- */

/* A drive ("C:\\") or UNC ("\\\\server") path. */
static bool win_absolute(const char *p)
{
        bool sep0 = p[0] == '\\' || p[0] == '/';

        if (sep0)
                return p[1] == '\\' || p[1] == '/';
        return ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
               (p[2] == '\\' || p[2] == '/');
}

/* The CRI log path: <pod log dir>\<log_path>, staying inside the
 * directory: no "..", no root, no drive and no ':' (a named stream). */
static int log_file(const struct pod_record *pod, const char *rel, char **ret,
                    struct uvm_error **err)
{
        _cleanup_free_ char *p = NULL;
        char *sep, *slash, was;
        int r;

        *ret = NULL;
        if (STR_EMPTY(pod->log_directory) || STR_EMPTY(rel))
                return 0;
        if (!win_absolute(pod->log_directory))
                return uvm_error_set(err, EINVAL,
                                     "the pod's log_directory \"%s\" is not an absolute path",
                                     pod->log_directory);
        if (rel[0] == '/' || rel[0] == '\\' || strchr(rel, ':') || strstr(rel, "..") ||
            strlen(rel) > 1024)
                return uvm_error_set(err, EINVAL,
                                     "log_path \"%s\": must be relative to the pod's log "
                                     "directory, without \"..\" or ':'",
                                     rel);
        if (asprintf(&p, "%s\\%s", pod->log_directory, rel) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        sep = strrchr(p, '\\'); /* there is one: it was just put there */
        slash = strrchr(p, '/');
        if (slash && slash > sep)
                sep = slash;
        was = *sep;
        *sep = '\0';
        r = plat_mkdir_p(p, 0755);
        *sep = was;
        if (r < 0)
                return uvm_error_set(err, -r, "create the log directory: %s", strerror(-r));
        *ret = TAKE_PTR(p);
        return 0;
}

int ctr_plat_prepare(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                     struct phase_clock *pc, struct ctr_plat_made *ret, struct uvm_error **err)
{
        _cleanup_free_ char *image_id = NULL;
        json_object *ic, *blob;
        int r;

        r = ctr_win_mounts_check(cfg, err);
        if (r < 0)
                return r;
        r = known_image(s->images_root, cfg->image->image, &image_id, err);
        phase_mark(pc, "image");
        if (r < 0)
                return r;
        blob = image_blob(s->images_root, image_id);
        r = layer_disks(s->images_root, blob, &ret->layers, err);
        /* Held in the store until the container goes: RemoveImage refuses it. */
        if (r >= 0 && s->images)
                r = img_hold(s->images, image_id, c->rec.id, NULL, err);
        phase_mark(pc, "layers");
        ic = image_config(blob);
        json_object_put(blob);
        if (r < 0) {
                json_object_put(ic);
                return r;
        }
        pthread_mutex_lock(&c->lock);
        c->rec.image_id = TAKE_PTR(image_id);
        pthread_mutex_unlock(&c->lock);
        sbx_list_changed(s);
        c->stop_signal =
                stop_signal_of(json_object_get_string(json_object_object_get(ic, "StopSignal")));
        r = process_user(cfg, ic, &c->rec.user, &ret->user, err);
        if (r >= 0)
                r = build_spec(c, cfg, ic, &ret->oci_spec_json, err);
        json_object_put(ic);
        phase_mark(pc, "spec");
        if (r >= 0)
                r = log_file(&c->pod->rec, cfg->log_path, &c->rec.log_path, err);
        if (r >= 0 && c->rec.log_path)
                r = crilog_open(c->rec.log_path, &c->log, err);
        phase_mark(pc, "log");
        return r;
}

void ctr_plat_made_clear(struct ctr_plat_made *m)
{
        free(m->user); /* an agent_user */
        strv_free(m->layers);
        free(m->oci_spec_json);
        *m = (struct ctr_plat_made){0};
}

void ctr_plat_release(struct sbx *s, struct sbx_ctr *c)
{
        if (s->images && c->rec.image_id)
                img_release(s->images, c->rec.image_id, c->rec.id);
}

void ctr_plat_recovered(struct sbx *s, struct sbx_ctr *c)
{
        if (s->images && c->rec.image_id &&
            img_hold(s->images, c->rec.image_id, c->rec.id, NULL, NULL) < 0)
                log_warn("container %s: its image %s is gone, ignoring", c->rec.id,
                         c->rec.image_id);
        if (c->rec.log_path && crilog_open(c->rec.log_path, &c->log, NULL) < 0)
                log_warn("container %s: cannot reopen its log, ignoring", c->rec.id);
}

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
        _cleanup_free_ wchar_t *w = NULL;
        DWORD e;

        if (utf8_to_wide(path, UTF16_PATH_MAX, &w) < 0) {
                log_warn("remove %s: not a usable path, ignoring", path);
                return;
        }
        if (DeleteFileW(w))
                return;
        e = GetLastError();
        if (e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND)
                log_warn("remove %s: Windows error %lu, ignoring", path, (unsigned long) e);
}
