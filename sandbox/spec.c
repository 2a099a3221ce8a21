#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <json-c/json.h>

#include "common/macros.h"
#include "sandbox/apparmor.h"
#include "sandbox/cri_resources.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

#define SPEC_MAX_ARGS 4096
#define SPEC_MAX_ENV 4096

/* containerd's default capability set for unprivileged containers. */
static const char *const default_caps[] = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int copy_strv(char *const *src, size_t n, char **dst, size_t *pos)
{
        for (size_t i = 0; i < n; i++) {
                if (*pos >= SPEC_MAX_ARGS)
                        return -E2BIG;
                dst[(*pos)++] = strdup(src[i]);
                if (!dst[*pos - 1])
                        return -ENOMEM;
        }
        return 0;
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int spec_args(const Runtime__V1__ContainerConfig *c, const struct spec_image *img, char ***ret_argv,
              struct uvm_error **err)
{
        char *const *head = c->n_command ? c->command : img->entrypoint;
        size_t n_head = c->n_command ? c->n_command : strv_len(img->entrypoint);
        /* A command from the request drops the image's cmd, as the kubelet does. */
        char *const *tail = c->n_args ? c->args : (c->n_command ? NULL : img->cmd);
        size_t n_tail = c->n_args ? c->n_args : (c->n_command ? 0 : strv_len(img->cmd));
        _cleanup_strv_ char **v = NULL;
        size_t pos = 0;
        int r;

        if (n_head + n_tail == 0)
                return uvm_error_set(err, EINVAL,
                                     "no command: neither the request nor the image has one");
        if (n_head + n_tail > SPEC_MAX_ARGS)
                return uvm_error_set(err, EINVAL, "more than %d arguments", SPEC_MAX_ARGS);
        v = calloc(n_head + n_tail + 1, sizeof(char *));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = copy_strv(head, n_head, v, &pos);
        if (r == 0)
                r = copy_strv(tail, n_tail, v, &pos);
        if (r < 0)
                return uvm_error_set(err, -r, "copy arguments: %s", strerror(-r));
        *ret_argv = TAKE_PTR(v);
        return 0;
}

static int add_env(json_object *arr, const char *key, size_t klen, const char *kv)
{
        size_t n = json_object_array_length(arr);

        for (size_t i = 0; i < n; i++) {
                const char *e = json_object_get_string(json_object_array_get_idx(arr, i));
                if (strncmp(e, key, klen) == 0 && e[klen] == '=')
                        return json_object_array_put_idx(arr, i, json_object_new_string(kv));
        }
        if (n >= SPEC_MAX_ENV)
                return -E2BIG;
        return json_object_array_add(arr, json_object_new_string(kv));
}

static int build_env(const Runtime__V1__ContainerConfig *c, const struct spec_image *img,
                     json_object *arr, struct uvm_error **err)
{
        _cleanup_free_ char *kv = NULL;

        for (size_t i = 0; img->env && img->env[i]; i++) {
                const char *eq = strchr(img->env[i], '=');
                if (eq && eq != img->env[i])
                        add_env(arr, img->env[i], (size_t) (eq - img->env[i]), img->env[i]);
        }
        for (size_t i = 0; i < c->n_envs; i++) {
                const char *k = c->envs[i]->key;
                if (STR_EMPTY(k) || strchr(k, '='))
                        return uvm_error_set(err, EINVAL, "envs[%zu]: invalid key '%s'", i,
                                             k ? k : "");
                free(kv);
                if (asprintf(&kv, "%s=%s", k, c->envs[i]->value ? c->envs[i]->value : "") < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if (add_env(arr, k, strlen(k), kv) < 0)
                        return uvm_error_set(err, EINVAL, "more than %d environment variables",
                                             SPEC_MAX_ENV);
        }
        return 0;
}

/* Capability names by number (linux/capability.h), as OCI runtimes spell them. */
static const char *const cap_names[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

#define CAP_BIT(n) ((uint64_t) 1 << (n))

uint64_t spec_caps_held(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        unsigned long long v;

        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "CapBnd: %llx", &v) == 1)
                        return (uint64_t) v;
        return 0;
}

/* "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" name one capability: its
 * number, CAPS_ALL for "ALL", -1 when unknown. */
#define CAPS_ALL 64
static int cap_number(const char *s)
{
        const char *n;

        if (STR_EMPTY(s) || strlen(s) > 40)
                return -1;
        n = strncasecmp(s, "CAP_", 4) == 0 ? s + 4 : s;
        if (strcasecmp(n, "ALL") == 0)
                return CAPS_ALL;
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (strcasecmp(n, cap_names[i] + 4) == 0)
                        return (int) i;
        return -1;
}

static int caps_named(char *const *names, size_t n, const char *field, bool *all, uint64_t *bits,
                      struct uvm_error **err)
{
        for (size_t i = 0; i < n; i++) {
                int c = cap_number(names[i]);

                if (c < 0)
                        return uvm_error_set(err, EINVAL,
                                             "capabilities.%s[%zu]: unknown capability '%.40s'",
                                             field, i, names[i] ? names[i] : "");
                if (c == CAPS_ALL)
                        *all = true;
                else
                        *bits |= CAP_BIT(c);
        }
        return 0;
}

/* containerd's defaults, then add ALL, drop ALL, the named adds, the named
 * drops. Nothing uvmd itself lacks can be given: asked for by name, it is an
 * error; by default or ALL, it is left out. */
static int build_caps(const Runtime__V1__Capability *c, uint64_t held, uint64_t *ret,
                      struct uvm_error **err)
{
        uint64_t set = 0, add = 0, drop = 0;
        bool add_all = false, drop_all = false;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
                set |= CAP_BIT(cap_number(default_caps[i]));
        set &= held;
        if (c) {
                r = caps_named(c->add_capabilities, c->n_add_capabilities, "add_capabilities",
                               &add_all, &add, err);
                if (r == 0)
                        r = caps_named(c->drop_capabilities, c->n_drop_capabilities,
                                       "drop_capabilities", &drop_all, &drop, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if ((add & CAP_BIT(i)) && !(held & CAP_BIT(i)))
                        return uvm_error_set(err, EINVAL,
                                             "capabilities.add_capabilities: %s is not in uvmd's "
                                             "capability bounding set on this node",
                                             cap_names[i]);
        if (add_all)
                set = held;
        if (drop_all)
                set = 0;
        *ret = ((set | add) & ~drop) & held;
        return 0;
}

static json_object *caps_json(uint64_t bits)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (bits & CAP_BIT(i))
                        json_object_array_add(a, json_object_new_string(cap_names[i]));
        return a;
}

static json_object *strings(const char *const *v, size_t n)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static bool path_ok(const char *p)
{
        size_t n;

        if (STR_EMPTY(p) || p[0] != '/' || strlen(p) >= 4096)
                return false;
        for (const char *s = p; (s = strstr(s, "..")); s += 2) {
                n = (size_t) (s - p);
                if (p[n - 1] == '/' && (s[2] == '/' || s[2] == '\0'))
                        return false;
        }
        return true;
}

static const Runtime__V1__LinuxContainerSecurityContext *
secctx(const Runtime__V1__ContainerConfig *c)
{
        static const Runtime__V1__LinuxContainerSecurityContext none =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;

        return c->linux && c->linux->security_context ? c->linux->security_context : &none;
}

static json_object *mount_obj(const char *dst, const char *type, const char *src,
                              const char *const *opts, size_t n)
{
        json_object *m = json_object_new_object();

        json_object_object_add(m, "destination", json_object_new_string(dst));
        json_object_object_add(m, "type", json_object_new_string(type));
        json_object_object_add(m, "source", json_object_new_string(src));
        json_object_object_add(m, "options", strings(opts, n));
        return m;
}

static void default_mounts(json_object *arr, bool privileged)
{
        static const char *const proc[] = {"nosuid", "noexec", "nodev"};
        static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
        static const char *const pts[] = {"nosuid",        "noexec",    "newinstance",
                                          "ptmxmode=0666", "mode=0620", "gid=5"};
        static const char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
        static const char *const mq[] = {"nosuid", "noexec", "nodev"};
        /* Privileged containers get /sys and their cgroups writable, as
         * with containerd. */
        const char *const sys[] = {"nosuid", "noexec", "nodev", privileged ? "rw" : "ro"};
        const char *const cg[] = {"nosuid", "noexec", "nodev", "relatime",
                                  privileged ? "rw" : "ro"};

        json_object_array_add(arr, mount_obj("/proc", "proc", "proc", proc, 3));
        json_object_array_add(arr, mount_obj("/dev", "tmpfs", "tmpfs", dev, 4));
        json_object_array_add(arr, mount_obj("/dev/pts", "devpts", "devpts", pts, 6));
        json_object_array_add(arr, mount_obj("/dev/shm", "tmpfs", "shm", shm, 5));
        json_object_array_add(arr, mount_obj("/dev/mqueue", "mqueue", "mqueue", mq, 3));
        json_object_array_add(arr, mount_obj("/sys", "sysfs", "sysfs", sys, 4));
        json_object_array_add(arr, mount_obj("/sys/fs/cgroup", "cgroup", "cgroup", cg, 5));
}

bool spec_mount_is_image(const Runtime__V1__Mount *m)
{
        return m->image && !STR_EMPTY(m->image->image);
}

static int mount_error(size_t i, const char *field, const char *value, const char *why,
                       struct uvm_error **err)
{
        return uvm_error_set(err, EINVAL, "mounts[%zu].%s '%.256s': %s", i, field,
                             value ? value : "", why);
}

/* A relative path inside the image, without "..": "" is the image's root. */
static bool sub_path_ok(const char *p)
{
        _cleanup_free_ char *abs = NULL;

        if (STR_EMPTY(p))
                return true;
        return p[0] != '/' && asprintf(&abs, "/%s", p) >= 0 && path_ok(abs);
}

/* The options of one CRI mount; *rootfs_prop is raised to what its
 * propagation needs ("" < "rslave" < "rshared"). */
static int mount_options(const Runtime__V1__Mount *m, size_t i, const struct spec_pod *pod,
                         const char **opts, const char **rootfs_prop, struct uvm_error **err)
{
        opts[0] = "rbind";
        opts[1] = m->readonly ? "ro" : "rw";
        opts[2] = "rprivate";
        switch (m->propagation) {
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE:
                break;
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
                opts[2] = "rslave";
                if (!**rootfs_prop)
                        *rootfs_prop = "rslave";
                break;
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL:
                opts[2] = "rshared";
                *rootfs_prop = "rshared";
                break;
        default:
                return uvm_error_set(err, EINVAL, "mounts[%zu].propagation %d is unknown", i,
                                     m->propagation);
        }
        if (!m->recursive_read_only)
                return 0;
        if (!m->readonly || m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu].recursive_read_only needs readonly and "
                                     "PROPAGATION_PRIVATE",
                                     i);
        if (!pod->rro_mounts)
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu].recursive_read_only: this runtime handler "
                                     "cannot make recursive read-only mounts here",
                                     i);
        opts[1] = "rro";
        return 0;
}

