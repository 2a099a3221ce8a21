#pragma once

/* What server.c and sconn.c share: the connection itself and its
 * transport (plain TCP or TLS, non-blocking once upgraded). */

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "stream/sconn.h"

struct qevent;
struct snet_event;

/* Byte I/O on the client socket: -EAGAIN when it would block, 0 at EOF. */
struct sconn_io {
        int fd;
        void *tls; /* stls.h's session, NULL for plain TCP */
        ssize_t (*read)(struct sconn_io *io, void *buf, size_t len);
        ssize_t (*write)(struct sconn_io *io, const void *buf, size_t len);
        /* Optional (NULL: not offered): a then b in one write (a frame's
         * head and its payload, from where they are). */
        ssize_t (*write2)(struct sconn_io *io, const void *a, size_t alen, const void *b,
                          size_t blen);
        size_t (*pending)(struct sconn_io *io);   /* bytes decrypted and not yet read */
        bool (*wants_write)(struct sconn_io *io); /* TLS needs the socket writable */
};

struct sconn {
        struct sconn_io *io;
        const struct stream_backend *backend;
        const struct token_request *req;
        const struct http_request *http;
        const struct sproto *proto;
        void *p;
        uint8_t *in; /* read, not yet taken by the protocol */
        size_t in_len, in_cap;
        uint8_t *out; /* for the client: out[out_off..out_len) */
        size_t out_len, out_off, out_cap;
        size_t in_queued; /* input the ios hold */
        long deadline;    /* monotonic ms (plat_now_ns), 0: none */
        bool eof;
        volatile bool stop;    /* the server is stopping */
        struct snet_event *ev; /* raised when events were queued (snet.h) */
        pthread_mutex_t lock;  /* guards the event queue and the spare events */
        struct qevent *head, **tail;
        struct qevent *spare; /* output events kept for reuse (sconn.c) */
        unsigned n_spare;
        struct sio *ios;
};

int sconn_init(struct sconn *c);
/* Make the connection's thread look at its events and c->stop. */
void sconn_wake(struct sconn *c);
/* Send what is queued for the client (a failed start's answer). */
void sconn_flush(struct sconn *c);
/* Run the session to its end. */
int sconn_run(struct sconn *c);
void sconn_fini(struct sconn *c);
