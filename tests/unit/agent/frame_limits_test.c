/* The decoder's negotiated limits (frame.h): data frames and credits are
 * bounded by the limits set, no more and no less; feeding a frame at a time;
 * reading a data payload in place; the BridgeLimits JSON object. */

#include <errno.h>
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

#define BULK ((struct agent_limits){AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW})

static void header(uint8_t *out, uint32_t type, uint32_t size, uint64_t id)
{
        for (int i = 0; i < 4; i++) {
                out[i] = (uint8_t) (type >> (8 * i));
                out[4 + i] = (uint8_t) (size >> (8 * i));
        }
        for (int i = 0; i < 8; i++)
                out[8 + i] = (uint8_t) (id >> (8 * i));
}

/* A data-write frame of len pattern bytes in a fresh buffer. */
static uint8_t *data_frame(uint64_t id, size_t len)
{
        uint8_t *b = malloc(AGENT_HEADER_SIZE + len);

        assert_non_null(b);
        header(b, AGENT_CLASS_DATA | AGENT_DATA_WRITE, (uint32_t) (AGENT_HEADER_SIZE + len), id);
        for (size_t i = 0; i < len; i++)
                b[AGENT_HEADER_SIZE + i] = (uint8_t) (i * 7 + 1);
        return b;
}

/* Feed a data frame of len bytes; the decoder's result. */
static int feed_data(struct agent_decoder *d, size_t len, struct uvm_error **err)
{
        uint8_t *b = data_frame(1, len);
        int r = agent_decoder_feed(d, b, AGENT_HEADER_SIZE + len, err);

        free(b);
        return r;
}

static int feed_credit(struct agent_decoder *d, uint32_t credit, struct uvm_error **err)
{
        char text[64];
        uint8_t buf[96];
        size_t n = (size_t) snprintf(text, sizeof(text), "{\"Credit\":%u}", credit);

        header(buf, AGENT_CLASS_DATA | AGENT_DATA_CREDIT, (uint32_t) (AGENT_HEADER_SIZE + n), 1);
        memcpy(buf + AGENT_HEADER_SIZE, text, n);
        return agent_decoder_feed(d, buf, AGENT_HEADER_SIZE + n, err);
}

static void expect_err(int r, struct uvm_error **errp, int code, const char *needle)
{
        assert_int_equal(r, -code);
        assert_non_null(*errp);
        if (!strstr((*errp)->msg, needle))
                fail_msg("\"%s\" lacks \"%s\"", (*errp)->msg, needle);
        *errp = uvm_error_free(*errp);
}

static void pop_len(struct agent_decoder *d, size_t want)
{
        struct agent_frame *f = NULL;

        assert_int_equal(agent_decoder_pop(d, &f, NULL), 1);
        assert_int_equal(f->len, want);
        for (size_t i = 0; i < want; i += 4093)
                assert_int_equal(f->data[i], (uint8_t) (i * 7 + 1));
        agent_frame_free(f);
}

/* Without limits set, the defaults hold; a frame one byte over is an error. */
static void default_limits_are_strict(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(feed_data(d, AGENT_MAX_DATA, NULL), 0);
        pop_len(d, AGENT_MAX_DATA);
        assert_int_equal(feed_credit(d, AGENT_STREAM_WINDOW, NULL), 0);
        agent_decoder_free(d);

        d = agent_decoder_new();
        expect_err(feed_data(d, AGENT_MAX_DATA + 1, &err), &err, EMSGSIZE, "65536-byte limit");
        agent_decoder_free(d);
        d = agent_decoder_new();
        expect_err(feed_credit(d, AGENT_STREAM_WINDOW + 1, &err), &err, EBADMSG,
                   "exceeds the 262144-byte window");
        agent_decoder_free(d);
}

/* Bulk limits: frames up to AGENT_BULK_MAX_DATA and credits up to the window
 * pass; one byte more is still an error. */
