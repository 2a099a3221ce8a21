/* agent bridge connections over socketpairs: concurrent calls matched by id,
 * notifications, frames queued after a response (responded), credit
 * callbacks, per-stream flow control (checked from a raw receiver that does
 * its own accounting), concurrent writers whose frames never interleave,
 * timeouts, and close/EOF waking every waiter. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/conn.h"

#define STREAM_BYTES (2u << 20)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait (up to 5 s) until *flag is set; flag is guarded by mu. */
static bool wait_flag(const int *flag)
{
        long end = now_ms() + 5000;
        bool ok;

        pthread_mutex_lock(&mu);
        while (!*flag && now_ms() < end) {
                pthread_mutex_unlock(&mu);
                usleep(1000);
                pthread_mutex_lock(&mu);
        }
        ok = *flag != 0;
        pthread_mutex_unlock(&mu);
        return ok;
}

static void pair(int fds[2])
{
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static json_object *req(const char *ctr)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(ctr));
        json_object_object_add(o, "ActivityId", json_object_new_string("11111111-2222"));
        return o;
}

static void write_raw(int fd, const uint8_t *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                assert_true(n > 0);
                buf += n;
                len -= (size_t) n;
        }
}

/* Read frames from a raw fd until one is complete; returns NULL at EOF. */
static struct agent_frame *read_frame(int fd, struct agent_decoder *d)
{
        struct agent_frame *f = NULL;
        uint8_t buf[4096];

        for (;;) {
                ssize_t n;

                if (agent_decoder_pop(d, &f, NULL) == 1)
                        return f;
                n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        return NULL;
                assert_int_equal(agent_decoder_feed(d, buf, (size_t) n, NULL), 0);
        }
}

/* The agent side: echo the container id, fail for "missing". */
static int echo_request(struct agent_conn *conn, uint32_t rpc, json_object *request,
                        json_object **ret_response, void *userdata, struct uvm_error **err)
{
        const char *ctr = json_object_get_string(json_object_object_get(request, "ContainerId"));
        json_object *o;

        if (strcmp(ctr, "missing") == 0)
                return uvm_error_set(err, ENOENT, "container \"%s\" not found", ctr);
        usleep((unsigned) (rand() % 500));
        o = json_object_new_object();
        json_object_object_add(o, "Echo", json_object_new_string(ctr));
        json_object_object_add(o, "Rpc", json_object_new_int64(rpc));
        *ret_response = o;
        return 0;
}

struct caller {
        struct agent_conn *conn;
        int index;
        int ok;
};

static void *call_many(void *arg)
{
        struct caller *c = arg;

        for (int i = 0; i < 100; i++) {
                char ctr[64];
                json_object *q, *resp = NULL;
                uint32_t rpc = AGENT_RPC(1 + (c->index + i) % 15);

                snprintf(ctr, sizeof(ctr), "t%d-%d", c->index, i);
                q = req(ctr);
                if (agent_conn_call(c->conn, rpc, q, 5000, &resp, NULL) == 0 &&
                    strcmp(json_object_get_string(json_object_object_get(resp, "Echo")), ctr) ==
                            0 &&
                    json_object_get_int64(json_object_object_get(resp, "Rpc")) == rpc &&
                    json_object_get_int(json_object_object_get(resp, "Result")) == 0)
                        c->ok++;
                json_object_put(resp);
                json_object_put(q);
        }
        return NULL;
}

