/* agent frame codec: round trips, incremental feeding, and every rejection path
 * of the decoder (bad sizes, classes, JSON, fields; sticky errors). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/frame.h"

#define REQ(rpc) (AGENT_CLASS_REQUEST | (rpc))
#define RESP(rpc) (AGENT_CLASS_RESPONSE | (rpc))

/* A raw frame: header with the given size field, then len payload bytes. */
static size_t raw_frame(uint8_t *out, uint32_t type, uint32_t size, uint64_t id,
                        const char *payload, size_t len)
{
        for (int i = 0; i < 4; i++) {
                out[i] = (uint8_t) (type >> (8 * i));
                out[4 + i] = (uint8_t) (size >> (8 * i));
        }
        for (int i = 0; i < 8; i++)
                out[8 + i] = (uint8_t) (id >> (8 * i));
        if (len)
                memcpy(out + 16, payload, len);
        return 16 + len;
}

/* Feed one JSON-text frame with a correct size; return the decoder's result. */
static int feed_text(struct agent_decoder *d, uint32_t type, const char *text,
                     struct uvm_error **err)
{
        size_t len = strlen(text);
        uint8_t *buf = malloc(16 + len);
        int r;

        assert_non_null(buf);
        raw_frame(buf, type, (uint32_t) (16 + len), 7, text, len);
        r = agent_decoder_feed(d, buf, 16 + len, err);
        free(buf);
        return r;
}

static json_object *request_json(const char *ctr)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(ctr));
        json_object_object_add(o, "ActivityId", json_object_new_string("act-1"));
        return o;
}

static void expect_reject(uint32_t type, const char *text, int code, const char *needle)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(feed_text(d, type, text, &err), -code);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), -code);
        uvm_error_free(err);
        agent_decoder_free(d);
}

static void round_trip_request(void **state)
{
        json_object *o = request_json("ctr-a");
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        struct uvm_error *err = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void) state;
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_EXECUTE_PROCESS),
                                                 0x1122334455667788ull, o, &buf, &len, &err),
                         0);
        assert_int_equal(buf[0], 0x01);
        assert_int_equal(buf[3], 0x10);
        assert_int_equal(buf[4] | buf[5] << 8, len);
        assert_int_equal(buf[8], 0x88);
        assert_int_equal(agent_decoder_feed(d, buf, len, &err), 0);
        assert_int_equal(agent_decoder_pop(d, &f, &err), 1);
        assert_int_equal(f->type, 0x10100501);
        assert_true(f->id == 0x1122334455667788ull);
        assert_string_equal(json_object_get_string(json_object_object_get(f->json, "ContainerId")),
                            "ctr-a");
        assert_int_equal(agent_decoder_pop(d, &f, &err), 0);
        assert_int_equal(agent_decoder_partial(d), 0);
        assert_null(err);
        free(buf);
        json_object_put(o);
        agent_decoder_free(d);
        agent_frame_free(f);
}

static void round_trip_all_classes(void **state)
{
        json_object *resp = json_object_new_object(), *note = request_json("c"),
                    *credit = json_object_new_object();
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t *b[4];
        size_t n[4];
        uint8_t data[300];

        (void) state;
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) i;
        json_object_object_add(resp, "Result", json_object_new_int(-2));
        json_object_object_add(resp, "ErrorMessage", json_object_new_string("no such thing"));
        json_object_object_add(credit, "Credit", json_object_new_int(4096));
        assert_int_equal(
                agent_frame_encode_json(RESP(AGENT_RPC_START), 1, resp, &b[0], &n[0], NULL), 0);
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_NOTIFY | AGENT_NOTIFY_CONTAINER, 0,
                                                 note, &b[1], &n[1], NULL),
                         0);
        assert_int_equal(agent_frame_encode_data(AGENT_CLASS_DATA | AGENT_DATA_WRITE, 9, data,
                                                 sizeof(data), &b[2], &n[2], NULL),
                         0);
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, 9, credit,
                                                 &b[3], &n[3], NULL),
                         0);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(agent_decoder_feed(d, b[i], n[i], NULL), 0);
                free(b[i]);
        }
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->type, 0x20100201);
        assert_int_equal(json_object_get_int(json_object_object_get(f->json, "Result")), -2);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->type, 0x30100101);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->len, sizeof(data));
        assert_null(f->json);
        assert_memory_equal(f->data, data, sizeof(data));
        assert_true(f->id == 9);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->credit, 4096);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 0);
        json_object_put(resp);
        json_object_put(note);
        json_object_put(credit);
        agent_decoder_free(d);
}

