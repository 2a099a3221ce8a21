#pragma once

/*
 * WebSocket, server side (RFC 6455), and the channel framing Kubernetes puts
 * on top of it for exec, attach and port-forward.
 *
 * Handshake:
 *   ws_is_upgrade(req)       Upgrade lists "websocket" (to route the request)
 *   ws_handshake_check(req, accept, err)
 *       GET, Upgrade: websocket, Connection listing "upgrade", one
 *       Sec-WebSocket-Key that is base64 of 16 bytes, Sec-WebSocket-Version 13.
 *       Fills accept with the Sec-WebSocket-Accept value. -EBADMSG: answer 400;
 *       -EPROTONOSUPPORT (other version): answer 426 with
 *       "Sec-WebSocket-Version: 13" (RFC 6455 4.2.2).
 *   ws_accept_key(key, accept, err)   SHA-1(key + GUID), base64
 *   ws_select_subprotocol(req, ours, &sel, err)
 *       ours: our names, best first, NULL-terminated (WS_REMOTECOMMAND_PROTOCOLS,
 *       WS_PORTFORWARD_PROTOCOLS or the caller's). Picks the first of ours that
 *       the client offered in any Sec-WebSocket-Protocol field, so our order wins
 *       (Kubernetes takes the client's order; client-go lists the newest first, so
 *       the two agree in practice). -ENOPROTOOPT if none matches: answer 400.
 *       No Sec-WebSocket-Protocol field at all is accepted as the oldest
 *       protocol, binary "channel.k8s.io" framing (as kubelet does): sel.name is
 *       NULL, and the 101 must then carry no Sec-WebSocket-Protocol.
 *   ws_handshake_response(accept, protocol, buf, size, &len, err)   the 101
 *
 * Frames:
 *   ws_decoder_new(max_message)   0 means WS_DEFAULT_MAX_MESSAGE
 *   ws_decoder_feed(d, buf, len, &used, &msg, err)
 *       Consumes bytes up to the end of the next complete message or control
 *       frame: returns 1 with *msg filled and *used bytes taken (feed the rest
 *       again), or 0 with all of buf taken. Client frames must be masked; RSV
 *       bits (no extension is ever negotiated), reserved opcodes, fragmented or
 *       long (> 125) control frames, continuation without a start, a new
 *       message inside a fragmented one, a 64-bit length with its top bit set,
 *       a malformed close payload and anything after a close frame are protocol
 *       errors. Errors are sticky; ws_close_code_of_error() gives the close code:
 *       -EPROTO 1002, -EILSEQ 1007 (text or close reason not UTF-8, checked as
 *       fragments arrive), -EMSGSIZE 1009 (message over max_message, refused
 *       when the frame header announces it, before buffering).
 *       Lengths need not be minimally encoded: that rule binds senders.
 *   ws_message_clear(&msg)   frees what a message owns
 *
 *   ws_frame_header(hdr, op, fin, len)   unmasked server header: 2, 4 or 10 bytes
 *   ws_encode_frame(op, data, len, &buf, &len, err)      one whole frame
 *   ws_encode_close(code, reason, &buf, &len, err)       close frame (code 0: empty)
 *
 * Kubernetes channels (remote command: 0 stdin, 1 stdout, 2 stderr, 3 error,
 * 4 resize; v5 adds 255: close the channel named by the one payload byte):
 *   binary protocols: each binary message is one channel byte, then data;
 *   base64 protocols ("base64.channel.k8s.io", "v4.base64.channel.k8s.io"):
 *       each text message is the character '0' + channel, then the data in
 *       standard base64 with padding.
 *   ws_channel_encode(channel, data, len, base64, &frame, &frame_len, err)
 *       a complete server frame carrying data on channel
 *   ws_channel_decode(msg, base64, &channel, &data, &len, err)
 *       splits a received message; base64 data is decoded in place in msg.
 *       Returns 0 for an empty message (Kubernetes ignores those), 1 otherwise.
 *   ws_channel_close_target(data, len, &channel)   payload of a v5 close (255)
 *
 * Port-forward (kubelet's WebSocket port-forward, "v4.channel.k8s.io"): the
 * ports come from the request; port i uses channel 2i for data and 2i+1 for
 * errors, and the server's first message on each of those channels is the
 * port number, 2 bytes little-endian. Clients send data without that prefix.
 *   ws_portforward_channel(channel, n_ports, &index, &is_error)
 *   ws_portforward_port_prefix(port, out)  /  ws_portforward_port_parse(data, len, &port)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "stream/http.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */
#define WS_DEFAULT_MAX_MESSAGE (1u << 20)
#define WS_MAX_HEADER 10 /* server frames are unmasked */
#define WS_MAX_CONTROL 125

/* Our preference lists, best first. v2/v3 are SPDY-era versions kept for
 * clients that name them; "portforward.k8s.io" is the SPDY port-forward name,
 * answered here with the same channel framing as v4. */