static void concurrent_calls_matched_by_id(void **state)
{
        const struct agent_conn_ops agent_ops = {.request = echo_request};
        struct agent_conn *host = NULL, *agent = NULL;
        struct caller callers[4];
        pthread_t t[4];
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &host, NULL), 0);
        assert_int_equal(agent_conn_new(fds[1], &agent_ops, NULL, &agent, NULL), 0);
        for (int i = 0; i < 4; i++) {
                callers[i] = (struct caller){.conn = host, .index = i};
                assert_int_equal(pthread_create(&t[i], NULL, call_many, &callers[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(callers[i].ok, 100);
        }
        agent_conn_free(host);
        agent_conn_free(agent);
}

static void handler_error_and_no_handler(void **state)
{
        const struct agent_conn_ops agent_ops = {.request = echo_request};
        struct agent_conn *host = NULL, *agent = NULL;
        struct uvm_error *err = NULL;
        json_object *q = req("missing"), *resp = NULL;
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &host, NULL), 0);
        assert_int_equal(agent_conn_new(fds[1], &agent_ops, NULL, &agent, NULL), 0);
        assert_int_equal(agent_conn_call(host, AGENT_RPC_START, q, 2000, &resp, &err), -ENOENT);
        assert_null(resp);
        assert_non_null(strstr(err->msg, "agent Start failed: container \"missing\" not found"));
        err = uvm_error_free(err);

        /* The host has no request handler: the agent's call gets -ENOSYS. */
        assert_int_equal(agent_conn_call(agent, AGENT_RPC_DUMP_STACKS, q, 2000, &resp, &err),
                         -ENOSYS);
        err = uvm_error_free(err);

        /* Local mistakes never reach the wire. */
        assert_int_equal(agent_conn_call(host, AGENT_RPC(99), q, 2000, &resp, NULL), -EINVAL);
        assert_int_equal(agent_conn_call(host, 0x10100101u, q, 2000, &resp, NULL), -EINVAL);
        json_object_object_del(q, "ActivityId");
        assert_int_equal(agent_conn_call(host, AGENT_RPC_START, q, 2000, &resp, NULL), -EBADMSG);
        json_object_put(q);
        agent_conn_free(host);
        agent_conn_free(agent);
}

static int responded_calls, credited;

/* What a handler started may talk once its answer is out: after it on the wire. */
static void on_responded(struct agent_conn *conn, uint32_t rpc, json_object *response,
                         void *userdata)
{
        pthread_mutex_lock(&mu);
        responded_calls++;
        pthread_mutex_unlock(&mu);
        (void) agent_conn_write_stream(conn, 7, "hi", 2, 0, NULL);
}

static void on_credit(struct agent_conn *conn, uint64_t stream, void *userdata)
{
        pthread_mutex_lock(&mu);
        credited = stream == 7;
        pthread_mutex_unlock(&mu);
}

/* Send a request from a raw host and return the next frame the agent sends. */
static struct agent_frame *raw_call(int fd, struct agent_decoder *d, uint64_t id, const char *ctr)
{
        json_object *q = req(ctr);
        uint8_t *buf = NULL;
        size_t len;

        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_REQUEST | AGENT_RPC_START, id, q, &buf,
                                                 &len, NULL),
                         0);
        write_raw(fd, buf, len);
        free(buf);
        json_object_put(q);
        return read_frame(fd, d);
}

static void responded_then_credit(void **state)
{
        const struct agent_conn_ops agent_ops = {
                .request = echo_request, .responded = on_responded, .credit = on_credit};
        struct agent_decoder *d = agent_decoder_new();
        struct agent_conn *agent = NULL;
        struct agent_frame *f;
        json_object *o = json_object_new_object();
        uint8_t *buf = NULL;
        size_t len;
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], &agent_ops, NULL, &agent, NULL), 0);
        /* An error answer: no responded call, nothing follows it. */
        f = raw_call(fds[1], d, 1, "missing");
        assert_int_equal(f->type, AGENT_CLASS_RESPONSE | AGENT_RPC_START);
        assert_int_equal(json_object_get_int(json_object_object_get(f->json, "Result")), -ENOENT);
        agent_frame_free(f);
        f = raw_call(fds[1], d, 2, "c");
        assert_int_equal(f->type, AGENT_CLASS_RESPONSE | AGENT_RPC_START);
        assert_int_equal(f->id, 2);
        agent_frame_free(f);
        f = read_frame(fds[1], d);
        assert_int_equal(f->type, AGENT_CLASS_DATA | AGENT_DATA_WRITE);
        assert_int_equal(f->id, 7);
        assert_memory_equal(f->data, "hi", 2);
        agent_frame_free(f);
        pthread_mutex_lock(&mu);
        assert_int_equal(responded_calls, 1);
        pthread_mutex_unlock(&mu);

        json_object_object_add(o, "Credit", json_object_new_int(2));
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, 7, o, &buf,
                                                 &len, NULL),
                         0);
        write_raw(fds[1], buf, len);
        assert_true(wait_flag(&credited));
        assert_int_equal(agent_conn_stream_outstanding(agent, 7), 0);
        free(buf);
        json_object_put(o);
        agent_conn_free(agent);
        close(fds[1]);
        agent_decoder_free(d);
}