static int build_mounts(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                        json_object *arr, json_object *linux_o, struct uvm_error **err)
{
        const char *rootfs_prop = "";
        int r;

        default_mounts(arr, secctx(c)->privileged);
        for (size_t i = 0; i < c->n_mounts; i++) {
                const Runtime__V1__Mount *m = c->mounts[i];
                bool image = spec_mount_is_image(m);
                const char *opts[3];
                json_object *mo;

                if (!path_ok(m->container_path))
                        return mount_error(i, "container_path", m->container_path,
                                           "must be an absolute path without '..'", err);
                if (image && !STR_EMPTY(m->host_path))
                        return mount_error(i, "host_path", m->host_path,
                                           "must be empty for an image volume", err);
                if (!image && !path_ok(m->host_path))
                        return mount_error(i, "host_path", m->host_path,
                                           "must be an absolute path without '..'", err);
                if (!image && !STR_EMPTY(m->image_sub_path))
                        return mount_error(i, "image_sub_path", m->image_sub_path,
                                           "is only for image volumes", err);
                if (!sub_path_ok(m->image_sub_path))
                        return mount_error(i, "image_sub_path", m->image_sub_path,
                                           "must be relative, without '..'", err);
                r = mount_options(m, i, pod, opts, &rootfs_prop, err);
                if (r < 0)
                        return r;
                /* An image volume is always read-only; its source is the
                 * driver's mount of the image. */
                if (image && STR_EQ(opts[1], "rw"))
                        opts[1] = "ro";
                mo = mount_obj(m->container_path, "bind", image ? "" : m->host_path, opts, 3);
                json_object_array_add(arr, mo);
                r = spec_userns_mount(m, i, pod, mo, err);
                if (r < 0)
                        return r;
        }
        if (*rootfs_prop)
                json_object_object_add(linux_o, "rootfsPropagation",
                                       json_object_new_string(rootfs_prop));
        return 0;
}

