#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/macros.h"
#include "image/registry-internal.h"

#define REG_MAX_REDIRECTS 5
#define REG_HEADER_MAX 8192

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

/* The token request: GET realm?service=&scope= (basic credentials when
 * given), or the OAuth2 refresh-token POST when an identity token is. */
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

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
        struct reg_response *r = userdata;
        size_t n = size * nmemb;
        char *v;

        if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100) */
                reg_response_clear(r);
                return n;
        }
        if (n > REG_HEADER_MAX)
                return n; /* not one we need at that size */
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
        return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
        struct reg_response *r = userdata;
        size_t n = size * nmemb, room;
        long code = 0;

        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200)
                return r->sink->write(r->sink, p, n) < 0 ? 0 : n;
        room = REG_ERRBODY_MAX - r->errlen; /* keep the start of an error body */
        if (code >= 400 && room > 0) {
                memcpy(r->errbody + r->errlen, p, n < room ? n : room);
                r->errlen += n < room ? n : room;
                r->errbody[r->errlen] = '\0';
        }
        return n;
}

static bool curl_transient(CURLcode rc)
{
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

static int set_headers(CURL *h, const struct reg_request *q, struct curl_slist **hdrs)
{
        _cleanup_free_ char *accept = NULL, *authz = NULL;
        struct curl_slist *l = NULL, *t;

        if (q->accept && asprintf(&accept, "Accept: %s", q->accept) < 0)
                return accept = NULL, -ENOMEM;
        if (q->authorization && asprintf(&authz, "Authorization: %s", q->authorization) < 0)
                return authz = NULL, -ENOMEM;
        const char *lines[] = {accept, authz,
                               q->post ? "Content-Type: application/x-www-form-urlencoded" : NULL};
        for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
                if (!lines[i])
                        continue;
                t = curl_slist_append(l, lines[i]);
                if (!t) {
                        curl_slist_free_all(l);
                        return -ENOMEM;
                }
                l = t;
        }
        *hdrs = l;
        return curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) == CURLE_OK ? 0 : -ENOMEM;
}

static void setup_handle(struct reg_client *c, CURL *h, const struct reg_request *q,
                         struct reg_response *resp, char *errbuf)
{
        curl_easy_setopt(h, CURLOPT_URL, q->url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "uvmd");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        /* Redirects are ours to follow (reg_http_do): libcurl would allow
         * plain HTTP to any host. */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long) (c->timeout_ms < 30000 ? c->timeout_ms : 30000));
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
        if (q->post)
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->post);
}

static int curl_failure(struct reg_client *c, const struct reg_request *q, CURLcode rc,
                        const char *errbuf, bool *ret_transient, struct uvm_error **err)
{
        *ret_transient = curl_transient(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT, "registry %s: request timed out after %u ms",
                                     q->host, c->timeout_ms);
        if (rc == CURLE_OUT_OF_MEMORY)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return uvm_error_set(err, EAGAIN, "registry %s unreachable: %s", q->host,
                             errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static bool is_redirect(long status)
{
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One hop; *ret_next is the absolute Location of a GET's redirect. */
static int http_once(struct reg_client *c, const struct reg_request *q, struct reg_response *resp,
                     char **ret_next, bool *ret_transient, struct uvm_error **err)
{
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdrs = NULL;
        char *loc = NULL;
        CURLcode rc;
        CURL *h;
        int r;

        *ret_transient = false;
        *ret_next = NULL;
        reg_response_clear(resp);
        r = resp->sink->reset(resp->sink);
        if (r < 0)
                return uvm_error_set(err, -r, "%s", resp->sink->msg);
        h = curl_easy_init();
        if (!h)
                return uvm_error_set(err, ENOMEM, "cannot create a curl handle");
        resp->h = h;
        setup_handle(c, h, q, resp, errbuf);
        r = set_headers(h, q, &hdrs);
        rc = r < 0 ? CURLE_OUT_OF_MEMORY : curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        if (rc == CURLE_OK && !q->post && is_redirect(resp->status) &&
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
            !(*ret_next = strdup(loc)))
                rc = CURLE_OUT_OF_MEMORY;
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        resp->h = NULL;
        if (rc == CURLE_OK)
                return 0;
        free(TAKE_PTR(*ret_next));
        if (resp->sink->code)
                return uvm_error_set(err, resp->sink->code, "%s", resp->sink->msg);
        return curl_failure(c, q, rc, errbuf, ret_transient, err);
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
