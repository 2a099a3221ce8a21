#pragma once

/*
 * Bridge frames between uvmd and the in-sandbox agent (modelled on hcsshim's
 * GCS bridge). Every frame is a 16-byte little-endian header
 *
 *     u32 type   class | rpc
 *     u32 size   header + payload
 *     u64 id     request/response matching id, or the stream id of data frames
 *
 * followed by the payload: a JSON object for requests, responses and
 * notifications; raw bytes for stdio data frames. Everything read from the
 * peer is untrusted: the decoder checks sizes before buffering, the class and
 * rpc against the known tables, and the fields each class must carry.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

#define AGENT_HEADER_SIZE 16u

#define AGENT_CLASS_MASK 0xf0000000u
#define AGENT_RPC_MASK 0x0fffffffu
#define AGENT_CLASS_REQUEST 0x10000000u
#define AGENT_CLASS_RESPONSE 0x20000000u
#define AGENT_CLASS_NOTIFY 0x30000000u
#define AGENT_CLASS_DATA 0x40000000u /* ours: multiplexed stdio */

/* ComputeSystem rpc numbers: 0x00100000 | n << 8 | 1. */
#define AGENT_RPC(n) (0x00100000u | ((uint32_t) (n) << 8) | 1u)
#define AGENT_RPC_CREATE AGENT_RPC(1)
#define AGENT_RPC_START AGENT_RPC(2)
#define AGENT_RPC_SHUTDOWN_GRACEFUL AGENT_RPC(3)
#define AGENT_RPC_SHUTDOWN_FORCED AGENT_RPC(4)
#define AGENT_RPC_EXECUTE_PROCESS AGENT_RPC(5)
#define AGENT_RPC_WAIT_FOR_PROCESS AGENT_RPC(6)
#define AGENT_RPC_SIGNAL_PROCESS AGENT_RPC(7)
#define AGENT_RPC_RESIZE_CONSOLE AGENT_RPC(8)
#define AGENT_RPC_GET_PROPERTIES AGENT_RPC(9)
#define AGENT_RPC_MODIFY_SETTINGS AGENT_RPC(10)
#define AGENT_RPC_NEGOTIATE_PROTOCOL AGENT_RPC(11)
#define AGENT_RPC_DUMP_STACKS AGENT_RPC(12)
#define AGENT_RPC_DELETE_CONTAINER_STATE AGENT_RPC(13)
#define AGENT_RPC_UPDATE_CONTAINER AGENT_RPC(14)
#define AGENT_RPC_LIFECYCLE_NOTIFICATION AGENT_RPC(15)

/* The one notification: a container (or process) exited. Full type 0x30100101. */
#define AGENT_NOTIFY_CONTAINER 0x00100101u

/* rpc bits of the data class. */
#define AGENT_DATA_WRITE 0u  /* payload: raw bytes */
#define AGENT_DATA_CLOSE 1u  /* no payload: end of stream */
#define AGENT_DATA_CREDIT 2u /* payload: {"Credit":N}, N bytes consumed */

#define AGENT_MAX_JSON (1u << 20)        /* payload bound of JSON frames */
#define AGENT_MAX_DATA (64u << 10)       /* payload bound of data frames */
#define AGENT_STREAM_WINDOW (256u << 10) /* unacknowledged bytes per stream */
/* Larger bounds a connection may agree on in NegotiateProtocol (conn.h,
 * "BridgeLimits"): never more than these. Until both sides agreed, and
 * with a peer that does not know them, the two above hold. */
#define AGENT_BULK_MAX_DATA (256u << 10)
#define AGENT_BULK_WINDOW (1u << 20)
#define AGENT_MAX_ID_LEN 256u /* ContainerId / ActivityId length bound */
#define AGENT_MAX_ERRNO 4095  /* Result is 0 or in [-AGENT_MAX_ERRNO, -1] */

/* The bounds of data frames a decoder enforces and a sender keeps to. */
struct agent_limits {
        uint32_t max_data; /* payload of a data-write frame */
        uint32_t window;   /* unacknowledged bytes per stream; bounds a credit too */
};

#define AGENT_LIMITS_DEFAULT ((struct agent_limits){AGENT_MAX_DATA, AGENT_STREAM_WINDOW})

struct agent_frame {
        uint32_t type;
        uint64_t id;
        json_object *json;        /* requests, responses, notifications, credits; else NULL */
        uint8_t *data;            /* data-write frames: the payload; else NULL */
        size_t len;               /* payload length in bytes */
        uint32_t credit;          /* credit frames: the validated "Credit" value */
        struct agent_frame *next; /* decoder queue link, private */
        size_t cap;               /* bytes allocated at data, private */
};

