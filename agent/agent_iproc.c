/* Interactive ExecuteProcess: `runc exec --detach` of the request's command
 * with the container's process settings (passed as --process, so that a
 * terminal has its size before the command runs) and stdio pipes, or a
 * terminal whose pty master runc sends to a console socket. The process is
 * then ours (we are a subreaper) and a session of agent_pump.c streams it.
 * Terminal containers take their pty master the same way (agent_ctr.c). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

#define CONSOLE_WAIT_MS 5000
#define MAX_CONFIG (4u << 20) /* config.json */

static atomic_uint seq;

struct iproc_opts {
        bool tty, in, out, err;
        unsigned rows, cols;
};

/* The console socket. */

int agent_console_listen(int *ret_fd, char **ret_path, int *ret_dirfd, struct uvm_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1, dirfd = -1;
        _cleanup_free_ char *name = NULL, *path = NULL;

        if (asprintf(&name, "console-%u.sock", ++seq) < 0 ||
            !(path = fs_path_join(agent_cfg.state_dir, name)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return uvm_error_set(err, errno, "socket: %m");
        if (strlen(path) < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, path, strlen(path) + 1);
        } else {
                /* Too long for sun_path: named through a directory fd, which
                 * runc (another process) reaches by our pid. */
                dirfd = open(agent_cfg.state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dirfd < 0)
                        return uvm_error_set(err, errno, "open '%s': %m", agent_cfg.state_dir);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
                free(path);
                if (asprintf(&path, "/proc/%d/fd/%d/%s", (int) getpid(), dirfd, name) < 0) {
                        path = NULL;
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
        }
        if (unlink(path) < 0 && errno != ENOENT)
                return uvm_error_set(err, errno, "removing a stale '%s': %m", path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                return uvm_error_set(err, errno, "console socket '%s': %m", path);
        *ret_fd = TAKE_FD(fd);
        *ret_path = TAKE_PTR(path);
        *ret_dirfd = TAKE_FD(dirfd);
        return 0;
}

/* The first fd of an SCM_RIGHTS message; any other is closed. */
static int take_fd(struct msghdr *msg)
{
        int fd = -1;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                int fds[4];
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                n = n < ARRAY_SIZE(fds) ? n : ARRAY_SIZE(fds);
                memcpy(fds, CMSG_DATA(c), n * sizeof(int));
                for (size_t i = 0; i < n; i++) {
                        if (fd < 0)
                                fd = fds[i];
                        else
                                close(fds[i]);
                }
        }
        return fd;
}

int agent_console_take(int lfd, int *ret_master, struct uvm_error **err)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(4 * sizeof(int))];
        } cm;
        char name[256];
        struct iovec iov = {name, sizeof(name)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = cm.buf,
                             .msg_controllen = sizeof(cm.buf)};
        struct pollfd p = {lfd, POLLIN, 0};
        _cleanup_close_ int conn = -1, fd = -1;
        unsigned ptn;

        if (poll(&p, 1, CONSOLE_WAIT_MS) <= 0 ||
            (conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
                return uvm_error_set(err, ETIMEDOUT, "the runtime sent no terminal");
        p.fd = conn;
        if (poll(&p, 1, CONSOLE_WAIT_MS) <= 0 || recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0)
                return uvm_error_set(err, EBADMSG, "the runtime sent no terminal");
        fd = take_fd(&msg);
        /* Only a pty master answers TIOCGPTN: nothing else may pass for one. */
        if (fd < 0 || ioctl(fd, TIOCGPTN, &ptn) < 0)
                return uvm_error_set(err, EBADMSG, "the runtime sent no terminal master");
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return uvm_error_set(err, errno, "terminal master: %m");
        *ret_master = TAKE_FD(fd);
        return 0;
}

/* The request. */

static int iproc_opts(json_object *req, struct iproc_opts *o, struct uvm_error **err)
{
        int64_t rows = 0, cols = 0;
        int r;

        r = agent_json_bool(req, "Tty", &o->tty, err);
        if (r >= 0)
                r = agent_json_bool(req, "Stdin", &o->in, err);
        if (r >= 0)
                r = agent_json_bool(req, "Stdout", &o->out, err);
        if (r >= 0)
                r = agent_json_bool(req, "Stderr", &o->err, err);
        if (r >= 0)
                r = agent_json_int(req, "Rows", 0, UINT16_MAX, 0, &rows, err);
        if (r >= 0)
                r = agent_json_int(req, "Cols", 0, UINT16_MAX, 0, &cols, err);
        if (r >= 0 && !o->in && !o->out && !o->err)
                r = uvm_error_set(err, EINVAL, "one of Stdin, Stdout and Stderr must be true");
        o->rows = (unsigned) rows;
        o->cols = (unsigned) cols;
        return r;
}

int agent_process_file(const char *bundle, const char *path, const char **args, bool tty,
                       unsigned rows, unsigned cols, struct uvm_error **err)
{
        _cleanup_free_ char *cfg = fs_path_join(bundle, "config.json"), *buf = NULL;
        _cleanup_json_ json_object *spec = NULL;
        json_object *proc, *a, *size;
        const char *s;
        size_t len;
        int r;

        if (!cfg)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(cfg, MAX_CONFIG, &buf, NULL);
        if (r < 0)
                return uvm_error_set(err, -r, "reading '%s': %s", cfg, strerror(-r));
        spec = json_tokener_parse(buf);
        if (!json_object_object_get_ex(spec, "process", &proc) ||
            !json_object_is_type(proc, json_type_object))
                return uvm_error_set(err, EINVAL, "'%s' has no process", cfg);
        a = json_object_new_array();
        for (size_t i = 0; args[i]; i++)
                json_object_array_add(a, json_object_new_string(args[i]));
        json_object_object_add(proc, "args", a);
        json_object_object_add(proc, "terminal", json_object_new_boolean(tty));
        json_object_object_del(proc, "consoleSize");
        if (tty && rows && cols) {
                size = json_object_new_object();
                json_object_object_add(size, "height", json_object_new_int((int) rows));
                json_object_object_add(size, "width", json_object_new_int((int) cols));
                json_object_object_add(proc, "consoleSize", size);
        }
        s = json_object_to_json_string_length(proc, JSON_C_TO_STRING_PLAIN, &len);
        r = fs_write_atomic(path, s, len, 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "writing '%s': %s", path, strerror(-r));
        return 0;
}

static void close_all(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0) {
                        close(fds[i]);
                        fds[i] = -1;
                }
}

