/*
 * The registry client's transport on Windows: WinHTTP (registry-transport.h),
 * synchronous, one session per exchange as libcurl's side has one handle
 * per exchange. URLs and headers are UTF-8 until they meet WinHTTP.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <windows.h>
#include <winhttp.h>

#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "image/registry-transport.h"

#define WIN_URL_MAX 8192u
#define WIN_HEADERS_MAX (64u << 10) /* bytes of UTF-16 the response's headers may take */
#define WIN_CHUNK (64u << 10)

int reg_transport_init(struct uvm_error **err)
{
        (void) err;
        return 0; /* WinHTTP needs no process-wide set-up */
}

/* What failed, in words, and whether a retry may help: libcurl's
 * classification (registry-curl.c) in WinHTTP's terms. */
static const struct {
        DWORD code;
        const char *what;
        bool transient;
} win_errors[] = {
        {ERROR_WINHTTP_TIMEOUT, "timed out", true},
        {ERROR_WINHTTP_NAME_NOT_RESOLVED, "could not resolve the host name", true},
        {ERROR_WINHTTP_CANNOT_CONNECT, "could not connect", true},
        {ERROR_WINHTTP_CONNECTION_ERROR, "connection reset or closed", true},
        {ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "no valid HTTP response", true},
        {ERROR_WINHTTP_RESEND_REQUEST, "the request must be sent again", true},
        {ERROR_WINHTTP_SECURE_CHANNEL_ERROR, "TLS handshake failed", true},
        {ERROR_WINHTTP_SECURE_FAILURE, "server certificate refused", false},
        {ERROR_WINHTTP_SECURE_INVALID_CA, "server certificate from an unknown CA", false},
        {ERROR_WINHTTP_SECURE_CERT_CN_INVALID, "server certificate for another name", false},
        {ERROR_WINHTTP_SECURE_CERT_DATE_INVALID, "server certificate expired", false},
        {ERROR_WINHTTP_INVALID_URL, "invalid URL", false},
        {ERROR_WINHTTP_UNRECOGNIZED_SCHEME, "unsupported URL scheme", false},
        {ERROR_WINHTTP_HEADER_SIZE_OVERFLOW, "response headers too large", false},
        /* Winsock's own codes, which Wine's WinHTTP lets through. */
        {WSAETIMEDOUT, "timed out", true},
        {WSAECONNRESET, "connection reset", true},
        {WSAECONNABORTED, "connection aborted", true},
        {WSAECONNREFUSED, "connection refused", true},
};

static int fail_code(struct reg_xfer_result *res, const char *step, DWORD code)
{
        const char *what = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(win_errors); i++)
                if (win_errors[i].code == code) {
                        what = win_errors[i].what;
                        res->transient = win_errors[i].transient;
                }
        if (what)
                snprintf(res->msg, sizeof(res->msg), "%s: %s (WinHTTP error %lu)", step, what,
                         (unsigned long) code);
        else
                snprintf(res->msg, sizeof(res->msg), "%s: WinHTTP error %lu", step,
                         (unsigned long) code);
        if (code == ERROR_WINHTTP_TIMEOUT || code == WSAETIMEDOUT)
                return -ETIMEDOUT;
        if (code == ERROR_NOT_ENOUGH_MEMORY || code == ERROR_OUTOFMEMORY)
                return -ENOMEM;
        return -EIO;
}

static int fail_last(struct reg_xfer_result *res, const char *step)
{
        return fail_code(res, step, GetLastError());
}

static int fail_msg(struct reg_xfer_result *res, int r, bool transient, const char *msg)
{
        snprintf(res->msg, sizeof(res->msg), "%s", msg);
        res->transient = transient;
        return r;
}

struct exchange {
        const struct reg_xfer *x;
        struct reg_xfer_result *res;
        HINTERNET session, connect, request;
        uint64_t deadline_ns;
        long long content_length; /* -1: not said */
};

static void exchange_close(struct exchange *e)
{
        if (e->request)
                WinHttpCloseHandle(e->request);
        if (e->connect)
                WinHttpCloseHandle(e->connect);
        if (e->session)
                WinHttpCloseHandle(e->session);
}

