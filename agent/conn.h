#pragma once

/*
 * A bridge connection over one connected stream fd (unix socket, socketpair or
 * virtio-serial chardev; on Windows a socket: HvSocket, or loopback TCP in
 * tests), used the same way by uvmd and by the in-sandbox agent. Portable:
 * the fd goes through common/sock.h.
 *
 * Threads: a reader thread decodes frames and dispatches them. Frames are
 * written whole, one writer at a time, so they never interleave: a sender
 * writes its own frame when nothing is queued and nobody else is writing
 * (no thread switch on the hot path), and whatever the fd does not take at
 * once goes to the writer thread's queue. The reader never writes, so it
 * never blocks on a write (two peers each pushing bulk stdio at the other
 * cannot deadlock). Each incoming request
 * runs on its own worker thread, so a slow handler (WaitForProcess) does not
 * stall the bridge.
 *
 * Stdio streams are data frames keyed by stream id. A writer may have at most
 * AGENT_STREAM_WINDOW bytes per stream that the receiver has not credited back;
 * the receiver credits bytes as its consumer drains them
 * (agent_conn_stream_consumed), so a slow consumer slows only its own stream.
 * A peer that overruns a window is a protocol error and drops the connection.
 *
 * Data frames of up to AGENT_MAX_DATA and windows of AGENT_STREAM_WINDOW are
 * what every peer takes. Larger ones (up to AGENT_BULK_*: fewer frames,
 * writes and wakeups per byte) are a capability agreed in NegotiateProtocol:
 * the host offers what it takes in the request ("BridgeLimits": {"MaxData",
 * "Window"}), an agent that knows the offer answers in its Capabilities with
 * the limits both then use, each within [the default, the offer]; an older
 * peer neither offers nor answers, and the defaults stay. Each side raises
 * what it accepts before the peer may use it: the agent before its answer is
 * sent, the host as its reader takes the answer (before any later frame is
 * decoded); and sends larger frames only after: the agent once its answer is
 * queued, the host once it took the answer. Limits never shrink.
 */

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/frame.h"
#include "common/error.h"

#define AGENT_CONN_MAX_WORKERS 64   /* concurrent requests served; more get -EBUSY */
#define AGENT_CONN_MAX_STREAMS 1024 /* receive streams a peer may open */
/* The agent numbers container streams from 1, and streaming sessions (exec,
 * attach, port-forward: agent/client.h) and their streams from here. */
#define AGENT_SESSION_ID_BASE (UINT64_C(1) << 32)

struct agent_conn;

/* All callbacks are optional (NULL). Payloads passed in are borrowed. */
struct agent_conn_ops {
        /* On a worker thread, one per request. Return 0 and optionally an object
         * in *ret_response (ownership passes; "Result" and "ErrorMessage" are set
         * by the connection), or -errno with a message in err: the peer gets it as
         * Result/ErrorMessage. NULL answers every request with -ENOSYS. */
        int (*request)(struct agent_conn *conn, uint32_t rpc, json_object *request,
                       json_object **ret_response, void *userdata, struct uvm_error **err);
        /* On the reader thread; must not block for long. */
        void (*notify)(struct agent_conn *conn, uint32_t type, json_object *payload,
                       void *userdata);
        /* On the reader thread; must not block: hand the bytes to a consumer that
         * calls agent_conn_stream_consumed() as it drains them. data == NULL and
         * len == 0 means the peer closed the stream. Without this callback data
         * is discarded and credited at once. */
        void (*data)(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                     void *userdata);
        /* On the reader thread, once, when the connection goes down: code is a
         * negative errno (-ECONNRESET for EOF or a local close). */
        void (*closed)(struct agent_conn *conn, int code, const char *msg, void *userdata);
        /* On the reader thread, after the peer credited bytes of send stream
         * `stream`: a writer that does not wait in write_stream may go on.
         * Must not block. */
        void (*credit)(struct agent_conn *conn, uint64_t stream, void *userdata);
        /* On the worker thread, after the successful response to a request was
         * queued: frames queued from now on reach the peer after it (what the
         * handler started may begin to talk). Not called for error answers. */
        void (*responded)(struct agent_conn *conn, uint32_t rpc, json_object *response,
                          void *userdata);
};

