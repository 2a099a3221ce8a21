/* SPDY/3.1 session: input framing (spdy_feed) and frame decoding (spdy_next).
 * Every length field is checked against the frame length before use. */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/error.h"
#include "stream/spdy-internal.h"

#define STREAM_ID_MASK 0x7fffffffu /* the top bit of id fields is reserved */

static size_t pick(size_t v, size_t def, size_t max)
{
        if (v == 0)
                return def;
        return v < max ? v : max;
}

struct spdy_session *spdy_session_new(const struct spdy_limits *limits)
{
        struct spdy_limits l = limits ? *limits : (struct spdy_limits){0};
        struct spdy_session *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->lim.max_data = pick(l.max_data, SPDY_DEFAULT_MAX_DATA, SPDY_MAX_LENGTH);
        s->lim.max_control = pick(l.max_control, SPDY_DEFAULT_MAX_CONTROL, SPDY_MAX_LENGTH);
        /* At least the pair count; the arrays are sized from these. */
        s->lim.max_header_bytes = pick(l.max_header_bytes, SPDY_DEFAULT_MAX_HEADER_BYTES, 1u << 24);
        if (s->lim.max_header_bytes < 4)
                s->lim.max_header_bytes = 4;
        s->lim.max_headers = pick(l.max_headers, SPDY_DEFAULT_MAX_HEADERS, 1u << 16);
        return s;
}

struct spdy_session *spdy_session_free(struct spdy_session *s)
{
        if (!s)
                return NULL;
        if (s->zin_ready)
                inflateEnd(&s->zin);
        if (s->zout_ready)
                deflateEnd(&s->zout);
        free(s->payload);
        free(s->inflated);
        free(s->strings);
        free(s->headers);
        free(s->sorted);
        free(s->settings);
        free(s);
        return NULL;
}

const struct spdy_fault *spdy_session_fault(const struct spdy_session *s)
{
        return &s->fault;
}

uint32_t spdy_session_last_stream(const struct spdy_session *s)
{
        return s->last_stream_id;
}

size_t spdy_session_partial(const struct spdy_session *s)
{
        return s->ready ? 0 : s->head_have + s->payload_have;
}

const char *spdy_type_name(unsigned type)
{
        static const char *const names[] = {
                [SPDY_DATA] = "DATA",
                [SPDY_SYN_STREAM] = "SYN_STREAM",
                [SPDY_SYN_REPLY] = "SYN_REPLY",
                [SPDY_RST_STREAM] = "RST_STREAM",
                [SPDY_SETTINGS] = "SETTINGS",
                [SPDY_PING] = "PING",
                [SPDY_GOAWAY] = "GOAWAY",
                [SPDY_HEADERS] = "HEADERS",
                [SPDY_WINDOW_UPDATE] = "WINDOW_UPDATE",
        };

        return type < ARRAY_SIZE(names) && names[type] ? names[type] : "UNKNOWN";
}

const struct spdy_header *spdy_header_find(const struct spdy_header *headers, size_t n,
                                           const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(headers[i].name, name) == 0)
                        return &headers[i];
        return NULL;
}

/* Record a session error: sticky, answered with GOAWAY. The message is already
 * in err (or code is -ENOMEM). */
static int session_error(struct spdy_session *s, int r)
{
        s->error = r;
        s->fault = (struct spdy_fault){
                .session = true,
                .status = r == -ENOMEM ? SPDY_GOAWAY_INTERNAL_ERROR : SPDY_GOAWAY_PROTOCOL_ERROR,
        };
        return r;
}

static int protocol_error(struct spdy_session *s, struct uvm_error **err, int code,
                          const char *what)
{
        return session_error(s, uvm_error_set(err, code, "spdy: %s", what));
}

static int stream_error(struct spdy_session *s, uint32_t stream_id, int r)
{
        s->fault = (struct spdy_fault){
                .stream_id = stream_id,
                .status = SPDY_PROTOCOL_ERROR,
        };
        return r;
}

static bool is_control(const struct spdy_session *s)
{
        return s->head[0] & 0x80;
}

/* The frame header is complete: refuse it before buffering its payload. */
static int check_head(struct spdy_session *s, struct uvm_error **err)
{
        size_t len = spdy_get32(s->head + 4) & SPDY_MAX_LENGTH;
        size_t max = is_control(s) ? s->lim.max_control : s->lim.max_data;

        if (is_control(s)) {
                unsigned version = (spdy_get32(s->head) >> 16) & 0x7fff;

                if (version != SPDY_VERSION)
                        return session_error(
                                s, uvm_error_set(err, EPROTO, "spdy: version %u, not 3", version));
        }
        if (len > max)
                return session_error(
                        s, uvm_error_set(err, EMSGSIZE, "spdy: %s frame of %zu bytes, over %zu",
                                         is_control(s) ? "control" : "data", len, max));
        if (len > s->payload_cap) {
                uint8_t *p = realloc(s->payload, len);

                if (!p)
                        return protocol_error(s, err, ENOMEM, "out of memory");
                s->payload = p;
                s->payload_cap = len;
        }
        s->payload_len = len;
        s->payload_have = 0;
        s->ready = len == 0;
        return 0;
}