static int notified;
static char notified_ctr[64];
static int notified_code;

static void on_notify(struct agent_conn *conn, uint32_t type, json_object *payload, void *userdata)
{
        pthread_mutex_lock(&mu);
        snprintf(notified_ctr, sizeof(notified_ctr), "%s",
                 json_object_get_string(json_object_object_get(payload, "ContainerId")));
        notified_code = json_object_get_int(json_object_object_get(payload, "ExitCode"));
        notified = type == 0x30100101u;
        pthread_mutex_unlock(&mu);
}

static void notification_delivered(void **state)
{
        const struct agent_conn_ops host_ops = {.notify = on_notify};
        struct agent_conn *host = NULL, *agent = NULL;
        json_object *n = json_object_new_object();
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], &host_ops, NULL, &host, NULL), 0);
        assert_int_equal(agent_conn_new(fds[1], NULL, NULL, &agent, NULL), 0);
        json_object_object_add(n, "ContainerId", json_object_new_string("ctr-9"));
        json_object_object_add(n, "ExitCode", json_object_new_int(137));
        assert_int_equal(agent_conn_notify(agent, n, NULL), 0);
        assert_true(wait_flag(&notified));
        assert_string_equal(notified_ctr, "ctr-9");
        assert_int_equal(notified_code, 137);
        json_object_put(n);
        agent_conn_free(host);
        agent_conn_free(agent);
}

static uint8_t pattern(size_t i)
{
        return (uint8_t) (i * 31 + (i >> 12));
}

struct stream_writer {
        struct agent_conn *conn;
        uint64_t stream;
        uint8_t *buf;
        size_t len;
        int rc;
};

static void *write_stream_main(void *arg)
{
        struct stream_writer *w = arg;

        w->rc = agent_conn_write_stream(w->conn, w->stream, w->buf, w->len, 30000, NULL);
        if (w->rc == 0)
                w->rc = agent_conn_close_stream(w->conn, w->stream, NULL);
        return NULL;
}

static uint8_t *pattern_buf(size_t len)
{
        uint8_t *buf = malloc(len);

        assert_non_null(buf);
        for (size_t i = 0; i < len; i++)
                buf[i] = pattern(i);
        return buf;
}

static void send_credit(int fd, uint64_t stream, uint32_t n)
{
        json_object *o = json_object_new_object();
        uint8_t *buf = NULL;
        size_t len;

        json_object_object_add(o, "Credit", json_object_new_int64(n));
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, stream, o,
                                                 &buf, &len, NULL),
                         0);
        write_raw(fd, buf, len);
        free(buf);
        json_object_put(o);
}

/* Read frames from fd until it has been quiet for idle_ms; NULL when quiet. */
static struct agent_frame *read_frame_until_idle(int fd, struct agent_decoder *d, int idle_ms)
{
        struct agent_frame *f = NULL;
        struct pollfd p = {fd, POLLIN, 0};

        if (agent_decoder_pop(d, &f, NULL) == 1)
                return f;
        while (poll(&p, 1, idle_ms) == 1) {
                uint8_t buf[4096];
                ssize_t n = read(fd, buf, sizeof(buf));

                assert_true(n > 0);
                assert_int_equal(agent_decoder_feed(d, buf, (size_t) n, NULL), 0);
                if (agent_decoder_pop(d, &f, NULL) == 1)
                        return f;
        }
        return NULL;
}

/* The receiver is a raw socket doing its own accounting, so the writer's conn
 * is checked from outside. The receiver reads everything the writer sends until
 * the writer goes quiet (it is waiting for credit): at that point all it wrote
 * has been received, and that must never exceed one window beyond the credit
 * given. Only then does the (slow) receiver credit what it read. */
