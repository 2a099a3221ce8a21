/* SPDY/3.1 codec: round trips of every frame type, header blocks across one
 * persistent zlib stream, vectors from independent encoders (moby/spdystream,
 * and raw zlib driven here), byte-by-byte feeding, every rejection path, and
 * the flow-control arithmetic. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "stream/spdy.h"

/* ---- helpers ---- */

/* Feed from *p (step bytes at a time) until spdy_next yields something; return it. */
static int pull_step(struct spdy_session *s, const uint8_t **p, size_t *len, struct spdy_frame *f,
                     size_t step, struct uvm_error **err)
{
        for (;;) {
                size_t used = 0;
                int r = spdy_next(s, f, err);

                if (r != 0 || *len == 0)
                        return r;
                r = spdy_feed(s, *p, step < *len ? step : *len, &used, err);
                if (r < 0)
                        return r;
                *p += used;
                *len -= used;
        }
}

static int pull(struct spdy_session *s, const uint8_t **p, size_t *len, struct spdy_frame *f,
                struct uvm_error **err)
{
        return pull_step(s, p, len, f, SIZE_MAX, err);
}

/* Decode exactly one frame from a whole buffer; every byte must be used. */
static int decode_one(struct spdy_session *s, const uint8_t *buf, size_t len, struct spdy_frame *f,
                      struct uvm_error **err)
{
        int r = pull(s, &buf, &len, f, err);

        if (r == 1)
                assert_int_equal(len, 0);
        return r;
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* A control frame with an arbitrary version and length field. */
static size_t raw_control(uint8_t *out, unsigned version, unsigned type, uint8_t flags,
                          uint32_t length, const void *payload, size_t n)
{
        put32(out, 0x80000000u | version << 16 | type);
        put32(out + 4, (uint32_t) flags << 24 | length);
        if (n)
                memcpy(out + 8, payload, n);
        return 8 + n;
}

static size_t control(uint8_t *out, unsigned type, uint8_t flags, const void *payload, size_t n)
{
        return raw_control(out, 3, type, flags, (uint32_t) n, payload, n);
}

static size_t words(uint8_t *out, uint32_t a, uint32_t b)
{
        put32(out, a);
        put32(out + 4, b);
        return 8;
}

/* Expect a session error (sticky) with the given code and GOAWAY status. */
static void expect_session_error(struct spdy_session *s, int r, int code, uint32_t status,
                                 struct uvm_error *err, const char *needle)
{
        struct spdy_frame f;
        size_t used = 99;

