/* libFuzzer harness for the WebSocket frame decoder and the channel framing.
 *
 * Input: byte 0 selects k = byte0 % 4 chunk sizes, the next k bytes give them
 * (size = byte + 1; k == 0 feeds everything at once); byte0 & 4 picks a small
 * message bound (300 bytes) instead of the default. The rest is the byte
 * stream from the client. Every message the decoder yields must satisfy its
 * invariants and survive re-encoding (as a server frame, masked back into a
 * client frame, decoded again); every channel message that decodes must
 * re-encode to the same bytes; every error must be one of the three close
 * reasons and sticky. */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/ws.h"

/* Decode one server frame as a client would send it back (masked). */
static void decode_server_frame(const uint8_t *frame, size_t len, struct ws_message *ret)
{
        static const uint8_t mask[4] = {1, 2, 3, 4};
        size_t h = (frame[1] & 0x7f) == 126 ? 4 : (frame[1] & 0x7f) == 127 ? 10 : 2, used = 0;
        uint8_t *client = malloc(len + 4);
        struct ws_decoder *d = ws_decoder_new(0);

        assert(client && d);
        memcpy(client, frame, h);
        client[1] |= 0x80;
        memcpy(client + h, mask, 4);
        for (size_t i = 0; i < len - h; i++)
                client[h + 4 + i] = frame[h + i] ^ mask[i & 3];
        assert(ws_decoder_feed(d, client, len + 4, &used, ret, NULL) == 1);
        assert(used == len + 4);
        ws_decoder_free(d);
        free(client);
}

static void check_round_trip(const struct ws_message *m)
{
        struct ws_message back = {0};
        uint8_t *buf = NULL;
        size_t len = 0;

        /* We never send a NUL in a close reason; a peer may (U+0000 is UTF-8). */
        if (m->opcode == WS_OP_CLOSE && m->len > 2 && strlen(m->close_reason) != m->len - 2)
                return;
        if (m->opcode == WS_OP_CLOSE)
                assert(ws_encode_close(m->close_code == WS_CLOSE_NO_STATUS ? 0 : m->close_code,
                                       m->close_reason, &buf, &len, NULL) == 0);
        else
                assert(ws_encode_frame(m->opcode, m->data, m->len, &buf, &len, NULL) == 0);
        decode_server_frame(buf, len, &back);
        assert(back.opcode == m->opcode && back.len == m->len);
        assert(memcmp(back.data, m->data, m->len) == 0);
        assert(back.close_code == m->close_code);
        ws_message_clear(&back);
        free(buf);
}

/* Split as a channel message; if that works, encoding it again must give back
 * the very payload received (the base64 decoder accepts only canonical text). */
static void check_channel(const struct ws_message *m)
{
        bool base64 = m->opcode == WS_OP_TEXT;
        struct ws_message copy = *m, back = {0};
        const uint8_t *data;
        uint8_t ch, *frame = NULL;
        size_t dlen, flen;
        int r;

        copy.data = malloc(m->len + 1);
        assert(copy.data);
        memcpy(copy.data, m->data, m->len + 1);
        r = ws_channel_decode(&copy, base64, &ch, &data, &dlen, NULL);
        assert(r == 0 || r == 1 || r == -EBADMSG);
        if (r == 1) {
                assert(ws_channel_encode(ch, data, dlen, base64, &frame, &flen, NULL) == 0);
                decode_server_frame(frame, flen, &back);
                assert(back.len == m->len && memcmp(back.data, m->data, m->len) == 0);
                ws_message_clear(&back);
                free(frame);
                if (ch == WS_CH_CLOSE && ws_channel_close_target(data, dlen, &ch, NULL) == 0)
                        assert(dlen == 1);
        }
        assert(r != 0 || m->len == 0);
        free(copy.data);
}

static void check_message(const struct ws_message *m, size_t max)
{
        assert(m->data && m->data[m->len] == 0);
        switch (m->opcode) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
                assert(m->len <= max);
                check_channel(m);
                break;
        case WS_OP_CLOSE:
                assert(m->len != 1 && m->len <= WS_MAX_CONTROL);
                assert(m->close_reason >= (const char *) m->data &&
                       m->close_reason <= (const char *) m->data + m->len);
                break;
        case WS_OP_PING:
        case WS_OP_PONG:
                assert(m->len <= WS_MAX_CONTROL);
                break;
        default:
                assert(!"unexpected opcode");
        }
        check_round_trip(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ws_decoder *d;
        struct ws_message m = {0};
        size_t k, sizes[3], i = 0, max;
        bool closed = false;
        int r = 0;

        if (size < 1)
                return 0;
        k = data[0] % 4;
        max = data[0] & 4 ? 300 : WS_DEFAULT_MAX_MESSAGE;
        if (size < 1 + k)
                return 0;
        for (size_t j = 0; j < k; j++)
                sizes[j] = (size_t) data[1 + j] + 1;
        data += 1 + k;
        size -= 1 + k;

        d = ws_decoder_new(max);
        assert(d);
        while (size > 0 && r >= 0) {
                size_t n = k ? sizes[i++ % k] : size, off = 0, used = 0;

                n = n < size ? n : size;
                while ((r = ws_decoder_feed(d, data + off, n - off, &used, &m, NULL)) == 1) {
                        assert(used > 0 && used <= n - off);
                        assert(!closed);
                        closed = m.opcode == WS_OP_CLOSE;
                        check_message(&m, max);
                        ws_message_clear(&m);
                        off += used;
                }
                assert(r == 0 || r == -EPROTO || r == -EILSEQ || r == -EMSGSIZE);
                assert(r < 0 || used == n - off);
                data += n;
                size -= n;
        }
        if (r < 0) {
                size_t used;

                assert(ws_close_code_of_error(r) != WS_CLOSE_INTERNAL_ERROR);
                assert(ws_decoder_feed(d, "\x81\x80", 2, &used, &m, NULL) == r);
        }
        ws_decoder_free(d);
        return 0;
}