static void writer_respects_window(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_conn *host = NULL;
        struct stream_writer w = {.stream = 7, .len = STREAM_BYTES};
        size_t received = 0, credited = 0, max_outstanding = 0;
        int rounds = 0;
        bool eof = false;
        pthread_t t;
        int fds[2];

        (void) state;
        pair(fds);
        w.buf = pattern_buf(w.len);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &host, NULL), 0);
        w.conn = host;
        assert_int_equal(pthread_create(&t, NULL, write_stream_main, &w), 0);
        while (!eof) {
                struct agent_frame *f = read_frame_until_idle(fds[1], d, 100);

                if (!f) {
                        /* Writer quiet: credit everything read so far. */
                        assert_true(received > credited);
                        assert_true(++rounds < 100);
                        send_credit(fds[1], 7, (uint32_t) (received - credited));
                        credited = received;
                        continue;
                }
                assert_true(f->id == 7);
                if (f->type == (AGENT_CLASS_DATA | AGENT_DATA_CLOSE)) {
                        eof = true;
                } else {
                        assert_int_equal(f->type, AGENT_CLASS_DATA | AGENT_DATA_WRITE);
                        assert_true(f->len <= AGENT_MAX_DATA);
                        for (size_t i = 0; i < f->len; i++)
                                if (f->data[i] != pattern(received + i))
                                        fail_msg("byte %zu corrupted", received + i);
                        received += f->len;
                        if (received - credited > max_outstanding)
                                max_outstanding = received - credited;
                        if (received - credited > AGENT_STREAM_WINDOW)
                                fail_msg("writer has %zu bytes uncredited", received - credited);
                }
                agent_frame_free(f);
        }
        pthread_join(t, NULL);
        assert_int_equal(w.rc, 0);
        assert_int_equal(received, STREAM_BYTES);
        /* The writer used the whole window each time before it stopped. */
        assert_int_equal(max_outstanding, AGENT_STREAM_WINDOW);
        assert_true(rounds >= (int) (STREAM_BYTES / AGENT_STREAM_WINDOW) - 1);
        free(w.buf);
        agent_conn_free(host);
        close(fds[1]);
        agent_decoder_free(d);
}

/* conn to conn: the receiving conn credits only as the test's consumer drains. */
struct sink {
        struct agent_conn *conn;
        uint8_t *buf;
        size_t received, consumed, max_undrained;
        int eof;
        int bad;
};

static void sink_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                      void *userdata)
{
        struct sink *s = userdata;

        pthread_mutex_lock(&mu);
        if (!data) {
                s->eof = 1;
        } else if (stream != 3 || s->received + len > STREAM_BYTES) {
                s->bad = 1;
        } else {
                memcpy(s->buf + s->received, data, len);
                s->received += len;
                if (s->received - s->consumed > s->max_undrained)
                        s->max_undrained = s->received - s->consumed;
        }
        pthread_mutex_unlock(&mu);
}

static void *consume_slowly(void *arg)
{
        struct sink *s = arg;
        long end = now_ms() + 20000;

        for (;;) {
                size_t n;

                if (now_ms() > end) {
                        s->bad = 1; /* never saw the end of the stream */
                        return NULL;
                }

                pthread_mutex_lock(&mu);
                n = s->received - s->consumed;
                if (n > 16384)
                        n = 16384;
                s->consumed += n;
                if (n == 0 && s->eof) {
                        pthread_mutex_unlock(&mu);
                        return NULL;
                }
                pthread_mutex_unlock(&mu);
                if (n > 0 && agent_conn_stream_consumed(s->conn, 3, n, NULL) < 0)
                        s->bad = 1;
                usleep(1000);
        }
}

