#pragma once

/*
 * What a method handler sees. Handlers decode nothing themselves: the server
 * hands them the unpacked request and packs what they return. Responses are
 * built from the call's arena (srv_alloc & co.) and freed with the call.
 */

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"

struct srv_call;
struct uvmd; /* the daemon's state, see service/daemon.h */

enum srv_kind {
        SRV_UNARY,
        SRV_SERVER_STREAM, /* one request, many responses */
        SRV_BIDI_STREAM,   /* requests and responses interleaved */
};

struct srv_ctx {
        struct srv_call *call;
        struct uvmd *daemon;
        void *data;          /* srv_options.data of the serving instance */
        int64_t deadline_ms; /* CLOCK_MONOTONIC ms; INT64_MAX = none */
};

/* A unary handler: fill *ret_resp (from the arena) and return >= 0, or
 * record an error and return -errno. One that has its answer packed
 * already calls srv_reply_packed and leaves *ret_resp NULL. */
typedef int (*srv_unary_fn)(struct srv_ctx *ctx, const ProtobufCMessage *req,
                            ProtobufCMessage **ret_resp, struct uvm_error **err);

/* A unary handler's optional fast path, tried on the queue thread before
 * the call goes to a worker: it may only read memory and take locks that
 * are never held across blocking work, and only with trylock. It answers
 * with srv_reply_packed and returns true, or returns false, having changed
 * nothing, and the call runs the unary handler on a worker. */
typedef bool (*srv_fast_fn)(struct srv_ctx *ctx, const ProtobufCMessage *req);

/* A streaming handler runs on a thread of its own; it sends with
 * srv_stream_send, reads further requests with srv_stream_recv, and returns
 * when the stream is done (its return value becomes the status). */
typedef int (*srv_stream_fn)(struct srv_ctx *ctx, const ProtobufCMessage *first_req,
                             struct uvm_error **err);

struct srv_binding {
        const char *service; /* full name: "runtime.v1.RuntimeService" */
        const char *method;  /* "Version" */
        enum srv_kind kind;
        bool inline_ok; /* never blocks: served on the queue thread */
        srv_unary_fn unary;
        srv_stream_fn stream;
        srv_fast_fn fast; /* unary only; NULL: none */
};

/* Allocation from the call's arena (zeroed; NULL only when out of memory). */
void *srv_alloc(struct srv_ctx *ctx, size_t size);
char *srv_strdup(struct srv_ctx *ctx, const char *s);
char *srv_printf(struct srv_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define srv_new(ctx, type) ((type *) srv_alloc((ctx), sizeof(type)))
#define srv_new_array(ctx, type, n) ((type *) srv_alloc((ctx), sizeof(type) * ((n) ? (n) : 1)))

/* The unary answer, already serialized (a cached List answer): sent as it
 * is, by reference, when the handler returns >= 0; release(arg) is called
 * once, from any thread, when the server no longer needs data. The
 * max_message_bytes limit applies to it as to a packed response. */
void srv_reply_packed(struct srv_ctx *ctx, const void *data, size_t len, void (*release)(void *),
                      void *arg);

/* Streams. send returns -ECANCELED once the peer has gone. recv returns 0
 * with *ret_msg NULL at the end of the client's stream; the message is freed
 * with the call. */
int srv_stream_send(struct srv_ctx *ctx, const ProtobufCMessage *msg);
int srv_stream_recv(struct srv_ctx *ctx, ProtobufCMessage **ret_msg);

/* True once the peer cancelled or the server is draining. */
bool srv_ctx_done(struct srv_ctx *ctx);

/* fn(data) is called (from the queue thread, without locks held) when the
 * call is cancelled or the server starts draining: use it to wake a handler
 * that sleeps on its own condition. Replaces any earlier callback. */
void srv_ctx_on_done(struct srv_ctx *ctx, void (*fn)(void *data), void *data);

/* Milliseconds left before the deadline (INT64_MAX when there is none). */
int64_t srv_ctx_remaining_ms(struct srv_ctx *ctx);
