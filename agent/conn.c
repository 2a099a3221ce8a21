/* Portable: the fd goes through common/sock.h, timed waits through
 * common/cond.h (Linux and, with mingw-w64, Windows). */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/conn.h"
#include "common/cond.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sock.h"

/* A read takes up to four whole default data frames: fewer reads while
 * output streams in. Large payloads are read in place instead (read_loop). */
#define READ_CHUNK (4u * (AGENT_HEADER_SIZE + AGENT_MAX_DATA))
#define HEAD_READ (16u << 10)
/* Only a payload rest this large is read in place: with 64 KiB frames the
 * extra read per frame costs more than the copy it saves. */
#define DIRECT_MIN (64u << 10)
/* A stream write of more than one frame's bytes goes out as one batch of
 * frames, one buffer and one write: up to BATCH_FRAMES frames. Batches
 * bigger than half a frame are built in buffers of BATCH_FRAMES frames of
 * the agreed max_data, and up to FRAME_CACHE of them are kept for the next
 * batches once written: a bulk stream reuses them instead of mallocing (and
 * page-faulting in) a buffer per write. At most FRAME_CACHE batches (256
 * KiB with the default limits, 1 MiB with AGENT_BULK_MAX_DATA) stay per
 * connection. */
#define BATCH_FRAMES 2
#define FRAME_CACHE 2

struct pending_call {
        uint64_t id;
        uint32_t rpc;
        pthread_cond_t cond;
        bool done;
        int rc;                /* <0: the reader rejected the response */
        json_object *response; /* owned once done */
        struct pending_call *next;
};

struct out_frame {
        uint8_t *buf;
        size_t len, off; /* off: bytes of buf already written */
        size_t cap;      /* non-zero: buf is a batch buffer of cap bytes, kept once sent */
        struct out_frame *next;
};

struct send_stream {
        uint64_t id;
        uint32_t outstanding; /* sent and not yet credited, <= the window */
        struct send_stream *next;
};

struct recv_stream {
        uint64_t id;
        uint32_t unacked;   /* received and not yet drained by the consumer */
        uint32_t to_credit; /* drained and not yet credited back */
        struct recv_stream *next;
};

struct agent_conn {
        int fd; /* owned; non-blocking, read by the reader, written by the writer */
        struct sock_waker *waker; /* woken once the connection is closed */
        bool is_socket;
        struct agent_conn_ops ops;
        void *userdata;
        pthread_t reader, writer;
        bool reader_started, writer_started;

        pthread_mutex_t lock;        /* guards every field below */
        pthread_cond_t out_cond;     /* frames queued, a write finished, or closed */
        pthread_cond_t credit_cond;  /* credit arrived, or closed */
        pthread_cond_t workers_cond; /* a worker finished */
        bool closed;
        int close_code; /* negative errno */
        char *close_msg;
        uint64_t next_id;
        struct pending_call *calls;
        struct out_frame *out_head, *out_tail;
        bool writing;                /* a thread writes a frame to fd (the writer, or a
                                      * sender writing through: enqueue) */
        uint8_t *spare[FRAME_CACHE]; /* batch buffers for reuse */
        unsigned n_spare;
        size_t spare_size; /* bytes of each spare[] */
        struct send_stream *send;
        struct recv_stream *recv;
        unsigned n_recv;
        unsigned n_workers;
        struct agent_limits send_lim; /* what this side sends with */
        struct agent_limits recv_lim; /* what the reader accepts */
        struct agent_limits offered;  /* host: its Negotiate offer; max_data 0: none */
        struct agent_limits answered; /* agent: send_lim once its answer is queued */
        bool answer_pending;
};

/* Wait on c (with conn->lock held) until the deadline (cond_deadline());
 * returns false once it passed. */
static bool wait_until(struct agent_conn *conn, pthread_cond_t *c, uint64_t deadline)
{
        return cond_wait_until(c, &conn->lock, deadline) != -ETIMEDOUT;
}

/* Mark the connection down (first reason wins) and wake everyone. Lock held. */
static void shutdown_locked(struct agent_conn *conn, int code, const char *msg)
{
        if (conn->closed)
                return;
        conn->closed = true;
        conn->close_code = code;
        conn->close_msg = strdup(msg ? msg : "connection closed");
        /* The waker, not the shutdown, wakes our reader and writer: a local
         * shutdown does not wake a WSAPoll, nor a poll on a chardev. */
        if (conn->waker) /* NULL only when conn_alloc failed */
                sock_waker_wake(conn->waker);
        if (conn->is_socket)
                sock_shutdown(conn->fd);
        for (struct pending_call *p = conn->calls; p; p = p->next)
                pthread_cond_signal(&p->cond);
        pthread_cond_broadcast(&conn->out_cond);
        pthread_cond_broadcast(&conn->credit_cond);
}

static void conn_shutdown(struct agent_conn *conn, int code, const char *msg)
{
        pthread_mutex_lock(&conn->lock);
        shutdown_locked(conn, code, msg);
        pthread_mutex_unlock(&conn->lock);
}

void agent_conn_close(struct agent_conn *conn)
{
        if (conn)
                conn_shutdown(conn, -ECONNRESET, "connection closed locally");
}

static int closed_error(struct agent_conn *conn, struct uvm_error **err)
{
        return uvm_error_set(err, ECONNRESET, "agent connection is closed: %s",
                             conn->close_msg ? conn->close_msg : "closed");
}

/* A buffer for size bytes of frames of max_data: for more than half a
 * frame, a batch buffer (a spare one if there is one) whose size goes to
 * *ret_cap, else one malloc'd to size (*ret_cap 0). */
