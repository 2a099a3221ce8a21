#pragma once

/*
 * uvmd's streaming server: what the URLs of CRI Exec, Attach and
 * PortForward point at (docs/streaming.md). An HTTP/1.1 listener (TLS when
 * a certificate is configured) on the configured address, loopback and an
 * ephemeral port by default. Each connection gets a thread; its request
 * names a single-use token (stream/token.h) that says what to run, then
 * upgrades to SPDY/3.1 or WebSocket and speaks Kubernetes' remote-command
 * (exec, attach) or port-forward protocol over it.
 *
 * The server reaches processes and ports through a backend table: uvmd's
 * sandbox layer (the pod's agent, in the pod or in its VM) or a test's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "stream/token.h"

#define STREAM_STDOUT 1
#define STREAM_STDERR 2

/* Where a backend delivers what happens to one process or connection.
 * Called on any thread; must not block. */
struct stream_sink {
        void *data;
        /* Bytes of STREAM_STDOUT (a connection's data) or STREAM_STDERR; len
         * 0: that stream ended. The receiver calls backend->consumed() once
         * it passed them on: the backend holds at most a window unconsumed. */
        void (*output)(void *data, int stream, const void *buf, size_t len);
        /* Input that backend->write() did not take may now go on. */
        void (*writable)(void *data);
        /* Once, last: an exec's exit code (>= 0); 0 for an attach or a
         * connection that ended; a negative errno with a reason on failure. */
        void (*done)(void *data, int code, const char *reason);
};

struct stream_io; /* the backend's: one process or connection */

struct stream_backend {
        void *data;
        /* Start req's command in its container (TOKEN_EXEC); rows/cols: the
         * terminal's first size, 0 when not known yet. */
        int (*exec)(void *data, const struct token_request *req, unsigned rows, unsigned cols,
                    const struct stream_sink *sink, struct stream_io **ret, struct uvm_error **err);
        /* Attach to req's running container (TOKEN_ATTACH). */
        int (*attach)(void *data, const struct token_request *req, const struct stream_sink *sink,
                      struct stream_io **ret, struct uvm_error **err);
        /* A TCP connection to port inside the pod's network namespace. */
        int (*port_forward)(void *data, const char *pod_id, uint16_t port,
                            const struct stream_sink *sink, struct stream_io **ret,
                            struct uvm_error **err);
        /* Without blocking: the bytes taken (0: none now, sink->writable
         * comes later), -EPIPE once the input side is gone. */
        int (*write)(struct stream_io *io, const void *buf, size_t len);
        /* EOF on the input (a connection: half-close). */
        int (*close_write)(struct stream_io *io);
        int (*resize)(struct stream_io *io, unsigned rows, unsigned cols);
        void (*consumed)(struct stream_io *io, int stream, size_t n);
        /* End it if it still runs (an exec's process is killed) and free
         * it; no sink call happens once this returned. */
        void (*close)(struct stream_io *io);
};

struct stream_config {
        const char *address;   /* "127.0.0.1:0", "[::1]:10010", "0.0.0.0:10010" */
        const char *tls_cert;  /* PEM files; both or neither */
        const char *tls_key;   /* NULL: plain HTTP */
        unsigned token_ttl_ms; /* 0: 60 s */
        unsigned max_conns;    /* connections at once; 0: 128 */
};

struct stream_server;

int stream_server_start(const struct stream_config *cfg, const struct stream_backend *backend,
                        struct stream_server **ret, struct uvm_error **err);
/* Stop listening, end every session (their processes killed), free. */
struct stream_server *stream_server_stop(struct stream_server *s);

/* The URL for req (copied): "http[s]://HOST:PORT/{exec,attach,portforward}/TOKEN".
 * -EBUSY when too many tokens are outstanding. */
int stream_server_url(struct stream_server *s, const struct token_request *req, char **ret_url,
                      struct uvm_error **err);
/* "HOST:PORT" as bound (an ephemeral port resolved). */
const char *stream_server_address(const struct stream_server *s);
/* Sessions running now (for tests and metrics). */
unsigned stream_server_sessions(struct stream_server *s);
