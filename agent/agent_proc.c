/* The agent's one reaper (waitpid(-1) on a signalfd), posix_spawn of helper
 * commands and runc invocations. Container inits are reparented to us (we are
 * a child subreaper), so every child of every kind ends up here. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/agent-internal.h"
#include "common/log.h"

#define REAP_TABLE 128 /* exits of pids nobody has waited for yet */

struct reaped {
        pid_t pid; /* 0: free slot */
        int status;
};

static struct {
        pthread_mutex_t lock; /* guards table and next */
        pthread_cond_t cond;  /* a pid was reaped */
        struct reaped table[REAP_TABLE];
        size_t next; /* ring position: the oldest entry is overwritten when full */
        int sfd;
        agent_reap_hook_fn hook;
} reap = {.lock = PTHREAD_MUTEX_INITIALIZER, .sfd = -1};

int64_t agent_now_realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int agent_exit_code(int status)
{
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

int agent_thread_start(void *(*fn)(void *), void *arg, struct uvm_error **err)
{
        pthread_attr_t attr;
        pthread_t t;
        int r;

        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, AGENT_THREAD_STACK);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, fn, arg);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return uvm_error_set(err, r, "pthread_create: %s", strerror(r));
        return 0;
}

static void reap_record(pid_t pid, int status)
{
        pthread_mutex_lock(&reap.lock);
        reap.table[reap.next].pid = pid;
        reap.table[reap.next].status = status;
        reap.next = (reap.next + 1) % REAP_TABLE;
        pthread_cond_broadcast(&reap.cond);
        pthread_mutex_unlock(&reap.lock);
}

/* Only the tracer thread may resume its tracee: the reaper, which also
 * sees its stops, seizes the holder. A tracer of its own keeps containers
 * from ptracing it; its signals are blocked, so it stops only for SIGSTOP,
 * which is swallowed. */
static void trace_holder(pid_t holder)
{
        if (holder > 0 && ptrace(PTRACE_SEIZE, holder, NULL, NULL) < 0)
                log_warn("reaper: seizing the PID 1 holder %d: %m, ignoring", (int) holder);
}

static void *reaper_main(void *arg)
{
        pid_t holder = agent_pidns_holder();

        trace_holder(holder);
        for (;;) {
                struct signalfd_siginfo si;
                int status;
                pid_t pid;

                if (read(reap.sfd, &si, sizeof(si)) < 0 && errno != EINTR && errno != EAGAIN) {
                        log_error("reaper: reading signalfd: %m");
                        sleep(1);
                }
                /* A guest's holder comes later, with the pod's settings. */
                if (holder <= 0 && (holder = agent_pidns_holder()) > 0)
                        trace_holder(holder);
                /* Signals coalesce: one SIGCHLD may stand for many exits. */
                while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
                        if (WIFSTOPPED(status)) {
                                if (pid == holder)
                                        ptrace(PTRACE_CONT, pid, NULL, NULL);
                                continue;
                        }
                        log_debug("reaper: pid %d exited with status 0x%x", (int) pid, status);
                        if (!reap.hook || !reap.hook(pid, status))
                                reap_record(pid, status);
                }
        }
        return NULL;
}

int agent_reap_start(agent_reap_hook_fn hook, struct uvm_error **err)
{
        pthread_condattr_t a;
        sigset_t set;

        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&reap.cond, &a);
        pthread_condattr_destroy(&a);
        reap.hook = hook;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        reap.sfd = signalfd(-1, &set, SFD_CLOEXEC);
        if (reap.sfd < 0)
                return uvm_error_set(err, errno, "signalfd: %m");
        return agent_thread_start(reaper_main, NULL, err);
}

static struct timespec deadline_ms(int timeout_ms)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

