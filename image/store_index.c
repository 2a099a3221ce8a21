/* The image store's records (store_index.h): the same images.json and the
 * same naming rules as Linux's store.c. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store_index.h"

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static bool strv_has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

int img_idx_strv_add(char ***v, const char *s)
{
        size_t n = strv_len(*v);
        char **nv;

        if (strv_has(*v, s))
                return 0;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[n] = strdup(s);
        nv[n + 1] = NULL;
        return nv[n] ? 1 : -ENOMEM;
}

static bool strv_del(char **v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0) {
                        free(v[i]);
                        memmove(&v[i], &v[i + 1], (strv_len(v + i + 1) + 1) * sizeof(char *));
                        return true;
                }
        return false;
}

static char **strv_dup(char *const *v)
{
        size_t n = strv_len(v);
        char **r = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; r && i < n; i++)
                if (!(r[i] = strdup(v[i]))) {
                        strv_free(r);
                        return NULL;
                }
        return r;
}

struct img_idx_rec *img_idx_rec_free(struct img_idx_rec *r)
{
        if (!r)
                return NULL;
        free(r->id);
        free(r->manifest);
        strv_free(r->tags);
        strv_free(r->digests);
        strv_free(r->users);
        for (size_t i = 0; i < r->n_layers; i++) {
                free(r->layers[i].digest);
                free(r->layers[i].chain);
        }
        free(r->layers);
        free(r);
        return NULL;
}

struct img_idx_rec *img_idx_rec_new(const struct img_manifest *m, const char *manifest_digest,
                                    size_t manifest_len, char *const *chains, char *const *tags,
                                    char *const *digests)
{
        struct img_idx_rec *rec = calloc(1, sizeof(*rec));
        bool ok;

        if (!rec)
                return NULL;
        rec->id = strdup(m->config.digest);
        rec->manifest = strdup(manifest_digest);
        rec->tags = calloc(1, sizeof(char *));
        rec->digests = calloc(1, sizeof(char *));
        rec->users = calloc(1, sizeof(char *));
        rec->layers = calloc(m->n_layers + 1, sizeof(*rec->layers));
        ok = rec->id && rec->manifest && rec->tags && rec->digests && rec->users && rec->layers;
        rec->size = manifest_len + (uint64_t) m->config.size;
        for (size_t i = 0; ok && i < m->n_layers; i++, rec->n_layers++) {
                rec->layers[i].digest = strdup(m->layers[i].digest);
                rec->layers[i].chain = strdup(chains[i]);
                rec->layers[i].size = m->layers[i].size;
                rec->size += (uint64_t) m->layers[i].size;
                ok = rec->layers[i].digest && rec->layers[i].chain;
        }
        for (size_t i = 0; ok && tags && tags[i]; i++)
                ok = img_idx_strv_add(&rec->tags, tags[i]) >= 0;
        for (size_t i = 0; ok && digests && digests[i]; i++)
                ok = img_idx_strv_add(&rec->digests, digests[i]) >= 0;
        return ok ? rec : img_idx_rec_free(rec);
}

void img_idx_free(struct img_idx_rec *list)
{
        while (list) {
                struct img_idx_rec *next = list->next;
                img_idx_rec_free(list);
                list = next;
        }
}

/* --- JSON --- */

static json_object *strv_to_json(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static json_object *rec_to_json(const struct img_idx_rec *r)
{
        json_object *o = json_object_new_object(), *layers = json_object_new_array();

        json_object_object_add(o, "id", json_object_new_string(r->id));
        json_object_object_add(o, "manifest", json_object_new_string(r->manifest));
        json_object_object_add(o, "size", json_object_new_int64((int64_t) r->size));
        json_object_object_add(o, "tags", strv_to_json(r->tags));
        json_object_object_add(o, "digests", strv_to_json(r->digests));
        for (size_t i = 0; i < r->n_layers; i++) {
                json_object *l = json_object_new_object();
                json_object_object_add(l, "digest", json_object_new_string(r->layers[i].digest));
                json_object_object_add(l, "chain", json_object_new_string(r->layers[i].chain));
                json_object_object_add(l, "size", json_object_new_int64(r->layers[i].size));
                json_object_array_add(layers, l);
        }
        json_object_object_add(o, "layers", layers);
        return o;
}

char *img_idx_format(const struct img_idx_rec *list)
{
        json_object *top = json_object_new_object(), *arr = json_object_new_array();
        char *text;

        if (!top || !arr) {
                json_object_put(top);
                json_object_put(arr);
                return NULL;
        }
        for (const struct img_idx_rec *r = list; r; r = r->next)
                json_object_array_add(arr, rec_to_json(r));
        json_object_object_add(top, "images", arr);
        text = strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN));
        json_object_put(top);
        return text;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static char **json_to_strv(json_object *o, const char *key)
{
        json_object *a;
        size_t n;
        char **v;

        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return calloc(1, sizeof(char *));
        n = json_object_array_length(a);
        v = calloc(n + 1, sizeof(char *));
        for (size_t i = 0, j = 0; v && i < n; i++) {
                const char *e = json_object_get_string(json_object_array_get_idx(a, i));
                if (e && *e && !(v[j++] = strdup(e))) {
                        strv_free(v);
                        return NULL;
                }
        }
        return v;
}