int spdy_feed(struct spdy_session *s, const void *buf, size_t len, size_t *ret_used,
              struct uvm_error **err)
{
        const uint8_t *p = buf;
        size_t used = 0, n;
        int r;

        if (s->error)
                return uvm_error_set(err, -s->error, "spdy: session failed earlier");
        if (len == 0) {
                *ret_used = 0;
                return 0;
        }
        if (s->head_have < SPDY_HEADER_SIZE && !s->ready) {
                n = SPDY_HEADER_SIZE - s->head_have;
                n = n < len ? n : len;
                memcpy(s->head + s->head_have, p, n);
                s->head_have += n;
                used += n;
                if (s->head_have == SPDY_HEADER_SIZE) {
                        r = check_head(s, err);
                        if (r < 0)
                                return r;
                }
        }
        if (s->head_have == SPDY_HEADER_SIZE && !s->ready) {
                n = s->payload_len - s->payload_have;
                n = n < len - used ? n : len - used;
                if (n)
                        memcpy(s->payload + s->payload_have, p + used, n);
                s->payload_have += n;
                used += n;
                s->ready = s->payload_have == s->payload_len;
        }
        *ret_used = used;
        return 0;
}

/* Stream-carrying frames: a 31-bit id that must not be 0. */
static int get_stream_id(struct spdy_session *s, const uint8_t *p, uint32_t *ret,
                         struct uvm_error **err)
{
        uint32_t id = spdy_get32(p) & STREAM_ID_MASK;

        if (id == 0)
                return protocol_error(s, err, EPROTO, "frame for stream 0");
        *ret = id;
        return 0;
}

/* Inflate and parse a header block; malformed pairs are the stream's error. */
static int decode_block(struct spdy_session *s, const uint8_t *p, size_t len, struct spdy_frame *f,
                        struct uvm_error **err)
{
        size_t plain, n;
        int r;

        r = spdy_block_inflate(s, p, len, &plain, err);
        if (r < 0)
                return session_error(s, r);
        r = spdy_block_parse(s, plain, &n, err);
        if (r < 0)
                return stream_error(s, f->stream_id, r);
        f->headers = s->headers;
        f->n_headers = n;
        return 0;
}

static int decode_syn_stream(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        const uint8_t *p = s->payload;
        bool reused;
        int r;

        if (s->payload_len < 10)
                return protocol_error(s, err, EPROTO, "SYN_STREAM shorter than 10 bytes");
        r = get_stream_id(s, p, &f->stream_id, err);
        if (r < 0)
                return r;
        if (f->stream_id % 2 == 0)
                return session_error(s,
                                     uvm_error_set(err, EPROTO, "spdy: SYN_STREAM with even id %u",
                                                   f->stream_id));
        if (f->stream_id < s->last_stream_id)
                return session_error(s,
                                     uvm_error_set(err, EPROTO, "spdy: SYN_STREAM id %u below %u",
                                                   f->stream_id, s->last_stream_id));
        reused = f->stream_id == s->last_stream_id;
        s->last_stream_id = f->stream_id;
        f->assoc_stream_id = spdy_get32(p + 4) & STREAM_ID_MASK;
        f->priority = p[8] >> 5;
        /* p[9] was CREDENTIAL's slot, unused in 3.1. The block is inflated
         * even for a reused id, to keep the shared zlib stream in step. */
        r = decode_block(s, p + 10, s->payload_len - 10, f, err);
        if (r < 0)
                return r;
        if (reused)
                return stream_error(
                        s, f->stream_id,
                        uvm_error_set(err, EBADMSG, "spdy: SYN_STREAM reuses id %u", f->stream_id));
        return 0;
}

/* SYN_REPLY and HEADERS: a stream id, then the block. */
static int decode_reply(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        int r;

        if (s->payload_len < 4)
                return protocol_error(s, err, EPROTO, "header frame shorter than 4 bytes");
        r = get_stream_id(s, s->payload, &f->stream_id, err);
        if (r < 0)
                return r;
        return decode_block(s, s->payload + 4, s->payload_len - 4, f, err);
}

static int decode_rst_stream(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        int r;

        if (s->payload_len != 8)
                return protocol_error(s, err, EPROTO, "RST_STREAM length is not 8");
        r = get_stream_id(s, s->payload, &f->stream_id, err);
        if (r < 0)
                return r;
        f->status = spdy_get32(s->payload + 4);
        if (f->status == 0)
                return protocol_error(s, err, EPROTO, "RST_STREAM with status 0");
        return 0;
}