static void close_frame_has_no_payload(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t *buf = NULL, raw[32];
        size_t len;

        (void) state;
        assert_int_equal(agent_frame_encode_data(AGENT_CLASS_DATA | AGENT_DATA_CLOSE, 3, NULL, 0,
                                                 &buf, &len, NULL),
                         0);
        assert_int_equal(len, 16);
        assert_int_equal(agent_decoder_feed(d, buf, len, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->type, AGENT_CLASS_DATA | AGENT_DATA_CLOSE);
        assert_int_equal(f->len, 0);
        f = agent_frame_free(f);
        free(buf);
        agent_decoder_free(d);

        d = agent_decoder_new();
        len = raw_frame(raw, AGENT_CLASS_DATA | AGENT_DATA_CLOSE, 17, 3, "x", 1);
        assert_int_equal(agent_decoder_feed(d, raw, len, NULL), -EBADMSG);
        agent_decoder_free(d);
        assert_int_equal(agent_frame_encode_data(AGENT_CLASS_DATA | AGENT_DATA_CLOSE, 3, "x", 1,
                                                 &buf, &len, NULL),
                         -EMSGSIZE);
}

static void byte_by_byte(void **state)
{
        json_object *o = request_json("slow");
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void) state;
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_CREATE), 5, o, &buf, &len, NULL), 0);
        for (size_t i = 0; i < len; i++) {
                assert_int_equal(agent_decoder_pop(d, &f, NULL), 0);
                assert_int_equal(agent_decoder_partial(d), i);
                assert_int_equal(agent_decoder_feed(d, buf + i, 1, NULL), 0);
        }
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_string_equal(json_object_get_string(json_object_object_get(f->json, "ContainerId")),
                            "slow");
        assert_int_equal(agent_decoder_partial(d), 0);
        agent_frame_free(f);
        free(buf);
        json_object_put(o);
        agent_decoder_free(d);
}

