/* Negotiated bridge limits (conn.h, "BridgeLimits"): a new host and a new
 * agent agree on the bulk frame size and window and use them both ways;
 * a new host with an old agent, and an old host with a new agent, keep the
 * defaults, and the side that offered or answered still refuses a frame or
 * a window overrun beyond them. Old peers are played by connections that do
 * not offer or answer (what the old code did), or by a raw socket that
 * writes frames as a peer of either version would. */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/conn.h"

#define STREAM_BYTES (4u << 20)
#define STREAM_ID 5

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void pair(int fds[2])
{
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static uint8_t pattern(size_t i)
{
        return (uint8_t) (i * 131 + (i >> 12));
}

/* Write all of buf, or until the peer dropped the connection (what some
 * tests make it do while they write). */
static void write_raw(int fd, const uint8_t *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

                if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
                        return;
                assert_true(n > 0);
                buf += n;
                len -= (size_t) n;
        }
}

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

static bool limits_are(struct agent_limits l, uint32_t max_data, uint32_t window)
{
        return l.max_data == max_data && l.window == window;
}

/* --- peers --- */

/* What the receiving side saw of stream STREAM_ID. Only a consumer thread
 * (stream_through) drains it: otherwise the window fills and stays full. */
struct side {
        struct agent_conn *conn;
        bool new_agent; /* answers an offer */
        uint8_t *buf;
        size_t received, consumed, max_frame, max_undrained;
        int eof, bad, closed, close_code;
        char close_msg[256];
};

static void side_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                      void *userdata)
{
        struct side *s = userdata;

        pthread_mutex_lock(&mu);
        if (!data) {
                s->eof = 1;
        } else if (stream != STREAM_ID || s->received + len > STREAM_BYTES) {
                s->bad = 1;
        } else {
                memcpy(s->buf + s->received, data, len);
                s->received += len;
                if (len > s->max_frame)
                        s->max_frame = len;
                if (s->received - s->consumed > s->max_undrained)
                        s->max_undrained = s->received - s->consumed;
        }
        pthread_mutex_unlock(&mu);
}

static void side_closed(struct agent_conn *conn, int code, const char *msg, void *userdata)
{
        struct side *s = userdata;

        pthread_mutex_lock(&mu);
        s->close_code = code;
        snprintf(s->close_msg, sizeof(s->close_msg), "%s", msg ? msg : "");
        s->closed = 1;
        pthread_mutex_unlock(&mu);
}

/* The agent's NegotiateProtocol, as agent_main.c answers it; an old agent
 * answers the same without looking at the offer. */
static int side_request(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                        void *userdata, struct uvm_error **err)
{
        struct side *s = userdata;
        json_object *caps;

        if (rpc != AGENT_RPC_NEGOTIATE_PROTOCOL)
                return uvm_error_set(err, ENOSYS, "not here");
        *ret = json_object_new_object();
        caps = json_object_new_object();
        json_object_object_add(*ret, "Version", json_object_new_int(1));
        json_object_object_add(caps, "Streaming", json_object_new_boolean(true));
        json_object_object_add(*ret, "Capabilities", caps);
        return s->new_agent ? agent_conn_answer_limits(conn, req, caps, err) : 0;
}

static const struct agent_conn_ops side_ops = {
        .request = side_request, .data = side_data, .closed = side_closed};

static void side_init(struct side *s, int fd, bool new_agent)
{
        *s = (struct side){.new_agent = new_agent, .buf = malloc(STREAM_BYTES)};
        assert_non_null(s->buf);
        assert_int_equal(agent_conn_new(fd, &side_ops, s, &s->conn, NULL), 0);
}

static void side_fini(struct side *s)
{
        agent_conn_free(s->conn);
        free(s->buf);
}

static bool wait_closed(struct side *s)
{
        long end = now_ms() + 5000;
        bool ok;

        pthread_mutex_lock(&mu);
        while (!s->closed && now_ms() < end) {
                pthread_mutex_unlock(&mu);
                usleep(1000);
                pthread_mutex_lock(&mu);
        }
        ok = s->closed;
        pthread_mutex_unlock(&mu);
        return ok;
}

