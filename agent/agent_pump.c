/* Interactive sessions: an exec with streamed stdio, an attach to a
 * container's stdio, a port-forward connection. One thread moves their bytes
 * between fds and the host's data frames. Toward the host it reads only what
 * the stream's credit window lets it send, so a consumer that stops makes the
 * process block and nothing piles up here; host bytes wait in a queue the
 * same window bounds and are credited as they are written to the fd.
 *
 * A session says nothing before its response went out (agent_pump_responded),
 * and its end is told after its streams were closed, by a notification with
 * its id. Sessions belong to the host connection that made them: when it goes
 * they end without a word and an exec's process is killed. Only the pump
 * thread frees a session, so epoll events carry pointers into them. Sessions
 * are built and looked up in agent_sess.c (pump-internal.h). */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/pump-internal.h"
#include "common/log.h"

#define READS_PER_STEP 4  /* per stream, so one busy session cannot starve the rest */
#define HELD_MAX_MS 10000 /* a session whose response never went out is dropped */
#define RETRY_MS 10       /* waiting for the reaper, or an exit's hold */
#define REAP_MAX_MS 5000  /* an exit status the reaper never got (its table overflowed) */

struct pump_state pump = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .conn_cond = PTHREAD_COND_INITIALIZER,
        .next_id = AGENT_SESSION_ID_BASE,
        .epfd = -1,
        .wake_fd = -1,
};

/* One read takes up to two frames' worth (of the connection's agreed
 * frame size), which the bridge sends as one batch (one write): half the
 * syscalls and wakeups per byte of bulk output, while half the window is
 * still free for the next read. */
#define READ_MAX (2 * AGENT_BULK_MAX_DATA)

static char read_buf[READ_MAX]; /* the pump thread's */

/* What one read or send on conn takes at most. */
static size_t step_max(struct agent_conn *conn)
{
        return 2 * (size_t) agent_conn_limits(conn).max_data;
}

long pump_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void agent_pump_kick(void)
{
        uint64_t one = 1;

        if (pump.wake_fd >= 0 && write(pump.wake_fd, &one, sizeof(one)) < 0)
                log_debug("pump: waking the pump thread: %m, ignoring");
}

/* Have epoll report events on fd into *flag, or stop. */
void pump_watch(int fd, bool *watched, bool *flag, uint32_t events, bool want)
{
        struct epoll_event ev = {.events = events, .data.ptr = flag};

        if (fd < 0 || want == *watched)
                return;
        if (epoll_ctl(pump.epfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0) {
                log_warn("pump: epoll_ctl on fd %d: %m", fd);
                return;
        }
        *watched = want;
}

void pump_close_fd(int *fd, bool *watched)
{
        if (*fd < 0)
                return;
        pump_watch(*fd, watched, NULL, 0, false);
        close(*fd);
        *fd = -1;
        *watched = false;
}

/* SIGKILL the exec'd process and its process group (runc made it a session
 * leader), so `sh -c` leaves no child behind. Only while it has not exited:
 * its pid and group id cannot have been reused then. */
void pump_kill(struct agent_sess *s)
{
        if (s->pidfd < 0 || s->exit_seen || s->killed)
                return;
        s->killed = true;
        if (kill(-s->pid, SIGKILL) < 0 && errno != ESRCH)
                log_debug("pump: killing process group %d: %m, ignoring", (int) s->pid);
        if (pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                log_warn("pump: killing process %d: %m", (int) s->pid);
}

/* End s with an error (the first one wins). */
void pump_fail(struct agent_sess *s, int code, const char *msg)
{
        if (s->ending)
                return;
        s->ending = true;
        s->result = -code;
        free(s->msg);
        s->msg = strdup(msg);
        log_debug("session %" PRIu64 ": %s", s->id, msg);
}

static void credit(struct agent_conn *conn, uint64_t stream, size_t n)
{
        _cleanup_error_ struct uvm_error *err = NULL;

        if (n > 0 && agent_conn_stream_consumed(conn, stream, n, &err) < 0)
                log_debug("pump: crediting stream %" PRIu64 ": %s, ignoring", stream, err->msg);
}

/* Toward the host. */

static size_t window_space(const struct out_leg *o, struct agent_conn *conn)
{
        if (!o->stream)
                return AGENT_MAX_DATA; /* read and dropped: no window */
        return agent_conn_stream_room(conn, o->stream);
}

static void out_eof(struct out_leg *o)
{
        pump_close_fd(&o->fd, &o->watched);
        o->eof = true;
}

/* Read from o's fd what the window allows and send it; true if more could
 * be read right away. */
static bool out_read(struct agent_sess *s, struct out_leg *o, struct agent_conn *conn)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        size_t space = 0, max = step_max(conn);

        for (int i = 0; i < READS_PER_STEP && o->fd >= 0 && o->ready; i++) {
                ssize_t n;

                space = window_space(o, conn);
                if (space == 0)
                        break;
                n = read(o->fd, read_buf, space < max ? space : max);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        o->ready = false;
                        break;
                }
                /* EIO: a terminal whose last user went; a socket's error ends it. */
                if (n < 0 && errno != EIO && s->kind == AGENT_SESS_PORT)
                        pump_fail(s, errno, "reading from the port failed");
                if (n <= 0) {
                        out_eof(o);
                        break;
                }
                if (o->stream &&
                    agent_conn_write_stream(conn, o->stream, read_buf, (size_t) n, 0, &err) < 0) {
                        pump_fail(s, -uvm_error_code(err), err->msg); /* the host is gone */
                        break;
                }
        }
        space = o->fd >= 0 ? window_space(o, conn) : 0;
        pump_watch(o->fd, &o->watched, &o->ready, EPOLLIN, !o->ready && space > 0);
        return o->fd >= 0 && o->ready && space > 0;
}

