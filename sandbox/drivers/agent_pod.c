/* A pod as one supervised process with an agent connection (agent_pod.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/frame.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/cond.h"
#include "common/log.h"
#include "common/platform.h"
#include "sandbox/drivers/agent_pod.h"

#define LOG_TAIL 512 /* bytes of the process's log quoted in errors */
#define MAX_KEEP_FDS 8
#define MIN(a, b) ((a) < (b) ? (a) : (b))

extern char **environ;

int64_t agent_pod_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_pod_init(struct agent_pod *ap, const char *kind, const struct drv_pod_spec *spec,
                   const char *sock, const char *log, struct uvm_error **err)
{
        *ap = (struct agent_pod){.kind = kind, .pidfd = -1, .quiet = true, .events = spec->events};
        pthread_mutex_init(&ap->lock, NULL);
        if (cond_init(&ap->changed) < 0)
                pthread_cond_init(&ap->changed, NULL);
        ap->id = strdup(spec->id);
        ap->state_dir = strdup(spec->state_dir);
        ap->sock_path = fs_path_join(spec->state_dir, sock);
        ap->log_path = fs_path_join(spec->state_dir, log);
        if (!ap->id || !ap->state_dir || !ap->sock_path || !ap->log_path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* --- the process --- */

bool agent_pod_exited(struct agent_pod *ap)
{
        struct pollfd pfd = {ap->pidfd, POLLIN, 0};

        return ap->pidfd < 0 || (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP)));
}

/* Collect our child's status once it exited; a no-op for adopted ones. */
static void reap(struct agent_pod *ap)
{
        int status;

        pthread_mutex_lock(&ap->lock);
        if (ap->is_child && !ap->reaped && agent_pod_exited(ap)) {
                if (waitpid(ap->pid, &status, 0) < 0 && errno != ECHILD)
                        log_debug("%s pod %s: waitpid %d: %m, ignoring", ap->kind, ap->id, ap->pid);
                ap->reaped = true;
        }
        pthread_mutex_unlock(&ap->lock);
}

bool agent_pod_wait(struct agent_pod *ap, int timeout_ms)
{
        struct pollfd pfd = {ap->pidfd, POLLIN, 0};
        int64_t end = agent_pod_now_ms() + timeout_ms;

        while (!agent_pod_exited(ap)) {
                int64_t left = end - agent_pod_now_ms();

                if (left <= 0)
                        return false;
                if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
                        return false;
        }
        reap(ap);
        return true;
}

void agent_pod_kill(struct agent_pod *ap)
{
        if (ap->pidfd < 0 || agent_pod_exited(ap)) {
                reap(ap);
                return;
        }
        if (syscall(SYS_pidfd_send_signal, ap->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                log_warn("%s pod %s: kill %d: %m, ignoring", ap->kind, ap->id, ap->pid);
        if (!agent_pod_wait(ap, 5000))
                log_warn("%s pod %s: %d survived SIGKILL for 5 s, ignoring", ap->kind, ap->id,
                         ap->pid);
}

static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, const char *log,
                       const int *keep, size_t n_keep)
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
        for (size_t i = 0; r == 0 && i < n_keep; i++)
                r = posix_spawn_file_actions_adddup2(fa, keep[i], 3 + (int) i);
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

int agent_pod_spawn(struct agent_pod *ap, char *const argv[], const int *keep_fds, size_t n_keep,
                    struct uvm_error **err)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        pid_t pid;
        int r;

        if (n_keep > MAX_KEEP_FDS)
                return uvm_error_set(err, EINVAL, "at most %d fds for a child", MAX_KEEP_FDS);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&at);
        r = spawn_setup(&fa, &at, ap->log_path, keep_fds, n_keep);
        if (r == 0)
                r = -posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (r < 0)
                return uvm_error_set(err, -r, "spawn %s: %s", argv[0], strerror(-r));
        ap->pid = pid;
        ap->is_child = true;
        ap->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (ap->pidfd < 0) {
                r = uvm_error_set(err, errno, "pidfd_open %d: %m", pid);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                ap->reaped = true;
                return r;
        }
        log_pod(LOG_LEVEL_DEBUG, ap->id, "%s pod %s: %s started as pid %d", ap->kind, ap->id,
                argv[0], pid);
        return 0;
}