static struct img_idx_rec *rec_from_json(json_object *o)
{
        struct img_idx_rec *r = calloc(1, sizeof(*r));
        json_object *layers, *v;
        const char *id = jstr(o, "id"), *man = jstr(o, "manifest");

        if (!r || !id || !man || !img_digest_valid(id) || !img_digest_valid(man) ||
            !json_object_object_get_ex(o, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return img_idx_rec_free(r);
        r->id = strdup(id);
        r->manifest = strdup(man);
        r->tags = json_to_strv(o, "tags");
        r->digests = json_to_strv(o, "digests");
        r->users = calloc(1, sizeof(char *));
        if (json_object_object_get_ex(o, "size", &v))
                r->size = (uint64_t) json_object_get_int64(v);
        r->layers = calloc(json_object_array_length(layers) + 1, sizeof(*r->layers));
        if (!r->id || !r->manifest || !r->tags || !r->digests || !r->users || !r->layers)
                return img_idx_rec_free(r);
        for (size_t i = 0; i < json_object_array_length(layers); i++, r->n_layers++) {
                json_object *l = json_object_array_get_idx(layers, i);
                const char *d = jstr(l, "digest"), *c = jstr(l, "chain");
                if (!d || !c || !img_digest_valid(d) || !img_digest_valid(c))
                        return img_idx_rec_free(r);
                r->layers[i].digest = strdup(d);
                r->layers[i].chain = strdup(c);
                if (json_object_object_get_ex(l, "size", &v))
                        r->layers[i].size = json_object_get_int64(v);
                if (!r->layers[i].digest || !r->layers[i].chain) {
                        r->n_layers++;
                        return img_idx_rec_free(r);
                }
        }
        return r;
}

int img_idx_parse(const char *text, struct img_idx_rec **ret, struct uvm_error **err)
{
        json_object *top = json_tokener_parse(text), *arr;
        struct img_idx_rec *list = NULL, **tail = &list;

        if (!top || !json_object_object_get_ex(top, "images", &arr) ||
            !json_object_is_type(arr, json_type_array)) {
                json_object_put(top);
                return uvm_error_set(err, EINVAL, "not an image index");
        }
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                struct img_idx_rec *rec = rec_from_json(json_object_array_get_idx(arr, i));
                if (!rec) {
                        log_warn("image record %zu is malformed, ignoring", i);
                        continue;
                }
                *tail = rec;
                tail = &rec->next;
        }
        json_object_put(top);
        *ret = list;
        return 0;
}

/* --- lookup and names --- */

static bool is_hex(const char *s)
{
        return *s && strspn(s, "0123456789abcdef") == strlen(s);
}

struct img_idx_rec *img_idx_lookup(struct img_idx_rec *list, const char *ref)
{
        struct img_ref pr = {0};
        struct img_idx_rec *found = NULL;
        const char *hex;
        size_t n = 0;