static void bulk_limits_are_strict(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(agent_decoder_set_limits(d, BULK), 0);
        assert_int_equal(feed_data(d, AGENT_BULK_MAX_DATA, NULL), 0);
        pop_len(d, AGENT_BULK_MAX_DATA);
        assert_int_equal(feed_credit(d, AGENT_BULK_WINDOW, NULL), 0);
        expect_err(feed_data(d, AGENT_BULK_MAX_DATA + 1, &err), &err, EMSGSIZE,
                   "262144-byte limit");
        agent_decoder_free(d);

        d = agent_decoder_new();
        assert_int_equal(agent_decoder_set_limits(d, BULK), 0);
        expect_err(feed_credit(d, AGENT_BULK_WINDOW + 1, &err), &err, EBADMSG, "outside");
        agent_decoder_free(d);

        /* Limits in between are enforced as set. */
        d = agent_decoder_new();
        assert_int_equal(agent_decoder_set_limits(d, (struct agent_limits){100000, 300000}), 0);
        assert_int_equal(feed_data(d, 100000, NULL), 0);
        pop_len(d, 100000);
        expect_err(feed_data(d, 100001, &err), &err, EMSGSIZE, "100000-byte limit");
        agent_decoder_free(d);
}

static void set_limits_refuses_bad_values(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        static const struct agent_limits bad[] = {
                {AGENT_MAX_DATA - 1, AGENT_STREAM_WINDOW},
                {AGENT_MAX_DATA, AGENT_STREAM_WINDOW - 1},
                {AGENT_BULK_MAX_DATA + 1, AGENT_BULK_WINDOW},
                {AGENT_BULK_MAX_DATA, AGENT_BULK_WINDOW + 1},
                {0, 0},
        };
        struct uvm_error *err = NULL;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_false(agent_limits_valid(bad[i]));
                assert_int_equal(agent_decoder_set_limits(d, bad[i]), -EINVAL);
        }
        assert_true(agent_limits_valid(AGENT_LIMITS_DEFAULT));
        assert_true(agent_limits_valid(BULK));
        /* Refused values left the defaults in place. */
        expect_err(feed_data(d, AGENT_MAX_DATA + 1, &err), &err, EMSGSIZE, "65536-byte limit");
        agent_decoder_free(d);
}

/* feed_some stops after each frame, so limits set between two frames of one
 * chunk apply to the second. */
static void feed_some_stops_at_each_frame(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        size_t big = AGENT_MAX_DATA + 1000, len = 2 * AGENT_HEADER_SIZE + 10 + big, used = 0;
        uint8_t *a = data_frame(1, 10), *b = data_frame(2, big), *buf = malloc(len);
        struct uvm_error *err = NULL;

        (void) state;
        assert_non_null(buf);
        memcpy(buf, a, AGENT_HEADER_SIZE + 10);
        memcpy(buf + AGENT_HEADER_SIZE + 10, b, AGENT_HEADER_SIZE + big);
        assert_int_equal(agent_decoder_feed_some(d, buf, len, &used, NULL), 0);
        assert_int_equal(used, AGENT_HEADER_SIZE + 10);
        pop_len(d, 10);
        assert_int_equal(agent_decoder_set_limits(d, BULK), 0);
        assert_int_equal(agent_decoder_feed_some(d, buf + used, len - used, &used, NULL), 0);
        assert_int_equal(used, AGENT_HEADER_SIZE + big);
        pop_len(d, big);
        assert_int_equal(agent_decoder_partial(d), 0);
        agent_decoder_free(d);

        /* Without the limits raised in between, the second frame is refused. */
        d = agent_decoder_new();
        assert_int_equal(agent_decoder_feed_some(d, buf, len, &used, NULL), 0);
        expect_err(agent_decoder_feed_some(d, buf + used, len - used, &used, &err), &err, EMSGSIZE,
                   "65536-byte limit");
        agent_decoder_free(d);
        free(a);
        free(b);
        free(buf);
}

