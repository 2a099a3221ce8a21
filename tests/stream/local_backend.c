/* A streaming backend of local processes and loopback ports, for testing
 * the streaming server's protocols with real clients and no uvmd: exec
 * runs argv on this host (pipes, or a pty with tty), port_forward connects
 * to 127.0.0.1:PORT, attach is not offered. Flow control as the agent's:
 * output is read only while less than WINDOW bytes are unconsumed. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/stream/local_backend.h"

#define WINDOW (256u << 10)

struct stream_io {
        struct stream_sink sink;
        pid_t pid;        /* exec; 0 for a connection */
        int in, out, err; /* -1 when absent or closed; a socket is in == out */
        bool sock;
        bool tty; /* exec on a pty: in and out are the master */
        int wake[2];
        pthread_mutex_t lock;
        size_t unconsumed[3];
        bool want_writable, closing;
        pthread_t thread;
};

static void poke(struct stream_io *io)
{
        (void) !write(io->wake[1], "x", 1);
}

static void *pump(void *arg)
{
        struct stream_io *io = arg;
        int fds[3] = {-1, io->out, io->err}, code = 0, status;
        char buf[16384];

        for (;;) {
                struct pollfd pf[4] = {{io->wake[0], POLLIN, 0}};
                bool open = false;

                pthread_mutex_lock(&io->lock);
                if (io->closing) {
                        pthread_mutex_unlock(&io->lock);
                        return NULL;
                }
                for (int s = 1; s <= 2; s++) {
                        pf[s] = (struct pollfd){fds[s], 0, 0};
                        if (fds[s] >= 0) {
                                open = true;
                                if (io->unconsumed[s] < WINDOW)
                                        pf[s].events = POLLIN;
                        }
                }
                pf[3] = (struct pollfd){io->want_writable ? io->in : -1, POLLOUT, 0};
                pthread_mutex_unlock(&io->lock);
                if (!open)
                        break;
                if (poll(pf, 4, -1) < 0 && errno != EINTR)
                        break;
                if (pf[0].revents) {
                        char x[64];

                        (void) !read(io->wake[0], x, sizeof(x));
                }
                if (pf[3].revents) {
                        pthread_mutex_lock(&io->lock);
                        io->want_writable = false;
                        pthread_mutex_unlock(&io->lock);
                        io->sink.writable(io->sink.data);
                }
                for (int s = 1; s <= 2; s++) {
                        ssize_t n;

                        if (fds[s] < 0 || !(pf[s].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(fds[s], buf, sizeof(buf));
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (n <= 0) {
                                /* EIO: a pty whose other side all closed. */
                                pthread_mutex_lock(&io->lock);
                                if (!io->sock) {
                                        close(fds[s]);
                                        *(s == 1 ? &io->out : &io->err) = -1;
                                }
                                pthread_mutex_unlock(&io->lock);
                                fds[s] = -1;
                                io->sink.output(io->sink.data, s, NULL, 0);
                                continue;
                        }
                        pthread_mutex_lock(&io->lock);
                        io->unconsumed[s] += (size_t) n;
                        pthread_mutex_unlock(&io->lock);
                        io->sink.output(io->sink.data, s, buf, (size_t) n);
                }
        }
        if (io->pid > 0 && waitpid(io->pid, &status, 0) == io->pid) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                io->pid = 0;
        }
        io->sink.done(io->sink.data, code, NULL);
        return NULL;
}

static struct stream_io *io_new(const struct stream_sink *sink)
{
        struct stream_io *io = calloc(1, sizeof(*io));

        if (!io || pipe2(io->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                free(io);
                return NULL;
        }
        io->sink = *sink;
        io->in = io->out = io->err = -1;
        pthread_mutex_init(&io->lock, NULL);
        return io;
}

static int start(struct stream_io *io, struct stream_io **ret, struct uvm_error **err)
{
        if (pthread_create(&io->thread, NULL, pump, io) != 0)
                return uvm_error_set(err, EAGAIN, "no thread");
        *ret = io;
        return 0;
}

static int local_exec(void *data, const struct token_request *req, unsigned rows, unsigned cols,
                      const struct stream_sink *sink, struct stream_io **ret,
                      struct uvm_error **err)
{
        struct stream_io *io = io_new(sink);
        int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, master = -1;
        struct winsize ws = {(unsigned short) rows, (unsigned short) cols, 0, 0};
        pid_t pid;

        if (!io)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (req->tty)
                pid = forkpty(&master, NULL, NULL, rows && cols ? &ws : NULL);
        else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
                 pipe2(errp, O_CLOEXEC) < 0)
                return uvm_error_set(err, errno, "pipe: %m");
        else
                pid = fork();
        if (pid < 0)
                return uvm_error_set(err, errno, "fork: %m");
        if (pid == 0) {
                if (!req->tty) {
                        dup2(req->want_stdin ? in[0] : open("/dev/null", O_RDONLY), 0);
                        dup2(out[1], 1);
                        dup2(errp[1], 2);
                }
                setpgid(0, 0);
                execvp(req->argv[0], req->argv);
                _exit(127);
        }
        io->pid = pid;
        io->tty = req->tty;
        if (req->tty) {
                fcntl(master, F_SETFL, O_NONBLOCK);
                io->in = dup(master);
                io->out = master;
        } else {
                close(in[0]);
                close(out[1]);
                close(errp[1]);
                io->in = in[1];
                io->out = out[0];
                io->err = errp[0];
                fcntl(io->in, F_SETFL, O_NONBLOCK);
        }
        return start(io, ret, err);
}

static int local_attach(void *data, const struct token_request *req, const struct stream_sink *sink,
                        struct stream_io **ret, struct uvm_error **err)
{
        return uvm_error_set(err, ENOTSUP, "the local backend has no containers to attach to");
}

static int local_port(void *data, const char *pod_id, uint16_t port, const struct stream_sink *sink,
                      struct stream_io **ret, struct uvm_error **err)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct stream_io *io;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                if (fd >= 0)
                        close(fd);
                return uvm_error_set(err, e, "connect to port %u: %s", port, strerror(e));
        }
        io = io_new(sink);
        if (!io) {
                close(fd);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        io->sock = true;
        io->in = io->out = fd;
        return start(io, ret, err);
}

