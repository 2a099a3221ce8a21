/* One upgraded client connection: the I/O loop, the ios and their events
 * (sconn.h). */

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/platform.h"
#include "common/sock.h"
#include "stream/sconn-internal.h"
#include "stream/snet.h"

#define READ_CHUNK (64u << 10)
#define FLUSH_MS 5000 /* at the end: how long the client gets to take the rest */
/* Output of at least OUTPUT_BULK bytes is queued with room for more (four
 * times as much, up to OUTPUT_CAP): while the loop is behind, the next
 * output of the same io and stream is appended to it rather than queued on
 * its own, so the protocol frames it once (one WebSocket message or SPDY
 * DATA frame for up to OUTPUT_CAP bytes, where the bridge brings 64 KiB at
 * a time), and its client parses fewer, larger messages. No copy more: the
 * bytes are copied into the queue either way. */
#define OUTPUT_BULK (16u << 10)
#define OUTPUT_CAP (256u << 10)
/* Events of OUTPUT_CAP kept for reuse (c->spare): malloc would hand such
 * blocks back to the kernel when freed and fault them in again on the next
 * output. At most SPARE_MAX * OUTPUT_CAP (1 MiB) stays per connection
 * until it ends. */
#define SPARE_MAX 4

struct qevent {
        struct sevent ev;
        struct sio *io;
        struct qevent *next;
        char *reason;
        size_t cap; /* bytes data[] has room for */
        uint8_t data[];
};

struct sio {
        struct sconn *c;
        void *tag;
        struct stream_io *bio;
        struct stream_sink sink;
        uint8_t *in; /* input the backend has not taken */
        size_t in_len;
        bool close_write; /* after in drained */
        bool in_gone;     /* write said EPIPE */
        bool done;        /* SEV_DONE queued: no more events */
        struct sio *next;
};

static long mono_ms(void)
{
        return (long) (plat_now_ns() / 1000000u);
}
const struct stream_backend *sconn_backend(struct sconn *c)
{
        return c->backend;
}

const struct token_request *sconn_request(struct sconn *c)
{
        return c->req;
}

const struct http_request *sconn_http(struct sconn *c)
{
        return c->http;
}

int sconn_send(struct sconn *c, const void *buf, size_t len)
{
        if (c->out_len + len > c->out_cap) {
                size_t cap = c->out_cap ? c->out_cap : 16384;
                uint8_t *p;

                while (cap < c->out_len + len)
                        cap *= 2;
                p = realloc(c->out, cap);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, buf, len);
        c->out_len += len;
        return 0;
}

int sconn_send_frame(struct sconn *c, const void *head, size_t head_len, const void *data,
                     size_t len)
{
        size_t done = 0;
        int r;

        if (sconn_out_pending(c) == 0 && c->io->write2 && len > 0) {
                ssize_t n = c->io->write2(c->io, head, head_len, data, len);

                done = n > 0 ? (size_t) n : 0; /* a failure shows in flush_out */
        }
        if (done < head_len) {
                r = sconn_send(c, (const uint8_t *) head + done, head_len - done);
                if (r < 0)
                        return r;
                done = head_len;
        }
        done -= head_len;
        return done < len ? sconn_send(c, (const uint8_t *) data + done, len - done) : 0;
}

size_t sconn_out_pending(struct sconn *c)
{
        return c->out_len - c->out_off;
}

void sconn_deadline(struct sconn *c, unsigned ms)
{
        c->deadline = ms ? mono_ms() + ms : 0;
}

/* --- events, queued by the sink on the backend's thread --- */

void sconn_wake(struct sconn *c)
{
        snet_event_raise(c->ev);
}

/* The newest queued event, if it is output of io's stream with room for
 * len more bytes. Lock held. */
static struct qevent *tail_output(struct sconn *c, struct sio *io, int stream, size_t len)
{
        struct qevent *q;

        if (!c->head)
                return NULL;
        q = (struct qevent *) ((char *) c->tail - offsetof(struct qevent, next));
        if (q->io != io || q->ev.kind != SEV_OUTPUT || q->ev.stream != stream || q->ev.len == 0 ||
            q->cap - q->ev.len < len)
                return NULL;
        return q;
}