int agent_pod_adopt(struct agent_pod *ap, pid_t pid, bool (*is_ours)(pid_t pid, void *data),
                    void *data, struct uvm_error **err)
{
        /* Open the pidfd first: if the pid is ours when checked, the pidfd is too. */
        ap->pid = pid;
        ap->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (ap->pidfd < 0 || !is_ours(pid, data) || agent_pod_exited(ap))
                return uvm_error_set(err, ESRCH, "pod %s: process %d is gone", ap->id, pid);
        return 0;
}

int agent_pod_adopt_file(struct agent_pod *ap, const char *pid_file,
                         bool (*is_ours)(pid_t pid, void *data), void *data, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        pid_t pid = 0;
        int r = agent_pod_read_pid_file(pid_file, &pid, &e);

        uvm_error_free(e);
        if (r <= 0)
                return uvm_error_set(err, ESRCH, "pod %s: no pid in %s", ap->id, pid_file);
        return agent_pod_adopt(ap, pid, is_ours, data, err);
}

char *agent_pod_log_tail(struct agent_pod *ap)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        char *s;

        if (fs_read_file(ap->log_path, 1 << 20, &buf, &len) < 0 || len == 0)
                return strdup("(its log is empty)");
        while (len > 0 && buf[len - 1] == '\n')
                buf[--len] = '\0';
        s = buf + (len > LOG_TAIL ? len - LOG_TAIL : 0);
        return strdup(s);
}

int agent_pod_died_error(struct agent_pod *ap, struct uvm_error **err)
{
        _cleanup_free_ char *tail = NULL;
        int status = 0;

        if (ap->is_child && waitpid(ap->pid, &status, 0) > 0)
                ap->reaped = true;
        tail = agent_pod_log_tail(ap);
        if (WIFSIGNALED(status))
                return uvm_error_set(err, ECHILD,
                                     "%s was killed by signal %d before it was ready (%s): %s",
                                     ap->kind, WTERMSIG(status), ap->log_path, tail ? tail : "");
        return uvm_error_set(err, ECHILD, "%s exited with status %d before it was ready (%s): %s",
                             ap->kind, WEXITSTATUS(status), ap->log_path, tail ? tail : "");
}

int agent_pod_read_pid_file(const char *path, pid_t *ret, struct uvm_error **err)
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

void agent_pod_destroy(struct agent_pod *ap)
{
        pthread_mutex_lock(&ap->lock);
        ap->quiet = true; /* the sandbox pod may be going away */
        pthread_mutex_unlock(&ap->lock);
        agent_client_free(ap->client);
        ap->client = NULL;
        reap(ap);
        if (ap->pidfd >= 0)
                close(ap->pidfd);
        pthread_mutex_destroy(&ap->lock);
        pthread_cond_destroy(&ap->changed);
        free(ap->id);
        free(ap->state_dir);
        free(ap->sock_path);
        free(ap->log_path);
}

/* --- the agent connection --- */

/* A container exited or the connection closed: stop_gracefully looks again. */
static void count_event(struct agent_pod *ap)
{
        pthread_mutex_lock(&ap->lock);
        ap->n_events++;
        pthread_cond_broadcast(&ap->changed);
        pthread_mutex_unlock(&ap->lock);
}

static void ev_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        struct agent_pod *ap = data;

        count_event(ap);
        if (ap->events && ap->events->ctr_exited)
                ap->events->ctr_exited(ap->events->data, ctr_id, code, ns, oom);
}

static void ev_output(void *data, const char *ctr_id, enum drv_stream s, const char *buf,
                      size_t len)
{
        struct agent_pod *ap = data;

        if (ap->events && ap->events->ctr_output)
                ap->events->ctr_output(ap->events->data, ctr_id, s, buf, len);
}

