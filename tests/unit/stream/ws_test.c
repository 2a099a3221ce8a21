/* WebSocket: the handshake (RFC 6455 sample key), subprotocol choice, the frame
 * decoder on hand-built frames (masked, fragmented, 16/64-bit lengths, byte by
 * byte, every error), the encoder, and Kubernetes' channel framing. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/http.h"
#include "stream/ws.h"

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A client frame: header (len_bytes 0 = shortest, else 2 or 8 extended
 * bytes), mask_key unless unmasked, payload (masked with it). */
static size_t client_frame(uint8_t *out, bool fin, uint8_t op, const void *payload, size_t len,
                           int len_bytes, bool masked)
{
        const uint8_t *p = payload;
        size_t h = 2, len7;

        out[0] = (uint8_t) ((fin ? 0x80 : 0) | op);
        if (len_bytes == 0)
                len_bytes = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
        len7 = len_bytes == 0 ? len : len_bytes == 2 ? 126 : 127;
        out[1] = (uint8_t) ((masked ? 0x80 : 0) | len7);
        for (int i = len_bytes - 1; i >= 0; i--)
                out[h++] = (uint8_t) ((uint64_t) len >> (8 * i));
        if (masked) {
                memcpy(out + h, mask_key, 4);
                h += 4;
        }
        for (size_t i = 0; i < len; i++)
                out[h + i] = masked ? p[i] ^ mask_key[i & 3] : p[i];
        return h + len;
}

/* Parse a request head for the handshake tests. */
static struct http_parser *parse(const char *head)
{
        struct http_parser *p = http_parser_new();
        size_t used;

        assert_int_equal(http_parser_feed(p, head, strlen(head), &used, NULL), 1);
        return p;
}

#define HS_HOST "GET /exec/t HTTP/1.1\r\nHost: h\r\n"
#define HS_OK                                                                                      \
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"               \
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static void accept_key_rfc_sample(void **state)
{
        char accept[WS_ACCEPT_LEN + 1];

        assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept, NULL), 0);
        assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void handshake_ok(void **state)
{
        struct http_parser *p = parse(HS_HOST HS_OK "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
                                                    "\r\n");
        const struct http_request *req = http_parser_request(p);
        char accept[WS_ACCEPT_LEN + 1], buf[512];
        struct ws_subprotocol sel;
        size_t len;

        assert_true(ws_is_upgrade(req));
        assert_int_equal(ws_handshake_check(req, accept, NULL), 0);
        assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_int_equal(ws_select_subprotocol(req, WS_REMOTECOMMAND_PROTOCOLS, &sel, NULL), 0);
        assert_string_equal(sel.name, "v4.channel.k8s.io");
        assert_int_equal(ws_handshake_response(accept, sel.name, buf, sizeof(buf), &len, NULL), 0);
        const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                            "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n";
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(buf, want, len);
        /* No protocol: no Sec-WebSocket-Protocol line. */
        assert_int_equal(ws_handshake_response(accept, NULL, buf, sizeof(buf), &len, NULL), 0);
        buf[len] = '\0';
        assert_null(strstr(buf, "Sec-WebSocket-Protocol"));
        http_parser_free(p);

        /* Token lists and case: "Connection: keep-alive, upgrade", "Upgrade: WebSocket". */
        p = parse(HS_HOST "Upgrade: h2c, WebSocket\r\nConnection: keep-alive\r\nConnection: "
                          "upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n");
        assert_int_equal(ws_handshake_check(http_parser_request(p), accept, NULL), 0);
        http_parser_free(p);
}

static void expect_handshake(const char *fields, int code, const char *needle)
{
        _cleanup_free_ char *head = NULL;
        struct uvm_error *err = NULL;
        char accept[WS_ACCEPT_LEN + 1];
        struct http_parser *p;

        assert_true(asprintf(&head, "%s%s\r\n", HS_HOST, fields) > 0);
        p = parse(head);
        assert_int_equal(ws_handshake_check(http_parser_request(p), accept, &err), code);
        if (code) {
                assert_non_null(err);
                if (!strstr(err->msg, needle))
                        fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
        }
        uvm_error_free(err);
        http_parser_free(p);
}

