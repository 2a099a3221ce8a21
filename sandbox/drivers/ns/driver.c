/*
 * The "ns" driver: a pod is one uvmd-agent process started in the pod's
 * network namespace (and new IPC/UTS namespaces), supervised as an agent pod
 * (sandbox/drivers/agent_pod.h). Containers are created by the agent with
 * the OCI runtime and join the agent's namespaces through /proc/<agent>/ns/
 * paths in their spec.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "agent/frame.h"
#include "common/fault.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/run.h"
#include "sandbox/drivers/agent_pod.h"
#include "sandbox/drivers/ns.h"
#include "sandbox/drivers/ns/leftovers.h"
#include "sandbox/idmap.h"

#define READY_TIMEOUT_MS 10000  /* agent.pid must appear within this */
#define CONNECT_TIMEOUT_MS 5000 /* the socket listens once agent.pid exists */
#define EXIT_WAIT_MS 5000       /* after ShutdownForced, before SIGKILL */
#define POLL_MS 20

extern char **environ;

struct drv_pod {
        struct agent_pod ap;                /* first: the agent_pod_* entries use it */
        char *netns_path, *userns_path;     /* immutable */
        char *pid_path;                     /* immutable: the agent's ready signal */
        bool host_ipc, host_pid, share_pid; /* immutable */
        /* immutable: the agent's holder process (agent_pidns.c), or 0: PID 1
         * of a shared PID namespace and, in a user namespace, the owner of the
         * pod's IPC and UTS namespaces */
        pid_t pidns_pid;
        char *runtime; /* immutable: removes what a dead agent left */
        /* immutable: the sandbox's events, and ours in front of them (the
         * agent's death is reported once its containers are gone) */
        const struct drv_events *up;
        struct drv_events events;
};

/* uvmd's directory, resolved once at the probe: a package upgrade (or a
 * rebuild) that replaces the running binary leaves /proc/self/exe naming a
 * deleted file, while the directory and the new agent in it are still
 * there. */
static pthread_once_t self_dir_once = PTHREAD_ONCE_INIT;
static char *self_dir;

static void self_dir_resolve(void)
{
        char *exe = realpath("/proc/self/exe", NULL), *slash = exe ? strrchr(exe, '/') : NULL;

        if (!slash) {
                free(exe);
                return;
        }
        *slash = '\0';
        self_dir = exe;
}

