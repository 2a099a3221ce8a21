#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "stream/ws-sha1.h"
#include "stream/ws.h"

/* Base64 (RFC 4648, standard alphabet, padded). */

static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encoded_len(size_t n)
{
        return (n + 2) / 3 * 4;
}

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16;

                if (i + 1 < n)
                        v |= (uint32_t) in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                out[o++] = b64_alphabet[v >> 18];
                out[o++] = b64_alphabet[(v >> 12) & 63];
                out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        }
        return o;
}

static int b64_value(char c)
{
        const char *p = c ? strchr(b64_alphabet, c) : NULL;

        return p ? (int) (p - b64_alphabet) : -1;
}

/* Strict decode: whole padded groups, '=' only at the end, unused bits zero.
 * out may be in: each group is read before its (shorter) output is written.
 * Returns the decoded length or -1. */
static ssize_t b64_decode(const char *in, size_t n, uint8_t *out)
{
        size_t o = 0, pad = 0;

        if (n % 4)
                return -1;
        if (n > 0 && in[n - 1] == '=')
                pad = in[n - 2] == '=' ? 2 : 1;
        for (size_t i = 0; i < n; i += 4) {
                size_t keep = i + 4 == n ? 4 - pad : 4;
                uint32_t v = 0;

                for (size_t j = 0; j < 4; j++) {
                        int x = j < keep ? b64_value(in[i + j]) : 0;

                        if (x < 0)
                                return -1;
                        v = v << 6 | (uint32_t) x;
                }
                if ((keep == 2 && (v & 0xffff)) || (keep == 3 && (v & 0xff)))
                        return -1;
                out[o++] = (uint8_t) (v >> 16);
                if (keep > 2)
                        out[o++] = (uint8_t) (v >> 8);
                if (keep > 3)
                        out[o++] = (uint8_t) v;
        }
        return (ssize_t) o;
}

/* UTF-8 (RFC 3629), checked incrementally so a message can be refused as soon
 * as a bad byte arrives: `need` continuation bytes remain, the next in [lo, hi]
 * (narrower after E0, ED, F0, F4: no overlongs, surrogates or > U+10FFFF). */
struct utf8 {
        uint8_t need, lo, hi;
};

static bool utf8_feed(struct utf8 *u, const uint8_t *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t c = s[i];

                if (u->need) {
                        if (c < u->lo || c > u->hi)
                                return false;
                        u->need--;
                        u->lo = 0x80;
                        u->hi = 0xbf;
                        continue;
                }
                if (c < 0x80)
                        continue;
                if (c < 0xc2 || c > 0xf4)
                        return false;
                u->need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
                u->lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
                u->hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        }
        return true;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
        struct utf8 u = {0, 0x80, 0xbf};

        return utf8_feed(&u, s, n) && u.need == 0;
}

/* Handshake. */

bool ws_is_upgrade(const struct http_request *req)
{
        return http_list_has_token(req, "Upgrade", "websocket");
}

int ws_accept_key(const char *key, char ret_accept[WS_ACCEPT_LEN + 1], struct uvm_error **err)
{
        uint8_t md[WS_SHA1_LEN];

        if (ws_sha1(key, strlen(key), WS_GUID, strlen(WS_GUID), md) < 0)
                return uvm_error_set(err, EIO, "SHA-1 of the WebSocket key failed");
        b64_encode(md, sizeof(md), ret_accept);
        ret_accept[WS_ACCEPT_LEN] = '\0';
        return 0;
}

/* The value of a field that must appear exactly once, or NULL. */
static const char *single_header(const struct http_request *req, const char *name)
{
        size_t iter = 0;
        const char *v = http_header_next(req, name, &iter);

        return v && !http_header_next(req, name, &iter) ? v : NULL;
}

int ws_handshake_check(const struct http_request *req, char ret_accept[WS_ACCEPT_LEN + 1],
                       struct uvm_error **err)
{
        const char *key, *version;
        uint8_t raw[18];

