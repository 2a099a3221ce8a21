/* libFuzzer harness for the HTTP request head parser, and the WebSocket
 * handshake checks that read what it parsed.
 *
 * Input: byte 0 selects k = byte0 % 4 chunk sizes, the next k bytes give them
 * (size = byte + 1; k == 0 feeds everything at once); the rest is what the
 * client sends. The head must parse the same whether fed whole or in pieces;
 * a parsed request must satisfy the parser's promises, and everything built
 * on it (lookups, lists, query and percent decoding, handshake, subprotocol
 * choice, echoing its fields in a response) must hold up. */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/http.h"
#include "stream/ws.h"

static void check_lists(const struct http_request *req)
{
        for (size_t i = 0; i < req->n_headers; i++) {
                struct http_list_iter it = {0};
                const char *elem;
                size_t len, n = 0;

                while (http_list_next(req, req->headers[i].name, &it, &elem, &len)) {
                        assert(len > 0 && !memchr(elem, ',', len));
                        assert(elem[0] != ' ' && elem[0] != '\t');
                        assert(elem[len - 1] != ' ' && elem[len - 1] != '\t');
                        n++;
                        assert(n <= HTTP_MAX_HEAD);
                }
                assert(http_header_get(req, req->headers[i].name));
        }
}

static void check_query(const struct http_request *req)
{
        static const char *const keys[] = {"command", "port", "stdin", "tty", ""};
        char *value = NULL, **all = NULL, *path = NULL;

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                int n = http_query_get_all(req->query, keys[i], &all, NULL), r;

                assert(n >= 0 || n == -EBADMSG);
                /* get stops at the first match; get_all reads on, so it alone may
                 * meet a malformed parameter further along. */
                r = http_query_get(req->query, keys[i], 0, &value, NULL);
                assert(n < 0 ? r == 1 || r == n : r == (n > 0));
                if (r == 1) {
                        assert(n < 0 || strcmp(value, all[0]) == 0);
                        free(value);
                }
                if (n >= 0) {
                        assert(all[n] == NULL);
                        strv_free(all);
                }
        }
        if (http_percent_decode(req->path, strlen(req->path), false, &path, NULL) == 0) {
                assert(strlen(path) <= strlen(req->path));
                free(path);
        }
}

static void check_websocket(const struct http_request *req)
{
        char accept[WS_ACCEPT_LEN + 1], buf[512];
        struct ws_subprotocol sel;
        size_t len;
        int r;

        r = ws_handshake_check(req, accept, NULL);
        assert(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT);
        if (r == 0)
                assert(strlen(accept) == WS_ACCEPT_LEN);
        r = ws_select_subprotocol(req, WS_REMOTECOMMAND_PROTOCOLS, &sel, NULL);
        assert(r == 0 || r == -ENOPROTOOPT);
        if (r == 0)
                assert(ws_handshake_response("x", sel.name, buf, sizeof(buf), &len, NULL) == 0);
        r = ws_select_subprotocol(req, WS_PORTFORWARD_PROTOCOLS, &sel, NULL);
        assert(r == 0 || r == -ENOPROTOOPT);
}

static void check_request(const struct http_request *req)
{
        static char buf[HTTP_MAX_HEAD + 1024];
        size_t len;

        assert(req && req->method[0] && req->path[0] == '/');
        assert(req->n_headers >= 1 && req->n_headers <= HTTP_MAX_HEADERS);
        check_lists(req);
        check_query(req);
        check_websocket(req);
        /* Every parsed field is fit to be sent again. */
        assert(http_format_response(200, req->headers, req->n_headers, NULL, 0, buf, sizeof(buf),
                                    &len, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct http_parser *whole, *parts;
        size_t k, sizes[3], i = 0, off = 0, used_whole = 0, used = 0;
        int r_whole, r = 0;

        if (size < 1)
                return 0;
        k = data[0] % 4;
        if (size < 1 + k)
                return 0;
        for (size_t j = 0; j < k; j++)
                sizes[j] = (size_t) data[1 + j] + 1;
        data += 1 + k;
        size -= 1 + k;

        whole = http_parser_new();
        parts = http_parser_new();
        assert(whole && parts);
        r_whole = http_parser_feed(whole, data, size, &used_whole, NULL);
        assert(r_whole == 0 || r_whole == 1 || r_whole == -EBADMSG || r_whole == -EMSGSIZE ||
               r_whole == -EPROTONOSUPPORT);
        assert(r_whole < 0 || used_whole <= size);
        while (off < size) {
                size_t n = k ? sizes[i++ % k] : size - off;

                n = n < size - off ? n : size - off;
                r = http_parser_feed(parts, data + off, n, &used, NULL);
                if (r != 0)
                        break;
                assert(used == n);
                off += n;
        }
        /* Chunking changes nothing: same verdict, same head length. */
        assert(r == r_whole);
        if (r == 1) {
                assert(off + used == used_whole);
                check_request(http_parser_request(whole));
                check_request(http_parser_request(parts));
        }
        http_parser_free(whole);
        http_parser_free(parts);
        return 0;
}
