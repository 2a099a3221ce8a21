/*
 * OCI / Docker schema 2 manifests, indexes and image configs. Every input
 * here comes from a registry or an archive, so every field is type-checked
 * and bounded before it is copied out.
 */

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/json.h"
#include "image/digest.h"
#include "image/manifest.h"

#define JSON_DEPTH_MAX 64
#define MEDIA_TYPE_MAX 255
#define PLATFORM_FIELD_MAX 64
#define REF_NAME_MAX 1024
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
/* The kernel refuses longer argv/env strings (MAX_ARG_STRLEN). */
#define CONFIG_STRING_MAX (128u * 1024)
#define CONFIG_LIST_MAX 4096
#define CONFIG_PATH_MAX 4096
#define CONFIG_SHORT_MAX 256

static const struct {
        const char *name;
        enum img_media media;
} media_table[] = {
        {"application/vnd.oci.image.manifest.v1+json", IMG_MEDIA_OCI_MANIFEST},
        {"application/vnd.oci.image.index.v1+json", IMG_MEDIA_OCI_INDEX},
        {"application/vnd.docker.distribution.manifest.v2+json", IMG_MEDIA_DOCKER_MANIFEST},
        {"application/vnd.docker.distribution.manifest.list.v2+json", IMG_MEDIA_DOCKER_LIST},
        {"application/vnd.oci.image.config.v1+json", IMG_MEDIA_OCI_CONFIG},
        {"application/vnd.docker.container.image.v1+json", IMG_MEDIA_DOCKER_CONFIG},
        {"application/vnd.oci.image.layer.v1.tar", IMG_MEDIA_LAYER_TAR},
        {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_MEDIA_LAYER_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_MEDIA_LAYER_ZSTD},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_MEDIA_LAYER_TAR},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_MEDIA_LAYER_GZIP},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_MEDIA_LAYER_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_MEDIA_LAYER_GZIP},
        {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_MEDIA_LAYER_GZIP},
};

enum img_media img_media_classify(const char *media_type)
{
        size_t len;

        if (!media_type)
                return IMG_MEDIA_UNKNOWN;
        /* a Content-Type may carry parameters ("; charset=utf-8") and blanks */
        while (*media_type == ' ' || *media_type == '\t')
                media_type++;
        len = strcspn(media_type, ";");
        while (len > 0 && (media_type[len - 1] == ' ' || media_type[len - 1] == '\t'))
                len--;
        for (size_t i = 0; i < ARRAY_SIZE(media_table); i++)
                if (strlen(media_table[i].name) == len &&
                    strncasecmp(media_table[i].name, media_type, len) == 0)
                        return media_table[i].media;
        return IMG_MEDIA_UNKNOWN;
}

const char *img_media_accept(void)
{
        return "application/vnd.oci.image.index.v1+json, "
               "application/vnd.oci.image.manifest.v1+json, "
               "application/vnd.docker.distribution.manifest.list.v2+json, "
               "application/vnd.docker.distribution.manifest.v2+json";
}

static bool media_is_manifest(enum img_media m)
{
        return m == IMG_MEDIA_OCI_MANIFEST || m == IMG_MEDIA_DOCKER_MANIFEST;
}

static bool media_is_index(enum img_media m)
{
        return m == IMG_MEDIA_OCI_INDEX || m == IMG_MEDIA_DOCKER_LIST;
}

static bool media_is_layer(enum img_media m)
{
        return m == IMG_MEDIA_LAYER_TAR || m == IMG_MEDIA_LAYER_GZIP || m == IMG_MEDIA_LAYER_ZSTD;
}

/* RFC 6838 shape: type "/" subtype of restricted-name characters. */
static bool media_type_well_formed(const char *s)
{
        static const char extra[] = "!#$&-^_.+";
        size_t slashes = 0, len = strlen(s);

        if (len == 0 || len > MEDIA_TYPE_MAX || s[0] == '/' || s[len - 1] == '/')
                return false;
        for (; *s; s++) {
                if (*s == '/')
                        slashes++;
                else if (!isascii((unsigned char) *s) ||
                         (!isalnum((unsigned char) *s) && !strchr(extra, *s)))
                        return false;
        }
        return slashes == 1;
}

/* ---- json helpers ---- */