static void stream_between_conns(void **state)
{
        struct sink s = {0};
        const struct agent_conn_ops host_ops = {.data = sink_data};
        struct agent_conn *host = NULL, *agent = NULL;
        struct stream_writer w = {.stream = 3, .len = STREAM_BYTES};
        pthread_t tw, tc;
        int fds[2];
        uint8_t *expect;

        (void) state;
        pair(fds);
        s.buf = malloc(STREAM_BYTES);
        assert_non_null(s.buf);
        expect = pattern_buf(STREAM_BYTES);
        assert_int_equal(agent_conn_new(fds[0], &host_ops, &s, &host, NULL), 0);
        assert_int_equal(agent_conn_new(fds[1], NULL, NULL, &agent, NULL), 0);
        s.conn = host;
        w.conn = agent;
        w.buf = expect;
        assert_int_equal(pthread_create(&tc, NULL, consume_slowly, &s), 0);
        assert_int_equal(pthread_create(&tw, NULL, write_stream_main, &w), 0);
        pthread_join(tw, NULL);
        pthread_join(tc, NULL);
        assert_int_equal(w.rc, 0);
        assert_int_equal(s.bad, 0);
        assert_int_equal(s.received, STREAM_BYTES);
        assert_memory_equal(s.buf, expect, STREAM_BYTES);
        assert_true(s.max_undrained <= AGENT_STREAM_WINDOW);
        free(s.buf);
        free(expect);
        agent_conn_free(host);
        agent_conn_free(agent);
}

/* Several threads write streams at once, in pieces of every size (a byte,
 * a frame, frames in one batch), while the receiver credits as data comes:
 * writers write through themselves or hand over to the writer thread, and
 * no frame may interleave with another or overtake an older one of its
 * stream. */
#define MANY_WRITERS 4
#define MANY_BYTES (1u << 20)

struct many_sink {
        struct agent_conn *conn;
        size_t received[MANY_WRITERS];
        int eof, bad;
};

static void many_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                      void *userdata)
{
        struct many_sink *s = userdata;
        const uint8_t *p = data;
        size_t i = stream - 1;

        pthread_mutex_lock(&mu);
        if (stream < 1 || stream > MANY_WRITERS) {
                s->bad = 1;
        } else if (!data) {
                s->eof++;
        } else {
                for (size_t k = 0; k < len; k++)
                        if (p[k] != (uint8_t) (pattern(s->received[i] + k) + stream))
                                s->bad = 1;
                s->received[i] += len;
        }
        pthread_mutex_unlock(&mu);
        if (data && agent_conn_stream_consumed(conn, stream, len, NULL) < 0)
                s->bad = 1;
}

struct piece_writer {
        struct agent_conn *conn;
        uint64_t stream;
        uint8_t *buf;
        int rc;
};

static void *write_pieces_main(void *arg)
{
        static const size_t sizes[] = {1, 100, 4096, 65535, 65536, 65537, 131072, 200000};
        struct piece_writer *w = arg;
        size_t off = 0;

        for (unsigned k = (unsigned) w->stream; off < MANY_BYTES && w->rc == 0; k++) {
                size_t n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];

                n = n < MANY_BYTES - off ? n : MANY_BYTES - off;
                w->rc = agent_conn_write_stream(w->conn, w->stream, w->buf + off, n, 30000, NULL);
                off += n;
        }
        if (w->rc == 0)
                w->rc = agent_conn_close_stream(w->conn, w->stream, NULL);
        return NULL;
}

static void many_writers_never_interleave(void **state)
{
        const struct agent_conn_ops host_ops = {.data = many_data};
        struct many_sink s = {0};
        struct agent_conn *host = NULL, *agent = NULL;
        struct piece_writer w[MANY_WRITERS];
        pthread_t t[MANY_WRITERS];
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], &host_ops, &s, &host, NULL), 0);
        assert_int_equal(agent_conn_new(fds[1], NULL, NULL, &agent, NULL), 0);
        s.conn = host;
        for (int i = 0; i < MANY_WRITERS; i++) {
                w[i] = (struct piece_writer){.conn = agent, .stream = (uint64_t) i + 1};
                w[i].buf = pattern_buf(MANY_BYTES);
                for (size_t k = 0; k < MANY_BYTES; k++)
                        w[i].buf[k] = (uint8_t) (w[i].buf[k] + i + 1);
                assert_int_equal(pthread_create(&t[i], NULL, write_pieces_main, &w[i]), 0);
        }
        for (int i = 0; i < MANY_WRITERS; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(w[i].rc, 0);
                free(w[i].buf);
        }
        for (long end = now_ms() + 5000; now_ms() < end;) {
                pthread_mutex_lock(&mu);
                if (s.eof == MANY_WRITERS) {
                        pthread_mutex_unlock(&mu);
                        break;
                }
                pthread_mutex_unlock(&mu);
                usleep(1000);
        }
        pthread_mutex_lock(&mu);
        assert_int_equal(s.eof, MANY_WRITERS);
        assert_int_equal(s.bad, 0);
        for (int i = 0; i < MANY_WRITERS; i++)
                assert_int_equal(s.received[i], MANY_BYTES);
        pthread_mutex_unlock(&mu);
        agent_conn_free(host);
        agent_conn_free(agent);
}

