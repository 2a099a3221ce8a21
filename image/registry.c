#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/platform.h"
#include "image/manifest.h"
#include "image/registry-internal.h"
#include "image/registry-plat.h"
#include "image/registry-transport.h"
#include "image/registry.h"

#define REG_DEFAULT_TIMEOUT_MS (10u * 60 * 1000)
#define REG_DEFAULT_RETRIES 3u
#define REG_MAX_RETRIES 10u
#define REG_BACKOFF_MS 200u
#define REG_MAX_MIRRORS 16

/* One place a repository is served from: a mirror or the registry itself. */
struct reg_endpoint {
        char *base; /* "https://host:port[/prefix]", no trailing slash */
        char *host; /* "host:port" as in the URL */
        bool plain_http;
};

static void endpoint_clear(struct reg_endpoint *e)
{
        free(e->base);
        free(e->host);
        *e = (struct reg_endpoint){0};
}

static bool good_host(const char *h, size_t n)
{
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) h[i]) && !strchr(".-:[]_", h[i]))
                        return false;
        return true;
}

/* Split "scheme://host[:port][/prefix]" (scheme defaults to https) into an
 * endpoint; plain http is refused unless the host is listed insecure. */
static int endpoint_from_url(const struct reg_client *c, const char *url, struct reg_endpoint *ret,
                             struct uvm_error **err)
{
        struct reg_endpoint e = {0};
        const char *rest = url;
        size_t hlen, plen;

        if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncmp(url, "http://", 7) == 0)
                rest = url + 7, e.plain_http = true;
        else if (strstr(url, "://"))
                return uvm_error_set(err, EINVAL, "mirror \"%s\": only http and https", url);
        hlen = strcspn(rest, "/?#");
        if (!good_host(rest, hlen) || rest[hlen] == '?' || rest[hlen] == '#')
                return uvm_error_set(err, EINVAL, "mirror \"%s\": bad host", url);
        plen = strlen(rest + hlen);
        while (plen > 0 && rest[hlen + plen - 1] == '/')
                plen--;
        if (plen >= 3 && strncmp(rest + hlen + plen - 3, "/v2", 3) == 0)
                plen -= 3;
        e.host = strndup(rest, hlen);
        if (!e.host)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (e.plain_http && !reg_host_is_insecure(c, e.host)) {
                endpoint_clear(&e);
                return uvm_error_set(err, EINVAL,
                                     "mirror \"%s\": plain HTTP needs the host in "
                                     "insecure_registries",
                                     url);
        }
        if (asprintf(&e.base, "%s://%.*s%.*s", e.plain_http ? "http" : "https", (int) hlen, rest,
                     (int) plen, rest + hlen) < 0) {
                e.base = NULL;
                endpoint_clear(&e);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = e;
        return 0;
}

static int parse_mirror(struct reg_client *c, const char *spec, struct reg_mirror *ret,
                        struct uvm_error **err)
{
        const char *eq = strchr(spec, '=');
        _cleanup_strv_ char **urls = NULL;
        _cleanup_free_ char *list = NULL;
        size_t n = 0;
        char *save = NULL;

        if (!eq || eq == spec || !good_host(spec, (size_t) (eq - spec)) || !eq[1])
                return uvm_error_set(err, EINVAL, "mirror \"%s\": expected \"registry=url1,url2\"",
                                     spec);
        list = strdup(eq + 1);
        urls = calloc(REG_MAX_MIRRORS + 1, sizeof(char *));
        if (!list || !urls)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
                struct reg_endpoint e = {0};
                int r;

                if (n == REG_MAX_MIRRORS)
                        return uvm_error_set(err, EINVAL, "mirror \"%s\": more than %d URLs", spec,
                                             REG_MAX_MIRRORS);
                r = endpoint_from_url(c, u, &e, err);
                if (r < 0)
                        return r;
                urls[n++] = TAKE_PTR(e.base);
                endpoint_clear(&e);
        }
        ret->registry = strndup(spec, (size_t) (eq - spec));
        if (!ret->registry)
                return uvm_error_set(err, ENOMEM, "out of memory");
        ret->urls = TAKE_PTR(urls);
        return 0;
}