static int json_parse_bounded(const char *json, size_t len, const char *what,
                              json_object **ret_root, struct uvm_error **err)
{
        json_tokener *tok;
        json_object *root;
        enum json_tokener_error jerr;

        if (!json || len == 0)
                return uvm_error_set(err, EINVAL, "%s: empty document", what);
        if (len > IMG_MAX_JSON)
                return uvm_error_set(err, EFBIG, "%s: larger than %u bytes", what, IMG_MAX_JSON);
        if (memchr(json, '\0', len))
                return uvm_error_set(err, EINVAL, "%s: NUL byte in JSON", what);
        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        root = json_tokener_parse_ex(tok, json, (int) len);
        jerr = json_tokener_get_error(tok);
        if (root && jerr == json_tokener_success) {
                /* strict mode refuses trailing data other than white space */
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (!isspace((unsigned char) json[i]))
                                jerr = json_tokener_error_parse_unexpected;
        } else if (jerr == json_tokener_continue) {
                jerr = json_tokener_error_parse_eof;
        }
        json_tokener_free(tok);
        if (!root || jerr != json_tokener_success) {
                json_object_put(root);
                return uvm_error_set(err, EINVAL, "%s: invalid JSON: %s", what,
                                     json_tokener_error_desc(jerr));
        }
        if (!json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                return uvm_error_set(err, EINVAL, "%s: not a JSON object", what);
        }
        *ret_root = root;
        return 0;
}

/* A member of o of the given type; NULL when absent or null. */
static int json_member(json_object *o, const char *key, json_type type, bool required,
                       json_object **ret, const char *what, struct uvm_error **err)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                if (required)
                        return uvm_error_set(err, EINVAL, "%s: \"%s\" is missing", what, key);
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, type))
                return uvm_error_set(err, EINVAL, "%s: \"%s\" must be a JSON %s", what, key,
                                     json_type_to_name(type));
        *ret = v;
        return 0;
}

/* The C string of a json string, refused when too long or holding a NUL. */
static int json_str_value(json_object *v, size_t max, const char **ret, const char *what,
                          const char *key, struct uvm_error **err)
{
        const char *s = json_object_get_string(v);
        size_t len = (size_t) json_object_get_string_len(v);

        if (len > max)
                return uvm_error_set(err, EINVAL, "%s: \"%s\" longer than %zu bytes", what, key,
                                     max);
        if (strlen(s) != len)
                return uvm_error_set(err, EINVAL, "%s: \"%s\" contains a NUL character", what, key);
        *ret = s;
        return 0;
}

static int json_str(json_object *o, const char *key, size_t max, bool required, const char **ret,
                    const char *what, struct uvm_error **err)
{
        json_object *v = NULL;
        int r;

        r = json_member(o, key, json_type_string, required, &v, what, err);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        return json_str_value(v, max, ret, what, key, err);
}

static int dup_opt(const char *s, char **ret, struct uvm_error **err)
{
        if (STR_EMPTY(s)) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

static int schema_version_check(json_object *root, const char *what, struct uvm_error **err)
{
        json_object *v = NULL;
        int r;

        r = json_member(root, "schemaVersion", json_type_int, true, &v, what, err);
        if (r < 0)
                return r;
        if (json_object_get_int64(v) != 2)
                return uvm_error_set(err, ENOTSUP, "%s: unsupported schemaVersion %" PRId64, what,
                                     json_object_get_int64(v));
        return 0;
}

/* ---- descriptors ---- */

static void descriptor_clear(struct img_descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->arch);
        free(d->variant);
        free(d->ref_name);
        *d = (struct img_descriptor){0};
}

static bool platform_word_valid(const char *s)
{
        for (; *s; s++)
                if (!isascii((unsigned char) *s) ||
                    (!isalnum((unsigned char) *s) && !strchr("._-", *s)))
                        return false;
        return true;
}

static int platform_field(json_object *p, const char *key, bool required, char **ret,
                          const char *what, struct uvm_error **err)
{
        const char *s = NULL;
        int r;

        r = json_str(p, key, PLATFORM_FIELD_MAX, required, &s, what, err);
        if (r < 0)
                return r;
        if (required && s && !*s)
                return uvm_error_set(err, EINVAL, "%s: \"%s\" is empty", what, key);
        if (s && !platform_word_valid(s))
                return uvm_error_set(err, EINVAL, "%s: bad platform %s '%s'", what, key, s);
        return dup_opt(s, ret, err);
}