/* Pipes for the streams asked for: child[i] is the process's end, ours[i]
 * (non-blocking) the agent's. */
static int make_pipes(const struct iproc_opts *o, int child[3], int ours[3], struct uvm_error **err)
{
        bool want[3] = {o->in, o->out, o->err};

        for (int i = 0; i < 3; i++) {
                int p[2];

                if (!want[i])
                        continue;
                if (pipe2(p, O_CLOEXEC) < 0)
                        return uvm_error_set(err, errno, "pipe: %m");
                child[i] = p[i == 0 ? 0 : 1];
                ours[i] = p[i == 0 ? 1 : 0];
                if (fcntl(ours[i], F_SETFL, O_NONBLOCK) < 0)
                        return uvm_error_set(err, errno, "pipe: %m");
        }
        return 0;
}

static int read_pid(const char *path, pid_t *ret, struct uvm_error **err)
{
        _cleanup_free_ char *buf = NULL;
        long v;
        int r;

        r = fs_read_file(path, 32, &buf, NULL);
        if (r < 0)
                return uvm_error_set(err, -r, "reading '%s': %s", path, strerror(-r));
        v = strtol(buf, NULL, 10);
        if (v <= 1 || v > 4194304)
                return uvm_error_set(err, EBADMSG, "'%s' holds no pid", path);
        *ret = (pid_t) v;
        return 0;
}

static int dup_fd(int fd, int *ret, struct uvm_error **err)
{
        *ret = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return *ret < 0 ? uvm_error_set(err, errno, "dup: %m") : 0;
}

/* Hand the process and its stdio to s. */
static int give_stdio(struct agent_sess *s, const struct iproc_opts *o, int lfd, int ours[3],
                      struct uvm_error **err)
{
        _cleanup_close_ int master = -1, out = -1, in = -1;
        int r;