static uint8_t *frame_buf_get(struct agent_conn *conn, size_t size, uint32_t max_data,
                              size_t *ret_cap)
{
        size_t cap = BATCH_FRAMES * (AGENT_HEADER_SIZE + (size_t) max_data);
        uint8_t *buf = NULL;

        *ret_cap = 0;
        if (size <= AGENT_HEADER_SIZE + max_data / 2)
                return malloc(size);
        *ret_cap = cap;
        pthread_mutex_lock(&conn->lock);
        if (conn->n_spare > 0 && conn->spare_size == cap)
                buf = conn->spare[--conn->n_spare];
        pthread_mutex_unlock(&conn->lock);
        return buf ? buf : malloc(cap);
}

/* Done with a frame's buffer (cap: frame_buf_get's). Lock held. */
static void frame_buf_put_locked(struct agent_conn *conn, uint8_t *buf, size_t cap)
{
        if (cap && cap != conn->spare_size) { /* the limits grew: the smaller ones go */
                while (conn->n_spare > 0)
                        free(conn->spare[--conn->n_spare]);
                conn->spare_size = cap;
        }
        if (cap && conn->n_spare < FRAME_CACHE)
                conn->spare[conn->n_spare++] = buf;
        else
                free(buf);
}

/* Write as much of buf as the fd takes now, without waiting: the bytes
 * written, or -errno (not -EAGAIN) once the connection is broken. */
static ssize_t write_now(struct agent_conn *conn, const uint8_t *buf, size_t len)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = sock_write(conn->fd, conn->is_socket, buf + done, len - done);

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN || n == 0)
                        break;
                if (n < 0)
                        return n;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

static void write_failed_locked(struct agent_conn *conn, int r)
{
        char msg[128];

        snprintf(msg, sizeof(msg), "write to agent connection failed: %s", sock_strerror(-r));
        shutdown_locked(conn, r, msg);
}

/* Send an encoded frame (ownership of buf passes). When nothing is queued
 * and nobody is writing, the calling thread writes it through itself, as
 * far as the fd takes it without waiting: no hand-over to the writer
 * thread, whose wakeup would cost more than the write on a busy stream.
 * What is left (or everything, when frames are queued) is queued in order
 * for the writer thread. Frames never interleave: one thread at a time
 * writes (conn->writing), and a frame written through was the oldest. */
static int enqueue_buf(struct agent_conn *conn, uint8_t *buf, size_t len, size_t cap,
                       struct uvm_error **err)
{
        struct out_frame *o = calloc(1, sizeof(*o));
        bool through = false;
        ssize_t n = 0;
        int r = 0;

        pthread_mutex_lock(&conn->lock);
        if (!o)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        else if (conn->closed)
                r = closed_error(conn, err);
        if (r >= 0 && !conn->out_head && !conn->writing) {
                through = true;
                conn->writing = true;
                pthread_mutex_unlock(&conn->lock);
                n = write_now(conn, buf, len);
                pthread_mutex_lock(&conn->lock);
                conn->writing = false;
                if (n < 0)
                        write_failed_locked(conn, (int) n);
                /* Frames queued while it wrote wait for the writer. */
                if (conn->out_head)
                        pthread_cond_signal(&conn->out_cond);
                if ((size_t) n == len) {
                        frame_buf_put_locked(conn, buf, cap);
                        pthread_mutex_unlock(&conn->lock);
                        free(o);
                        return 0;
                }
                if (conn->closed)
                        r = closed_error(conn, err);
        }
        if (r < 0) {
                frame_buf_put_locked(conn, buf, cap);
                pthread_mutex_unlock(&conn->lock);
                free(o);
                return r;
        }
        *o = (struct out_frame){.buf = buf, .len = len, .off = (size_t) n, .cap = cap};
        if (through) { /* what a write-through left: it was the oldest frame */
                o->next = conn->out_head;
                conn->out_head = o;
                if (!conn->out_tail)
                        conn->out_tail = o;
        } else {
                if (conn->out_tail)
                        conn->out_tail->next = o;
                else
                        conn->out_head = o;
                conn->out_tail = o;
        }
        pthread_cond_signal(&conn->out_cond);
        pthread_mutex_unlock(&conn->lock);
        return 0;
}

static int enqueue(struct agent_conn *conn, uint8_t *buf, size_t len, struct uvm_error **err)
{
        return enqueue_buf(conn, buf, len, 0, err);
}

static int send_json(struct agent_conn *conn, uint32_t type, uint64_t id, json_object *obj,
                     struct uvm_error **err)
{
        uint8_t *buf = NULL;
        size_t len;
        int r;

        r = agent_frame_encode_json(type, id, obj, &buf, &len, err);
        if (r < 0)
                return r;
        return enqueue(conn, buf, len, err);
}

/* The 16-byte header of frame.h, little-endian: type, size, id. */
static void put_header(uint8_t *p, uint32_t type, uint32_t size, uint64_t id)
{
        for (int i = 0; i < 4; i++) {
                p[i] = (uint8_t) (type >> (8 * i));
                p[4 + i] = (uint8_t) (size >> (8 * i));
        }
        for (int i = 0; i < 8; i++)
                p[8 + i] = (uint8_t) (id >> (8 * i));
}

/* len bytes of stream as data-write frames of at most max_data (len <=
 * BATCH_FRAMES * max_data), or a close frame (len 0), in one buffer sent at
 * once. Built here rather than by agent_frame_encode_data so that a batch
 * is one buffer and one write, and its buffer can be reused. */