/* Output appended to the newest queued event, if it fits there: true. */
static bool push_append(struct sio *io, int stream, const void *data, size_t len)
{
        struct sconn *c = io->c;
        struct qevent *q;

        if (len == 0)
                return false;
        pthread_mutex_lock(&c->lock);
        q = io->done ? NULL : tail_output(c, io, stream, len);
        if (q) {
                memcpy(q->data + q->ev.len, data, len);
                q->ev.len += len;
        }
        pthread_mutex_unlock(&c->lock);
        return q != NULL; /* the queue is not empty: the loop was woken for it */
}

/* Room for an event of len bytes: bulk output gets room for up to three
 * more such pieces (at most OUTPUT_CAP), so what is allocated stays within
 * four times the bytes the bridge's window lets come. */
static size_t event_cap(const struct sevent *ev, size_t len)
{
        if (ev->kind != SEV_OUTPUT || len < OUTPUT_BULK || len >= OUTPUT_CAP)
                return len;
        return len < OUTPUT_CAP / 4 ? 4 * len : OUTPUT_CAP;
}

static void push(struct sio *io, const struct sevent *ev, const void *data, size_t len)
{
        struct sconn *c = io->c;
        size_t cap = event_cap(ev, len);
        struct qevent *q = NULL;
        bool was_empty;

        if (cap == OUTPUT_CAP) {
                pthread_mutex_lock(&c->lock);
                if ((q = c->spare)) {
                        c->spare = q->next;
                        c->n_spare--;
                }
                pthread_mutex_unlock(&c->lock);
        }
        if (!q) /* not calloc: the data part is written over at once */
                q = malloc(sizeof(*q) + cap);
        if (q)
                *q = (struct qevent){.cap = cap};
        pthread_mutex_lock(&c->lock);
        if (!q || io->done) {
                /* Out of memory: the io cannot go on; say so once. */
                if (!q && !io->done && (q = calloc(1, sizeof(*q)))) {
                        q->ev = (struct sevent){.kind = SEV_DONE, .code = -ENOMEM};
                        io->done = true;
                } else {
                        free(q);
                        q = NULL;
                }
        } else {
                q->ev = *ev;
                if (len)
                        memcpy(q->data, data, len);
                q->ev.data = len ? q->data : NULL;
                if (ev->reason && (q->reason = strdup(ev->reason)))
                        q->ev.reason = q->reason;
                if (ev->kind == SEV_DONE)
                        io->done = true;
        }
        was_empty = !c->head;
        if (q) {
                q->io = io;
                *c->tail = q;
                c->tail = &q->next;
        }
        pthread_mutex_unlock(&c->lock);
        /* A queue that held events was woken for already: the loop takes
         * every event it can in one go (and wakes itself for those it
         * leaves, once the client took some output). */
        if (was_empty)
                sconn_wake(c);
}

static void sink_output(void *data, int stream, const void *buf, size_t len)
{
        if (!push_append(data, stream, buf, len))
                push(data, &(struct sevent){.kind = SEV_OUTPUT, .stream = stream, .len = len}, buf,
                     len);
}

static void sink_writable(void *data)
{
        push(data, &(struct sevent){.kind = SEV_WRITABLE}, NULL, 0);
}

static void sink_done(void *data, int code, const char *reason)
{
        push(data, &(struct sevent){.kind = SEV_DONE, .code = code, .reason = reason}, NULL, 0);
}

/* Free q or keep it for reuse. Lock held. */
static void qevent_free_locked(struct sconn *c, struct qevent *q)
{
        free(q->reason);
        if (q->cap == OUTPUT_CAP && c->n_spare < SPARE_MAX) {
                q->next = c->spare;
                c->spare = q;
                c->n_spare++;
        } else {
                free(q);
        }
}

static void qevent_free(struct sconn *c, struct qevent *q)
{
        pthread_mutex_lock(&c->lock);
        qevent_free_locked(c, q);
        pthread_mutex_unlock(&c->lock);
}

/* --- ios --- */

struct sio *sio_new(struct sconn *c, void *tag)
{
        struct sio *io = calloc(1, sizeof(*io));

        if (!io)
                return NULL;
        io->c = c;
        io->tag = tag;
        io->sink = (struct stream_sink){io, sink_output, sink_writable, sink_done};
        io->next = c->ios;
        c->ios = io;
        return io;
}

const struct stream_sink *sio_sink(struct sio *io)
{
        return &io->sink;
}