static void two_frames_in_one_chunk_and_split(void **state)
{
        json_object *o = request_json("a");
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t *b1, *b2, both[512];
        size_t n1, n2;

        (void) state;
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_START), 1, o, &b1, &n1, NULL), 0);
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_DUMP_STACKS), 2, o, &b2, &n2, NULL),
                         0);
        assert_true(n1 + n2 <= sizeof(both));
        memcpy(both, b1, n1);
        memcpy(both + n1, b2, n2);
        /* First chunk: frame 1 and half of frame 2's header. */
        assert_int_equal(agent_decoder_feed(d, both, n1 + 7, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_true(f->id == 1);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 0);
        assert_int_equal(agent_decoder_partial(d), 7);
        assert_int_equal(agent_decoder_feed(d, both + n1 + 7, n2 - 7, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_true(f->id == 2);
        assert_int_equal(f->type, REQ(AGENT_RPC_DUMP_STACKS));
        f = agent_frame_free(f);

        /* Both whole in one chunk. */
        assert_int_equal(agent_decoder_feed(d, both, n1 + n2, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_true(f->id == 1);
        f = agent_frame_free(f);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_true(f->id == 2);
        f = agent_frame_free(f);
        free(b1);
        free(b2);
        json_object_put(o);
        agent_decoder_free(d);
}

static void truncated_header_waits(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t raw[16];

        (void) state;
        raw_frame(raw, REQ(AGENT_RPC_START), 100, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 10, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 0);
        assert_int_equal(agent_decoder_partial(d), 10);
        /* Header complete, payload missing: still waiting, 16 bytes held. */
        assert_int_equal(agent_decoder_feed(d, raw + 10, 6, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 0);
        assert_int_equal(agent_decoder_partial(d), 16);
        agent_decoder_free(d);
}

static void size_below_header(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct uvm_error *err = NULL;
        uint8_t raw[16];

        (void) state;
        raw_frame(raw, REQ(AGENT_RPC_START), 15, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, &err), -EBADMSG);
        assert_non_null(strstr(err->msg, "smaller than the 16-byte header"));
        uvm_error_free(err);
        agent_decoder_free(d);
}

static void oversize_json_and_data(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct uvm_error *err = NULL;
        uint8_t raw[16], *buf = NULL, *big;
        size_t len;

        (void) state;
        /* Rejected on the header alone: nothing is buffered for it. */
        raw_frame(raw, REQ(AGENT_RPC_CREATE), 16 + AGENT_MAX_JSON + 1, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, &err), -EMSGSIZE);
        assert_non_null(strstr(err->msg, "exceeds"));
        err = uvm_error_free(err);
        d = agent_decoder_free(d);

        d = agent_decoder_new();
        raw_frame(raw, AGENT_CLASS_DATA | AGENT_DATA_WRITE, 16 + AGENT_MAX_DATA + 1, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, NULL), -EMSGSIZE);
        d = agent_decoder_free(d);

        d = agent_decoder_new();
        raw_frame(raw, RESP(AGENT_RPC_CREATE), 0xffffffffu, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, NULL), -EMSGSIZE);
        d = agent_decoder_free(d);

        /* Exactly at the limit is fine; one more byte is refused by the encoder. */
        big = calloc(1, AGENT_MAX_DATA + 1);
        assert_non_null(big);
        assert_int_equal(
                agent_frame_encode_data(AGENT_CLASS_DATA, 1, big, AGENT_MAX_DATA, &buf, &len, NULL),
                0);
        d = agent_decoder_new();
        assert_int_equal(agent_decoder_feed(d, buf, len, NULL), 0);
        d = agent_decoder_free(d);
        free(buf);
        assert_int_equal(agent_frame_encode_data(AGENT_CLASS_DATA, 1, big, AGENT_MAX_DATA + 1, &buf,
                                                 &len, NULL),
                         -EMSGSIZE);
        free(big);
}

static void oversize_json_encode(void **state)
{
        json_object *o = request_json("x");
        char *s = malloc(AGENT_MAX_JSON);
        uint8_t *buf = NULL;
        size_t len;

        (void) state;
        assert_non_null(s);
        memset(s, 'a', AGENT_MAX_JSON - 1);
        s[AGENT_MAX_JSON - 1] = '\0';
        json_object_object_add(o, "Blob", json_object_new_string(s));
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_CREATE), 1, o, &buf, &len, NULL),
                         -EMSGSIZE);
        assert_null(buf);
        free(s);
        json_object_put(o);
}

static void malformed_json(void **state)
{
        (void) state;
        expect_reject(REQ(AGENT_RPC_CREATE), "{\"ContainerId\":", EBADMSG, "not valid JSON");
        expect_reject(REQ(AGENT_RPC_CREATE), "{'ContainerId':'a'}", EBADMSG, "not valid JSON");
        expect_reject(REQ(AGENT_RPC_CREATE), "", EBADMSG, "not valid JSON");
        expect_reject(REQ(AGENT_RPC_CREATE), "[1,2]", EBADMSG, "not a JSON object");
        expect_reject(RESP(AGENT_RPC_CREATE), "\"Result\"", EBADMSG, "not a JSON object");
        expect_reject(REQ(AGENT_RPC_CREATE), "{\"ContainerId\":\"a\",\"ActivityId\":\"b\"}x",
                      EBADMSG, "trailing garbage");
        expect_reject(REQ(AGENT_RPC_CREATE), "{\"ContainerId\":\"a\",\"ActivityId\":\"b\"}{}",
                      EBADMSG, "trailing garbage");
}