static void ev_closed(void *data, const char *reason)
{
        struct agent_pod *ap = data;
        bool quiet;

        pthread_mutex_lock(&ap->lock);
        ap->conn_down = true;
        quiet = ap->quiet;
        ap->n_events++;
        pthread_cond_broadcast(&ap->changed);
        pthread_mutex_unlock(&ap->lock);
        log_pod(LOG_LEVEL_DEBUG, ap->id, "%s pod %s: agent connection closed: %s", ap->kind, ap->id,
                reason);
        if (!quiet && ap->events && ap->events->pod_died)
                ap->events->pod_died(ap->events->data, reason);
}

int agent_pod_connect(struct agent_pod *ap, unsigned timeout_ms, struct uvm_error **err)
{
        struct agent_client_events ev = {
                .exited = ev_exited, .output = ev_output, .closed = ev_closed, .data = ap};

        return agent_client_connect(ap->sock_path, timeout_ms, &ev, &ap->client, err);
}

void agent_pod_go_live(struct agent_pod *ap)
{
        pthread_mutex_lock(&ap->lock);
        ap->quiet = false;
        pthread_mutex_unlock(&ap->lock);
}

bool agent_pod_conn_up(struct agent_pod *ap)
{
        bool up;

        pthread_mutex_lock(&ap->lock);
        up = ap->client && !ap->conn_down;
        pthread_mutex_unlock(&ap->lock);
        return up;
}

/* Running containers now, or -errno. */
static int count_running(struct agent_pod *ap, bool signal_them)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct agent_ctr_info *v = NULL;
        size_t n = 0;
        int running = 0, r;

        r = agent_client_list(ap->client, &v, &n, &e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (v[i].state != DRV_CTR_RUNNING)
                        continue;
                running++;
                if (signal_them &&
                    agent_client_signal(ap->client, v[i].id, SIGTERM, false, &e) < 0) {
                        log_pod(LOG_LEVEL_DEBUG, ap->id, "%s pod %s: %s, ignoring", ap->kind,
                                ap->id, e->msg);
                        e = uvm_error_free(e);
                }
        }
        for (size_t i = 0; i < n; i++)
                agent_ctr_info_clear(&v[i]);
        free(v);
        return running;
}

/* Until an event after *seen (then *seen is it), or deadline_ns. */
static void wait_event(struct agent_pod *ap, uint64_t *seen, uint64_t deadline_ns)
{
        pthread_mutex_lock(&ap->lock);
        while (ap->n_events == *seen && cond_wait_until(&ap->changed, &ap->lock, deadline_ns) == 0)
                ;
        *seen = ap->n_events;
        pthread_mutex_unlock(&ap->lock);
}

/* SIGTERM every running container, wait up to timeout_ms for them to exit:
 * counted again on each exit event (and every RECHECK_MS, should one be
 * missed), so a pod whose containers die at once stops at once. */
#define RECHECK_MS 50
static void stop_gracefully(struct agent_pod *ap, uint32_t timeout_ms)
{
        uint64_t end = cond_deadline((int) MIN(timeout_ms, INT32_MAX)), seen, now;
        int running;

        if (timeout_ms == 0)
                return;
        pthread_mutex_lock(&ap->lock);
        seen = ap->n_events;
        pthread_mutex_unlock(&ap->lock);
        running = count_running(ap, true);
        while (running > 0 && (now = plat_now_ns()) < end && agent_pod_conn_up(ap)) {
                wait_event(ap, &seen, MIN(end, now + RECHECK_MS * 1000000ull));
                running = count_running(ap, false);
        }
}

int agent_pod_stop(struct agent_pod *ap, uint32_t timeout_ms, int exit_wait_ms,
                   struct uvm_error **err)
{
        _cleanup_error_ struct uvm_error *e = NULL;

        pthread_mutex_lock(&ap->lock);
        ap->quiet = true;
        pthread_mutex_unlock(&ap->lock);
        if (agent_pod_exited(ap)) {
                reap(ap);
                return 0;
        }
        if (agent_pod_conn_up(ap)) {
                stop_gracefully(ap, timeout_ms);
                /* The agent may go before its answer reaches us: success too. */
                if (agent_client_shutdown(ap->client, &e) < 0 && uvm_error_code(e) != -ECONNRESET)
                        log_pod(LOG_LEVEL_WARN, ap->id, "%s pod %s: %s, killing it", ap->kind,
                                ap->id, e->msg);
        }
        if (!agent_pod_wait(ap, exit_wait_ms)) {
                log_pod(LOG_LEVEL_WARN, ap->id,
                        "%s pod %s: %d still runs %d ms after shutdown, killing it", ap->kind,
                        ap->id, ap->pid, exit_wait_ms);
                agent_pod_kill(ap);
        }
        if (!agent_pod_exited(ap))
                return uvm_error_set(err, EBUSY, "pod %s: %d does not exit", ap->id, ap->pid);
        return 0;
}