        assert_int_equal(r, code);
        assert_true(spdy_session_fault(s)->session);
        assert_int_equal(spdy_session_fault(s)->status, status);
        if (needle) {
                assert_non_null(err);
                if (!strstr(err->msg, needle))
                        fail_msg("\"%s\" not in \"%s\"", needle, err->msg);
        }
        assert_int_equal(spdy_feed(s, "x", 1, &used, NULL), code);
        assert_int_equal(used, 99);
        assert_int_equal(spdy_next(s, &f, NULL), code);
}

/* Decode a hand-made frame that must be a session error. */
static void reject_session(const uint8_t *buf, size_t len, int code, const char *needle)
{
        struct spdy_session *s = spdy_session_new(NULL);
        struct uvm_error *err = NULL;
        struct spdy_frame f;
        int r;

        assert_non_null(s);
        r = decode_one(s, buf, len, &f, &err);
        expect_session_error(s, r, code, SPDY_GOAWAY_PROTOCOL_ERROR, err, needle);
        uvm_error_free(err);
        spdy_session_free(s);
}

static void assert_header(const struct spdy_frame *f, const char *name, const char *value,
                          size_t value_len)
{
        const struct spdy_header *h = spdy_header_find(f->headers, f->n_headers, name);

        assert_non_null(h);
        assert_int_equal(h->value_len, value_len);
        assert_memory_equal(h->value, value, value_len);
        assert_int_equal(h->value[value_len], '\0');
}

/* ---- the dictionary, built independently for the raw-zlib vectors ---- */

static const char *const dict_words[] = {
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
};

static size_t test_dict(uint8_t *out)
{
        static const char tail[] =
                "100101201202205206300302303304305306307402405406407408409410411412413414415416"
                "417502504505203 Non-Authoritative Information204 No Content301 Moved "
                "Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 "
                "Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr "
                "May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, "
                "GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/"
                "xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchchar"
                "set=utf-8charset=iso-8859-1,utf-,*,enq=0.";
        size_t off = 0;

        for (size_t i = 0; i < sizeof(dict_words) / sizeof(dict_words[0]); i++) {
                size_t n = strlen(dict_words[i]);

                put32(out + off, (uint32_t) n);
                memcpy(out + off + 4, dict_words[i], n);
                off += 4 + n;
        }
        memcpy(out + off, tail, sizeof(tail) - 1);
        off += sizeof(tail) - 1;
        /* The id spdystream puts in its zlib header (see go_vector). */
        assert_int_equal(off, 1423);
        assert_int_equal(adler32(adler32(0, NULL, 0), out, (uInt) off), 0xe3c6a7c2u);
        return off;
}

/* A peer's compressor: raw zlib with the dictionary, as the spec says. */
static void peer_deflate_init(z_stream *z)
{
        uint8_t dict[1500];
        size_t n = test_dict(dict);

        memset(z, 0, sizeof(*z));
        assert_int_equal(deflateInit(z, Z_BEST_COMPRESSION), Z_OK);
        assert_int_equal(deflateSetDictionary(z, dict, (uInt) n), Z_OK);
}

static size_t peer_deflate(z_stream *z, const uint8_t *plain, size_t n, uint8_t *out, size_t cap,
                           int flush)
{
        z->next_in = (Bytef *) plain;
        z->avail_in = (uInt) n;
        z->next_out = out;
        z->avail_out = (uInt) cap;
        assert_true(deflate(z, flush) >= Z_OK);
        assert_int_equal(z->avail_in, 0);
        assert_true(z->avail_out > 0);
        return cap - z->avail_out;
}

/* A plain name/value block built by hand: count, then (len, name, len, value). */
struct plain {
        uint8_t b[4096];
        size_t len;
        uint32_t n;
};

static void plain_add(struct plain *p, const char *name, const void *value, size_t vlen)
{
        size_t nl = strlen(name);

        if (p->len == 0)
                p->len = 4;
        put32(p->b + p->len, (uint32_t) nl);
        memcpy(p->b + p->len + 4, name, nl);
        p->len += 4 + nl;
        put32(p->b + p->len, (uint32_t) vlen);
        memcpy(p->b + p->len + 4, value, vlen);
        p->len += 4 + vlen;
        put32(p->b, ++p->n);
}

/* SYN_STREAM frame around an already compressed block. */
static size_t syn_stream(uint8_t *out, uint32_t id, uint8_t flags, uint8_t pri,
                         const uint8_t *block, size_t n)
{
        uint8_t payload[8192];

        put32(payload, id);
        put32(payload + 4, 0);
        payload[8] = (uint8_t) (pri << 5);
        payload[9] = 0;
        memcpy(payload + 10, block, n);
        return control(out, SPDY_SYN_STREAM, flags, payload, 10 + n);
}

/* One SYN_STREAM from the peer's compressor holding the given plain block. */
static size_t peer_syn_stream(z_stream *z, uint8_t *out, uint32_t id, const struct plain *p)
{
        uint8_t block[8192];
        size_t n = peer_deflate(z, p->b, p->len, block, sizeof(block), Z_SYNC_FLUSH);

        return syn_stream(out, id, 0, 0, block, n);
}

/* ---- round trips ---- */

static void test_round_trip_control(void **state)
{
        struct spdy_session *enc = spdy_session_new(NULL), *dec = spdy_session_new(NULL);
        struct spdy_header hs[] = {
                {"streamtype", "error", 5}, {"x-multi", "a\0bc", 4}, {":status", "", 0}};
        struct spdy_setting set[] = {{0, SPDY_SETTINGS_INITIAL_WINDOW_SIZE, 131072},
                                     {SPDY_SETTINGS_FLAG_PERSIST_VALUE, 0xabcdef, 7}};
        struct spdy_buf b = {0};
        struct spdy_frame f;
        const uint8_t *p;
        size_t len;

        assert_int_equal(spdy_encode_syn_stream(enc, &b, 1, 0, 5, SPDY_FLAG_FIN, hs, 3, NULL), 0);
        assert_int_equal(spdy_encode_syn_reply(enc, &b, 1, 0, hs, 2, NULL), 0);
        assert_int_equal(spdy_encode_headers(enc, &b, 1, SPDY_FLAG_FIN, hs, 1, NULL), 0);
        assert_int_equal(spdy_encode_rst_stream(&b, 7, SPDY_CANCEL, NULL), 0);
        assert_int_equal(spdy_encode_settings(&b, SPDY_FLAG_CLEAR_SETTINGS, set, 2, NULL), 0);
        assert_int_equal(spdy_encode_ping(&b, 0xfffffffe, NULL), 0);
        assert_int_equal(spdy_encode_goaway(&b, 9, SPDY_GOAWAY_INTERNAL_ERROR, NULL), 0);
        assert_int_equal(spdy_encode_window_update(&b, 0, SPDY_MAX_WINDOW, NULL), 0);
        assert_int_equal(spdy_encode_window_update(&b, 3, 1, NULL), 0);
        assert_int_equal(spdy_encode_headers(enc, &b, 3, 0, NULL, 0, NULL), 0);
        p = b.data;
        len = b.len;

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_SYN_STREAM);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.priority, 5);
        assert_int_equal(f.n_headers, 3);
        assert_header(&f, "streamtype", "error", 5);
        assert_header(&f, "x-multi", "a\0bc", 4);
        assert_header(&f, ":status", "", 0);
        assert_int_equal(spdy_session_last_stream(dec), 1);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_SYN_REPLY);
        assert_int_equal(f.flags, 0);
        assert_int_equal(f.n_headers, 2);
        assert_string_equal(f.headers[0].name, "streamtype");

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_HEADERS);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.n_headers, 1);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_RST_STREAM);
        assert_int_equal(f.stream_id, 7);
        assert_int_equal(f.status, SPDY_CANCEL);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_SETTINGS);
        assert_int_equal(f.flags, SPDY_FLAG_CLEAR_SETTINGS);
        assert_int_equal(f.n_settings, 2);
        assert_int_equal(f.settings[0].id, SPDY_SETTINGS_INITIAL_WINDOW_SIZE);
        assert_int_equal(f.settings[0].value, 131072);
        assert_int_equal(f.settings[1].flags, SPDY_SETTINGS_FLAG_PERSIST_VALUE);
        assert_int_equal(f.settings[1].id, 0xabcdef);
        assert_int_equal(f.settings[1].value, 7);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_PING);
        assert_int_equal(f.ping_id, 0xfffffffe);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_GOAWAY);
        assert_int_equal(f.last_good_stream_id, 9);
        assert_int_equal(f.status, SPDY_GOAWAY_INTERNAL_ERROR);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_WINDOW_UPDATE);
        assert_int_equal(f.stream_id, 0);
        assert_int_equal(f.delta, SPDY_MAX_WINDOW);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.delta, 1);

        /* An empty block: just the pair count. */
        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_HEADERS);
        assert_int_equal(f.n_headers, 0);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 0);
        assert_int_equal(spdy_session_partial(dec), 0);
        spdy_buf_free(&b);
        spdy_session_free(enc);
        spdy_session_free(dec);
}

static void test_round_trip_data(void **state)
{
        struct spdy_session *dec = spdy_session_new(NULL);
        struct spdy_buf b = {0};
        struct spdy_frame f;
        size_t big = 1u << 20;
        uint8_t *payload = malloc(big);
        const uint8_t *p;
        size_t len;

        assert_non_null(payload);
        for (size_t i = 0; i < big; i++)
                payload[i] = (uint8_t) (i * 7);
        assert_int_equal(spdy_encode_data(&b, 3, 0, "hello", 5, NULL), 0);
        assert_int_equal(spdy_encode_data(&b, 3, SPDY_FLAG_FIN, NULL, 0, NULL), 0);
        assert_int_equal(spdy_encode_data(&b, SPDY_MAX_STREAM_ID, 0, payload, big, NULL), 0);
        p = b.data;
        len = b.len;

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_DATA);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.flags, 0);
        assert_int_equal(f.len, 5);
        assert_memory_equal(f.data, "hello", 5);

        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.len, 0);
        assert_null(f.data);

        /* The default bound takes a 1 MiB payload exactly. */
        assert_int_equal(pull(dec, &p, &len, &f, NULL), 1);
        assert_int_equal(f.stream_id, SPDY_MAX_STREAM_ID);
        assert_int_equal(f.len, big);
        assert_memory_equal(f.data, payload, big);
        free(payload);
        spdy_buf_free(&b);
        spdy_session_free(dec);
}

/* Several blocks through one zlib stream per direction: later blocks repeat
 * earlier names and values and come out smaller. */