/* The checks and the object UpdateContainerResources uses too
 * (cri_resources.h): a container starts with what an update would set. */
static int build_resources(const Runtime__V1__LinuxContainerResources *r, json_object *res,
                           struct uvm_error **err)
{
        json_object *o;
        int rc;

        if (!r)
                return 0;
        rc = cri_resources_obj(r, &o, err);
        if (rc < 0)
                return uvm_error_wrap(err, "resources");
        json_object_object_foreach (o, k, v)
                json_object_object_add(res, k, json_object_get(v));
        json_object_put(o);
        return 0;
}

static json_object *ns(const char *type)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "type", json_object_new_string(type));
        return o;
}

/* net/ipc/uts (and a shared pid) are the pod's: the driver fills the paths. */
static json_object *build_namespaces(const struct spec_pod *pod)
{
        json_object *a = json_object_new_array();

        json_object_array_add(a, ns("mount"));
        if (userns_map_enabled(pod->userns))
                json_object_array_add(a, ns("user"));
        if (!pod->host_network) {
                json_object_array_add(a, ns("network"));
                json_object_array_add(a, ns("uts"));
        }
        if (!pod->host_ipc)
                json_object_array_add(a, ns("ipc"));
        if (!pod->host_pid)
                json_object_array_add(a, ns("pid"));
        return a;
}

