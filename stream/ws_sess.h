#pragma once

/*
 * What the two WebSocket sessions share (rc_ws.c: exec and attach;
 * pf_ws.c: port-forward): the handshake and the 101, the frame read loop
 * with its control frames, channel output, and the end.
 *
 * A session embeds a struct ws_sess and gives the core ws_sess_proto, with
 * the struct ws_sess as p; what is its own comes through ws_sess_ops.
 *
 * The end (RFC 6455 7.1.1): our close frame, after which no frame goes and
 * the client's frames are dropped, until the client's close comes, the
 * client closes the connection or WS_SESS_CLOSE_WAIT_MS passed. A close
 * from the client is answered with its code (5.5.1); a stream that cannot
 * be read on (the decoder's error) with the code for that error. Either
 * way the session's ios are stopped first.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "stream/sconn.h"
#include "stream/ws.h"

#define WS_SESS_CLOSE_WAIT_MS 2000 /* for the client's answer to our close frame */

enum ws_sess_state {
        WS_SESS_RUNNING, /* frames flow both ways */
        WS_SESS_CLOSING, /* our close frame is queued; waiting for the client's */
        WS_SESS_DONE,    /* the core may close the connection */
};

struct ws_sess_ops {
        /* A data message (TEXT or BINARY) while the session runs. */
        int (*data)(void *p, struct ws_message *m);
        /* An event of one of p's ios while the session runs (the others
         * are dropped). */
        int (*event)(void *p, struct sio *io, const struct sevent *ev);
        /* Close every io: the session ends. May come more than once. */
        void (*stop)(void *p);
        /* Free p (the core's free_). */
        void (*free_)(void *p);
        /* Optional, in ws_sess_accept: whether the subprotocol chosen can
         * serve p; an error refuses the upgrade. */
        int (*fits)(void *p, const struct ws_subprotocol *proto, struct uvm_error **err);
        /* The close frame for a stream that cannot be read on carries the
         * decoder's error as its reason (else the code alone). */
        bool close_reason;
};

struct ws_sess {
        struct sconn *c;
        struct ws_decoder *dec;
        const struct ws_sess_ops *ops;
        void *p;
        struct ws_subprotocol proto;    /* ws_sess_accept's choice */
        enum ws_sess_state state;       /* changed by ws_sess_close and the end */
        char accept[WS_ACCEPT_LEN + 1]; /* Sec-WebSocket-Accept, from ws_sess_handshake */
};

/* The core's callbacks for every WebSocket session; p is its struct ws_sess. */
extern const struct sproto ws_sess_proto;

/* 0 or -ENOMEM; ws_sess_fini either way. */
int ws_sess_init(struct ws_sess *s, struct sconn *c, const struct ws_sess_ops *ops, void *p);
void ws_sess_fini(struct ws_sess *s);

/* Answer the upgrade request with status and msg instead (426 names the
 * version served, 13). */
void ws_sess_refuse(struct sconn *c, int status, const char *msg);
/* The upgrade, in two steps (a session may check its request between
 * them). Each queues the refusal when it fails: 426 for another WebSocket
 * version, 500 when out of memory, else 400.
 * ws_sess_handshake checks the handshake (ws_handshake_check) into
 * s->accept; ws_sess_accept chooses the subprotocol from ours into
 * s->proto, asks ops->fits, and queues the 101. */
int ws_sess_handshake(struct ws_sess *s, struct uvm_error **err);
int ws_sess_accept(struct ws_sess *s, const char *const *ours, struct uvm_error **err);

/* A Kubernetes channel message for the client (ws_channel_encode). */
int ws_sess_channel(struct ws_sess *s, uint8_t ch, const void *data, size_t len);
/* Our close frame (code 0: empty), after which no frame may go; a reason
 * is cut to fit or dropped, a code that may not be sent becomes 1000.
 * While running, this starts the wait for the client's close. */
int ws_sess_close(struct ws_sess *s, uint16_t code, const char *reason);
/* The end without the wait: stop the ios, close with code if nothing
 * closed yet, and done. */
int ws_sess_abort(struct ws_sess *s, uint16_t code);
