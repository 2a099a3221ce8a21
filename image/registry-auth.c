#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/encode.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/registry-internal.h"

#define REG_TOKEN_BODY_MAX (64u << 10)
#define REG_DEFAULT_TOKEN_S 60
#define REG_MAX_TOKEN_S (24 * 3600)
#define REG_BASIC_CACHE_S 300

static uint64_t now_ms(void)
{
        return plat_now_ns() / 1000000;
}

/* ---------------------------------------------------------- token cache */

static struct reg_token *token_find(struct reg_client *c, const char *key)
{
        for (size_t i = 0; i < REG_MAX_TOKENS; i++)
                if (c->tokens[i].key && STR_EQ(c->tokens[i].key, key))
                        return &c->tokens[i];
        return NULL;
}

static void token_drop(struct reg_token *t)
{
        free(t->key);
        free(t->authorization);
        *t = (struct reg_token){0};
}

/* A copy of the cached Authorization value for key, or NULL. */
char *reg_token_get(struct reg_client *c, const char *key)
{
        struct reg_token *t;
        char *v = NULL;

        pthread_mutex_lock(&c->lock);
        t = token_find(c, key);
        if (t && t->expires_ms <= now_ms())
                token_drop(t);
        else if (t)
                v = strdup(t->authorization);
        pthread_mutex_unlock(&c->lock);
        return v;
}

void reg_token_forget(struct reg_client *c, const char *key)
{
        struct reg_token *t;

        pthread_mutex_lock(&c->lock);
        t = token_find(c, key);
        if (t)
                token_drop(t);
        pthread_mutex_unlock(&c->lock);
}

/* Store key -> value for ttl_s seconds (less a margin, so a token is not
 * used just as it expires); evicts the entry closest to expiry when full. */
void reg_token_put(struct reg_client *c, const char *key, const char *value, long ttl_s)
{
        uint64_t ttl_ms = (uint64_t) ttl_s * 1000, now = now_ms();
        struct reg_token *slot;
        char *k = strdup(key), *v = strdup(value);

        if (!k || !v) {
                free(k);
                free(v);
                return; /* only a cache */
        }
        ttl_ms -= ttl_ms > 20000 ? 10000 : ttl_ms / 2;
        pthread_mutex_lock(&c->lock);
        slot = token_find(c, key);
        for (size_t i = 0; !slot && i < REG_MAX_TOKENS; i++)
                if (!c->tokens[i].key)
                        slot = &c->tokens[i];
        if (!slot) { /* full: replace the entry that expires first */
                slot = &c->tokens[0];
                for (size_t i = 1; i < REG_MAX_TOKENS; i++)
                        if (c->tokens[i].expires_ms < slot->expires_ms)
                                slot = &c->tokens[i];
        }
        token_drop(slot);
        *slot = (struct reg_token){k, v, now + ttl_ms};
        pthread_mutex_unlock(&c->lock);
}

void reg_token_cache_clear(struct reg_client *c)
{
        for (size_t i = 0; i < REG_MAX_TOKENS; i++)
                token_drop(&c->tokens[i]);
}

/* ------------------------------------------------------------------ auth */

void reg_challenge_clear(struct reg_challenge *ch)
{
        free(ch->realm);
        free(ch->service);
        free(ch->scope);
        *ch = (struct reg_challenge){0};
}

/* One auth-param value, quoted (with backslash escapes) or a bare token. */
static char *challenge_value(const char **pp)
{
        const char *p = *pp;
        char *out = malloc(strlen(p) + 1), *o = out;

        if (!out)
                return NULL;
        if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                        if (*p == '\\' && p[1])
                                p++;
                        *o++ = *p;
                }
                if (*p == '"')
                        p++;
        } else
                while (*p && *p != ',' && *p != ' ')
                        *o++ = *p++;
        *o = '\0';
        *pp = p;
        return out;
}

/* 'Bearer realm="https://auth",service="reg",scope="repository:x:pull"'
 * or 'Basic realm="..."'. -EPROTO for anything else. */
