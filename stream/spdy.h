#pragma once

/*
 * SPDY/3.1 framing for the streaming server (CRI Exec/Attach/PortForward). The
 * kubelet and the API server speak it through Kubernetes' httpstream/spdy
 * (moby/spdystream) after an HTTP/1.1 "Upgrade: SPDY/3.1". Server side: the
 * peer opens streams with odd ids. Pure code: no sockets, no threads; one
 * session per connection, used by one thread at a time.
 *
 * Frames (big-endian):
 *     control  1 | version(15) = 3 | type(16) | flags(8) | length(24) | payload
 *     data     0 | stream id(31)            | flags(8) | length(24) | payload
 *
 * Decoding is a pull API. spdy_feed() takes bytes and stops as soon as one
 * frame is complete, so a session buffers at most one frame; spdy_next()
 * decodes that frame. A read loop:
 *
 *     while (len > 0) {
 *             if (spdy_feed(s, buf, len, &used, &err) < 0)
 *                     goto goaway;
 *             buf += used, len -= used;
 *             r = spdy_next(s, &f, &err);
 *             if (r == -EBADMSG)
 *                     send RST_STREAM(fault->stream_id, fault->status), go on;
 *             else if (r < 0)
 *                     goto goaway;
 *             else if (r == 1)
 *                     handle(&f);
 *     }
 *     goaway: send GOAWAY(spdy_session_last_stream(s), fault->status), close.
 *
 * Errors. A session error means the byte stream or the shared header
 * compression state can no longer be trusted: spdy_feed/spdy_next return
 * -EPROTO (protocol violation), -EMSGSIZE (frame over a bound) or -ENOMEM, and
 * keep returning it. A stream error (spdy_next returns -EBADMSG) drops the one
 * frame; the session goes on. spdy_session_fault() says what to send either way.
 *
 * Stream errors (RST_STREAM PROTOCOL_ERROR): a SYN_STREAM reusing the last
 * stream id; a header block that inflated but is malformed (empty, uppercase or
 * duplicate name, a value starting or ending with NUL or holding two NULs in a
 * row, more pairs than the bound, a length past the block, trailing bytes); a
 * WINDOW_UPDATE with delta 0 on a stream.
 * Session errors (GOAWAY PROTOCOL_ERROR, INTERNAL_ERROR for ENOMEM): every other
 * violation: a version other than 3, undefined flags, a length that does not
 * fit the frame type, stream id 0 where a stream is needed, a SYN_STREAM id that
 * is even or below the last one (SPDY/3 section 2.3.2 makes a decreasing id a
 * session error; the id may name a live stream, so a RST_STREAM would be
 * ambiguous), a header block that does not inflate or inflates past the bound,
 * RST_STREAM status 0, SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1, WINDOW_UPDATE
 * delta 0 on stream 0, a frame over its length bound.
 * Unknown control types (NOOP, CREDENTIAL, ...) are skipped, as the spec says.
 *
 * Header blocks go through one zlib stream per direction with the SPDY/3
 * dictionary, each block sync-flushed. Decoded names and values are
 * NUL-terminated copies; a value holding several values keeps them joined by
 * NUL as on the wire (value_len counts them all; spdy_header_find() returns the
 * pair). A frame's pointers stay valid until the next spdy_feed, spdy_next or
 * spdy_session_free.
 *
 * Encoders append one frame to a struct spdy_buf (so several frames can go out
 * in one write); on failure the buffer is left as it was. The header-block
 * encoders check the pairs as our decoder would.
 *
 * Flow control (SPDY/3.1) is bookkeeping the session layer owns: one struct
 * spdy_window for the session (stream 0) and one per stream. Note that
 * spdystream implements none of it: it never sends WINDOW_UPDATE and ignores
 * ours and SETTINGS, so a session layer enforcing windows against the kubelet
 * would stall output after 64 KiB and reject stdin past 64 KiB.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SPDY_VERSION 3
#define SPDY_HEADER_SIZE 8u
#define SPDY_MAX_LENGTH 0xffffffu /* the 24-bit length field */
#define SPDY_MAX_STREAM_ID 0x7fffffffu
#define SPDY_MAX_WINDOW 0x7fffffff /* 2^31-1: a window above it is FLOW_CONTROL_ERROR */
#define SPDY_INITIAL_WINDOW 65536u /* per stream and per session */

