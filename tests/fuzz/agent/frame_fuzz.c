/* libFuzzer harness for the agent frame decoder.
 *
 * Input: byte 0 selects k = byte0 % 4 chunk sizes, the next k bytes give them
 * (size = byte + 1; k == 0 feeds everything at once); the rest is the byte
 * stream from the peer, fed in chunks cycling through those sizes so frame
 * boundaries land everywhere. Every frame the decoder accepts must satisfy the
 * codec's own invariants and survive an encode/decode round trip; every error
 * must be sticky. */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/frame.h"

static void check_round_trip(const struct agent_frame *f)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *g = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        if (!d)
                return;
        if (f->json)
                r = agent_frame_encode_json(f->type, f->id, f->json, &buf, &len, NULL);
        else
                r = agent_frame_encode_data(f->type, f->id, f->data, f->len, &buf, &len, NULL);
        assert(r == 0);
        assert(agent_decoder_feed(d, buf, len, NULL) == 0);
        assert(agent_decoder_pop(d, &g, NULL) == 1);
        assert(g->type == f->type && g->id == f->id && g->credit == f->credit);
        if (!f->json)
                assert(g->len == f->len && (f->len == 0 || memcmp(g->data, f->data, f->len) == 0));
        else
                assert(json_object_equal(g->json, f->json));
        assert(agent_decoder_partial(d) == 0);
        agent_frame_free(g);
        free(buf);
        agent_decoder_free(d);
}

static void check_frame(const struct agent_frame *f)
{
        uint32_t class = f->type & AGENT_CLASS_MASK, rpc = f->type & AGENT_RPC_MASK;

        assert(agent_type_is_valid(f->type));
        assert(strcmp(agent_rpc_name(f->type), "Unknown") != 0);
        if (class == AGENT_CLASS_DATA && rpc != AGENT_DATA_CREDIT) {
                assert(!f->json && f->len <= AGENT_MAX_DATA);
                assert(rpc != AGENT_DATA_CLOSE || f->len == 0);
                assert((f->len == 0) == (f->data == NULL));
        } else {
                assert(json_object_is_type(f->json, json_type_object) && f->len <= AGENT_MAX_JSON);
                assert(agent_frame_check_json(f->type, f->json, NULL) == 0);
                assert(rpc != AGENT_DATA_CREDIT || class != AGENT_CLASS_DATA ||
                       (f->credit >= 1 && f->credit <= AGENT_STREAM_WINDOW));
        }
        check_round_trip(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_decoder *d;
        struct agent_frame *f = NULL;
        size_t k, sizes[3], i = 0;
        int r = 0;

        if (size < 1)
                return 0;
        k = data[0] % 4;
        if (size < 1 + k)
                return 0;
        for (size_t j = 0; j < k; j++)
                sizes[j] = (size_t) data[1 + j] + 1;
        data += 1 + k;
        size -= 1 + k;

        d = agent_decoder_new();
        if (!d)
                return 0;
        while (size > 0 && r >= 0) {
                size_t n = k ? sizes[i++ % k] : size;

                n = n < size ? n : size;
                r = agent_decoder_feed(d, data, n, NULL);
                assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
                while (r >= 0 && (r = agent_decoder_pop(d, &f, NULL)) == 1) {
                        check_frame(f);
                        f = agent_frame_free(f);
                }
                data += n;
                size -= n;
        }
        if (r < 0) {
                /* Sticky: the decoder refuses anything after an error. */
                assert(agent_decoder_feed(d, "x", 1, NULL) == r);
                assert(agent_decoder_pop(d, &f, NULL) == r);
        } else {
                assert(agent_decoder_pop(d, &f, NULL) == 0);
        }
        agent_decoder_free(d);
        return 0;
}