static int descriptor_platform(json_object *o, struct img_descriptor *d, const char *what,
                               struct uvm_error **err)
{
        json_object *p = NULL, *ann = NULL;
        const char *ref_name = NULL;
        int r;

        r = json_member(o, "platform", json_type_object, false, &p, what, err);
        if (r >= 0 && p)
                r = platform_field(p, "os", true, &d->os, what, err);
        if (r >= 0 && p)
                r = platform_field(p, "architecture", true, &d->arch, what, err);
        if (r >= 0 && p)
                r = platform_field(p, "variant", false, &d->variant, what, err);
        if (r >= 0)
                r = json_member(o, "annotations", json_type_object, false, &ann, what, err);
        if (r >= 0 && ann)
                r = json_str(ann, ANNOTATION_REF_NAME, REF_NAME_MAX, false, &ref_name, what, err);
        if (r >= 0 && ann)
                r = dup_opt(ref_name, &d->ref_name, err);
        return r;
}

static int descriptor_size(json_object *o, int64_t *ret, const char *what, struct uvm_error **err)
{
        json_object *v = NULL;
        int64_t size;
        int r;

        r = json_member(o, "size", json_type_int, true, &v, what, err);
        if (r < 0)
                return r;
        size = json_object_get_int64(v);
        /* json-c saturates out-of-range integers at INT64_MAX */
        if (size < 0 || size == INT64_MAX)
                return uvm_error_set(err, EINVAL, "%s: size %" PRId64 " out of range", what, size);
        *ret = size;
        return 0;
}

static int descriptor_parse(json_object *o, bool index_entry, struct img_descriptor *ret,
                            const char *what, struct uvm_error **err)
{
        struct img_descriptor d = {0};
        const char *media = NULL, *digest = NULL;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EINVAL, "%s: not an object", what);
        r = json_str(o, "mediaType", MEDIA_TYPE_MAX, true, &media, what, err);
        if (r >= 0 && !media_type_well_formed(media))
                r = uvm_error_set(err, EINVAL, "%s: malformed mediaType '%s'", what, media);
        if (r >= 0)
                r = json_str(o, "digest", IMG_DIGEST_LEN, true, &digest, what, err);
        if (r >= 0 && !img_digest_valid(digest))
                r = uvm_error_set(err, EINVAL, "%s: digest '%s' is not sha256:<64 hex>", what,
                                  digest);
        if (r >= 0)
                r = descriptor_size(o, &d.size, what, err);
        if (r >= 0 && index_entry)
                r = descriptor_platform(o, &d, what, err);
        if (r >= 0) {
                d.media_type = strdup(media);
                d.digest = strdup(digest);
                if (!d.media_type || !d.digest)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                descriptor_clear(&d);
                return r;
        }
        *ret = d;
        return 0;
}

/* ---- sniffing ---- */

static enum img_media sniff_shape(json_object *root)
{
        json_object *v = NULL, *config = NULL;
        const char *cm;

        if (json_object_object_get_ex(root, "manifests", &v))
                return IMG_MEDIA_OCI_INDEX;
        if (!json_object_object_get_ex(root, "layers", &v))
                return IMG_MEDIA_UNKNOWN;
        if (json_object_object_get_ex(root, "config", &config) &&
            json_object_is_type(config, json_type_object) &&
            json_object_object_get_ex(config, "mediaType", &v) &&
            json_object_is_type(v, json_type_string)) {
                cm = json_object_get_string(v);
                if (img_media_classify(cm) == IMG_MEDIA_DOCKER_CONFIG)
                        return IMG_MEDIA_DOCKER_MANIFEST;
        }
        return IMG_MEDIA_OCI_MANIFEST;
}

enum img_media img_manifest_sniff(const char *json, size_t len, const char *content_type)
{
        _cleanup_json_ json_object *root = NULL;
        enum img_media m;
        json_object *v = NULL;