/* Send what was tee'd to o, as far as the window allows. */
static void out_send_buf(struct agent_sess *s, struct out_leg *o, struct agent_conn *conn)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        size_t sent = 0, max = step_max(conn);

        while (sent < o->len) {
                size_t n = o->len - sent, space = window_space(o, conn);

                n = n < space ? n : space;
                n = n < max ? n : max;
                if (n == 0)
                        break;
                if (agent_conn_write_stream(conn, o->stream, o->buf + sent, n, 0, &err) < 0) {
                        pump_fail(s, -uvm_error_code(err), err->msg); /* the host is gone */
                        break;
                }
                sent += n;
        }
        if (sent == 0)
                return;
        memmove(o->buf, o->buf + sent, o->len - sent);
        o->len -= sent;
}

/* One output: move bytes, and close the stream once it ended and is empty. */
static bool out_step(struct agent_sess *s, struct out_leg *o, struct agent_conn *conn)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        bool more = false;

        if (o->closed)
                return false;
        if (o->tee)
                out_send_buf(s, o, conn);
        else
                more = out_read(s, o, conn);
        if (o->eof && o->len == 0) {
                if (o->stream && agent_conn_close_stream(conn, o->stream, &err) < 0)
                        log_debug("pump: closing stream %" PRIu64 ": %s", o->stream, err->msg);
                o->closed = true;
        }
        return more;
}

/* Stop an output now: what is buffered or unread is dropped. */
static void out_cut(struct out_leg *o)
{
        out_eof(o);
        o->len = 0;
}

/* From the host. */

static void in_pop(struct in_leg *in)
{
        struct chunk *c = in->head;

        in->head = c->next;
        if (!in->head)
                in->tail = NULL;
        free(c);
}

/* Drop the queue (crediting it: the host's writer must not wait for bytes
 * nobody will write) and close the fd. */
void pump_in_drop(struct in_leg *in, struct agent_conn *conn)
{
        while (in->head) {
                if (!in->head->close && conn)
                        credit(conn, in->stream, in->head->len - in->head->off);
                in_pop(in);
        }
        pump_close_fd(&in->fd, &in->watched);
        in->done = true;
}

/* The terminal's end-of-file character, which is what closing a terminal's
 * input means (it cannot be closed: it is also the output). */
static char veof_char(int fd)
{
        struct termios t;

        return tcgetattr(fd, &t) == 0 ? (char) t.c_cc[VEOF] : 4;
}

/* An attach's stdin ended (closed, or the attach did): with StdinOnce the
 * container's stdin closes, as containerd does; not a terminal's, which an
 * interactive shell would take for its end when someone merely detaches. */
static void attach_stdin_end(struct agent_sess *s)
{
        if (s->kind == AGENT_SESS_ATTACH && s->stdin_once && s->console_fd < 0 && s->in.stream &&
            !s->in.done)
                pump_ctr_stdin_close(s->ctr_id);
}

/* The host closed its stream: 0, or -EAGAIN to try again when writable. */
static int in_close_action(struct agent_sess *s, struct agent_conn *conn)
{
        struct in_leg *in = &s->in;
        char eof;

        if (s->kind == AGENT_SESS_EXEC && s->console_fd >= 0) {
                eof = veof_char(s->console_fd);
                if (write(in->fd, &eof, 1) < 0 && (errno == EAGAIN || errno == EINTR))
                        return -EAGAIN;
        }
        if (s->kind == AGENT_SESS_PORT && shutdown(in->fd, SHUT_WR) < 0)
                log_debug("pump: session %" PRIu64 ": shutdown: %m, ignoring", s->id);
        attach_stdin_end(s);
        pump_in_drop(in, conn);
        return 0;
}

