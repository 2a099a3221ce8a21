/* The CNI executor's Linux half (cni-plat.h): the real executor
 * (cni_exec_spawn): posix_spawn, never fork, with the plugin's stdin, stdout
 * and stderr on our own pipes, a deadline, bounded output, and the child
 * always reaped; plugins found by exec permission; the config dir listed
 * with scandir. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "network/cni-plat.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"

/* Plugins such as bridge and portmap run iptables and ip by PATH lookup; the
 * daemon's own environment is not passed on. */
#define CNI_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Kept from stderr for the debug log: the end is where plugins say why. */
#define CNI_STDERR_TAIL 2048

struct spawn_io {
        const char *plugin; /* for messages */
        pid_t pid;
        int pidfd, in, out, errfd;
        const char *in_buf;
        size_t in_len, in_off;
        char *out_buf;
        size_t out_len;
        char err_tail[CNI_STDERR_TAIL + 1];
        size_t err_len;
};

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void spawn_io_done(struct spawn_io *io)
{
        close_fd(&io->pidfd);
        close_fd(&io->in);
        close_fd(&io->out);
        close_fd(&io->errfd);
        free(io->out_buf);
        io->out_buf = NULL;
}

/* Kill the plugin and anything it started in its process group, then reap
 * it, so no failure path leaves a child behind. */