        if (json_parse_bounded(json, len, "manifest", &root, NULL) < 0)
                root = NULL;
        if (root && json_object_object_get_ex(root, "mediaType", &v) &&
            json_object_is_type(v, json_type_string)) {
                m = img_media_classify(json_object_get_string(v));
                return media_is_manifest(m) || media_is_index(m) ? m : IMG_MEDIA_UNKNOWN;
        }
        m = img_media_classify(content_type);
        if (media_is_manifest(m) || media_is_index(m))
                return m;
        return root ? sniff_shape(root) : IMG_MEDIA_UNKNOWN;
}

/* ---- manifests ---- */

void img_manifest_clear(struct img_manifest *m)
{
        if (!m)
                return;
        descriptor_clear(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_clear(&m->layers[i]);
        free(m->layers);
        *m = (struct img_manifest){0};
}

/* The declared mediaType of a manifest or index: 0 and *ret UNKNOWN when
 * absent; -ENOTSUP for a type we do not know, -EINVAL for the wrong kind. */
static int document_media(json_object *root, bool want_index, enum img_media *ret, const char *what,
                          struct uvm_error **err)
{
        const char *s = NULL;
        enum img_media m;
        int r;

        r = json_str(root, "mediaType", MEDIA_TYPE_MAX, false, &s, what, err);
        if (r < 0)
                return r;
        *ret = IMG_MEDIA_UNKNOWN;
        if (!s)
                return 0;
        m = img_media_classify(s);
        if (want_index ? media_is_index(m) : media_is_manifest(m)) {
                *ret = m;
                return 0;
        }
        if (want_index ? media_is_manifest(m) : media_is_index(m))
                return uvm_error_set(err, EINVAL, "%s: %s", what,
                                     want_index ? "is a manifest, not an index"
                                                : "is an index, not a manifest");
        return uvm_error_set(err, ENOTSUP, "%s: unsupported mediaType '%s'", what, s);
}

static int manifest_config(json_object *root, struct img_manifest *m, struct uvm_error **err)
{
        json_object *c = NULL;
        enum img_media cm;
        int r;

        r = json_member(root, "config", json_type_object, true, &c, "manifest", err);
        if (r < 0)
                return r;
        r = descriptor_parse(c, false, &m->config, "manifest config", err);
        if (r < 0)
                return r;
        cm = img_media_classify(m->config.media_type);
        if (cm != IMG_MEDIA_OCI_CONFIG && cm != IMG_MEDIA_DOCKER_CONFIG)
                return uvm_error_set(err, ENOTSUP,
                                     "manifest: unsupported config mediaType '%s' "
                                     "(not a container image)",
                                     m->config.media_type);
        return 0;
}

static int manifest_layers(json_object *root, struct img_manifest *m, struct uvm_error **err)
{
        json_object *layers = NULL;
        size_t n;
        int r;

        r = json_member(root, "layers", json_type_array, true, &layers, "manifest", err);
        if (r < 0)
                return r;
        n = json_object_array_length(layers);
        if (n > IMG_MAX_LAYERS)
                return uvm_error_set(err, EINVAL, "manifest: %zu layers, at most %d supported", n,
                                     IMG_MAX_LAYERS);
        m->layers = calloc(n ? n : 1, sizeof(*m->layers));
        if (!m->layers)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                char what[32];
                snprintf(what, sizeof(what), "manifest layer %zu", i);
                r = descriptor_parse(json_object_array_get_idx(layers, i), false, &m->layers[i],
                                     what, err);
                if (r < 0)
                        return r;
                m->n_layers++;
                if (!media_is_layer(img_media_classify(m->layers[i].media_type)))
                        return uvm_error_set(err, ENOTSUP, "%s: unsupported mediaType '%s'", what,
                                             m->layers[i].media_type);
        }
        return 0;
}

int img_manifest_parse(const char *json, size_t len, struct img_manifest *ret,
                       struct uvm_error **err)
{
        _cleanup_json_ json_object *root = NULL;
        struct img_manifest m = {0};
        int r;