/* The time left before the exchange's deadline, at least 1 ms; 0 once
 * it has passed. */
static DWORD time_left_ms(const struct exchange *e)
{
        uint64_t now = plat_now_ns();

        if (now >= e->deadline_ns)
                return 0;
        return (DWORD) ((e->deadline_ns - now + 999999) / 1000000);
}

static int open_session(struct exchange *e)
{
        const struct reg_xfer *x = e->x;
        wchar_t *proxy = NULL;
        int r;

        if (x->proxy) {
                /* "host:port": Wine does not take the scheme Windows allows. */
                const char *p = x->proxy;

                if (strncasecmp(p, "http://", 7) == 0)
                        p += 7;
                r = utf8_to_wide(p, WIN_URL_MAX, &proxy);
                if (r >= 0 && (!*proxy || wcschr(proxy, L'/'))) {
                        free(proxy);
                        r = -EINVAL;
                }
                if (r < 0)
                        return fail_msg(e->res, r == -ENOMEM ? -ENOMEM : -EIO, false,
                                        "proxy: not \"host:port\" or \"http://host:port\"");
        }
        e->session = WinHttpOpen(
                L"uvmd", proxy ? WINHTTP_ACCESS_TYPE_NAMED_PROXY : WINHTTP_ACCESS_TYPE_NO_PROXY,
                proxy ? proxy : WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0);
        free(proxy);
        if (!e->session)
                return fail_last(e->res, "open a session");
        if (!WinHttpSetTimeouts(e->session, (int) x->connect_timeout_ms,
                                (int) x->connect_timeout_ms, (int) x->timeout_ms,
                                (int) x->timeout_ms))
                return fail_last(e->res, "set timeouts");
        return 0;
}

/* Connect and open the request for url: host, port and path from
 * WinHttpCrackUrl, TLS for https. */
static int open_request(struct exchange *e, const wchar_t *url)
{
        URL_COMPONENTS uc = {sizeof(uc)};
        wchar_t *host = NULL, *method = NULL;
        DWORD flags = WINHTTP_FLAG_ESCAPE_DISABLE | WINHTTP_FLAG_ESCAPE_DISABLE_QUERY;
        DWORD off = WINHTTP_DISABLE_REDIRECTS | WINHTTP_DISABLE_COOKIES |
                    WINHTTP_DISABLE_AUTHENTICATION | WINHTTP_DISABLE_KEEP_ALIVE;
        int r = 0;

        uc.dwSchemeLength = uc.dwHostNameLength = uc.dwUrlPathLength = uc.dwExtraInfoLength =
                (DWORD) -1;
        if (!WinHttpCrackUrl(url, 0, 0, &uc))
                return fail_last(e->res, "parse the URL");
        if (uc.nScheme != INTERNET_SCHEME_HTTP && uc.nScheme != INTERNET_SCHEME_HTTPS)
                return fail_msg(e->res, -EIO, false, "only http and https");
        host = calloc(uc.dwHostNameLength + 1, sizeof(wchar_t));
        if (!host || utf8_to_wide(e->x->method, 16, &method) < 0) {
                free(host);
                return fail_msg(e->res, -ENOMEM, false, "out of memory");
        }
        memcpy(host, uc.lpszHostName, uc.dwHostNameLength * sizeof(wchar_t));
        e->connect = WinHttpConnect(e->session, host, uc.nPort, 0);
        if (!e->connect)
                r = fail_last(e->res, "connect");
        if (r >= 0) {
                /* The path and query run on to the end of the URL (ours
                 * carry no fragment), already escaped. */
                if (uc.nScheme == INTERNET_SCHEME_HTTPS)
                        flags |= WINHTTP_FLAG_SECURE;
                e->request = WinHttpOpenRequest(
                        e->connect, method, uc.dwUrlPathLength ? uc.lpszUrlPath : L"/", NULL,
                        WINHTTP_NO_REFERER, WINHTTP_DEFAULT_ACCEPT_TYPES, flags);
                if (!e->request)
                        r = fail_last(e->res, "open the request");
        }
        /* Redirects are the caller's to follow (plain HTTP only to hosts
         * listed insecure); credentials only ever the ones it sends. No
         * keep-alive: Wine pools a connection whose body was left unread
         * and reads the next response from it (libcurl's side keeps no
         * connection past its exchange either). */
        if (r >= 0 &&
            !WinHttpSetOption(e->request, WINHTTP_OPTION_DISABLE_FEATURE, &off, sizeof(off)))
                r = fail_last(e->res, "disable redirects");
        free(host);
        free(method);
        return r;
}