/* --- containers --- */

static struct agent_pod *ap_of(struct drv_pod *p)
{
        return (struct agent_pod *) p;
}

static int need_client(struct agent_pod *ap, struct uvm_error **err)
{
        if (!ap->client)
                return uvm_error_set(err, ENOTCONN, "pod %s has no agent connection", ap->id);
        return 0;
}

int agent_pod_ctr_create(struct agent_pod *ap, const struct drv_ctr_spec *spec,
                         agent_pod_patch_fn patch, void *data, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = NULL;
        struct drv_ctr_spec patched = *spec;
        json_tokener *tok;
        size_t len;
        int r;

        r = need_client(ap, err);
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
        r = patch(data, &patched, o, err);
        if (r < 0)
                return uvm_error_wrap(err, "container %s", spec->id);
        patched.oci_spec_json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!patched.oci_spec_json)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return agent_client_create(ap->client, &patched, err);
}

bool agent_pod_alive(struct drv_pod *p)
{
        return agent_pod_conn_up(ap_of(p)) && !agent_pod_exited(ap_of(p));
}

int agent_pod_ctr_start(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_start(ap_of(p)->client, ctr_id, err);
}

int agent_pod_ctr_signal(struct drv_pod *p, const char *ctr_id, int sig, struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_signal(ap_of(p)->client, ctr_id, sig, false, err);
}

int agent_pod_ctr_delete(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_delete(ap_of(p)->client, ctr_id, err);
}

int agent_pod_ctr_state(struct drv_pod *p, const char *ctr_id, enum drv_ctr_state *ret_state,
                        int *ret_exit_code, struct uvm_error **err)
{
        struct agent_ctr_info info = {0};
        int r = need_client(ap_of(p), err);

        if (r >= 0)
                r = agent_client_state(ap_of(p)->client, ctr_id, &info, err);
        if (r < 0)
                return r;
        *ret_state = info.state;
        *ret_exit_code = info.exit_code;
        agent_ctr_info_clear(&info);
        return 0;
}

int agent_pod_ctr_exec_sync(struct drv_pod *p, const char *ctr_id, const struct drv_exec_spec *spec,
                            struct drv_exec_result *ret, struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_exec_sync(ap_of(p)->client, ctr_id, spec, ret, err);
}

int agent_pod_ctr_update(struct drv_pod *p, const char *ctr_id, const char *resources_json,
                         struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_update(ap_of(p)->client, ctr_id, resources_json, err);
}

/* The kubelet is told the mount point of the filesystem holding the pod's
 * state dir (where an ns pod's upper dirs are; a VM's scratch is in it). */
static void writable_fs(struct agent_pod *ap, char *ret, size_t len)
{
        char real[PATH_MAX];
        bool shared, slave;

        ret[0] = '\0';
        if (realpath(ap->state_dir, real))
                (void) fs_mount_of(real, ret, len, &shared, &slave);
}

int agent_pod_ctr_stats(struct drv_pod *p, const char *ctr_id, struct drv_ctr_stats *ret,
                        struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        if (r >= 0)
                r = agent_client_stats(ap_of(p)->client, ctr_id, ret, err);
        if (r >= 0)
                writable_fs(ap_of(p), ret->writable_fs, sizeof(ret->writable_fs));
        return r;
}

int agent_pod_stats(struct drv_pod *p, struct drv_pod_stats *ret, struct uvm_error **err)
{
        int r = need_client(ap_of(p), err);

        return r < 0 ? r : agent_client_pod_stats(ap_of(p)->client, ret, err);
}

struct agent_client *agent_pod_client(struct drv_pod *p)
{
        return ((struct agent_pod *) p)->client;
}
