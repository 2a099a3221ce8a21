/* HTTP request heads (whole, byte by byte, every rejection), header and list
 * lookups, percent-decoding, query parameters and response formatting. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/http.h"

#define UPGRADE_HEAD                                                                               \
        "GET /exec/abc?command=sh&command=-c&stdin=1&tty=true HTTP/1.1\r\n"                        \
        "Host: node:10250\r\n"                                                                     \
        "Connection: keep-alive, Upgrade\r\n"                                                      \
        "Upgrade: websocket\r\n"                                                                   \
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"                                         \
        "x-stream-protocol-version:  v3.channel.k8s.io ,, v2.channel.k8s.io\t\r\n"                 \
        "Empty:\r\n"                                                                               \
        "\r\n"

/* Feed text in one piece; returns the result, *used the bytes taken. */
static int feed_all(struct http_parser *p, const char *text, size_t len, size_t *used,
                    struct uvm_error **err)
{
        return http_parser_feed(p, text, len, used, err);
}

/* Expect text to be refused with code and a message containing needle. */
static void expect_reject(const char *text, int code, const char *needle)
{
        struct http_parser *p = http_parser_new();
        struct uvm_error *err = NULL;
        size_t used = 0;

        assert_non_null(p);
        assert_int_equal(feed_all(p, text, strlen(text), &used, &err), code);
        assert_non_null(err);
        if (needle && !strstr(err->msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
        uvm_error_free(err);
        err = NULL;
        /* Sticky. */
        assert_int_equal(http_parser_feed(p, "x", 1, &used, &err), code);
        uvm_error_free(err);
        http_parser_free(p);
}

static void check_upgrade_request(const struct http_request *req)
{
        struct http_list_iter it = {0};
        const char *elem;
        size_t len, iter = 0;

        assert_string_equal(req->method, "GET");
        assert_string_equal(req->path, "/exec/abc");
        assert_string_equal(req->query, "command=sh&command=-c&stdin=1&tty=true");
        assert_int_equal(req->n_headers, 6);
        assert_string_equal(http_header_get(req, "HOST"), "node:10250");
        assert_string_equal(http_header_get(req, "empty"), "");
        assert_null(http_header_get(req, "Missing"));
        assert_string_equal(http_header_next(req, "X-Stream-Protocol-Version", &iter),
                            "v4.channel.k8s.io");
        assert_string_equal(http_header_next(req, "X-Stream-Protocol-Version", &iter),
                            "v3.channel.k8s.io ,, v2.channel.k8s.io");
        assert_null(http_header_next(req, "X-Stream-Protocol-Version", &iter));

        const char *want[] = {"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"};
        for (size_t i = 0; i < 3; i++) {
                assert_true(http_list_next(req, "x-stream-protocol-version", &it, &elem, &len));
                assert_int_equal(len, strlen(want[i]));
                assert_memory_equal(elem, want[i], len);
        }
        assert_false(http_list_next(req, "x-stream-protocol-version", &it, &elem, &len));
        assert_true(http_list_has_token(req, "Connection", "upgrade"));
        assert_true(http_list_has_token(req, "connection", "KEEP-ALIVE"));
        assert_false(http_list_has_token(req, "Connection", "close"));
        assert_false(http_list_has_token(req, "Connection", "upgrad"));
        assert_false(http_list_has_token(req, "Empty", ""));
}

static void whole_head_and_leftover(void **state)
{
        const char text[] = UPGRADE_HEAD "\x81\x85rest";
        struct http_parser *p = http_parser_new();
        size_t used = 0;

        assert_null(http_parser_request(p));
        assert_int_equal(feed_all(p, text, sizeof(text) - 1, &used, NULL), 1);
        assert_int_equal(used, strlen(UPGRADE_HEAD));
        check_upgrade_request(http_parser_request(p));
        /* Feeding a complete parser is a caller bug, refused. */
        assert_int_equal(http_parser_feed(p, "x", 1, &used, NULL), -EINVAL);
        http_parser_free(p);
}

static void byte_by_byte(void **state)
{
        const char text[] = UPGRADE_HEAD "tail";
        size_t head = strlen(UPGRADE_HEAD), used;
        struct http_parser *p = http_parser_new();

        for (size_t i = 0; i + 1 < head; i++) {
                assert_int_equal(http_parser_feed(p, text + i, 1, &used, NULL), 0);
                assert_int_equal(used, 1);
        }
        /* The last byte of the head together with what follows. */
        assert_int_equal(http_parser_feed(p, text + head - 1, 5, &used, NULL), 1);
        assert_int_equal(used, 1);
        check_upgrade_request(http_parser_request(p));
        http_parser_free(p);
}

static void split_everywhere(void **state)
{
        size_t head = strlen(UPGRADE_HEAD);

        for (size_t cut = 0; cut <= head; cut++) {
                struct http_parser *p = http_parser_new();
                size_t used = 0;
                int r = http_parser_feed(p, UPGRADE_HEAD, cut, &used, NULL);

                assert_int_equal(r, cut == head ? 1 : 0);
                if (cut < head) {
                        assert_int_equal(
                                http_parser_feed(p, UPGRADE_HEAD + cut, head - cut, &used, NULL),
                                1);
                        assert_int_equal(used, head - cut);
                }
                check_upgrade_request(http_parser_request(p));
                http_parser_free(p);
        }
}

static void leading_empty_lines_and_no_query(void **state)
{
        const char text[] = "\r\n\r\nPOST /portforward/t%2F HTTP/1.1\r\nHost: h\r\n\r\n";
        struct http_parser *p = http_parser_new();
        const struct http_request *req;
        size_t used;

        assert_int_equal(http_parser_feed(p, text, sizeof(text) - 1, &used, NULL), 1);
        assert_int_equal(used, sizeof(text) - 1);
        req = http_parser_request(p);
        assert_string_equal(req->method, "POST");
        assert_string_equal(req->path, "/portforward/t%2F");
        assert_null(req->query);
        http_parser_free(p);

        /* "?" alone: an empty query, not an absent one. */
        p = http_parser_new();
        assert_int_equal(feed_all(p, "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", 29, &used, NULL), 1);
        assert_string_equal(http_parser_request(p)->query, "");
        http_parser_free(p);
}

static void rejections(void **state)
{
        expect_reject("GET / HTTP/1.1\nHost: h\r\n\r\n", -EBADMSG, "bare CR or LF");
        expect_reject("GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", -EBADMSG, "bare CR or LF");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\n\n", -EBADMSG, "bare CR or LF");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\nA: \x01\r\n\r\n", -EBADMSG, "bad byte");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\nA: \x7f\r\n\r\n", -EBADMSG, "bad byte");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", -EBADMSG, "folding");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\nA : b\r\n\r\n", -EBADMSG, "field name");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n", -EBADMSG, "field name");
        expect_reject("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", -EBADMSG, "field name");
        expect_reject("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "method");
        expect_reject(" / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "method");
        expect_reject("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "request-target");
        expect_reject("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "request-target");
        expect_reject("GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "request-target");
        expect_reject("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "request-target");
        expect_reject("GET / HTTP/1.0\r\nHost: h\r\n\r\n", -EPROTONOSUPPORT, "HTTP/1.0");
        expect_reject("GET / HTTP/2.0\r\nHost: h\r\n\r\n", -EPROTONOSUPPORT, "HTTP/2.0");
        expect_reject("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -EBADMSG, "version");
        expect_reject("GET / http/1.1\r\nHost: h\r\n\r\n", -EBADMSG, "version");
        expect_reject("GET /\r\nHost: h\r\n\r\n", -EBADMSG, "request-target");
        expect_reject("GET / HTTP/1.1\r\n\r\n", -EBADMSG, "0 Host");
        expect_reject("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", -EBADMSG, "2 Host");

        /* A NUL anywhere in the head. */
        struct http_parser *p = http_parser_new();
        size_t used;

        assert_int_equal(http_parser_feed(p, "GET /\0 HTTP/1.1\r\n", 17, &used, NULL), -EBADMSG);
        http_parser_free(p);
}

static void bounds(void **state)
{
        char *text = malloc(HTTP_MAX_HEAD + 64);
        struct http_parser *p;
        size_t n, used;

        /* Exactly HTTP_MAX_HEAD bytes, padded by one long header: accepted. */
        n = (size_t) sprintf(text, "GET / HTTP/1.1\r\nHost: h\r\nPad: ");
        memset(text + n, 'x', HTTP_MAX_HEAD - n - 4);
        memcpy(text + HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
        p = http_parser_new();
        assert_int_equal(http_parser_feed(p, text, HTTP_MAX_HEAD, &used, NULL), 1);
        assert_int_equal(used, HTTP_MAX_HEAD);
        http_parser_free(p);

        /* One byte more: refused before the end is seen, whatever comes next. */
        memmove(text + n + 1, text + n, HTTP_MAX_HEAD - n);
        p = http_parser_new();
        assert_int_equal(http_parser_feed(p, text, HTTP_MAX_HEAD + 1, &used, NULL), -EMSGSIZE);
        http_parser_free(p);
        assert_int_equal(http_status_of_error(-EMSGSIZE), 431);
        assert_int_equal(http_status_of_error(-EPROTONOSUPPORT), 505);
        assert_int_equal(http_status_of_error(-EBADMSG), 400);

        /* HTTP_MAX_HEADERS fields pass, one more does not. */
        for (size_t extra = 0; extra < 2; extra++) {
                struct uvm_error *err = NULL;

                n = (size_t) sprintf(text, "GET / HTTP/1.1\r\n");
                for (size_t i = 0; i < HTTP_MAX_HEADERS + extra; i++)
                        n += (size_t) sprintf(text + n, i ? "H%zu: v\r\n" : "Host: h\r\n", i);
                n += (size_t) sprintf(text + n, "\r\n");
                p = http_parser_new();
                assert_int_equal(http_parser_feed(p, text, n, &used, &err), extra ? -EMSGSIZE : 1);
                if (extra)
                        assert_non_null(strstr(err->msg, "header fields"));
                else
                        assert_int_equal(http_parser_request(p)->n_headers, HTTP_MAX_HEADERS);
                uvm_error_free(err);
                http_parser_free(p);
        }

        /* Endless empty lines before a request count against the bound too. */
        p = http_parser_new();
        for (n = 0; n < HTTP_MAX_HEAD + 2; n += 2)
                memcpy(text + n, "\r\n", 2);
        assert_int_equal(http_parser_feed(p, text, HTTP_MAX_HEAD + 2, &used, NULL), -EMSGSIZE);
        http_parser_free(p);
        free(text);
}

static void percent_decoding(void **state)
{
        struct uvm_error *err = NULL;
        char *out = NULL;

        assert_int_equal(http_percent_decode("a%20b+c%2B%e2%82%AC", 19, true, &out, NULL), 0);
        assert_string_equal(out, "a b c+\xe2\x82\xac");
        free(out);
        assert_int_equal(http_percent_decode("a+b", 3, false, &out, NULL), 0);
        assert_string_equal(out, "a+b");
        free(out);
        assert_int_equal(http_percent_decode("abc", 2, false, &out, NULL), 0);
        assert_string_equal(out, "ab");
        free(out);
        assert_int_equal(http_percent_decode("", 0, false, &out, NULL), 0);
        assert_string_equal(out, "");
        free(out);
        out = NULL;
        assert_int_equal(http_percent_decode("%2", 2, false, &out, &err), -EBADMSG);
        assert_null(out);
        err = uvm_error_free(err);
        assert_int_equal(http_percent_decode("%", 1, false, &out, NULL), -EBADMSG);
        assert_int_equal(http_percent_decode("%g0", 3, false, &out, NULL), -EBADMSG);
        assert_int_equal(http_percent_decode("%0g", 3, false, &out, NULL), -EBADMSG);
        assert_int_equal(http_percent_decode("a%00", 4, false, &out, &err), -EBADMSG);
        assert_non_null(strstr(err->msg, "NUL"));
        uvm_error_free(err);
        /* "%2" at the end of the given length, though more follows in memory. */
        assert_int_equal(http_percent_decode("%20", 2, false, &out, NULL), -EBADMSG);
        assert_null(out);
}

static void query_parameters(void **state)
{
        const char *q = "command=sh&command=-c&command=echo+%22hi%22&stdin=1&&tty=true&port=80"
                        "&port=443&flag&c%6Fmmand=x&empty=";
        char *v = NULL, **all = NULL;

        assert_int_equal(http_query_get(q, "command", 0, &v, NULL), 1);
        assert_string_equal(v, "sh");
        free(v);
        assert_int_equal(http_query_get(q, "command", 2, &v, NULL), 1);
        assert_string_equal(v, "echo \"hi\"");
        free(v);
        /* An encoded key matches its decoded form. */
        assert_int_equal(http_query_get(q, "command", 3, &v, NULL), 1);
        assert_string_equal(v, "x");
        free(v);
        v = NULL;
        assert_int_equal(http_query_get(q, "command", 4, &v, NULL), 0);
        assert_null(v);
        assert_int_equal(http_query_get(q, "flag", 0, &v, NULL), 1);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(http_query_get(q, "empty", 0, &v, NULL), 1);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(http_query_get(q, "tty", 0, &v, NULL), 1);
        assert_string_equal(v, "true");
        free(v);
        v = NULL;
        assert_int_equal(http_query_get(q, "Stdin", 0, &v, NULL), 0);
        assert_int_equal(http_query_get(NULL, "stdin", 0, &v, NULL), 0);
        assert_null(v);

        assert_int_equal(http_query_get_all(q, "port", &all, NULL), 2);
        assert_string_equal(all[0], "80");
        assert_string_equal(all[1], "443");
        assert_null(all[2]);
        strv_free(all);
        assert_int_equal(http_query_get_all(q, "nothing", &all, NULL), 0);
        assert_null(all[0]);
        strv_free(all);
        all = NULL;
        assert_int_equal(http_query_get_all("a=1&b=%zz", "a", &all, NULL), -EBADMSG);
        assert_null(all);
        assert_int_equal(http_query_get("a=%", "a", 0, &v, NULL), -EBADMSG);
        assert_int_equal(http_query_get("%=1", "a", 0, &v, NULL), -EBADMSG);
}

static void responses(void **state)
{
        const struct http_header h101[] = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
        char buf[256];
        size_t len = 0;
        struct uvm_error *err = NULL;

        assert_int_equal(http_format_response(101, h101, 2, NULL, 0, buf, sizeof(buf), &len, NULL),
                         0);
        assert_int_equal(len, strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n\r\n"));
        assert_memory_equal(buf,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\n\r\n",
                            len);

        assert_int_equal(http_format_error(404, "token not found", buf, sizeof(buf), &len, NULL),
                         0);
        const char want404[] = "HTTP/1.1 404 Not Found\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Connection: close\r\n"
                               "Content-Length: 16\r\n\r\n"
                               "token not found\n";
        assert_int_equal(len, sizeof(want404) - 1);
        assert_memory_equal(buf, want404, len);

        assert_int_equal(http_format_response(400, NULL, 0, NULL, 0, buf, sizeof(buf), &len, NULL),
                         0);
        assert_memory_equal(buf, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", len);
        assert_int_equal(http_format_response(204, NULL, 0, NULL, 0, buf, sizeof(buf), &len, NULL),
                         0);
        assert_memory_equal(buf, "HTTP/1.1 204 No Content\r\n\r\n", len);
        assert_int_equal(http_format_response(299, NULL, 0, "x", 1, buf, sizeof(buf), &len, NULL),
                         0);
        assert_memory_equal(buf, "HTTP/1.1 299 Unknown\r\nContent-Length: 1\r\n\r\nx", len);

        /* Too small a buffer, at every size short of the response. */
        for (size_t size = 0; size < sizeof(want404) - 1; size++) {
                assert_int_equal(http_format_error(404, "token not found", buf, size, &len, &err),
                                 -ENOSPC);
                err = uvm_error_free(err);
        }
        /* Nothing from a caller may split the response. */
        const struct http_header bad[][1] = {
                {{"X-A", "v\r\nSet-Cookie: x"}},
                {{"X A", "v"}},
                {{"", "v"}},
                {{"X-A", NULL}},
                {{"X-A", "\x01"}},
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(
                        http_format_response(200, bad[i], 1, NULL, 0, buf, sizeof(buf), &len, NULL),
                        -EINVAL);
        assert_int_equal(http_format_response(99, NULL, 0, NULL, 0, buf, sizeof(buf), &len, NULL),
                         -EINVAL);
        assert_int_equal(http_format_response(101, NULL, 0, "x", 1, buf, sizeof(buf), &len, NULL),
                         -EINVAL);
        assert_string_equal(http_reason_phrase(431), "Request Header Fields Too Large");
        assert_string_equal(http_reason_phrase(426), "Upgrade Required");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(whole_head_and_leftover),
                cmocka_unit_test(byte_by_byte),
                cmocka_unit_test(split_everywhere),
                cmocka_unit_test(leading_empty_lines_and_no_query),
                cmocka_unit_test(rejections),
                cmocka_unit_test(bounds),
                cmocka_unit_test(percent_decoding),
                cmocka_unit_test(query_parameters),
                cmocka_unit_test(responses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
