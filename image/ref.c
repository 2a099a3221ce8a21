/*
 * Docker-style image references:
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] component ( "/" component )*
 *   domain    := host-part ( "." host-part )* [ ":" port ]  |  "[" ipv6 "]" [ ":" port ]
 *   component := [a-z0-9]+ ( separator [a-z0-9]+ )*,  separator := "." | "_" | "__" | "-"+
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex
 *
 * The first component is a domain when it contains '.' or ':', is
 * "localhost", or has upper case (host names are case-insensitive, paths are
 * not); otherwise the domain is docker.io, where one-component names live
 * under "library/".
 */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/platform.h" /* strndup, memrchr on Windows */
#include "image/digest.h"
#include "image/ref.h"

#define REF_DEFAULT_DOMAIN "docker.io"
#define REF_LEGACY_DOMAIN "index.docker.io"
#define REF_DOCKER_HOST "registry-1.docker.io"
#define REF_OFFICIAL_PREFIX "library/"
#define REF_DEFAULT_TAG "latest"
#define REF_NAME_MAX 255
#define REF_TAG_MAX 128
#define REF_INPUT_MAX 4096 /* name + tag + digest, far more than any valid reference */

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
        return is_alnum(c) || c == '_';
}

static bool tag_valid(const char *t, size_t len)
{
        if (len == 0 || len > REF_TAG_MAX || !is_word(t[0]))
                return false;
        for (size_t i = 1; i < len; i++)
                if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
                        return false;
        return true;
}

/* One path component, [a-z0-9]+ joined by ".", "_", "__" or runs of "-". */
static bool component_valid(const char *s, size_t len)
{
        size_t i = 0;

        if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
                return false;
        while (i < len) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_'))
                        i++;
                else if (s[i] == '_')
                        i += 2;
                else if (s[i] == '-')
                        while (i < len && s[i] == '-')
                                i++;
                else
                        return false;
                /* a separator is always followed by an alphanumeric */
                if (i >= len || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool path_valid(const char *s, size_t len)
{
        size_t start = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != '/')
                        continue;
                if (!component_valid(s + start, i - start))
                        return false;
                start = i + 1;
        }
        return true;
}

static bool port_valid(const char *s, size_t len)
{
        unsigned long v = 0;

        if (len == 0 || len > 5)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        return v >= 1 && v <= 65535;
}

/* host-part ( "." host-part )*, each [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. */
static bool hostname_valid(const char *s, size_t len)
{
        size_t start = 0;

        if (len == 0)
                return false;
        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != '.') {
                        if (!is_alnum(s[i]) && s[i] != '-')
                                return false;
                        continue;
                }
                if (i == start || s[start] == '-' || s[i - 1] == '-')
                        return false;
                start = i + 1;
        }
        return true;
}