static int closed_called, closed_code;
static char closed_msg[256];

static void on_closed(struct agent_conn *conn, int code, const char *msg, void *userdata)
{
        pthread_mutex_lock(&mu);
        closed_code = code;
        snprintf(closed_msg, sizeof(closed_msg), "%s", msg);
        closed_called = 1;
        pthread_mutex_unlock(&mu);
}

static void overrunning_peer_is_dropped(void **state)
{
        const struct agent_conn_ops ops = {.data = sink_data, .closed = on_closed};
        struct sink s = {.buf = malloc(STREAM_BYTES)};
        struct agent_conn *host = NULL;
        uint8_t *buf = NULL, *chunk = pattern_buf(AGENT_MAX_DATA);
        size_t len;
        int fds[2];

        (void) state;
        closed_called = 0;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], &ops, &s, &host, NULL), 0);
        s.conn = host;
        /* s consumes nothing, so the fifth 64 KiB frame exceeds the window. */
        assert_int_equal(agent_frame_encode_data(AGENT_CLASS_DATA, 3, chunk, AGENT_MAX_DATA, &buf,
                                                 &len, NULL),
                         0);
        for (int i = 0; i < 5; i++)
                write_raw(fds[1], buf, len);
        assert_true(wait_flag(&closed_called));
        assert_int_equal(closed_code, -EPROTO);
        assert_non_null(strstr(closed_msg, "overran"));
        assert_int_equal(s.received, AGENT_STREAM_WINDOW);
        free(buf);
        free(chunk);
        free(s.buf);
        agent_conn_free(host);
        close(fds[1]);
}

static void call_times_out(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_conn *host = NULL;
        struct uvm_error *err = NULL;
        json_object *q = req("c"), *resp = NULL, *late = json_object_new_object();
        struct agent_frame *f;
        uint8_t *buf = NULL;
        size_t len;
        long t0;
        int fds[2];

        (void) state;
        pair(fds);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &host, NULL), 0);
        t0 = now_ms();
        assert_int_equal(agent_conn_call(host, AGENT_RPC_WAIT_FOR_PROCESS, q, 150, &resp, &err),
                         -ETIMEDOUT);
        assert_true(now_ms() - t0 >= 150);
        assert_true(now_ms() - t0 < 3000);
        assert_non_null(strstr(err->msg, "WaitForProcess"));
        assert_non_null(strstr(err->msg, "timed out after 150 ms"));
        err = uvm_error_free(err);

        /* The request did go out; a late answer is ignored, the bridge stays up. */
        f = read_frame(fds[1], d);
        assert_non_null(f);
        assert_int_equal(f->type, AGENT_CLASS_REQUEST | AGENT_RPC_WAIT_FOR_PROCESS);
        json_object_object_add(late, "Result", json_object_new_int(0));
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_RESPONSE | AGENT_RPC_WAIT_FOR_PROCESS,
                                                 f->id, late, &buf, &len, NULL),
                         0);
        write_raw(fds[1], buf, len);
        agent_frame_free(f);
        assert_int_equal(agent_conn_call(host, AGENT_RPC_START, q, 50, &resp, NULL), -ETIMEDOUT);
        free(buf);
        json_object_put(q);
        json_object_put(late);
        agent_conn_free(host);
        close(fds[1]);
        agent_decoder_free(d);
}