static int local_write(struct stream_io *io, const void *buf, size_t len)
{
        ssize_t n;

        if (io->in < 0)
                return -EPIPE;
        n = io->sock ? send(io->in, buf, len, MSG_NOSIGNAL) : write(io->in, buf, len);
        if (n < 0 && errno == EAGAIN) {
                pthread_mutex_lock(&io->lock);
                io->want_writable = true;
                pthread_mutex_unlock(&io->lock);
                poke(io);
                return 0;
        }
        return n < 0 ? -EPIPE : (int) n;
}

static int local_close_write(struct stream_io *io)
{
        if (io->in < 0)
                return 0;
        if (io->sock) {
                shutdown(io->in, SHUT_WR);
                return 0;
        }
        /* Not "stderr closed": a command may close its stderr and read on. */
        if (io->tty) /* a terminal's EOF is VEOF */
                (void) !write(io->in, "\004", 1);
        pthread_mutex_lock(&io->lock); /* the pump polls in */
        close(io->in);
        io->in = -1;
        pthread_mutex_unlock(&io->lock);
        return 0;
}

static int local_resize(struct stream_io *io, unsigned rows, unsigned cols)
{
        struct winsize ws = {(unsigned short) rows, (unsigned short) cols, 0, 0};

        return io->tty && ioctl(io->out, TIOCSWINSZ, &ws) == 0 ? 0 : -ENOTTY;
}

static void local_consumed(struct stream_io *io, int stream, size_t n)
{
        pthread_mutex_lock(&io->lock);
        io->unconsumed[stream] -= n <= io->unconsumed[stream] ? n : io->unconsumed[stream];
        pthread_mutex_unlock(&io->lock);
        poke(io);
}

static void local_close(struct stream_io *io)
{
        pthread_mutex_lock(&io->lock);
        io->closing = true;
        pthread_mutex_unlock(&io->lock);
        if (io->pid > 0) {
                /* The child may not have made its group yet: kill it too. */
                kill(-io->pid, SIGKILL);
                kill(io->pid, SIGKILL);
        }
        poke(io);
        pthread_join(io->thread, NULL);
        if (io->pid > 0)
                waitpid(io->pid, NULL, 0);
        if (io->in >= 0 && io->in != io->out)
                close(io->in);
        if (io->out >= 0)
                close(io->out);
        if (io->err >= 0)
                close(io->err);
        close(io->wake[0]);
        close(io->wake[1]);
        pthread_mutex_destroy(&io->lock);
        free(io);
}

const struct stream_backend local_backend = {
        .exec = local_exec,
        .attach = local_attach,
        .port_forward = local_port,
        .write = local_write,
        .close_write = local_close_write,
        .resize = local_resize,
        .consumed = local_consumed,
        .close = local_close,
};
