#pragma once

/*
 * Private to the registry client: registry.c (endpoints, mirrors, retries,
 * manifests and blobs), registry-http.c (requests, responses, redirects) and
 * registry-auth.c (challenges, credentials, token cache), all portable. What
 * differs per platform is behind registry-transport.h (one HTTP exchange:
 * libcurl, WinHTTP) and registry-plat.h (the blob file, sleeping).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/image.h"
#include "image/registry.h" /* its errno values on Windows */

#define REG_MAX_TOKENS 64
#define REG_TOKEN_MAX 8192
#define REG_ERRBODY_MAX 1024

struct reg_mirror {
        char *registry; /* "docker.io" */
        char **urls;    /* normalised base URLs, NULL-terminated */
};

struct reg_token {
        char *key;           /* "<host>\n<scope>\n<credential digest>" */
        char *authorization; /* full header value: "Bearer ..." or "Basic ..." */
        uint64_t expires_ms; /* CLOCK_MONOTONIC */
};

struct reg_client {
        /* immutable after reg_client_new */
        char **insecure;
        char *proxy; /* NULL: the transport's default */
        struct reg_mirror *mirrors;
        size_t n_mirrors;
        unsigned timeout_ms, retries;

        pthread_mutex_t lock;
        struct reg_token tokens[REG_MAX_TOKENS]; /* guarded by lock */
};

/* "host:port" is listed as insecure, exactly or by host name alone. */
bool reg_host_is_insecure(const struct reg_client *c, const char *hostport);
/* https, or http to a host listed insecure. */
bool reg_url_allowed(const struct reg_client *c, const char *url);
/* Non-empty, at most max visible ASCII characters: safe in a header. */
bool reg_printable_token(const char *s, size_t max);

/* Where a 200 response body goes. write() returns 0 or a negative errno after
 * recording why in code/msg; reset() starts over (a retry, the next mirror). */
struct reg_sink {
        int (*write)(struct reg_sink *s, const char *p, size_t n);
        int (*reset)(struct reg_sink *s);
        int code; /* positive errno once write() refused */
        char msg[256];
};

int reg_sink_fail(struct reg_sink *s, int code, const char *fmt, ...) _printf_(3, 4);

/* A body in memory, at most max bytes, NUL-terminated. */
struct reg_mem_sink {
        struct reg_sink base; /* first: the callbacks cast back */
        char *buf;
        size_t len, max;
};

int reg_mem_write(struct reg_sink *s, const char *p, size_t n);
int reg_mem_reset(struct reg_sink *s);
#define REG_MEM_SINK(max)                                                                          \
        {                                                                                          \
                {reg_mem_write, reg_mem_reset, 0, ""}, NULL, 0, (max)                              \
        }

/* What one HTTP exchange (after redirects) returned. */
struct reg_response {
        struct reg_sink *sink;
        long status;
        char *challenge;      /* WWW-Authenticate, a Bearer one preferred */
        char *content_digest; /* Docker-Content-Digest */
        char *content_type;   /* without parameters */
        char errbody[REG_ERRBODY_MAX + 1];
        size_t errlen;
};

void reg_response_clear(struct reg_response *r);

struct reg_request {
        const char *url;
        const char *host;          /* for messages */
        const char *authorization; /* header value or NULL */
        const char *accept;        /* header value or NULL */
        const char *post;          /* form body, or NULL for GET */
};

/* One request, following up to 5 redirects itself: plain HTTP only to
 * hosts listed insecure, Authorization only to the origin it was meant
 * for. 0 when an HTTP response arrived (any status, in resp), else a
 * negative errno recorded in err, with *ret_transient when a retry may
 * help. The sink is reset first. */
int reg_http_do(struct reg_client *c, const struct reg_request *q, struct reg_response *resp,
                bool *ret_transient, struct uvm_error **err);

/* The token cache, keyed by host, scope and credentials. */
char *reg_token_get(struct reg_client *c, const char *key);
void reg_token_forget(struct reg_client *c, const char *key);
void reg_token_put(struct reg_client *c, const char *key, const char *value, long ttl_s);
void reg_token_cache_clear(struct reg_client *c);

/* A WWW-Authenticate challenge: 'Bearer realm="...",service="...",scope="..."'
 * or 'Basic realm="..."' (quoted values may hold backslash escapes).
 * -EPROTO for another scheme, -ENOMEM. */
struct reg_challenge {
        bool bearer;
        char *realm, *service, *scope; /* NULL when absent */
};

int reg_challenge_parse(const char *header, struct reg_challenge *ret);
void reg_challenge_clear(struct reg_challenge *ch);

/* A token server's answer {"token"|"access_token": "...", "expires_in": n}
 * -> "Bearer <token>" and its lifetime in seconds (default 60, at most a
 * day). -EPROTO (recorded, naming host) for anything else. */
int reg_token_parse(const char *body, size_t len, const char *host, char **ret_authz, long *ret_ttl,
                    struct uvm_error **err);

/* Answer a 401's WWW-Authenticate challenge: a bearer token from its realm
 * (GET with basic credentials, or the OAuth2 refresh-token POST), or basic
 * credentials; the Authorization value is cached under key. */
int reg_auth_answer(struct reg_client *c, const char *challenge, const char *key, const char *scope,
                    const struct img_registry_auth *auth, const char *host, const char *name,
                    char **ret_authz, bool *ret_transient, struct uvm_error **err);