static int send_data(struct agent_conn *conn, uint32_t type, uint64_t stream, const void *data,
                     size_t len, uint32_t max_data, struct uvm_error **err)
{
        size_t frames = len == 0 ? 1 : (len + max_data - 1) / max_data, off = 0;
        size_t size = frames * AGENT_HEADER_SIZE + len, cap;
        const uint8_t *p = data;
        uint8_t *buf;

        assert(frames <= BATCH_FRAMES &&
               (len > 0 || type == (AGENT_CLASS_DATA | AGENT_DATA_CLOSE)));
        buf = frame_buf_get(conn, size, max_data, &cap);
        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < frames; i++) {
                size_t n = len - off < max_data ? len - off : max_data;
                uint8_t *f = buf + i * AGENT_HEADER_SIZE + off;

                put_header(f, type, (uint32_t) (AGENT_HEADER_SIZE + n), stream);
                if (n > 0)
                        memcpy(f + AGENT_HEADER_SIZE, p + off, n);
                off += n;
        }
        return enqueue_buf(conn, buf, size, cap, err);
}

/* Write all of buf, waiting until the fd is writable; -ECONNRESET once the
 * connection is closed. */
static int write_all(struct agent_conn *conn, const uint8_t *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = sock_write(conn->fd, conn->is_socket, buf, len);
                int r;

                if (n > 0) {
                        buf += n;
                        len -= (size_t) n;
                        continue;
                }
                if (n < 0 && n != -EAGAIN && n != -EINTR)
                        return (int) n;
                r = sock_wait(conn->fd, SOCK_WRITABLE, conn->waker);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ECONNRESET;
        }
        return 0;
}

static void *writer_main(void *arg)
{
        struct agent_conn *conn = arg;

        for (;;) {
                struct out_frame *o;
                int r;

                pthread_mutex_lock(&conn->lock);
                while ((!conn->out_head || conn->writing) && !conn->closed)
                        pthread_cond_wait(&conn->out_cond, &conn->lock);
                if (conn->closed) {
                        pthread_mutex_unlock(&conn->lock);
                        return NULL;
                }
                o = conn->out_head;
                conn->out_head = o->next;
                if (!conn->out_head)
                        conn->out_tail = NULL;
                conn->writing = true;
                pthread_mutex_unlock(&conn->lock);

                r = write_all(conn, o->buf + o->off, o->len - o->off);
                pthread_mutex_lock(&conn->lock);
                conn->writing = false;
                frame_buf_put_locked(conn, o->buf, o->cap);
                if (r < 0)
                        write_failed_locked(conn, r);
                pthread_mutex_unlock(&conn->lock);
                free(o);
                if (r < 0)
                        return NULL;
        }
}

/* Responses. */

static struct pending_call *call_find(struct agent_conn *conn, uint64_t id)
{
        for (struct pending_call *p = conn->calls; p; p = p->next)
                if (p->id == id)
                        return p;
        return NULL;
}

static void call_unlink(struct agent_conn *conn, struct pending_call *call)
{
        for (struct pending_call **p = &conn->calls; *p; p = &(*p)->next)
                if (*p == call) {
                        *p = call->next;
                        return;
                }
}

/* Limits only grow: a peer may already use the larger ones. */
static struct agent_limits limits_max(struct agent_limits a, struct agent_limits b)
{
        return (struct agent_limits){a.max_data > b.max_data ? a.max_data : b.max_data,
                                     a.window > b.window ? a.window : b.window};
}

/* Larger limits: let the socket take a whole window unsent, so that a batch
 * of frames is written in one go rather than left to the writer thread
 * (a wakeup) as soon as the system's default buffer is full. */
static void raise_sndbuf(struct agent_conn *conn, struct agent_limits l)
{
        int r = conn->is_socket ? sock_set_sndbuf(conn->fd, (int) l.window) : 0;

        if (r < 0)
                log_debug("agent conn: SO_SNDBUF %" PRIu32 ": %s, ignoring", l.window,
                          sock_strerror(-r));
}

/* The host's end of the limits: the agent's answer to our offer, taken from
 * its NegotiateProtocol response on the reader thread, before any later
 * frame is decoded. Without an answer (an older agent, a failed call) the
 * defaults stay; an answer beyond the offer is a protocol error. Lock held. */
static int take_answer_locked(struct agent_conn *conn, json_object *resp, struct uvm_error **err)
{
        const char *what = "agent's NegotiateProtocol response";
        struct agent_limits l;
        json_object *caps, *o;
        int r;

        if (!conn->offered.max_data ||
            json_object_get_int(json_object_object_get(resp, "Result")) != 0 ||
            !json_object_object_get_ex(resp, "Capabilities", &caps) ||
            !json_object_object_get_ex(caps, "BridgeLimits", &o))
                return 0;
        r = agent_limits_from_json(o, what, &l, err);
        if (r >= 0 && (!agent_limits_valid(l) || l.max_data > conn->offered.max_data ||
                       l.window > conn->offered.window))
                r = uvm_error_set(err, EPROTO,
                                  "%s: BridgeLimits MaxData %" PRIu32 ", Window %" PRIu32
                                  " beyond the offer of %" PRIu32 ", %" PRIu32,
                                  what, l.max_data, l.window, conn->offered.max_data,
                                  conn->offered.window);
        if (r < 0)
                return r;
        conn->send_lim = limits_max(conn->send_lim, l);
        conn->recv_lim = limits_max(conn->recv_lim, l);
        conn->offered.max_data = 0;
        raise_sndbuf(conn, conn->send_lim);
        log_debug("agent conn: data frames up to %" PRIu32 " bytes, windows of %" PRIu32,
                  conn->send_lim.max_data, conn->send_lim.window);
        return 0;
}

