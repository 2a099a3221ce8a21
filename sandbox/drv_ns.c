/*
 * The "ns" driver: a pod is one uvmd-agent process started in the pod's
 * network namespace (and new IPC/UTS namespaces), in its own session so it
 * outlives uvmd. Containers are created by the agent with the OCI runtime and
 * join the agent's namespaces through /proc/<agent>/ns/ paths in their spec.
 *
 * The agent is tracked through a pidfd, so a recycled pid can never be
 * mistaken for it or be signalled in its place.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "agent/frame.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/run.h"
#include "sandbox/drivers/ns.h"
#include "sandbox/idmap.h"

#define READY_TIMEOUT_MS 10000  /* agent.pid must appear within this */
#define CONNECT_TIMEOUT_MS 5000 /* the socket listens once agent.pid exists */
#define EXIT_WAIT_MS 5000       /* after ShutdownForced, before SIGKILL */
#define POLL_MS 20
#define LOG_TAIL 512 /* bytes of agent.log quoted in errors */

extern char **environ;

struct drv_pod {
        char *id, *state_dir, *netns_path, *sock_path, *pid_path, *log_path; /* immutable */
        char *userns_path;                                                   /* immutable */
        bool host_ipc, host_pid, share_pid;                                  /* immutable */
        const struct drv_events *events;                                     /* immutable */
        pid_t agent_pid;                                                     /* immutable */
        /* immutable: the agent's holder process (agent_pidns.c), or 0: PID 1
         * of a shared PID namespace and, in a user namespace, the owner of the
         * pod's IPC and UTS namespaces */
        pid_t pidns_pid;
        int pidfd;                   /* immutable; readable once the agent exited */
        bool is_child;               /* immutable: we spawned it, so we reap it */
        struct agent_client *client; /* immutable once create/reattach returned */
        pthread_mutex_t lock;        /* guards the fields below */
        bool quiet;                  /* no pod_died: not yet up, stopping or freed */
        bool conn_down;              /* the agent connection closed */
        bool reaped;                 /* waited for (children only) */
};

static void json_putp(json_object **o)
{
        json_object_put(*o);
}

static int pidfd_open_(pid_t pid)
{
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd, int sig)
{
        return (int) syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Events from the agent connection, passed on to the sandbox layer. */

static void ev_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        struct drv_pod *p = data;

        if (p->events && p->events->ctr_exited)
                p->events->ctr_exited(p->events->data, ctr_id, code, ns, oom);
}

static void ev_output(void *data, const char *ctr_id, enum drv_stream s, const char *buf,
                      size_t len)
{
        struct drv_pod *p = data;

        if (p->events && p->events->ctr_output)
                p->events->ctr_output(p->events->data, ctr_id, s, buf, len);
}

static void ev_closed(void *data, const char *reason)
{
        struct drv_pod *p = data;
        bool quiet;

        pthread_mutex_lock(&p->lock);
        p->conn_down = true;
        quiet = p->quiet;
        pthread_mutex_unlock(&p->lock);
        log_pod(LOG_LEVEL_DEBUG, p->id, "ns pod %s: agent connection closed: %s", p->id, reason);
        if (!quiet && p->events && p->events->pod_died)
                p->events->pod_died(p->events->data, reason);
}

static const struct agent_client_events client_events = {
        .exited = ev_exited,
        .output = ev_output,
        .closed = ev_closed,
};

static int client_connect(struct drv_pod *p, struct uvm_error **err)
{
        struct agent_client_events ev = client_events;

        ev.data = p;
        return agent_client_connect(p->sock_path, CONNECT_TIMEOUT_MS, &ev, &p->client, err);
}

/* The agent process. */

static bool agent_exited(struct drv_pod *p)
{
        struct pollfd pfd = {p->pidfd, POLLIN, 0};

        return p->pidfd < 0 || (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP)));
}

/* Collect our child's status once it exited; a no-op for adopted agents. */
static void agent_reap(struct drv_pod *p)
{
        int status;

        pthread_mutex_lock(&p->lock);
        if (p->is_child && !p->reaped && agent_exited(p)) {
                if (waitpid(p->agent_pid, &status, 0) < 0 && errno != ECHILD)
                        log_debug("ns pod %s: waitpid %d: %m, ignoring", p->id, p->agent_pid);
                p->reaped = true;
        }
        pthread_mutex_unlock(&p->lock);
}