static void test_header_blocks_persistent(void **state)
{
        struct spdy_session *enc = spdy_session_new(NULL), *dec = spdy_session_new(NULL);
        struct spdy_header hs[] = {{"streamtype", "stdout", 6},
                                   {"requestid", "4f1c2a7e-9b1d-4a55-8e0f-000000000001", 36},
                                   {"x-kubernetes-something", "a long value to be repeated", 27}};
        size_t sizes[6];

        for (uint32_t i = 0; i < 6; i++) {
                struct spdy_buf b = {0};
                struct spdy_frame f;

                if (i % 2 == 0)
                        assert_int_equal(spdy_encode_syn_reply(enc, &b, 2 * i + 1, 0, hs, 3, NULL),
                                         0);
                else
                        assert_int_equal(spdy_encode_headers(enc, &b, 2 * i + 1, 0, hs, 3, NULL),
                                         0);
                sizes[i] = b.len;
                assert_int_equal(decode_one(dec, b.data, b.len, &f, NULL), 1);
                assert_int_equal(f.stream_id, 2 * i + 1);
                assert_int_equal(f.n_headers, 3);
                assert_header(&f, "requestid", hs[1].value, 36);
                assert_header(&f, "x-kubernetes-something", hs[2].value, 27);
                spdy_buf_free(&b);
        }
        assert_true(sizes[2] < sizes[0]);
        assert_true(sizes[5] <= sizes[1]);
        spdy_session_free(enc);
        spdy_session_free(dec);
}

/* Our first block carries the SPDY/3 dictionary's id in its zlib header. */
static void test_dictionary_id(void **state)
{
        struct spdy_session *enc = spdy_session_new(NULL);
        struct spdy_header h = {"a", "b", 1};
        struct spdy_buf b = {0};
        static const uint8_t dictid[] = {0xe3, 0xc6, 0xa7, 0xc2};

        assert_int_equal(spdy_encode_syn_reply(enc, &b, 1, 0, &h, 1, NULL), 0);
        /* 8 header + 4 stream id, then CMF, FLG (FDICT set), DICTID. */
        assert_true(b.len > 18);
        assert_int_equal(b.data[12] & 0x0f, 8);
        assert_true(b.data[13] & 0x20);
        assert_memory_equal(b.data + 14, dictid, 4);
        spdy_buf_free(&b);
        spdy_session_free(enc);
}

/* ---- independent encoders ---- */

/* Written by moby/spdystream's Framer (Debian's golang-github-moby-spdystream-dev):
 * SYN_STREAM 1 {streamtype: error}, SYN_STREAM 3 pri 2 {streamtype: stdin},
 * SYN_STREAM 5 FIN {streamtype: stdout, x-multi: a NUL b}, DATA 3 FIN "hello",
 * PING 1, SETTINGS {INITIAL_WINDOW_SIZE 131072}, WINDOW_UPDATE 3 +1000,
 * HEADERS 1 {a: b}, RST_STREAM 3 CANCEL, GOAWAY 5 OK. */
static const uint8_t go_vector[] = {
        0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x29, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x62, 0x60, 0x60, 0x60, 0x04, 0xa7,
        0xb3, 0x92, 0xa2, 0xd4, 0xc4, 0x5c, 0x68, 0x51, 0xc2, 0x9a, 0x0a, 0x0a, 0x68, 0x00, 0x00,
        0x00, 0x00, 0xff, 0xff, 0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0xc2, 0x2e, 0x55, 0x5c, 0x92, 0x92, 0x99, 0x07,
        0x00, 0x00, 0x00, 0xff, 0xff, 0x80, 0x03, 0x00, 0x01, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00,
        0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xe5, 0x29, 0x50, 0x2a, 0xae, 0xd0,
        0xcd, 0x2d, 0xcd, 0x29, 0xc9, 0x04, 0x97, 0xa5, 0x0c, 0x49, 0x18, 0x8a, 0xd9, 0x8a, 0x4b,
        0x52, 0xf2, 0x4b, 0x4b, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x03, 0x01,
        0x00, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00,
        0x04, 0x00, 0x00, 0x00, 0x01, 0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x80, 0x03, 0x00, 0x09, 0x00,
        0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0xe8, 0x80, 0x03, 0x00, 0x08,
        0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x01, 0x82, 0x1a, 0xc4, 0x08, 0xca, 0x3c, 0x8c,
        0x49, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08,
        0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
};

static void check_go_vector(size_t step)
{
        struct spdy_session *s = spdy_session_new(NULL);
        const uint8_t *p = go_vector;
        size_t len = sizeof(go_vector);
        struct spdy_frame f;

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_SYN_STREAM);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.n_headers, 1);
        assert_header(&f, "streamtype", "error", 5);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.priority, 2);
        assert_header(&f, "streamtype", "stdin", 5);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.stream_id, 5);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.n_headers, 2);
        assert_header(&f, "streamtype", "stdout", 6);
        assert_header(&f, "x-multi", "a\0b", 3);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_DATA);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.len, 5);
        assert_memory_equal(f.data, "hello", 5);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_PING);
        assert_int_equal(f.ping_id, 1);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_SETTINGS);
        assert_int_equal(f.n_settings, 1);
        assert_int_equal(f.settings[0].id, SPDY_SETTINGS_INITIAL_WINDOW_SIZE);
        assert_int_equal(f.settings[0].value, 131072);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_WINDOW_UPDATE);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.delta, 1000);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_HEADERS);
        assert_int_equal(f.stream_id, 1);
        assert_header(&f, "a", "b", 1);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_RST_STREAM);
        assert_int_equal(f.status, SPDY_CANCEL);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 1);
        assert_int_equal(f.type, SPDY_GOAWAY);
        assert_int_equal(f.last_good_stream_id, 5);
        assert_int_equal(f.status, SPDY_GOAWAY_OK);

        assert_int_equal(pull_step(s, &p, &len, &f, step, NULL), 0);
        assert_int_equal(len, 0);
        assert_int_equal(spdy_session_partial(s), 0);
        spdy_session_free(s);
}

static void test_go_vector(void **state)
{
        check_go_vector(SIZE_MAX);
}

static void test_go_vector_bytewise(void **state)
{
        check_go_vector(1);
        check_go_vector(3);
        check_go_vector(13);
}

