/* libFuzzer harness for the SPDY/3.1 decoder.
 *
 * Input: byte 0 selects k = byte0 % 4 chunk sizes, the next k bytes give them
 * (size = byte + 1; k == 0 feeds everything at once); the rest is the byte
 * stream from the peer, fed in chunks cycling through those sizes so frame
 * boundaries land everywhere. Small limits, so the bounds are reached.
 *
 * Every frame the decoder yields must satisfy the codec's invariants and come
 * back unchanged through our encoder and a second decoder (one persistent zlib
 * stream each way, as on a connection); flow-control windows driven by the
 * frames stay in range; stream errors leave the session usable and session
 * errors are sticky. */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/spdy.h"

static const struct spdy_limits limits = {
        .max_data = 4096,
        .max_control = 4096,
        .max_header_bytes = 1024,
        .max_headers = 16,
};

struct checker {
        struct spdy_session *enc; /* our encoder, one deflate stream */
        struct spdy_session *dec; /* a second decoder, one inflate stream */
        struct spdy_window session, stream;
        uint32_t peer_initial;
};

static void check_headers(const struct spdy_frame *f)
{
        assert(f->n_headers <= limits.max_headers);
        for (size_t i = 0; i < f->n_headers; i++) {
                const struct spdy_header *h = &f->headers[i];
                size_t nl = strlen(h->name);

                assert(nl > 0);
                for (size_t j = 0; j < nl; j++)
                        assert(h->name[j] > 0x20 && h->name[j] < 0x7f &&
                               !(h->name[j] >= 'A' && h->name[j] <= 'Z'));
                assert(h->value[h->value_len] == '\0');
                if (h->value_len) {
                        assert(h->value[0] && h->value[h->value_len - 1]);
                        assert(!memmem(h->value, h->value_len, "\0\0", 2));
                }
                for (size_t j = 0; j < i; j++)
                        assert(strcmp(f->headers[j].name, h->name) != 0);
                assert(spdy_header_find(f->headers, f->n_headers, h->name) == h);
        }
}

static void check_frame(const struct spdy_frame *f, uint32_t last_stream)
{
        switch (f->type) {
        case SPDY_DATA:
                assert(f->stream_id && f->stream_id <= SPDY_MAX_STREAM_ID);
                assert(f->len <= limits.max_data && (f->len == 0) == (f->data == NULL));
                assert(!(f->flags & ~SPDY_FLAG_FIN));
                break;
        case SPDY_SYN_STREAM:
                assert(f->stream_id % 2 == 1 && f->stream_id == last_stream);
                assert(f->priority <= 7 && f->assoc_stream_id <= SPDY_MAX_STREAM_ID);
                check_headers(f);
                break;
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                assert(f->stream_id && f->stream_id <= SPDY_MAX_STREAM_ID);
                assert(!(f->flags & ~SPDY_FLAG_FIN));
                check_headers(f);
                break;
        case SPDY_RST_STREAM:
                assert(f->stream_id && f->status);
                break;
        case SPDY_SETTINGS:
                assert((f->n_settings == 0) == (f->settings == NULL));
                for (size_t i = 0; i < f->n_settings; i++)
                        assert(f->settings[i].id <= 0xffffff && f->settings[i].flags <= 3);
                break;
        case SPDY_WINDOW_UPDATE:
                assert(f->delta >= 1 && f->delta <= SPDY_MAX_WINDOW);
                assert(f->stream_id <= SPDY_MAX_STREAM_ID);
                break;
        case SPDY_PING:
        case SPDY_GOAWAY:
                assert(f->flags == 0 && f->last_good_stream_id <= SPDY_MAX_STREAM_ID);
                break;
        default:
                assert(!"unknown frame type yielded");
        }
}

static int encode(struct checker *c, const struct spdy_frame *f, struct spdy_buf *b)
{
        switch (f->type) {
        case SPDY_DATA:
                return spdy_encode_data(b, f->stream_id, f->flags, f->data, f->len, NULL);
        case SPDY_SYN_STREAM:
                return spdy_encode_syn_stream(c->enc, b, f->stream_id, f->assoc_stream_id,
                                              f->priority, f->flags, f->headers, f->n_headers,
                                              NULL);
        case SPDY_SYN_REPLY:
                return spdy_encode_syn_reply(c->enc, b, f->stream_id, f->flags, f->headers,
                                             f->n_headers, NULL);
        case SPDY_HEADERS:
                return spdy_encode_headers(c->enc, b, f->stream_id, f->flags, f->headers,
                                           f->n_headers, NULL);
        case SPDY_RST_STREAM:
                return spdy_encode_rst_stream(b, f->stream_id, f->status, NULL);
        case SPDY_SETTINGS:
                return spdy_encode_settings(b, f->flags, f->settings, f->n_settings, NULL);
        case SPDY_PING:
                return spdy_encode_ping(b, f->ping_id, NULL);
        case SPDY_GOAWAY:
                return spdy_encode_goaway(b, f->last_good_stream_id, f->status, NULL);
        default:
                return spdy_encode_window_update(b, f->stream_id, f->delta, NULL);
        }
}