static void kill_and_reap(struct spawn_io *io)
{
        if (io->pid <= 0)
                return;
        kill(-io->pid, SIGKILL);
        kill(io->pid, SIGKILL);
        while (waitpid(io->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        io->pid = 0;
}

static int start(struct spawn_io *io, const char *path, char *const *env)
{
        int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, r = 0;
        char *const argv[] = {(char *) path, NULL};
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;

        /* stdin is a socket so a plugin that exits without reading cannot
         * raise SIGPIPE in the daemon (we send with MSG_NOSIGNAL) */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
            pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
                r = -errno;
        if (r == 0) {
                sigemptyset(&none);
                sigfillset(&all);
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_adddup2(&fa, in[1], 0);
                posix_spawn_file_actions_adddup2(&fa, out[1], 1);
                posix_spawn_file_actions_adddup2(&fa, er[1], 2);
                /* fds some library opened without O_CLOEXEC stay with us */
                posix_spawn_file_actions_addclosefrom_np(&fa, 3);
                posix_spawnattr_init(&attr);
                posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                        POSIX_SPAWN_SETPGROUP);
                posix_spawnattr_setsigmask(&attr, &none);
                posix_spawnattr_setsigdefault(&attr, &all);
                posix_spawnattr_setpgroup(&attr, 0);
                r = -posix_spawn(&io->pid, path, &fa, &attr, argv, env);
                posix_spawn_file_actions_destroy(&fa);
                posix_spawnattr_destroy(&attr);
        }
        close_fd(&in[1]);
        close_fd(&out[1]);
        close_fd(&er[1]);
        io->in = in[0];
        io->out = out[0];
        io->errfd = er[0];
        if (r < 0) {
                io->pid = 0;
                return r;
        }
        io->pidfd = (int) syscall(SYS_pidfd_open, io->pid, 0);
        if (io->pidfd < 0)
                return -errno;
        if (fcntl(io->in, F_SETFL, O_NONBLOCK) < 0 || fcntl(io->out, F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(io->errfd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static int feed_stdin(struct spawn_io *io)
{
        ssize_t n = send(io->in, io->in_buf + io->in_off, io->in_len - io->in_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                /* the plugin closed its stdin: its exit status will tell */
                close_fd(&io->in);
                return 0;
        }
        io->in_off += (size_t) n;
        if (io->in_off == io->in_len)
                close_fd(&io->in); /* EOF for the plugin */
        return 0;
}

/* Read what is available; -EFBIG when stdout passes the bound. */
static int drain_stdout(struct spawn_io *io)
{
        char buf[16384];

        for (;;) {
                ssize_t n = read(io->out, buf, sizeof(buf));
                if (n == 0) {
                        close_fd(&io->out);
                        return 0;
                }
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (io->out_len + (size_t) n > CNI_MAX_OUTPUT)
                        return -EFBIG;
                char *p = realloc(io->out_buf, io->out_len + (size_t) n + 1);
                if (!p)
                        return -ENOMEM;
                io->out_buf = p;
                memcpy(p + io->out_len, buf, (size_t) n);
                io->out_len += (size_t) n;
                p[io->out_len] = '\0';
        }
}

static void drain_stderr(struct spawn_io *io)
{
        char buf[4096];

        for (;;) {
                ssize_t n = read(io->errfd, buf, sizeof(buf));
                if (n == 0)
                        close_fd(&io->errfd);
                if (n <= 0)
                        return;
                if ((size_t) n >= CNI_STDERR_TAIL) {
                        memcpy(io->err_tail, buf + n - CNI_STDERR_TAIL, CNI_STDERR_TAIL);
                        io->err_len = CNI_STDERR_TAIL;
                        continue;
                }
                size_t keep = io->err_len + (size_t) n > CNI_STDERR_TAIL
                                      ? CNI_STDERR_TAIL - (size_t) n
                                      : io->err_len;
                memmove(io->err_tail, io->err_tail + io->err_len - keep, keep);
                memcpy(io->err_tail + keep, buf, (size_t) n);
                io->err_len = keep + (size_t) n;
        }
}

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Pump the pipes until the plugin exits: 1 exited, -ETIMEDOUT, -EFBIG. */
static int pump(struct spawn_io *io, unsigned timeout_ms)
{
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p[4] = {{io->pidfd, POLLIN, 0},
                                      {io->in, POLLOUT, 0},
                                      {io->out, POLLIN, 0},
                                      {io->errfd, POLLIN, 0}};
                long long left = deadline - now_ms();
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(p, ARRAY_SIZE(p), (int) (left > 60000 ? 60000 : left));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                if (p[1].revents)
                        feed_stdin(io);
                if (p[2].revents && (r = drain_stdout(io)) < 0)
                        return r;
                if (p[3].revents)
                        drain_stderr(io);
                if (p[0].revents)
                        return 1;
        }
}

static int exit_status(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '/');

        return s ? s + 1 : path;
}

static int spawn_run(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                     unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err)
{
        struct spawn_io io = {.pidfd = -1, .in = -1, .out = -1, .errfd = -1};
        const char *name = base_name(plugin_path);
        int r, status = 0;

        io.in_buf = stdin_json ? stdin_json : "";
        io.in_len = strlen(io.in_buf);
        r = start(&io, plugin_path, env);
        if (r < 0) {
                kill_and_reap(&io);
                spawn_io_done(&io);
                return uvm_error_set(err, -r, "plugin %s: cannot start '%s': %s", name, plugin_path,
                                     strerror(-r));
        }
        r = pump(&io, timeout_ms);
        if (r == 1) {
                while ((r = waitpid(io.pid, &status, 0)) < 0 && errno == EINTR)
                        ;
                r = r < 0 ? -errno : 0;
                io.pid = 0;
                /* all it wrote is in the pipes now */
                if (r == 0 && io.out >= 0)
                        r = drain_stdout(&io);
                if (io.errfd >= 0)
                        drain_stderr(&io);
        }
        kill_and_reap(&io);
        if (io.err_len > 0) {
                io.err_tail[io.err_len] = '\0';
                log_debug("CNI plugin %s stderr: %s", name, io.err_tail);
        }
        if (r == 0) {
                *ret_stdout = io.out_buf ? TAKE_PTR(io.out_buf) : strdup("");
                *ret_exit = exit_status(status);
                spawn_io_done(&io);
                return *ret_stdout ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
        }
        spawn_io_done(&io);
        if (r == -ETIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT, "plugin %s: timed out after %u ms, killed",
                                     name, timeout_ms);
        if (r == -EFBIG)
                return uvm_error_set(err, EFBIG, "plugin %s: output larger than %d bytes, killed",
                                     name, CNI_MAX_OUTPUT);
        return uvm_error_set(err, -r, "plugin %s: %s", name, strerror(-r));
}

const struct cni_exec_ops cni_exec_spawn = {
        .run = spawn_run,
};

static char *join_path(char *const *dirs)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        fputs("CNI_PATH=", f);
        for (size_t i = 0; dirs && dirs[i]; i++)
                fprintf(f, "%s%s", i ? ":" : "", dirs[i]);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int cni_plat_base_env(char *const *bin_dirs, char ***ret_env)
{
        _cleanup_strv_ char **env = calloc(3, sizeof(char *));

        if (!env || !(env[0] = join_path(bin_dirs)) || !(env[1] = strdup(CNI_DEFAULT_PATH)))
                return -ENOMEM;
        *ret_env = TAKE_PTR(env);
        return 0;
}

int cni_plat_dir_names(const char *dir, char ***ret_names, struct uvm_error **err)
{
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);
        char **v;

        if (n < 0)
                return uvm_error_set(err, ENOENT, "no network config: cannot read '%s': %s", dir,
                                     strerror(errno));
        v = calloc((size_t) n + 1, sizeof(char *));
        for (int i = 0; i < n; i++) {
                if (v && !(v[i] = strdup(names[i]->d_name))) {
                        strv_free(v);
                        v = NULL;
                }
                free(names[i]);
        }
        free(names);
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_names = v;
        return 0;
}

char *cni_plat_path_join(const char *dir, const char *name)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int cni_find_plugin(char *const *bin_dirs, const char *type, char **ret_path)
{
        for (size_t i = 0; bin_dirs && bin_dirs[i]; i++) {
                char *p = cni_plat_path_join(bin_dirs[i], type);
                if (!p)
                        return -ENOMEM;
                if (access(p, X_OK) == 0) {
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        return -ENOENT;
}