static json_object *negotiate_req(void)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(""));
        json_object_object_add(o, "ActivityId", json_object_new_string("t-1"));
        json_object_object_add(o, "MinimumVersion", json_object_new_int(1));
        json_object_object_add(o, "MaximumVersion", json_object_new_int(1));
        return o;
}

/* The host's NegotiateProtocol: with the offer (a new host) or without (an
 * old one). Returns the response's Capabilities.BridgeLimits, if any. */
static json_object *host_negotiate(struct agent_conn *host, bool offer)
{
        json_object *q = negotiate_req(), *resp = NULL, *caps, *bl = NULL;
        struct uvm_error *err = NULL;

        if (offer)
                assert_int_equal(agent_conn_offer_limits(host, q, NULL), 0);
        if (agent_conn_call(host, AGENT_RPC_NEGOTIATE_PROTOCOL, q, 5000, &resp, &err) < 0)
                fail_msg("negotiate: %s", err->msg);
        caps = json_object_object_get(resp, "Capabilities");
        assert_non_null(caps);
        if (json_object_object_get_ex(caps, "BridgeLimits", &bl))
                json_object_get(bl);
        json_object_put(resp);
        json_object_put(q);
        return bl;
}

/* The agent applies its send limits just after its answer is queued. */
static struct agent_limits settled_limits(struct agent_conn *conn, struct agent_limits want)
{
        struct agent_limits l = agent_conn_limits(conn);

        for (long end = now_ms() + 5000;
             !limits_are(l, want.max_data, want.window) && now_ms() < end;
             l = agent_conn_limits(conn))
                usleep(1000);
        return l;
}

/* --- streaming through negotiated connections --- */

struct writer {
        struct agent_conn *conn;
        const uint8_t *buf;
        int rc;
};

static void *write_main(void *arg)
{
        struct writer *w = arg;

        /* Pieces of every size: a byte, frames of either limit, a batch. */
        static const size_t sizes[] = {1, 65536, 65537, 262144, 300000, 600000, 4096};
        size_t off = 0;

        for (unsigned k = 0; off < STREAM_BYTES && w->rc == 0; k++) {
                size_t n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];

                n = n < STREAM_BYTES - off ? n : STREAM_BYTES - off;
                w->rc = agent_conn_write_stream(w->conn, STREAM_ID, w->buf + off, n, 30000, NULL);
                off += n;
        }
        if (w->rc == 0)
                w->rc = agent_conn_close_stream(w->conn, STREAM_ID, NULL);
        return NULL;
}

static void *consume_main(void *arg)
{
        struct side *s = arg;
        long end = now_ms() + 30000;

        for (;;) {
                size_t n;

                if (now_ms() > end) {
                        s->bad = 1;
                        return NULL;
                }
                pthread_mutex_lock(&mu);
                n = s->received - s->consumed;
                n = n < 65536 ? n : 65536;
                s->consumed += n;
                if (n == 0 && s->eof) {
                        pthread_mutex_unlock(&mu);
                        return NULL;
                }
                pthread_mutex_unlock(&mu);
                if (n > 0 && agent_conn_stream_consumed(s->conn, STREAM_ID, n, NULL) < 0)
                        s->bad = 1;
                usleep(200);
        }
}

/* STREAM_BYTES from one side to the other: intact, in frames of at most
 * max_data, never more than window undrained; the largest frame seen. */
static size_t stream_through(struct side *from, struct side *to, uint32_t max_data, uint32_t window)
{
        uint8_t *expect = malloc(STREAM_BYTES);
        struct writer w = {.conn = from->conn, .buf = expect};
        pthread_t tw, tc;

        assert_non_null(expect);
        for (size_t i = 0; i < STREAM_BYTES; i++)
                expect[i] = pattern(i);
        to->received = to->consumed = to->max_frame = to->max_undrained = 0;
        to->eof = to->bad = 0;
        assert_int_equal(pthread_create(&tc, NULL, consume_main, to), 0);
        assert_int_equal(pthread_create(&tw, NULL, write_main, &w), 0);
        pthread_join(tw, NULL);
        pthread_join(tc, NULL);
        assert_int_equal(w.rc, 0);
        assert_int_equal(to->bad, 0);
        assert_int_equal(to->received, STREAM_BYTES);
        assert_memory_equal(to->buf, expect, STREAM_BYTES);
        assert_true(to->max_frame <= max_data);
        assert_true(to->max_undrained <= window);
        free(expect);
        return to->max_frame;
}