static void assert_same(const struct spdy_frame *f, const struct spdy_frame *g)
{
        assert(f->type == g->type && f->flags == g->flags && f->stream_id == g->stream_id);
        assert(f->assoc_stream_id == g->assoc_stream_id && f->priority == g->priority);
        assert(f->status == g->status && f->last_good_stream_id == g->last_good_stream_id);
        assert(f->ping_id == g->ping_id && f->delta == g->delta && f->len == g->len);
        assert(f->len == 0 || memcmp(f->data, g->data, f->len) == 0);
        assert(f->n_headers == g->n_headers && f->n_settings == g->n_settings);
        for (size_t i = 0; i < f->n_headers; i++) {
                assert(strcmp(f->headers[i].name, g->headers[i].name) == 0);
                assert(f->headers[i].value_len == g->headers[i].value_len);
                assert(memcmp(f->headers[i].value, g->headers[i].value, f->headers[i].value_len) ==
                       0);
        }
        for (size_t i = 0; i < f->n_settings; i++)
                assert(f->settings[i].flags == g->settings[i].flags &&
                       f->settings[i].id == g->settings[i].id &&
                       f->settings[i].value == g->settings[i].value);
}

/* Encode f, decode it again, compare. f points into the fuzzed session, which
 * is not touched meanwhile. */
static void round_trip(struct checker *c, const struct spdy_frame *f)
{
        struct spdy_buf b = {0};
        struct spdy_frame g;
        size_t used;

        assert(encode(c, f, &b) == 0);
        assert(spdy_feed(c->dec, b.data, b.len, &used, NULL) == 0 && used == b.len);
        assert(spdy_next(c->dec, &g, NULL) == 1);
        assert_same(f, &g);
        spdy_buf_free(&b);
}

/* Drive the window arithmetic with what the peer sent. */
static void flow(struct checker *c, const struct spdy_frame *f)
{
        struct spdy_window *w = f->stream_id ? &c->stream : &c->session;

        if (f->type == SPDY_WINDOW_UPDATE && spdy_window_update(w, f->delta, NULL) < 0)
                assert(w->send + (int64_t) f->delta > SPDY_MAX_WINDOW);
        for (size_t i = 0; f->type == SPDY_SETTINGS && i < f->n_settings; i++) {
                if (f->settings[i].id != SPDY_SETTINGS_INITIAL_WINDOW_SIZE)
                        continue;
                if (spdy_window_resize(&c->stream, c->peer_initial, f->settings[i].value, NULL) ==
                    0)
                        c->peer_initial = f->settings[i].value;
        }
        if (f->type == SPDY_DATA && spdy_window_received(&c->session, f->len, NULL) == 0) {
                uint32_t delta = spdy_window_consumed(&c->session, f->len);

                assert(delta == 0 || delta >= SPDY_INITIAL_WINDOW / 2);
        }
        assert(c->session.send <= SPDY_MAX_WINDOW && c->stream.send <= SPDY_MAX_WINDOW);
        assert(c->session.recv >= 0 && c->session.recv <= SPDY_INITIAL_WINDOW);
        assert(spdy_window_sendable(&c->session, &c->stream, 1u << 20) <= SPDY_MAX_WINDOW);
}

/* Pull everything decodable; returns the last result. */
static int drain(struct spdy_session *s, struct checker *c)
{
        struct spdy_frame f;
        int r;

        while ((r = spdy_next(s, &f, NULL)) != 0) {
                if (r == -EBADMSG) {
                        /* A stream error: the frame is gone, the session goes on. */
                        assert(!spdy_session_fault(s)->session && spdy_session_fault(s)->stream_id);
                        continue;
                }
                if (r < 0)
                        return r;
                check_frame(&f, spdy_session_last_stream(s));
                round_trip(c, &f);
                flow(c, &f);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct checker c = {0};
        struct spdy_session *s;
        size_t k, sizes[3], i = 0;
        int r = 0;

        if (size < 1)
                return 0;
        k = data[0] % 4;
        if (size < 1 + k)
                return 0;
        for (size_t j = 0; j < k; j++)
                sizes[j] = (size_t) data[1 + j] + 1;
        data += 1 + k;
        size -= 1 + k;

        s = spdy_session_new(&limits);
        c.enc = spdy_session_new(&limits);
        c.dec = spdy_session_new(&limits);
        assert(s && c.enc && c.dec);
        spdy_window_init(&c.session, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        spdy_window_init(&c.stream, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        c.peer_initial = SPDY_INITIAL_WINDOW;

        while (size > 0 && r >= 0) {
                size_t n = k ? sizes[i++ % k] : size;

                n = n < size ? n : size;
                while (n > 0 && r >= 0) {
                        size_t used = 0;

                        r = spdy_feed(s, data, n, &used, NULL);
                        assert(r == 0 || r == -EPROTO || r == -EMSGSIZE);
                        if (r < 0)
                                break;
                        data += used;
                        size -= used;
                        n -= used;
                        r = drain(s, &c);
                }
        }
        if (r < 0) {
                struct spdy_frame f;
                size_t used = 7;

                /* Sticky: a session error refuses anything after it. */
                assert(r == -EPROTO || r == -EMSGSIZE);
                assert(spdy_session_fault(s)->session);
                assert(spdy_feed(s, "x", 1, &used, NULL) == r && used == 7);
                assert(spdy_next(s, &f, NULL) == r);
        }
        spdy_session_free(c.dec);
        spdy_session_free(c.enc);
        spdy_session_free(s);
        return 0;
}