/* SYN_STREAMs whose blocks come from raw zlib driven here, across one stream. */
static void test_raw_zlib_syn_stream(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        struct plain a = {0}, b = {0};
        uint8_t frames[8192];
        size_t len;
        struct spdy_frame f;
        z_stream z;

        peer_deflate_init(&z);
        plain_add(&a, ":method", "POST", 4);
        plain_add(&a, "streamtype", "data", 4);
        plain_add(&a, "port", "8080", 4);
        plain_add(&a, "requestid", "0", 1);
        plain_add(&b, "streamtype", "error", 5);
        plain_add(&b, "port", "8080", 4);
        plain_add(&b, "requestid", "0", 1);
        plain_add(&b, "x",
                  "1\0"
                  "22\0"
                  "333",
                  8);

        len = peer_syn_stream(&z, frames, 1, &a);
        len += peer_syn_stream(&z, frames + len, 3, &b);

        /* Byte by byte: every split point of both frames. */
        {
                const uint8_t *p = frames;
                size_t left = len;

                assert_int_equal(pull_step(s, &p, &left, &f, 1, NULL), 1);
                assert_int_equal(f.stream_id, 1);
                assert_int_equal(f.n_headers, 4);
                assert_header(&f, ":method", "POST", 4);
                assert_header(&f, "port", "8080", 4);
                assert_header(&f, "requestid", "0", 1);
                assert_int_equal(pull_step(s, &p, &left, &f, 1, NULL), 1);
                assert_int_equal(f.stream_id, 3);
                assert_int_equal(f.n_headers, 4);
                assert_header(&f, "streamtype", "error", 5);
                assert_header(&f, "x",
                              "1\0"
                              "22\0"
                              "333",
                              8);
                assert_int_equal(left, 0);
        }
        deflateEnd(&z);
        spdy_session_free(s);
}

/* spdy_feed stops at the end of one frame: at most one frame is buffered. */
static void test_feed_one_frame_at_a_time(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        uint8_t buf[64], pl[8];
        size_t len, used = 0;
        struct spdy_frame f;

        assert_int_equal(spdy_feed(s, NULL, 0, &used, NULL), 0);
        assert_int_equal(used, 0);
        put32(pl, 42);
        len = control(buf, SPDY_PING, 0, pl, 4);
        len += control(buf + len, SPDY_PING, 0, pl, 4);
        assert_int_equal(spdy_feed(s, buf, len, &used, NULL), 0);
        assert_int_equal(used, 12);
        /* Nothing more is taken while the frame waits. */
        assert_int_equal(spdy_feed(s, buf + 12, len - 12, &used, NULL), 0);
        assert_int_equal(used, 0);
        assert_int_equal(spdy_next(s, &f, NULL), 1);
        assert_int_equal(f.ping_id, 42);
        assert_int_equal(spdy_next(s, &f, NULL), 0);
        assert_int_equal(spdy_feed(s, buf + 12, 5, &used, NULL), 0);
        assert_int_equal(used, 5);
        assert_int_equal(spdy_session_partial(s), 5);
        assert_int_equal(spdy_next(s, &f, NULL), 0);
        assert_int_equal(spdy_feed(s, buf + 17, len - 17, &used, NULL), 0);
        assert_int_equal(spdy_next(s, &f, NULL), 1);
        assert_int_equal(spdy_session_partial(s), 0);
        spdy_session_free(s);
}

/* Unknown control types (NOOP 5, CREDENTIAL 10, anything) are skipped. */
static void test_unknown_control_skipped(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        uint8_t buf[128], pl[16] = {1, 2, 3};
        const uint8_t *p = buf;
        size_t len;
        struct spdy_frame f;

        len = control(buf, 5, 0, NULL, 0);
        len += control(buf + len, 10, 0xff, pl, 16);
        len += control(buf + len, 0xffff, 0x80, pl, 3);
        put32(pl, 77);
        len += control(buf + len, SPDY_PING, 0, pl, 4);
        assert_int_equal(pull(s, &p, &len, &f, NULL), 1);
        assert_int_equal(f.type, SPDY_PING);
        assert_int_equal(f.ping_id, 77);
        spdy_session_free(s);
}

/* ---- malformed input: session errors ---- */

static void test_bad_version(void **state)
{
        uint8_t buf[32], pl[4] = {0};
        size_t len = raw_control(buf, 2, SPDY_PING, 0, 4, pl, 4);
        struct spdy_session *s = spdy_session_new(NULL);
        struct uvm_error *err = NULL;
        size_t used;

        reject_session(buf, len, -EPROTO, "version 2");
        /* Refused as soon as the 8-byte header is in. */
        assert_int_equal(spdy_feed(s, buf, 8, &used, &err), -EPROTO);
        expect_session_error(s, -EPROTO, -EPROTO, SPDY_GOAWAY_PROTOCOL_ERROR, err, "not 3");
        uvm_error_free(err);
        spdy_session_free(s);
}

static void test_short_lengths(void **state)
{
        static const struct {
                unsigned type;
                size_t len;
                const char *needle;
        } cases[] = {
                {SPDY_SYN_STREAM, 9, "SYN_STREAM shorter"},
                {SPDY_SYN_REPLY, 3, "shorter than 4"},
                {SPDY_HEADERS, 0, "shorter than 4"},
                {SPDY_RST_STREAM, 4, "RST_STREAM length"},
                {SPDY_RST_STREAM, 12, "RST_STREAM length"},
                {SPDY_SETTINGS, 3, "SETTINGS shorter"},
                {SPDY_PING, 0, "PING length"},
                {SPDY_PING, 8, "PING length"},
                {SPDY_GOAWAY, 4, "GOAWAY length"},
                {SPDY_WINDOW_UPDATE, 7, "WINDOW_UPDATE length"},
        };
        uint8_t buf[64], pl[32];

        memset(pl, 0, sizeof(pl));
        pl[3] = 1; /* stream 1 where a stream id is read */
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = control(buf, cases[i].type, 0, pl, cases[i].len);

                reject_session(buf, len, -EPROTO, cases[i].needle);
        }
}

static void test_settings_count_mismatch(void **state)
{
        uint8_t buf[64], pl[32] = {0};
        size_t len;

        put32(pl, 2); /* two entries claimed, one present */
        len = control(buf, SPDY_SETTINGS, 0, pl, 12);
        reject_session(buf, len, -EPROTO, "count does not match");
        put32(pl, 0x20000001); /* count * 8 wraps in 32 bits */
        len = control(buf, SPDY_SETTINGS, 0, pl, 12);
        reject_session(buf, len, -EPROTO, "count does not match");
        put32(pl, 1); /* one entry claimed, two present */
        len = control(buf, SPDY_SETTINGS, 0, pl, 20);
        reject_session(buf, len, -EPROTO, "count does not match");
}