        if (!STR_EQ(req->method, "GET"))
                return uvm_error_set(err, EBADMSG, "WebSocket handshake: method \"%s\" is not GET",
                                     req->method);
        if (!ws_is_upgrade(req))
                return uvm_error_set(err, EBADMSG,
                                     "WebSocket handshake: no \"Upgrade: websocket\"");
        if (!http_list_has_token(req, "Connection", "upgrade"))
                return uvm_error_set(err, EBADMSG,
                                     "WebSocket handshake: Connection does not list \"upgrade\"");
        if (!http_header_get(req, "Sec-WebSocket-Version"))
                return uvm_error_set(err, EBADMSG, "WebSocket handshake: no Sec-WebSocket-Version");
        version = single_header(req, "Sec-WebSocket-Version");
        if (!version || !STR_EQ(version, "13"))
                return uvm_error_set(err, EPROTONOSUPPORT,
                                     "WebSocket handshake: only version 13 is supported");
        key = single_header(req, "Sec-WebSocket-Key");
        if (!key || strlen(key) != 24 || b64_decode(key, 24, raw) != 16)
                return uvm_error_set(err, EBADMSG,
                                     "WebSocket handshake: Sec-WebSocket-Key must be one base64 "
                                     "value of 16 bytes");
        return ws_accept_key(key, ret_accept, err);
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && STR_EQ(s + n - m, suffix);
}

/* What a protocol name says about its framing. */
static struct ws_subprotocol describe(const char *name)
{
        struct ws_subprotocol p = {name, 0, false};
        const char *s = name;
        unsigned v = 0;

        if (has_suffix(name, "channel.k8s.io"))
                p.version = 1;
        p.base64 = has_suffix(name, "base64.channel.k8s.io");
        if (*s++ == 'v') {
                while (*s >= '0' && *s <= '9' && v < 1000)
                        v = v * 10 + (unsigned) (*s++ - '0');
                if (*s == '.' && v > 0 && p.version)
                        p.version = v;
        }
        return p;
}

int ws_select_subprotocol(const struct http_request *req, const char *const *ours,
                          struct ws_subprotocol *ret, struct uvm_error **err)
{
        struct http_list_iter it = {0};
        const char *elem;
        size_t len;

        /* No field, or only empty ones: the oldest protocol, as kubelet takes it. */
        if (!http_list_next(req, "Sec-WebSocket-Protocol", &it, &elem, &len)) {
                *ret = (struct ws_subprotocol){NULL, 1, false};
                return 0;
        }
        for (size_t i = 0; ours[i]; i++) {
                size_t n = strlen(ours[i]);

                it = (struct http_list_iter){0};
                while (http_list_next(req, "Sec-WebSocket-Protocol", &it, &elem, &len))
                        if (len == n && memcmp(elem, ours[i], n) == 0) {
                                *ret = describe(ours[i]);
                                return 0;
                        }
        }
        return uvm_error_set(err, ENOPROTOOPT,
                             "no offered WebSocket subprotocol is supported; we prefer \"%s\"",
                             ours[0] ? ours[0] : "");
}

int ws_handshake_response(const char *accept, const char *protocol, char *buf, size_t size,
                          size_t *ret_len, struct uvm_error **err)
{
        const struct http_header headers[] = {
                {"Upgrade", "websocket"},
                {"Connection", "Upgrade"},
                {"Sec-WebSocket-Accept", accept},
                {"Sec-WebSocket-Protocol", protocol},
        };

        return http_format_response(101, headers, protocol ? 4 : 3, NULL, 0, buf, size, ret_len,
                                    err);
}

/* Frame decoder. */

enum decoder_state {
        DEC_HEAD,    /* reading the first two header bytes */
        DEC_EXT,     /* reading the extended length and the mask */
        DEC_PAYLOAD, /* reading (and unmasking) the payload */
};

struct ws_decoder {
        size_t max_message;
        enum decoder_state state;
        uint8_t head[14];
        size_t head_len, head_need;
        /* The current frame. */
        bool fin;
        uint8_t opcode;
        uint8_t mask[4];
        uint64_t frame_len, frame_done;
        uint8_t ctl[WS_MAX_CONTROL]; /* a control frame's payload */
        /* The data message being assembled across fragments. */
        uint8_t msg_opcode; /* TEXT or BINARY while a message is open, else 0 */
        uint8_t *msg;
        size_t msg_len, msg_cap;
        struct utf8 utf8;
        bool closed; /* a close frame was decoded: nothing may follow */
        int error;   /* sticky -errno */
        char *error_msg;
};