static bool ipv6_valid(const char *s, size_t len)
{
        if (len < 2 || len > 45)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                      (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.'))
                        return false;
        return true;
}

static bool domain_valid(const char *s, size_t len)
{
        const char *colon;
        size_t host_len;

        if (len > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', len);
                if (!close || !ipv6_valid(s + 1, (size_t) (close - s) - 1))
                        return false;
                host_len = (size_t) (close - s) + 1;
                if (host_len == len)
                        return true;
                return s[host_len] == ':' && port_valid(s + host_len + 1, len - host_len - 1);
        }
        colon = memchr(s, ':', len);
        host_len = colon ? (size_t) (colon - s) : len;
        if (!hostname_valid(s, host_len))
                return false;
        return !colon || port_valid(colon + 1, len - host_len - 1);
}

/* Docker's rule for telling "host/repo" from "user/repo". */
static bool looks_like_domain(const char *s, size_t len)
{
        if (memchr(s, '.', len) || memchr(s, ':', len))
                return true;
        if (len == strlen("localhost") && memcmp(s, "localhost", len) == 0)
                return true;
        for (size_t i = 0; i < len; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return true;
        return false;
}

/* A bare 64-hex name is an image id, never a repository (as with docker). */
static bool is_hex64(const char *s, size_t len)
{
        if (len != 64)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* Where name ends and the tag starts: the last ':' after the last '/'. */
static size_t split_tag(const char *s, size_t len, const char **ret_tag, size_t *ret_tag_len)
{
        const char *slash = memrchr(s, '/', len);
        const char *after = slash ? slash + 1 : s;
        const char *colon = memchr(after, ':', len - (size_t) (after - s));

        if (!colon) {
                *ret_tag = NULL;
                *ret_tag_len = 0;
                return len;
        }
        *ret_tag = colon + 1;
        *ret_tag_len = len - (size_t) (colon + 1 - s);
        return (size_t) (colon - s);
}

/* The name is the first len bytes of the input s. */
static int ref_set_name(struct img_ref *r, const char *s, size_t len, struct uvm_error **err)
{
        const char *slash = memchr(s, '/', len);
        size_t dlen = slash ? (size_t) (slash - s) : 0;
        const char *path = s;
        size_t plen = len;

        if (slash && looks_like_domain(s, dlen)) {
                if (!domain_valid(s, dlen))
                        return uvm_error_set(err, EINVAL,
                                             "invalid reference '%s': bad registry host", s);
                path = slash + 1;
                plen = len - dlen - 1;
                bool legacy = dlen == strlen(REF_LEGACY_DOMAIN) &&
                              memcmp(s, REF_LEGACY_DOMAIN, dlen) == 0;
                r->domain = legacy ? strdup(REF_DEFAULT_DOMAIN) : strndup(s, dlen);
        } else {
                r->domain = strdup(REF_DEFAULT_DOMAIN);
        }
        if (!r->domain)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!path_valid(path, plen))
                return uvm_error_set(err, EINVAL,
                                     "invalid reference '%s': repository must be lower-case "
                                     "letters and digits, separated by '/', '.', '_', '__' or '-'",
                                     s);
        if (STR_EQ(r->domain, REF_DEFAULT_DOMAIN) && !memchr(path, '/', plen)) {
                if (asprintf(&r->path, "%s%.*s", REF_OFFICIAL_PREFIX, (int) plen, path) < 0)
                        r->path = NULL;
        } else {
                r->path = strndup(path, plen);
        }
        if (!r->path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static int ref_parse_into(const char *s, struct img_ref *r, struct uvm_error **err)
{
        size_t len = strlen(s), name_len, tag_len;
        const char *at = memchr(s, '@', len), *tag;
        int rc;

        if (at) {
                if (!img_digest_valid(at + 1))
                        return uvm_error_set(err, EINVAL,
                                             "invalid reference '%s': digest must be "
                                             "sha256:<64 lower-case hex digits>",
                                             s);
                r->digest = strdup(at + 1);
                if (!r->digest)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                len = (size_t) (at - s);
        }
        name_len = split_tag(s, len, &tag, &tag_len);
        if (name_len == 0)
                return uvm_error_set(err, EINVAL, "invalid reference '%s': no repository name", s);
        if (tag && !tag_valid(tag, tag_len))
                return uvm_error_set(err, EINVAL,
                                     "invalid reference '%s': tag must be 1 to %d of "
                                     "[A-Za-z0-9_.-], not starting with '.' or '-'",
                                     s, REF_TAG_MAX);
        if (is_hex64(s, name_len))
                return uvm_error_set(err, EINVAL,
                                     "invalid reference '%s': a 64-hex-digit name is an image id",
                                     s);
        if (tag)
                r->tag = strndup(tag, tag_len);
        else if (!r->digest)
                r->tag = strdup(REF_DEFAULT_TAG);
        if ((tag || !r->digest) && !r->tag)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = ref_set_name(r, s, name_len, err);
        if (rc < 0)
                return rc;
        /* as docker does, the limit applies to the normalised name */
        if (strlen(r->domain) + 1 + strlen(r->path) > REF_NAME_MAX)
                return uvm_error_set(err, EINVAL,
                                     "invalid reference '%s': name '%s/%s' longer than %d "
                                     "characters",
                                     s, r->domain, r->path, REF_NAME_MAX);
        return 0;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct uvm_error **err)
{
        struct img_ref r = {0};
        int rc;

        if (STR_EMPTY(s))
                return uvm_error_set(err, EINVAL, "invalid reference: empty");
        if (strnlen(s, REF_INPUT_MAX + 1) > REF_INPUT_MAX)
                return uvm_error_set(err, EINVAL, "invalid reference: longer than %d characters",
                                     REF_INPUT_MAX);
        rc = ref_parse_into(s, &r, err);
        if (rc < 0) {
                img_ref_clear(&r);
                return rc;
        }
        *ret = r;
        return 0;
}

void img_ref_clear(struct img_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (struct img_ref){0};
}

char *img_ref_name(const struct img_ref *r)
{
        char *s = NULL;

        if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
                return NULL;
        return s;
}

char *img_ref_string(const struct img_ref *r)
{
        char *s = NULL;

        if (asprintf(&s, "%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
                     r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
                return NULL;
        return s;
}

const char *img_ref_registry_host(const struct img_ref *r)
{
        return STR_EQ(r->domain, REF_DEFAULT_DOMAIN) ? REF_DOCKER_HOST : r->domain;
}