static void test_settings_bad_entries(void **state)
{
        uint8_t buf[64], pl[12];
        size_t len;

        put32(pl, 1);
        put32(pl + 4, SPDY_SETTINGS_INITIAL_WINDOW_SIZE);
        put32(pl + 8, 0x80000000u);
        len = control(buf, SPDY_SETTINGS, 0, pl, 12);
        reject_session(buf, len, -EPROTO, "initial window");
        put32(pl + 4, 0x04000004);
        put32(pl + 8, 1);
        len = control(buf, SPDY_SETTINGS, 0, pl, 12);
        reject_session(buf, len, -EPROTO, "undefined flags");
}

static void test_undefined_flags(void **state)
{
        uint8_t buf[64], pl[8] = {0, 0, 0, 1, 0, 0, 0, 1};
        size_t len;

        len = control(buf, SPDY_PING, 1, pl, 4);
        reject_session(buf, len, -EPROTO, "PING with undefined flags");
        len = control(buf, SPDY_RST_STREAM, SPDY_FLAG_FIN, pl, 8);
        reject_session(buf, len, -EPROTO, "undefined flags");
        len = control(buf, SPDY_SYN_REPLY, 2, pl, 4);
        reject_session(buf, len, -EPROTO, "undefined flags");
        len = words(buf, 1, 0x02000000);
        reject_session(buf, len, -EPROTO, "DATA with undefined flags");
}

static void test_stream_zero(void **state)
{
        uint8_t buf[64], pl[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        size_t len;

        len = words(buf, 0, 0);
        reject_session(buf, len, -EPROTO, "stream 0");
        len = control(buf, SPDY_RST_STREAM, 0, pl, 8);
        reject_session(buf, len, -EPROTO, "stream 0");
        len = control(buf, SPDY_HEADERS, 0, pl, 4);
        reject_session(buf, len, -EPROTO, "stream 0");
        /* Only the reserved bit set: still stream 0. */
        pl[0] = 0x80;
        len = control(buf, SPDY_SYN_REPLY, 0, pl, 4);
        reject_session(buf, len, -EPROTO, "stream 0");
}

static void test_rst_status_zero(void **state)
{
        uint8_t buf[64], pl[8] = {0, 0, 0, 1, 0, 0, 0, 0};
        size_t len = control(buf, SPDY_RST_STREAM, 0, pl, 8);

        reject_session(buf, len, -EPROTO, "status 0");
}

static void test_window_update_delta_zero(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        uint8_t buf[64], pl[8];
        struct uvm_error *err = NULL;
        struct spdy_frame f;
        size_t len;

        /* Session window: a session error. */
        words(pl, 0, 0);
        len = control(buf, SPDY_WINDOW_UPDATE, 0, pl, 8);
        reject_session(buf, len, -EPROTO, "delta 0");
        /* A stream's: that stream's error; the reserved bit is ignored. */
        words(pl, 5, 0x80000000u);
        len = control(buf, SPDY_WINDOW_UPDATE, 0, pl, 8);
        assert_int_equal(decode_one(s, buf, len, &f, &err), -EBADMSG);
        assert_false(spdy_session_fault(s)->session);
        assert_int_equal(spdy_session_fault(s)->stream_id, 5);
        assert_int_equal(spdy_session_fault(s)->status, SPDY_PROTOCOL_ERROR);
        uvm_error_free(err);
        words(pl, 5, 0x80000001u);
        len = control(buf, SPDY_WINDOW_UPDATE, 0, pl, 8);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        assert_int_equal(f.delta, 1);
        spdy_session_free(s);
}

static void test_oversized_frames(void **state)
{
        struct spdy_limits lim = {.max_data = 100, .max_control = 50};
        struct spdy_session *s = spdy_session_new(&lim);
        struct uvm_error *err = NULL;
        uint8_t buf[256] = {0}, pl[64] = {0};
        struct spdy_frame f;
        size_t used, len;

        /* Exactly at the bounds: fine. */
        len = words(buf, 1, 100);
        assert_int_equal(decode_one(s, buf, len + 100, &f, NULL), 1);
        assert_int_equal(f.len, 100);
        len = control(buf, 0x1234, 0, pl, 50);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 0);

        /* One over: refused from the header alone, nothing buffered. */
        words(buf, 1, 101);
        assert_int_equal(spdy_feed(s, buf, 8, &used, &err), -EMSGSIZE);
        expect_session_error(s, -EMSGSIZE, -EMSGSIZE, SPDY_GOAWAY_PROTOCOL_ERROR, err,
                             "data frame of 101 bytes");
        uvm_error_free(err);
        err = NULL;
        spdy_session_free(s);

        s = spdy_session_new(&lim);
        len = raw_control(buf, 3, SPDY_PING, 0, 51, NULL, 0);
        assert_int_equal(spdy_feed(s, buf, len, &used, &err), -EMSGSIZE);
        expect_session_error(s, -EMSGSIZE, -EMSGSIZE, SPDY_GOAWAY_PROTOCOL_ERROR, err,
                             "control frame");
        uvm_error_free(err);
        spdy_session_free(s);

        /* Defaults: 1 MiB data, 64 KiB control. */
        s = spdy_session_new(NULL);
        words(buf, 1, (1u << 20) + 1);
        assert_int_equal(spdy_feed(s, buf, 8, &used, NULL), -EMSGSIZE);
        spdy_session_free(s);
        s = spdy_session_new(NULL);
        raw_control(buf, 3, SPDY_SYN_STREAM, 0, (64u << 10) + 1, NULL, 0);
        assert_int_equal(spdy_feed(s, buf, 8, &used, NULL), -EMSGSIZE);
        spdy_session_free(s);
}