static bool is_control(uint8_t opcode)
{
        return opcode & 0x8;
}

static bool close_code_is_valid(unsigned code)
{
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
               (code >= 3000 && code <= 4999);
}

void ws_message_clear(struct ws_message *m)
{
        free(m->data);
        *m = (struct ws_message){0};
}

struct ws_decoder *ws_decoder_new(size_t max_message)
{
        struct ws_decoder *d = calloc(1, sizeof(*d));

        if (!d)
                return NULL;
        d->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
        d->head_need = 2;
        return d;
}

struct ws_decoder *ws_decoder_free(struct ws_decoder *d)
{
        if (!d)
                return NULL;
        free(d->msg);
        free(d->error_msg);
        free(d);
        return NULL;
}

uint16_t ws_close_code_of_error(int r)
{
        switch (r) {
        case -EPROTO:
                return WS_CLOSE_PROTOCOL_ERROR;
        case -EILSEQ:
                return WS_CLOSE_INVALID_DATA;
        case -EMSGSIZE:
                return WS_CLOSE_TOO_BIG;
        default:
                return WS_CLOSE_INTERNAL_ERROR;
        }
}

/* The first two header bytes: everything but the extended length. */
static int head_first(struct ws_decoder *d, struct uvm_error **err)
{
        uint8_t b0 = d->head[0], b1 = d->head[1], len7 = b1 & 0x7f;

        d->fin = b0 & 0x80;
        d->opcode = b0 & 0x0f;
        if (d->closed)
                return uvm_error_set(err, EPROTO, "WebSocket frame after a close frame");
        if (b0 & 0x70)
                return uvm_error_set(err, EPROTO, "WebSocket frame with RSV bits set");
        if (d->opcode > WS_OP_BINARY && (d->opcode < WS_OP_CLOSE || d->opcode > WS_OP_PONG))
                return uvm_error_set(err, EPROTO, "WebSocket frame with reserved opcode %u",
                                     d->opcode);
        if (!(b1 & 0x80))
                return uvm_error_set(err, EPROTO, "unmasked WebSocket frame from the client");
        if (is_control(d->opcode) && (!d->fin || len7 > WS_MAX_CONTROL))
                return uvm_error_set(err, EPROTO,
                                     "WebSocket control frame fragmented or over %u bytes",
                                     WS_MAX_CONTROL);
        if (d->opcode == WS_OP_CONTINUATION && !d->msg_opcode)
                return uvm_error_set(err, EPROTO, "WebSocket continuation frame without a message");
        if ((d->opcode == WS_OP_TEXT || d->opcode == WS_OP_BINARY) && d->msg_opcode)
                return uvm_error_set(err, EPROTO,
                                     "WebSocket data frame inside a fragmented message");
        d->head_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
        return 0;
}

static int head_rest(struct ws_decoder *d, struct uvm_error **err)
{
        uint8_t len7 = d->head[1] & 0x7f;
        const uint8_t *p = d->head + 2;

        d->frame_len = len7;
        if (len7 >= 126) {
                size_t n = len7 == 126 ? 2 : 8;

                d->frame_len = 0;
                for (size_t i = 0; i < n; i++)
                        d->frame_len = d->frame_len << 8 | *p++;
                if (d->frame_len >> 63)
                        return uvm_error_set(err, EPROTO,
                                             "WebSocket frame length has its top bit set");
        }
        memcpy(d->mask, p, 4);
        d->frame_done = 0;
        if (is_control(d->opcode))
                return 0;
        if (d->frame_len > d->max_message - d->msg_len)
                return uvm_error_set(err, EMSGSIZE, "WebSocket message exceeds %zu bytes",
                                     d->max_message);
        if (d->opcode != WS_OP_CONTINUATION) {
                d->msg_opcode = d->opcode;
                d->msg_len = 0;
                d->utf8 = (struct utf8){0, 0x80, 0xbf};
        }
        return 0;
}

/* Room for n more message bytes and the NUL. Grows with what arrives, so a
 * header merely announcing a large frame costs nothing. */