/* Which binary: $UVMD_AGENT, else next to uvmd, else Bazel's output layout. */
static int agent_binary(char **ret, struct uvm_error **err)
{
        const char *env = getenv("UVMD_AGENT");
        _cleanup_free_ char *a = NULL, *b = NULL;
        const char *exe;

        if (!STR_EMPTY(env)) {
                *ret = realpath(env, NULL);
                if (!*ret || access(*ret, X_OK) < 0) {
                        free(*ret);
                        return uvm_error_set(err, ENOENT, "agent binary '%s' ($UVMD_AGENT): %m",
                                             env);
                }
                return 0;
        }
        pthread_once(&self_dir_once, self_dir_resolve);
        exe = self_dir;
        if (!exe)
                return uvm_error_set(err, ENOENT, "resolve /proc/self/exe: it names no file");
        if (asprintf(&a, "%s/uvmd-agent", exe) < 0 ||
            asprintf(&b, "%s/../agent/uvmd-agent", exe) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (char *c = a; c; c = c == a ? b : NULL)
                if (access(c, X_OK) == 0) {
                        *ret = realpath(c, NULL);
                        if (*ret)
                                return 0;
                }
        return uvm_error_set(err, ENOENT,
                             "no uvmd-agent binary: tried '%s' and '%s' (set $UVMD_AGENT)", a, b);
}

/* The agent's command line for spec. */
#define AGENT_MAX_ARGS (24 + 2 * DRV_MAX_SYSCTLS)

static int agent_argv(const struct drv_pod_spec *spec, const struct drv_pod *p, char *bin,
                      char *argv[AGENT_MAX_ARGS])
{
        int n = 0;

        argv[n++] = bin;
        argv[n++] = "--socket";
        argv[n++] = p->ap.sock_path;
        argv[n++] = "--state-dir";
        argv[n++] = (char *) spec->state_dir;
        argv[n++] = "--runtime";
        argv[n++] = (char *) (spec->oci_runtime ? spec->oci_runtime : "runc");
        if (spec->userns_path) {
                argv[n++] = "--userns";
                argv[n++] = (char *) spec->userns_path;
        }
        if (spec->netns_path) {
                argv[n++] = "--netns";
                argv[n++] = (char *) spec->netns_path;
                /* UTS follows the network: hostNetwork pods keep the host's name. */
                argv[n++] = "--new-uts";
                if (!STR_EMPTY(spec->hostname)) {
                        argv[n++] = "--hostname";
                        argv[n++] = (char *) spec->hostname;
                }
        }
        if (!spec->host_ipc)
                argv[n++] = "--new-ipc";
        if (spec->share_pid && !spec->host_pid)
                argv[n++] = "--pid-ns";
        for (size_t i = 0; spec->sysctls && spec->sysctls[i] && i < DRV_MAX_SYSCTLS; i++) {
                argv[n++] = "--sysctl";
                argv[n++] = spec->sysctls[i];
        }
        argv[n] = NULL;
        return n;
}

static int agent_spawn(struct drv_pod *p, const struct drv_pod_spec *spec, struct uvm_error **err)
{
        _cleanup_free_ char *bin = NULL;
        char *argv[AGENT_MAX_ARGS];
        int r;

        r = agent_binary(&bin, err);
        if (r < 0)
                return r;
        agent_argv(spec, p, bin, argv);
        return agent_pod_spawn(&p->ap, argv, NULL, 0, err);
}

static bool has_holder(const struct drv_pod *p)
{
        return (p->share_pid && !p->host_pid) || p->userns_path;
}

/* The agent's holder process (see pidns_pid), from pidns.pid. */
static int read_pidns(struct drv_pod *p, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        pid_t pid = 0;
        int r;

        if (!has_holder(p))
                return 0;
        if (asprintf(&path, "%s/pidns.pid", p->ap.state_dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_pod_read_pid_file(path, &pid, err);
        if (r <= 0)
                return r < 0 ? r : uvm_error_set(err, EPROTO, "%s is missing", path);
        p->pidns_pid = pid;
        return 0;
}

/* An inotify watch for files renamed or written into dir, or -1 (the
 * caller then polls). */
static int watch_dir(const char *dir)
{
        int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

        if (fd >= 0 && inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
                close(fd);
                fd = -1;
        }
        return fd;
}

/* Wait until the agent wrote agent.pid (its socket listens then). Woken by
 * the file's rename into place or the agent's exit, not by a polling
 * period: the agent is up in a few ms. */
static int agent_wait_ready(struct drv_pod *p, struct uvm_error **err)
{
        int64_t end = agent_pod_now_ms() + READY_TIMEOUT_MS, left;
        _cleanup_close_ int ino = watch_dir(p->ap.state_dir);
        char buf[4096];
        pid_t pid;
        int r;

        for (;;) {
                struct pollfd pfd[2] = {{p->ap.pidfd, POLLIN, 0}, {ino, POLLIN, 0}};

                if (agent_pod_exited(&p->ap))
                        return agent_pod_died_error(&p->ap, err);
                r = agent_pod_read_pid_file(p->pid_path, &pid, err);
                if (r < 0)
                        return r;
                if (r > 0 && pid != p->ap.pid)
                        return uvm_error_set(err, EPROTO, "%s names pid %d, the agent is %d",
                                             p->pid_path, pid, p->ap.pid);
                if (r > 0)
                        return read_pidns(p, err);
                left = end - agent_pod_now_ms();
                if (left <= 0)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "agent did not become ready in %d ms (no %s)",
                                             READY_TIMEOUT_MS, p->pid_path);
                if (ino < 0 && left > POLL_MS)
                        left = POLL_MS;
                if (poll(pfd, ino >= 0 ? 2 : 1, (int) left) < 0 && errno != EINTR)
                        return uvm_error_set(err, errno, "wait for the agent: %m");
                while (ino >= 0 && read(ino, buf, sizeof(buf)) > 0)
                        ;
        }
}

/* Pods. */

static struct drv_pod *pod_free_(struct drv_pod *p)
{
        if (!p)
                return NULL;
        agent_pod_destroy(&p->ap);
        free(p->netns_path);
        free(p->userns_path);
        free(p->pid_path);
        free(p->runtime);
        free(p);
        return NULL;
}

static void fwd_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        struct drv_pod *p = data;

        if (p->up->ctr_exited)
                p->up->ctr_exited(p->up->data, ctr_id, code, ns, oom);
}

static void fwd_output(void *data, const char *ctr_id, enum drv_stream s, const char *buf,
                       size_t len)
{
        struct drv_pod *p = data;

        if (p->up->ctr_output)
                p->up->ctr_output(p->up->data, ctr_id, s, buf, len);
}

/* The agent died: its containers outlive it unless we remove them. */
static void fwd_died(void *data, const char *reason)
{
        struct drv_pod *p = data;

        ns_leftovers_remove(p->ap.id, p->ap.state_dir, p->runtime);
        if (p->up->pod_died)
                p->up->pod_died(p->up->data, reason);
}

static void pod_freep(struct drv_pod **p)
{
        pod_free_(*p);
}

static int pod_alloc(const struct drv_pod_spec *spec, struct drv_pod **ret, struct uvm_error **err)
{
        struct drv_pod *p;
        int r;

        if (!spec->id || !spec->state_dir)
                return uvm_error_set(err, EINVAL, "ns pod: id and state dir are required");
        p = calloc(1, sizeof(*p));
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_pod_init(&p->ap, "ns", spec, "agent.sock", "agent.log", err);
        if (spec->events) {
                p->up = spec->events;
                p->events = (struct drv_events){p, fwd_exited, fwd_output, fwd_died};
                p->ap.events = &p->events;
        }
        p->runtime = strdup(spec->oci_runtime ? spec->oci_runtime : "runc");
        p->host_ipc = spec->host_ipc;
        p->host_pid = spec->host_pid;
        p->share_pid = spec->share_pid;
        p->netns_path = spec->netns_path ? strdup(spec->netns_path) : NULL;
        p->userns_path = spec->userns_path ? strdup(spec->userns_path) : NULL;
        if (r >= 0 &&
            ((spec->netns_path && !p->netns_path) || (spec->userns_path && !p->userns_path) ||
             !p->runtime || asprintf(&p->pid_path, "%s/agent.pid", spec->state_dir) < 0)) {
                p->pid_path = NULL;
                r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                pod_free_(p);
                return r;
        }
        *ret = p;
        return 0;
}

static int ns_pod_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                         struct uvm_error **err)
{
        _cleanup_(pod_freep) struct drv_pod *p = NULL;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r < 0)
                return r;
        /* Leftovers of an earlier attempt would make us wait for the wrong agent. */
        (void) unlink(p->pid_path);
        (void) unlink(p->ap.sock_path);
        r = agent_spawn(p, spec, err);
        if (r < 0)
                return r;
        fault_point("run_pod.agent_spawned");
        r = agent_wait_ready(p, err);
        if (r >= 0)
                r = agent_pod_connect(&p->ap, CONNECT_TIMEOUT_MS, err);
        if (r < 0) {
                agent_pod_kill(&p->ap);
                (void) unlink(p->pid_path);
                (void) unlink(p->ap.sock_path);
                return uvm_error_wrap(err, "start the agent of pod %s", spec->id);
        }
        agent_pod_go_live(&p->ap);
        *ret = TAKE_PTR(p);
        return 0;
}

