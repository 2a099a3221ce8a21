#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "stream/http.h"

struct http_parser {
        char buf[HTTP_MAX_HEAD + 1]; /* the head as received, split in place once complete */
        size_t len;                  /* bytes of buf[] filled */
        size_t seen;                 /* bytes consumed, skipped empty lines included */
        size_t line_len;             /* bytes of the current line before its CR */
        bool cr;                     /* the last byte was a CR */
        int state;                   /* 0 reading, 1 complete, or a sticky -errno */
        char *error_msg;
        struct http_request req;
};

struct http_parser *http_parser_new(void)
{
        return calloc(1, sizeof(struct http_parser));
}

struct http_parser *http_parser_free(struct http_parser *p)
{
        if (!p)
                return NULL;
        free(p->error_msg);
        free(p);
        return NULL;
}

const struct http_request *http_parser_request(const struct http_parser *p)
{
        return p->state == 1 ? &p->req : NULL;
}

int http_status_of_error(int r)
{
        switch (r) {
        case -EMSGSIZE:
                return 431;
        case -EPROTONOSUPPORT:
                return 505;
        default:
                return 400;
        }
}

static bool is_tchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field-value bytes: HTAB, SP, visible ASCII, obs-text. */
static bool is_value_char(unsigned char c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool ascii_caseeq_n(const char *a, const char *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char x = (unsigned char) a[i], y = (unsigned char) b[i];

                if (x >= 'A' && x <= 'Z')
                        x += 'a' - 'A';
                if (y >= 'A' && y <= 'Z')
                        y += 'a' - 'A';
                if (x != y)
                        return false;
                if (!x)
                        return true;
        }
        return true;
}

static bool ascii_caseeq(const char *a, const char *b)
{
        size_t n = strlen(a);

        return n == strlen(b) && ascii_caseeq_n(a, b, n);
}

static int parse_request_line(struct http_request *req, char *line, struct uvm_error **err)
{
        char *target, *version, *q;

        req->method = line;
        while (is_tchar((unsigned char) *line))
                line++;
        if (line == req->method || *line != ' ')
                return uvm_error_set(err, EBADMSG, "request line: bad method");
        *line++ = '\0';
        target = line;
        while ((unsigned char) *line > 0x20 && (unsigned char) *line < 0x7f && *line != '#')
                line++;
        if (*target != '/' || *line != ' ')
                return uvm_error_set(err, EBADMSG, "request line: bad request-target");
        *line++ = '\0';
        version = line;
        if (!STR_EQ(version, "HTTP/1.1")) {
                if (strlen(version) == 8 && strncmp(version, "HTTP/", 5) == 0 &&
                    version[5] >= '0' && version[5] <= '9' && version[6] == '.' &&
                    version[7] >= '0' && version[7] <= '9')
                        return uvm_error_set(err, EPROTONOSUPPORT, "%s is not supported", version);
                return uvm_error_set(err, EBADMSG, "request line: bad HTTP version");
        }
        q = strchr(target, '?');
        if (q)
                *q++ = '\0';
        req->path = target;
        req->query = q;
        return 0;
}

static int parse_field(struct http_request *req, char *line, size_t n, struct uvm_error **err)
{
        char *name = line, *value, *end;

        if (*line == ' ' || *line == '\t')
                return uvm_error_set(err, EBADMSG, "header line %zu: obsolete line folding", n);
        while (is_tchar((unsigned char) *line))
                line++;
        if (line == name || *line != ':')
                return uvm_error_set(err, EBADMSG, "header line %zu: bad field name", n);
        *line++ = '\0';
        while (*line == ' ' || *line == '\t')
                line++;
        value = line;
        for (end = line; *line; line++) {
                if (!is_value_char((unsigned char) *line))
                        return uvm_error_set(err, EBADMSG, "header line %zu: bad byte in value", n);
                if (*line != ' ' && *line != '\t')
                        end = line + 1;
        }
        *end = '\0';
        if (req->n_headers == HTTP_MAX_HEADERS)
                return uvm_error_set(err, EMSGSIZE, "more than %u header fields", HTTP_MAX_HEADERS);
        req->headers[req->n_headers++] = (struct http_header){name, value};
        return 0;
}

/* Split the complete head (lines ending in CRLF, then the final empty line's
 * CR) in place and parse it. */
static int parse_head(struct http_parser *p, struct uvm_error **err)
{
        char *line = p->buf, *end = p->buf + p->len - 1;
        size_t n = 0, hosts = 0;
        int r;

        *end = '\0';
        while (line < end) {
                char *cr = strchr(line, '\r');

                *cr = '\0';
                r = n == 0 ? parse_request_line(&p->req, line, err)
                           : parse_field(&p->req, line, n, err);
                if (r < 0)
                        return r;
                n++;
                line = cr + 2;
        }
        for (size_t i = 0; i < p->req.n_headers; i++)
                hosts += ascii_caseeq(p->req.headers[i].name, "Host");
        if (hosts != 1)
                return uvm_error_set(err, EBADMSG, "%zu Host header fields, need exactly one",
                                     hosts);
        return 0;
}

