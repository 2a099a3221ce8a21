#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macros.h"
#include "common/platform.h"
#include "image/registry-internal.h"
#include "image/registry-transport.h"

#define REG_MAX_REDIRECTS 5
#define REG_HEADER_MAX 8192
#define REG_CONNECT_TIMEOUT_MS 30000u

/* "host:port" matches an entry "host:port" exactly, or an entry "host" that
 * names the host without a port. No host is insecure unless listed. */
bool reg_host_is_insecure(const struct reg_client *c, const char *hostport)
{
        size_t hlen = strcspn(hostport, ":");

        if (hostport[0] == '[') /* "[::1]:5000" */
                hlen = strcspn(hostport, "]") + 1;
        for (char **p = c->insecure; p && *p; p++) {
                if (STR_EQ(*p, hostport))
                        return true;
                if (strlen(*p) == hlen && strncmp(*p, hostport, hlen) == 0)
                        return true;
        }
        return false;
}

bool reg_url_allowed(const struct reg_client *c, const char *url)
{
        const char *host;
        _cleanup_free_ char *hp = NULL;

        if (strncmp(url, "https://", 8) == 0)
                return true;
        if (strncmp(url, "http://", 7) != 0)
                return false;
        host = url + 7;
        hp = strndup(host, strcspn(host, "/?#"));
        return hp && reg_host_is_insecure(c, hp);
}

int reg_sink_fail(struct reg_sink *s, int code, const char *fmt, ...)
{
        va_list ap;

        s->code = code;
        va_start(ap, fmt);
        vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
        va_end(ap);
        return -code;
}

int reg_mem_write(struct reg_sink *s, const char *p, size_t n)
{
        struct reg_mem_sink *m = (struct reg_mem_sink *) s;
        char *b;

        if (n > m->max - m->len)
                return reg_sink_fail(s, EFBIG, "response larger than %zu bytes", m->max);
        b = realloc(m->buf, m->len + n + 1);
        if (!b)
                return reg_sink_fail(s, ENOMEM, "out of memory");
        memcpy(b + m->len, p, n);
        m->len += n;
        b[m->len] = '\0';
        m->buf = b;
        return 0;
}

int reg_mem_reset(struct reg_sink *s)
{
        struct reg_mem_sink *m = (struct reg_mem_sink *) s;

        free(m->buf);
        m->buf = NULL;
        m->len = 0;
        s->code = 0;
        return 0;
}

void reg_response_clear(struct reg_response *r)
{
        free(r->challenge);
        free(r->content_digest);
        free(r->content_type);
        r->challenge = r->content_digest = r->content_type = NULL;
        r->status = 0;
        r->errlen = 0;
        r->errbody[0] = '\0';
}

/* The trimmed value of header line p if its name is name, else NULL. */
static char *header_value(const char *p, size_t n, const char *name)
{
        size_t k = strlen(name);

        if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
                return NULL;
        p += k + 1, n -= k + 1;
        while (n > 0 && (*p == ' ' || *p == '\t'))
                p++, n--;
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
                n--;
        return strndup(p, n);
}

static void on_header(void *data, const char *p, size_t n)
{
        struct reg_response *r = data;
        char *v;

        if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (100 Continue) */
                reg_response_clear(r);
                return;
        }
        if (n > REG_HEADER_MAX)
                return; /* not one we need at that size */
        if ((v = header_value(p, n, "WWW-Authenticate"))) {
                if (!r->challenge || strncasecmp(v, "Bearer ", 7) == 0) {
                        free(r->challenge);
                        r->challenge = v;
                } else
                        free(v);
        } else if ((v = header_value(p, n, "Docker-Content-Digest"))) {
                free(r->content_digest);
                r->content_digest = v;
        } else if ((v = header_value(p, n, "Content-Type"))) {
                v[strcspn(v, "; \t")] = '\0';
                free(r->content_type);
                r->content_type = v;
        }
}

