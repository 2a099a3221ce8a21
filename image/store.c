/* The image store: records, lookup, status, removal and garbage collection. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store-internal.h"

#define INDEX_MAX (64u << 20)

char *img_blob_path(struct img_store *s, const char *digest)
{
        char *p = NULL;

        if (!img_digest_valid(digest))
                return NULL;
        if (asprintf(&p, "%s/blobs/sha256/%s", s->root, digest + strlen("sha256:")) < 0)
                return NULL;
        return p;
}

char *img_layer_path(struct img_store *s, const char *chain)
{
        char *p = NULL;

        if (!img_digest_valid(chain))
                return NULL;
        if (asprintf(&p, "%s/layers/%s", s->root, chain + strlen("sha256:")) < 0)
                return NULL;
        return p;
}

char *img_tmp_path(struct img_store *s, const char *what)
{
        static unsigned long counter;
        char *p = NULL;
        unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

        if (asprintf(&p, "%s/tmp/%s.%d.%lu", s->root, what, getpid(), n) < 0)
                return NULL;
        return p;
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static bool strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

int img_strv_add(char ***v, const char *s)
{
        size_t n = strv_len(*v);
        char **nv;

        if (strv_contains(*v, s))
                return 0;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[n] = strdup(s);
        nv[n + 1] = NULL;
        return nv[n] ? 1 : -ENOMEM;
}

/* Remove s; returns whether it was there. */
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

struct img_rec *img_rec_free(struct img_rec *r)
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

/* --- persistence: images.json --- */