static void test_block_does_not_inflate(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        struct uvm_error *err = NULL;
        static const uint8_t garbage[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
        static const uint8_t bad_block_type[] = {0xff, 0xff, 0xff};
        struct plain a = {0};
        uint8_t buf[8192];
        struct spdy_frame f;
        size_t len;
        int r;
        z_stream z;

        /* Not a zlib stream at all. */
        len = syn_stream(buf, 1, 0, 0, garbage, sizeof(garbage));
        reject_session(buf, len, -EPROTO, "does not inflate");

        /* A good first block, then a reserved deflate block type. */
        peer_deflate_init(&z);
        plain_add(&a, "a", "b", 1);
        len = peer_syn_stream(&z, buf, 1, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        len = syn_stream(buf, 3, 0, 0, bad_block_type, sizeof(bad_block_type));
        r = decode_one(s, buf, len, &f, &err);
        expect_session_error(s, r, -EPROTO, SPDY_GOAWAY_PROTOCOL_ERROR, err, "does not inflate");
        uvm_error_free(err);
        deflateEnd(&z);
        spdy_session_free(s);

        /* Compressed without the dictionary's id but with another one. */
        {
                static const uint8_t wrong_dict[] = {0x00, 0x01, 0x02, 0x03};
                z_stream w = {0};
                uint8_t block[256];

                assert_int_equal(deflateInit(&w, 9), Z_OK);
                assert_int_equal(deflateSetDictionary(&w, wrong_dict, 4), Z_OK);
                len = peer_deflate(&w, a.b, a.len, block, sizeof(block), Z_SYNC_FLUSH);
                len = syn_stream(buf, 1, 0, 0, block, len);
                reject_session(buf, len, -EPROTO, "dictionary");
                deflateEnd(&w);
        }
}

/* The peer ends its zlib stream: later blocks could not follow. */
static void test_block_stream_end(void **state)
{
        struct plain a = {0};
        uint8_t buf[512], block[256];
        size_t len;
        z_stream z;

        peer_deflate_init(&z);
        plain_add(&a, "a", "b", 1);
        len = peer_deflate(&z, a.b, a.len, block, sizeof(block), Z_FINISH);
        len = syn_stream(buf, 1, 0, 0, block, len);
        reject_session(buf, len, -EPROTO, "ended its header stream");
        deflateEnd(&z);
}

static void test_block_inflates_past_bound(void **state)
{
        struct spdy_limits lim = {.max_header_bytes = 64};
        struct spdy_session *s = spdy_session_new(&lim);
        struct uvm_error *err = NULL;
        struct plain a = {0};
        char value[200];
        uint8_t buf[8192];
        struct spdy_frame f;
        size_t len;
        int r;
        z_stream z;

        /* 64 bytes exactly: 4 + 8 + 1 + 51. */
        peer_deflate_init(&z);
        memset(value, 'v', sizeof(value));
        plain_add(&a, "a", value, 51);
        assert_int_equal(a.len, 64);
        len = peer_syn_stream(&z, buf, 1, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        assert_int_equal(f.headers[0].value_len, 51);

        memset(&a, 0, sizeof(a));
        plain_add(&a, "a", value, 52);
        len = peer_syn_stream(&z, buf, 3, &a);
        r = decode_one(s, buf, len, &f, &err);
        expect_session_error(s, r, -EPROTO, SPDY_GOAWAY_PROTOCOL_ERROR, err,
                             "inflates past 64 bytes");
        uvm_error_free(err);
        deflateEnd(&z);
        spdy_session_free(s);
}

static void test_syn_stream_id_rules(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        struct uvm_error *err = NULL;
        struct plain a = {0};
        uint8_t buf[1024];
        struct spdy_frame f;
        size_t len;
        int r;
        z_stream z;

        peer_deflate_init(&z);
        plain_add(&a, "streamtype", "data", 4);

        len = peer_syn_stream(&z, buf, 5, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        assert_int_equal(spdy_session_last_stream(s), 5);

        /* Reused: that stream's PROTOCOL_ERROR; the session goes on. */
        len = peer_syn_stream(&z, buf, 5, &a);
        assert_int_equal(decode_one(s, buf, len, &f, &err), -EBADMSG);
        assert_false(spdy_session_fault(s)->session);
        assert_int_equal(spdy_session_fault(s)->stream_id, 5);
        assert_int_equal(spdy_session_fault(s)->status, SPDY_PROTOCOL_ERROR);
        assert_non_null(strstr(err->msg, "reuses id 5"));
        uvm_error_free(err);
        err = NULL;

        /* The block was inflated: the next one decodes. */
        len = peer_syn_stream(&z, buf, 7, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        assert_int_equal(f.stream_id, 7);
        assert_header(&f, "streamtype", "data", 4);

        /* Skipping ids is allowed. */
        len = peer_syn_stream(&z, buf, 101, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);

        /* Decreasing: a session error (SPDY/3 section 2.3.2). */
        len = peer_syn_stream(&z, buf, 99, &a);
        r = decode_one(s, buf, len, &f, &err);
        expect_session_error(s, r, -EPROTO, SPDY_GOAWAY_PROTOCOL_ERROR, err, "below 101");
        assert_int_equal(spdy_session_last_stream(s), 101);
        uvm_error_free(err);
        deflateEnd(&z);
        spdy_session_free(s);

        /* Even and zero ids: session errors. */
        s = spdy_session_new(NULL);
        peer_deflate_init(&z);
        len = peer_syn_stream(&z, buf, 2, &a);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), -EPROTO);
        deflateEnd(&z);
        spdy_session_free(s);
        peer_deflate_init(&z);
        len = peer_syn_stream(&z, buf, 0, &a);
        reject_session(buf, len, -EPROTO, "stream 0");
        deflateEnd(&z);
}

/* ---- malformed header blocks: stream errors, the zlib stream stays in step ---- */

static void expect_bad_block(const struct plain *bad, const struct spdy_limits *lim,
                             const char *needle)
{
        struct spdy_session *s = spdy_session_new(lim);
        struct uvm_error *err = NULL;
        struct plain good = {0};
        uint8_t buf[8192];
        struct spdy_frame f;
        size_t len;
        z_stream z;

        peer_deflate_init(&z);
        len = peer_syn_stream(&z, buf, 1, bad);
        assert_int_equal(decode_one(s, buf, len, &f, &err), -EBADMSG);
        assert_false(spdy_session_fault(s)->session);
        assert_int_equal(spdy_session_fault(s)->stream_id, 1);
        assert_int_equal(spdy_session_fault(s)->status, SPDY_PROTOCOL_ERROR);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("\"%s\" not in \"%s\"", needle, err->msg);
        uvm_error_free(err);

        plain_add(&good, "streamtype", "stdin", 5);
        len = peer_syn_stream(&z, buf, 3, &good);
        assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
        assert_header(&f, "streamtype", "stdin", 5);
        deflateEnd(&z);
        spdy_session_free(s);
}

static void test_bad_names_and_values(void **state)
{
        struct plain p;

        memset(&p, 0, sizeof(p));
        plain_add(&p, "Streamtype", "x", 1);
        expect_bad_block(&p, NULL, "not lowercase");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "", "x", 1);
        expect_bad_block(&p, NULL, "empty");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a b", "x", 1);
        expect_bad_block(&p, NULL, "US-ASCII");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a\x80", "x", 1);
        expect_bad_block(&p, NULL, "US-ASCII");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        plain_add(&p, "a", "y", 1);
        expect_bad_block(&p, NULL, "duplicate");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "\0x", 2);
        expect_bad_block(&p, NULL, "NUL");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x\0", 2);
        expect_bad_block(&p, NULL, "NUL");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x\0\0y", 4);
        expect_bad_block(&p, NULL, "NUL");
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "\0", 1);
        expect_bad_block(&p, NULL, "NUL");
}

