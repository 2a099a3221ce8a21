/* Container output: one thread polls every container's stdout/stderr pipe,
 * buffers up to AGENT_OUT_BUFFER bytes per stream and writes them to the host
 * on the stream's id without ever blocking on a slow stream. Written bytes
 * stay buffered until the host credits them, so when the connection is
 * replaced (uvmd restarted) whatever the old host never consumed is sent
 * again, in order, before anything newer. The same thread sends the exit
 * notifications, so they are re-sent right after a new host negotiates.
 * What it reads is also copied to the container's attaches (agent_pump_tee),
 * which never hold the log up. */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/log.h"

#define READ_CHUNK (16u << 10)
#define RETRY_MS 20 /* waiting for credit: there is no callback, so look again soon */
/* A handler cannot queue anything after its own response, so once a host
 * negotiates we hold exits and output back this long for the Negotiate
 * response to go first. */
#define NEGOTIATE_GRACE_MS 20

struct stream {
        uint64_t id;
        int fd; /* pipe read end, -1 after EOF */
        char *buf;
        size_t len, cap;
        size_t sent; /* buf[0, sent): written on the current connection, not credited */
        uint64_t dropped;
        bool eof, close_sent;
        struct stream *next;
};

static struct {
        pthread_mutex_t conn_lock; /* guards conn, negotiated, negotiated_conn, send_after */
        struct agent_conn *conn;
        bool negotiated;
        /* A connection's Negotiate may be served before the main thread
         * installs it: remember which one negotiated. */
        struct agent_conn *negotiated_conn;
        long send_after; /* CLOCK_MONOTONIC ms */

        pthread_mutex_t lock; /* guards streams and every stream's fields */
        struct stream *streams;

        int epfd, wake_fd;
        bool stop; /* under lock */
} out = {
        .conn_lock = PTHREAD_MUTEX_INITIALIZER,
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .epfd = -1,
        .wake_fd = -1,
};

static long mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void agent_out_kick(void)
{
        uint64_t one = 1;

        if (out.wake_fd >= 0 && write(out.wake_fd, &one, sizeof(one)) < 0)
                log_debug("out: waking the output thread: %m, ignoring");
}

static struct stream *stream_find(uint64_t id, struct stream ***ret_link)
{
        for (struct stream **p = &out.streams; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        if (ret_link)
                                *ret_link = p;
                        return *p;
                }
        return NULL;
}