        if (!o->tty) {
                if (ours[1] >= 0)
                        agent_sess_out(s, 0, TAKE_FD(ours[1]), 0, true);
                if (ours[2] >= 0)
                        agent_sess_out(s, 1, TAKE_FD(ours[2]), 0, true);
                if (ours[0] >= 0)
                        agent_sess_in(s, TAKE_FD(ours[0]));
                return 0;
        }
        r = agent_console_take(lfd, &master, err);
        if (r >= 0 && o->rows && o->cols)
                (void) ioctl(master, TIOCSWINSZ,
                             &(struct winsize){.ws_row = (unsigned short) o->rows,
                                               .ws_col = (unsigned short) o->cols});
        if (r >= 0)
                r = dup_fd(master, &out, err);
        if (r >= 0 && o->in)
                r = dup_fd(master, &in, err);
        if (r < 0)
                return r;
        /* Stdout and stderr are one terminal; read even if nobody watches. */
        agent_sess_out(s, 0, TAKE_FD(out), 0, o->out || o->err);
        if (in >= 0)
                agent_sess_in(s, TAKE_FD(in));
        agent_sess_console(s, TAKE_FD(master));
        return 0;
}

/* runc exec --detach; then the process is ours: s holds it from now on. */
static int iproc_spawn(struct agent_sess *s, const char *id, const char *bundle, const char **args,
                       const struct iproc_opts *o, struct uvm_error **err)
{
        unsigned n = ++seq;
        _cleanup_free_ char *proc = NULL, *pidfile = NULL, *sock = NULL;
        _cleanup_close_ int lfd = -1, dirfd = -1;
        int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, pidfd, r;
        const char *argv[12] = {"exec", "--detach", "--process", NULL, "--pid-file", NULL};
        size_t k = 6;
        pid_t pid = 0;

        if (asprintf(&proc, "%s/iexec-%u.json", bundle, n) < 0 ||
            asprintf(&pidfile, "%s/iexec-%u.pid", bundle, n) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        argv[3] = proc;
        argv[5] = pidfile;
        r = agent_process_file(bundle, proc, args, o->tty, o->rows, o->cols, err);
        if (r >= 0 && o->tty) {
                r = agent_console_listen(&lfd, &sock, &dirfd, err);
                argv[k++] = "--console-socket";
                argv[k++] = sock;
        } else if (r >= 0) {
                r = make_pipes(o, child, ours, err);
        }
        argv[k++] = id;
        if (r >= 0)
                r = agent_runc(bundle, argv, child, NULL, err);
        close_all(child, 3);
        unlink(proc);
        if (sock)
                unlink(sock); /* a connection made stays queued */
        if (r >= 0)
                r = read_pid(pidfile, &pid, err);
        unlink(pidfile);
        if (r >= 0) {
                pidfd = pidfd_open(pid, 0);
                if (pidfd < 0 && errno != ESRCH) { /* ESRCH: it is gone already */
                        r = uvm_error_set(err, errno, "pidfd_open %d: %m", (int) pid);
                        kill(pid, SIGKILL);
                } else {
                        agent_sess_process(s, pid, pidfd);
                }
        }
        if (r >= 0)
                r = give_stdio(s, o, lfd, ours, err);
        close_all(ours, 3);
        return r;
}

int agent_iproc_exec(struct agent_conn *conn, json_object *req, json_object **ret,
                     struct uvm_error **err)
{
        const char *id = json_string_of(req, "ContainerId");
        _cleanup_(agent_sess_freep) struct agent_sess *s = NULL;
        _cleanup_free_ const char **args = NULL;
        _cleanup_free_ char *bundle = NULL;
        struct iproc_opts o = {0};
        int r;

        r = agent_exec_args(req, &args, err);
        if (r >= 0)
                r = iproc_opts(req, &o, err);
        if (r >= 0)
                r = agent_ctr_bundle(id, true, &bundle, err);
        if (r >= 0)
                r = agent_sess_new(AGENT_SESS_EXEC, id, &s, err);
        if (r >= 0)
                r = iproc_spawn(s, id, bundle, args, &o, err);
        if (r >= 0)
                r = agent_pump_add(TAKE_PTR(s), conn, ret, err);
        return r < 0 ? uvm_error_wrap(err, "exec in container '%s'", id) : 0;
}