        if (img_ref_parse(ref, &pr, NULL) >= 0) {
                _cleanup_free_ char *name = img_ref_name(&pr), *full = NULL;
                if (name && pr.digest && asprintf(&full, "%s@%s", name, pr.digest) < 0)
                        full = NULL;
                else if (name && !pr.digest && pr.tag && asprintf(&full, "%s:%s", name, pr.tag) < 0)
                        full = NULL;
                for (struct img_idx_rec *r = list; full && r; r = r->next)
                        if (strv_has(r->tags, full) || strv_has(r->digests, full))
                                found = r;
                img_ref_clear(&pr);
                if (found)
                        return found;
        }
        hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
        if (!is_hex(hex) || strlen(hex) < 4)
                return NULL;
        for (struct img_idx_rec *r = list; r; r = r->next)
                if (strncmp(r->id + 7, hex, strlen(hex)) == 0) {
                        found = r;
                        n++;
                }
        return n == 1 ? found : NULL;
}

/* Names are unique across images: a tag moved to a new image leaves the old
 * one, as docker does on a re-pull of a moved tag. */
static void drop_names(struct img_idx_rec *list, const struct img_idx_rec *keep, char *const *names)
{
        for (struct img_idx_rec *r = list; r; r = r->next)
                for (size_t i = 0; r != keep && names && names[i]; i++) {
                        strv_del(r->tags, names[i]);
                        strv_del(r->digests, names[i]);
                }
}

int img_idx_commit(struct img_idx_rec **list, struct img_idx_rec *rec)
{
        struct img_idx_rec *old = NULL;
        int r = 0;

        for (struct img_idx_rec *x = *list; x; x = x->next)
                if (strcmp(x->id, rec->id) == 0)
                        old = x;
        if (!old) {
                drop_names(*list, rec, rec->tags);
                drop_names(*list, rec, rec->digests);
                rec->next = *list;
                *list = rec;
                return 0;
        }
        for (size_t i = 0; r >= 0 && rec->tags && rec->tags[i]; i++)
                r = img_idx_strv_add(&old->tags, rec->tags[i]);
        for (size_t i = 0; r >= 0 && rec->digests && rec->digests[i]; i++)
                r = img_idx_strv_add(&old->digests, rec->digests[i]);
        drop_names(*list, old, rec->tags);
        drop_names(*list, old, rec->digests);
        img_idx_rec_free(rec);
        return r < 0 ? r : 0;
}

/* The "name:tag" ref spells when it is a tag, else NULL. */
static char *tag_name(const char *ref)
{
        struct img_ref pr = {0};
        _cleanup_free_ char *name = NULL;
        char *full = NULL;

        if (img_ref_parse(ref, &pr, NULL) < 0)
                return NULL;
        name = img_ref_name(&pr);
        if (name && pr.tag && !pr.digest && asprintf(&full, "%s:%s", name, pr.tag) < 0)
                full = NULL;
        img_ref_clear(&pr);
        return full;
}

bool img_idx_untag(struct img_idx_rec *rec, const char *ref)
{
        _cleanup_free_ char *tag = NULL;

        if (strv_len(rec->tags) < 2 || !(tag = tag_name(ref)))
                return false;
        return strv_del(rec->tags, tag);
}

void img_idx_drop(struct img_idx_rec **list, struct img_idx_rec *rec)
{
        for (struct img_idx_rec **p = list; *p; p = &(*p)->next)
                if (*p == rec) {
                        *p = rec->next;
                        img_idx_rec_free(rec);
                        return;
                }
}

int img_idx_remove(struct img_idx_rec **list, const char *ref,
                   int (*save)(void *data, struct uvm_error **err), void *data,
                   struct uvm_error **err)
{
        struct img_idx_rec *rec = img_idx_lookup(*list, ref), **p;
        int r;

        if (!rec)
                return IMG_IDX_ABSENT;
        if (img_idx_untag(rec, ref)) { /* one of several tags: as docker rmi does */
                r = save(data, err);
                return r < 0 ? r : IMG_IDX_UNTAGGED;
        }
        if (strv_len(rec->users) > 0)
                return uvm_error_set(err, EBUSY, "image %s is in use by container %s", rec->id,
                                     rec->users[0]);
        for (p = list; *p != rec; p = &(*p)->next)
                ;
        *p = rec->next;
        r = save(data, err);
        if (r < 0) { /* images.json still has it: so does the list */
                *p = rec;
                return r;
        }
        log_info("image %s: removed", rec->id);
        img_idx_rec_free(rec);
        return IMG_IDX_DROPPED;
}

int img_idx_hold(struct img_idx_rec *list, const char *ref, const char *user, char **ret_id,
                 struct uvm_error **err)
{
        struct img_idx_rec *rec = img_idx_lookup(list, ref);
        char *id = NULL;