/* Wait up to timeout_ms for the agent to exit; true if it did. */
static bool agent_wait(struct drv_pod *p, int timeout_ms)
{
        struct pollfd pfd = {p->pidfd, POLLIN, 0};
        int64_t end = now_ms() + timeout_ms;

        while (!agent_exited(p)) {
                int64_t left = end - now_ms();

                if (left <= 0)
                        return false;
                if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
                        return false;
        }
        agent_reap(p);
        return true;
}

static void agent_kill(struct drv_pod *p)
{
        if (p->pidfd < 0 || agent_exited(p)) {
                agent_reap(p);
                return;
        }
        if (pidfd_kill(p->pidfd, SIGKILL) < 0 && errno != ESRCH)
                log_warn("ns pod %s: kill agent %d: %m, ignoring", p->id, p->agent_pid);
        if (!agent_wait(p, EXIT_WAIT_MS))
                log_warn("ns pod %s: agent %d survived SIGKILL for %d ms, ignoring", p->id,
                         p->agent_pid, EXIT_WAIT_MS);
}

/* Which binary: $UVMD_AGENT, else next to uvmd, else Bazel's output layout. */
static int agent_binary(char **ret, struct uvm_error **err)
{
        const char *env = getenv("UVMD_AGENT");
        _cleanup_free_ char *exe = NULL, *a = NULL, *b = NULL;
        char *slash;

        if (!STR_EMPTY(env)) {
                *ret = realpath(env, NULL);
                if (!*ret || access(*ret, X_OK) < 0) {
                        free(*ret);
                        return uvm_error_set(err, ENOENT, "agent binary '%s' ($UVMD_AGENT): %m",
                                             env);
                }
                return 0;
        }
        exe = realpath("/proc/self/exe", NULL);
        slash = exe ? strrchr(exe, '/') : NULL;
        if (!slash)
                return uvm_error_set(err, errno ? errno : EIO, "resolve /proc/self/exe: %m");
        *slash = '\0';
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
        argv[n++] = p->sock_path;
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

static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, const char *log)
{
        static const int defaults[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP,
                                       SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
        sigset_t none, def;
        int r;

        sigemptyset(&none);
        sigemptyset(&def);
        for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
                sigaddset(&def, defaults[i]);
        r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(fa, 1, log, O_WRONLY | O_CREAT | O_APPEND,
                                                     0600);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, 1, 2);
        /* Its own session: a uvmd restart (or its terminal) must not take it down. */
        if (r == 0)
                r = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                         POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setsigmask(at, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(at, &def);
        return -r;
}

static int agent_spawn(struct drv_pod *p, const struct drv_pod_spec *spec, struct uvm_error **err)
{
        _cleanup_free_ char *bin = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        char *argv[AGENT_MAX_ARGS];
        pid_t pid;
        int r;

        r = agent_binary(&bin, err);
        if (r < 0)
                return r;
        agent_argv(spec, p, bin, argv);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&at);
        r = spawn_setup(&fa, &at, p->log_path);
        if (r == 0)
                r = -posix_spawn(&pid, bin, &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (r < 0)
                return uvm_error_set(err, -r, "spawn %s: %s", bin, strerror(-r));
        p->agent_pid = pid;
        p->is_child = true;
        p->pidfd = pidfd_open_(pid);
        if (p->pidfd < 0) {
                r = uvm_error_set(err, errno, "pidfd_open %d: %m", pid);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                p->reaped = true;
                return r;
        }
        log_pod(LOG_LEVEL_DEBUG, p->id, "ns pod %s: agent %s started as pid %d", p->id, bin, pid);
        return 0;
}

/* "<pid>\n" from path: 1 with the pid, 0 if not (completely) written yet. */
static int read_pid_file(const char *path, pid_t *ret, struct uvm_error **err)
{
        _cleanup_free_ char *buf = NULL;
        char *end;
        long v;
        int r;

        r = fs_read_file(path, 32, &buf, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        if (!strchr(buf, '\n'))
                return 0;
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno || end == buf || *end != '\n' || end[1] || v <= 0 || v > INT_MAX)
                return uvm_error_set(err, EBADMSG, "%s holds no pid", path);
        *ret = (pid_t) v;
        return 1;
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
        if (asprintf(&path, "%s/pidns.pid", p->state_dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = read_pid_file(path, &pid, err);
        if (r <= 0)
                return r < 0 ? r : uvm_error_set(err, EPROTO, "%s is missing", path);
        p->pidns_pid = pid;
        return 0;
}

/* The end of agent.log, for error messages (never NULL). */
static char *log_tail(const char *path)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        char *s;

        if (fs_read_file(path, 1 << 20, &buf, &len) < 0 || len == 0)
                return strdup("(agent.log is empty)");
        s = buf + (len > LOG_TAIL ? len - LOG_TAIL : 0);
        while (len > 0 && buf[len - 1] == '\n')
                buf[--len] = '\0';
        return strdup(s);
}

static int agent_died_error(struct drv_pod *p, struct uvm_error **err)
{
        _cleanup_free_ char *tail = NULL;
        int status = 0;

        if (waitpid(p->agent_pid, &status, 0) > 0)
                p->reaped = true;
        tail = log_tail(p->log_path);
        if (WIFSIGNALED(status))
                return uvm_error_set(err, ECHILD,
                                     "agent was killed by signal %d before it was ready: %s",
                                     WTERMSIG(status), tail ? tail : "");
        return uvm_error_set(err, ECHILD, "agent exited with status %d before it was ready: %s",
                             WEXITSTATUS(status), tail ? tail : "");
}

/* Wait until the agent wrote agent.pid (its socket listens then). */
static int agent_wait_ready(struct drv_pod *p, struct uvm_error **err)
{
        int64_t end = now_ms() + READY_TIMEOUT_MS;
        pid_t pid;
        int r;

        for (;;) {
                if (agent_exited(p))
                        return agent_died_error(p, err);
                r = read_pid_file(p->pid_path, &pid, err);
                if (r < 0)
                        return r;
                if (r > 0 && pid != p->agent_pid)
                        return uvm_error_set(err, EPROTO, "%s names pid %d, the agent is %d",
                                             p->pid_path, pid, p->agent_pid);
                if (r > 0)
                        return read_pidns(p, err);
                if (now_ms() >= end)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "agent did not become ready in %d ms (no %s)",
                                             READY_TIMEOUT_MS, p->pid_path);
                usleep(POLL_MS * 1000);
        }
}

/* Pods. */

static struct drv_pod *pod_free_(struct drv_pod *p)
{
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->quiet = true; /* the sandbox pod may be going away */
        pthread_mutex_unlock(&p->lock);
        agent_client_free(p->client);
        agent_reap(p);
        if (p->pidfd >= 0)
                close(p->pidfd);
        pthread_mutex_destroy(&p->lock);
        free(p->id);
        free(p->state_dir);
        free(p->netns_path);
        free(p->userns_path);
        free(p->sock_path);
        free(p->pid_path);
        free(p->log_path);
        free(p);
        return NULL;
}

static void pod_freep(struct drv_pod **p)
{
        pod_free_(*p);
}

static int pod_alloc(const struct drv_pod_spec *spec, struct drv_pod **ret, struct uvm_error **err)
{
        struct drv_pod *p;

        if (!spec->id || !spec->state_dir)
                return uvm_error_set(err, EINVAL, "ns pod: id and state dir are required");
        p = calloc(1, sizeof(*p));
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&p->lock, NULL);
        p->pidfd = -1;
        p->quiet = true;
        p->host_ipc = spec->host_ipc;
        p->host_pid = spec->host_pid;
        p->share_pid = spec->share_pid;
        p->events = spec->events;
        p->id = strdup(spec->id);
        p->state_dir = strdup(spec->state_dir);
        p->netns_path = spec->netns_path ? strdup(spec->netns_path) : NULL;
        p->userns_path = spec->userns_path ? strdup(spec->userns_path) : NULL;
        if (!p->id || !p->state_dir || (spec->netns_path && !p->netns_path) ||
            (spec->userns_path && !p->userns_path) ||
            asprintf(&p->sock_path, "%s/agent.sock", spec->state_dir) < 0 ||
            asprintf(&p->pid_path, "%s/agent.pid", spec->state_dir) < 0 ||
            asprintf(&p->log_path, "%s/agent.log", spec->state_dir) < 0) {
                pod_free_(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = p;
        return 0;
}

static void pod_go_live(struct drv_pod *p)
{
        pthread_mutex_lock(&p->lock);
        p->quiet = false;
        pthread_mutex_unlock(&p->lock);
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
        (void) unlink(p->sock_path);
        r = agent_spawn(p, spec, err);
        if (r < 0)
                return r;
        r = agent_wait_ready(p, err);
        if (r >= 0)
                r = client_connect(p, err);
        if (r < 0) {
                agent_kill(p);
                (void) unlink(p->pid_path);
                (void) unlink(p->sock_path);
                return uvm_error_wrap(err, "start the agent of pod %s", spec->id);
        }
        pod_go_live(p);
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

static int ns_pod_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret,
                           struct uvm_error **err)
{
        _cleanup_(pod_freep) struct drv_pod *p = NULL;
        struct uvm_error *e = NULL;
        pid_t pid = 0;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r < 0)
                return r;
        r = read_pid_file(p->pid_path, &pid, &e);
        uvm_error_free(e);
        if (r <= 0)
                return uvm_error_set(err, ESRCH, "pod %s: no agent pid in %s", spec->id,
                                     p->pid_path);
        /* Open the pidfd first: if the pid is ours when checked, the pidfd is too. */
        p->agent_pid = pid;
        p->pidfd = pidfd_open_(pid);
        if (p->pidfd < 0 || !is_our_agent(pid, p->sock_path) || agent_exited(p))
                return uvm_error_set(err, ESRCH, "pod %s: agent %d is gone", spec->id, pid);
        r = read_pidns(p, err);
        if (r >= 0)
                r = client_connect(p, err);
        if (r < 0)
                return uvm_error_wrap(err, "reattach to the agent of pod %s", spec->id);
        pod_go_live(p);
        log_pod(LOG_LEVEL_INFO, p->id, "ns pod %s: reattached to agent %d", p->id, pid);
        *ret = TAKE_PTR(p);
        return 0;
}

static bool conn_up(struct drv_pod *p)
{
        bool up;

        pthread_mutex_lock(&p->lock);
        up = p->client && !p->conn_down;
        pthread_mutex_unlock(&p->lock);
        return up;
}

/* Running containers now, or -errno. */
static int count_running(struct drv_pod *p, bool signal_them)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct agent_ctr_info *v = NULL;
        size_t n = 0;
        int running = 0, r;

        r = agent_client_list(p->client, &v, &n, &e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (v[i].state != DRV_CTR_RUNNING)
                        continue;
                running++;
                if (signal_them &&
                    agent_client_signal(p->client, v[i].id, SIGTERM, false, &e) < 0) {
                        log_pod(LOG_LEVEL_DEBUG, p->id, "ns pod %s: %s, ignoring", p->id, e->msg);
                        e = uvm_error_free(e);
                }
        }
        for (size_t i = 0; i < n; i++)
                agent_ctr_info_clear(&v[i]);
        free(v);
        return running;
}

