/* The registry client's transport on Linux: libcurl (registry-transport.h). */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/macros.h"
#include "image/registry-transport.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int reg_transport_init(struct uvm_error **err)
{
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return uvm_error_set(err, EIO, "libcurl initialisation failed: %s",
                                     curl_easy_strerror(curl_init_result));
        return 0;
}

struct exchange {
        const struct reg_xfer *x;
        CURL *h;
        bool refused; /* on_body said stop */
};

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
        struct exchange *e = userdata;
        size_t n = size * nmemb;

        e->x->on_header(e->x->data, p, n);
        return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
        struct exchange *e = userdata;
        size_t n = size * nmemb;
        long code = 0;

        curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, &code);
        if (e->x->on_body(e->x->data, code, p, n) < 0) {
                e->refused = true;
                return 0;
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

static int set_headers(CURL *h, const struct reg_xfer *x, struct curl_slist **hdrs)
{
        struct curl_slist *l = NULL, *t;

        for (const char *const *p = x->headers; p && *p; p++) {
                t = curl_slist_append(l, *p);
                if (!t) {
                        curl_slist_free_all(l);
                        return -ENOMEM;
                }
                l = t;
        }
        *hdrs = l;
        return curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) == CURLE_OK ? 0 : -ENOMEM;
}

static void setup_handle(CURL *h, const struct reg_xfer *x, struct exchange *e, char *errbuf)
{
        curl_easy_setopt(h, CURLOPT_URL, x->url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "uvmd");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        /* Redirects are the caller's to follow: libcurl would allow plain
         * HTTP to any host. */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) x->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) x->connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, e);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, e);
        if (x->proxy)
                curl_easy_setopt(h, CURLOPT_PROXY, x->proxy);
        if (x->body)
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
}

int reg_transport_do(const struct reg_xfer *x, struct reg_xfer_result *res)
{
        char errbuf[CURL_ERROR_SIZE] = "";
        struct exchange e = {x, NULL, false};
        struct curl_slist *hdrs = NULL;
        char *loc = NULL;
        CURLcode rc;
        int r;

        *res = (struct reg_xfer_result){0};
        e.h = curl_easy_init();
        if (!e.h) {
                snprintf(res->msg, sizeof(res->msg), "cannot create a curl handle");
                return -ENOMEM;
        }
        setup_handle(e.h, x, &e, errbuf);
        r = set_headers(e.h, x, &hdrs);
        rc = r < 0 ? CURLE_OUT_OF_MEMORY : curl_easy_perform(e.h);
        curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &res->status);
        if (rc == CURLE_OK && res->status >= 300 && res->status < 400 &&
            curl_easy_getinfo(e.h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
            !(res->location = strdup(loc)))
                rc = CURLE_OUT_OF_MEMORY;
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(e.h);
        if (rc == CURLE_OK)
                return 0;
        res->transient = curl_transient(rc);
        snprintf(res->msg, sizeof(res->msg), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        if (e.refused)
                return -ECANCELED;
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return -ETIMEDOUT;
        if (rc == CURLE_OUT_OF_MEMORY)
                return -ENOMEM;
        return -EIO;
}