/* New host, new agent: both use the bulk limits, both ways. */
static void new_host_new_agent(void **state)
{
        struct side host, agent;
        json_object *bl;
        int fds[2];

        (void) state;
        pair(fds);
        side_init(&host, fds[0], false);
        side_init(&agent, fds[1], true);
        bl = host_negotiate(host.conn, true);
        assert_non_null(bl);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "MaxData")),
                         AGENT_BULK_MAX_DATA);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "Window")),
                         AGENT_BULK_WINDOW);
        json_object_put(bl);
        /* The host took the answer before its call returned. */
        assert_true(
                limits_are(agent_conn_limits(host.conn), AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW));
        assert_true(limits_are(settled_limits(agent.conn, (struct agent_limits){AGENT_BULK_MAX_DATA,
                                                                                AGENT_BULK_WINDOW}),
                               AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW));
        assert_int_equal(stream_through(&agent, &host, AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW),
                         AGENT_BULK_MAX_DATA);
        assert_int_equal(stream_through(&host, &agent, AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW),
                         AGENT_BULK_MAX_DATA);
        side_fini(&host);
        side_fini(&agent);
}

/* New host, old agent; old host, new agent: the defaults, both ways. */
static void mixed_versions_keep_defaults(void **state)
{
        for (int old_agent = 0; old_agent < 2; old_agent++) {
                struct side host, agent;
                int fds[2];

                pair(fds);
                side_init(&host, fds[0], false);
                side_init(&agent, fds[1], !old_agent);
                /* A new host offers to the old agent; an old host never does. */
                assert_null(host_negotiate(host.conn, old_agent));
                usleep(20 * 1000);
                assert_true(limits_are(agent_conn_limits(host.conn), AGENT_MAX_DATA,
                                       AGENT_STREAM_WINDOW));
                assert_true(limits_are(agent_conn_limits(agent.conn), AGENT_MAX_DATA,
                                       AGENT_STREAM_WINDOW));
                assert_int_equal(stream_through(&agent, &host, AGENT_MAX_DATA, AGENT_STREAM_WINDOW),
                                 AGENT_MAX_DATA);
                assert_int_equal(stream_through(&host, &agent, AGENT_MAX_DATA, AGENT_STREAM_WINDOW),
                                 AGENT_MAX_DATA);
                side_fini(&host);
                side_fini(&agent);
        }
        (void) state;
}

/* --- a raw peer: what the other side accepts, byte for byte --- */

static uint8_t *data_frames(int count, size_t len, size_t *ret_len)
{
        size_t one = AGENT_HEADER_SIZE + len;
        uint8_t *b = calloc((size_t) count, one);

        assert_non_null(b);
        for (int k = 0; k < count; k++) {
                uint8_t *p = b + (size_t) k * one;
                uint32_t type = AGENT_CLASS_DATA | AGENT_DATA_WRITE, size = (uint32_t) one;

                for (int i = 0; i < 4; i++) {
                        p[i] = (uint8_t) (type >> (8 * i));
                        p[4 + i] = (uint8_t) (size >> (8 * i));
                }
                p[8] = STREAM_ID;
        }
        *ret_len = (size_t) count * one;
        return b;
}

/* Append buf to *out (a growing write, so frames go in one piece). */
static void append(uint8_t **out, size_t *out_len, const uint8_t *buf, size_t len)
{
        *out = realloc(*out, *out_len + len);
        assert_non_null(*out);
        memcpy(*out + *out_len, buf, len);
        *out_len += len;
}

struct host_call {
        struct agent_conn *conn;
        bool offer;
        int rc;
        char msg[256];
};

