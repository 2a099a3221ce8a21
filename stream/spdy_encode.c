/* SPDY/3.1 frame encoders. Arguments are checked as our decoder checks them,
 * so we never send what a strict peer must refuse. */

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "stream/spdy-internal.h"

void spdy_buf_free(struct spdy_buf *b)
{
        free(b->data);
        *b = (struct spdy_buf){0};
}

int spdy_buf_reserve(struct spdy_buf *b, size_t n)
{
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *p;

        if (n <= b->cap - b->len)
                return 0;
        if (n > SIZE_MAX / 2 - b->len)
                return -ENOMEM;
        while (cap - b->len < n)
                cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

static int valid_stream(uint32_t id, const char *what, struct uvm_error **err)
{
        if (id == 0 || id > SPDY_MAX_STREAM_ID)
                return uvm_error_set(err, EINVAL, "spdy: %s: stream id %u out of range", what, id);
        return 0;
}

static int valid_flags(uint8_t flags, uint8_t allowed, const char *what, struct uvm_error **err)
{
        if (flags & ~allowed)
                return uvm_error_set(err, EINVAL, "spdy: %s: undefined flags 0x%02x", what, flags);
        return 0;
}

/* Append a control frame header plus len payload bytes of room; returns the
 * payload start, or NULL when out of memory. */
static uint8_t *put_control(struct spdy_buf *out, enum spdy_type type, uint8_t flags, size_t len)
{
        uint8_t *p;

        if (spdy_buf_reserve(out, SPDY_HEADER_SIZE + len) < 0)
                return NULL;
        p = out->data + out->len;
        spdy_put32(p, 0x80000000u | (uint32_t) SPDY_VERSION << 16 | type);
        spdy_put32(p + 4, (uint32_t) flags << 24 | (uint32_t) len);
        out->len += SPDY_HEADER_SIZE + len;
        return p + SPDY_HEADER_SIZE;
}

static int oom(struct uvm_error **err)
{
        return uvm_error_set(err, ENOMEM, "spdy: out of memory");
}

int spdy_encode_data(struct spdy_buf *out, uint32_t stream_id, uint8_t flags, const void *data,
                     size_t len, struct uvm_error **err)
{
        uint8_t *p;
        int r;

        r = valid_stream(stream_id, "DATA", err);
        if (r < 0)
                return r;
        r = valid_flags(flags, SPDY_FLAG_FIN, "DATA", err);
        if (r < 0)
                return r;
        if (len > SPDY_MAX_LENGTH)
                return uvm_error_set(err, EINVAL, "spdy: DATA of %zu bytes, over 2^24-1", len);
        if (spdy_buf_reserve(out, SPDY_HEADER_SIZE + len) < 0)
                return oom(err);
        p = out->data + out->len;
        spdy_put32(p, stream_id);
        spdy_put32(p + 4, (uint32_t) flags << 24 | (uint32_t) len);
        if (len)
                memcpy(p + SPDY_HEADER_SIZE, data, len);
        out->len += SPDY_HEADER_SIZE + len;
        return 0;
}

/* A header frame: fixed fields (prefix_len bytes written by the caller into
 * the returned area), then the compressed block. The length is patched in
 * once the block is known. */
static int put_header_frame(struct spdy_session *s, struct spdy_buf *out, enum spdy_type type,
                            uint8_t flags, const uint8_t *prefix, size_t prefix_len,
                            const struct spdy_header *headers, size_t n, struct uvm_error **err)
{
        size_t start = out->len, len;
        uint8_t *p;
        int r;

        p = put_control(out, type, flags, prefix_len);
        if (!p)
                return oom(err);
        memcpy(p, prefix, prefix_len);
        r = spdy_block_deflate(s, headers, n, out, err);
        if (r < 0) {
                out->len = start;
                return r;
        }
        len = out->len - start - SPDY_HEADER_SIZE;
        if (len > SPDY_MAX_LENGTH) {
                /* Cannot happen with max_header_bytes at most 2^24, but the
                 * block is spent: the stream is out of step from here. */
                s->zout_broken = true;
                out->len = start;
                return uvm_error_set(err, EINVAL, "spdy: header frame over 2^24-1 bytes");
        }
        spdy_put32(out->data + start + 4, (uint32_t) flags << 24 | (uint32_t) len);
        return 0;
}

int spdy_encode_syn_stream(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                           uint32_t assoc_stream_id, uint8_t priority, uint8_t flags,
                           const struct spdy_header *headers, size_t n_headers,
                           struct uvm_error **err)
{
        uint8_t prefix[10] = {0};
        int r;

        r = valid_stream(stream_id, "SYN_STREAM", err);
        if (r < 0)
                return r;
        r = valid_flags(flags, SPDY_FLAG_FIN | SPDY_FLAG_UNIDIRECTIONAL, "SYN_STREAM", err);
        if (r < 0)
                return r;
        if (assoc_stream_id > SPDY_MAX_STREAM_ID || priority > 7)
                return uvm_error_set(err, EINVAL,
                                     "spdy: SYN_STREAM: bad associated id or priority");
        spdy_put32(prefix, stream_id);
        spdy_put32(prefix + 4, assoc_stream_id);
        prefix[8] = (uint8_t) (priority << 5);
        return put_header_frame(s, out, SPDY_SYN_STREAM, flags, prefix, sizeof(prefix), headers,
                                n_headers, err);
}

static int encode_reply(struct spdy_session *s, struct spdy_buf *out, enum spdy_type type,
                        uint32_t stream_id, uint8_t flags, const struct spdy_header *headers,
                        size_t n_headers, struct uvm_error **err)
{
        uint8_t prefix[4];
        int r;

        r = valid_stream(stream_id, spdy_type_name(type), err);
        if (r < 0)
                return r;
        r = valid_flags(flags, SPDY_FLAG_FIN, spdy_type_name(type), err);
        if (r < 0)
                return r;
        spdy_put32(prefix, stream_id);
        return put_header_frame(s, out, type, flags, prefix, sizeof(prefix), headers, n_headers,
                                err);
}

int spdy_encode_syn_reply(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                          uint8_t flags, const struct spdy_header *headers, size_t n_headers,
                          struct uvm_error **err)
{
        return encode_reply(s, out, SPDY_SYN_REPLY, stream_id, flags, headers, n_headers, err);
}

int spdy_encode_headers(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                        uint8_t flags, const struct spdy_header *headers, size_t n_headers,
                        struct uvm_error **err)
{
        return encode_reply(s, out, SPDY_HEADERS, stream_id, flags, headers, n_headers, err);
}

/* RST_STREAM, GOAWAY, WINDOW_UPDATE: two 32-bit words. */
static int put_pair(struct spdy_buf *out, enum spdy_type type, uint32_t a, uint32_t b,
                    struct uvm_error **err)
{
        uint8_t *p = put_control(out, type, 0, 8);

        if (!p)
                return oom(err);
        spdy_put32(p, a);
        spdy_put32(p + 4, b);
        return 0;
}

int spdy_encode_rst_stream(struct spdy_buf *out, uint32_t stream_id, uint32_t status,
                           struct uvm_error **err)
{
        int r = valid_stream(stream_id, "RST_STREAM", err);

        if (r < 0)
                return r;
        if (status == 0)
                return uvm_error_set(err, EINVAL, "spdy: RST_STREAM with status 0");
        return put_pair(out, SPDY_RST_STREAM, stream_id, status, err);
}

int spdy_encode_goaway(struct spdy_buf *out, uint32_t last_good_stream_id, uint32_t status,
                       struct uvm_error **err)
{
        if (last_good_stream_id > SPDY_MAX_STREAM_ID)
                return uvm_error_set(err, EINVAL, "spdy: GOAWAY: stream id %u out of range",
                                     last_good_stream_id);
        return put_pair(out, SPDY_GOAWAY, last_good_stream_id, status, err);
}

int spdy_encode_window_update(struct spdy_buf *out, uint32_t stream_id, uint32_t delta,
                              struct uvm_error **err)
{
        if (stream_id > SPDY_MAX_STREAM_ID)
                return uvm_error_set(err, EINVAL, "spdy: WINDOW_UPDATE: stream id %u out of range",
                                     stream_id);
        if (delta == 0 || delta > SPDY_MAX_WINDOW)
                return uvm_error_set(err, EINVAL, "spdy: WINDOW_UPDATE delta %u out of range",
                                     delta);
        return put_pair(out, SPDY_WINDOW_UPDATE, stream_id, delta, err);
}

int spdy_encode_ping(struct spdy_buf *out, uint32_t ping_id, struct uvm_error **err)
{
        uint8_t *p = put_control(out, SPDY_PING, 0, 4);

        if (!p)
                return oom(err);
        spdy_put32(p, ping_id);
        return 0;
}

int spdy_encode_settings(struct spdy_buf *out, uint8_t flags, const struct spdy_setting *settings,
                         size_t n_settings, struct uvm_error **err)
{
        uint8_t *p;
        int r;

        r = valid_flags(flags, SPDY_FLAG_CLEAR_SETTINGS, "SETTINGS", err);
        if (r < 0)
                return r;
        if (n_settings > (SPDY_MAX_LENGTH - 4) / 8)
                return uvm_error_set(err, EINVAL, "spdy: %zu SETTINGS entries", n_settings);
        for (size_t i = 0; i < n_settings; i++) {
                const struct spdy_setting *v = &settings[i];

                if (v->id > 0xffffff ||
                    (v->flags &
                     ~(SPDY_SETTINGS_FLAG_PERSIST_VALUE | SPDY_SETTINGS_FLAG_PERSISTED)) ||
                    (v->id == SPDY_SETTINGS_INITIAL_WINDOW_SIZE && v->value > SPDY_MAX_WINDOW))
                        return uvm_error_set(err, EINVAL, "spdy: bad SETTINGS entry %zu", i);
        }
        p = put_control(out, SPDY_SETTINGS, flags, 4 + 8 * n_settings);
        if (!p)
                return oom(err);
        spdy_put32(p, (uint32_t) n_settings);
        for (size_t i = 0; i < n_settings; i++) {
                spdy_put32(p + 4 + 8 * i, settings[i].id);
                p[4 + 8 * i] = settings[i].flags;
                spdy_put32(p + 8 + 8 * i, settings[i].value);
        }
        return 0;
}