static void handshake_rejections(void **state)
{
        const char *ver = "Sec-WebSocket-Version: 13\r\n";
        const char *key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        const char *up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        char f[512];
        struct http_parser *p;
        char accept[WS_ACCEPT_LEN + 1];

        expect_handshake(HS_OK, 0, NULL);
        snprintf(f, sizeof(f), "Connection: Upgrade\r\n%s%s", ver, key);
        expect_handshake(f, -EBADMSG, "Upgrade: websocket");
        snprintf(f, sizeof(f), "Upgrade: websockets\r\nConnection: Upgrade\r\n%s%s", ver, key);
        expect_handshake(f, -EBADMSG, "Upgrade: websocket");
        snprintf(f, sizeof(f), "Upgrade: websocket\r\nConnection: keep-alive\r\n%s%s", ver, key);
        expect_handshake(f, -EBADMSG, "Connection");
        snprintf(f, sizeof(f), "%s%s", up, key);
        expect_handshake(f, -EBADMSG, "Sec-WebSocket-Version");
        snprintf(f, sizeof(f), "%sSec-WebSocket-Version: 8\r\n%s", up, key);
        expect_handshake(f, -EPROTONOSUPPORT, "version 13");
        snprintf(f, sizeof(f), "%s%s%s%s", up, ver, ver, key);
        expect_handshake(f, -EPROTONOSUPPORT, "version 13");
        snprintf(f, sizeof(f), "%s%s", up, ver);
        expect_handshake(f, -EBADMSG, "Sec-WebSocket-Key");
        snprintf(f, sizeof(f), "%s%s%s%s", up, ver, key, key);
        expect_handshake(f, -EBADMSG, "Sec-WebSocket-Key");
        const char *bad_keys[] = {
                "dGhlIHNhbXBsZSBub25jZQ=",   /* short */
                "dGhlIHNhbXBsZSBub25jZQ===", /* long */
                "AAAAAAAAAAAAAAAAAAAAAAA=",  /* 17 bytes */
                "AAAAAAAAAAAAAAAAAAAAAAAA",  /* 18 bytes */
                "AAAAAAAAAAAAAAAAAAAAA$==",  /* not base64 */
                "AAAAAAAAAAAAAAAAAAAAAB==",  /* stray bits */
                "AAAAAAAAAAAAAAAAAAAA=A==",  /* padding inside */
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad_keys); i++) {
                snprintf(f, sizeof(f), "%s%sSec-WebSocket-Key: %s\r\n", up, ver, bad_keys[i]);
                expect_handshake(f, -EBADMSG, "Sec-WebSocket-Key");
        }
        p = parse("POST /exec/t HTTP/1.1\r\nHost: h\r\n" HS_OK "\r\n");
        assert_int_equal(ws_handshake_check(http_parser_request(p), accept, NULL), -EBADMSG);
        assert_true(ws_is_upgrade(http_parser_request(p)));
        http_parser_free(p);
        p = parse(HS_HOST "Upgrade: SPDY/3.1\r\n\r\n");
        assert_false(ws_is_upgrade(http_parser_request(p)));
        http_parser_free(p);
}

static void expect_protocol(const char *fields, const char *const *ours, int code, const char *name,
                            unsigned version, bool base64)
{
        _cleanup_free_ char *head = NULL;
        struct ws_subprotocol sel = {"untouched", 99, true};
        struct http_parser *p;

        assert_true(asprintf(&head, "%s%s\r\n", HS_HOST, fields) > 0);
        p = parse(head);
        assert_int_equal(ws_select_subprotocol(http_parser_request(p), ours, &sel, NULL), code);
        if (code == 0) {
                if (name)
                        assert_string_equal(sel.name, name);
                else
                        assert_null(sel.name);
                assert_int_equal(sel.version, version);
                assert_int_equal(sel.base64, base64);
        }
        http_parser_free(p);
}

static void subprotocols(void **state)
{
        const char *const *rc = WS_REMOTECOMMAND_PROTOCOLS, *const *pf = WS_PORTFORWARD_PROTOCOLS;

        /* Ours first: v5 wins though the client put it last. */
        expect_protocol("Sec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n", rc, 0,
                        "v5.channel.k8s.io", 5, false);
        /* Lists spread over fields. */
        expect_protocol("Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: ,v3.channel.k8s.io"
                        "\r\n",
                        rc, 0, "v3.channel.k8s.io", 3, false);
        expect_protocol("Sec-WebSocket-Protocol: v2.channel.k8s.io\r\n", rc, 0, "v2.channel.k8s.io",
                        2, false);
        expect_protocol("Sec-WebSocket-Protocol: base64.channel.k8s.io\r\n", rc, 0,
                        "base64.channel.k8s.io", 1, true);
        expect_protocol("Sec-WebSocket-Protocol: v4.base64.channel.k8s.io, channel.k8s.io\r\n", rc,
                        0, "v4.base64.channel.k8s.io", 4, true);
        expect_protocol("Sec-WebSocket-Protocol: channel.k8s.io\r\n", rc, 0, "channel.k8s.io", 1,
                        false);
        /* Absent or empty: the oldest protocol, no name to echo. */
        expect_protocol("", rc, 0, NULL, 1, false);
        expect_protocol("Sec-WebSocket-Protocol: \r\n", rc, 0, NULL, 1, false);
        expect_protocol("", pf, 0, NULL, 1, false);
        /* Names are case-sensitive; unknown ones are refused. */
        expect_protocol("Sec-WebSocket-Protocol: V5.channel.k8s.io\r\n", rc, -ENOPROTOOPT, NULL, 0,
                        false);
        expect_protocol("Sec-WebSocket-Protocol: v5.base64.channel.k8s.io, chat\r\n", rc,
                        -ENOPROTOOPT, NULL, 0, false);
        expect_protocol("Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n", pf, -ENOPROTOOPT, NULL, 0,
                        false);
        expect_protocol("Sec-WebSocket-Protocol: portforward.k8s.io, v4.base64.channel.k8s.io\r\n",
                        pf, 0, "v4.base64.channel.k8s.io", 4, true);
        expect_protocol("Sec-WebSocket-Protocol: portforward.k8s.io\r\n", pf, 0,
                        "portforward.k8s.io", 0, false);
        /* A caller's own list. */
        expect_protocol("Sec-WebSocket-Protocol: a, b\r\n", (const char *const[]){"b", "a", NULL},
                        0, "b", 0, false);
}