int agent_reap_wait(pid_t pid, int timeout_ms, int *ret_status)
{
        struct timespec deadline = deadline_ms(timeout_ms < 0 ? 0 : timeout_ms);
        int r = -ETIMEDOUT;

        pthread_mutex_lock(&reap.lock);
        for (;;) {
                for (size_t i = 0; i < REAP_TABLE; i++)
                        if (reap.table[i].pid == pid) {
                                reap.table[i].pid = 0;
                                *ret_status = reap.table[i].status;
                                r = 0;
                        }
                if (r == 0)
                        break;
                if (timeout_ms < 0)
                        pthread_cond_wait(&reap.cond, &reap.lock);
                else if (pthread_cond_timedwait(&reap.cond, &reap.lock, &deadline) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&reap.lock);
        return r;
}

int agent_spawn(char *const argv[], const int fds[3], pid_t *ret_pid, struct uvm_error **err)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, deflt;
        pid_t pid;
        int r;

        posix_spawn_file_actions_init(&fa);
        for (int i = 0; i < 3; i++) {
                if (fds && fds[i] >= 0)
                        posix_spawn_file_actions_adddup2(&fa, fds[i], i);
                else
                        posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
        }
        /* We block SIGCHLD/SIGTERM for our signalfds; children must not inherit that. */
        sigemptyset(&none);
        sigemptyset(&deflt);
        sigaddset(&deflt, SIGPIPE);
        sigaddset(&deflt, SIGTERM);
        sigaddset(&deflt, SIGINT);
        sigaddset(&deflt, SIGCHLD);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &deflt);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return uvm_error_set(err, r, "spawning '%s': %s", argv[0], strerror(r));
        log_debug("spawned '%s' %s as pid %d", argv[0], argv[1] ? argv[1] : "", (int) pid);
        *ret_pid = pid;
        return 0;
}

/* Read fd to EOF into a buffer of at most max bytes (the rest is drained and
 * dropped) until the deadline; -ETIMEDOUT then. */
static int read_bounded(int fd, size_t max, int timeout_ms, char **ret_buf)
{
        struct timespec start;
        _cleanup_free_ char *buf = malloc(max + 1);
        size_t len = 0;

        if (!buf)
                return -ENOMEM;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct pollfd p = {fd, POLLIN, 0};
                struct timespec now;
                char scratch[4096];
                long left;
                ssize_t n;

                clock_gettime(CLOCK_MONOTONIC, &now);
                left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000L +
                                     (now.tv_nsec - start.tv_nsec) / 1000000L);
                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                        return -errno;
                if (len < max)
                        n = read(fd, buf + len, max - len);
                else
                        n = read(fd, scratch, sizeof(scratch));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        break;
                if (len < max)
                        len += (size_t) n;
        }
        buf[len] = '\0';
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

/* Run argv with stdout+stderr captured; returns the wait status. */
static int run_capture(char *const argv[], int timeout_ms, char **ret_out, int *ret_status,
                       struct uvm_error **err)
{
        _cleanup_close_ int rfd = -1, wfd = -1;
        _cleanup_free_ char *out = NULL;
        int p[2], status, r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return uvm_error_set(err, errno, "pipe: %m");
        rfd = p[0];
        wfd = p[1];
        r = agent_spawn(argv, (int[3]){-1, wfd, wfd}, &pid, err);
        if (r < 0)
                return r;
        /* Only the child may hold the write end, or we never see EOF. */
        close(TAKE_FD(wfd));
        r = read_bounded(rfd, AGENT_RUN_MAX_OUTPUT, timeout_ms, &out);
        if (r == -ETIMEDOUT || agent_reap_wait(pid, timeout_ms, &status) < 0) {
                kill(pid, SIGKILL);
                agent_reap_wait(pid, -1, &status);
                return uvm_error_set(err, ETIMEDOUT, "'%s %s' did not finish in %d ms", argv[0],
                                     argv[1] ? argv[1] : "", timeout_ms);
        }
        *ret_status = status;
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

char **agent_runc_argv(const char *bundle, const char *const *args)
{
        size_t n = 0, i = 0;
        char **argv;

        while (args[n])
                n++;
        argv = calloc(n + 8, sizeof(char *));
        if (!argv)
                return NULL;
        argv[i++] = strdup(agent_cfg.runtime);
        argv[i++] = strdup("--root");
        argv[i++] = strdup(agent_cfg.runc_root);
        if (bundle) {
                argv[i++] = strdup("--log");
                if (asprintf(&argv[i++], "%s/runtime.log", bundle) < 0)
                        argv[i - 1] = NULL;
                argv[i++] = strdup("--log-format");
                argv[i++] = strdup("json");
        }
        for (size_t k = 0; k < n; k++)
                argv[i++] = strdup(args[k]);
        for (size_t k = 0; k < i; k++)
                if (!argv[k]) {
                        for (size_t j = 0; j < i; j++)
                                free(argv[j]);
                        free(argv);
                        return NULL;
                }
        return argv;
}

/* The "msg" of the last JSON line of buf that has one. */
static char *last_msg(char *buf)
{
        char *result = NULL;

        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                json_object *o = json_tokener_parse(line), *m;

                if (o && json_object_object_get_ex(o, "msg", &m) &&
                    json_object_is_type(m, json_type_string)) {
                        free(result);
                        result = strndup(json_object_get_string(m), 1024);
                }
                json_object_put(o);
        }
        return result;
}