static void *host_call_main(void *arg)
{
        struct host_call *c = arg;
        json_object *q = negotiate_req(), *resp = NULL;
        struct uvm_error *err = NULL;

        if (c->offer)
                assert_int_equal(agent_conn_offer_limits(c->conn, q, NULL), 0);
        c->rc = agent_conn_call(c->conn, AGENT_RPC_NEGOTIATE_PROTOCOL, q, 5000, &resp, &err);
        if (err)
                snprintf(c->msg, sizeof(c->msg), "%s", err->msg);
        uvm_error_free(err);
        json_object_put(resp);
        json_object_put(q);
        return NULL;
}

/* A raw agent answers the host's Negotiate with answer_caps (the JSON of
 * its Capabilities) and, in the same write, the frames of then; the
 * host's call result, and how its connection ended (0: still up). */
static int raw_agent(const char *answer_caps, const uint8_t *then, size_t then_len,
                     struct side *host, char *call_msg, size_t msg_len)
{
        struct agent_decoder *d = agent_decoder_new();
        struct host_call c = {0};
        struct agent_frame *f;
        json_object *resp, *bl;
        uint8_t *out = NULL, *buf = NULL;
        size_t out_len = 0, len;
        pthread_t t;
        int fds[2];
        char text[512];

        pair(fds);
        side_init(host, fds[0], false);
        c = (struct host_call){.conn = host->conn, .offer = true};
        assert_int_equal(pthread_create(&t, NULL, host_call_main, &c), 0);
        f = read_frame(fds[1], d);
        assert_non_null(f);
        assert_int_equal(f->type, AGENT_CLASS_REQUEST | AGENT_RPC_NEGOTIATE_PROTOCOL);
        /* The new host's offer. */
        bl = json_object_object_get(f->json, "BridgeLimits");
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "MaxData")),
                         AGENT_BULK_MAX_DATA);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "Window")),
                         AGENT_BULK_WINDOW);
        snprintf(text, sizeof(text), "{\"Result\":0,\"Version\":1,\"Capabilities\":%s}",
                 answer_caps);
        resp = json_tokener_parse(text);
        assert_non_null(resp);
        assert_int_equal(
                agent_frame_encode_json(AGENT_CLASS_RESPONSE | AGENT_RPC_NEGOTIATE_PROTOCOL, f->id,
                                        resp, &buf, &len, NULL),
                0);
        append(&out, &out_len, buf, len);
        if (then_len)
                append(&out, &out_len, then, then_len);
        write_raw(fds[1], out, out_len);
        pthread_join(t, NULL);
        snprintf(call_msg, msg_len, "%s", c.msg);
        json_object_put(resp);
        agent_frame_free(f);
        free(buf);
        free(out);
        agent_decoder_free(d);
        /* What was written is read before the EOF. */
        close(fds[1]);
        return c.rc;
}

static const char *const NEW_CAPS =
        "{\"Streaming\":true,\"BridgeLimits\":{\"MaxData\":262144,\"Window\":1048576}}";
static const char *const OLD_CAPS = "{\"Streaming\":true}";

/* The host takes the answer before the frames right behind it: a new
 * agent's window of bulk frames passes, and one byte more overruns it. */
static void host_takes_answer_before_next_frame(void **state)
{
        struct side host;
        size_t len, len1;
        uint8_t *b = data_frames(4, AGENT_BULK_MAX_DATA, &len), *one = data_frames(1, 1, &len1);
        char msg[256];

        (void) state;
        append(&b, &len, one, len1);
        assert_int_equal(raw_agent(NEW_CAPS, b, len, &host, msg, sizeof(msg)), 0);
        assert_true(wait_closed(&host));
        assert_int_equal(host.received, AGENT_BULK_WINDOW);
        assert_int_equal(host.max_frame, AGENT_BULK_MAX_DATA);
        assert_int_equal(host.close_code, -EPROTO);
        assert_non_null(strstr(host.close_msg, "overran the 1048576-byte window"));
        side_fini(&host);

        /* A bulk frame one byte too long. */
        free(b);
        b = data_frames(1, AGENT_BULK_MAX_DATA + 1, &len);
        assert_int_equal(raw_agent(NEW_CAPS, b, len, &host, msg, sizeof(msg)), 0);
        assert_true(wait_closed(&host));
        assert_int_equal(host.close_code, -EMSGSIZE);
        assert_non_null(strstr(host.close_msg, "262144-byte limit"));
        side_fini(&host);
        free(b);
        free(one);
}