static int msg_reserve(struct ws_decoder *d, size_t n, struct uvm_error **err)
{
        size_t need = d->msg_len + n + 1, cap = d->msg_cap;
        uint8_t *p;

        if (need <= cap)
                return 0;
        cap = cap < 4096 ? 4096 : cap * 2;
        if (cap < need)
                cap = need;
        if (cap > d->max_message + 1)
                cap = d->max_message + 1;
        p = realloc(d->msg, cap);
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        d->msg = p;
        d->msg_cap = cap;
        return 0;
}

static int take_payload(struct ws_decoder *d, const uint8_t *in, size_t n, struct uvm_error **err)
{
        uint8_t *dst;
        int r;

        if (is_control(d->opcode)) {
                dst = d->ctl + d->frame_done;
        } else {
                r = msg_reserve(d, n, err);
                if (r < 0)
                        return r;
                dst = d->msg + d->msg_len;
        }
        for (size_t i = 0; i < n; i++)
                dst[i] = in[i] ^ d->mask[(d->frame_done + i) & 3];
        d->frame_done += n;
        if (is_control(d->opcode))
                return 0;
        d->msg_len += n;
        if (d->msg_opcode == WS_OP_TEXT && !utf8_feed(&d->utf8, dst, n))
                return uvm_error_set(err, EILSEQ, "WebSocket text message is not UTF-8");
        return 0;
}

static int control_end(struct ws_decoder *d, struct ws_message *ret, struct uvm_error **err)
{
        size_t len = (size_t) d->frame_len;
        uint16_t code = WS_CLOSE_NO_STATUS;
        uint8_t *data;

        if (d->opcode == WS_OP_CLOSE && len == 1)
                return uvm_error_set(err, EPROTO, "WebSocket close frame of one byte");
        if (d->opcode == WS_OP_CLOSE && len >= 2) {
                code = (uint16_t) (d->ctl[0] << 8 | d->ctl[1]);
                if (!close_code_is_valid(code))
                        return uvm_error_set(err, EPROTO, "WebSocket close code %u is not valid",
                                             code);
                if (!utf8_valid(d->ctl + 2, len - 2))
                        return uvm_error_set(err, EILSEQ, "WebSocket close reason is not UTF-8");
        }
        data = malloc(len + 1);
        if (!data)
                return uvm_error_set(err, ENOMEM, "out of memory");
        memcpy(data, d->ctl, len);
        data[len] = 0;
        *ret = (struct ws_message){d->opcode, data, len, 0, NULL};
        if (d->opcode == WS_OP_CLOSE) {
                ret->close_code = code;
                ret->close_reason = (const char *) data + (len >= 2 ? 2 : len);
                d->closed = true;
        }
        return 1;
}

/* A frame is complete: returns 1 and a message, or 0 mid-message. */
static int frame_end(struct ws_decoder *d, struct ws_message *ret, struct uvm_error **err)
{
        int r;

        d->state = DEC_HEAD;
        d->head_len = 0;
        d->head_need = 2;
        if (is_control(d->opcode))
                return control_end(d, ret, err);
        if (!d->fin)
                return 0;
        if (d->msg_opcode == WS_OP_TEXT && d->utf8.need)
                return uvm_error_set(err, EILSEQ,
                                     "WebSocket text message ends inside a UTF-8 character");
        r = msg_reserve(d, 0, err);
        if (r < 0)
                return r;
        d->msg[d->msg_len] = 0;
        *ret = (struct ws_message){d->msg_opcode, TAKE_PTR(d->msg), d->msg_len, 0, NULL};
        d->msg_len = d->msg_cap = 0;
        d->msg_opcode = 0;
        return 1;
}

static int decoder_fail(struct ws_decoder *d, int r, struct uvm_error **err)
{
        d->error = r;
        if (err && *err && (*err)->msg)
                d->error_msg = strdup((*err)->msg);
        return r;
}

int ws_decoder_feed(struct ws_decoder *d, const void *buf, size_t len, size_t *ret_used,
                    struct ws_message *ret_msg, struct uvm_error **err)
{
        const uint8_t *in = buf;
        size_t i = 0, n;
        int r = 0;