static int on_response(struct agent_conn *conn, struct agent_frame *f, struct uvm_error **err)
{
        struct pending_call *p;
        int r = 0;

        pthread_mutex_lock(&conn->lock);
        p = call_find(conn, f->id);
        if (!p) {
                /* Most likely the answer to a call that timed out. */
                log_debug("agent conn: response %s id %" PRIu64 " matches no call, ignoring",
                          agent_rpc_name(f->type), f->id);
        } else if (!p->done) {
                if ((f->type & AGENT_RPC_MASK) == p->rpc && p->rpc == AGENT_RPC_NEGOTIATE_PROTOCOL)
                        r = take_answer_locked(conn, f->json, err);
                /* A bad answer drops the connection: the caller hears why. */
                if (r >= 0) {
                        p->done = true;
                        if ((f->type & AGENT_RPC_MASK) != p->rpc)
                                p->rc = -EBADMSG;
                        else
                                p->response = TAKE_PTR(f->json);
                        pthread_cond_signal(&p->cond);
                }
        }
        pthread_mutex_unlock(&conn->lock);
        return r;
}

/* Requests. */

struct work {
        struct agent_conn *conn;
        struct agent_frame *frame;
};

static json_object *error_response(int code, const char *msg)
{
        json_object *o = json_object_new_object();

        if (code >= 0 || code < -AGENT_MAX_ERRNO)
                code = -EIO;
        json_object_object_add(o, "Result", json_object_new_int(-agent_errno_to_wire(-code)));
        json_object_object_add(o, "ErrorMessage", json_object_new_string(msg ? msg : ""));
        return o;
}

/* The agent's end of the limits: its answer went out (ok), so frames
 * queued from now on may use them; or it did not, and what the reader
 * accepts goes back to what is in force. */
static void answer_sent(struct agent_conn *conn, bool ok)
{
        pthread_mutex_lock(&conn->lock);
        if (conn->answer_pending && ok)
                conn->send_lim = limits_max(conn->send_lim, conn->answered);
        else if (conn->answer_pending)
                conn->recv_lim = conn->send_lim;
        conn->answer_pending = false;
        pthread_mutex_unlock(&conn->lock);
}

/* Answer request f with the handler's response, or an error if it has none. */
static void respond(struct agent_conn *conn, const struct agent_frame *f, int rc, json_object *resp,
                    struct uvm_error *herr)
{
        uint32_t type = AGENT_CLASS_RESPONSE | (f->type & AGENT_RPC_MASK);
        _cleanup_error_ struct uvm_error *err = NULL;
        bool sent;

        if (rc < 0) {
                json_object_put(resp);
                resp = error_response(rc, herr && herr->msg ? herr->msg : sock_strerror(-rc));
        } else {
                if (!resp)
                        resp = json_object_new_object();
                if (json_object_is_type(resp, json_type_object)) {
                        json_object_object_add(resp, "Result", json_object_new_int(0));
                        if (!json_object_object_get_ex(resp, "ErrorMessage", NULL))
                                json_object_object_add(resp, "ErrorMessage",
                                                       json_object_new_string(""));
                }
        }
        sent = send_json(conn, type, f->id, resp, &err) >= 0;
        if ((f->type & AGENT_RPC_MASK) == AGENT_RPC_NEGOTIATE_PROTOCOL)
                answer_sent(conn, sent && rc >= 0);
        if (sent && rc >= 0 && conn->ops.responded)
                conn->ops.responded(conn, f->type & AGENT_RPC_MASK, resp, conn->userdata);
        if (!sent && uvm_error_code(err) != -ECONNRESET) {
                /* The handler's answer cannot be sent (too big, not an object): say so. */
                json_object_put(resp);
                resp = error_response(uvm_error_code(err), err->msg);
                err = uvm_error_free(err);
                if (send_json(conn, type, f->id, resp, &err) < 0)
                        log_debug("agent conn: answering %s id %" PRIu64 " failed: %s, ignoring",
                                  agent_rpc_name(f->type), f->id, err->msg);
        }
        json_object_put(resp);
}

static void *worker_main(void *arg)
{
        struct work *w = arg;
        struct agent_conn *conn = w->conn;
        _cleanup_error_ struct uvm_error *herr = NULL;
        json_object *resp = NULL;
        int rc;

        rc = conn->ops.request(conn, w->frame->type & AGENT_RPC_MASK, w->frame->json, &resp,
                               conn->userdata, &herr);
        respond(conn, w->frame, rc, rc < 0 ? NULL : resp, herr);
        if (rc < 0)
                json_object_put(resp);
        agent_frame_free(w->frame);
        free(w);
        pthread_mutex_lock(&conn->lock);
        conn->n_workers--;
        pthread_cond_broadcast(&conn->workers_cond);
        pthread_mutex_unlock(&conn->lock);
        return NULL;
}

/* Run the request handler on a detached worker; f is consumed. */
static void on_request(struct agent_conn *conn, struct agent_frame *f)
{
        struct work *w;
        pthread_attr_t attr;
        pthread_t t;
        bool busy;

        if (!conn->ops.request) {
                respond(conn, f, -ENOSYS, NULL, NULL);
                agent_frame_free(f);
                return;
        }
        pthread_mutex_lock(&conn->lock);
        busy = conn->n_workers >= AGENT_CONN_MAX_WORKERS;
        if (!busy)
                conn->n_workers++;
        pthread_mutex_unlock(&conn->lock);
        w = busy ? NULL : calloc(1, sizeof(*w));
        if (w) {
                w->conn = conn;
                w->frame = f;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&t, &attr, worker_main, w) == 0) {
                        pthread_attr_destroy(&attr);
                        return;
                }
                pthread_attr_destroy(&attr);
                free(w);
        }
        if (!busy) {
                pthread_mutex_lock(&conn->lock);
                conn->n_workers--;
                pthread_cond_broadcast(&conn->workers_cond);
                pthread_mutex_unlock(&conn->lock);
        }
        respond(conn, f, -EBUSY, NULL, NULL);
        agent_frame_free(f);
}

/* Streams. */

static struct send_stream *send_stream_get(struct agent_conn *conn, uint64_t id, bool create)
{
        struct send_stream *s;