static char *cgroups_path(const struct spec_pod *pod, const char *ctr_id)
{
        char *s = NULL;
        int r;

        /* systemd style is "slice:prefix:name", as runc and crun expect. */
        if (pod->systemd_cgroups)
                r = asprintf(&s, "%s:uvmd:%s", pod->cgroup_parent, ctr_id);
        else
                r = asprintf(&s, "%s/%s", pod->cgroup_parent, ctr_id);
        return r < 0 ? NULL : s;
}

static void build_user(const struct ctr_user *u, json_object *proc)
{
        json_object *o = json_object_new_object(), *groups = json_object_new_array();

        json_object_object_add(proc, "user", o);
        json_object_object_add(o, "uid", json_object_new_int64(u->uid));
        json_object_object_add(o, "gid", json_object_new_int64(u->gid));
        for (size_t i = 0; i < u->n_groups; i++)
                json_object_array_add(groups, json_object_new_int64(u->groups[i]));
        json_object_object_add(o, "additionalGids", groups);
}

static int build_process(const Runtime__V1__ContainerConfig *c, const struct spec_image *img,
                         const struct spec_pod *pod, const struct ctr_user *user, json_object *proc,
                         uint64_t *ret_caps, struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = secctx(c);
        const Runtime__V1__LinuxContainerResources *res = c->linux ? c->linux->resources : NULL;
        json_object *env = json_object_new_array(), *args = json_object_new_array();
        json_object *capo = json_object_new_object();
        uint64_t caps = pod->caps_held;
        _cleanup_strv_ char **argv = NULL;
        const char *cwd = !STR_EMPTY(c->working_dir) ? c->working_dir : img->working_dir;
        int64_t oom = res ? res->oom_score_adj : 0;
        int r;

        json_object_object_add(proc, "args", args);
        json_object_object_add(proc, "env", env);
        json_object_object_add(proc, "capabilities", capo);
        r = spec_args(c, img, &argv, err);
        if (r < 0)
                return r;
        for (size_t i = 0; argv[i]; i++)
                json_object_array_add(args, json_object_new_string(argv[i]));
        r = build_env(c, img, env, err);
        if (r < 0)
                return r;
        if (STR_EMPTY(cwd))
                cwd = "/";
        if (!path_ok(cwd))
                return uvm_error_set(err, EINVAL, "working_dir '%s': must be absolute", cwd);
        json_object_object_add(proc, "cwd", json_object_new_string(cwd));
        build_user(user, proc);
        /* Privileged: every capability uvmd holds, as containerd gives. */
        if (!sc->privileged && (r = build_caps(sc->capabilities, pod->caps_held, &caps, err)) < 0)
                return r;
        *ret_caps = caps;
        json_object_object_add(capo, "bounding", caps_json(caps));
        json_object_object_add(capo, "effective", caps_json(caps));
        json_object_object_add(capo, "permitted", caps_json(caps));
        json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(sc->no_new_privs));
        if (oom < -1000 || oom > 1000)
                return uvm_error_set(err, EINVAL, "resources.oom_score_adj %lld: -1000 to 1000",
                                     (long long) oom);
        /* Without CAP_SYS_RESOURCE we cannot go below our own value. */
        if (oom < pod->oom_score_adj_floor)
                oom = pod->oom_score_adj_floor;
        json_object_object_add(proc, "oomScoreAdj", json_object_new_int64(oom));
        json_object_object_add(proc, "terminal", json_object_new_boolean(c->tty));
        return 0;
}