/* Feed everything, expecting exactly one message taking all bytes. */
static void decode_one(struct ws_decoder *d, const uint8_t *buf, size_t len, struct ws_message *msg)
{
        size_t used = 0;

        assert_int_equal(ws_decoder_feed(d, buf, len, &used, msg, NULL), 1);
        assert_int_equal(used, len);
}

static void rfc_samples(void **state)
{
        /* RFC 6455 5.7: a masked "Hello", and a fragmented unmasked one made masked here. */
        const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};

        decode_one(d, hello, sizeof(hello), &m);
        assert_int_equal(m.opcode, WS_OP_TEXT);
        assert_int_equal(m.len, 5);
        assert_string_equal((char *) m.data, "Hello");
        ws_message_clear(&m);
        assert_null(m.data);
        ws_decoder_free(d);
}

static void fragments_with_interleaved_control(void **state)
{
        uint8_t buf[256];
        size_t n = 0, used, off = 0;
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};

        n += client_frame(buf + n, false, WS_OP_TEXT, "Hel", 3, 0, true);
        n += client_frame(buf + n, true, WS_OP_PING, "p!", 2, 0, true);
        n += client_frame(buf + n, false, WS_OP_CONTINUATION, "", 0, 0, true);
        n += client_frame(buf + n, true, WS_OP_PONG, "", 0, 0, true);
        n += client_frame(buf + n, true, WS_OP_CONTINUATION, "lo", 2, 0, true);
        n += client_frame(buf + n, true, WS_OP_BINARY, "\0\1", 2, 0, true);

        assert_int_equal(ws_decoder_feed(d, buf, n, &used, &m, NULL), 1);
        assert_int_equal(m.opcode, WS_OP_PING);
        assert_int_equal(m.len, 2);
        assert_memory_equal(m.data, "p!", 2);
        ws_message_clear(&m);
        off += used;
        assert_int_equal(ws_decoder_feed(d, buf + off, n - off, &used, &m, NULL), 1);
        assert_int_equal(m.opcode, WS_OP_PONG);
        assert_int_equal(m.len, 0);
        assert_non_null(m.data);
        ws_message_clear(&m);
        off += used;
        assert_int_equal(ws_decoder_feed(d, buf + off, n - off, &used, &m, NULL), 1);
        assert_int_equal(m.opcode, WS_OP_TEXT);
        assert_string_equal((char *) m.data, "Hello");
        ws_message_clear(&m);
        off += used;
        assert_int_equal(ws_decoder_feed(d, buf + off, n - off, &used, &m, NULL), 1);
        assert_int_equal(m.opcode, WS_OP_BINARY);
        assert_int_equal(m.len, 2);
        assert_memory_equal(m.data, "\0\1", 3);
        ws_message_clear(&m);
        assert_int_equal(off + used, n);
        assert_int_equal(ws_decoder_feed(d, NULL, 0, &used, &m, NULL), 0);
        assert_int_equal(used, 0);
        ws_decoder_free(d);
}

static void long_lengths(void **state)
{
        static const size_t sizes[] = {125, 126, 65535, 65536, 70000};
        static const int forms[] = {0, 2, 8};

        for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
                for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
                        size_t len = sizes[s], n;
                        uint8_t *payload, *buf;
                        struct ws_decoder *d;
                        struct ws_message m = {0};

                        if (forms[f] == 2 && len > 0xffff)
                                continue;
                        d = ws_decoder_new(0);
                        payload = malloc(len);
                        buf = malloc(len + 14);
                        for (size_t i = 0; i < len; i++)
                                payload[i] = (uint8_t) (i * 7);
                        /* Non-minimal lengths are accepted: that rule binds senders. */
                        n = client_frame(buf, true, WS_OP_BINARY, payload, len, forms[f], true);
                        decode_one(d, buf, n, &m);
                        assert_int_equal(m.len, len);
                        assert_memory_equal(m.data, payload, len);
                        ws_message_clear(&m);
                        free(payload);
                        free(buf);
                        ws_decoder_free(d);
                }
        }
}