        for (s = conn->send; s; s = s->next)
                if (s->id == id)
                        return s;
        if (!create)
                return NULL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->id = id;
        s->next = conn->send;
        conn->send = s;
        return s;
}

static struct recv_stream *recv_stream_find(struct agent_conn *conn, uint64_t id,
                                            struct recv_stream ***ret_link)
{
        for (struct recv_stream **p = &conn->recv; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        if (ret_link)
                                *ret_link = p;
                        return *p;
                }
        return NULL;
}

/* The receive state of stream, created on first data. Lock held. */
static int recv_stream_get(struct agent_conn *conn, uint64_t id, struct recv_stream **ret_stream,
                           struct uvm_error **err)
{
        struct recv_stream *s = recv_stream_find(conn, id, NULL);

        if (!s) {
                if (conn->n_recv >= AGENT_CONN_MAX_STREAMS)
                        return uvm_error_set(err, EPROTO, "peer opened more than %d streams",
                                             AGENT_CONN_MAX_STREAMS);
                s = calloc(1, sizeof(*s));
                if (!s)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                s->id = id;
                s->next = conn->recv;
                conn->recv = s;
                conn->n_recv++;
        }
        *ret_stream = s;
        return 0;
}

/* Account for len received bytes on stream; -EPROTO if the peer overran. */
static int recv_account(struct agent_conn *conn, uint64_t id, size_t len, struct uvm_error **err)
{
        struct recv_stream *s = NULL;
        int r;

        pthread_mutex_lock(&conn->lock);
        r = recv_stream_get(conn, id, &s, err);
        if (r >= 0 && len > conn->recv_lim.window - s->unacked - s->to_credit)
                r = uvm_error_set(err, EPROTO,
                                  "peer overran the %" PRIu32 "-byte window of stream %" PRIu64,
                                  conn->recv_lim.window, id);
        else if (r >= 0)
                s->unacked += (uint32_t) len;
        pthread_mutex_unlock(&conn->lock);
        return r;
}

static void recv_forget(struct agent_conn *conn, uint64_t id)
{
        struct recv_stream **link = NULL, *s;

        pthread_mutex_lock(&conn->lock);
        s = recv_stream_find(conn, id, &link);
        if (s) {
                *link = s->next;
                conn->n_recv--;
                free(s);
        }
        pthread_mutex_unlock(&conn->lock);
}

int agent_conn_stream_consumed(struct agent_conn *conn, uint64_t stream, size_t n,
                               struct uvm_error **err)
{
        _cleanup_json_ json_object *o = NULL;
        struct recv_stream *s;
        uint32_t credit = 0;

        pthread_mutex_lock(&conn->lock);
        s = recv_stream_find(conn, stream, NULL);
        if (!s) {
                /* The peer closed the stream; nobody waits for the credit. */
                pthread_mutex_unlock(&conn->lock);
                return 0;
        }
        if (n > s->unacked) {
                pthread_mutex_unlock(&conn->lock);
                return uvm_error_set(err, EINVAL,
                                     "stream %" PRIu64 ": consumed %zu bytes, only %" PRIu32
                                     " outstanding",
                                     stream, n, s->unacked);
        }
        s->unacked -= (uint32_t) n;
        s->to_credit += (uint32_t) n;
        /* Batch small credits, one per half window drained (a bulk writer
         * sends half a window, BATCH_FRAMES frames, per write: a credit per
         * batch), but never leave a drained stream's writer waiting. */
        if (s->to_credit > 0 && (s->to_credit >= conn->recv_lim.window / 2 || s->unacked == 0)) {
                credit = s->to_credit;
                s->to_credit = 0;
        }
        pthread_mutex_unlock(&conn->lock);
        if (credit == 0)
                return 0;
        o = json_object_new_object();
        json_object_object_add(o, "Credit", json_object_new_int64(credit));
        return send_json(conn, AGENT_CLASS_DATA | AGENT_DATA_CREDIT, stream, o, err);
}

static int on_credit(struct agent_conn *conn, const struct agent_frame *f, struct uvm_error **err)
{
        struct send_stream *s;
        int r = 0;

        pthread_mutex_lock(&conn->lock);
        s = send_stream_get(conn, f->id, false);
        if (!s)
                log_debug("agent conn: credit for closed stream %" PRIu64 ", ignoring", f->id);
        else if (f->credit > s->outstanding)
                r = uvm_error_set(err, EPROTO,
                                  "peer credited %" PRIu32 " bytes on stream %" PRIu64
                                  " with only %" PRIu32 " outstanding",
                                  f->credit, f->id, s->outstanding);
        else
                s->outstanding -= f->credit;
        pthread_cond_broadcast(&conn->credit_cond);
        pthread_mutex_unlock(&conn->lock);
        if (r >= 0 && s && conn->ops.credit)
                conn->ops.credit(conn, f->id, conn->userdata);
        return r;
}

static int on_data(struct agent_conn *conn, const struct agent_frame *f, struct uvm_error **err)
{
        uint32_t rpc = f->type & AGENT_RPC_MASK;
        int r;

        if (rpc == AGENT_DATA_CREDIT)
                return on_credit(conn, f, err);
        if (rpc == AGENT_DATA_CLOSE) {
                recv_forget(conn, f->id);
                if (conn->ops.data)
                        conn->ops.data(conn, f->id, NULL, 0, conn->userdata);
                return 0;
        }
        if (f->len == 0)
                return 0;
        r = recv_account(conn, f->id, f->len, err);
        if (r < 0)
                return r;
        if (!conn->ops.data)
                return agent_conn_stream_consumed(conn, f->id, f->len, err);
        conn->ops.data(conn, f->id, f->data, f->len, conn->userdata);
        return 0;
}

/* Reader. */