        if (d->error)
                return uvm_error_set(err, -d->error, "WebSocket decoder failed earlier: %s",
                                     d->error_msg ? d->error_msg : "protocol error");
        for (;;) {
                if (d->state != DEC_PAYLOAD) {
                        if (i == len)
                                break;
                        n = d->head_need - d->head_len;
                        n = n < len - i ? n : len - i;
                        memcpy(d->head + d->head_len, in + i, n);
                        d->head_len += n;
                        i += n;
                        if (d->head_len < d->head_need)
                                break;
                        r = d->state == DEC_HEAD ? head_first(d, err) : head_rest(d, err);
                        if (r < 0)
                                return decoder_fail(d, r, err);
                        d->state = d->state == DEC_HEAD ? DEC_EXT : DEC_PAYLOAD;
                        continue;
                }
                n = len - i;
                if (d->frame_len - d->frame_done < n)
                        n = (size_t) (d->frame_len - d->frame_done);
                if (n > 0) {
                        r = take_payload(d, in + i, n, err);
                        if (r < 0)
                                return decoder_fail(d, r, err);
                        i += n;
                }
                if (d->frame_done < d->frame_len)
                        break;
                r = frame_end(d, ret_msg, err);
                if (r < 0)
                        return decoder_fail(d, r, err);
                if (r == 1) {
                        *ret_used = i;
                        return 1;
                }
        }
        *ret_used = len;
        return 0;
}

/* Encoder. */

size_t ws_frame_header(uint8_t hdr[WS_MAX_HEADER], enum ws_opcode op, bool fin, uint64_t len)
{
        hdr[0] = (uint8_t) ((fin ? 0x80 : 0) | op);
        if (len < 126) {
                hdr[1] = (uint8_t) len;
                return 2;
        }
        if (len <= 0xffff) {
                hdr[1] = 126;
                hdr[2] = (uint8_t) (len >> 8);
                hdr[3] = (uint8_t) len;
                return 4;
        }
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
                hdr[2 + i] = (uint8_t) (len >> (56 - 8 * i));
        return 10;
}

/* A fresh buffer holding a frame header for len payload bytes; *ret_payload
 * points where the payload goes. */
static int frame_alloc(enum ws_opcode op, size_t len, uint8_t **ret_buf, uint8_t **ret_payload,
                       size_t *ret_len, struct uvm_error **err)
{
        uint8_t hdr[WS_MAX_HEADER], *buf;
        size_t h;

        if (len > SIZE_MAX / 2)
                return uvm_error_set(err, EMSGSIZE, "WebSocket frame of %zu bytes", len);
        h = ws_frame_header(hdr, op, true, len);
        buf = malloc(h + len + 1);
        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        memcpy(buf, hdr, h);
        *ret_buf = buf;
        *ret_payload = buf + h;
        *ret_len = h + len;
        return 0;
}

int ws_encode_frame(enum ws_opcode op, const void *data, size_t len, uint8_t **ret_buf,
                    size_t *ret_len, struct uvm_error **err)
{
        uint8_t *payload;
        int r;

        if (op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_PING && op != WS_OP_PONG)
                return uvm_error_set(err, EINVAL,
                                     "WebSocket opcode %d: not a whole data or ping/pong frame",
                                     op);
        if (is_control(op) && len > WS_MAX_CONTROL)
                return uvm_error_set(err, EINVAL, "WebSocket control frame over %u bytes",
                                     WS_MAX_CONTROL);
        if (op == WS_OP_TEXT && !utf8_valid(data, len))
                return uvm_error_set(err, EINVAL, "WebSocket text frame is not UTF-8");
        r = frame_alloc(op, len, ret_buf, &payload, ret_len, err);
        if (r < 0)
                return r;
        if (len > 0)
                memcpy(payload, data, len);
        return 0;
}

int ws_encode_close(uint16_t code, const char *reason, uint8_t **ret_buf, size_t *ret_len,
                    struct uvm_error **err)
{
        size_t n = reason ? strlen(reason) : 0;
        uint8_t *payload;
        int r;

        if (code == 0 && n > 0)
                return uvm_error_set(err, EINVAL, "WebSocket close reason without a code");
        if (code != 0 && !close_code_is_valid(code))
                return uvm_error_set(err, EINVAL, "WebSocket close code %u may not be sent", code);
        if (n > WS_MAX_CONTROL - 2 || !utf8_valid((const uint8_t *) reason, n))
                return uvm_error_set(err, EINVAL,
                                     "WebSocket close reason over %u bytes or not UTF-8",
                                     WS_MAX_CONTROL - 2);
        r = frame_alloc(WS_OP_CLOSE, code ? 2 + n : 0, ret_buf, &payload, ret_len, err);
        if (r < 0)
                return r;
        if (code) {
                payload[0] = (uint8_t) (code >> 8);
                payload[1] = (uint8_t) code;
                memcpy(payload + 2, reason ? reason : "", n);
        }
        return 0;
}