static void byte_by_byte(void **state)
{
        uint8_t buf[1024], big[300];
        size_t n = 0, got = 0;
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};
        const char *want[] = {"first", "p", "second part", "", "x300", "close"};

        memset(big, 'z', sizeof(big));
        n += client_frame(buf + n, true, WS_OP_TEXT, "first", 5, 0, true);
        n += client_frame(buf + n, true, WS_OP_PING, "p", 1, 0, true);
        n += client_frame(buf + n, false, WS_OP_BINARY, "second", 6, 0, true);
        n += client_frame(buf + n, true, WS_OP_CONTINUATION, " part", 5, 8, true);
        n += client_frame(buf + n, true, WS_OP_BINARY, "", 0, 0, true);
        n += client_frame(buf + n, true, WS_OP_BINARY, big, sizeof(big), 0, true);
        n += client_frame(buf + n, true, WS_OP_CLOSE, "\003\350bye", 5, 0, true);
        for (size_t i = 0; i < n; i++) {
                size_t used = 0;
                int r = ws_decoder_feed(d, buf + i, 1, &used, &m, NULL);

                assert_int_equal(used, 1);
                if (r == 0)
                        continue;
                assert_int_equal(r, 1);
                if (got == 4)
                        assert_int_equal(m.len, sizeof(big));
                else if (got == 5)
                        assert_int_equal(m.close_code, 1000);
                else
                        assert_string_equal((char *) m.data, want[got]);
                got++;
                ws_message_clear(&m);
        }
        assert_int_equal(got, 6);
        ws_decoder_free(d);
}

static void close_frames(void **state)
{
        uint8_t buf[256];
        size_t n;
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};
        struct uvm_error *err = NULL;

        n = client_frame(buf, true, WS_OP_CLOSE, "\x0f\xa0gone \xe2\x9c\x93", 10, 0, true);
        decode_one(d, buf, n, &m);
        assert_int_equal(m.opcode, WS_OP_CLOSE);
        assert_int_equal(m.close_code, 4000);
        assert_string_equal(m.close_reason, "gone \xe2\x9c\x93");
        ws_message_clear(&m);
        /* Nothing may follow a close frame. */
        n = client_frame(buf, true, WS_OP_PING, "", 0, 0, true);
        assert_int_equal(ws_decoder_feed(d, buf, n, &n, &m, &err), -EPROTO);
        assert_non_null(strstr(err->msg, "after a close"));
        uvm_error_free(err);
        ws_decoder_free(d);

        d = ws_decoder_new(0);
        n = client_frame(buf, true, WS_OP_CLOSE, "", 0, 0, true);
        decode_one(d, buf, n, &m);
        assert_int_equal(m.close_code, WS_CLOSE_NO_STATUS);
        assert_string_equal(m.close_reason, "");
        ws_message_clear(&m);
        ws_decoder_free(d);

        static const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                        1009, 1010, 1011, 1014, 3000, 4999};
        static const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
        for (size_t i = 0; i < ARRAY_SIZE(good) + ARRAY_SIZE(bad); i++) {
                uint16_t code = i < ARRAY_SIZE(good) ? good[i] : bad[i - ARRAY_SIZE(good)];
                uint8_t payload[2] = {(uint8_t) (code >> 8), (uint8_t) code};
                size_t used;

                d = ws_decoder_new(0);
                n = client_frame(buf, true, WS_OP_CLOSE, payload, 2, 0, true);
                assert_int_equal(ws_decoder_feed(d, buf, n, &used, &m, NULL),
                                 i < ARRAY_SIZE(good) ? 1 : -EPROTO);
                ws_message_clear(&m);
                ws_decoder_free(d);
        }
}

/* Feed raw bytes to a fresh decoder (max message 64); expect error code. */
static void expect_error(const uint8_t *buf, size_t n, int code, const char *needle)
{
        struct ws_decoder *d = ws_decoder_new(64);
        struct ws_message m = {0};
        struct uvm_error *err = NULL;
        size_t used, off = 0;
        int r;

        /* Earlier complete messages are fine; the error must come eventually. */
        while ((r = ws_decoder_feed(d, buf + off, n - off, &used, &m, &err)) == 1) {
                ws_message_clear(&m);
                off += used;
        }
        assert_int_equal(r, code);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
        assert_int_equal(ws_close_code_of_error(r), code == -EPROTO     ? 1002
                                                    : code == -EILSEQ   ? 1007
                                                    : code == -EMSGSIZE ? 1009
                                                                        : 1011);
        uvm_error_free(err);
        err = NULL;
        /* Sticky, with the first message. */
        assert_int_equal(ws_decoder_feed(d, "\x81", 1, &used, &m, &err), code);
        assert_non_null(strstr(err->msg, needle));
        uvm_error_free(err);
        ws_decoder_free(d);
}