static int decode_settings(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        const uint8_t *p = s->payload;
        size_t n;

        if (s->payload_len < 4)
                return protocol_error(s, err, EPROTO, "SETTINGS shorter than 4 bytes");
        n = spdy_get32(p);
        if ((uint64_t) n * 8 != s->payload_len - 4)
                return protocol_error(s, err, EPROTO, "SETTINGS count does not match its length");
        if (n > s->settings_cap) {
                struct spdy_setting *v = realloc(s->settings, n * sizeof(*v));

                if (!v)
                        return protocol_error(s, err, ENOMEM, "out of memory");
                s->settings = v;
                s->settings_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
                const uint8_t *e = p + 4 + 8 * i;
                struct spdy_setting *v = &s->settings[i];

                v->flags = e[0];
                v->id = spdy_get32(e) & 0xffffff;
                v->value = spdy_get32(e + 4);
                if (v->flags & ~(SPDY_SETTINGS_FLAG_PERSIST_VALUE | SPDY_SETTINGS_FLAG_PERSISTED))
                        return protocol_error(s, err, EPROTO,
                                              "SETTINGS entry with undefined flags");
                if (v->id == SPDY_SETTINGS_INITIAL_WINDOW_SIZE && v->value > SPDY_MAX_WINDOW)
                        return protocol_error(s, err, EPROTO, "initial window over 2^31-1");
        }
        f->settings = n ? s->settings : NULL;
        f->n_settings = n;
        return 0;
}

static int decode_window_update(struct spdy_session *s, struct spdy_frame *f,
                                struct uvm_error **err)
{
        if (s->payload_len != 8)
                return protocol_error(s, err, EPROTO, "WINDOW_UPDATE length is not 8");
        f->stream_id = spdy_get32(s->payload) & STREAM_ID_MASK;
        f->delta = spdy_get32(s->payload + 4) & STREAM_ID_MASK;
        if (f->delta == 0 && f->stream_id == 0)
                return protocol_error(s, err, EPROTO, "session WINDOW_UPDATE with delta 0");
        if (f->delta == 0)
                return stream_error(s, f->stream_id,
                                    uvm_error_set(err, EBADMSG,
                                                  "spdy: WINDOW_UPDATE with delta 0 on stream %u",
                                                  f->stream_id));
        return 0;
}

static int decode_fixed(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        if (f->type == SPDY_PING) {
                if (s->payload_len != 4)
                        return protocol_error(s, err, EPROTO, "PING length is not 4");
                f->ping_id = spdy_get32(s->payload);
                return 0;
        }
        /* GOAWAY */
        if (s->payload_len != 8)
                return protocol_error(s, err, EPROTO, "GOAWAY length is not 8");
        f->last_good_stream_id = spdy_get32(s->payload) & STREAM_ID_MASK;
        f->status = spdy_get32(s->payload + 4);
        return 0;
}

/* The flags each type defines; anything else is refused. */
static uint8_t allowed_flags(unsigned type)
{
        switch (type) {
        case SPDY_DATA:
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                return SPDY_FLAG_FIN;
        case SPDY_SYN_STREAM:
                return SPDY_FLAG_FIN | SPDY_FLAG_UNIDIRECTIONAL;
        case SPDY_SETTINGS:
                return SPDY_FLAG_CLEAR_SETTINGS;
        default:
                return 0;
        }
}

static int decode_control(struct spdy_session *s, struct spdy_frame *f, struct uvm_error **err)
{
        switch (f->type) {
        case SPDY_SYN_STREAM:
                return decode_syn_stream(s, f, err);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                return decode_reply(s, f, err);
        case SPDY_RST_STREAM:
                return decode_rst_stream(s, f, err);
        case SPDY_SETTINGS:
                return decode_settings(s, f, err);
        case SPDY_PING:
        case SPDY_GOAWAY:
                return decode_fixed(s, f, err);
        case SPDY_WINDOW_UPDATE:
                return decode_window_update(s, f, err);
        default:
                return 0;
        }
}

static bool known_control(unsigned type)
{
        return type >= SPDY_SYN_STREAM && type <= SPDY_WINDOW_UPDATE && type != 5;
}

int spdy_next(struct spdy_session *s, struct spdy_frame *ret_frame, struct uvm_error **err)
{
        struct spdy_frame f = {0};
        int r;

        if (s->error)
                return uvm_error_set(err, -s->error, "spdy: session failed earlier");
        if (!s->ready)
                return 0;
        /* The frame is taken whatever happens below; its bytes stay put until
         * the next spdy_feed. */
        s->ready = false;
        s->head_have = 0;
        s->payload_have = 0;
        f.flags = s->head[4];
        if (is_control(s)) {
                f.type = spdy_get32(s->head) & 0xffff;
                if (!known_control(f.type))
                        return 0;
        } else {
                f.type = SPDY_DATA;
                r = get_stream_id(s, s->head, &f.stream_id, err);
                if (r < 0)
                        return r;
                f.data = s->payload_len ? s->payload : NULL;
                f.len = s->payload_len;
        }
        if (f.flags & ~allowed_flags(f.type))
                return session_error(s, uvm_error_set(err, EPROTO,
                                                      "spdy: %s with undefined flags 0x%02x",
                                                      spdy_type_name(f.type), f.flags));
        if (f.type != SPDY_DATA) {
                r = decode_control(s, &f, err);
                if (r < 0)
                        return r;
        }
        *ret_frame = f;
        return 1;
}