/* Write queued host bytes, crediting them as they go. */
static void in_step(struct agent_sess *s, struct agent_conn *conn)
{
        struct in_leg *in = &s->in;

        while (in->head && in->fd >= 0 && in->ready) {
                struct chunk *c = in->head;
                ssize_t n;

                if (c->close) {
                        if (in_close_action(s, conn) < 0)
                                in->ready = false;
                        continue;
                }
                n = write(in->fd, c->data + c->off, c->len - c->off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        in->ready = false;
                        break;
                }
                if (n < 0) {
                        /* The process closed its stdin: later bytes are dropped. */
                        if (s->kind == AGENT_SESS_PORT)
                                pump_fail(s, errno, "writing to the port failed");
                        pump_in_drop(in, conn);
                        break;
                }
                c->off += (size_t) n;
                credit(conn, in->stream, (size_t) n);
                if (c->off == c->len)
                        in_pop(in);
        }
        pump_watch(in->fd, &in->watched, &in->ready, EPOLLOUT, !in->ready && in->head != NULL);
}

/* Ends. */

static void notify_end(struct agent_sess *s, struct agent_conn *conn)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_error_ struct uvm_error *err = NULL;

        json_object_object_add(o, "ContainerId", json_object_new_string(s->ctr_id));
        json_object_object_add(o, "ProcessId", json_object_new_uint64(s->id));
        if (s->kind == AGENT_SESS_EXEC)
                json_object_object_add(o, "ExitCode",
                                       json_object_new_int(agent_exit_code(s->status)));
        json_object_object_add(o, "Result", json_object_new_int(s->result));
        json_object_object_add(o, "ErrorMessage", json_object_new_string(s->msg ? s->msg : ""));
        pump_in_drop(&s->in, conn); /* host bytes nobody will read are credited */
        if (agent_conn_notify(conn, o, &err) < 0)
                log_debug("session %" PRIu64 ": end notification: %s", s->id, err->msg);
        log_debug("session %" PRIu64 " ended: %d%s%s", s->id, s->result, s->msg ? ": " : "",
                  s->msg ? s->msg : "");
        s->finished = true;
}

/* The process exited: learn its status from the reaper; true to look again
 * soon. */
static bool exec_exit(struct agent_sess *s, long now)
{
        if (!s->exit_seen)
                return false;
        pump_watch(s->pidfd, &s->pid_watched, NULL, 0, false);
        if (!s->exit_ms)
                s->exit_ms = now;
        if (!s->reaped && agent_reap_wait(s->pid, 0, &s->status) == 0)
                s->reaped = true;
        if (!s->reaped && now - s->exit_ms > REAP_MAX_MS) {
                log_warn("session %" PRIu64 ": the exit status of %d is lost, reporting 255", s->id,
                         (int) s->pid);
                s->status = 255 << 8;
                s->reaped = true;
        }
        return !s->reaped;
}

/* After an exit, output still comes until every holder of the pipes is gone;
 * a leftover child may keep them forever, so once AGENT_EXIT_HOLD_MS passed
 * an output ends as soon as it has nothing to read. True while waiting. */
static bool exit_hold(struct agent_sess *s, long now)
{
        bool over = now - s->exit_ms >= AGENT_EXIT_HOLD_MS, waiting = false;

        if (!s->exit_ms)
                return false;
        for (int i = 0; i < 2; i++) {
                struct out_leg *o = &s->out[i];

                if (o->eof)
                        continue;
                if (over && (o->tee || !o->ready))
                        out_eof(o);
                else
                        waiting = true;
        }
        return waiting;
}

static bool sess_done(const struct agent_sess *s)
{
        bool outs = s->out[0].closed && s->out[1].closed;

        switch (s->kind) {
        case AGENT_SESS_EXEC:
                return outs && s->reaped;
        case AGENT_SESS_ATTACH:
                return outs && (!s->in.stream || s->in.done || s->ctr_exited);
        default:
                return outs && s->in.done;
        }
}

/* Step a live session; true if it wants to be looked at again soon, and
 * *more if it could read on right away. */