#define WS_REMOTECOMMAND_PROTOCOLS                                                                 \
        ((const char *const[]){"v5.channel.k8s.io", "v4.channel.k8s.io",                           \
                               "v4.base64.channel.k8s.io", "v3.channel.k8s.io",                    \
                               "v2.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io",     \
                               NULL})
#define WS_PORTFORWARD_PROTOCOLS                                                                   \
        ((const char *const[]){"v4.channel.k8s.io", "v4.base64.channel.k8s.io",                    \
                               "portforward.k8s.io", NULL})

enum ws_opcode {
        WS_OP_CONTINUATION = 0,
        WS_OP_TEXT = 1,
        WS_OP_BINARY = 2,
        WS_OP_CLOSE = 8,
        WS_OP_PING = 9,
        WS_OP_PONG = 10,
};

enum ws_close_code {
        WS_CLOSE_NORMAL = 1000,
        WS_CLOSE_GOING_AWAY = 1001,
        WS_CLOSE_PROTOCOL_ERROR = 1002,
        WS_CLOSE_UNSUPPORTED = 1003,
        WS_CLOSE_NO_STATUS = 1005, /* never sent: an empty close payload */
        WS_CLOSE_INVALID_DATA = 1007,
        WS_CLOSE_POLICY = 1008,
        WS_CLOSE_TOO_BIG = 1009,
        WS_CLOSE_INTERNAL_ERROR = 1011,
};

enum ws_channel {
        WS_CH_STDIN = 0,
        WS_CH_STDOUT = 1,
        WS_CH_STDERR = 2,
        WS_CH_ERROR = 3,
        WS_CH_RESIZE = 4,
        WS_CH_CLOSE = 255, /* v5 */
};

#define WS_PORTFORWARD_MAX_PORTS 128 /* two channels each, in one byte */

bool ws_is_upgrade(const struct http_request *req);
int ws_accept_key(const char *key, char ret_accept[WS_ACCEPT_LEN + 1], struct uvm_error **err);
int ws_handshake_check(const struct http_request *req, char ret_accept[WS_ACCEPT_LEN + 1],
                       struct uvm_error **err);

struct ws_subprotocol {
        const char *name; /* an entry of ours, or NULL when the client named none */
        unsigned version; /* N of "vN.channel.k8s.io"; 1 for "channel.k8s.io" and none */
        bool base64;      /* text messages, channel digit + base64 */
};

int ws_select_subprotocol(const struct http_request *req, const char *const *ours,
                          struct ws_subprotocol *ret, struct uvm_error **err);
int ws_handshake_response(const char *accept, const char *protocol, char *buf, size_t size,
                          size_t *ret_len, struct uvm_error **err);

struct ws_message {
        enum ws_opcode opcode; /* TEXT, BINARY, CLOSE, PING or PONG */
        uint8_t *data;         /* len bytes and a NUL; never NULL once filled */
        size_t len;
        uint16_t close_code;      /* CLOSE: the code, WS_CLOSE_NO_STATUS if none */
        const char *close_reason; /* CLOSE: UTF-8 inside data, len - 2 bytes (NULs allowed,
                                     U+0000 is UTF-8), "" if none */
};

void ws_message_clear(struct ws_message *m);

struct ws_decoder;

struct ws_decoder *ws_decoder_new(size_t max_message);
struct ws_decoder *ws_decoder_free(struct ws_decoder *d);
static inline void ws_decoder_freep(struct ws_decoder **d)
{
        ws_decoder_free(*d);
}

int ws_decoder_feed(struct ws_decoder *d, const void *buf, size_t len, size_t *ret_used,
                    struct ws_message *ret_msg, struct uvm_error **err);
uint16_t ws_close_code_of_error(int r);

size_t ws_frame_header(uint8_t hdr[WS_MAX_HEADER], enum ws_opcode op, bool fin, uint64_t len);
int ws_encode_frame(enum ws_opcode op, const void *data, size_t len, uint8_t **ret_buf,
                    size_t *ret_len, struct uvm_error **err);
int ws_encode_close(uint16_t code, const char *reason, uint8_t **ret_buf, size_t *ret_len,
                    struct uvm_error **err);

int ws_channel_encode(uint8_t channel, const void *data, size_t len, bool base64,
                      uint8_t **ret_frame, size_t *ret_len, struct uvm_error **err);
int ws_channel_decode(struct ws_message *msg, bool base64, uint8_t *ret_channel,
                      const uint8_t **ret_data, size_t *ret_len, struct uvm_error **err);
int ws_channel_close_target(const uint8_t *data, size_t len, uint8_t *ret_channel,
                            struct uvm_error **err);

int ws_portforward_channel(uint8_t channel, size_t n_ports, size_t *ret_index, bool *ret_is_error,
                           struct uvm_error **err);
void ws_portforward_port_prefix(uint16_t port, uint8_t out[2]);
int ws_portforward_port_parse(const uint8_t *data, size_t len, uint16_t *ret_port,
                              struct uvm_error **err);