/* One entry of linux.devices, owned by root as the host's nodes are. */
static void add_device(json_object *devs, const char *path, const char *type, int64_t major_nr,
                       int64_t minor_nr, int64_t mode)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "type", json_object_new_string(type));
        json_object_object_add(o, "major", json_object_new_int64(major_nr));
        json_object_object_add(o, "minor", json_object_new_int64(minor_nr));
        json_object_object_add(o, "fileMode", json_object_new_int64(mode));
        json_object_object_add(o, "uid", json_object_new_int64(0));
        json_object_object_add(o, "gid", json_object_new_int64(0));
        json_object_array_add(devs, o);
}

/* One device node as the OCI spec wants it: type and numbers from the
 * host's node (the one read of the host this builder makes besides seccomp
 * profiles), and the device cgroup rule that lets the container use it. */
static int device_from_host(const Runtime__V1__Device *d, size_t i, json_object *devs,
                            json_object *rules, struct uvm_error **err)
{
        const char *perm = STR_EMPTY(d->permissions) ? "rwm" : d->permissions;
        json_object *rule;
        struct stat st;
        const char *type;

        if (stat(d->host_path, &st) < 0)
                return uvm_error_set(err, EINVAL, "devices[%zu].host_path '%s': %m", i,
                                     d->host_path);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return uvm_error_set(err, EINVAL, "devices[%zu].host_path '%s' is not a device", i,
                                     d->host_path);
        type = S_ISCHR(st.st_mode) ? "c" : "b";
        add_device(devs, d->container_path, type, major(st.st_rdev), minor(st.st_rdev),
                   st.st_mode & 0777);
        rule = json_object_new_object();
        json_object_object_add(rule, "allow", json_object_new_boolean(true));
        json_object_object_add(rule, "type", json_object_new_string(type));
        json_object_object_add(rule, "major", json_object_new_int64(major(st.st_rdev)));
        json_object_object_add(rule, "minor", json_object_new_int64(minor(st.st_rdev)));
        json_object_object_add(rule, "access", json_object_new_string(perm));
        json_object_array_add(rules, rule);
        return 0;
}

static bool requested(const Runtime__V1__ContainerConfig *c, const char *path)
{
        for (size_t i = 0; i < c->n_devices; i++)
                if (c->devices[i]->container_path && STR_EQ(c->devices[i]->container_path, path))
                        return true;
        return false;
}

/* Privileged: the host's devices, and a device cgroup that allows all. */
static void privileged_devices(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                               json_object *devs, json_object *rules)
{
        char type[2] = "";
        json_object *all = json_object_new_object();

        json_object_object_add(all, "allow", json_object_new_boolean(true));
        json_object_object_add(all, "access", json_object_new_string("rwm"));
        json_object_array_add(rules, all);
        for (size_t i = 0; i < pod->n_host_devices; i++) {
                const struct spec_device *h = &pod->host_devices[i];

                if (requested(c, h->path))
                        continue;
                type[0] = h->type;
                add_device(devs, h->path, type, h->major, h->minor, h->mode);
        }
}