struct waiter {
        struct agent_conn *conn;
        int rc;
        long took_ms;
};

static void *wait_call(void *arg)
{
        struct waiter *w = arg;
        json_object *q = req("c"), *resp = NULL;
        long t0 = now_ms();

        w->rc = agent_conn_call(w->conn, AGENT_RPC_START, q, 20000, &resp, NULL);
        w->took_ms = now_ms() - t0;
        json_object_put(q);
        return NULL;
}

static void close_wakes_waiters(void **state)
{
        const struct agent_conn_ops ops = {.closed = on_closed};
        struct agent_conn *host = NULL;
        struct waiter ws[3];
        struct stream_writer w = {.stream = 1, .len = AGENT_STREAM_WINDOW + 4096};
        pthread_t t[3], tw;
        int fds[2];

        (void) state;
        closed_called = 0;
        pair(fds);
        w.buf = pattern_buf(w.len);
        assert_int_equal(agent_conn_new(fds[0], &ops, NULL, &host, NULL), 0);
        w.conn = host;
        for (int i = 0; i < 3; i++) {
                ws[i] = (struct waiter){.conn = host};
                assert_int_equal(pthread_create(&t[i], NULL, wait_call, &ws[i]), 0);
        }
        /* No credit ever comes: this writer blocks once the window is used. */
        assert_int_equal(pthread_create(&tw, NULL, write_stream_main, &w), 0);
        usleep(200 * 1000);
        agent_conn_close(host);
        for (int i = 0; i < 3; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(ws[i].rc, -ECONNRESET);
                assert_true(ws[i].took_ms < 5000);
        }
        pthread_join(tw, NULL);
        assert_int_equal(w.rc, -ECONNRESET);
        assert_true(wait_flag(&closed_called));
        assert_int_equal(closed_code, -ECONNRESET);
        /* Closed for good: new calls fail at once. */
        ws[0].rc = 0;
        wait_call(&ws[0]);
        assert_int_equal(ws[0].rc, -ECONNRESET);
        free(w.buf);
        agent_conn_free(host);
        close(fds[1]);
}

static void peer_eof_and_garbage_wake_waiters(void **state)
{
        const struct agent_conn_ops ops = {.closed = on_closed};
        struct agent_conn *host = NULL;
        struct waiter ws = {0};
        uint8_t junk[16] = {0xff, 0xff, 0xff, 0xff, 16};
        pthread_t t;
        int fds[2];

        (void) state;
        for (int round = 0; round < 2; round++) {
                closed_called = 0;
                pair(fds);
                assert_int_equal(agent_conn_new(fds[0], &ops, NULL, &host, NULL), 0);
                ws.conn = host;
                assert_int_equal(pthread_create(&t, NULL, wait_call, &ws), 0);
                usleep(100 * 1000);
                if (round == 0)
                        close(fds[1]);
                else
                        write_raw(fds[1], junk, sizeof(junk));
                pthread_join(t, NULL);
                assert_int_equal(ws.rc, -ECONNRESET);
                assert_true(wait_flag(&closed_called));
                if (round == 0) {
                        assert_int_equal(closed_code, -ECONNRESET);
                } else {
                        assert_int_equal(closed_code, -EBADMSG);
                        assert_non_null(strstr(closed_msg, "unknown type 0xffffffff"));
                        close(fds[1]);
                }
                host = agent_conn_free(host);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(concurrent_calls_matched_by_id),
                cmocka_unit_test(handler_error_and_no_handler),
                cmocka_unit_test(notification_delivered),
                cmocka_unit_test(responded_then_credit),
                cmocka_unit_test(writer_respects_window),
                cmocka_unit_test(stream_between_conns),
                cmocka_unit_test(many_writers_never_interleave),
                cmocka_unit_test(overrunning_peer_is_dropped),
                cmocka_unit_test(call_times_out),
                cmocka_unit_test(close_wakes_waiters),
                cmocka_unit_test(peer_eof_and_garbage_wake_waiters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