static void test_block_lengths_past_end(void **state)
{
        struct plain p;

        /* Count says two, one pair present. */
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        put32(p.b, 2);
        expect_bad_block(&p, NULL, "name length past the block");
        /* Name length past the end. */
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        put32(p.b + 4, 1000);
        expect_bad_block(&p, NULL, "past the block");
        /* Value length past the end. */
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        put32(p.b + 9, 2);
        expect_bad_block(&p, NULL, "value length past the block");
        /* Value length cut off. */
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        p.len = 4 + 4 + 1 + 2;
        expect_bad_block(&p, NULL, "value length past the block");
        /* Trailing bytes after the last pair. */
        memset(&p, 0, sizeof(p));
        plain_add(&p, "a", "x", 1);
        p.len += 3;
        expect_bad_block(&p, NULL, "after 1 pairs");
        /* Shorter than the count itself. */
        memset(&p, 0, sizeof(p));
        p.len = 3;
        expect_bad_block(&p, NULL, "shorter than its count");
        /* A huge count. */
        memset(&p, 0, sizeof(p));
        p.len = 4;
        put32(p.b, 0xffffffffu);
        expect_bad_block(&p, NULL, "more than 128");
}

static void test_too_many_headers(void **state)
{
        struct spdy_limits lim = {.max_headers = 4};
        struct spdy_session *s;
        struct plain p = {0};
        char name[16];

        for (int i = 0; i < 5; i++) {
                snprintf(name, sizeof(name), "h%d", i);
                plain_add(&p, name, "v", 1);
        }
        expect_bad_block(&p, &lim, "5 pairs, more than 4");

        /* Default: 128 pairs fine, 129 refused. */
        memset(&p, 0, sizeof(p));
        for (int i = 0; i < 129; i++) {
                snprintf(name, sizeof(name), "h%d", i);
                plain_add(&p, name, "", 0);
        }
        expect_bad_block(&p, NULL, "129 pairs, more than 128");
        s = spdy_session_new(NULL);
        {
                struct spdy_frame f;
                uint8_t buf[8192];
                size_t len;
                z_stream z;

                put32(p.b, 128);
                p.len -= 4 + 4 + 4; /* drop "h128" */
                peer_deflate_init(&z);
                len = peer_syn_stream(&z, buf, 1, &p);
                assert_int_equal(decode_one(s, buf, len, &f, NULL), 1);
                assert_int_equal(f.n_headers, 128);
                assert_header(&f, "h127", "", 0);
                deflateEnd(&z);
        }
        spdy_session_free(s);
}

/* Every length field checked: a SYN_STREAM cut anywhere inside its fixed part. */
static void test_truncated_frames_pending(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        const uint8_t *p = go_vector;
        size_t len = 30;
        struct spdy_frame f;

        assert_int_equal(pull(s, &p, &len, &f, NULL), 0);
        assert_int_equal(spdy_session_partial(s), 30);
        spdy_session_free(s);
}

/* ---- encoder arguments ---- */