/* "A: b\r\nC: d\r\n" in UTF-16, or NULL for no headers. */
static int request_headers(const struct reg_xfer *x, wchar_t **ret)
{
        size_t n = 0;
        char *all, *p;
        int r;

        *ret = NULL;
        for (const char *const *h = x->headers; h && *h; h++)
                n += strlen(*h) + 2;
        if (n == 0)
                return 0;
        all = p = malloc(n + 1);
        if (!all)
                return -ENOMEM;
        for (const char *const *h = x->headers; h && *h; h++)
                p += sprintf(p, "%s\r\n", *h);
        r = utf8_to_wide(all, n, ret);
        free(all);
        return r;
}

static int send_request(struct exchange *e)
{
        const struct reg_xfer *x = e->x;
        DWORD len = x->body ? (DWORD) strlen(x->body) : 0, wait = x->timeout_ms;
        wchar_t *hdrs = NULL;
        BOOL ok;
        int r;

        r = request_headers(x, &hdrs);
        if (r < 0)
                return fail_msg(e->res, r, false, "request headers: not valid UTF-8");
        /* The wait for the response's headers has a limit of its own (90 s
         * by default) that WinHttpSetTimeouts does not set. */
        WinHttpSetOption(e->request, WINHTTP_OPTION_RECEIVE_RESPONSE_TIMEOUT, &wait, sizeof(wait));
        ok = WinHttpSendRequest(e->request, hdrs ? hdrs : WINHTTP_NO_ADDITIONAL_HEADERS,
                                hdrs ? (DWORD) -1L : 0,
                                x->body ? (LPVOID) x->body : WINHTTP_NO_REQUEST_DATA, len, len, 0);
        free(hdrs);
        if (!ok)
                return fail_last(e->res, "send the request");
        if (!WinHttpReceiveResponse(e->request, NULL))
                return fail_last(e->res, "receive the response");
        return 0;
}

/* Each header line to on_header, as libcurl hands them (the status line
 * first); Content-Length and a redirect's Location noted on the way. */
static int deliver_headers(struct exchange *e, char *raw)
{
        char *save = NULL;

        for (char *l = strtok_r(raw, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
                size_t n = strlen(l);

                e->x->on_header(e->x->data, l, n);
                if (strncasecmp(l, "Content-Length:", 15) == 0) {
                        char *end;
                        long long v = strtoll(l + 15, &end, 10);

                        e->content_length = end != l + 15 && v >= 0 ? v : -1;
                } else if (strncasecmp(l, "Location:", 9) == 0 && e->res->status >= 300 &&
                           e->res->status < 400) {
                        const char *v = l + 9 + strspn(l + 9, " \t");

                        free(e->res->location);
                        e->res->location = reg_url_resolve(e->x->url, v);
                        if (!e->res->location)
                                return fail_msg(e->res, -EIO, false, "bad redirect Location");
                }
        }
        return 0;
}

static int read_headers(struct exchange *e)
{
        DWORD status = 0, size = sizeof(status);
        wchar_t *w = NULL;
        char *raw = NULL;
        int r;

        if (!WinHttpQueryHeaders(e->request, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                                 WINHTTP_HEADER_NAME_BY_INDEX, &status, &size,
                                 WINHTTP_NO_HEADER_INDEX))
                return fail_last(e->res, "read the status");
        e->res->status = (long) status;
        size = 0;
        WinHttpQueryHeaders(e->request, WINHTTP_QUERY_RAW_HEADERS_CRLF,
                            WINHTTP_HEADER_NAME_BY_INDEX, WINHTTP_NO_OUTPUT_BUFFER, &size,
                            WINHTTP_NO_HEADER_INDEX);
        if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || size == 0)
                return fail_last(e->res, "read the headers");
        if (size > WIN_HEADERS_MAX)
                return fail_msg(e->res, -EIO, false, "response headers too large");
        w = calloc(size / sizeof(wchar_t) + 1, sizeof(wchar_t));
        if (!w)
                return fail_msg(e->res, -ENOMEM, false, "out of memory");
        if (!WinHttpQueryHeaders(e->request, WINHTTP_QUERY_RAW_HEADERS_CRLF,
                                 WINHTTP_HEADER_NAME_BY_INDEX, w, &size, WINHTTP_NO_HEADER_INDEX))
                r = fail_last(e->res, "read the headers");
        else if ((r = wide_to_utf8(w, 3 * WIN_HEADERS_MAX, &raw)) < 0)
                r = fail_msg(e->res, -EIO, false, "response headers: not valid text");
        else
                r = deliver_headers(e, raw);
        free(w);
        free(raw);
        return r;
}