static char **strv_copy(char *const *v)
{
        size_t n = 0;
        char **out;

        while (v && v[n])
                n++;
        out = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; out && i < n; i++)
                if (!(out[i] = strdup(v[i]))) {
                        strv_free(out);
                        return NULL;
                }
        return out;
}

struct reg_client *reg_client_free(struct reg_client *c)
{
        if (!c)
                return NULL;
        strv_free(c->insecure);
        free(c->proxy);
        for (size_t i = 0; i < c->n_mirrors; i++) {
                free(c->mirrors[i].registry);
                strv_free(c->mirrors[i].urls);
        }
        free(c->mirrors);
        reg_token_cache_clear(c);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

static void reg_client_freep(struct reg_client **c)
{
        reg_client_free(*c);
}

int reg_client_new(const struct reg_options *o, struct reg_client **ret, struct uvm_error **err)
{
        _cleanup_(reg_client_freep) struct reg_client *c = NULL;
        size_t n = 0;
        int r;

        r = reg_transport_init(err);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&c->lock, NULL);
        c->timeout_ms = o && o->timeout_ms ? o->timeout_ms : REG_DEFAULT_TIMEOUT_MS;
        c->retries = o && o->retries ? o->retries : REG_DEFAULT_RETRIES;
        if (c->retries > REG_MAX_RETRIES)
                c->retries = REG_MAX_RETRIES;
        c->insecure = strv_copy(o ? o->insecure_registries : NULL);
        if (o && !STR_EMPTY(o->proxy) && !(c->proxy = strdup(o->proxy)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        while (o && o->mirrors && o->mirrors[n])
                n++;
        c->mirrors = calloc(n + 1, sizeof(*c->mirrors));
        if (!c->insecure || !c->mirrors)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (; c->n_mirrors < n; c->n_mirrors++) {
                r = parse_mirror(c, o->mirrors[c->n_mirrors], &c->mirrors[c->n_mirrors], err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

struct file_sink {
        struct reg_sink base;
        struct reg_file *file;
        struct img_hasher *hasher;
        int64_t written, size;
};

static int file_write(struct reg_sink *s, const char *p, size_t n)
{
        struct file_sink *f = (struct file_sink *) s;
        int r;

        if ((uint64_t) n > (uint64_t) (f->size - f->written))
                return reg_sink_fail(s, EBADMSG, "blob is larger than the %lld bytes expected",
                                     (long long) f->size);
        img_hasher_update(f->hasher, p, n);
        f->written += (int64_t) n;
        r = reg_file_write(f->file, p, n);
        return r < 0 ? reg_sink_fail(s, -r, "write: %s", strerror(-r)) : 0;
}

static int file_reset(struct reg_sink *s)
{
        struct file_sink *f = (struct file_sink *) s;
        char discard[IMG_DIGEST_LEN + 1];
        int r;

        s->code = 0;
        f->written = 0;
        img_hasher_final(f->hasher, discard); /* resets it */
        r = reg_file_truncate(f->file);
        return r < 0 ? reg_sink_fail(s, -r, "truncate: %s", strerror(-r)) : 0;
}

/* --------------------------------------------------------- one endpoint */

struct reg_call {
        struct reg_client *c;
        const struct reg_endpoint *ep;
        const struct img_registry_auth *auth;
        const char *scope;   /* "repository:<path>:pull" */
        const char *name;    /* "host/path", for messages */
        const char *unknown; /* the 404 message */
        const char *url;
        const char *accept;
        struct reg_response resp; /* of the last exchange */
};

/* Move a recorded error to the caller's (the first recorded one wins). */
static int error_move(struct uvm_error **err, struct uvm_error **e)
{
        int code = uvm_error_code(*e);

        if (err && !*err)
                *err = TAKE_PTR(*e);
        return code;
}

/* ": <message>" from an OCI error body {"errors":[{"message":...}]}. */
static void registry_message(const struct reg_response *r, char *out, size_t n)
{
        json_object *o = r->errlen ? json_tokener_parse(r->errbody) : NULL, *v, *e;
        const char *m = NULL;

        out[0] = '\0';
        if (json_object_object_get_ex(o, "errors", &v) && json_object_is_type(v, json_type_array) &&
            json_object_array_length(v) > 0 && (e = json_object_array_get_idx(v, 0)) &&
            json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string))
                m = json_object_get_string(v);
        if (m) {
                snprintf(out, n, ": %.200s", m);
                for (char *p = out; *p; p++)
                        if ((unsigned char) *p < ' ' || *p == 0x7f)
                                *p = ' ';
        }
        json_object_put(o);
}

/* The token cache key: endpoint host, scope and a digest of the
 * credentials, so a token fetched with one pull secret never serves a pull
 * made with another (or with none). */
static int cache_key(const struct reg_call *k, char **ret)
{
        const struct img_registry_auth *a = k->auth;
        const char *f[] = {a ? a->username : NULL, a ? a->password : NULL, a ? a->auth : NULL,
                           a ? a->identity_token : NULL};
        char fp[IMG_DIGEST_LEN + 1];
        struct img_hasher *h = img_hasher_new();

        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < ARRAY_SIZE(f); i++)
                img_hasher_update(h, f[i] ? f[i] : "", f[i] ? strlen(f[i]) + 1 : 0);
        img_hasher_update(h, "|", 1);
        img_hasher_final(h, fp);
        img_hasher_free(h);
        return asprintf(ret, "%s\n%s\n%s", k->ep->host, k->scope, fp) < 0 ? -ENOMEM : 0;
}

static int call_status(struct reg_call *k, struct uvm_error **err)
{
        char msg[256];

        registry_message(&k->resp, msg, sizeof(msg));
        switch (k->resp.status) {
        case 200:
                return 0;
        case 401:
        case 403:
                return uvm_error_set(err, EKEYREJECTED, "unauthorized: %s refused access to %s%s",
                                     k->ep->host, k->name, msg);
        case 404:
                return uvm_error_set(err, ENOENT, "%s%s", k->unknown, msg);
        default:
                return uvm_error_set(err, EIO, "registry %s: unexpected HTTP %ld for %s%s",
                                     k->ep->host, k->resp.status, k->name, msg);
        }
}

/* GET k->url: answer one auth challenge, retry transient failures with
 * exponential backoff, and map the final status to an error. */
static int call_endpoint(struct reg_call *k, struct uvm_error **err)
{
        _cleanup_free_ char *key = NULL, *authz = NULL;
        bool challenged = false, fixed = false;
        unsigned attempt = 0;

        if (cache_key(k, &key) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (k->auth && !STR_EMPTY(k->auth->registry_token)) {
                if (!reg_printable_token(k->auth->registry_token, REG_TOKEN_MAX))
                        return uvm_error_set(err, EINVAL, "registry token is malformed");
                if (asprintf(&authz, "Bearer %s", k->auth->registry_token) < 0)
                        return authz = NULL, uvm_error_set(err, ENOMEM, "out of memory");
                fixed = true;
        } else
                authz = reg_token_get(k->c, key);
        for (;;) {
                _cleanup_error_ struct uvm_error *e = NULL;
                struct reg_request q = {k->url, k->ep->host, authz, k->accept, NULL};
                bool transient = false;
                char msg[256];
                int r = reg_http_do(k->c, &q, &k->resp, &transient, &e);

                if (r >= 0 && k->resp.status == 401 && !challenged && !fixed) {
                        reg_token_forget(k->c, key);
                        free(TAKE_PTR(authz));
                        r = reg_auth_answer(k->c, k->resp.challenge, key, k->scope, k->auth,
                                            k->ep->host, k->name, &authz, &transient, &e);
                        if (r >= 0) {
                                challenged = true;
                                continue;
                        }
                }
                if (r >= 0 && (k->resp.status == 429 || k->resp.status >= 500)) {
                        registry_message(&k->resp, msg, sizeof(msg));
                        transient = true;
                        r = uvm_error_set(&e, EAGAIN, "registry %s returned HTTP %ld%s",
                                          k->ep->host, k->resp.status, msg);
                }
                if (r < 0 && transient && attempt < k->c->retries) {
                        log_debug("registry %s: %s, retrying", k->ep->host, e ? e->msg : "");
                        reg_sleep_ms(REG_BACKOFF_MS << attempt++);
                        continue;
                }
                if (r < 0)
                        return error_move(err, &e);
                return call_status(k, err);
        }
}

/* ------------------------------------------------------ mirrors, fetches */

/* What to fetch and how to check a 200 before it counts. */
struct reg_fetch {
        const char *kind;   /* "manifests" or "blobs" */
        const char *object; /* tag or digest */
        const char *accept;
        const char *unknown;
        struct reg_sink *sink;
        int (*verify)(struct reg_fetch *f, const struct reg_call *k, struct uvm_error **err);
        /* manifest results */
        char digest[IMG_DIGEST_LEN + 1];
        char *media_type;
        /* blob */
        struct file_sink *file;
};

static void endpoints_free(struct reg_endpoint *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                endpoint_clear(&v[i]);
        free(v);
}

/* The mirrors configured for the reference's registry, then the registry. */
static int endpoints_for(struct reg_client *c, const struct img_ref *ref, struct reg_endpoint **ret,
                         size_t *ret_n, struct uvm_error **err)
{
        const char *host = img_ref_registry_host(ref);
        struct reg_endpoint *v = NULL;
        size_t n = 0, cap = 1;
        int r = 0;

        for (size_t i = 0; i < c->n_mirrors; i++)
                if (STR_EQ(c->mirrors[i].registry, ref->domain) ||
                    STR_EQ(c->mirrors[i].registry, host))
                        for (char **u = c->mirrors[i].urls; *u; u++)
                                cap++;
        v = calloc(cap, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < c->n_mirrors; i++)
                if (STR_EQ(c->mirrors[i].registry, ref->domain) ||
                    STR_EQ(c->mirrors[i].registry, host))
                        for (char **u = c->mirrors[i].urls; r >= 0 && *u; u++)
                                if ((r = endpoint_from_url(c, *u, &v[n], err)) >= 0)
                                        n++;
        if (r >= 0) {
                v[n].plain_http = reg_host_is_insecure(c, host);
                v[n].host = strdup(host);
                if (!v[n].host ||
                    asprintf(&v[n].base, "%s://%s", v[n].plain_http ? "http" : "https", host) < 0)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                n++;
        }
        if (r < 0) {
                endpoints_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Failures a mirror cannot cure: stop instead of trying the next place. */
static bool fatal_code(int code)
{
        return code == -ENOSPC || code == -EDQUOT || code == -EROFS || code == -ENOMEM ||
               code == -EINVAL || code == -EIO;
}

static int fetch_from(struct reg_client *c, const struct img_ref *ref,
                      const struct img_registry_auth *auth, const char *name,
                      const struct reg_endpoint *ep, struct reg_fetch *f, struct uvm_error **err)
{
        _cleanup_free_ char *url = NULL, *scope = NULL;
        struct reg_call k = {
                c, ep, auth, NULL, name, f->unknown, NULL, f->accept, {.sink = f->sink}};
        int r;

        if (asprintf(&url, "%s/v2/%s/%s/%s", ep->base, ref->path, f->kind, f->object) < 0 ||
            asprintf(&scope, "repository:%s:pull", ref->path) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        k.url = url;
        k.scope = scope;
        r = call_endpoint(&k, err);
        if (r >= 0)
                r = f->verify(f, &k, err);
        reg_response_clear(&k.resp);
        return r;
}

/* "https://host:port/path" -> "host:port"; Docker Hub's names are one. */
static void server_host(const char *s, char *out, size_t n)
{
        const char *p = strstr(s, "://");
        size_t len;

        p = p ? p + 3 : s;
        len = strcspn(p, "/");
        snprintf(out, n, "%.*s", (int) len, p);
        for (char *q = out; *q; q++)
                *q = (char) tolower((unsigned char) *q);
        if (STR_EQ(out, "index.docker.io") || STR_EQ(out, "registry-1.docker.io"))
                snprintf(out, n, "docker.io");
}

/* The credentials of a pull go to the image's own registry, and only when
 * they were given for it: a mirror (a pull-through cache, perhaps public)
 * gets none. */
static const struct img_registry_auth *auth_for(const struct img_registry_auth *auth,
                                                const struct img_ref *ref, bool mirror)
{
        char want[256], have[256];

        if (!auth || mirror)
                return NULL;
        if (STR_EMPTY(auth->server_address))
                return auth;
        server_host(auth->server_address, have, sizeof(have));
        server_host(ref->domain, want, sizeof(want));
        if (STR_EQ(have, want))
                return auth;
        server_host(img_ref_registry_host(ref), want, sizeof(want));
        return STR_EQ(have, want) ? auth : NULL;
}

static int fetch(struct reg_client *c, const struct img_ref *ref,
                 const struct img_registry_auth *auth, struct reg_fetch *f, struct uvm_error **err)
{
        _cleanup_free_ char *name = img_ref_name(ref);
        struct reg_endpoint *eps = NULL;
        size_t n = 0;
        int r;

        if (!name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = endpoints_for(c, ref, &eps, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_error_ struct uvm_error *e = NULL;

                /* The registry itself is the last endpoint; mirrors come first. */
                r = fetch_from(c, ref, auth_for(auth, ref, i + 1 < n), name, &eps[i], f, &e);
                if (r >= 0 || i + 1 == n || fatal_code(r)) {
                        r = r >= 0 ? r : error_move(err, &e);
                        break;
                }
                log_debug("mirror %s for %s failed: %s; trying the next", eps[i].host, name,
                          e->msg ? e->msg : "");
                r = 0;
        }
        endpoints_free(eps, n);
        return r;
}

static bool good_tag(const char *t)
{
        size_t n = strlen(t);

        if (n == 0 || n > 128 || !(isalnum((unsigned char) t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

/* img_ref_parse validated these; we put them in URLs, so check again. */
static int check_ref(const struct img_ref *ref, const char *object, struct uvm_error **err)
{
        const char *p = ref ? ref->path : NULL;

        if (!ref || STR_EMPTY(ref->domain) || STR_EMPTY(p) || !isalnum((unsigned char) p[0]) ||
            strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789._/-") != strlen(p) || strstr(p, ".."))
                return uvm_error_set(err, EINVAL, "invalid repository \"%s\"", p ? p : "");
        if (!good_host(ref->domain, strlen(ref->domain)))
                return uvm_error_set(err, EINVAL, "invalid registry \"%s\"", ref->domain);
        if (!object || (!img_digest_valid(object) && !good_tag(object)))
                return uvm_error_set(err, EINVAL, "invalid tag or digest \"%s\"",
                                     object ? object : "");
        return 0;
}

static int verify_manifest(struct reg_fetch *f, const struct reg_call *k, struct uvm_error **err)
{
        struct reg_mem_sink *m = (struct reg_mem_sink *) f->sink;
        const char *ct = k->resp.content_type;

        switch (img_media_classify(ct)) {
        case IMG_MEDIA_OCI_MANIFEST:
        case IMG_MEDIA_OCI_INDEX:
        case IMG_MEDIA_DOCKER_MANIFEST:
        case IMG_MEDIA_DOCKER_LIST:
                break;
        default:
                return uvm_error_set(err, ENOTSUP, "unsupported media type \"%.100s\" for %s",
                                     ct ? ct : "", k->name);
        }
        if (m->len == 0)
                return uvm_error_set(err, EBADMSG, "empty manifest for %s", k->name);
        img_digest_buf(m->buf, m->len, f->digest);
        if (img_digest_valid(f->object) && !STR_EQ(f->object, f->digest))
                return uvm_error_set(err, EBADMSG,
                                     "manifest digest mismatch for %s: expected %s, got %s",
                                     k->name, f->object, f->digest);
        if (img_digest_valid(k->resp.content_digest) && !STR_EQ(k->resp.content_digest, f->digest))
                return uvm_error_set(err, EBADMSG,
                                     "manifest digest mismatch for %s: registry says %s, got %s",
                                     k->name, k->resp.content_digest, f->digest);
        free(f->media_type);
        f->media_type = strdup(ct);
        return f->media_type ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

int reg_get_manifest(struct reg_client *c, const struct img_ref *ref, const char *reference,
                     const struct img_registry_auth *auth, char **ret_body, size_t *ret_len,
                     char **ret_media_type, char ret_digest[IMG_DIGEST_LEN + 1],
                     struct uvm_error **err)
{
        struct reg_mem_sink sink = REG_MEM_SINK(IMG_MAX_JSON);
        _cleanup_free_ char *refstr = NULL, *unknown = NULL;
        struct reg_fetch f = {"manifests", reference,  img_media_accept(),
                              NULL,        &sink.base, verify_manifest};
        int r;

        if (!f.object && ref)
                f.object = ref->digest ? ref->digest : ref->tag;
        r = check_ref(ref, f.object, err);
        if (r < 0)
                return r;
        refstr = img_ref_string(ref);
        if (!refstr || asprintf(&unknown, "manifest unknown: %s", refstr) < 0)
                return unknown = NULL, uvm_error_set(err, ENOMEM, "out of memory");
        f.unknown = unknown;
        r = fetch(c, ref, auth, &f, err);
        if (r < 0) {
                reg_mem_reset(&sink.base);
                free(f.media_type);
                return r;
        }
        *ret_body = TAKE_PTR(sink.buf);
        *ret_len = sink.len;
        if (ret_media_type)
                *ret_media_type = TAKE_PTR(f.media_type);
        free(f.media_type);
        if (ret_digest)
                memcpy(ret_digest, f.digest, IMG_DIGEST_LEN + 1);
        return 0;
}

static int verify_blob(struct reg_fetch *f, const struct reg_call *k, struct uvm_error **err)
{
        struct file_sink *fs = f->file;
        char got[IMG_DIGEST_LEN + 1];
        int r;

        if (fs->written != fs->size)
                return uvm_error_set(
                        err, EBADMSG,
                        "size mismatch for blob %s of %s: expected %lld bytes, got %lld", f->object,
                        k->name, (long long) fs->size, (long long) fs->written);
        img_hasher_final(fs->hasher, got);
        if (!STR_EQ(got, f->object))
                return uvm_error_set(err, EBADMSG, "digest mismatch for blob %s of %s: got %s",
                                     f->object, k->name, got);
        r = reg_file_sync(fs->file);
        if (r < 0)
                return uvm_error_set(err, -r, "fsync blob %s: %s", f->object, strerror(-r));
        return 0;
}

static int get_blob_into(struct reg_client *c, const struct img_ref *ref, const char *digest,
                         struct file_sink *fs, const struct img_registry_auth *auth,
                         struct uvm_error **err)
{
        _cleanup_free_ char *name = img_ref_name(ref), *unknown = NULL;
        struct reg_fetch f = {"blobs", digest, NULL, NULL, &fs->base, verify_blob};
        int r;

        if (!name || asprintf(&unknown, "blob unknown: %s@%s", name, digest) < 0)
                return unknown = NULL, uvm_error_set(err, ENOMEM, "out of memory");
        f.unknown = unknown;
        f.file = fs;
        r = fetch(c, ref, auth, &f, err);
        /* A dropped connection says which host, not which of the blobs. */
        if (r < 0 && err && *err && !strstr((*err)->msg, digest))
                uvm_error_wrap(err, "blob %s", digest);
        return r;
}

int reg_get_blob(struct reg_client *c, const struct img_ref *ref, const char *digest, int64_t size,
                 const struct img_registry_auth *auth, const char *dest_path,
                 struct uvm_error **err)
{
        struct file_sink fs = {{file_write, file_reset, 0, ""}, NULL, NULL, 0, size};
        int r, k;

        r = check_ref(ref, digest, err);
        if (r >= 0 && !img_digest_valid(digest))
                r = uvm_error_set(err, EINVAL, "invalid blob digest \"%s\"", digest);
        if (r >= 0 && size < 0)
                r = uvm_error_set(err, EINVAL, "invalid blob size %lld", (long long) size);
        if (r >= 0 && STR_EMPTY(dest_path))
                r = uvm_error_set(err, EINVAL, "no destination for blob %s", digest);
        if (r < 0)
                return r;
        r = reg_file_create(dest_path, &fs.file);
        if (r < 0)
                return uvm_error_set(err, -r, "create %s: %s", dest_path, strerror(-r));
        fs.hasher = img_hasher_new();
        r = fs.hasher ? get_blob_into(c, ref, digest, &fs, auth, err)
                      : uvm_error_set(err, ENOMEM, "out of memory");
        img_hasher_free(fs.hasher);
        k = reg_file_close(fs.file);
        if (k < 0 && r >= 0)
                r = uvm_error_set(err, -k, "close %s: %s", dest_path, strerror(-k));
        if (r < 0)
                reg_file_remove(dest_path);
        return r;
}