/* Whether pid's command line is uvmd-agent serving sock. */
static bool is_our_agent(pid_t pid, const char *sock)
{
        _cleanup_free_ char *buf = NULL, *path = NULL;
        bool bin = false, has_sock = false;
        size_t len = 0;

        if (asprintf(&path, "/proc/%d/cmdline", pid) < 0 ||
            fs_read_file(path, 64 << 10, &buf, &len) < 0)
                return false;
        for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
                const char *slash = strrchr(buf + i, '/');

                if (i == 0)
                        bin = strstr(slash ? slash + 1 : buf, "uvmd-agent") != NULL;
                else if (STR_EQ(buf + i, sock))
                        has_sock = true;
        }
        return bin && has_sock;
}

static bool is_ours(pid_t pid, void *data)
{
        return is_our_agent(pid, data);
}

static int ns_pod_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret,
                           struct uvm_error **err)
{
        _cleanup_(pod_freep) struct drv_pod *p = NULL;
        bool adopted = false;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r >= 0)
                r = agent_pod_adopt_file(&p->ap, p->pid_path, is_ours, p->ap.sock_path, err);
        adopted = r >= 0;
        if (r >= 0)
                r = read_pidns(p, err);
        if (r >= 0)
                r = agent_pod_connect(&p->ap, CONNECT_TIMEOUT_MS, err);
        if (r < 0 && p) {
                /* The pod is lost: our agent, if we cannot talk to it, goes
                 * (never a process that is not ours), and what a dead one
                 * left with it: its containers must not run on, reported
                 * exited. */
                if (adopted)
                        agent_pod_kill(&p->ap);
                ns_leftovers_remove(spec->id, spec->state_dir, p->runtime);
        }
        if (r < 0)
                return uvm_error_wrap(err, "reattach to the agent of pod %s", spec->id);
        agent_pod_go_live(&p->ap);
        log_pod(LOG_LEVEL_INFO, p->ap.id, "ns pod %s: reattached to agent %d", p->ap.id, p->ap.pid);
        *ret = TAKE_PTR(p);
        return 0;
}