/* Take ownership of fd (closed on failure too), make it non-blocking and
 * start the threads. */
int agent_conn_new(int fd, const struct agent_conn_ops *ops, void *userdata,
                   struct agent_conn **ret_conn, struct uvm_error **err);

/* Stop the connection: shut the fd down, fail waiting calls and stream writers
 * with -ECONNRESET, drop unsent frames. Safe from any thread, callbacks included,
 * and more than once. */
void agent_conn_close(struct agent_conn *conn);

/* Close, join the threads, wait for running request handlers, free. Must not be
 * called from a callback or while other threads still use conn. */
struct agent_conn *agent_conn_free(struct agent_conn *conn);
static inline void agent_conn_freep(struct agent_conn **c)
{
        agent_conn_free(*c);
}

/* Send request (an object with ContainerId and ActivityId strings) as rpc and
 * wait up to timeout_ms (< 0: forever) for the matching response. A non-zero
 * Result becomes an error with that code and the peer's ErrorMessage. On
 * success *ret_response is the response object (owned by the caller). */
int agent_conn_call(struct agent_conn *conn, uint32_t rpc, json_object *request, int timeout_ms,
                    json_object **ret_response, struct uvm_error **err);

/* Send a container notification (an object with a ContainerId string). */
int agent_conn_notify(struct agent_conn *conn, json_object *payload, struct uvm_error **err);

/* Host side: add this side's offer of larger limits to a NegotiateProtocol
 * request (req: its object), before agent_conn_call() sends it. The
 * connection takes the agent's answer from the response itself; an answer
 * outside the offer drops the connection (EPROTO). */
int agent_conn_offer_limits(struct agent_conn *conn, json_object *req, struct uvm_error **err);

/* Agent side, in the NegotiateProtocol handler once nothing can fail: if
 * req carries an offer, accept frames up to the agreed limits from now on,
 * add them to caps (the response's Capabilities), and send with them once
 * the response is queued. -EBADMSG for an offer that is not well-formed. */
int agent_conn_answer_limits(struct agent_conn *conn, json_object *req, json_object *caps,
                             struct uvm_error **err);

/* The limits this side sends with (AGENT_LIMITS_DEFAULT until agreed). */
struct agent_limits agent_conn_limits(struct agent_conn *conn);

/* Bytes write_stream takes on stream now without waiting for credit. */
size_t agent_conn_stream_room(struct agent_conn *conn, uint64_t stream);

/* Queue len bytes on stream, in frames of at most the agreed max_data, waiting for
 * credit while the stream's window is used up. -ETIMEDOUT if timeout_ms (< 0:
 * forever) passes first; part of buf may have been sent then, so close the
 * stream. */
int agent_conn_write_stream(struct agent_conn *conn, uint64_t stream, const void *buf, size_t len,
                            int timeout_ms, struct uvm_error **err);

/* Bytes written on stream that the peer has not credited back yet (0 for a
 * stream never written or closed). A writer that keeps its bytes until they
 * are credited can resend exactly those after the connection is replaced. */
uint32_t agent_conn_stream_outstanding(struct agent_conn *conn, uint64_t stream);

/* Tell the peer this side will write no more on stream. */
int agent_conn_close_stream(struct agent_conn *conn, uint64_t stream, struct uvm_error **err);

/* The consumer of a receive stream drained n more bytes: credit them back to the
 * writer (batched, but always once everything received is drained). */
int agent_conn_stream_consumed(struct agent_conn *conn, uint64_t stream, size_t n,
                               struct uvm_error **err);

/* Result codes on the wire are Linux errno values (the agent runs Linux).
 * These translate a positive code for a host whose numbers differ
 * (Windows); the identity on Linux. Unknown codes become EIO. */
int agent_errno_from_wire(int wire);
int agent_errno_to_wire(int code);