static void trailing_whitespace_and_nul(void **state)
{
        const char ok[] = "{\"ContainerId\":\"a\",\"ActivityId\":\"b\"} \n";
        const char nul[] = "{\"ContainerId\":\"a\",\"ActivityId\":\"b\"}\0";
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        uint8_t raw[128];
        size_t len;

        (void) state;
        assert_int_equal(feed_text(d, REQ(AGENT_RPC_START), ok, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        f = agent_frame_free(f);
        agent_decoder_free(d);

        d = agent_decoder_new();
        len = raw_frame(raw, REQ(AGENT_RPC_START), 16 + sizeof(nul), 1, nul, sizeof(nul));
        assert_int_equal(agent_decoder_feed(d, raw, len, NULL), -EBADMSG);
        agent_decoder_free(d);
}

static void unknown_class_and_rpc(void **state)
{
        const char body[] = "{\"ContainerId\":\"a\",\"ActivityId\":\"b\"}";

        (void) state;
        expect_reject(0x50000000u | AGENT_RPC_CREATE, body, EBADMSG, "unknown type 0x50100101");
        expect_reject(0x00000000u | AGENT_RPC_CREATE, body, EBADMSG, "unknown type");
        expect_reject(AGENT_CLASS_REQUEST | AGENT_RPC(16), body, EBADMSG, "unknown type");
        expect_reject(AGENT_CLASS_REQUEST | AGENT_RPC(0), body, EBADMSG, "unknown type");
        expect_reject(AGENT_CLASS_REQUEST | 0x00100102u, body, EBADMSG, "unknown type");
        expect_reject(AGENT_CLASS_NOTIFY | AGENT_RPC(2), body, EBADMSG, "unknown type");
        expect_reject(AGENT_CLASS_DATA | 3u, "", EBADMSG, "unknown type");
}

static void bad_fields(void **state)
{
        (void) state;
        expect_reject(REQ(AGENT_RPC_START), "{\"ActivityId\":\"b\"}", EBADMSG,
                      "missing \"ContainerId\"");
        expect_reject(REQ(AGENT_RPC_START), "{\"ContainerId\":5,\"ActivityId\":\"b\"}", EBADMSG,
                      "\"ContainerId\" is not a string");
        expect_reject(REQ(AGENT_RPC_START), "{\"ContainerId\":\"a\"}", EBADMSG,
                      "missing \"ActivityId\"");
        expect_reject(REQ(AGENT_RPC_START), "{\"ContainerId\":\"a\\u0000b\",\"ActivityId\":\"b\"}",
                      EBADMSG, "contains a NUL");
        expect_reject(RESP(AGENT_RPC_START), "{}", EBADMSG, "missing \"Result\"");
        expect_reject(RESP(AGENT_RPC_START), "{\"Result\":\"0\"}", EBADMSG,
                      "\"Result\" is not an integer");
        expect_reject(RESP(AGENT_RPC_START), "{\"Result\":0.5}", EBADMSG,
                      "\"Result\" is not an integer");
        expect_reject(RESP(AGENT_RPC_START), "{\"Result\":1}", EBADMSG, "negative errno");
        expect_reject(RESP(AGENT_RPC_START), "{\"Result\":-99999}", EBADMSG, "negative errno");
        expect_reject(RESP(AGENT_RPC_START), "{\"Result\":0,\"ErrorMessage\":3}", EBADMSG,
                      "\"ErrorMessage\" is not a string");
        expect_reject(AGENT_CLASS_NOTIFY | AGENT_NOTIFY_CONTAINER, "{\"ContainerId\":null}",
                      EBADMSG, "not a string");
        expect_reject(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, "{\"Credit\":0}", EBADMSG, "outside");
        expect_reject(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, "{\"Credit\":262145}", EBADMSG,
                      "exceeds the 262144-byte window");
        expect_reject(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, "{\"Credit\":1048577}", EBADMSG,
                      "outside");
        expect_reject(AGENT_CLASS_DATA | AGENT_DATA_CREDIT, "{\"Credit\":\"1\"}", EBADMSG,
                      "not an integer");
}

static void long_container_id(void **state)
{
        char text[600];
        char id[AGENT_MAX_ID_LEN + 2];

        (void) state;
        memset(id, 'x', AGENT_MAX_ID_LEN + 1);
        id[AGENT_MAX_ID_LEN + 1] = '\0';
        snprintf(text, sizeof(text), "{\"ContainerId\":\"%s\",\"ActivityId\":\"b\"}", id);
        expect_reject(REQ(AGENT_RPC_START), text, EBADMSG, "longer than");
}

static void error_is_sticky(void **state)
{
        json_object *o = request_json("good");
        struct agent_decoder *d = agent_decoder_new();
        struct agent_frame *f = NULL;
        struct uvm_error *err = NULL;
        uint8_t raw[16], *buf = NULL;
        size_t len;

        (void) state;
        raw_frame(raw, 0x70000000u, 16, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, &err), -EBADMSG);
        err = uvm_error_free(err);
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_START), 2, o, &buf, &len, NULL), 0);
        assert_int_equal(agent_decoder_feed(d, buf, len, &err), -EBADMSG);
        assert_non_null(strstr(err->msg, "failed earlier"));
        assert_non_null(strstr(err->msg, "unknown type 0x70000000"));
        err = uvm_error_free(err);
        assert_int_equal(agent_decoder_pop(d, &f, &err), -EBADMSG);
        assert_null(f);
        uvm_error_free(err);
        free(buf);
        json_object_put(o);
        agent_decoder_free(d);

        /* An oversize error stays -EMSGSIZE. */
        d = agent_decoder_new();
        raw_frame(raw, REQ(AGENT_RPC_START), 0x7fffffff, 1, NULL, 0);
        assert_int_equal(agent_decoder_feed(d, raw, 16, NULL), -EMSGSIZE);
        assert_int_equal(agent_decoder_feed(d, raw, 1, NULL), -EMSGSIZE);
        agent_decoder_free(d);
}

