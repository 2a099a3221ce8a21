#pragma once

/*
 * The streaming server's insides: one client connection after its upgrade,
 * run by its own thread (server.c), and the protocol session that speaks
 * over it (rc_spdy.c, rc_ws.c, pf_spdy.c, pf_ws.c).
 *
 * The thread polls three things: the client's socket (input to the
 * protocol's input(), output from a bounded buffer the protocol appends to
 * with sconn_send()), and an eventfd that the backend's sink callbacks
 * (on the bridge's thread) raise after queueing an event. Events of an io
 * reach the protocol's event() only while the output buffer is below
 * SCONN_OUT_HIGH, and output is credited back to the backend
 * (backend->consumed) once event() took it: so a client that stops reading
 * stops the backend (the process blocks), and nothing grows without bound.
 * Input for an io goes through sio_write(): what the backend does not take
 * now waits in the io (bounded: past SCONN_IN_HIGH the socket is not read
 * until it drained) and is retried when the backend says writable.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "stream/http.h"
#include "stream/stream.h"
#include "stream/token.h"

#define SCONN_OUT_HIGH (256u << 10) /* output buffered for the client */
#define SCONN_IN_HIGH (256u << 10)  /* input an io has not taken yet, all ios together */

struct sconn;
struct sio;

enum sevent_kind {
        SEV_OUTPUT,   /* stream, data, len (len 0: that stream ended) */
        SEV_WRITABLE, /* handled by the core (queued input retried); not passed on */
        SEV_DONE,     /* code, reason: the io is over; sio_close() it */
};

struct sevent {
        enum sevent_kind kind;
        int stream;
        const uint8_t *data;
        size_t len;
        int code;
        const char *reason; /* may be NULL */
};

/* A protocol session. Every callback returns 0, or a negative errno to end
 * the connection at once (after what was queued for the client is sent). */
struct sproto {
        /* Bytes from the client; *used gets how many were taken (the rest
         * comes again with more). */
        int (*input)(void *p, const uint8_t *buf, size_t len, size_t *used);
        /* The client closed its side (or the connection broke). */
        int (*eof)(void *p);
        /* An event of one of p's ios (never SEV_WRITABLE). */
        int (*event)(void *p, struct sio *io, const struct sevent *ev);
        /* The deadline set with sconn_deadline() passed. */
        int (*timeout)(void *p);
        /* True once the session is over: the core sends what is queued,
         * closes the connection and frees p with free_(). */
        bool (*finished)(void *p);
        /* May sio_close() p's ios; the core closes those left after it. */
        void (*free_)(void *p);
};

/* What the session knows of its connection. */
const struct stream_backend *sconn_backend(struct sconn *c);
const struct token_request *sconn_request(struct sconn *c); /* the redeemed token's */
const struct http_request *sconn_http(struct sconn *c);     /* the upgrade request */

/* Queue bytes for the client (they go out as the socket takes them). */
int sconn_send(struct sconn *c, const void *buf, size_t len);
/* A frame for the client, its head then its payload: as sconn_send of
 * both, but when nothing is queued before it, written to the socket from
 * where it is, as far as the socket takes it now (only the rest is copied
 * and queued). */
int sconn_send_frame(struct sconn *c, const void *head, size_t head_len, const void *data,
                     size_t len);
size_t sconn_out_pending(struct sconn *c);
/* Call proto->timeout once, after ms from now (0: no deadline). */
void sconn_deadline(struct sconn *c, unsigned ms);

/* An io of the session: sio_new, then start it with the backend passing
 * sio_sink(io), and give the result to sio_attach. tag is the protocol's. */
struct sio *sio_new(struct sconn *c, void *tag);
const struct stream_sink *sio_sink(struct sio *io);
void sio_attach(struct sio *io, struct stream_io *bio);
void *sio_tag(struct sio *io);
/* Input for it: queued while the backend cannot take it. -EPIPE once its
 * input side is gone (the bytes are dropped). */
int sio_write(struct sio *io, const void *buf, size_t len);
/* EOF on its input, once everything queued went. */
int sio_close_write(struct sio *io);
int sio_resize(struct sio *io, unsigned rows, unsigned cols);
/* Close it (the backend's close, if started), drop its queued events, free. */
void sio_close(struct sio *io);

/* The error channel's payload when a remote command ends (kstatus.c):
 * code >= 0 an exit code, < 0 a failure with reason. Protocol version >= 4:
 * a Kubernetes Status object; older: the error's text ("" on success).
 * malloc'd, NULL when out of memory. */
char *kstatus_payload(unsigned version, int code, const char *reason, size_t *len);

/* The protocols (each starts a session on c, given the upgrade request;
 * they write their own 101 response or an error response). */
int rc_spdy_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                  struct uvm_error **err);
int rc_ws_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                struct uvm_error **err);
int pf_spdy_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                  struct uvm_error **err);
int pf_ws_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                struct uvm_error **err);