/* An old agent (no answer): a frame over 64 KiB, or more than 256 KiB
 * unconsumed, is still a protocol error. */
static void host_with_old_agent_is_strict(void **state)
{
        struct side host;
        size_t len;
        uint8_t *b = data_frames(1, AGENT_MAX_DATA + 1, &len);
        char msg[256];

        (void) state;
        assert_int_equal(raw_agent(OLD_CAPS, b, len, &host, msg, sizeof(msg)), 0);
        assert_true(wait_closed(&host));
        assert_int_equal(host.close_code, -EMSGSIZE);
        assert_non_null(strstr(host.close_msg, "65536-byte limit"));
        assert_true(limits_are(agent_conn_limits(host.conn), AGENT_MAX_DATA, AGENT_STREAM_WINDOW));
        side_fini(&host);
        free(b);

        b = data_frames(5, AGENT_MAX_DATA, &len);
        assert_int_equal(raw_agent(OLD_CAPS, b, len, &host, msg, sizeof(msg)), 0);
        assert_true(wait_closed(&host));
        assert_int_equal(host.received, AGENT_STREAM_WINDOW);
        assert_int_equal(host.close_code, -EPROTO);
        assert_non_null(strstr(host.close_msg, "overran the 262144-byte window"));
        side_fini(&host);
        free(b);
}

/* An answer beyond the offer, or malformed, drops the connection: the
 * call fails with the reason. */
static void host_refuses_bad_answers(void **state)
{
        static const char *const bad[] = {
                "{\"BridgeLimits\":{\"MaxData\":524288,\"Window\":1048576}}",
                "{\"BridgeLimits\":{\"MaxData\":262144,\"Window\":2097152}}",
                "{\"BridgeLimits\":{\"MaxData\":262144,\"Window\":262143}}",
                "{\"BridgeLimits\":\"big\"}",
        };
        static const char *const why[] = {"beyond the offer", "beyond the offer",
                                          "below the defaults", "not an object"};

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct side host;
                char msg[256];

                assert_int_equal(raw_agent(bad[i], NULL, 0, &host, msg, sizeof(msg)), -ECONNRESET);
                if (!strstr(msg, why[i]))
                        fail_msg("\"%s\" lacks \"%s\"", msg, why[i]);
                assert_true(wait_closed(&host));
                side_fini(&host);
        }
}

/* A raw host negotiates with a new agent (offer: the JSON of BridgeLimits,
 * or NULL for an old host), then writes then. The agent's response
 * frame is returned. */
static struct agent_frame *raw_host(const char *offer, const uint8_t *then, size_t then_len,
                                    struct side *agent)
{
        struct agent_decoder *d = agent_decoder_new();
        json_object *q = negotiate_req();
        struct agent_frame *f;
        uint8_t *buf = NULL;
        size_t len;
        int fds[2];

        pair(fds);
        side_init(agent, fds[1], true);
        if (offer)
                json_object_object_add(q, "BridgeLimits", json_tokener_parse(offer));
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_REQUEST | AGENT_RPC_NEGOTIATE_PROTOCOL,
                                                 1, q, &buf, &len, NULL),
                         0);
        write_raw(fds[0], buf, len);
        f = read_frame(fds[0], d);
        assert_non_null(f);
        assert_int_equal(f->type, AGENT_CLASS_RESPONSE | AGENT_RPC_NEGOTIATE_PROTOCOL);
        if (then_len)
                write_raw(fds[0], then, then_len);
        close(fds[0]);
        free(buf);
        json_object_put(q);
        agent_decoder_free(d);
        return f;
}

static json_object *answer_limits(const struct agent_frame *f)
{
        return json_object_object_get(json_object_object_get(f->json, "Capabilities"),
                                      "BridgeLimits");
}

/* An old host (no offer): the new agent answers nothing and keeps 64 KiB
 * frames and 256 KiB windows. */