static int parser_fail(struct http_parser *p, int r, struct uvm_error **err)
{
        p->state = r;
        if (err && *err && (*err)->msg)
                p->error_msg = strdup((*err)->msg);
        return r;
}

int http_parser_feed(struct http_parser *p, const void *buf, size_t len, size_t *ret_used,
                     struct uvm_error **err)
{
        const unsigned char *in = buf;

        if (p->state < 0)
                return uvm_error_set(err, -p->state, "HTTP parser failed earlier: %s",
                                     p->error_msg ? p->error_msg : "bad request");
        if (p->state == 1)
                return uvm_error_set(err, EINVAL, "HTTP request head already complete");
        for (size_t i = 0; i < len; i++) {
                unsigned char c = in[i];
                int r = 0;

                if (++p->seen > HTTP_MAX_HEAD)
                        r = uvm_error_set(err, EMSGSIZE, "request head exceeds %u bytes",
                                          HTTP_MAX_HEAD);
                else if (p->cr != (c == '\n') || c == '\0') /* no NULs: lines become strings */
                        r = uvm_error_set(err, EBADMSG, "request head: NUL, bare CR or LF");
                else if (c == '\n' && p->line_len == 0 && p->len > 1) {
                        r = parse_head(p, err);
                        if (r == 0) {
                                p->state = 1;
                                *ret_used = i + 1;
                                return 1;
                        }
                }
                if (r < 0)
                        return parser_fail(p, r, err);
                p->cr = c == '\r';
                if (c == '\n' && p->line_len == 0) {
                        p->len = 0; /* an empty line before the request line */
                        continue;
                }
                p->buf[p->len++] = (char) c;
                p->line_len = c == '\n' ? 0 : c == '\r' ? p->line_len : p->line_len + 1;
        }
        *ret_used = len;
        return 0;
}

const char *http_header_next(const struct http_request *req, const char *name, size_t *iter)
{
        for (; *iter < req->n_headers; (*iter)++)
                if (ascii_caseeq(req->headers[*iter].name, name))
                        return req->headers[(*iter)++].value;
        return NULL;
}

const char *http_header_get(const struct http_request *req, const char *name)
{
        size_t iter = 0;

        return http_header_next(req, name, &iter);
}

bool http_list_next(const struct http_request *req, const char *name, struct http_list_iter *it,
                    const char **ret_elem, size_t *ret_len)
{
        for (;;) {
                const char *s = it->pos, *e;

                if (!s) {
                        s = http_header_next(req, name, &it->header);
                        if (!s)
                                return false;
                }
                while (*s == ' ' || *s == '\t' || *s == ',')
                        s++;
                if (!*s) {
                        it->pos = NULL;
                        continue;
                }
                it->pos = e = s + strcspn(s, ",");
                while (e[-1] == ' ' || e[-1] == '\t')
                        e--;
                *ret_elem = s;
                *ret_len = (size_t) (e - s);
                return true;
        }
}

bool http_list_has_token(const struct http_request *req, const char *name, const char *token)
{
        struct http_list_iter it = {0};
        size_t n = strlen(token), len;
        const char *elem;

        while (http_list_next(req, name, &it, &elem, &len))
                if (len == n && ascii_caseeq_n(elem, token, n))
                        return true;
        return false;
}

int http_percent_decode(const char *s, size_t len, bool form, char **ret, struct uvm_error **err)
{
        _cleanup_free_ char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < len; i++) {
                int c = (unsigned char) s[i], hi, lo;

                if (c == '%') {
                        if (len - i < 3 || (hi = hex_digit_value(s[i + 1])) < 0 ||
                            (lo = hex_digit_value(s[i + 2])) < 0)
                                return uvm_error_set(err, EBADMSG, "bad percent-encoding");
                        c = hi << 4 | lo;
                        i += 2;
                } else if (c == '+' && form) {
                        c = ' ';
                }
                if (c == 0)
                        return uvm_error_set(err, EBADMSG, "percent-encoding decodes to NUL");
                out[o++] = (char) c;
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

/* The next "key=value" of a query at *cursor, both decoded. Returns 1, 0 at the
 * end, or -EBADMSG / -ENOMEM. */
static int query_next(const char **cursor, char **ret_key, char **ret_value, struct uvm_error **err)
{
        _cleanup_free_ char *key = NULL;
        const char *s = *cursor, *eq;
        size_t n;
        int r;

        while (*s == '&')
                s++;
        if (!*s)
                return 0;
        n = strcspn(s, "&");
        eq = memchr(s, '=', n);
        r = http_percent_decode(s, eq ? (size_t) (eq - s) : n, true, &key, err);
        if (r < 0)
                return r;
        r = http_percent_decode(eq ? eq + 1 : s + n, eq ? n - (size_t) (eq + 1 - s) : 0, true,
                                ret_value, err);
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        *cursor = s + n;
        return 1;
}

int http_query_get(const char *query, const char *key, size_t index, char **ret_value,
                   struct uvm_error **err)
{
        const char *cursor = query ? query : "";

        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                int r = query_next(&cursor, &k, &v, err);

                if (r <= 0)
                        return r;
                if (STR_EQ(k, key) && index-- == 0) {
                        *ret_value = TAKE_PTR(v);
                        return 1;
                }
        }
}