int reg_challenge_parse(const char *h, struct reg_challenge *ret)
{
        struct reg_challenge ch = {0};
        const char *p = h + strcspn(h, " ");

        if ((size_t) (p - h) == 6 && strncasecmp(h, "Bearer", 6) == 0)
                ch.bearer = true;
        else if ((size_t) (p - h) != 5 || strncasecmp(h, "Basic", 5) != 0)
                return -EPROTO;
        while (*p) {
                size_t klen;
                const char *key;
                char *v, **slot = NULL;

                p += strspn(p, " ,\t");
                key = p;
                klen = strcspn(p, "= ,");
                if (!*p || p[klen] != '=')
                        break;
                p += klen + 1;
                v = challenge_value(&p);
                if (!v) {
                        reg_challenge_clear(&ch);
                        return -ENOMEM;
                }
                if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
                        slot = &ch.realm;
                else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
                        slot = &ch.service;
                else if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
                        slot = &ch.scope;
                if (slot) {
                        free(*slot);
                        *slot = v;
                } else
                        free(v);
        }
        *ret = ch;
        return 0;
}

bool reg_printable_token(const char *s, size_t max)
{
        size_t n = 0;

        for (; s[n]; n++)
                if (n >= max || s[n] <= ' ' || s[n] > '~')
                        return false;
        return n > 0;
}

/* "Basic <b64>" from username/password or the "auth" field; *ret = NULL
 * when neither is given. */
static int basic_authorization(const struct img_registry_auth *a, char **ret,
                               struct uvm_error **err)
{
        _cleanup_free_ char *pair = NULL, *b64 = NULL;
        char *v;