static void agent_with_old_host_is_strict(void **state)
{
        struct side agent;
        struct agent_frame *f;
        size_t len;
        uint8_t *b = data_frames(1, AGENT_MAX_DATA + 1, &len);

        (void) state;
        f = raw_host(NULL, b, len, &agent);
        assert_null(answer_limits(f));
        assert_true(wait_closed(&agent));
        assert_int_equal(agent.close_code, -EMSGSIZE);
        assert_true(limits_are(agent_conn_limits(agent.conn), AGENT_MAX_DATA, AGENT_STREAM_WINDOW));
        agent_frame_free(f);
        side_fini(&agent);
        free(b);

        b = data_frames(5, AGENT_MAX_DATA, &len);
        f = raw_host(NULL, b, len, &agent);
        assert_true(wait_closed(&agent));
        assert_int_equal(agent.received, AGENT_STREAM_WINDOW);
        assert_int_equal(agent.close_code, -EPROTO);
        assert_non_null(strstr(agent.close_msg, "overran the 262144-byte window"));
        agent_frame_free(f);
        side_fini(&agent);
        free(b);
}

/* A new host's offer: the agent answers the bulk limits (or its own maxima
 * for a larger offer) and takes a window of bulk frames, not a byte more. */
static void agent_answers_offer(void **state)
{
        struct side agent;
        struct agent_frame *f;
        json_object *bl;
        size_t len, len1;
        uint8_t *b = data_frames(4, AGENT_BULK_MAX_DATA, &len), *one = data_frames(1, 1, &len1);

        (void) state;
        append(&b, &len, one, len1);
        f = raw_host("{\"MaxData\":262144,\"Window\":1048576}", b, len, &agent);
        bl = answer_limits(f);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "MaxData")),
                         AGENT_BULK_MAX_DATA);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "Window")),
                         AGENT_BULK_WINDOW);
        assert_true(wait_closed(&agent));
        assert_int_equal(agent.received, AGENT_BULK_WINDOW);
        assert_int_equal(agent.close_code, -EPROTO);
        assert_non_null(strstr(agent.close_msg, "overran the 1048576-byte window"));
        agent_frame_free(f);
        side_fini(&agent);
        free(b);
        free(one);

        /* A newer host offering more gets our maxima; a smaller offer is
         * taken as it is. */
        f = raw_host("{\"MaxData\":8388608,\"Window\":67108864}", NULL, 0, &agent);
        bl = answer_limits(f);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "MaxData")),
                         AGENT_BULK_MAX_DATA);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "Window")),
                         AGENT_BULK_WINDOW);
        agent_frame_free(f);
        side_fini(&agent);
        f = raw_host("{\"MaxData\":131072,\"Window\":524288}", NULL, 0, &agent);
        bl = answer_limits(f);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "MaxData")), 131072);
        assert_int_equal(json_object_get_int64(json_object_object_get(bl, "Window")), 524288);
        assert_true(limits_are(settled_limits(agent.conn, (struct agent_limits){131072, 524288}),
                               131072, 524288));
        agent_frame_free(f);
        side_fini(&agent);
}

/* A malformed offer fails the Negotiate; the limits stay. */
static void agent_refuses_bad_offer(void **state)
{
        struct side agent;
        struct agent_frame *f;

        (void) state;
        f = raw_host("{\"MaxData\":1,\"Window\":1048576}", NULL, 0, &agent);
        assert_int_equal(json_object_get_int(json_object_object_get(f->json, "Result")), -EBADMSG);
        assert_non_null(
                strstr(json_object_get_string(json_object_object_get(f->json, "ErrorMessage")),
                       "below the defaults"));
        assert_null(answer_limits(f));
        usleep(20 * 1000);
        assert_true(limits_are(agent_conn_limits(agent.conn), AGENT_MAX_DATA, AGENT_STREAM_WINDOW));
        agent_frame_free(f);
        side_fini(&agent);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(new_host_new_agent),
                cmocka_unit_test(mixed_versions_keep_defaults),
                cmocka_unit_test(host_takes_answer_before_next_frame),
                cmocka_unit_test(host_with_old_agent_is_strict),
                cmocka_unit_test(host_refuses_bad_answers),
                cmocka_unit_test(agent_with_old_host_is_strict),
                cmocka_unit_test(agent_answers_offer),
                cmocka_unit_test(agent_refuses_bad_offer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