        r = json_parse_bounded(json, len, "manifest", &root, err);
        if (r >= 0)
                r = schema_version_check(root, "manifest", err);
        if (r >= 0)
                r = document_media(root, false, &m.kind, "manifest", err);
        if (r >= 0)
                r = manifest_config(root, &m, err);
        if (r >= 0)
                r = manifest_layers(root, &m, err);
        if (r < 0) {
                img_manifest_clear(&m);
                return r;
        }
        if (m.kind == IMG_MEDIA_UNKNOWN)
                m.kind = img_media_classify(m.config.media_type) == IMG_MEDIA_DOCKER_CONFIG
                                 ? IMG_MEDIA_DOCKER_MANIFEST
                                 : IMG_MEDIA_OCI_MANIFEST;
        *ret = m;
        return 0;
}

/* ---- indexes ---- */

void img_index_clear(struct img_index *ix)
{
        if (!ix)
                return;
        for (size_t i = 0; i < ix->n_manifests; i++)
                descriptor_clear(&ix->manifests[i]);
        free(ix->manifests);
        *ix = (struct img_index){0};
}

static int index_entries(json_object *root, struct img_index *ix, struct uvm_error **err)
{
        json_object *list = NULL;
        size_t n;
        int r;

        r = json_member(root, "manifests", json_type_array, true, &list, "index", err);
        if (r < 0)
                return r;
        n = json_object_array_length(list);
        if (n > IMG_MAX_MANIFESTS)
                return uvm_error_set(err, EINVAL, "index: %zu entries, at most %d supported", n,
                                     IMG_MAX_MANIFESTS);
        ix->manifests = calloc(n ? n : 1, sizeof(*ix->manifests));
        if (!ix->manifests)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                char what[32];
                snprintf(what, sizeof(what), "index entry %zu", i);
                /* entries of unknown (artifact) types are kept; selection skips them */
                r = descriptor_parse(json_object_array_get_idx(list, i), true, &ix->manifests[i],
                                     what, err);
                if (r < 0)
                        return r;
                ix->n_manifests++;
        }
        return 0;
}

int img_index_parse(const char *json, size_t len, struct img_index *ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *root = NULL;
        struct img_index ix = {0};
        int r;

        r = json_parse_bounded(json, len, "index", &root, err);
        if (r >= 0)
                r = schema_version_check(root, "index", err);
        if (r >= 0)
                r = document_media(root, true, &ix.kind, "index", err);
        if (r >= 0)
                r = index_entries(root, &ix, err);
        if (r < 0) {
                img_index_clear(&ix);
                return r;
        }
        for (size_t i = 0; ix.kind == IMG_MEDIA_UNKNOWN && i < ix.n_manifests; i++)
                if (img_media_classify(ix.manifests[i].media_type) == IMG_MEDIA_DOCKER_MANIFEST)
                        ix.kind = IMG_MEDIA_DOCKER_LIST;
        if (ix.kind == IMG_MEDIA_UNKNOWN)
                ix.kind = IMG_MEDIA_OCI_INDEX;
        *ret = ix;
        return 0;
}

/* The variant an architecture has when none is written (as containerd
 * normalises platforms): amd64 is v1, arm64 v8, arm v7. */
static const char *variant_or_default(const char *arch, const char *variant)
{
        if (!STR_EMPTY(variant))
                return variant;
        if (STR_EQ(arch, "amd64"))
                return "v1";
        if (STR_EQ(arch, "arm64"))
                return "v8";
        if (STR_EQ(arch, "arm"))
                return "v7";
        return "";
}

int img_index_select(const struct img_index *ix, const char *os, const char *arch,
                     const char *variant)
{
        if (!ix || STR_EMPTY(os) || STR_EMPTY(arch))
                return -EINVAL;
        for (size_t i = 0; i < ix->n_manifests && i <= INT32_MAX; i++) {
                const struct img_descriptor *d = &ix->manifests[i];
                if (!media_is_manifest(img_media_classify(d->media_type)) || !d->os || !d->arch)
                        continue;
                if (!STR_EQ(d->os, os) || !STR_EQ(d->arch, arch))
                        continue;
                if (variant && !STR_EQ(variant_or_default(arch, variant),
                                       variant_or_default(d->arch, d->variant)))
                        continue;
                return (int) i;
        }
        return -ENOENT;
}

/* ---- image configs ---- */

void img_config_clear(struct img_config *c)
{
        if (!c)
                return;
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->working_dir);
        free(c->user);
        free(c->stop_signal);
        strv_free(c->exposed_ports);
        strv_free(c->volumes);
        *c = (struct img_config){0};
}