int http_query_get_all(const char *query, const char *key, char ***ret_values,
                       struct uvm_error **err)
{
        _cleanup_strv_ char **values = calloc(1, sizeof(char *));
        const char *cursor = query ? query : "";
        size_t n = 0;

        if (!values)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                char **grown;
                int r = query_next(&cursor, &k, &v, err);

                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (!STR_EQ(k, key))
                        continue;
                grown = realloc(values, (n + 2) * sizeof(char *));
                if (!grown)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                values = grown;
                values[n++] = TAKE_PTR(v);
                values[n] = NULL;
        }
        *ret_values = TAKE_PTR(values);
        return (int) n;
}

const char *http_reason_phrase(int status)
{
        static const struct {
                int status;
                const char *reason;
        } table[] = {
                {100, "Continue"},
                {101, "Switching Protocols"},
                {200, "OK"},
                {204, "No Content"},
                {400, "Bad Request"},
                {401, "Unauthorized"},
                {403, "Forbidden"},
                {404, "Not Found"},
                {405, "Method Not Allowed"},
                {408, "Request Timeout"},
                {426, "Upgrade Required"},
                {429, "Too Many Requests"},
                {431, "Request Header Fields Too Large"},
                {500, "Internal Server Error"},
                {501, "Not Implemented"},
                {503, "Service Unavailable"},
                {505, "HTTP Version Not Supported"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                if (table[i].status == status)
                        return table[i].reason;
        return "Unknown";
}

/* A bounded output buffer: appends past the end are dropped and remembered. */
struct out {
        char *buf;
        size_t size, len;
        bool overflow;
};

static void out_add(struct out *o, const void *data, size_t n)
{
        if (o->overflow || n > o->size - o->len) {
                o->overflow = true;
                return;
        }
        memcpy(o->buf + o->len, data, n);
        o->len += n;
}

static void out_str(struct out *o, const char *s)
{
        out_add(o, s, strlen(s));
}

static bool header_is_valid(const struct http_header *h)
{
        if (!h->name || !*h->name || !h->value)
                return false;
        for (const char *s = h->name; *s; s++)
                if (!is_tchar((unsigned char) *s))
                        return false;
        for (const char *s = h->value; *s; s++)
                if (!is_value_char((unsigned char) *s))
                        return false;
        return true;
}

int http_format_response(int status, const struct http_header *headers, size_t n_headers,
                         const void *body, size_t body_len, char *buf, size_t size, size_t *ret_len,
                         struct uvm_error **err)
{
        struct out o = {buf, size, 0, false};
        bool no_length = (status >= 100 && status < 200) || status == 204;
        char line[64];

        if (status < 100 || status > 599)
                return uvm_error_set(err, EINVAL, "HTTP status %d out of range", status);
        if (no_length && body_len > 0)
                return uvm_error_set(err, EINVAL, "HTTP status %d carries no body", status);
        snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
        out_str(&o, line);
        out_str(&o, http_reason_phrase(status));
        out_str(&o, "\r\n");
        for (size_t i = 0; i < n_headers; i++) {
                if (!header_is_valid(&headers[i]))
                        return uvm_error_set(err, EINVAL, "response header %zu is not valid", i);
                out_str(&o, headers[i].name);
                out_str(&o, ": ");
                out_str(&o, headers[i].value);
                out_str(&o, "\r\n");
        }
        if (!no_length) {
                snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
                out_str(&o, line);
        }
        out_str(&o, "\r\n");
        if (body_len > 0)
                out_add(&o, body, body_len);
        if (o.overflow)
                return uvm_error_set(err, ENOSPC, "HTTP %d response does not fit %zu bytes", status,
                                     size);
        *ret_len = o.len;
        return 0;
}

int http_format_error(int status, const char *message, char *buf, size_t size, size_t *ret_len,
                      struct uvm_error **err)
{
        static const struct http_header headers[] = {
                {"Content-Type", "text/plain; charset=utf-8"},
                {"Connection", "close"},
        };
        _cleanup_free_ char *body = NULL;
        int n = asprintf(&body, "%s\n", message);

        if (n < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return http_format_response(status, headers, ARRAY_SIZE(headers), body, (size_t) n, buf,
                                    size, ret_len, err);
}