static bool sess_step(struct agent_sess *s, long now, bool *more)
{
        struct agent_conn *conn = s->conn;
        bool timer = false;

        if (s->ending) {
                pump_kill(s);
                out_cut(&s->out[0]);
                out_cut(&s->out[1]);
                attach_stdin_end(s);
                pump_in_drop(&s->in, conn);
        } else {
                timer = exit_hold(s, now);
        }
        for (int i = 0; i < 2; i++)
                *more |= out_step(s, &s->out[i], conn);
        if (s->ctr_exited && !s->in.done)
                pump_in_drop(&s->in, conn);
        in_step(s, conn);
        if (sess_done(s))
                notify_end(s, conn);
        return timer;
}

/* One pass over every session (lock held); the epoll timeout for the next. */
static int pump_step(void)
{
        long now = pump_now_ms();
        bool timer = false, more = false;

        for (struct agent_sess *s = pump.list; s; s = s->next) {
                if (!s->abandoned && s->held && now - s->added_ms > HELD_MAX_MS) {
                        log_warn("session %" PRIu64 ": its response never went out, dropping it",
                                 s->id);
                        pump_abandon(s);
                }
                if (s->abandoned) {
                        attach_stdin_end(s); /* its host went: the attach ended */
                        s->finished = true;
                        continue;
                }
                if (s->kind == AGENT_SESS_EXEC)
                        timer |= exec_exit(s, now);
                if (s->held)
                        timer = true;
                else
                        timer |= sess_step(s, now, &more);
        }
        for (struct agent_sess **p = &pump.list; *p;) {
                struct agent_sess *s = *p;

                if (s->finished) {
                        *p = s->next;
                        pump_sess_destroy(s);
                } else {
                        p = &s->next;
                }
        }
        return more ? 0 : timer ? RETRY_MS : -1;
}

static void *pump_main(void *arg)
{
        int timeout = -1;

        for (;;) {
                struct epoll_event ev[32];
                int n = epoll_wait(pump.epfd, ev, ARRAY_SIZE(ev), timeout);
                uint64_t v;

                if (n < 0 && errno != EINTR) {
                        log_error("pump: epoll_wait: %m");
                        n = 0;
                }
                pthread_mutex_lock(&pump.lock);
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.ptr)
                                *(bool *) ev[i].data.ptr = true;
                        else if (read(pump.wake_fd, &v, sizeof(v)) < 0)
                                log_debug("pump: reading the wake fd: %m, ignoring");
                }
                timeout = pump_step();
                pthread_mutex_unlock(&pump.lock);
        }
        return NULL;
}

int agent_pump_start(struct uvm_error **err)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

        pump.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (pump.epfd < 0)
                return uvm_error_set(err, errno, "epoll_create1: %m");
        pump.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (pump.wake_fd < 0)
                return uvm_error_set(err, errno, "eventfd: %m");
        if (epoll_ctl(pump.epfd, EPOLL_CTL_ADD, pump.wake_fd, &ev) < 0)
                return uvm_error_set(err, errno, "epoll_ctl: %m");
        return agent_thread_start(pump_main, NULL, err);
}

/* Bridge callbacks. */

void agent_pump_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len)
{
        struct chunk *c = malloc(sizeof(*c) + len);
        struct agent_sess *s;
        bool queued = false;

        pthread_mutex_lock(&pump.lock);
        s = pump_find_in(stream);
        if (s && s->conn == conn && !s->abandoned && !s->ending && !s->in.done) {
                if (s->in.fd < 0 && !data)
                        s->in.done = true;
                else if (c && s->in.fd >= 0) {
                        *c = (struct chunk){.len = data ? len : 0, .close = !data};
                        if (data)
                                memcpy(c->data, data, len);
                        if (s->in.tail)
                                s->in.tail->next = c;
                        else
                                s->in.head = c;
                        s->in.tail = c;
                        queued = true;
                }
        }
        pthread_mutex_unlock(&pump.lock);
        if (queued) {
                agent_pump_kick();
                return;
        }
        free(c);
        /* Nobody takes these bytes (an ended session, or out of memory). */
        if (data)
                credit(conn, stream, len);
}

void agent_pump_tee(uint64_t src, const void *data, size_t len)
{
        bool changed = false;

        pthread_mutex_lock(&pump.lock);
        for (struct agent_sess *s = pump.list; s; s = s->next)
                for (int i = 0; i < 2 && !s->abandoned && !s->ending; i++) {
                        struct out_leg *o = &s->out[i];

                        if (!o->tee || o->src != src || o->eof)
                                continue;
                        changed = true;
                        if (!data)
                                o->eof = true;
                        else if (pump_buf_append(o, data, len) < 0)
                                pump_fail(s, ENOBUFS,
                                          "attach fell more than 1 MiB behind the container's "
                                          "output: ended so the container's log is not held up");
                }
        pthread_mutex_unlock(&pump.lock);
        if (changed)
                agent_pump_kick();
}
