#pragma once

/*
 * What the two SPDY/3.1 sessions share (rc_spdy.c: exec and attach;
 * pf_spdy.c: port-forward): the upgrade with Kubernetes' protocol version
 * negotiation, the frame read loop, output framing, and the end.
 *
 * The end: GOAWAY, then the connection stays open (input read and dropped)
 * until the client closes it or SPDY_SESS_LINGER_MS passed. Closing while
 * the client still sends would make our kernel answer with a TCP reset,
 * which can destroy what the client has not read yet (the exit status).
 *
 * Flow control: none. spdystream, what the kubelet and the API server speak
 * through, never sends WINDOW_UPDATE and ignores ours and SETTINGS
 * (stream/spdy.h); the core's bounded buffers hold back both directions
 * instead. SETTINGS and WINDOW_UPDATE are accepted and ignored.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "stream/sconn.h"
#include "stream/spdy.h"

/* DATA we send, per frame: what one output event brings (sconn.c queues
 * up to 256 KiB as one event), so a client (spdystream hands each frame
 * through a channel) handles fewer, larger frames. The length field allows
 * 2^24 - 1; spdystream reads any. */
#define SPDY_SESS_MAX_FRAME (256u << 10)
#define SPDY_SESS_LINGER_MS 2000
#define SPDY_SESS_PENDING_MAX (16u << 10) /* input held for an io not started yet */

struct spdy_sess {
        struct sconn *c;
        struct spdy_session *spdy;
        struct spdy_buf out; /* one frame at a time, then to sconn_send */
        /* The session's frames: SYN_STREAM, DATA and RST_STREAM. */
        int (*frame)(void *p, const struct spdy_frame *f);
        /* Once, when the connection ends (a GOAWAY either way, EOF, a
         * session error): close every io. */
        void (*stop)(void *p);
        void *p;
        bool stopped;  /* stop() was called */
        bool stopping; /* GOAWAY sent: input is dropped until the client closes */
        bool over;     /* the core may close the connection */
};

/* Choose the stream protocol as Kubernetes' httpstream.Handshake does: the
 * first of the client's X-Stream-Protocol-Version values (repeated fields,
 * comma lists) that served holds. Then answer 101 with it; *ret_index is
 * its place in served. Without the header (Kubernetes has required it since
 * it dropped 1.0 clients): 400; no common version: 403 naming both lists.
 * Either way -EPROTO, and nothing runs. */
int spdy_sess_upgrade(struct sconn *c, const char *const *served, size_t n_served,
                      size_t *ret_index, struct uvm_error **err);
/* Answer the upgrade request with status and message instead; -EPROTO. */
int spdy_sess_refuse(struct sconn *c, int status, const char *message, struct uvm_error **err);

int spdy_sess_init(struct spdy_sess *s, struct sconn *c,
                   int (*frame)(void *, const struct spdy_frame *), void (*stop)(void *), void *p);
void spdy_sess_fini(struct spdy_sess *s);

/* The sproto callbacks' shared halves. spdy_sess_timeout returns true when
 * the deadline was the linger's (a session's own deadlines are off by then). */
int spdy_sess_input(struct spdy_sess *s, const uint8_t *buf, size_t len, size_t *used);
int spdy_sess_eof(struct spdy_sess *s);
bool spdy_sess_timeout(struct spdy_sess *s);
bool spdy_sess_finished(const struct spdy_sess *s);

/* Stop, GOAWAY with status, linger. Once; later calls do nothing. */
int spdy_sess_end(struct spdy_sess *s, uint32_t status);

/* Frames for the client. */
int spdy_sess_reply(struct spdy_sess *s, uint32_t id);
/* DATA in frames of at most SPDY_SESS_MAX_FRAME, FIN on the last (len 0 and
 * fin: one empty frame with FIN). */
int spdy_sess_data(struct spdy_sess *s, uint32_t id, const void *buf, size_t len, bool fin);
int spdy_sess_rst(struct spdy_sess *s, uint32_t id, uint32_t status);

/* Input for an io that does not exist yet (its streams are not all there):
 * kept, bounded, until it starts. */
struct spdy_sess_pending {
        uint8_t *buf;
        size_t len;
        bool fin;
};

/* -ENOBUFS past SPDY_SESS_PENDING_MAX. */
int spdy_sess_pending_add(struct spdy_sess_pending *p, const void *buf, size_t len);
/* Hand it to the io just started (and its EOF, if it came), then empty it. */
int spdy_sess_pending_flush(struct spdy_sess_pending *p, struct sio *io);
void spdy_sess_pending_free(struct spdy_sess_pending *p);
