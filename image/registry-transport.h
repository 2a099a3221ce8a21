#pragma once

/*
 * The registry client's transport: one HTTP exchange, no redirect followed
 * (registry-http.c follows them itself, by its own rules). The only part of
 * the client that differs per platform: libcurl on Linux
 * (registry-curl.c), WinHTTP on Windows (registry-winhttp.c).
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define REG_XFER_MSG_MAX 256

struct reg_xfer {
        const char *method;         /* "GET" or "POST" */
        const char *url;            /* http:// or https:// */
        const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
        const char *body;           /* the POST body, or NULL */
        const char *proxy;          /* "http://host:port", or NULL: none (WinHTTP) or
                                       the environment's (libcurl) */
        unsigned timeout_ms;        /* the whole exchange */
        unsigned connect_timeout_ms;
        /* Each header line of each response, "HTTP/..." status line first
         * (a 100 Continue comes before the final one); CRLF may end it. */
        void (*on_header)(void *data, const char *line, size_t n);
        /* The body of the final response, in pieces; < 0 stops the
         * exchange (on_body recorded why). */
        int (*on_body)(void *data, long status, const char *p, size_t n);
        void *data;
};

struct reg_xfer_result {
        long status;                /* of the final response; 0 when none arrived */
        char *location;             /* a 3xx's target made absolute, malloc'd, or NULL */
        bool transient;             /* a retry may help: connect, reset, timeout, a short body */
        char msg[REG_XFER_MSG_MAX]; /* why it failed */
};

/* Once per process, before the first exchange; thread-safe. 0 or -errno
 * (recorded). */
int reg_transport_init(struct uvm_error **err);

/* One exchange. 0 when a whole response arrived (any status); -ECANCELED
 * when on_body refused; -ETIMEDOUT; -ENOMEM; -EIO for anything else (a
 * connection refused or dropped, a TLS failure, a malformed response), with
 * res->msg saying what and res->transient whether a retry may help.
 * res->location is the caller's to free, also after a failure. */
int reg_transport_do(const struct reg_xfer *x, struct reg_xfer_result *res);

/* The absolute URL a Location value names, relative to base (RFC 3986
 * reference resolution, dot segments removed). malloc'd; NULL when out of
 * memory or when base is not absolute. Portable (registry-http.c). */
char *reg_url_resolve(const char *base, const char *location);