int agent_out_add(uint64_t id, int fd, struct uvm_error **err)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = id};
        struct stream *s = calloc(1, sizeof(*s));

        if (!s) {
                if (fd >= 0)
                        close(fd);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s->id = id;
        s->fd = fd;
        s->eof = fd < 0;
        pthread_mutex_lock(&out.lock);
        if (fd >= 0 && epoll_ctl(out.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                pthread_mutex_unlock(&out.lock);
                close(fd);
                free(s);
                return uvm_error_set(err, errno, "epoll_ctl: %m");
        }
        s->next = out.streams;
        out.streams = s;
        pthread_mutex_unlock(&out.lock);
        return 0;
}

static void stream_close_fd(struct stream *s)
{
        if (s->fd < 0)
                return;
        epoll_ctl(out.epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        s->eof = true;
        agent_pump_tee(s->id, NULL, 0); /* its attaches end */
}

void agent_out_remove(uint64_t id)
{
        struct stream **link = NULL, *s;

        pthread_mutex_lock(&out.lock);
        s = stream_find(id, &link);
        if (s) {
                *link = s->next;
                stream_close_fd(s);
                free(s->buf);
                free(s);
        }
        pthread_mutex_unlock(&out.lock);
}

uint64_t agent_out_dropped(uint64_t id)
{
        struct stream *s;
        uint64_t n;

        pthread_mutex_lock(&out.lock);
        s = stream_find(id, NULL);
        n = s ? s->dropped : 0;
        pthread_mutex_unlock(&out.lock);
        return n;
}

bool agent_out_eof(uint64_t id)
{
        struct stream *s;
        bool eof;

        pthread_mutex_lock(&out.lock);
        s = stream_find(id, NULL);
        eof = !s || s->eof;
        pthread_mutex_unlock(&out.lock);
        return eof;
}

bool agent_out_drained(uint64_t id)
{
        struct stream *s;
        bool drained;

        pthread_mutex_lock(&out.lock);
        s = stream_find(id, NULL);
        drained = !s || (s->eof && s->close_sent);
        pthread_mutex_unlock(&out.lock);
        return drained;
}

/* Keep what fits in the stream's bound; count the rest as dropped. */
static void stream_append(struct stream *s, const char *data, size_t n)
{
        size_t keep = n, want;

        if (keep > AGENT_OUT_BUFFER - s->len)
                keep = AGENT_OUT_BUFFER - s->len;
        if (s->len + keep > s->cap) {
                char *p;

                want = s->cap ? s->cap : 4096;
                while (want < s->len + keep)
                        want *= 2;
                if (want > AGENT_OUT_BUFFER)
                        want = AGENT_OUT_BUFFER;
                p = realloc(s->buf, want);
                if (!p)
                        keep = s->cap - s->len;
                else {
                        s->buf = p;
                        s->cap = want;
                }
        }
        memcpy(s->buf + s->len, data, keep);
        s->len += keep;
        if (keep < n && s->dropped == 0)
                log_warn("out: stream %" PRIu64 " buffer full, dropping output", s->id);
        s->dropped += n - keep;
}

/* Drain what the pipe has now (non-blocking; lock held). */
static void stream_read(struct stream *s)
{
        char chunk[READ_CHUNK];

        for (int i = 0; i < 16 && s->fd >= 0; i++) {
                ssize_t n = read(s->fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        stream_close_fd(s);
                        return;
                }
                stream_append(s, chunk, (size_t) n);
                agent_pump_tee(s->id, chunk, (size_t) n);
        }
}

/* Forget the bytes the host has credited (they reached their consumer). */
static void stream_trim(struct stream *s, struct agent_conn *conn)
{
        size_t outstanding = s->close_sent ? 0 : agent_conn_stream_outstanding(conn, s->id);
        size_t done;

        if (s->sent <= outstanding)
                return;
        done = s->sent - outstanding;
        memmove(s->buf, s->buf + done, s->len - done);
        s->len -= done;
        s->sent = outstanding;
        if (s->len == 0 && s->cap > (64u << 10)) {
                free(s->buf);
                s->buf = NULL;
                s->cap = 0;
        }
}

/* Write what the window allows; true if bytes wait for credit. */
static bool stream_flush(struct stream *s, struct agent_conn *conn)
{
        _cleanup_error_ struct uvm_error *err = NULL;

        stream_trim(s, conn);
        while (s->sent < s->len) {
                size_t space = AGENT_STREAM_WINDOW - agent_conn_stream_outstanding(conn, s->id);
                size_t n = s->len - s->sent;

                if (space == 0)
                        return true;
                n = n < space ? n : space;
                n = n < AGENT_MAX_DATA ? n : AGENT_MAX_DATA;
                /* n fits the window, so this queues all of it or nothing. */
                if (agent_conn_write_stream(conn, s->id, s->buf + s->sent, n, 0, &err) < 0) {
                        log_debug("out: stream %" PRIu64 ": %s", s->id, err->msg);
                        return false;
                }
                s->sent += n;
        }
        if (s->eof && !s->close_sent && s->len == s->sent) {
                if (agent_conn_close_stream(conn, s->id, &err) < 0)
                        return false;
                s->close_sent = true;
        }
        return false;
}

/* Send exits and output on the negotiated connection; true to retry soon. */
static bool flush_all(void)
{
        bool retry = false;

        pthread_mutex_lock(&out.conn_lock);
        if (out.conn && out.negotiated && mono_ms() < out.send_after) {
                retry = true;
        } else if (out.conn && out.negotiated) {
                /* Output first: the host sees a container's exit after its output. */
                pthread_mutex_lock(&out.lock);
                for (struct stream *s = out.streams; s; s = s->next)
                        retry |= stream_flush(s, out.conn);
                pthread_mutex_unlock(&out.lock);
                retry |= agent_ctr_send_exits(out.conn);
        }
        pthread_mutex_unlock(&out.conn_lock);
        return retry;
}

static void *out_main(void *arg)
{
        bool retry = false;

        for (;;) {
                struct epoll_event ev[16];
                int n = epoll_wait(out.epfd, ev, ARRAY_SIZE(ev), retry ? RETRY_MS : -1);
                bool stop;

                if (n < 0 && errno != EINTR) {
                        log_error("out: epoll_wait: %m");
                        n = 0;
                }
                pthread_mutex_lock(&out.lock);
                for (int i = 0; i < n; i++) {
                        uint64_t v;
                        struct stream *s;

                        if (ev[i].data.u64 == 0) {
                                if (read(out.wake_fd, &v, sizeof(v)) < 0)
                                        log_debug("out: reading the wake fd: %m, ignoring");
                                continue;
                        }
                        s = stream_find(ev[i].data.u64, NULL);
                        if (s)
                                stream_read(s);
                }
                stop = out.stop;
                pthread_mutex_unlock(&out.lock);
                if (stop)
                        return NULL;
                retry = flush_all();
        }
}

int agent_out_start(struct uvm_error **err)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};

        out.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (out.epfd < 0)
                return uvm_error_set(err, errno, "epoll_create1: %m");
        out.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (out.wake_fd < 0)
                return uvm_error_set(err, errno, "eventfd: %m");
        if (epoll_ctl(out.epfd, EPOLL_CTL_ADD, out.wake_fd, &ev) < 0)
                return uvm_error_set(err, errno, "epoll_ctl: %m");
        return agent_thread_start(out_main, NULL, err);
}

struct agent_conn *agent_out_set_conn(struct agent_conn *conn)
{
        struct agent_conn *old;

        pthread_mutex_lock(&out.conn_lock);
        old = out.conn;
        out.conn = conn;
        if (!conn)
                out.negotiated_conn = NULL; /* the old one is freed next: no stale match */
        out.negotiated = conn && out.negotiated_conn == conn;
        /* The new host has seen nothing: everything the old one did not
         * credit is sent again. */
        pthread_mutex_lock(&out.lock);
        for (struct stream *s = out.streams; s; s = s->next) {
                if (old)
                        stream_trim(s, old);
                s->sent = 0;
        }
        pthread_mutex_unlock(&out.lock);
        pthread_mutex_unlock(&out.conn_lock);
        /* Sessions are the old host's alone: they end, and no longer use it. */
        agent_pump_set_conn(conn);
        return old;
}

void agent_out_negotiated(struct agent_conn *conn)
{
        pthread_mutex_lock(&out.conn_lock);
        out.negotiated_conn = conn;
        out.send_after = mono_ms() + NEGOTIATE_GRACE_MS;
        if (out.conn == conn)
                out.negotiated = true;
        pthread_mutex_unlock(&out.conn_lock);
        agent_out_kick();
}

void agent_out_stop(void)
{
        pthread_mutex_lock(&out.lock);
        out.stop = true;
        pthread_mutex_unlock(&out.lock);
        agent_out_kick();
}