struct agent_frame *agent_frame_free(struct agent_frame *f);
static inline void agent_frame_freep(struct agent_frame **f)
{
        agent_frame_free(*f);
}

/* "Create", "WaitForProcess", ... for a full type or a bare rpc; "ContainerNotification"
 * for notifications, "Data"/"Close"/"Credit" for the data class, "Unknown" otherwise.
 * For logs only. */
const char *agent_rpc_name(uint32_t type);

/* True if type is a class this protocol knows, with an rpc that class allows. */
bool agent_type_is_valid(uint32_t type);

/* Check that a JSON payload carries what its class requires (requests: ContainerId
 * and ActivityId strings; responses: integer Result, string ErrorMessage if present;
 * notifications: ContainerId; credits: Credit in [1, AGENT_BULK_WINDOW]: the
 * decoder bounds it by its window).
 * Returns 0 or -EBADMSG. */
int agent_frame_check_json(uint32_t type, json_object *obj, struct uvm_error **err);

/* Encode a JSON frame (request, response, notification or credit) into a fresh
 * buffer. The payload is checked as the decoder would check it, so we never send
 * what the peer must reject. */
int agent_frame_encode_json(uint32_t type, uint64_t id, json_object *obj, uint8_t **ret_buf,
                            size_t *ret_len, struct uvm_error **err);

/* Encode a data-write (len <= AGENT_MAX_DATA) or close (len == 0) frame. */
int agent_frame_encode_data(uint32_t type, uint64_t id, const void *data, size_t len,
                            uint8_t **ret_buf, size_t *ret_len, struct uvm_error **err);

/* Incremental decoder: feed arbitrary chunks, pop complete frames. The first
 * error is sticky: later feeds and pops fail with the same code, since the
 * stream can no longer be trusted to be in sync and the connection is dropped. */
struct agent_decoder;

struct agent_decoder *agent_decoder_new(void);
struct agent_decoder *agent_decoder_free(struct agent_decoder *d);
static inline void agent_decoder_freep(struct agent_decoder **d)
{
        agent_decoder_free(*d);
}

/* Consume all of buf. Returns 0, or -EBADMSG / -EMSGSIZE / -ENOMEM. */
int agent_decoder_feed(struct agent_decoder *d, const void *buf, size_t len,
                       struct uvm_error **err);

/* Like agent_decoder_feed, but stop after a frame completed: *ret_used says
 * how much of buf was consumed. A caller whose bounds depend on a frame
 * (the answer to NegotiateProtocol) sets them before feeding the rest. */
int agent_decoder_feed_some(struct agent_decoder *d, const void *buf, size_t len, size_t *ret_used,
                            struct uvm_error **err);

/* The bounds frames are checked against from the next frame header on:
 * AGENT_LIMITS_DEFAULT until set; -EINVAL outside [default, AGENT_BULK_*]. */
int agent_decoder_set_limits(struct agent_decoder *d, struct agent_limits l);
/* The limits l satisfy what a decoder can enforce. */
bool agent_limits_valid(struct agent_limits l);

/* NegotiateProtocol's "BridgeLimits" object, {"MaxData": n, "Window": n}:
 * parse one (-EBADMSG unless both are 32-bit integers no smaller than the
 * defaults: whether they are within what this side knows is the caller's
 * to check; what names it in the message), or build one (NULL: out of
 * memory). */
int agent_limits_from_json(json_object *obj, const char *what, struct agent_limits *ret,
                           struct uvm_error **err);
json_object *agent_limits_to_json(struct agent_limits l);

/* While a data-write frame's payload is incomplete: where its *ret_len
 * missing bytes go, so a reader can read them there itself (no copy
 * through its own buffer); then agent_decoder_commit() what it read.
 * NULL otherwise, or out of memory: feed instead. */
uint8_t *agent_decoder_payload_space(struct agent_decoder *d, size_t *ret_len);
/* n bytes were written at agent_decoder_payload_space(): take them. */
int agent_decoder_commit(struct agent_decoder *d, size_t n, struct uvm_error **err);

/* Returns 1 and the oldest complete frame, 0 if none is complete, or the sticky
 * error. */
int agent_decoder_pop(struct agent_decoder *d, struct agent_frame **ret_frame,
                      struct uvm_error **err);

/* Done with popped frame f's data: the decoder keeps a large buffer for
 * the next data frames (no malloc, nor the page faults of fresh memory, per
 * frame); f->data becomes NULL. */
void agent_decoder_recycle(struct agent_decoder *d, struct agent_frame *f);

/* Bytes buffered of a frame not yet complete (non-zero at EOF means truncation). */
size_t agent_decoder_partial(const struct agent_decoder *d);