enum spdy_type {
        SPDY_DATA = 0, /* not on the wire: data frames carry no type */
        SPDY_SYN_STREAM = 1,
        SPDY_SYN_REPLY = 2,
        SPDY_RST_STREAM = 3,
        SPDY_SETTINGS = 4,
        SPDY_PING = 6,
        SPDY_GOAWAY = 7,
        SPDY_HEADERS = 8,
        SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN 0x01u            /* DATA, SYN_STREAM, SYN_REPLY, HEADERS */
#define SPDY_FLAG_UNIDIRECTIONAL 0x02u /* SYN_STREAM */
#define SPDY_FLAG_CLEAR_SETTINGS 0x01u /* SETTINGS */

/* RST_STREAM status codes (10, INVALID_CREDENTIALS, left SPDY/3.1). */
enum spdy_status {
        SPDY_PROTOCOL_ERROR = 1,
        SPDY_INVALID_STREAM = 2,
        SPDY_REFUSED_STREAM = 3,
        SPDY_UNSUPPORTED_VERSION = 4,
        SPDY_CANCEL = 5,
        SPDY_INTERNAL_ERROR = 6,
        SPDY_FLOW_CONTROL_ERROR = 7,
        SPDY_STREAM_IN_USE = 8,
        SPDY_STREAM_ALREADY_CLOSED = 9,
        SPDY_FRAME_TOO_LARGE = 11,
};

/* GOAWAY status codes. */
enum spdy_goaway_status {
        SPDY_GOAWAY_OK = 0,
        SPDY_GOAWAY_PROTOCOL_ERROR = 1,
        SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

/* SETTINGS ids and per-entry flags. */
enum spdy_setting_id {
        SPDY_SETTINGS_UPLOAD_BANDWIDTH = 1,
        SPDY_SETTINGS_DOWNLOAD_BANDWIDTH = 2,
        SPDY_SETTINGS_ROUND_TRIP_TIME = 3,
        SPDY_SETTINGS_MAX_CONCURRENT_STREAMS = 4,
        SPDY_SETTINGS_CURRENT_CWND = 5,
        SPDY_SETTINGS_DOWNLOAD_RETRANS_RATE = 6,
        SPDY_SETTINGS_INITIAL_WINDOW_SIZE = 7,
        SPDY_SETTINGS_CLIENT_CERTIFICATE_VECTOR_SIZE = 8,
};
#define SPDY_SETTINGS_FLAG_PERSIST_VALUE 0x01u
#define SPDY_SETTINGS_FLAG_PERSISTED 0x02u

struct spdy_header {
        const char *name;  /* lowercase, non-empty */
        const char *value; /* value_len bytes; decoded values are also NUL-terminated */
        size_t value_len;  /* several values: joined by single NULs */
};

struct spdy_setting {
        uint8_t flags;
        uint32_t id; /* 24 bits */
        uint32_t value;
};

/* A decoded frame. Fields not listed for a type are zero. */
struct spdy_frame {
        enum spdy_type type;
        uint8_t flags;
        uint32_t stream_id;           /* DATA, SYN_*, RST_STREAM, HEADERS, WINDOW_UPDATE */
        uint32_t assoc_stream_id;     /* SYN_STREAM */
        uint8_t priority;             /* SYN_STREAM: 0 (highest) to 7 */
        uint32_t status;              /* RST_STREAM, GOAWAY */
        uint32_t last_good_stream_id; /* GOAWAY */
        uint32_t ping_id;             /* PING */
        uint32_t delta;               /* WINDOW_UPDATE: 1 to 2^31-1 */
        const uint8_t *data;          /* DATA payload (NULL when len is 0) */
        size_t len;
        const struct spdy_header *headers; /* SYN_STREAM, SYN_REPLY, HEADERS */
        size_t n_headers;
        const struct spdy_setting *settings; /* SETTINGS */
        size_t n_settings;
};

/* Bounds on what a peer may make us hold. A zero field takes the default. */
struct spdy_limits {
        size_t max_data;         /* DATA payload, default 1 MiB (at most SPDY_MAX_LENGTH) */
        size_t max_control;      /* control frame payload, default 64 KiB */
        size_t max_header_bytes; /* inflated header block, default 64 KiB */
        size_t max_headers;      /* name/value pairs per block, default 128 */
};

/* What to tell the peer after spdy_feed or spdy_next failed. */
struct spdy_fault {
        bool session;       /* true: GOAWAY and close; false: RST_STREAM, go on */
        uint32_t stream_id; /* the stream to reset (stream errors) */
        uint32_t status;    /* RST_STREAM status, or GOAWAY status for session errors */
};

struct spdy_session;

/* limits may be NULL. Returns NULL only when out of memory. */
struct spdy_session *spdy_session_new(const struct spdy_limits *limits);
struct spdy_session *spdy_session_free(struct spdy_session *s);
static inline void spdy_session_freep(struct spdy_session **s)
{
        spdy_session_free(*s);
}

/* Take bytes from buf up to the end of one frame; *ret_used says how many (0
 * while a complete frame waits for spdy_next). Returns 0 or a session error. */
int spdy_feed(struct spdy_session *s, const void *buf, size_t len, size_t *ret_used,
              struct uvm_error **err);

/* Returns 1 and the buffered frame, 0 if no frame is complete (or an unknown
 * control frame was skipped), -EBADMSG for a stream error (the frame is
 * dropped), or a session error. */
int spdy_next(struct spdy_session *s, struct spdy_frame *ret_frame, struct uvm_error **err);

/* The fault recorded by the last failure; all zero if none. */
const struct spdy_fault *spdy_session_fault(const struct spdy_session *s);

/* Highest stream id the peer opened (GOAWAY's last-good-stream-id). */
uint32_t spdy_session_last_stream(const struct spdy_session *s);

/* Bytes buffered of a frame not yet complete (non-zero at EOF: truncation). */
size_t spdy_session_partial(const struct spdy_session *s);

/* The first pair named name, or NULL. */
const struct spdy_header *spdy_header_find(const struct spdy_header *headers, size_t n,
                                           const char *name);

/* "SYN_STREAM", "DATA", ... or "UNKNOWN"; for logs. */
const char *spdy_type_name(unsigned type);

/* Output buffer of the encoders; zero-initialise, release with spdy_buf_free. */
struct spdy_buf {
        uint8_t *data;
        size_t len;
        size_t cap;
};

void spdy_buf_free(struct spdy_buf *b);
static inline void spdy_buf_freep(struct spdy_buf *b)
{
        spdy_buf_free(b);
}

/* Encoders: each appends one frame to out, returns 0, -EINVAL for arguments the
 * peer would have to reject (stream id 0 or over 2^31-1, undefined flags, bad
 * header pairs, delta 0, ...), or -ENOMEM. Header frames use (and advance) the
 * session's compression stream; after a failure inside deflate that stream
 * is broken and every later header frame fails with -ENOMEM. */
int spdy_encode_data(struct spdy_buf *out, uint32_t stream_id, uint8_t flags, const void *data,
                     size_t len, struct uvm_error **err);
int spdy_encode_syn_stream(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                           uint32_t assoc_stream_id, uint8_t priority, uint8_t flags,
                           const struct spdy_header *headers, size_t n_headers,
                           struct uvm_error **err);
int spdy_encode_syn_reply(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                          uint8_t flags, const struct spdy_header *headers, size_t n_headers,
                          struct uvm_error **err);
int spdy_encode_headers(struct spdy_session *s, struct spdy_buf *out, uint32_t stream_id,
                        uint8_t flags, const struct spdy_header *headers, size_t n_headers,
                        struct uvm_error **err);
int spdy_encode_rst_stream(struct spdy_buf *out, uint32_t stream_id, uint32_t status,
                           struct uvm_error **err);
int spdy_encode_settings(struct spdy_buf *out, uint8_t flags, const struct spdy_setting *settings,
                         size_t n_settings, struct uvm_error **err);
int spdy_encode_ping(struct spdy_buf *out, uint32_t ping_id, struct uvm_error **err);
int spdy_encode_goaway(struct spdy_buf *out, uint32_t last_good_stream_id, uint32_t status,
                       struct uvm_error **err);
int spdy_encode_window_update(struct spdy_buf *out, uint32_t stream_id, uint32_t delta,
                              struct uvm_error **err);

/*
 * Flow control windows. send: bytes we may still send (negative after the peer
 * shrank SETTINGS_INITIAL_WINDOW_SIZE); recv: bytes the peer may still send us.
 * A DATA frame costs its payload length in both its stream's window and the
 * session's. SETTINGS_INITIAL_WINDOW_SIZE changes stream windows only.
 */
struct spdy_window {
        int64_t send;
        int64_t recv;
        uint32_t recv_initial; /* the window we advertised; updates restore it */
        uint32_t consumed;     /* bytes taken by the application, not yet returned */
};

/* Initial sizes must be at most SPDY_MAX_WINDOW. */
void spdy_window_init(struct spdy_window *w, uint32_t send_initial, uint32_t recv_initial);

/* The peer's WINDOW_UPDATE: -EOVERFLOW (FLOW_CONTROL_ERROR) past 2^31-1. */
int spdy_window_update(struct spdy_window *w, uint32_t delta, struct uvm_error **err);

/* The peer changed SETTINGS_INITIAL_WINDOW_SIZE from old_initial to new_initial:
 * shift a stream's send window by the difference. -EOVERFLOW past 2^31-1. */
int spdy_window_resize(struct spdy_window *w, uint32_t old_initial, uint32_t new_initial,
                       struct uvm_error **err);

/* How many of want bytes may go out now on stream under session (0: blocked). */
size_t spdy_window_sendable(const struct spdy_window *session, const struct spdy_window *stream,
                            size_t want);

/* n DATA bytes went out on stream (n at most what spdy_window_sendable allowed). */
void spdy_window_sent(struct spdy_window *session, struct spdy_window *stream, size_t n);

/* n DATA bytes arrived: -EOVERFLOW (FLOW_CONTROL_ERROR) if over the window. */
int spdy_window_received(struct spdy_window *w, size_t n, struct uvm_error **err);

/* The application took n received bytes. Returns the delta of the WINDOW_UPDATE
 * to send now, or 0 while less than half the window is waiting to be returned
 * (one update per half window, not one per frame). */
uint32_t spdy_window_consumed(struct spdy_window *w, size_t n);