/* Handle one decoded frame (consumed); <0 drops the connection. */
static int dispatch(struct agent_conn *conn, struct agent_decoder *d, struct agent_frame *f,
                    struct uvm_error **err)
{
        int r = 0;

        switch (f->type & AGENT_CLASS_MASK) {
        case AGENT_CLASS_REQUEST:
                on_request(conn, f);
                return 0;
        case AGENT_CLASS_RESPONSE:
                r = on_response(conn, f, err);
                break;
        case AGENT_CLASS_NOTIFY:
                if (conn->ops.notify)
                        conn->ops.notify(conn, f->type, f->json, conn->userdata);
                break;
        case AGENT_CLASS_DATA:
                r = on_data(conn, f, err);
                agent_decoder_recycle(d, f); /* the callback only borrowed it */
                break;
        }
        agent_frame_free(f);
        return r;
}

/* Have the decoder check what the connection accepts now. */
static void sync_limits(struct agent_conn *conn, struct agent_decoder *d)
{
        struct agent_limits l;

        pthread_mutex_lock(&conn->lock);
        l = conn->recv_lim;
        pthread_mutex_unlock(&conn->lock);
        (void) agent_decoder_set_limits(d, l); /* valid: only ever set so */
}

/* Decode and dispatch n bytes of buf a frame at a time: a frame may change
 * the limits the next one is checked against. */