static void test_encoder_rejects(void **state)
{
        struct spdy_session *s = spdy_session_new(NULL);
        struct spdy_buf b = {0};
        struct spdy_header upper = {"Name", "v", 1}, empty = {"", "v", 1},
                           null_name = {NULL, "", 0};
        struct spdy_header dup[] = {{"a", "1", 1}, {"b", "2", 1}, {"a", "3", 1}};
        struct spdy_header lead = {"a", "\0v", 2}, trail = {"a", "v\0", 2},
                           dbl = {"a", "v\0\0w", 4};
        struct spdy_header nullv = {"a", NULL, 3};
        struct spdy_setting bad_set = {4, 1, 1}, bad_win = {0, 7, 0x80000000u};
        struct uvm_error *err = NULL;

        assert_int_equal(spdy_encode_data(&b, 0, 0, "x", 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_data(&b, 0x80000001u, 0, "x", 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_data(&b, 1, 2, "x", 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_data(&b, 1, 0, "x", SPDY_MAX_LENGTH + 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_syn_reply(s, &b, 0, 0, NULL, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_syn_reply(s, &b, 1, 2, NULL, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_syn_reply(s, &b, 1, 0, &upper, 1, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "\"Name\""));
        err = uvm_error_free(err);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &empty, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &null_name, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, dup, 3, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &lead, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &trail, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &dbl, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, &nullv, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_syn_stream(s, &b, 2, 0, 8, 0, NULL, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_syn_stream(s, &b, 2, 0x80000000u, 0, 0, NULL, 0, NULL),
                         -EINVAL);
        assert_int_equal(spdy_encode_syn_stream(s, &b, 2, 0, 0, 4, NULL, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_rst_stream(&b, 1, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_rst_stream(&b, 0, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_window_update(&b, 1, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_window_update(&b, 1, 0x80000000u, NULL), -EINVAL);
        assert_int_equal(spdy_encode_window_update(&b, 0x80000000u, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_goaway(&b, 0x80000000u, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_settings(&b, 2, NULL, 0, NULL), -EINVAL);
        assert_int_equal(spdy_encode_settings(&b, 0, &bad_set, 1, NULL), -EINVAL);
        assert_int_equal(spdy_encode_settings(&b, 0, &bad_win, 1, NULL), -EINVAL);
        /* Nothing was written, and the compressor is still usable. */
        assert_int_equal(b.len, 0);
        {
                struct spdy_session *dec = spdy_session_new(NULL);
                struct spdy_header ok = {"a", "v\0w", 3};
                struct spdy_frame f;

                assert_int_equal(spdy_encode_syn_reply(s, &b, 1, 0, &ok, 1, NULL), 0);
                assert_int_equal(decode_one(dec, b.data, b.len, &f, NULL), 1);
                assert_header(&f, "a", "v\0w", 3);
                spdy_session_free(dec);
        }
        spdy_buf_free(&b);
        spdy_session_free(s);
}

/* The encoder refuses what our decoder would refuse by size. */
static void test_encoder_block_bound(void **state)
{
        struct spdy_limits lim = {.max_header_bytes = 64, .max_headers = 2};
        struct spdy_session *s = spdy_session_new(&lim);
        struct spdy_header h[3] = {{"a", "", 0}, {"b", "", 0}, {"c", "", 0}};
        char value[64];
        struct spdy_buf b = {0};

        memset(value, 'v', sizeof(value));
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, h, 3, NULL), -EINVAL);
        h[0].value = value;
        h[0].value_len = 51;
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, h, 1, NULL), 0);
        h[0].value_len = 52;
        assert_int_equal(spdy_encode_headers(s, &b, 1, 0, h, 1, NULL), -EINVAL);
        spdy_buf_free(&b);
        spdy_session_free(s);
}

/* ---- flow control ---- */

static void test_window_send(void **state)
{
        struct spdy_window sess, st;

        spdy_window_init(&sess, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        spdy_window_init(&st, 1000, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_sendable(&sess, &st, 5000), 1000);
        assert_int_equal(spdy_window_sendable(&sess, &st, 10), 10);
        spdy_window_sent(&sess, &st, 1000);
        assert_int_equal(spdy_window_sendable(&sess, &st, 5000), 0);
        assert_int_equal(sess.send, SPDY_INITIAL_WINDOW - 1000);
        assert_int_equal(spdy_window_update(&st, 300, NULL), 0);
        assert_int_equal(spdy_window_sendable(&sess, &st, 5000), 300);

        /* The session window limits every stream. */
        spdy_window_init(&sess, 100, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_sendable(&sess, &st, 5000), 100);

        /* SETTINGS shrinks a stream window below zero; growth brings it back. */
        assert_int_equal(spdy_window_resize(&st, SPDY_INITIAL_WINDOW, 0, NULL), 0);
        assert_true(st.send < 0);
        assert_int_equal(spdy_window_sendable(&sess, &st, 5000), 0);
        assert_int_equal(spdy_window_resize(&st, 0, SPDY_INITIAL_WINDOW, NULL), 0);
        assert_int_equal(st.send, 300);
}

static void test_window_overflow(void **state)
{
        struct spdy_window w;
        struct uvm_error *err = NULL;

        spdy_window_init(&w, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_update(&w, SPDY_MAX_WINDOW - SPDY_INITIAL_WINDOW, NULL), 0);
        assert_int_equal(w.send, SPDY_MAX_WINDOW);
        assert_int_equal(spdy_window_update(&w, 1, &err), -EOVERFLOW);
        assert_non_null(strstr(err->msg, "2^31-1"));
        err = uvm_error_free(err);
        assert_int_equal(w.send, SPDY_MAX_WINDOW);
        assert_int_equal(spdy_window_update(&w, 0xffffffffu, NULL), -EOVERFLOW);

        spdy_window_init(&w, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_resize(&w, SPDY_INITIAL_WINDOW, SPDY_MAX_WINDOW, NULL), 0);
        assert_int_equal(w.send, SPDY_MAX_WINDOW);
        spdy_window_init(&w, SPDY_INITIAL_WINDOW + 1, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_resize(&w, SPDY_INITIAL_WINDOW, SPDY_MAX_WINDOW, NULL),
                         -EOVERFLOW);
        assert_int_equal(w.send, SPDY_INITIAL_WINDOW + 1);
}

static void test_window_receive(void **state)
{
        struct spdy_window w;
        struct uvm_error *err = NULL;

        spdy_window_init(&w, SPDY_INITIAL_WINDOW, 1000);
        assert_int_equal(spdy_window_received(&w, 600, NULL), 0);
        assert_int_equal(spdy_window_received(&w, 400, NULL), 0);
        assert_int_equal(spdy_window_received(&w, 1, &err), -EOVERFLOW);
        assert_non_null(err);
        uvm_error_free(err);
        assert_int_equal(w.recv, 0);

        /* Updates go out once half the window has been consumed. */
        assert_int_equal(spdy_window_consumed(&w, 499), 0);
        assert_int_equal(spdy_window_consumed(&w, 1), 500);
        assert_int_equal(w.recv, 500);
        assert_int_equal(spdy_window_consumed(&w, 300), 0);
        /* Never more than was received and not yet returned. */
        assert_int_equal(spdy_window_consumed(&w, 100000), 500);
        assert_int_equal(w.recv, 1000);
        assert_int_equal(spdy_window_consumed(&w, 10), 0);
        assert_int_equal(spdy_window_received(&w, 1000, NULL), 0);

        /* A one-byte window returns every byte. */
        spdy_window_init(&w, 1, 1);
        assert_int_equal(spdy_window_received(&w, 1, NULL), 0);
        assert_int_equal(spdy_window_consumed(&w, 1), 1);
}

/* ---- small helpers ---- */

static void test_names(void **state)
{
        assert_string_equal(spdy_type_name(SPDY_DATA), "DATA");
        assert_string_equal(spdy_type_name(SPDY_WINDOW_UPDATE), "WINDOW_UPDATE");
        assert_string_equal(spdy_type_name(5), "UNKNOWN");
        assert_string_equal(spdy_type_name(1000), "UNKNOWN");
        assert_null(spdy_session_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_control),
                cmocka_unit_test(test_round_trip_data),
                cmocka_unit_test(test_header_blocks_persistent),
                cmocka_unit_test(test_dictionary_id),
                cmocka_unit_test(test_go_vector),
                cmocka_unit_test(test_go_vector_bytewise),
                cmocka_unit_test(test_raw_zlib_syn_stream),
                cmocka_unit_test(test_feed_one_frame_at_a_time),
                cmocka_unit_test(test_unknown_control_skipped),
                cmocka_unit_test(test_bad_version),
                cmocka_unit_test(test_short_lengths),
                cmocka_unit_test(test_settings_count_mismatch),
                cmocka_unit_test(test_settings_bad_entries),
                cmocka_unit_test(test_undefined_flags),
                cmocka_unit_test(test_stream_zero),
                cmocka_unit_test(test_rst_status_zero),
                cmocka_unit_test(test_window_update_delta_zero),
                cmocka_unit_test(test_oversized_frames),
                cmocka_unit_test(test_block_does_not_inflate),
                cmocka_unit_test(test_block_stream_end),
                cmocka_unit_test(test_block_inflates_past_bound),
                cmocka_unit_test(test_syn_stream_id_rules),
                cmocka_unit_test(test_bad_names_and_values),
                cmocka_unit_test(test_block_lengths_past_end),
                cmocka_unit_test(test_too_many_headers),
                cmocka_unit_test(test_truncated_frames_pending),
                cmocka_unit_test(test_encoder_rejects),
                cmocka_unit_test(test_encoder_block_bound),
                cmocka_unit_test(test_window_send),
                cmocka_unit_test(test_window_overflow),
                cmocka_unit_test(test_window_receive),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