static json_object *strv_to_json(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static json_object *rec_to_json(const struct img_rec *r)
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

static int save_locked(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        json_object *top = json_object_new_object(), *arr = json_object_new_array();
        const char *text;
        int r;

        for (struct img_rec *rec = s->recs; rec; rec = rec->next)
                json_object_array_add(arr, rec_to_json(rec));
        json_object_object_add(top, "images", arr);
        text = json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN);
        if (asprintf(&path, "%s/images.json", s->root) < 0) {
                json_object_put(top);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = fs_write_atomic(path, text, strlen(text), 0600);
        json_object_put(top);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        if (stat(path, &s->index_stamp) < 0)
                memset(&s->index_stamp, 0, sizeof(s->index_stamp));
        return 0;
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

static struct img_rec *rec_from_json(json_object *o)
{
        struct img_rec *r = calloc(1, sizeof(*r));
        json_object *layers, *v;
        const char *id = jstr(o, "id"), *man = jstr(o, "manifest");

        if (!r || !id || !man || !img_digest_valid(id) || !img_digest_valid(man) ||
            !json_object_object_get_ex(o, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return img_rec_free(r);
        r->id = strdup(id);
        r->manifest = strdup(man);
        r->tags = json_to_strv(o, "tags");
        r->digests = json_to_strv(o, "digests");
        r->users = calloc(1, sizeof(char *));
        if (json_object_object_get_ex(o, "size", &v))
                r->size = (uint64_t) json_object_get_int64(v);
        r->n_layers = json_object_array_length(layers);
        r->layers = calloc(r->n_layers ? r->n_layers : 1, sizeof(*r->layers));
        if (!r->id || !r->manifest || !r->tags || !r->digests || !r->users || !r->layers)
                return img_rec_free(r);
        for (size_t i = 0; i < r->n_layers; i++) {
                json_object *l = json_object_array_get_idx(layers, i);
                const char *d = jstr(l, "digest"), *c = jstr(l, "chain");
                if (!d || !c || !img_digest_valid(d) || !img_digest_valid(c))
                        return img_rec_free(r);
                r->layers[i].digest = strdup(d);
                r->layers[i].chain = strdup(c);
                if (json_object_object_get_ex(l, "size", &v))
                        r->layers[i].size = json_object_get_int64(v);
                if (!r->layers[i].digest || !r->layers[i].chain)
                        return img_rec_free(r);
        }
        return r;
}

static int load_index(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        json_object *top, *arr;
        struct img_rec **tail = &s->recs;
        size_t len;
        int r;

        if (asprintf(&path, "%s/images.json", s->root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, INDEX_MAX, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        top = json_tokener_parse(buf);
        if (!top || !json_object_object_get_ex(top, "images", &arr) ||
            !json_object_is_type(arr, json_type_array)) {
                json_object_put(top);
                return uvm_error_set(err, EINVAL, "%s: not an image index", path);
        }
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                struct img_rec *rec = rec_from_json(json_object_array_get_idx(arr, i));
                if (!rec) {
                        log_warn("%s: image record %zu is malformed, ignoring", path, i);
                        continue;
                }
                *tail = rec;
                tail = &rec->next;
        }
        json_object_put(top);
        return 0;
}

/* --- several processes: uvmd and `uvmd image import` share the store --- */

static bool same_file(const struct stat *a, const struct stat *b)
{
        return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void free_recs(struct img_rec *r)
{
        while (r) {
                struct img_rec *next = r->next;
                img_rec_free(r);
                r = next;
        }
}

/* Lock held: re-read images.json when another process replaced it. Users
 * (containers) are this process's own and carry over. */
static void sync_locked(struct img_store *s)
{
        _cleanup_free_ char *path = NULL;
        struct uvm_error *err = NULL;
        struct img_rec *old = s->recs;
        struct stat st;

        if (asprintf(&path, "%s/images.json", s->root) < 0 || stat(path, &st) < 0 ||
            same_file(&st, &s->index_stamp))
                return;
        s->recs = NULL;
        if (load_index(s, &err) < 0) {
                log_warn("reload %s: %s, keeping what was loaded", path, err->msg);
                uvm_error_free(err);
                free_recs(s->recs);
                s->recs = old;
                return;
        }
        s->index_stamp = st;
        for (struct img_rec *n = s->recs; n; n = n->next)
                for (struct img_rec *o = old; o; o = o->next)
                        if (strcmp(n->id, o->id) == 0) {
                                char **u = n->users;
                                n->users = o->users;
                                o->users = u;
                        }
        free_recs(old);
}

/* Lock held: the cross-process lock for changing the index, with a fresh
 * view of it. */
static void index_lock(struct img_store *s)
{
        while (flock(s->lock_fd, LOCK_EX) < 0 && errno == EINTR)
                ;
        sync_locked(s);
}

static void index_unlock(struct img_store *s)
{
        (void) flock(s->lock_fd, LOCK_UN);
}

/* --- lookup --- */

static bool is_hex(const char *s)
{
        return *s && strspn(s, "0123456789abcdef") == strlen(s);
}

/* Lock held. By reference (tag or digest), then by id or unique id prefix. */
static struct img_rec *lookup_locked(struct img_store *s, const char *ref)
{
        struct img_ref pr = {0};
        struct img_rec *found = NULL;
        const char *hex;
        size_t n = 0;

        if (img_ref_parse(ref, &pr, NULL) >= 0) {
                _cleanup_free_ char *name = img_ref_name(&pr), *full = NULL;
                if (name && pr.digest)
                        (void) !asprintf(&full, "%s@%s", name, pr.digest);
                else if (name && pr.tag)
                        (void) !asprintf(&full, "%s:%s", name, pr.tag);
                for (struct img_rec *r = s->recs; full && r; r = r->next)
                        if (strv_contains(r->tags, full) || strv_contains(r->digests, full))
                                found = r;
                img_ref_clear(&pr);
                if (found)
                        return found;
        }
        hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
        if (!is_hex(hex) || strlen(hex) < 4)
                return NULL;
        for (struct img_rec *r = s->recs; r; r = r->next)
                if (strncmp(r->id + 7, hex, strlen(hex)) == 0) {
                        found = r;
                        n++;
                }
        return n == 1 ? found : NULL;
}

/* --- records --- */

/* Names are unique across images: moving a tag to a new image drops it from
 * the old one (docker's behaviour on re-pull of a moved tag). */
static void drop_names_locked(struct img_store *s, const struct img_rec *keep, char *const *names)
{
        for (struct img_rec *r = s->recs; r; r = r->next)
                for (size_t i = 0; r != keep && names && names[i]; i++) {
                        strv_del(r->tags, names[i]);
                        strv_del(r->digests, names[i]);
                }
}

static void gc_locked(struct img_store *s);

int img_rec_commit_locked(struct img_store *s, struct img_rec *rec, struct uvm_error **err)
{
        struct img_rec *old = NULL;
        int r = 0;

        index_lock(s);
        for (struct img_rec *x = s->recs; x; x = x->next)
                if (strcmp(x->id, rec->id) == 0)
                        old = x;
        if (old) {
                for (size_t i = 0; r >= 0 && rec->tags && rec->tags[i]; i++)
                        r = img_strv_add(&old->tags, rec->tags[i]);
                for (size_t i = 0; r >= 0 && rec->digests && rec->digests[i]; i++)
                        r = img_strv_add(&old->digests, rec->digests[i]);
                drop_names_locked(s, old, rec->tags);
                drop_names_locked(s, old, rec->digests);
                img_rec_free(rec);
                if (r < 0) {
                        index_unlock(s);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
        } else {
                drop_names_locked(s, rec, rec->tags);
                drop_names_locked(s, rec, rec->digests);
                rec->next = s->recs;
                s->recs = rec;
        }
        /* An image left with no name and no user stays: it is still
         * reachable by id, as with docker's dangling images. */
        r = save_locked(s, err);
        index_unlock(s);
        return r;
}

static void unlink_rec_locked(struct img_store *s, struct img_rec *rec)
{
        for (struct img_rec **p = &s->recs; *p; p = &(*p)->next)
                if (*p == rec) {
                        *p = rec->next;
                        img_rec_free(rec);
                        return;
                }
}

/* --- garbage collection: blobs and layers no record refers to --- */

static bool blob_referenced_locked(struct img_store *s, const char *hex)
{
        for (struct img_rec *r = s->recs; r; r = r->next) {
                if (strcmp(r->id + 7, hex) == 0 || strcmp(r->manifest + 7, hex) == 0)
                        return true;
                for (size_t i = 0; i < r->n_layers; i++)
                        if (strcmp(r->layers[i].digest + 7, hex) == 0)
                                return true;
        }
        return false;
}

static bool layer_referenced_locked(struct img_store *s, const char *hex)
{
        for (struct img_rec *r = s->recs; r; r = r->next)
                for (size_t i = 0; i < r->n_layers; i++)
                        if (strcmp(r->layers[i].chain + 7, hex) == 0)
                                return true;
        return false;
}

/* disks/<chain hex>.erofs (disk.c) go with their layer. */
static bool disk_referenced_locked(struct img_store *s, const char *name)
{
        char hex[65];
        size_t n = strlen(name);

        if (n != 64 + strlen(".erofs") || strcmp(name + 64, ".erofs") != 0)
                return false;
        memcpy(hex, name, 64);
        hex[64] = '\0';
        return layer_referenced_locked(s, hex);
}

static void sweep_dir_locked(struct img_store *s, const char *sub,
                             bool (*referenced)(struct img_store *, const char *))
{
        _cleanup_free_ char *dir = NULL;
        DIR *d;
        struct dirent *e;

        if (asprintf(&dir, "%s/%s", s->root, sub) < 0 || !(d = opendir(dir)))
                return;
        while ((e = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                if (e->d_name[0] == '.' || referenced(s, e->d_name))
                        continue;
                if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
                        break;
                if (fs_rm_rf(p) < 0)
                        log_warn("remove %s failed, ignoring", p);
        }
        closedir(d);
}

/* Lock held, index lock not. Collect only when no ingest runs in any
 * process: ingests hold the ingest lock shared, collection exclusive. */
static void gc_locked(struct img_store *s)
{
        if (s->ingests > 0 || flock(s->ingest_fd, LOCK_EX | LOCK_NB) < 0) {
                s->gc_pending = true;
                return;
        }
        s->gc_pending = false;
        index_lock(s);
        sweep_dir_locked(s, "blobs/sha256", blob_referenced_locked);
        sweep_dir_locked(s, "layers", layer_referenced_locked);
        sweep_dir_locked(s, "disks", disk_referenced_locked);
        index_unlock(s);
        (void) flock(s->ingest_fd, LOCK_UN);
}

void img_ingest_begin(struct img_store *s)
{
        pthread_mutex_lock(&s->lock);
        if (s->ingests++ == 0)
                while (flock(s->ingest_fd, LOCK_SH) < 0 && errno == EINTR)
                        ;
        pthread_mutex_unlock(&s->lock);
}

void img_ingest_end(struct img_store *s, bool failed)
{
        pthread_mutex_lock(&s->lock);
        if (failed)
                s->gc_pending = true;
        if (--s->ingests == 0) {
                (void) flock(s->ingest_fd, LOCK_UN);
                if (s->gc_pending)
                        gc_locked(s);
        }
        pthread_mutex_unlock(&s->lock);
}

/* --- the public calls --- */

static int open_locks(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *a = NULL, *b = NULL;

        if (asprintf(&a, "%s/index.lock", s->root) < 0 ||
            asprintf(&b, "%s/ingest.lock", s->root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        s->lock_fd = open(a, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return uvm_error_set(err, errno, "open %s: %m", a);
        s->ingest_fd = open(b, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->ingest_fd < 0)
                return uvm_error_set(err, errno, "open %s: %m", b);
        return 0;
}

int img_store_new(const struct img_options *o, struct img_store **ret, struct uvm_error **err)
{
        static const char *const dirs[] = {"blobs/sha256", "layers", "disks", "tmp"};
        struct reg_options ro = {
                .insecure_registries = o->insecure_registries,
                .mirrors = o->mirrors,
                .timeout_ms = o->pull_timeout_ms,
        };
        struct img_store *s = calloc(1, sizeof(*s));
        int r;

        if (!s || !(s->root = strdup(o->root)) || asprintf(&s->disk_dir, "%s/disks", o->root) < 0) {
                if (s)
                        free(s->root);
                free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->lock_fd = s->ingest_fd = -1;
        s->pull_timeout_ms = o->pull_timeout_ms;
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", s->root, dirs[i]) < 0) {
                        img_store_free(s);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
                r = fs_mkdir_p(p, 0700);
                if (r < 0) {
                        img_store_free(s);
                        return uvm_error_set(err, -r, "create %s: %s", p, strerror(-r));
                }
        }
        r = open_locks(s, err);
        if (r >= 0) {
                index_lock(s); /* loads the index */
                index_unlock(s);
                r = reg_client_new(&ro, &s->reg, err);
        }
        if (r < 0) {
                img_store_free(s);
                return uvm_error_wrap(err, "image store %s", o->root);
        }
        /* What a crash cut short (temp files, blobs without a record) goes,
         * unless another process (the daemon, an import) is ingesting. */
        if (flock(s->ingest_fd, LOCK_EX | LOCK_NB) == 0) {
                _cleanup_free_ char *tmp = NULL;
                if (asprintf(&tmp, "%s/tmp", s->root) >= 0) {
                        (void) fs_rm_rf(tmp);
                        (void) fs_mkdir_p(tmp, 0700);
                }
                (void) flock(s->ingest_fd, LOCK_UN);
                pthread_mutex_lock(&s->lock);
                gc_locked(s);
                pthread_mutex_unlock(&s->lock);
        }
        *ret = s;
        return 0;
}

struct img_store *img_store_free(struct img_store *s)
{
        if (!s)
                return NULL;
        free_recs(s->recs);
        reg_client_free(s->reg);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        if (s->ingest_fd >= 0)
                close(s->ingest_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->root);
        free(s->disk_dir);
        free(s);
        return NULL;
}

static int read_config(struct img_store *s, const char *id, char **ret_json, size_t *ret_len,
                       struct uvm_error **err)
{
        _cleanup_free_ char *path = img_blob_path(s, id);
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, IMG_MAX_JSON, ret_json, ret_len);
        if (r < 0)
                return uvm_error_set(err, -r, "image %s: config blob: %s", id, strerror(-r));
        return 0;
}

/* uid or user name from config.user ("1000", "1000:1000", "app", "app:grp"). */
static void user_ids(struct img_info *i)
{
        const char *u = i->config.user;
        _cleanup_free_ char *name = NULL;
        char *colon, *end;
        long long v;

        if (!u || !*u)
                return;
        name = strdup(u);
        if (!name)
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

/* Lock held: copy what the record says; the config comes from its blob. */
static int fill_info_locked(struct img_store *s, const struct img_rec *rec, struct img_info *ret,
                            struct uvm_error **err)
{
        struct img_info i = {0};
        _cleanup_strv_ char **diff_ids = NULL;
        _cleanup_free_ char *json = NULL;
        size_t len;
        int r;

        r = read_config(s, rec->id, &json, &len, err);
        if (r < 0)
                return r;
        r = img_config_parse(json, len, &i.config, &diff_ids, err);
        if (r < 0)
                return uvm_error_wrap(err, "image %s", rec->id);
        i.id = strdup(rec->id);
        i.repo_tags = strv_dup(rec->tags);
        i.repo_digests = strv_dup(rec->digests);
        i.size = rec->size;
        i.pinned_or_verbose_json = TAKE_PTR(json);
        if (!i.id || !i.repo_tags || !i.repo_digests) {
                img_info_clear(&i);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        user_ids(&i);
        *ret = i;
        return 0;
}

int img_status(struct img_store *s, const char *ref, struct img_info *ret, struct uvm_error **err)
{
        struct img_rec *rec;
        int r;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        rec = lookup_locked(s, ref);
        r = rec ? fill_info_locked(s, rec, ret, err)
                : uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_list(struct img_store *s, const char *filter_ref, struct img_info **ret, size_t *ret_n,
             struct uvm_error **err)
{
        struct img_info *v = NULL;
        size_t n = 0, cap = 0;
        struct img_rec *only = NULL;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        if (filter_ref && *filter_ref && !(only = lookup_locked(s, filter_ref)))
                goto out;
        for (struct img_rec *rec = s->recs; rec; rec = rec->next) {
                if (only && rec != only)
                        continue;
                if (n == cap) {
                        struct img_info *nv;
                        cap = cap ? 2 * cap : 16;
                        nv = realloc(v, cap * sizeof(*v));
                        if (!nv) {
                                r = uvm_error_set(err, ENOMEM, "out of memory");
                                break;
                        }
                        v = nv;
                }
                r = fill_info_locked(s, rec, &v[n], err);
                if (r < 0)
                        break;
                n++;
        }
out:
        pthread_mutex_unlock(&s->lock);
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

int img_remove(struct img_store *s, const char *ref, struct uvm_error **err)
{
        struct img_rec *rec;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        index_lock(s);
        rec = lookup_locked(s, ref);
        if (!rec)
                goto out; /* already gone: success, as the kubelet expects */
        if (strv_len(rec->tags) > 1) {
                /* One of several tags: untag only, as docker rmi does. */
                _cleanup_free_ char *tag = tag_name(ref);
                if (tag && strv_del(rec->tags, tag)) {
                        r = save_locked(s, err);
                        goto out;
                }
        }
        if (strv_len(rec->users) > 0) {
                r = uvm_error_set(err, EBUSY, "image %s is in use by container %s", rec->id,
                                  rec->users[0]);
                goto out;
        }
        log_info("removing image %s", rec->id);
        unlink_rec_locked(s, rec);
        r = save_locked(s, err);
        index_unlock(s);
        gc_locked(s);
        pthread_mutex_unlock(&s->lock);
        return r;
out:
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_use(struct img_store *s, const char *ref, const char *user, char **ret_id,
            char ***ret_layers, struct img_config *ret_config, struct uvm_error **err)
{
        _cleanup_strv_ char **layers = NULL, **diff_ids = NULL;
        _cleanup_free_ char *json = NULL, *id = NULL;
        struct img_config cfg = {0};
        struct img_rec *rec;
        size_t len;
        int r;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        rec = lookup_locked(s, ref);
        if (!rec) {
                pthread_mutex_unlock(&s->lock);
                return uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        }
        layers = calloc(rec->n_layers + 1, sizeof(char *));
        id = strdup(rec->id);
        r = layers && id ? img_strv_add(&rec->users, user) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < rec->n_layers; i++)
                if (!(layers[i] = img_layer_path(s, rec->layers[i].chain)))
                        r = -ENOMEM;
        if (r >= 0)
                r = read_config(s, rec->id, &json, &len, err);
        if (r < 0)
                strv_del(rec->users, user);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return r == -ENOMEM ? uvm_error_set(err, ENOMEM, "out of memory") : r;
        r = img_config_parse(json, len, &cfg, &diff_ids, err);
        if (r < 0) {
                img_release(s, id, user);
                return uvm_error_wrap(err, "image %s", id);
        }
        *ret_id = TAKE_PTR(id);
        *ret_layers = TAKE_PTR(layers);
        *ret_config = cfg;
        return 0;
}

void img_release(struct img_store *s, const char *image_id, const char *user)
{
        pthread_mutex_lock(&s->lock);
        for (struct img_rec *r = s->recs; r; r = r->next)
                if (strcmp(r->id, image_id) == 0)
                        strv_del(r->users, user);
        pthread_mutex_unlock(&s->lock);
}

int img_fs_usage(struct img_store *s, struct img_fs_usage *ret, struct uvm_error **err)
{
        struct timespec ts;

        int r = fs_usage(s->root, &ret->used_bytes, &ret->inodes_used);

        if (r < 0)
                return uvm_error_set(err, -r, "walk %s: %s", s->root, strerror(-r));
        clock_gettime(CLOCK_REALTIME, &ts);
        ret->mountpoint = strdup(s->root);
        if (!ret->mountpoint)
                return uvm_error_set(err, ENOMEM, "out of memory");
        ret->timestamp_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
        return 0;
}