void sio_attach(struct sio *io, struct stream_io *bio)
{
        io->bio = bio;
}

void *sio_tag(struct sio *io)
{
        return io->tag;
}

/* Hand queued input to the backend as far as it takes it. */
static int sio_flush_in(struct sio *io)
{
        struct sconn *c = io->c;
        int r;

        while (io->bio && io->in_len > 0) {
                r = c->backend->write(io->bio, io->in, io->in_len);
                if (r < 0) {
                        c->in_queued -= io->in_len;
                        io->in_len = 0;
                        io->in_gone = true;
                        return r;
                }
                if (r == 0)
                        return 0;
                memmove(io->in, io->in + r, io->in_len - (size_t) r);
                io->in_len -= (size_t) r;
                c->in_queued -= (size_t) r;
        }
        if (io->bio && io->in_len == 0 && io->close_write) {
                io->close_write = false;
                return c->backend->close_write(io->bio);
        }
        return 0;
}

int sio_write(struct sio *io, const void *buf, size_t len)
{
        uint8_t *p;

        if (io->in_gone)
                return -EPIPE;
        if (len == 0)
                return 0;
        p = realloc(io->in, io->in_len + len);
        if (!p)
                return -ENOMEM;
        io->in = p;
        memcpy(io->in + io->in_len, buf, len);
        io->in_len += len;
        io->c->in_queued += len;
        return sio_flush_in(io);
}

int sio_close_write(struct sio *io)
{
        io->close_write = true;
        return io->in_gone ? 0 : sio_flush_in(io);
}

int sio_resize(struct sio *io, unsigned rows, unsigned cols)
{
        return io->bio ? io->c->backend->resize(io->bio, rows, cols) : -ENOTCONN;
}

void sio_close(struct sio *io)
{
        struct sconn *c = io->c;
        struct qevent **pq;

        if (io->bio)
                c->backend->close(io->bio); /* no sink call after this */
        pthread_mutex_lock(&c->lock);
        for (pq = &c->head; *pq;) {
                struct qevent *q = *pq;

                if (q->io == io) {
                        *pq = q->next;
                        qevent_free_locked(c, q);
                } else {
                        pq = &q->next;
                }
        }
        c->tail = &c->head;
        while (*c->tail)
                c->tail = &(*c->tail)->next;
        pthread_mutex_unlock(&c->lock);
        for (struct sio **p = &c->ios; *p; p = &(*p)->next)
                if (*p == io) {
                        *p = io->next;
                        break;
                }
        c->in_queued -= io->in_len;
        free(io->in);
        free(io);
}

/* --- the loop --- */

static struct qevent *pop(struct sconn *c)
{
        struct qevent *q;

        pthread_mutex_lock(&c->lock);
        q = c->head;
        if (q) {
                c->head = q->next;
                if (!c->head)
                        c->tail = &c->head;
        }
        pthread_mutex_unlock(&c->lock);
        return q;
}

static bool io_alive(struct sconn *c, struct sio *io)
{
        for (struct sio *i = c->ios; i; i = i->next)
                if (i == io)
                        return true;
        return false;
}

/* Pass queued events on while the client keeps up. */
static int run_events(struct sconn *c)
{
        struct qevent *q;
        int r = 0;

        snet_event_clear(c->ev);
        while (r >= 0 && sconn_out_pending(c) < SCONN_OUT_HIGH && !c->proto->finished(c->p) &&
               (q = pop(c))) {
                struct sio *io = q->io;

                if (!io_alive(c, io)) {
                        qevent_free(c, q);
                        continue;
                }
                if (q->ev.kind == SEV_WRITABLE) {
                        r = sio_flush_in(io);
                        if (r == -EPIPE)
                                r = 0; /* the protocol hears of it from the io's end */
                } else {
                        r = c->proto->event(c->p, io, &q->ev);
                        /* In the client's buffer now: the backend may send more. */
                        if (r >= 0 && q->ev.kind == SEV_OUTPUT && q->ev.len > 0 &&
                            io_alive(c, io) && io->bio)
                                c->backend->consumed(io->bio, q->ev.stream, q->ev.len);
                }
                qevent_free(c, q);
        }
        /* What is left waits for the client to take some output: sconn_run
         * wakes the loop then (a wake now would spin while it is full). */
        return r;
}

