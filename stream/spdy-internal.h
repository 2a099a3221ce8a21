#pragma once

/* Private to spdy*.c: the session, big-endian helpers, the header-block codec. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "stream/spdy.h"

#define SPDY_DEFAULT_MAX_DATA (1u << 20)
#define SPDY_DEFAULT_MAX_CONTROL (64u << 10)
#define SPDY_DEFAULT_MAX_HEADER_BYTES (64u << 10)
#define SPDY_DEFAULT_MAX_HEADERS 128u

struct spdy_session {
        struct spdy_limits lim;

        /* Input: the frame being assembled. */
        uint8_t head[SPDY_HEADER_SIZE];
        size_t head_have;
        uint8_t *payload; /* payload_cap bytes, grown to the largest frame seen */
        size_t payload_cap;
        size_t payload_len; /* from the frame header */
        size_t payload_have;
        bool ready; /* a whole frame waits for spdy_next */

        int error; /* sticky session error (negative), 0 if none */
        struct spdy_fault fault;
        uint32_t last_stream_id; /* highest SYN_STREAM id from the peer */

        /* Decoded frame storage, reused from frame to frame. */
        uint8_t *inflated;           /* max_header_bytes + 1: one byte to detect overflow */
        char *strings;               /* names and values, NUL-terminated */
        struct spdy_header *headers; /* max_headers */
        const char **sorted;         /* max_headers: duplicate-name check */
        struct spdy_setting *settings;
        size_t settings_cap;

        /* One zlib stream per direction, created on first use. */
        z_stream zin;
        bool zin_ready;
        z_stream zout;
        bool zout_ready;
        bool zout_broken; /* deflate failed midway: the peer's inflater is out of step */
};

static inline uint32_t spdy_get32(const uint8_t *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline void spdy_put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* Make room for n more bytes in b. */
int spdy_buf_reserve(struct spdy_buf *b, size_t n);

/* Inflate one compressed header block into s->inflated; *ret_len is its size.
 * Any failure is a session error (the shared stream is lost). */
int spdy_block_inflate(struct spdy_session *s, const uint8_t *in, size_t len, size_t *ret_len,
                       struct uvm_error **err);

/* Parse s->inflated[0, len) into s->headers. -EBADMSG when malformed. */
int spdy_block_parse(struct spdy_session *s, size_t len, size_t *ret_n, struct uvm_error **err);

/* Check pairs as the decoder would, then append their compressed block to out. */
int spdy_block_deflate(struct spdy_session *s, const struct spdy_header *headers, size_t n,
                       struct spdy_buf *out, struct uvm_error **err);