        *ret = NULL;
        if (a && !STR_EMPTY(a->username)) {
                if (strchr(a->username, ':'))
                        return uvm_error_set(err, EINVAL, "registry username contains ':'");
                if (asprintf(&pair, "%s:%s", a->username, a->password ? a->password : "") < 0)
                        return pair = NULL, -ENOMEM;
                b64 = enc_base64(pair, strlen(pair));
        } else if (a && !STR_EMPTY(a->auth)) {
                if (strspn(a->auth, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789+/=") != strlen(a->auth) ||
                    strlen(a->auth) > REG_TOKEN_MAX)
                        return uvm_error_set(err, EINVAL, "registry auth is not base64");
                b64 = strdup(a->auth);
        } else
                return 0;
        if (!b64 || asprintf(&v, "Basic %s", b64) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = v;
        return 0;
}

/* The token request: GET realm?service=&scope= (basic credentials when
 * given), or the OAuth2 refresh-token POST when an identity token is. */
static int token_request(const struct reg_challenge *ch, const char *scope,
                         const struct img_registry_auth *a, char **ret_url, char **ret_post)
{
        _cleanup_free_ char *svc = NULL, *scp = NULL, *rt = NULL;
        bool refresh = a && !STR_EMPTY(a->identity_token);
        const char *sep = strchr(ch->realm, '?') ? "&" : "?";
        char *url, *post = NULL;

        svc = enc_url_escape(ch->service ? ch->service : "");
        scp = enc_url_escape(scope);
        rt = refresh ? enc_url_escape(a->identity_token) : NULL;
        if (!svc || !scp || (refresh && !rt))
                return -ENOMEM;
        if (refresh) {
                if (asprintf(&post,
                             "grant_type=refresh_token&service=%s&scope=%s&client_id=uvmd"
                             "&refresh_token=%s",
                             svc, scp, rt) < 0)
                        return -ENOMEM;
                url = strdup(ch->realm);
        } else if (asprintf(&url, "%s%sservice=%s&scope=%s", ch->realm, sep, svc, scp) < 0)
                url = NULL;
        if (!url) {
                free(post);
                return -ENOMEM;
        }
        *ret_url = url;
        *ret_post = post;
        return 0;
}

/* {"token"|"access_token": "...", "expires_in": n} -> "Bearer ..." and a TTL. */
int reg_token_parse(const char *body, size_t len, const char *host, char **ret, long *ret_ttl,
                    struct uvm_error **err)
{
        json_tokener *tok = json_tokener_new();
        json_object *o = tok ? json_tokener_parse_ex(tok, body, (int) len) : NULL, *v;
        const char *t = NULL;
        long ttl = REG_DEFAULT_TOKEN_S;
        int r = 0;

        if (tok)
                json_tokener_free(tok);
        if (!json_object_is_type(o, json_type_object))
                r = uvm_error_set(err, EPROTO, "token server for %s sent no JSON object", host);
        else {
                if (json_object_object_get_ex(o, "token", &v) ||
                    json_object_object_get_ex(o, "access_token", &v))
                        t = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                     : NULL;
                if (json_object_object_get_ex(o, "expires_in", &v) &&
                    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
                        ttl = json_object_get_int64(v) < REG_MAX_TOKEN_S
                                      ? (long) json_object_get_int64(v)
                                      : REG_MAX_TOKEN_S;
                if (!t || !reg_printable_token(t, REG_TOKEN_MAX))
                        r = uvm_error_set(err, EPROTO, "token server for %s sent no valid token",
                                          host);
                else if (asprintf(ret, "Bearer %s", t) < 0)
                        r = -ENOMEM;
        }
        json_object_put(o);
        if (r >= 0)
                *ret_ttl = ttl;
        return r;
}

/* Fetch a bearer token for a challenge. */
static int token_fetch(struct reg_client *c, const struct reg_challenge *ch, const char *scope,
                       const struct img_registry_auth *a, const char *host, char **ret,
                       long *ret_ttl, bool *ret_transient, struct uvm_error **err)
{
        struct reg_mem_sink sink = REG_MEM_SINK(REG_TOKEN_BODY_MAX);
        struct reg_response resp = {.sink = &sink.base};
        _cleanup_free_ char *url = NULL, *post = NULL, *basic = NULL;
        struct reg_request q = {0};
        int r;

        *ret_transient = false;
        if (!ch->realm || !reg_printable_token(ch->realm, 2048) || !reg_url_allowed(c, ch->realm))
                return uvm_error_set(err, EPROTO, "registry %s: bad token realm \"%s\"", host,
                                     ch->realm ? ch->realm : "");
        r = token_request(ch, ch->scope ? ch->scope : scope, a, &url, &post);
        if (r >= 0 && !post)
                r = basic_authorization(a, &basic, err);
        if (r < 0)
                return uvm_error_set(err, -r, "out of memory");
        q = (struct reg_request){url, host, basic, NULL, post};
        r = reg_http_do(c, &q, &resp, ret_transient, err);
        if (r >= 0 && resp.status == 200)
                r = reg_token_parse(sink.buf ? sink.buf : "", sink.len, host, ret, ret_ttl, err);
        else if (r >= 0 && (resp.status == 401 || resp.status == 403))
                r = uvm_error_set(err, EKEYREJECTED,
                                  "unauthorized: the token server of %s refused the credentials",
                                  host);
        else if (r >= 0) {
                *ret_transient = resp.status == 429 || resp.status >= 500;
                r = uvm_error_set(err, *ret_transient ? EAGAIN : EPROTO,
                                  "registry %s: token server returned HTTP %ld", host, resp.status);
        }
        reg_response_clear(&resp);
        reg_mem_reset(&sink.base);
        return r;
}

int reg_auth_answer(struct reg_client *c, const char *challenge, const char *key, const char *scope,
                    const struct img_registry_auth *auth, const char *host, const char *name,
                    char **ret_authz, bool *ret_transient, struct uvm_error **err)
{
        struct reg_challenge ch = {0};
        long ttl = REG_BASIC_CACHE_S;
        char *authz = NULL;
        int r;

        *ret_transient = false;
        if (!challenge)
                return uvm_error_set(err, EKEYREJECTED, "unauthorized: %s refused access to %s",
                                     host, name);
        r = reg_challenge_parse(challenge, &ch);
        if (r == -ENOMEM)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return uvm_error_set(err, EKEYREJECTED,
                                     "unauthorized: %s asks for unsupported authentication "
                                     "\"%.40s\"",
                                     host, challenge);
        if (ch.bearer)
                r = token_fetch(c, &ch, scope, auth, host, &authz, &ttl, ret_transient, err);
        else {
                r = basic_authorization(auth, &authz, err);
                if (r >= 0 && !authz)
                        r = uvm_error_set(err, EKEYREJECTED,
                                          "unauthorized: %s requires credentials for %s", host,
                                          name);
        }
        reg_challenge_clear(&ch);
        if (r < 0)
                return r;
        reg_token_put(c, key, authz, ttl);
        *ret_authz = authz;
        return 0;
}