static int ns_pod_stop(struct drv_pod *p, uint32_t timeout_ms, struct uvm_error **err)
{
        int r = agent_pod_stop(&p->ap, timeout_ms, EXIT_WAIT_MS, err);

        /* An agent that died (or was killed here) did not delete its containers. */
        if (r >= 0)
                ns_leftovers_remove(p->ap.id, p->ap.state_dir, p->runtime);
        return r;
}

static void ns_pod_free(struct drv_pod *p)
{
        pod_free_(p);
}

/* Containers. */

/* Set (path NULL: a new namespace) or drop (drop) the namespace of type. */
static int ns_entry(json_object *nss, const char *type, const char *path, bool drop,
                    struct uvm_error **err)
{
        size_t n = json_object_array_length(nss);
        json_object *e = NULL, *t;

        for (size_t i = 0; i < n; i++) {
                json_object *x = json_object_array_get_idx(nss, i);

                if (!json_object_is_type(x, json_type_object) ||
                    !json_object_object_get_ex(x, "type", &t) ||
                    !json_object_is_type(t, json_type_string))
                        return uvm_error_set(err, EINVAL,
                                             "OCI spec: linux.namespaces[%zu] has no type", i);
                if (!STR_EQ(json_object_get_string(t), type))
                        continue;
                if (drop)
                        return json_object_array_del_idx(nss, i, 1) < 0
                                       ? uvm_error_set(err, ENOMEM, "out of memory")
                                       : 0;
                e = x;
                break;
        }
        if (drop)
                return 0;
        if (!e) {
                e = json_object_new_object();
                if (!e || json_object_array_add(nss, e) < 0 ||
                    json_object_object_add(e, "type", json_object_new_string(type)) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        json_object_object_del(e, "path");
        if (path && json_object_object_add(e, "path", json_object_new_string(path)) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* obj[key] as an object or array of type, created when missing. */
static json_object *child(json_object *obj, const char *key, json_type type)
{
        json_object *v;

        if (json_object_object_get_ex(obj, key, &v))
                return json_object_is_type(v, type) ? v : NULL;
        v = type == json_type_array ? json_object_new_array() : json_object_new_object();
        if (v && json_object_object_add(obj, key, v) < 0)
                return NULL;
        return v;
}

/* Point the container's namespaces at the pod's. In a user namespace the
 * agent's holder owns the pod's IPC and UTS namespaces (the agent's own
 * belong to the host's user namespace). */
static int patch_namespaces(struct drv_pod *p, json_object *spec, struct uvm_error **err)
{
        pid_t owner = p->userns_path ? p->pidns_pid : p->ap.pid;
        char ipc[64], uts[64], pidns[64];
        json_object *linux_, *nss;
        int r;

        linux_ = child(spec, "linux", json_type_object);
        nss = linux_ ? child(linux_, "namespaces", json_type_array) : NULL;
        if (!nss)
                return uvm_error_set(err, EINVAL, "OCI spec: linux.namespaces is not an array");
        if (has_holder(p) && p->pidns_pid <= 0)
                return uvm_error_set(err, EPROTO, "pod %s: the agent has no holder process",
                                     p->ap.id);
        snprintf(ipc, sizeof(ipc), "/proc/%d/ns/ipc", owner);
        snprintf(uts, sizeof(uts), "/proc/%d/ns/uts", owner);
        snprintf(pidns, sizeof(pidns), "/proc/%d/ns/pid", p->pidns_pid);
        r = ns_entry(nss, "user", p->userns_path, !p->userns_path, err);
        if (r >= 0)
                r = ns_entry(nss, "network", p->netns_path, !p->netns_path, err);
        if (r >= 0)
                r = ns_entry(nss, "ipc", ipc, p->host_ipc, err);
        if (r >= 0)
                r = ns_entry(nss, "uts", uts, !p->netns_path, err);
        if (r >= 0)
                r = ns_entry(nss, "mount", NULL, false, err);
        /* share_pid: the holder is PID 1 of the pod's PID namespace; every
         * container joins it. */
        if (r >= 0)
                r = ns_entry(nss, "pid", p->share_pid ? pidns : NULL, p->host_pid, err);
        return r;
}

static int patch(void *data, const struct drv_ctr_spec *spec, json_object *oci,
                 struct uvm_error **err)
{
        (void) spec;
        return patch_namespaces(data, oci, err);
}

static int ns_ctr_create(struct drv_pod *p, const struct drv_ctr_spec *spec, struct uvm_error **err)
{
        return agent_pod_ctr_create(&p->ap, spec, patch, p, err);
}

/* mount_setattr (Linux 5.12) is what makes a recursive read-only mount. */
static bool kernel_has_mount_setattr(void)
{
        return !(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS);
}

/* Whether the OCI runtime lists the "rro" mount option in its features. */
static bool runtime_knows_rro(const char *runtime)
{
        char *argv[] = {(char *) runtime, "features", NULL};
        _cleanup_free_ char *out = NULL;
        json_object *o, *opts;
        bool found = false;
        int status = 1;

        if (!runtime || runtime[0] != '/' ||
            run_capture(argv, 5000, 256 << 10, &out, &status) < 0 || status != 0)
                return false;
        o = json_tokener_parse(out);
        if (o && json_object_object_get_ex(o, "mountOptions", &opts) &&
            json_object_is_type(opts, json_type_array))
                for (size_t i = 0; i < json_object_array_length(opts) && !found; i++)
                        found = STR_EQ(json_object_get_string(json_object_array_get_idx(opts, i))
                                               ?: "",
                                       "rro");
        json_object_put(o);
        return found;
}

/* A container's root in a user namespace must reach its rootfs under the
 * state root (the runtime mounts it from inside), and overlayfs must take
 * idmapped layers where they live. */
static bool userns_works(const struct drv_probe_env *env, char *why, size_t len)
{
        char dir[96];

        if (env->state_root && !fs_searchable_by_all(env->state_root, dir, sizeof(dir))) {
                if (snprintf(why, len, "'%s' is not searchable by others (needs o+x)", dir) < 0)
                        why[0] = '\0';
                return false;
        }
        return userns_probe(env->data_root, why, len);
}

/* Namespaces need no hypervisor: usable wherever uvmd runs. Pods in user
 * namespaces need idmapped layers under overlayfs (Linux 5.19), tried. */
static void ns_probe(const struct drv_probe_env *env, struct drv_probe *ret)
{
        bool setattr = kernel_has_mount_setattr(),
             rro = setattr && runtime_knows_rro(env->oci_runtime);
        char why[160] = "no mount_setattr";
        bool userns = setattr && userns_works(env, why, sizeof(why));

        pthread_once(&self_dir_once, self_dir_resolve);

        *ret = (struct drv_probe){.usable = true, .rro_mounts = rro, .user_namespaces = userns};
        /* A reason cut at its buffer's end is still a reason. */
        if (snprintf(ret->reason, sizeof(ret->reason), "Linux namespaces with %s%s%s%s%s",
                     env->oci_runtime ? env->oci_runtime : "the OCI runtime",
                     rro       ? ""
                     : setattr ? " (no recursive read-only mounts: the runtime lacks \"rro\")"
                               : " (no recursive read-only mounts: the kernel lacks mount_setattr)",
                     userns ? "" : " (no user namespaces: ",
                     userns ? "" : (setattr ? why : "no mount_setattr"), userns ? "" : ")") < 0)
                ret->reason[0] = '\0';
}

const struct drv_ops drv_ns_ops = {
        .name = "ns",
        /* The agent joins the namespace; nothing it does at start needs
         * the pod's interface (net.* sysctls aside: sandbox.c keeps those
         * after ADD). */
        .cni_concurrent = true,
        .probe = ns_probe,
        .pod_create = ns_pod_create,
        .pod_reattach = ns_pod_reattach,
        .pod_stop = ns_pod_stop,
        .pod_free = ns_pod_free,
        .pod_alive = agent_pod_alive,
        .ctr_create = ns_ctr_create,
        .ctr_start = agent_pod_ctr_start,
        .ctr_signal = agent_pod_ctr_signal,
        .ctr_delete = agent_pod_ctr_delete,
        .ctr_state = agent_pod_ctr_state,
        .ctr_exec_sync = agent_pod_ctr_exec_sync,
        .ctr_update = agent_pod_ctr_update,
        .ctr_stats = agent_pod_ctr_stats,
        .pod_stats = agent_pod_stats,
        .agent = agent_pod_client,
};