static void protocol_errors(void **state)
{
        uint8_t buf[512], big[200] = {0};
        size_t n;

        n = client_frame(buf, true, WS_OP_TEXT, "hi", 2, 0, false);
        expect_error(buf, n, -EPROTO, "unmasked");
        for (int rsv = 1; rsv < 8; rsv++) {
                n = client_frame(buf, true, WS_OP_BINARY, "hi", 2, 0, true);
                buf[0] |= (uint8_t) (rsv << 4);
                expect_error(buf, n, -EPROTO, "RSV");
        }
        for (uint8_t op = 3; op < 16; op++) {
                if (op >= WS_OP_CLOSE && op <= WS_OP_PONG)
                        continue;
                n = client_frame(buf, true, op, "", 0, 0, true);
                expect_error(buf, n, -EPROTO, "reserved opcode");
        }
        n = client_frame(buf, false, WS_OP_PING, "", 0, 0, true);
        expect_error(buf, n, -EPROTO, "control frame");
        n = client_frame(buf, true, WS_OP_PING, big, 126, 0, true);
        expect_error(buf, n, -EPROTO, "control frame");
        n = client_frame(buf, true, WS_OP_CLOSE, big, 100, 2, true); /* 126 form, even if short */
        expect_error(buf, n, -EPROTO, "control frame");
        n = client_frame(buf, true, WS_OP_CONTINUATION, "x", 1, 0, true);
        expect_error(buf, n, -EPROTO, "continuation");
        n = client_frame(buf, false, WS_OP_TEXT, "x", 1, 0, true);
        n += client_frame(buf + n, true, WS_OP_BINARY, "y", 1, 0, true);
        expect_error(buf, n, -EPROTO, "inside a fragmented");
        n = client_frame(buf, true, WS_OP_TEXT, "x", 1, 0, true);
        n += client_frame(buf + n, true, WS_OP_CONTINUATION, "y", 1, 0, true);
        expect_error(buf, n, -EPROTO, "continuation");
        n = client_frame(buf, true, WS_OP_BINARY, "", 0, 8, true);
        buf[2] = 0x80;
        expect_error(buf, n, -EPROTO, "top bit");
        n = client_frame(buf, true, WS_OP_CLOSE, "\x03", 1, 0, true);
        expect_error(buf, n, -EPROTO, "one byte");
        n = client_frame(buf, true, WS_OP_CLOSE, "\x03\xe9", 2, 0, true);
        n += client_frame(buf + n, true, WS_OP_TEXT, "", 0, 0, true);
        expect_error(buf, n, -EPROTO, "after a close");
}

static void utf8_errors(void **state)
{
        static const struct {
                const char *bytes;
                size_t len;
        } bad[] = {
                {"\xc0\x80", 2},         /* overlong NUL */
                {"\xc1\xbf", 2},         /* overlong */
                {"\xe0\x80\xaf", 3},     /* overlong */
                {"\xed\xa0\x80", 3},     /* surrogate */
                {"\xf0\x80\x80\xaf", 4}, /* overlong */
                {"\xf4\x90\x80\x80", 4}, /* > U+10FFFF */
                {"\xf5\x80\x80\x80", 4}, /* no such lead byte */
                {"\xff", 1},             /* no such byte */
                {"\x80", 1},             /* stray continuation */
                {"a\xe2\x82", 3},        /* ends mid-character */
                {"\xe2\x28\xa1", 3},     /* bad continuation */
        };
        uint8_t buf[64];
        size_t n;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                n = client_frame(buf, true, WS_OP_TEXT, bad[i].bytes, bad[i].len, 0, true);
                expect_error(buf, n, -EILSEQ, "UTF-8");
        }
        /* Fail fast: the first fragment alone is already wrong. */
        n = client_frame(buf, false, WS_OP_TEXT, "ok\xc0", 3, 0, true);
        expect_error(buf, n, -EILSEQ, "not UTF-8");
        /* A character split across fragments is fine... */
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};

        n = client_frame(buf, false, WS_OP_TEXT, "\xe2\x82", 2, 0, true);
        n += client_frame(buf + n, true, WS_OP_CONTINUATION, "\xac", 1, 0, true);
        decode_one(d, buf, n, &m);
        assert_string_equal((char *) m.data, "\xe2\x82\xac");
        ws_message_clear(&m);
        ws_decoder_free(d);
        /* ...but binary messages are not checked, and close reasons are. */
        d = ws_decoder_new(0);
        n = client_frame(buf, true, WS_OP_BINARY, "\xff", 1, 0, true);
        decode_one(d, buf, n, &m);
        ws_message_clear(&m);
        ws_decoder_free(d);
        n = client_frame(buf, true, WS_OP_CLOSE, "\x03\xe8\xff", 3, 0, true);
        expect_error(buf, n, -EILSEQ, "close reason");
}