/* SIGTERM every running container, wait up to timeout_ms for them to exit. */
static void stop_gracefully(struct drv_pod *p, uint32_t timeout_ms)
{
        int64_t end = now_ms() + timeout_ms;
        int running;

        if (timeout_ms == 0)
                return;
        running = count_running(p, true);
        while (running > 0 && now_ms() < end && conn_up(p)) {
                usleep(50 * 1000);
                running = count_running(p, false);
        }
}

static int ns_pod_stop(struct drv_pod *p, uint32_t timeout_ms, struct uvm_error **err)
{
        _cleanup_error_ struct uvm_error *e = NULL;

        pthread_mutex_lock(&p->lock);
        p->quiet = true;
        pthread_mutex_unlock(&p->lock);
        if (agent_exited(p)) {
                agent_reap(p);
                return 0;
        }
        if (conn_up(p)) {
                stop_gracefully(p, timeout_ms);
                /* The agent may exit before its answer reaches us: that is success too. */
                if (agent_client_shutdown(p->client, &e) < 0 && uvm_error_code(e) != -ECONNRESET)
                        log_pod(LOG_LEVEL_WARN, p->id, "ns pod %s: %s, killing the agent", p->id,
                                e->msg);
        }
        if (!agent_wait(p, EXIT_WAIT_MS)) {
                log_pod(LOG_LEVEL_WARN, p->id,
                        "ns pod %s: agent %d still runs %d ms after shutdown, killing it", p->id,
                        p->agent_pid, EXIT_WAIT_MS);
                agent_kill(p);
        }
        if (!agent_exited(p))
                return uvm_error_set(err, EBUSY, "pod %s: agent %d does not exit", p->id,
                                     p->agent_pid);
        return 0;
}