static int build_devices(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                         json_object *linux_o, struct uvm_error **err)
{
        json_object *devs = json_object_new_array(), *rules = json_object_new_array();
        int r;

        json_object_object_add(linux_o, "devices", devs);
        json_object_object_add(json_object_object_get(linux_o, "resources"), "devices", rules);
        if (secctx(c)->privileged)
                privileged_devices(c, pod, devs, rules);
        if (c->n_devices > 128)
                return uvm_error_set(err, EINVAL, "more than 128 devices");
        for (size_t i = 0; i < c->n_devices; i++) {
                const Runtime__V1__Device *d = c->devices[i];

                if (!path_ok(d->container_path) || !path_ok(d->host_path) ||
                    strncmp(d->host_path, "/dev/", 5) != 0)
                        return uvm_error_set(err, EINVAL,
                                             "devices[%zu]: paths must be absolute, without "
                                             "'..', the host path under /dev",
                                             i);
                if (!STR_EMPTY(d->permissions) &&
                    (strlen(d->permissions) > 3 ||
                     strspn(d->permissions, "rwm") != strlen(d->permissions)))
                        return uvm_error_set(err, EINVAL,
                                             "devices[%zu].permissions '%.8s': only r, w, m", i,
                                             d->permissions);
                r = device_from_host(d, i, devs, rules, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int build_linux(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                       const char *ctr_id, uint64_t caps, json_object *linux_o,
                       struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = secctx(c);
        json_object *res = json_object_new_object();
        _cleanup_free_ char *cg = cgroups_path(pod, ctr_id);
        int r;

        if (!cg)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_add(linux_o, "resources", res);
        r = build_resources(c->linux ? c->linux->resources : NULL, res, err);
        if (r < 0)
                return r;
        json_object_object_add(linux_o, "cgroupsPath", json_object_new_string(cg));
        json_object_object_add(linux_o, "namespaces", build_namespaces(pod));
        spec_userns_linux(pod, linux_o);
        {
                json_object *sec = NULL;
                r = seccomp_profile(sc, caps, &sec, err);
                if (r < 0)
                        return r;
                if (sec)
                        json_object_object_add(linux_o, "seccomp", sec);
        }
        if (!sc->privileged) {
                json_object_object_add(linux_o, "maskedPaths",
                                       sc->n_masked_paths
                                               ? strings((const char *const *) sc->masked_paths,
                                                         sc->n_masked_paths)
                                               : strings(masked_paths, ARRAY_SIZE(masked_paths)));
                json_object_object_add(
                        linux_o, "readonlyPaths",
                        sc->n_readonly_paths ? strings((const char *const *) sc->readonly_paths,
                                                       sc->n_readonly_paths)
                                             : strings(readonly_paths, ARRAY_SIZE(readonly_paths)));
        }
        return build_devices(c, pod, linux_o, err);
}

static int build_apparmor(const Runtime__V1__LinuxContainerSecurityContext *sc,
                          const struct spec_pod *pod, json_object *proc, struct uvm_error **err)
{
        _cleanup_free_ char *profile = NULL;
        int r = apparmor_profile(sc, pod->apparmor ? pod->apparmor : &apparmor_host, &profile, err);

        if (r >= 0 && profile)
                json_object_object_add(proc, "apparmorProfile", json_object_new_string(profile));
        return r;
}

int spec_build(const Runtime__V1__ContainerConfig *c, const struct spec_image *img,
               const struct spec_pod *pod, const char *ctr_id, const struct ctr_user *user,
               char **ret_json, struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = secctx(c);
        json_object *spec = json_object_new_object(), *proc = json_object_new_object();
        json_object *root = json_object_new_object(), *mounts = json_object_new_array();
        json_object *linux_o = json_object_new_object();
        uint64_t caps = 0;
        char *out;
        int r;

        json_object_object_add(spec, "ociVersion", json_object_new_string("1.0.2"));
        json_object_object_add(spec, "process", proc);
        json_object_object_add(spec, "root", root);
        json_object_object_add(spec, "mounts", mounts);
        json_object_object_add(spec, "linux", linux_o);
        json_object_object_add(root, "path", json_object_new_string("rootfs"));
        json_object_object_add(root, "readonly", json_object_new_boolean(sc->readonly_rootfs));
        if (!pod->host_network && !STR_EMPTY(pod->hostname))
                json_object_object_add(spec, "hostname", json_object_new_string(pod->hostname));
        r = spec_userns_check(c, pod, err);
        if (r == 0)
                r = build_process(c, img, pod, user, proc, &caps, err);
        if (r == 0)
                r = build_apparmor(sc, pod, proc, err);
        if (r == 0)
                r = build_mounts(c, pod, mounts, linux_o, err);
        if (r == 0)
                r = build_linux(c, pod, ctr_id, caps, linux_o, err);
        if (r == 0) {
                out = strdup(json_object_to_json_string_ext(
                        spec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                r = out ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
                if (out)
                        *ret_json = out;
        }
        json_object_put(spec);
        return r;
}