static void message_size_bound(void **state)
{
        uint8_t buf[512], big[200] = {0};
        size_t n;
        struct ws_decoder *d = ws_decoder_new(64);
        struct ws_message m = {0};

        n = client_frame(buf, true, WS_OP_BINARY, big, 64, 0, true);
        decode_one(d, buf, n, &m);
        assert_int_equal(m.len, 64);
        ws_message_clear(&m);
        ws_decoder_free(d);

        /* Refused from the header alone: the payload need not arrive. */
        n = client_frame(buf, true, WS_OP_BINARY, big, 65, 0, true);
        expect_error(buf, 6, -EMSGSIZE, "exceeds 64");
        /* Fragments adding up past the bound. */
        n = client_frame(buf, false, WS_OP_TEXT, big, 40, 0, true);
        n += client_frame(buf + n, true, WS_OP_CONTINUATION, big, 25, 0, true);
        expect_error(buf, n, -EMSGSIZE, "exceeds 64");
        /* A 64-bit length far past the bound. */
        n = client_frame(buf, true, WS_OP_BINARY, "", 0, 8, true);
        buf[2] = 0x7f;
        expect_error(buf, n, -EMSGSIZE, "exceeds 64");
        /* Control frames are bounded by 125 bytes, not by the message bound. */
        d = ws_decoder_new(64);
        n = client_frame(buf, true, WS_OP_PING, big, 125, 0, true);
        decode_one(d, buf, n, &m);
        assert_int_equal(m.len, 125);
        ws_message_clear(&m);
        ws_decoder_free(d);
}

/* Turn a server frame into the client frame a peer would send (masked). */
static size_t to_client(const uint8_t *frame, size_t len, uint8_t *out)
{
        size_t h = (frame[1] & 0x7f) == 126 ? 4 : (frame[1] & 0x7f) == 127 ? 10 : 2;

        assert_int_equal(frame[1] & 0x80, 0);
        memcpy(out, frame, h);
        out[1] |= 0x80;
        memcpy(out + h, mask_key, 4);
        for (size_t i = 0; i < len - h; i++)
                out[h + 4 + i] = frame[h + i] ^ mask_key[i & 3];
        return len + 4;
}