/* A 200's body goes to the sink; an error's start is kept for its message. */
static int on_body(void *data, long status, const char *p, size_t n)
{
        struct reg_response *r = data;
        size_t room = REG_ERRBODY_MAX - r->errlen;

        if (status == 200)
                return r->sink->write(r->sink, p, n);
        if (status >= 400 && room > 0) {
                memcpy(r->errbody + r->errlen, p, n < room ? n : room);
                r->errlen += n < room ? n : room;
                r->errbody[r->errlen] = '\0';
        }
        return 0;
}

static bool is_redirect(long status)
{
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int transport_failure(struct reg_client *c, const struct reg_request *q,
                             const struct reg_sink *sink, int r, const struct reg_xfer_result *res,
                             bool *ret_transient, struct uvm_error **err)
{
        /* The sink's refusal (too large, disk full) is the reason, and final. */
        if (sink->code)
                return uvm_error_set(err, sink->code, "%s", sink->msg);
        *ret_transient = res->transient;
        if (r == -ETIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT, "registry %s: request timed out after %u ms",
                                     q->host, c->timeout_ms);
        if (r == -ENOMEM)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return uvm_error_set(err, EAGAIN, "registry %s unreachable: %s", q->host,
                             res->msg[0] ? res->msg : "transport error");
}

/* One hop; *ret_next is the absolute Location of a GET's redirect. */
static int http_once(struct reg_client *c, const struct reg_request *q, struct reg_response *resp,
                     char **ret_next, bool *ret_transient, struct uvm_error **err)
{
        _cleanup_free_ char *accept = NULL, *authz = NULL;
        struct reg_xfer_result res = {0};
        const char *lines[4] = {0};
        size_t n = 0;
        int r;

        *ret_transient = false;
        *ret_next = NULL;
        reg_response_clear(resp);
        r = resp->sink->reset(resp->sink);
        if (r < 0)
                return uvm_error_set(err, -r, "%s", resp->sink->msg);
        if ((q->accept && asprintf(&accept, "Accept: %s", q->accept) < 0) ||
            (q->authorization && asprintf(&authz, "Authorization: %s", q->authorization) < 0))
                return accept = authz = NULL, uvm_error_set(err, ENOMEM, "out of memory");
        if (accept)
                lines[n++] = accept;
        if (authz)
                lines[n++] = authz;
        if (q->post)
                lines[n++] = "Content-Type: application/x-www-form-urlencoded";
        struct reg_xfer x = {
                q->post ? "POST" : "GET",
                q->url,
                lines,
                q->post,
                c->proxy,
                c->timeout_ms,
                c->timeout_ms < REG_CONNECT_TIMEOUT_MS ? c->timeout_ms : REG_CONNECT_TIMEOUT_MS,
                on_header,
                on_body,
                resp,
        };
        r = reg_transport_do(&x, &res);
        resp->status = res.status;
        if (r >= 0) {
                if (!q->post && is_redirect(res.status) && res.location)
                        *ret_next = TAKE_PTR(res.location);
                free(res.location);
                return 0;
        }
        free(res.location);
        return transport_failure(c, q, resp->sink, r, &res, ret_transient, err);
}

/* "scheme://authority" of both URLs is the same. */
static bool same_origin(const char *a, const char *b)
{
        const char *sa = strstr(a, "://"), *sb = strstr(b, "://");
        size_t la, lb;

        if (!sa || !sb)
                return false;
        la = (size_t) (sa - a) + 3 + strcspn(sa + 3, "/?#");
        lb = (size_t) (sb - b) + 3 + strcspn(sb + 3, "/?#");
        return la == lb && strncasecmp(a, b, la) == 0;
}

int reg_http_do(struct reg_client *c, const struct reg_request *q, struct reg_response *resp,
                bool *ret_transient, struct uvm_error **err)
{
        struct reg_request hop = *q;
        _cleanup_free_ char *url = NULL;

        for (int i = 0;; i++) {
                char *next = NULL;
                int r = http_once(c, &hop, resp, &next, ret_transient, err);

                if (r < 0 || !next)
                        return r;
                if (i == REG_MAX_REDIRECTS) {
                        free(next);
                        return uvm_error_set(err, EPROTO, "registry %s: more than %d redirects",
                                             q->host, REG_MAX_REDIRECTS);
                }
                if (!reg_url_allowed(c, next)) {
                        r = uvm_error_set(err, EPROTO,
                                          "registry %s: redirect to \"%.200s\" refused (plain "
                                          "HTTP to a host not in insecure_registries)",
                                          q->host, next);
                        free(next);
                        return r;
                }
                /* Blob storage elsewhere gets no registry credentials. */
                if (!same_origin(hop.url, next))
                        hop.authorization = NULL;
                free(url);
                hop.url = url = next;
        }
}

/* RFC 3986 5.2.4: "/a/b/../c/./d" -> "/a/c/d", in place. */
static void remove_dot_segments(char *path)
{
        char *in = path, *out = path;

        while (*in) {
                if (strncmp(in, "../", 3) == 0)
                        in += 3;
                else if (strncmp(in, "./", 2) == 0 || strncmp(in, "/./", 3) == 0)
                        in += 2;
                else if (STR_EQ(in, "/."))
                        in[1] = '\0';
                else if (strncmp(in, "/../", 4) == 0 || STR_EQ(in, "/..")) {
                        /* "/../x" -> "/x", "/.." -> "/" */
                        in += in[3] ? 3 : 2;
                        *in = '/';
                        while (out > path && *--out != '/')
                                ;
                } else if (STR_EQ(in, ".") || STR_EQ(in, ".."))
                        in += strlen(in);
                else {
                        size_t n = 1 + strcspn(in + 1, "/");

                        memmove(out, in, n);
                        out += n, in += n;
                }
        }
        *out = '\0';
}

static bool has_scheme(const char *s)
{
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

        return n > 0 && isalpha((unsigned char) s[0]) && s[n] == ':';
}

/* The path of a reference (absolute or relative) against the base's path,
 * dot segments removed. */
static char *merge_path(const char *path, const char *end, const char *loc, size_t n)
{
        const char *dir = path; /* just past the base path's last '/' */
        char *p = NULL;
        int r;

        for (const char *s = path; s < end; s++)
                if (*s == '/')
                        dir = s + 1;
        if (*loc == '/')
                r = asprintf(&p, "%.*s", (int) n, loc);
        else if (path == end)
                r = asprintf(&p, "/%.*s", (int) n, loc);
        else
                r = asprintf(&p, "%.*s%.*s", (int) (dir - path), path, (int) n, loc);
        if (r < 0)
                return NULL;
        remove_dot_segments(p);
        return p;
}

char *reg_url_resolve(const char *base, const char *location)
{
        const char *auth = strstr(base, "://"), *path, *end;
        _cleanup_free_ char *loc = NULL, *p = NULL;
        char *out = NULL;
        size_t q;
        int r;

        if (!auth || !has_scheme(base))
                return NULL;
        auth += 3;
        path = auth + strcspn(auth, "/?#");
        end = path + strcspn(path, "?#");
        loc = strndup(location, strcspn(location, "#")); /* a fragment is never sent */
        if (!loc)
                return NULL;
        if (has_scheme(loc))
                return TAKE_PTR(loc);
        if (strncmp(loc, "//", 2) == 0) /* another authority, the same scheme */
                r = asprintf(&out, "%.*s:%s", (int) (auth - 3 - base), base, loc);
        else if (!*loc)
                r = asprintf(&out, "%.*s", (int) strcspn(base, "#"), base);
        else if (*loc == '?')
                r = asprintf(&out, "%.*s%s", (int) (end - base), base, loc);
        else {
                q = strcspn(loc, "?");
                p = merge_path(path, end, loc, q);
                if (!p)
                        return NULL;
                r = asprintf(&out, "%.*s%s%s", (int) (path - base), base, p, loc + q);
        }
        return r < 0 ? NULL : out;
}