static bool queued(struct sconn *c)
{
        bool q;

        pthread_mutex_lock(&c->lock);
        q = c->head != NULL;
        pthread_mutex_unlock(&c->lock);
        return q;
}

static int flush_out(struct sconn *c)
{
        while (sconn_out_pending(c) > 0) {
                ssize_t n = c->io->write(c->io, c->out + c->out_off, sconn_out_pending(c));

                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                c->out_off += (size_t) n;
        }
        c->out_off = c->out_len = 0;
        return 0;
}

static int read_in(struct sconn *c)
{
        size_t used = 0;
        ssize_t n;
        int r;

        if (c->in_len == c->in_cap) {
                uint8_t *p = realloc(c->in, c->in_cap + READ_CHUNK);

                if (!p)
                        return -ENOMEM;
                c->in = p;
                c->in_cap += READ_CHUNK;
        }
        n = c->io->read(c->io, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == -EAGAIN)
                return 0;
        if (n <= 0) {
                c->eof = true;
                return c->proto->eof(c->p);
        }
        c->in_len += (size_t) n;
        do {
                r = c->proto->input(c->p, c->in, c->in_len, &used);
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
        } while (r >= 0 && used > 0 && c->in_len > 0);
        return r;
}

void sconn_flush(struct sconn *c)
{
        /* What is queued for the client still goes, within FLUSH_MS. */
        for (long end = mono_ms() + FLUSH_MS; sconn_out_pending(c) > 0 && mono_ms() < end;) {
                bool raised;
                int ready;

                if (flush_out(c) < 0 ||
                    snet_wait(c->io->fd, SNET_OUT, NULL, 100, &ready, &raised) < 0)
                        break;
        }
}

int sconn_run(struct sconn *c)
{
        int r = 0;

        /* What came with the upgrade request belongs to the protocol. */
        if (c->in_len > 0) {
                size_t used = 0;

                do {
                        r = c->proto->input(c->p, c->in, c->in_len, &used);
                        memmove(c->in, c->in + used, c->in_len - used);
                        c->in_len -= used;
                } while (r >= 0 && used > 0 && c->in_len > 0);
        }
        while (r >= 0 && !c->proto->finished(c->p) && !c->stop) {
                long now = mono_ms(), wait = -1;
                int events = 0, ready = 0;
                bool raised = false;

                if (!c->eof && c->in_queued < SCONN_IN_HIGH)
                        events |= SNET_IN;
                if (sconn_out_pending(c) > 0 || c->io->wants_write(c->io))
                        events |= SNET_OUT;
                if (c->deadline)
                        wait = c->deadline > now ? c->deadline - now : 0;
                if (c->io->pending(c->io) > 0)
                        wait = 0;
                r = snet_wait(c->io->fd, events, c->ev, (int) (wait > 1000 ? 1000 : wait), &ready,
                              &raised);
                if (r == -EINTR)
                        r = 0;
                if (r < 0)
                        break;
                if (ready & SNET_IN || c->io->pending(c->io) > 0)
                        r = read_in(c);
                if (r >= 0 && raised)
                        r = run_events(c);
                if (r >= 0)
                        r = flush_out(c);
                if (r >= 0 && sconn_out_pending(c) < SCONN_OUT_HIGH && queued(c))
                        sconn_wake(c); /* room again for events run_events left */
                if (r >= 0 && c->deadline && mono_ms() >= c->deadline) {
                        c->deadline = 0;
                        r = c->proto->timeout(c->p);
                }
        }
        sconn_flush(c);
        if (r < 0 && r != -ECONNRESET && r != -EPIPE)
                log_debug("stream: session ended: %s", sock_strerror(-r));
        return r;
}

int sconn_init(struct sconn *c)
{
        int r = snet_event_new(&c->ev);

        if (r < 0)
                return r;
        pthread_mutex_init(&c->lock, NULL);
        c->tail = &c->head;
        return 0;
}

void sconn_fini(struct sconn *c)
{
        struct qevent *q;

        if (c->proto && c->p)
                c->proto->free_(c->p);
        while (c->ios)
                sio_close(c->ios);
        while ((q = pop(c)))
                qevent_free(c, q);
        while ((q = c->spare)) {
                c->spare = q->next;
                free(q);
        }
        c->ev = snet_event_free(c->ev);
        pthread_mutex_destroy(&c->lock);
        free(c->in);
        free(c->out);
}