static void ns_pod_free(struct drv_pod *p)
{
        pod_free_(p);
}

static bool ns_pod_alive(struct drv_pod *p)
{
        return conn_up(p) && !agent_exited(p);
}

/* Containers. */

static int need_client(struct drv_pod *p, struct uvm_error **err)
{
        if (!p->client)
                return uvm_error_set(err, ENOTCONN, "pod %s has no agent connection", p->id);
        return 0;
}

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
        pid_t owner = p->userns_path ? p->pidns_pid : p->agent_pid;
        char ipc[64], uts[64], pidns[64];
        json_object *linux_, *nss;
        int r;

        linux_ = child(spec, "linux", json_type_object);
        nss = linux_ ? child(linux_, "namespaces", json_type_array) : NULL;
        if (!nss)
                return uvm_error_set(err, EINVAL, "OCI spec: linux.namespaces is not an array");
        if (has_holder(p) && p->pidns_pid <= 0)
                return uvm_error_set(err, EPROTO, "pod %s: the agent has no holder process", p->id);
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

static int ns_ctr_create(struct drv_pod *p, const struct drv_ctr_spec *spec, struct uvm_error **err)
{
        _cleanup_(json_putp) json_object *o = NULL;
        struct drv_ctr_spec patched = *spec;
        json_tokener *tok;
        size_t len;
        int r;

        r = need_client(p, err);
        if (r < 0)
                return r;
        len = spec->oci_spec_json ? strlen(spec->oci_spec_json) : 0;
        if (len == 0 || len > AGENT_MAX_JSON)
                return uvm_error_set(err, EINVAL,
                                     "container %s: OCI spec is empty or over %u bytes", spec->id,
                                     AGENT_MAX_JSON);
        tok = json_tokener_new();
        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        o = json_tokener_parse_ex(tok, spec->oci_spec_json, (int) len);
        if (!o || json_tokener_get_parse_end(tok) != len ||
            !json_object_is_type(o, json_type_object)) {
                json_tokener_free(tok);
                return uvm_error_set(err, EINVAL, "container %s: OCI spec is not a JSON object",
                                     spec->id);
        }
        json_tokener_free(tok);
        r = patch_namespaces(p, o, err);
        if (r < 0)
                return uvm_error_wrap(err, "container %s", spec->id);
        patched.oci_spec_json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!patched.oci_spec_json)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return agent_client_create(p->client, &patched, err);
}