void img_info_clear(struct img_info *i)
{
        if (!i)
                return;
        free(i->id);
        strv_free(i->repo_tags);
        strv_free(i->repo_digests);
        img_config_clear(&i->config);
        free(i->username);
        free(i->pinned_or_verbose_json);
        *i = (struct img_info){0};
}

/* A JSON array of strings as a NULL-terminated list; NULL when absent or empty. */
static int config_strv(json_object *o, const char *key, char ***ret, struct uvm_error **err)
{
        _cleanup_strv_ char **v = NULL;
        json_object *arr = NULL;
        size_t n;
        int r;

        r = json_member(o, key, json_type_array, false, &arr, "image config", err);
        if (r < 0 || !arr || json_object_array_length(arr) == 0)
                return r;
        n = json_object_array_length(arr);
        if (n > CONFIG_LIST_MAX)
                return uvm_error_set(err, EINVAL, "image config: \"%s\" has more than %d entries",
                                     key, CONFIG_LIST_MAX);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                const char *s = NULL;
                if (!json_object_is_type(e, json_type_string))
                        return uvm_error_set(err, EINVAL,
                                             "image config: \"%s\" must be a list of strings", key);
                r = json_str_value(e, CONFIG_STRING_MAX, &s, "image config", key, err);
                if (r < 0)
                        return r;
                v[i] = strdup(s);
                if (!v[i])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Digits up to a non-digit, as a port number 1..65535; NULL when not one. */
static const char *port_parse(const char *s, unsigned long *ret)
{
        unsigned long v = 0;
        size_t n = 0;

        for (; isdigit((unsigned char) s[n]) && n < 6; n++)
                v = v * 10 + (unsigned long) (s[n] - '0');
        if (n == 0 || n > 5 || v < 1 || v > 65535)
                return NULL;
        *ret = v;
        return s + n;
}

/* "80", "80/tcp", "8000-8010/udp": a port or range and an optional protocol. */
static bool exposed_port_valid(const char *s)
{
        unsigned long lo, hi;

        s = port_parse(s, &lo);
        if (!s)
                return false;
        hi = lo;
        if (*s == '-') {
                s = port_parse(s + 1, &hi);
                if (!s || hi < lo)
                        return false;
        }
        if (*s == '\0')
                return true;
        return *s == '/' && (strcasecmp(s + 1, "tcp") == 0 || strcasecmp(s + 1, "udp") == 0 ||
                             strcasecmp(s + 1, "sctp") == 0);
}

static bool volume_valid(const char *s)
{
        return *s != '\0';
}

/* The keys of a JSON object ("ExposedPorts": {"80/tcp": {}}) as a list. */
static int config_keys(json_object *o, const char *key, bool (*valid)(const char *), char ***ret,
                       struct uvm_error **err)
{
        _cleanup_strv_ char **v = NULL;
        json_object *obj = NULL;
        size_t n, i = 0;
        int r;

        r = json_member(o, key, json_type_object, false, &obj, "image config", err);
        if (r < 0 || !obj || json_object_object_length(obj) == 0)
                return r;
        n = (size_t) json_object_object_length(obj);
        if (n > CONFIG_LIST_MAX)
                return uvm_error_set(err, EINVAL, "image config: \"%s\" has more than %d entries",
                                     key, CONFIG_LIST_MAX);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_foreach (obj, k, val) {
                (void) val;
                if (i >= n)
                        break;
                if (strlen(k) > CONFIG_PATH_MAX || !valid(k))
                        return uvm_error_set(err, EINVAL, "image config: bad \"%s\" entry '%.64s'",
                                             key, k);
                v[i] = strdup(k);
                if (!v[i++])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static int config_string(json_object *o, const char *key, size_t max, char **ret,
                         struct uvm_error **err)
{
        const char *s = NULL;
        int r;

        r = json_str(o, key, max, false, &s, "image config", err);
        return r < 0 ? r : dup_opt(s, ret, err);
}

static int config_runtime(json_object *root, struct img_config *c, struct uvm_error **err)
{
        json_object *o = NULL;
        int r;

        r = json_member(root, "config", json_type_object, false, &o, "image config", err);
        if (r < 0 || !o)
                return r;
        r = config_strv(o, "Entrypoint", &c->entrypoint, err);
        if (r >= 0)
                r = config_strv(o, "Cmd", &c->cmd, err);
        if (r >= 0)
                r = config_strv(o, "Env", &c->env, err);
        if (r >= 0)
                r = config_string(o, "WorkingDir", CONFIG_PATH_MAX, &c->working_dir, err);
        if (r >= 0)
                r = config_string(o, "User", CONFIG_SHORT_MAX, &c->user, err);
        if (r >= 0)
                r = config_string(o, "StopSignal", CONFIG_SHORT_MAX, &c->stop_signal, err);
        if (r >= 0)
                r = config_keys(o, "ExposedPorts", exposed_port_valid, &c->exposed_ports, err);
        if (r >= 0)
                r = config_keys(o, "Volumes", volume_valid, &c->volumes, err);
        return r;
}

static int config_diff_ids(json_object *root, char ***ret, struct uvm_error **err)
{
        _cleanup_strv_ char **v = NULL;
        json_object *rootfs = NULL, *ids = NULL;
        const char *type = NULL;
        size_t n;
        int r;

        r = json_member(root, "rootfs", json_type_object, true, &rootfs, "image config", err);
        if (r >= 0)
                r = json_str(rootfs, "type", 64, true, &type, "image config rootfs", err);
        if (r >= 0 && !STR_EQ(type, "layers"))
                r = uvm_error_set(err, EINVAL, "image config: rootfs type '%s' is not \"layers\"",
                                  type);
        if (r >= 0)
                r = json_member(rootfs, "diff_ids", json_type_array, true, &ids,
                                "image config rootfs", err);
        if (r < 0)
                return r;
        n = json_object_array_length(ids);
        if (n > IMG_MAX_LAYERS)
                return uvm_error_set(err, EINVAL, "image config: %zu diff_ids, at most %d", n,
                                     IMG_MAX_LAYERS);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(ids, i);
                const char *s =
                        json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
                if (!img_digest_valid(s) || (size_t) json_object_get_string_len(e) != strlen(s))
                        return uvm_error_set(err, EINVAL,
                                             "image config: diff_id %zu is not sha256:<64 hex>", i);
                v[i] = strdup(s);
                if (!v[i])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int img_config_parse(const char *json, size_t len, struct img_config *ret_config,
                     char ***ret_diff_ids, struct uvm_error **err)
{
        _cleanup_json_ json_object *root = NULL;
        _cleanup_strv_ char **diff_ids = NULL;
        struct img_config c = {0};
        int r;

        r = json_parse_bounded(json, len, "image config", &root, err);
        if (r >= 0)
                r = config_diff_ids(root, &diff_ids, err);
        if (r >= 0)
                r = config_runtime(root, &c, err);
        if (r < 0) {
                img_config_clear(&c);
                return r;
        }
        if (ret_config)
                *ret_config = c;
        else
                img_config_clear(&c);
        if (ret_diff_ids)
                *ret_diff_ids = TAKE_PTR(diff_ids);
        return 0;
}

int img_chain_ids(char *const *diff_ids, char ***ret_chain_ids)
{
        _cleanup_strv_ char **chain = NULL;
        size_t n = 0;

        if (!diff_ids || !ret_chain_ids)
                return -EINVAL;
        for (; diff_ids[n]; n++)
                if (!img_digest_valid(diff_ids[n]) || n >= IMG_MAX_LAYERS)
                        return -EINVAL;
        chain = calloc(n + 1, sizeof(*chain));
        if (!chain)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char buf[2 * IMG_DIGEST_LEN + 2];
                chain[i] = malloc(IMG_DIGEST_LEN + 1);
                if (!chain[i])
                        return -ENOMEM;
                if (i == 0) {
                        memcpy(chain[i], diff_ids[0], IMG_DIGEST_LEN + 1);
                        continue;
                }
                snprintf(buf, sizeof(buf), "%s %s", chain[i - 1], diff_ids[i]);
                img_digest_buf(buf, 2 * IMG_DIGEST_LEN + 1, chain[i]);
        }
        *ret_chain_ids = TAKE_PTR(chain);
        return 0;
}
