#pragma once

/*
 * HTTP/1.1 request heads and responses for the streaming server (RFC 9110,
 * RFC 9112). Only what an upgrade needs: the parser reads a request head, never
 * a body, and hands back the bytes that follow it, since the upgraded protocol
 * (WebSocket, SPDY) starts right there.
 *
 * Parsing:
 *   http_parser_new() / http_parser_free()
 *   http_parser_feed(p, buf, len, &used, err)
 *       Feed bytes as they arrive. Returns 0 when all of buf was taken and the
 *       head is not complete yet, 1 when it is: the first *used bytes of buf
 *       belonged to the head, the rest are the caller's. Errors are sticky:
 *       -EBADMSG      malformed head (answer 400)
 *       -EMSGSIZE     head over HTTP_MAX_HEAD bytes or HTTP_MAX_HEADERS fields (431)
 *       -EPROTONOSUPPORT  not HTTP/1.1 (505)
 *       http_status_of_error() makes that mapping.
 *   http_parser_request(p)
 *       The parsed request, valid once feed returned 1 and until the parser is
 *       freed. Strings point into the parser.
 *
 * What the parser enforces: CRLF line ends only (a bare CR or LF is refused),
 * "METHOD SP origin-form SP HTTP/1.1", header names that are tokens with no
 * space before the colon, values of visible characters, SP, HTAB or bytes
 * >= 0x80, no obs-fold (a line starting with SP/HTAB), exactly one Host
 * field. Empty lines before the request line are skipped (RFC 9112 2.2).
 *
 * Lookups (header names are case-insensitive):
 *   http_header_get(req, name)          first value, or NULL
 *   http_header_next(req, name, &iter)  every value of repeated fields, in order
 *   http_list_next(req, name, &it, &elem, &len)
 *       the elements of a comma-separated list spread over all fields of that
 *       name (RFC 9110 5.3), OWS trimmed, empty elements skipped. Elements are
 *       split at every comma: fine for token lists, not for quoted strings.
 *   http_list_has_token(req, name, token)  case-insensitive membership
 *
 * Decoding:
 *   http_percent_decode(s, len, form, &out, err)  %XY escapes (and '+' as space
 *       when form is true, as in query strings); a decoded NUL is refused.
 *   http_query_get(query, key, index, &value, err)  the index-th value of key
 *   http_query_get_all(query, key, &strv, err)      every value of key
 *       Parameters are split at '&'; keys and values are percent-decoded with
 *       '+' as space (how Go's url.Values encodes). "stdin" alone has value "".
 *
 * Responses:
 *   http_format_response(status, headers, n, body, body_len, buf, size, &len, err)
 *       status line, the given headers, Content-Length (except for 1xx and
 *       204, which must not carry one), blank line, body. Header names must be
 *       tokens and values free of CR, LF and other controls, so no caller
 *       input can split a response. -ENOSPC if buf is too small.
 *   http_format_error(status, message, buf, size, &len, err)
 *       a text/plain error response with "Connection: close".
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define HTTP_MAX_HEAD (16u << 10) /* request line + fields + CRLFCRLF */
#define HTTP_MAX_HEADERS 100u

struct http_header {
        const char *name;
        const char *value;
};

struct http_request {
        const char *method;
        const char *path;  /* request-target before '?', still percent-encoded */
        const char *query; /* after '?', still encoded; NULL when there is no '?' */
        struct http_header headers[HTTP_MAX_HEADERS];
        size_t n_headers;
};

struct http_parser;

struct http_parser *http_parser_new(void);
struct http_parser *http_parser_free(struct http_parser *p);
static inline void http_parser_freep(struct http_parser **p)
{
        http_parser_free(*p);
}

int http_parser_feed(struct http_parser *p, const void *buf, size_t len, size_t *ret_used,
                     struct uvm_error **err);
const struct http_request *http_parser_request(const struct http_parser *p);

/* The status to answer a parser error with (400, 431 or 505). */
int http_status_of_error(int r);

const char *http_header_get(const struct http_request *req, const char *name);
/* Start with *iter = 0; returns NULL after the last value. */
const char *http_header_next(const struct http_request *req, const char *name, size_t *iter);

/* Start from a zeroed iterator. */
struct http_list_iter {
        size_t header;   /* index of the next field to look at */
        const char *pos; /* position inside the current field's value, or NULL */
};

bool http_list_next(const struct http_request *req, const char *name, struct http_list_iter *it,
                    const char **ret_elem, size_t *ret_len);
bool http_list_has_token(const struct http_request *req, const char *name, const char *token);

int http_percent_decode(const char *s, size_t len, bool form, char **ret, struct uvm_error **err);
/* 1 and a fresh *ret_value if found, 0 if absent (ret_value untouched), or -EBADMSG. */
int http_query_get(const char *query, const char *key, size_t index, char **ret_value,
                   struct uvm_error **err);
/* The number of values, and a fresh NULL-terminated vector (empty if none). */
int http_query_get_all(const char *query, const char *key, char ***ret_values,
                       struct uvm_error **err);

/* "Not Found" for 404 ...; "Unknown" for codes this table lacks. */
const char *http_reason_phrase(int status);
int http_format_response(int status, const struct http_header *headers, size_t n_headers,
                         const void *body, size_t body_len, char *buf, size_t size, size_t *ret_len,
                         struct uvm_error **err);
int http_format_error(int status, const char *message, char *buf, size_t size, size_t *ret_len,
                      struct uvm_error **err);