/* A data payload read in place, in pieces, then the next frame fed. */
static void payload_in_place(void **state)
{
        struct agent_decoder *d = agent_decoder_new();
        size_t len = 5000, want = 0;
        uint8_t *b = data_frame(3, len), *p;
        struct uvm_error *err = NULL;

        (void) state;
        assert_null(agent_decoder_payload_space(d, &want)); /* no header yet */
        assert_int_equal(agent_decoder_feed(d, b, AGENT_HEADER_SIZE + 100, NULL), 0);
        p = agent_decoder_payload_space(d, &want);
        assert_non_null(p);
        assert_int_equal(want, len - 100);
        memcpy(p, b + AGENT_HEADER_SIZE + 100, 1000);
        assert_int_equal(agent_decoder_commit(d, 1000, NULL), 0);
        assert_int_equal(agent_decoder_pop(d, &(struct agent_frame *){NULL}, NULL), 0);
        p = agent_decoder_payload_space(d, &want);
        assert_int_equal(want, len - 1100);
        /* More than is missing is refused. */
        expect_err(agent_decoder_commit(d, want + 1, &err), &err, EINVAL, "room for");
        memcpy(p, b + AGENT_HEADER_SIZE + 1100, want);
        assert_int_equal(agent_decoder_commit(d, want, NULL), 0);
        pop_len(d, len);
        assert_null(agent_decoder_payload_space(d, &want));
        assert_int_equal(want, 0);
        assert_int_equal(feed_data(d, 10, NULL), 0);
        pop_len(d, 10);
        agent_decoder_free(d);
        free(b);

        /* JSON payloads are never read in place. */
        d = agent_decoder_new();
        {
                uint8_t h[AGENT_HEADER_SIZE];

                header(h, AGENT_CLASS_DATA | AGENT_DATA_CREDIT, AGENT_HEADER_SIZE + 12, 1);
                assert_int_equal(agent_decoder_feed(d, h, sizeof(h), NULL), 0);
                assert_null(agent_decoder_payload_space(d, &want));
        }
        agent_decoder_free(d);
}

static void limits_json(void **state)
{
        struct agent_limits l = {0};
        struct uvm_error *err = NULL;
        json_object *o = agent_limits_to_json(BULK), *bad;

        (void) state;
        assert_int_equal(agent_limits_from_json(o, "test", &l, NULL), 0);
        assert_int_equal(l.max_data, AGENT_BULK_MAX_DATA);
        assert_int_equal(l.window, AGENT_BULK_WINDOW);
        json_object_put(o);

        /* Larger than we know parses (a newer peer); smaller than the
         * defaults, strings, missing fields do not. */
        o = json_tokener_parse("{\"MaxData\":4194304,\"Window\":16777216}");
        assert_int_equal(agent_limits_from_json(o, "test", &l, NULL), 0);
        assert_int_equal(l.max_data, 4194304);
        json_object_put(o);
        static const char *const texts[] = {
                "{\"MaxData\":65535,\"Window\":262144}",     "{\"MaxData\":65536,\"Window\":1}",
                "{\"MaxData\":\"65536\",\"Window\":262144}", "{\"Window\":262144}",
                "{\"MaxData\":65536,\"Window\":4294967296}", "[]",
        };
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                bad = json_tokener_parse(texts[i]);
                assert_non_null(bad);
                expect_err(agent_limits_from_json(bad, "test", &l, &err), &err, EBADMSG, "test");
                json_object_put(bad);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(default_limits_are_strict),
                cmocka_unit_test(bulk_limits_are_strict),
                cmocka_unit_test(set_limits_refuses_bad_values),
                cmocka_unit_test(feed_some_stops_at_each_frame),
                cmocka_unit_test(payload_in_place),
                cmocka_unit_test(limits_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
