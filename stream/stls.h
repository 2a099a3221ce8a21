#pragma once

/*
 * TLS for the streaming server's connections (server.c): OpenSSL on Linux
 * (stls_openssl.c); none on Windows (stls_none.c: a certificate in the
 * config is refused, the server speaks plain HTTP on loopback).
 */

#include "common/error.h"
#include "stream/sconn-internal.h"

struct stls_ctx;

/* A server context from PEM files (both or neither: NULL, no TLS). */
int stls_ctx_new(const char *cert, const char *key, struct stls_ctx **ret, struct uvm_error **err);
struct stls_ctx *stls_ctx_free(struct stls_ctx *ctx);

/* Make io, a plain connection on its fd, speak TLS of ctx: its functions
 * become TLS's and io->tls holds the session. */
int stls_wrap(struct stls_ctx *ctx, struct sconn_io *io);
/* The server's handshake (blocking, within the socket's timeouts). */
int stls_handshake(struct sconn_io *io);
/* Close the session, if any (io->tls NULL after). */
void stls_end(struct sconn_io *io);