        if (!rec)
                return uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        if ((ret_id && !(id = strdup(rec->id))) || img_idx_strv_add(&rec->users, user) < 0) {
                free(id);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

void img_idx_release(struct img_idx_rec *list, const char *id, const char *user)
{
        for (struct img_idx_rec *r = list; r; r = r->next)
                if (strcmp(r->id, id) == 0)
                        strv_del(r->users, user);
}

int img_idx_list(struct img_idx_rec *list, const char *filter_ref,
                 int (*info)(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                             struct uvm_error **err),
                 void *data, struct img_info **ret, size_t *ret_n, struct uvm_error **err)
{
        struct img_idx_rec *only = NULL;
        struct img_info *v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (filter_ref && *filter_ref && !(only = img_idx_lookup(list, filter_ref)))
                list = NULL;
        for (struct img_idx_rec *rec = list; r >= 0 && rec; rec = rec->next) {
                if (only && rec != only)
                        continue;
                if (n == cap) {
                        struct img_info *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
                        if (!nv) {
                                r = uvm_error_set(err, ENOMEM, "out of memory");
                                break;
                        }
                        v = nv;
                }
                r = info(data, rec, &v[n], err);
                if (r >= 0)
                        n++;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        img_info_clear(&v[i]);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

bool img_idx_blob_used(const struct img_idx_rec *list, const char *hex)
{
        for (const struct img_idx_rec *r = list; r; r = r->next) {
                if (strcmp(r->id + 7, hex) == 0 || strcmp(r->manifest + 7, hex) == 0)
                        return true;
                for (size_t i = 0; i < r->n_layers; i++)
                        if (strcmp(r->layers[i].digest + 7, hex) == 0)
                                return true;
        }
        return false;
}

bool img_idx_chain_used(const struct img_idx_rec *list, const char *hex)
{
        for (const struct img_idx_rec *r = list; r; r = r->next)
                for (size_t i = 0; i < r->n_layers; i++)
                        if (strcmp(r->layers[i].chain + 7, hex) == 0)
                                return true;
        return false;
}

/* uid or user name from config.user ("1000", "1000:1000", "app", "app:grp"). */
static void user_ids(struct img_info *i)
{
        const char *u = i->config.user;
        _cleanup_free_ char *name = NULL;
        char *colon, *end;
        long long v;

        if (!u || !*u || !(name = strdup(u)))
                return;
        if ((colon = strchr(name, ':')))
                *colon = '\0';
        errno = 0;
        v = strtoll(name, &end, 10);
        if (*name && !*end && errno == 0 && v >= 0) {
                i->has_uid = true;
                i->uid = v;
        } else {
                i->username = TAKE_PTR(name);
        }
}

int img_idx_info_file(const struct img_idx_rec *rec, const char *config_path, struct img_info *ret,
                      struct uvm_error **err)
{
        _cleanup_free_ char *json = NULL;
        size_t len;
        int r;

        if (!config_path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(config_path, IMG_MAX_JSON, &json, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "image %s: config blob: %s", rec->id, strerror(-r));
        return img_idx_info(rec, json, len, ret, err);
}

int img_idx_status(struct img_idx_rec *list, const char *ref,
                   int (*info)(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                               struct uvm_error **err),
                   void *data, struct img_info *ret, struct uvm_error **err)
{
        struct img_idx_rec *rec = img_idx_lookup(list, ref);

        return rec ? info(data, rec, ret, err)
                   : uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
}

int img_idx_info(const struct img_idx_rec *rec, const char *config_json, size_t len,
                 struct img_info *ret, struct uvm_error **err)
{
        struct img_info i = {0};
        _cleanup_strv_ char **diff_ids = NULL;
        int r = img_config_parse(config_json, len, &i.config, &diff_ids, err);

        if (r < 0)
                return uvm_error_wrap(err, "image %s", rec->id);
        i.id = strdup(rec->id);
        i.repo_tags = strv_dup(rec->tags);
        i.repo_digests = strv_dup(rec->digests);
        i.size = rec->size;
        i.pinned_or_verbose_json = strndup(config_json, len);
        if (!i.id || !i.repo_tags || !i.repo_digests || !i.pinned_or_verbose_json) {
                img_info_clear(&i);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        user_ids(&i);
        *ret = i;
        return 0;
}