static int decode(struct agent_conn *conn, struct agent_decoder *d, const uint8_t *buf, size_t n,
                  struct uvm_error **err)
{
        for (size_t off = 0, used = 0; off < n; off += used) {
                struct agent_frame *f = NULL;
                int r;

                sync_limits(conn, d);
                r = agent_decoder_feed_some(d, buf + off, n - off, &used, err);
                while (r >= 0 && (r = agent_decoder_pop(d, &f, err)) > 0)
                        r = dispatch(conn, d, f, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* n bytes were read into the decoder's payload space: take and dispatch
 * them. */
static int commit(struct agent_conn *conn, struct agent_decoder *d, size_t n,
                  struct uvm_error **err)
{
        struct agent_frame *f = NULL;
        int r = agent_decoder_commit(d, n, err);

        while (r >= 0 && (r = agent_decoder_pop(d, &f, err)) > 0)
                r = dispatch(conn, d, f, err);
        return r;
}

/* Read and dispatch until EOF, an error, or a local close; returns why.
 * The rest of a data frame's payload (DIRECT_MIN or more) is read straight
 * into the frame's buffer rather than copied there from buf; while frames
 * come so, a read at a frame's start takes HEAD_READ (its header, or small
 * frames), not READ_CHUNK, so that little of the next payload goes through
 * buf. */
static int read_loop(struct agent_conn *conn, struct agent_decoder *d, uint8_t *buf,
                     struct uvm_error **err)
{
        bool bulk = false;

        for (;;) {
                size_t room = 0;
                uint8_t *direct = agent_decoder_payload_space(d, &room);
                ssize_t n;
                int r;

                if (room < DIRECT_MIN)
                        direct = NULL;
                r = sock_wait(conn->fd, SOCK_READABLE, conn->waker);
                if (r < 0)
                        return uvm_error_set(err, -r, "waiting on the agent connection: %s",
                                             sock_strerror(-r));
                if (r == 0)
                        return -ECONNRESET;
                if (direct)
                        n = sock_read(conn->fd, direct, room);
                else
                        n = sock_read(conn->fd, buf, bulk ? HEAD_READ : READ_CHUNK);
                if (n == -EAGAIN || n == -EINTR)
                        continue;
                if (n < 0)
                        return uvm_error_set(err, (int) -n, "read from agent connection: %s",
                                             sock_strerror((int) -n));
                if (n == 0)
                        return uvm_error_set(err, ECONNRESET,
                                             agent_decoder_partial(d)
                                                     ? "peer closed the connection mid-frame"
                                                     : "peer closed the connection");
                bulk = direct != NULL;
                if (direct)
                        r = commit(conn, d, (size_t) n, err);
                else
                        r = decode(conn, d, buf, (size_t) n, err);
                if (r < 0)
                        return r;
        }
}

static void *reader_main(void *arg)
{
        struct agent_conn *conn = arg;
        _cleanup_(agent_decoder_freep) struct agent_decoder *d = agent_decoder_new();
        _cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
        _cleanup_error_ struct uvm_error *err = NULL;
        int r;

        if (!d || !buf)
                r = uvm_error_set(&err, ENOMEM, "out of memory");
        else
                r = read_loop(conn, d, buf, &err);
        if (err)
                log_debug("agent conn: dropping the connection: %s", err->msg);
        conn_shutdown(conn, r, err ? err->msg : NULL);
        if (conn->ops.closed)
                conn->ops.closed(conn, conn->close_code, conn->close_msg, conn->userdata);
        return NULL;
}

/* Setup and teardown. */

static int conn_alloc(int fd, struct agent_conn **ret_conn, struct uvm_error **err)
{
        struct agent_conn *conn = calloc(1, sizeof(*conn));
        int r;

        if (!conn)
                return uvm_error_set(err, ENOMEM, "out of memory");
        conn->fd = fd;
        conn->next_id = 1;
        conn->send_lim = conn->recv_lim = AGENT_LIMITS_DEFAULT;
        pthread_mutex_init(&conn->lock, NULL);
        pthread_cond_init(&conn->out_cond, NULL);
        cond_init(&conn->credit_cond);
        pthread_cond_init(&conn->workers_cond, NULL);
        *ret_conn = conn;
        r = sock_init();
        if (r < 0)
                return uvm_error_set(err, -r, "starting the socket library: %s", sock_strerror(-r));
        conn->is_socket = sock_is_socket(fd);
#ifdef _WIN32
        if (!conn->is_socket)
                return uvm_error_set(err, ENOTSOCK, "agent connection %d is not a socket", fd);
#endif
        r = sock_waker_new(&conn->waker);
        if (r < 0)
                return uvm_error_set(err, -r, "agent connection waker: %s", sock_strerror(-r));
        r = sock_set_nonblocking(fd);
        if (r < 0)
                return uvm_error_set(err, -r, "agent connection fd %d: %s", fd, sock_strerror(-r));
        return 0;
}

int agent_conn_new(int fd, const struct agent_conn_ops *ops, void *userdata,
                   struct agent_conn **ret_conn, struct uvm_error **err)
{
        struct agent_conn *conn = NULL;
        int r;

        r = conn_alloc(fd, &conn, err);
        if (r < 0) {
                if (!conn)
                        sock_close(fd);
                agent_conn_free(conn);
                return r;
        }
        if (ops)
                conn->ops = *ops;
        conn->userdata = userdata;
        r = -pthread_create(&conn->writer, NULL, writer_main, conn);
        conn->writer_started = r == 0;
        if (r == 0) {
                r = -pthread_create(&conn->reader, NULL, reader_main, conn);
                conn->reader_started = r == 0;
        }
        if (r < 0) {
                agent_conn_free(conn);
                return uvm_error_set(err, -r, "starting agent connection threads: %s",
                                     sock_strerror(-r));
        }
        *ret_conn = conn;
        return 0;
}

struct agent_conn *agent_conn_free(struct agent_conn *conn)
{
        if (!conn)
                return NULL;
        agent_conn_close(conn);
        if (conn->reader_started)
                pthread_join(conn->reader, NULL);
        if (conn->writer_started)
                pthread_join(conn->writer, NULL);
        pthread_mutex_lock(&conn->lock);
        while (conn->n_workers > 0)
                pthread_cond_wait(&conn->workers_cond, &conn->lock);
        pthread_mutex_unlock(&conn->lock);
        while (conn->out_head) {
                struct out_frame *o = conn->out_head;

                conn->out_head = o->next;
                free(o->buf);
                free(o);
        }
        while (conn->n_spare > 0)
                free(conn->spare[--conn->n_spare]);
        while (conn->send) {
                struct send_stream *s = conn->send;

                conn->send = s->next;
                free(s);
        }
        while (conn->recv) {
                struct recv_stream *s = conn->recv;

                conn->recv = s->next;
                free(s);
        }
        pthread_cond_destroy(&conn->out_cond);
        pthread_cond_destroy(&conn->credit_cond);
        pthread_cond_destroy(&conn->workers_cond);
        pthread_mutex_destroy(&conn->lock);
        sock_waker_free(conn->waker);
        sock_close(conn->fd);
        free(conn->close_msg);
        free(conn);
        return NULL;
}

/* Calls. */

/* Turn the matched response into the call's result. */
static int call_result(struct pending_call *p, json_object **ret_response, struct uvm_error **err)
{
        json_object *v;
        int result, code;

        if (p->rc < 0)
                return uvm_error_set(err, -p->rc,
                                     "agent answered %s id %" PRIu64
                                     " with a response of another rpc",
                                     agent_rpc_name(p->rpc), p->id);
        result = json_object_get_int(json_object_object_get(p->response, "Result"));
        if (result != 0) {
                /* The frame decoder bounded it to [-AGENT_MAX_ERRNO, 0]. */
                code = agent_errno_from_wire(-result);
                v = json_object_object_get(p->response, "ErrorMessage");
                return uvm_error_set(err, code, "agent %s failed: %s", agent_rpc_name(p->rpc),
                                     v && json_object_get_string_len(v) > 0
                                             ? json_object_get_string(v)
                                             : sock_strerror(code));
        }
        *ret_response = TAKE_PTR(p->response);
        return 0;
}

/* Wait for p's response; lock held. */
static int call_wait(struct agent_conn *conn, struct pending_call *p, int timeout_ms,
                     struct uvm_error **err)
{
        uint64_t deadline = cond_deadline(timeout_ms);

        while (!p->done && !conn->closed)
                if (!wait_until(conn, &p->cond, deadline))
                        break;
        if (p->done)
                return 0;
        if (conn->closed)
                return closed_error(conn, err);
        return uvm_error_set(err, ETIMEDOUT, "agent %s id %" PRIu64 " timed out after %d ms",
                             agent_rpc_name(p->rpc), p->id, timeout_ms);
}

int agent_conn_call(struct agent_conn *conn, uint32_t rpc, json_object *request, int timeout_ms,
                    json_object **ret_response, struct uvm_error **err)
{
        struct pending_call p = {.rpc = rpc};
        int r;

        if ((rpc & AGENT_CLASS_MASK) || !agent_type_is_valid(AGENT_CLASS_REQUEST | rpc))
                return uvm_error_set(err, EINVAL, "unknown agent rpc 0x%08" PRIx32, rpc);
        r = cond_init(&p.cond);
        if (r < 0)
                return uvm_error_set(err, -r, "pthread_cond_init: %s", sock_strerror(-r));
        pthread_mutex_lock(&conn->lock);
        p.id = conn->next_id++;
        p.next = conn->calls;
        conn->calls = &p;
        pthread_mutex_unlock(&conn->lock);

        r = send_json(conn, AGENT_CLASS_REQUEST | rpc, p.id, request, err);
        pthread_mutex_lock(&conn->lock);
        if (r >= 0)
                r = call_wait(conn, &p, timeout_ms, err);
        call_unlink(conn, &p);
        pthread_mutex_unlock(&conn->lock);
        if (r >= 0)
                r = call_result(&p, ret_response, err);
        json_object_put(p.response);
        pthread_cond_destroy(&p.cond);
        return r;
}

int agent_conn_notify(struct agent_conn *conn, json_object *payload, struct uvm_error **err)
{
        return send_json(conn, AGENT_CLASS_NOTIFY | AGENT_NOTIFY_CONTAINER, 0, payload, err);
}

/* Reserve up to want bytes of stream's window, and at most a batch of
 * frames, waiting for credit; returns the bytes granted (> 0) or -errno,
 * and the frame size to send them in. */
static int window_reserve(struct agent_conn *conn, uint64_t stream, size_t want, int timeout_ms,
                          uint64_t deadline, uint32_t *ret_max_data, struct uvm_error **err)
{
        struct send_stream *s;
        size_t n;
        int r;

        pthread_mutex_lock(&conn->lock);
        for (;;) {
                if (conn->closed) {
                        r = closed_error(conn, err);
                        break;
                }
                s = send_stream_get(conn, stream, true);
                if (!s) {
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                if (s->outstanding < conn->send_lim.window) {
                        *ret_max_data = conn->send_lim.max_data;
                        n = conn->send_lim.window - s->outstanding;
                        n = n < want ? n : want;
                        n = n < BATCH_FRAMES * (size_t) *ret_max_data
                                    ? n
                                    : BATCH_FRAMES * (size_t) *ret_max_data;
                        s->outstanding += (uint32_t) n;
                        r = (int) n;
                        break;
                }
                if (!wait_until(conn, &conn->credit_cond, deadline)) {
                        r = uvm_error_set(err, ETIMEDOUT,
                                          "stream %" PRIu64 ": no credit from the peer in %d ms",
                                          stream, timeout_ms);
                        break;
                }
        }
        pthread_mutex_unlock(&conn->lock);
        return r;
}

int agent_conn_write_stream(struct agent_conn *conn, uint64_t stream, const void *buf, size_t len,
                            int timeout_ms, struct uvm_error **err)
{
        uint64_t deadline = cond_deadline(timeout_ms);
        const uint8_t *p = buf;

        while (len > 0) {
                uint32_t max_data = 0;
                int n, r;

                n = window_reserve(conn, stream, len, timeout_ms, deadline, &max_data, err);
                if (n < 0)
                        return n;
                r = send_data(conn, AGENT_CLASS_DATA | AGENT_DATA_WRITE, stream, p, (size_t) n,
                              max_data, err);
                if (r < 0)
                        return r;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

size_t agent_conn_stream_room(struct agent_conn *conn, uint64_t stream)
{
        struct send_stream *s;
        size_t n;

        pthread_mutex_lock(&conn->lock);
        s = send_stream_get(conn, stream, false);
        n = s ? conn->send_lim.window - s->outstanding : conn->send_lim.window;
        pthread_mutex_unlock(&conn->lock);
        return n;
}

struct agent_limits agent_conn_limits(struct agent_conn *conn)
{
        struct agent_limits l;

        pthread_mutex_lock(&conn->lock);
        l = conn->send_lim;
        pthread_mutex_unlock(&conn->lock);
        return l;
}

int agent_conn_offer_limits(struct agent_conn *conn, json_object *req, struct uvm_error **err)
{
        const struct agent_limits offer = {AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW};
        json_object *o = agent_limits_to_json(offer);

        if (!o || json_object_object_add(req, "BridgeLimits", o) < 0) {
                json_object_put(o);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&conn->lock);
        conn->offered = offer;
        pthread_mutex_unlock(&conn->lock);
        return 0;
}

int agent_conn_answer_limits(struct agent_conn *conn, json_object *req, json_object *caps,
                             struct uvm_error **err)
{
        struct agent_limits offer, l;
        json_object *o;
        int r;

        if (!json_object_object_get_ex(req, "BridgeLimits", &o))
                return 0; /* an older host: the defaults stay */
        r = agent_limits_from_json(o, "NegotiateProtocol request", &offer, err);
        if (r < 0)
                return r;
        /* A newer host may offer more than we know: our maxima then. */
        l.window = offer.window < AGENT_BULK_WINDOW ? offer.window : AGENT_BULK_WINDOW;
        l.max_data = offer.max_data < AGENT_BULK_MAX_DATA ? offer.max_data : AGENT_BULK_MAX_DATA;
        l.max_data = l.max_data < l.window ? l.max_data : l.window;
        o = agent_limits_to_json(l);
        if (!o || json_object_object_add(caps, "BridgeLimits", o) < 0) {
                json_object_put(o);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&conn->lock);
        conn->recv_lim = limits_max(conn->recv_lim, l);
        conn->answered = l;
        conn->answer_pending = true;
        pthread_mutex_unlock(&conn->lock);
        raise_sndbuf(conn, l);
        return 0;
}

uint32_t agent_conn_stream_outstanding(struct agent_conn *conn, uint64_t stream)
{
        struct send_stream *s;
        uint32_t n;

        pthread_mutex_lock(&conn->lock);
        s = send_stream_get(conn, stream, false);
        n = s ? s->outstanding : 0;
        pthread_mutex_unlock(&conn->lock);
        return n;
}

int agent_conn_close_stream(struct agent_conn *conn, uint64_t stream, struct uvm_error **err)
{
        struct send_stream **link;

        pthread_mutex_lock(&conn->lock);
        for (link = &conn->send; *link; link = &(*link)->next)
                if ((*link)->id == stream) {
                        struct send_stream *s = *link;

                        *link = s->next;
                        free(s);
                        break;
                }
        pthread_cond_broadcast(&conn->credit_cond);
        pthread_mutex_unlock(&conn->lock);
        return send_data(conn, AGENT_CLASS_DATA | AGENT_DATA_CLOSE, stream, NULL, 0, AGENT_MAX_DATA,
                         err);
}