static void encoder_refuses_bad_input(void **state)
{
        json_object *arr = json_object_new_array(), *o = json_object_new_object();
        uint8_t *buf = NULL;
        size_t len;

        (void) state;
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_START), 1, arr, &buf, &len, NULL),
                         -EBADMSG);
        assert_int_equal(agent_frame_encode_json(REQ(AGENT_RPC_START), 1, o, &buf, &len, NULL),
                         -EBADMSG);
        assert_int_equal(agent_frame_encode_json(0x50000000u, 1, o, &buf, &len, NULL), -EINVAL);
        assert_int_equal(agent_frame_encode_json(AGENT_CLASS_DATA, 1, o, &buf, &len, NULL),
                         -EINVAL);
        assert_int_equal(agent_frame_encode_data(REQ(AGENT_RPC_START), 1, "x", 1, &buf, &len, NULL),
                         -EINVAL);
        assert_null(buf);
        json_object_put(arr);
        json_object_put(o);
}

static void rpc_names(void **state)
{
        (void) state;
        assert_string_equal(agent_rpc_name(AGENT_RPC_CREATE), "Create");
        assert_string_equal(agent_rpc_name(REQ(AGENT_RPC_WAIT_FOR_PROCESS)), "WaitForProcess");
        assert_string_equal(agent_rpc_name(RESP(AGENT_RPC_LIFECYCLE_NOTIFICATION)),
                            "LifecycleNotification");
        assert_string_equal(agent_rpc_name(0x30100101u), "ContainerNotification");
        assert_string_equal(agent_rpc_name(AGENT_CLASS_DATA | AGENT_DATA_CREDIT), "Credit");
        assert_string_equal(agent_rpc_name(AGENT_RPC(16)), "Unknown");
        assert_string_equal(agent_rpc_name(0x80100101u), "Unknown");
        assert_int_equal(AGENT_RPC_NEGOTIATE_PROTOCOL, 0x00100b01);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(round_trip_request),
                cmocka_unit_test(round_trip_all_classes),
                cmocka_unit_test(close_frame_has_no_payload),
                cmocka_unit_test(byte_by_byte),
                cmocka_unit_test(two_frames_in_one_chunk_and_split),
                cmocka_unit_test(truncated_header_waits),
                cmocka_unit_test(size_below_header),
                cmocka_unit_test(oversize_json_and_data),
                cmocka_unit_test(oversize_json_encode),
                cmocka_unit_test(malformed_json),
                cmocka_unit_test(trailing_whitespace_and_nul),
                cmocka_unit_test(unknown_class_and_rpc),
                cmocka_unit_test(bad_fields),
                cmocka_unit_test(long_container_id),
                cmocka_unit_test(error_is_sticky),
                cmocka_unit_test(encoder_refuses_bad_input),
                cmocka_unit_test(rpc_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