static void encoder(void **state)
{
        uint8_t hdr[WS_MAX_HEADER], *buf = NULL, client[300];
        size_t len = 0;
        struct ws_decoder *d;
        struct ws_message m = {0};

        assert_int_equal(ws_frame_header(hdr, WS_OP_BINARY, true, 0), 2);
        assert_memory_equal(hdr, "\x82\x00", 2);
        assert_int_equal(ws_frame_header(hdr, WS_OP_TEXT, false, 125), 2);
        assert_memory_equal(hdr, "\x01\x7d", 2);
        assert_int_equal(ws_frame_header(hdr, WS_OP_BINARY, true, 126), 4);
        assert_memory_equal(hdr, "\x82\x7e\x00\x7e", 4);
        assert_int_equal(ws_frame_header(hdr, WS_OP_BINARY, true, 65535), 4);
        assert_memory_equal(hdr, "\x82\x7e\xff\xff", 4);
        assert_int_equal(ws_frame_header(hdr, WS_OP_BINARY, true, 65536), 10);
        assert_memory_equal(hdr, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
        assert_int_equal(ws_frame_header(hdr, WS_OP_CONTINUATION, true, 0x0102030405060708ull), 10);
        assert_memory_equal(hdr, "\x80\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10);

        assert_int_equal(ws_encode_frame(WS_OP_TEXT, "Hello", 5, &buf, &len, NULL), 0);
        assert_int_equal(len, 7);
        assert_memory_equal(buf, "\x81\x05Hello", 7);
        /* What we send, a client's decoder would read back. */
        d = ws_decoder_new(0);
        decode_one(d, client, to_client(buf, len, client), &m);
        assert_string_equal((char *) m.data, "Hello");
        ws_message_clear(&m);
        free(buf);
        assert_int_equal(ws_encode_frame(WS_OP_PING, "abc", 3, &buf, &len, NULL), 0);
        assert_memory_equal(buf, "\211\003abc", 5);
        free(buf);
        assert_int_equal(ws_encode_frame(WS_OP_PONG, NULL, 0, &buf, &len, NULL), 0);
        assert_memory_equal(buf, "\x8a\x00", 2);
        free(buf);
        assert_int_equal(ws_encode_frame(WS_OP_BINARY, client, 200, &buf, &len, NULL), 0);
        assert_int_equal(len, 204);
        assert_memory_equal(buf, "\x82\x7e\x00\xc8", 4);
        free(buf);
        ws_decoder_free(d);

        buf = NULL;
        assert_int_equal(ws_encode_frame(WS_OP_PING, client, 126, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_frame(WS_OP_TEXT, "\xc0\x80", 2, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_frame(WS_OP_CLOSE, "", 0, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_frame(WS_OP_CONTINUATION, "", 0, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_frame(3, "", 0, &buf, &len, NULL), -EINVAL);
        assert_null(buf);
}

static void encode_close(void **state)
{
        uint8_t *buf = NULL, client[200];
        size_t len = 0;
        char reason[124];
        struct ws_decoder *d = ws_decoder_new(0);
        struct ws_message m = {0};

        assert_int_equal(ws_encode_close(1000, "done", &buf, &len, NULL), 0);
        assert_int_equal(len, 8);
        assert_memory_equal(buf, "\210\006\003\350done", 8);
        decode_one(d, client, to_client(buf, len, client), &m);
        assert_int_equal(m.close_code, 1000);
        assert_string_equal(m.close_reason, "done");
        ws_message_clear(&m);
        free(buf);
        assert_int_equal(ws_encode_close(0, NULL, &buf, &len, NULL), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(buf, "\x88\x00", 2);
        free(buf);
        assert_int_equal(ws_encode_close(WS_CLOSE_TOO_BIG, NULL, &buf, &len, NULL), 0);
        assert_memory_equal(buf, "\x88\x02\x03\xf1", 4);
        free(buf);
        memset(reason, 'r', 123);
        reason[123] = '\0';
        assert_int_equal(ws_encode_close(1011, reason, &buf, &len, NULL), 0);
        assert_int_equal(len, 127);
        free(buf);
        buf = NULL;
        char longer[125];
        memset(longer, 'r', 124);
        longer[124] = '\0';
        assert_int_equal(ws_encode_close(1011, longer, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_close(1005, NULL, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_close(1006, NULL, &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_close(0, "why", &buf, &len, NULL), -EINVAL);
        assert_int_equal(ws_encode_close(1000, "\xff", &buf, &len, NULL), -EINVAL);
        assert_null(buf);
        ws_decoder_free(d);
}

/* Decode a server frame (as a client would) into a message. */
static void read_back(const uint8_t *frame, size_t len, struct ws_message *m)
{
        uint8_t *client = malloc(len + 4);
        struct ws_decoder *d = ws_decoder_new(0);

        decode_one(d, client, to_client(frame, len, client), m);
        ws_decoder_free(d);
        free(client);
}

static void channels_binary(void **state)
{
        uint8_t *frame = NULL, ch = 99;
        const uint8_t *data;
        size_t len, dlen;
        struct ws_message m = {0};

        assert_int_equal(ws_channel_encode(WS_CH_STDOUT, "hi", 2, false, &frame, &len, NULL), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(frame, "\x82\x03\x01hi", 5);
        read_back(frame, len, &m);
        free(frame);
        assert_int_equal(ws_channel_decode(&m, false, &ch, &data, &dlen, NULL), 1);
        assert_int_equal(ch, WS_CH_STDOUT);
        assert_int_equal(dlen, 2);
        assert_memory_equal(data, "hi", 2);
        /* The wrong framing for the protocol. */
        assert_int_equal(ws_channel_decode(&m, true, &ch, &data, &dlen, NULL), -EBADMSG);
        ws_message_clear(&m);

        /* An empty data part; a high channel. */
        assert_int_equal(ws_channel_encode(200, NULL, 0, false, &frame, &len, NULL), 0);
        assert_memory_equal(frame, "\x82\x01\xc8", 3);
        free(frame);
        /* An empty message is ignored, as Kubernetes does. */
        m = (struct ws_message){WS_OP_BINARY, (uint8_t *) "", 0, 0, NULL};
        assert_int_equal(ws_channel_decode(&m, false, &ch, &data, &dlen, NULL), 0);

        /* v5: close stdin. */
        m = (struct ws_message){WS_OP_BINARY, (uint8_t *) "\xff\x00", 2, 0, NULL};
        assert_int_equal(ws_channel_decode(&m, false, &ch, &data, &dlen, NULL), 1);
        assert_int_equal(ch, WS_CH_CLOSE);
        assert_int_equal(ws_channel_close_target(data, dlen, &ch, NULL), 0);
        assert_int_equal(ch, WS_CH_STDIN);
        assert_int_equal(ws_channel_close_target(data, 0, &ch, NULL), -EBADMSG);
        assert_int_equal(ws_channel_close_target((const uint8_t *) "\0\0", 2, &ch, NULL), -EBADMSG);

        /* A long payload takes the 16-bit length form. */
        uint8_t big[1000];
        memset(big, 0xab, sizeof(big));
        assert_int_equal(
                ws_channel_encode(WS_CH_STDERR, big, sizeof(big), false, &frame, &len, NULL), 0);
        assert_int_equal(len, 4 + 1 + sizeof(big));
        assert_memory_equal(frame, "\x82\x7e\x03\xe9\x02", 5);
        free(frame);
}

static void channels_base64(void **state)
{
        uint8_t *frame = NULL, ch = 99;
        const uint8_t *data;
        size_t len, dlen;
        struct ws_message m = {0};
        static const char *plain[] = {"", "h", "hi", "hi!", "hi!!"};
        static const char *coded[] = {"", "aA==", "aGk=", "aGkh", "aGkhIQ=="};

        for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
                size_t n = strlen(plain[i]);

                assert_int_equal(
                        ws_channel_encode(WS_CH_STDERR, plain[i], n, true, &frame, &len, NULL), 0);
                assert_int_equal(frame[0], 0x81);
                assert_int_equal(frame[1], 1 + strlen(coded[i]));
                assert_int_equal(frame[2], '2');
                assert_memory_equal(frame + 3, coded[i], strlen(coded[i]));
                read_back(frame, len, &m);
                free(frame);
                assert_int_equal(ws_channel_decode(&m, true, &ch, &data, &dlen, NULL), 1);
                assert_int_equal(ch, WS_CH_STDERR);
                assert_int_equal(dlen, n);
                assert_memory_equal(data, plain[i], n);
                assert_int_equal(data[n], 0);
                assert_int_equal(ws_channel_decode(&m, false, &ch, &data, &dlen, NULL), -EBADMSG);
                ws_message_clear(&m);
        }
        /* Channels past 9 continue in ASCII, as Kubernetes writes them. */
        assert_int_equal(ws_channel_encode(10, "x", 1, true, &frame, &len, NULL), 0);
        assert_int_equal(frame[2], ':');
        free(frame);
        frame = NULL;
        assert_int_equal(ws_channel_encode(80, "x", 1, true, &frame, &len, NULL), -EINVAL);
        assert_null(frame);

        static const char *bad[] = {"1aGk", "1aGk=!", "1a===", "1aGl=", "/aGk=", "1aG=k", "1 aGk="};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char copy[16];

                strcpy(copy, bad[i]);
                m = (struct ws_message){WS_OP_TEXT, (uint8_t *) copy, strlen(copy), 0, NULL};
                assert_int_equal(ws_channel_decode(&m, true, &ch, &data, &dlen, NULL), -EBADMSG);
        }
        char only[] = "0";
        m = (struct ws_message){WS_OP_TEXT, (uint8_t *) only, 1, 0, NULL};
        assert_int_equal(ws_channel_decode(&m, true, &ch, &data, &dlen, NULL), 1);
        assert_int_equal(ch, WS_CH_STDIN);
        assert_int_equal(dlen, 0);
        char resize[] = "4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9";
        m = (struct ws_message){WS_OP_TEXT, (uint8_t *) resize, strlen(resize), 0, NULL};
        assert_int_equal(ws_channel_decode(&m, true, &ch, &data, &dlen, NULL), 1);
        assert_int_equal(ch, WS_CH_RESIZE);
        assert_int_equal(dlen, 24);
        assert_memory_equal(data, "{\"Width\":80,\"Height\":24}", dlen);
}

static void portforward(void **state)
{
        uint8_t prefix[2];
        uint16_t port = 0;
        size_t index = 99;
        bool is_error = true;

        ws_portforward_port_prefix(8080, prefix);
        assert_memory_equal(prefix, "\x90\x1f", 2);
        assert_int_equal(ws_portforward_port_parse(prefix, 2, &port, NULL), 0);
        assert_int_equal(port, 8080);
        assert_int_equal(
                ws_portforward_port_parse((const uint8_t *) "\x50\x00rest", 6, &port, NULL), 0);
        assert_int_equal(port, 80);
        assert_int_equal(ws_portforward_port_parse(prefix, 1, &port, NULL), -EBADMSG);

        assert_int_equal(ws_portforward_channel(0, 2, &index, &is_error, NULL), 0);
        assert_true(index == 0 && !is_error);
        assert_int_equal(ws_portforward_channel(3, 2, &index, &is_error, NULL), 0);
        assert_true(index == 1 && is_error);
        assert_int_equal(ws_portforward_channel(4, 2, &index, &is_error, NULL), -EBADMSG);
        assert_int_equal(
                ws_portforward_channel(255, WS_PORTFORWARD_MAX_PORTS, &index, &is_error, NULL), 0);
        assert_true(index == 127 && is_error);
        assert_int_equal(ws_portforward_channel(0, 0, &index, &is_error, NULL), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(accept_key_rfc_sample),
                cmocka_unit_test(handshake_ok),
                cmocka_unit_test(handshake_rejections),
                cmocka_unit_test(subprotocols),
                cmocka_unit_test(rfc_samples),
                cmocka_unit_test(fragments_with_interleaved_control),
                cmocka_unit_test(long_lengths),
                cmocka_unit_test(byte_by_byte),
                cmocka_unit_test(close_frames),
                cmocka_unit_test(protocol_errors),
                cmocka_unit_test(utf8_errors),
                cmocka_unit_test(message_size_bound),
                cmocka_unit_test(encoder),
                cmocka_unit_test(encode_close),
                cmocka_unit_test(channels_binary),
                cmocka_unit_test(channels_base64),
                cmocka_unit_test(portforward),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