static int ns_ctr_start(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_start(p->client, ctr_id, err);
}

static int ns_ctr_signal(struct drv_pod *p, const char *ctr_id, int sig, struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_signal(p->client, ctr_id, sig, false, err);
}

static int ns_ctr_delete(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_delete(p->client, ctr_id, err);
}

static int ns_ctr_state(struct drv_pod *p, const char *ctr_id, enum drv_ctr_state *ret_state,
                        int *ret_exit_code, struct uvm_error **err)
{
        struct agent_ctr_info info = {0};
        int r = need_client(p, err);

        if (r >= 0)
                r = agent_client_state(p->client, ctr_id, &info, err);
        if (r < 0)
                return r;
        *ret_state = info.state;
        *ret_exit_code = info.exit_code;
        agent_ctr_info_clear(&info);
        return 0;
}

static int ns_ctr_exec_sync(struct drv_pod *p, const char *ctr_id, const struct drv_exec_spec *spec,
                            struct drv_exec_result *ret, struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_exec_sync(p->client, ctr_id, spec, ret, err);
}

static int ns_ctr_update(struct drv_pod *p, const char *ctr_id, const char *resources_json,
                         struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_update(p->client, ctr_id, resources_json, err);
}

static void writable_fs(struct drv_pod *p, char *ret, size_t len)
{
        char real[PATH_MAX];
        bool shared, slave;

        ret[0] = '\0';
        if (realpath(p->state_dir, real))
                (void) fs_mount_of(real, ret, len, &shared, &slave);
}

static int ns_ctr_stats(struct drv_pod *p, const char *ctr_id, struct drv_ctr_stats *ret,
                        struct uvm_error **err)
{
        int r = need_client(p, err);

        if (r >= 0)
                r = agent_client_stats(p->client, ctr_id, ret, err);
        /* The upper dirs live under the agent's state dir, on the host: the
         * kubelet is told the mount point of the filesystem holding them. */
        if (r >= 0)
                writable_fs(p, ret->writable_fs, sizeof(ret->writable_fs));
        return r;
}

static int ns_pod_stats(struct drv_pod *p, struct drv_pod_stats *ret, struct uvm_error **err)
{
        int r = need_client(p, err);

        return r < 0 ? r : agent_client_pod_stats(p->client, ret, err);
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
        .probe = ns_probe,
        .pod_create = ns_pod_create,
        .pod_reattach = ns_pod_reattach,
        .pod_stop = ns_pod_stop,
        .pod_free = ns_pod_free,
        .pod_alive = ns_pod_alive,
        .ctr_create = ns_ctr_create,
        .ctr_start = ns_ctr_start,
        .ctr_signal = ns_ctr_signal,
        .ctr_delete = ns_ctr_delete,
        .ctr_state = ns_ctr_state,
        .ctr_exec_sync = ns_ctr_exec_sync,
        .ctr_update = ns_ctr_update,
        .ctr_stats = ns_ctr_stats,
        .pod_stats = ns_pod_stats,
};