char *agent_runc_log_msg(const char *bundle)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        off_t size;
        ssize_t n;

        if (asprintf(&path, "%s/runtime.log", bundle) < 0)
                return NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        /* Only the tail matters, and the log may have grown large. */
        size = lseek(fd, 0, SEEK_END);
        if (size < 0 || lseek(fd, size > 16384 ? size - 16384 : 0, SEEK_SET) < 0)
                return NULL;
        buf = malloc(16385);
        if (!buf)
                return NULL;
        n = read(fd, buf, 16384);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        return last_msg(buf);
}

static int runc_failed(const char *bundle, const char *cmd, int status, const char *out,
                       struct uvm_error **err)
{
        _cleanup_free_ char *msg = bundle ? agent_runc_log_msg(bundle) : NULL;
        _cleanup_free_ char *trimmed = out ? strndup(out, 512) : NULL;

        if (trimmed)
                trimmed[strcspn(trimmed, "\n")] = '\0';
        return uvm_error_set(err, EIO, "runc %s failed (exit %d): %s", cmd, agent_exit_code(status),
                             msg                   ? msg
                             : trimmed && *trimmed ? trimmed
                                                   : "no message");
}

/* Run it with fds as its stdio, to its end (killed at the timeout). */
static int runc_with_fds(char **argv, const char *cmd, const int fds[3], int *ret_status,
                         struct uvm_error **err)
{
        pid_t pid;
        int r;

        r = agent_spawn(argv, fds, &pid, err);
        if (r < 0)
                return r;
        if (agent_reap_wait(pid, AGENT_RUNC_TIMEOUT_MS, ret_status) < 0) {
                kill(pid, SIGKILL);
                agent_reap_wait(pid, -1, ret_status);
                return uvm_error_set(err, ETIMEDOUT, "runc %s did not finish in %d ms", cmd,
                                     AGENT_RUNC_TIMEOUT_MS);
        }
        return 0;
}

int agent_runc(const char *bundle, const char *const *args, const int fds[3], char **ret_out,
               struct uvm_error **err)
{
        _cleanup_strv_ char **argv = agent_runc_argv(bundle, args);
        _cleanup_free_ char *out = NULL;
        int status, r;

        if (!argv)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (fds)
                r = runc_with_fds(argv, args[0], fds, &status, err);
        else
                r = run_capture(argv, AGENT_RUNC_TIMEOUT_MS, &out, &status, err);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return runc_failed(bundle, args[0], status, out, err);
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

int agent_runc_stdio(const char *bundle, const char *const *args, const int fds[3], int err_r,
                     struct uvm_error **err)
{
        _cleanup_strv_ char **argv = agent_runc_argv(bundle, args);
        char out[513];
        ssize_t n = -1;
        int status, r;

        if (!argv)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = runc_with_fds(argv, args[0], fds, &status, err);
        if (r < 0)
                return r;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        /* It has exited: what it wrote is in the pipe, or never comes. */
        if (err_r >= 0 && fcntl(err_r, F_SETFL, O_NONBLOCK) == 0)
                n = read(err_r, out, sizeof(out) - 1);
        out[n > 0 ? n : 0] = '\0';
        return runc_failed(bundle, args[0], status, out, err);
}