/* The body to on_body until it ends; a body shorter than its
 * Content-Length is a dropped connection, which a retry may cure. */
static int read_body(struct exchange *e)
{
        unsigned long long total = 0;
        char *buf = malloc(WIN_CHUNK);
        int r = 0;

        if (!buf)
                return fail_msg(e->res, -ENOMEM, false, "out of memory");
        for (;;) {
                DWORD avail = 0, got = 0, left = time_left_ms(e);

                if (left == 0) {
                        r = fail_code(e->res, "read the body", ERROR_WINHTTP_TIMEOUT);
                        break;
                }
                WinHttpSetOption(e->request, WINHTTP_OPTION_RECEIVE_TIMEOUT, &left, sizeof(left));
                /* Only what has arrived: Wine's WinHttpReadData waits to
                 * fill the whole buffer, past the deadline of a body that
                 * trickles in. */
                if (!WinHttpQueryDataAvailable(e->request, &avail)) {
                        r = fail_last(e->res, "read the body");
                        break;
                }
                if (avail == 0)
                        break;
                if (!WinHttpReadData(e->request, buf, avail < WIN_CHUNK ? avail : WIN_CHUNK,
                                     &got)) {
                        r = fail_last(e->res, "read the body");
                        break;
                }
                if (got == 0)
                        break;
                total += got;
                if (e->x->on_body(e->x->data, e->res->status, buf, got) < 0) {
                        r = fail_msg(e->res, -ECANCELED, false, "body refused");
                        break;
                }
        }
        free(buf);
        if (r >= 0 && e->content_length >= 0 && total != (unsigned long long) e->content_length) {
                snprintf(e->res->msg, sizeof(e->res->msg),
                         "connection closed after %llu of %lld bytes", total, e->content_length);
                e->res->transient = true;
                r = -EIO;
        }
        return r;
}

int reg_transport_do(const struct reg_xfer *x, struct reg_xfer_result *res)
{
        struct exchange e = {x, res, NULL, NULL, NULL, 0, -1};
        wchar_t *url = NULL;
        int r;

        *res = (struct reg_xfer_result){0};
        e.deadline_ns = plat_now_ns() + (uint64_t) x->timeout_ms * 1000000;
        r = utf8_to_wide(x->url, WIN_URL_MAX, &url);
        if (r < 0)
                return fail_msg(res, r == -ENOMEM ? -ENOMEM : -EIO, false, "URL: not valid");
        r = open_session(&e);
        if (r >= 0)
                r = open_request(&e, url);
        if (r >= 0)
                r = send_request(&e);
        if (r >= 0)
                r = read_headers(&e);
        if (r >= 0)
                r = read_body(&e);
        exchange_close(&e);
        free(url);
        return r;
}