/* Kubernetes channels. */

/* The last channel a base64 text message can name: '0' + channel must stay
 * ASCII. Kubernetes goes past '9' the same way ('0' + 10 is ':'). */
#define WS_BASE64_MAX_CHANNEL (0x7f - '0')

int ws_channel_encode(uint8_t channel, const void *data, size_t len, bool base64,
                      uint8_t **ret_frame, size_t *ret_len, struct uvm_error **err)
{
        uint8_t *payload;
        int r;

        if (base64 && channel > WS_BASE64_MAX_CHANNEL)
                return uvm_error_set(err, EINVAL, "channel %u has no base64 channel character",
                                     channel);
        if (len > SIZE_MAX / 4)
                return uvm_error_set(err, EMSGSIZE, "channel message of %zu bytes", len);
        r = frame_alloc(base64 ? WS_OP_TEXT : WS_OP_BINARY,
                        1 + (base64 ? b64_encoded_len(len) : len), ret_frame, &payload, ret_len,
                        err);
        if (r < 0)
                return r;
        payload[0] = (uint8_t) (base64 ? '0' + channel : channel);
        if (base64)
                b64_encode(data, len, (char *) payload + 1);
        else if (len > 0)
                memcpy(payload + 1, data, len);
        return 0;
}

int ws_channel_decode(struct ws_message *msg, bool base64, uint8_t *ret_channel,
                      const uint8_t **ret_data, size_t *ret_len, struct uvm_error **err)
{
        ssize_t n;

        if (msg->opcode != (base64 ? WS_OP_TEXT : WS_OP_BINARY))
                return uvm_error_set(err, EBADMSG, "channel message is not a %s message",
                                     base64 ? "text" : "binary");
        if (msg->len == 0)
                return 0;
        if (!base64) {
                *ret_channel = msg->data[0];
                *ret_data = msg->data + 1;
                *ret_len = msg->len - 1;
                return 1;
        }
        if (msg->data[0] < '0' || msg->data[0] > 0x7f)
                return uvm_error_set(err, EBADMSG, "base64 channel message: bad channel character");
        n = b64_decode((const char *) msg->data + 1, msg->len - 1, msg->data + 1);
        if (n < 0)
                return uvm_error_set(err, EBADMSG, "base64 channel message: bad base64 data");
        msg->len = 1 + (size_t) n;
        msg->data[msg->len] = 0;
        *ret_channel = (uint8_t) (msg->data[0] - '0');
        *ret_data = msg->data + 1;
        *ret_len = (size_t) n;
        return 1;
}

int ws_channel_close_target(const uint8_t *data, size_t len, uint8_t *ret_channel,
                            struct uvm_error **err)
{
        if (len != 1)
                return uvm_error_set(err, EBADMSG, "channel close message carries %zu bytes, not 1",
                                     len);
        *ret_channel = data[0];
        return 0;
}

int ws_portforward_channel(uint8_t channel, size_t n_ports, size_t *ret_index, bool *ret_is_error,
                           struct uvm_error **err)
{
        if (channel / 2u >= n_ports || n_ports > WS_PORTFORWARD_MAX_PORTS)
                return uvm_error_set(err, EBADMSG, "channel %u names none of %zu ports", channel,
                                     n_ports);
        *ret_index = channel / 2u;
        *ret_is_error = channel & 1;
        return 0;
}

void ws_portforward_port_prefix(uint16_t port, uint8_t out[2])
{
        out[0] = (uint8_t) port;
        out[1] = (uint8_t) (port >> 8);
}

int ws_portforward_port_parse(const uint8_t *data, size_t len, uint16_t *ret_port,
                              struct uvm_error **err)
{
        if (len < 2)
                return uvm_error_set(err, EBADMSG, "port-forward channel: no port prefix");
        *ret_port = (uint16_t) (data[0] | data[1] << 8);
        return 0;
}
