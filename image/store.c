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

/* --- persistence: images.json --- */

static int save_locked(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = img_idx_format(s->recs);
        int r;

        if (!text || asprintf(&path, "%s/images.json", s->root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        if (stat(path, &s->index_stamp) < 0)
                memset(&s->index_stamp, 0, sizeof(s->index_stamp));
        return 0;
}

static int load_index(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len;
        int r;

        if (asprintf(&path, "%s/images.json", s->root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, INDEX_MAX, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        r = img_idx_parse(buf, &s->recs, err);
        return r < 0 ? uvm_error_wrap(err, "%s", path) : 0;
}

/* --- several processes: uvmd and `uvmd image import` share the store --- */

static bool same_file(const struct stat *a, const struct stat *b)
{
        return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Lock held: re-read images.json when another process replaced it. Users
 * (containers) are this process's own and carry over. */
static void sync_locked(struct img_store *s)
{
        _cleanup_free_ char *path = NULL;
        struct uvm_error *err = NULL;
        struct img_idx_rec *old = s->recs;
        struct stat st;

        if (asprintf(&path, "%s/images.json", s->root) < 0 || stat(path, &st) < 0 ||
            same_file(&st, &s->index_stamp))
                return;
        s->recs = NULL;
        if (load_index(s, &err) < 0) {
                log_warn("reload %s: %s, keeping what was loaded", path, err->msg);
                uvm_error_free(err);
                img_idx_free(s->recs);
                s->recs = old;
                return;
        }
        s->index_stamp = st;
        for (struct img_idx_rec *n = s->recs; n; n = n->next)
                for (struct img_idx_rec *o = old; o; o = o->next)
                        if (strcmp(n->id, o->id) == 0) {
                                char **u = n->users;
                                n->users = o->users;
                                o->users = u;
                        }
        img_idx_free(old);
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

/* Lock held. By reference (tag or digest), then by id or unique id prefix. */
static struct img_idx_rec *lookup_locked(struct img_store *s, const char *ref)
{
        return img_idx_lookup(s->recs, ref);
}

/* --- records --- */

static void gc_locked(struct img_store *s);

int img_rec_commit_locked(struct img_store *s, struct img_idx_rec *rec, struct uvm_error **err)
{
        int r;

        index_lock(s);
        /* Names move to the image, off any other (store_index.h). An image
         * left with no name and no user stays: it is still reachable by id,
         * as with docker's dangling images. */
        r = img_idx_commit(&s->recs, rec);
        r = r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : save_locked(s, err);
        index_unlock(s);
        return r;
}

/* --- garbage collection: blobs and layers no record refers to --- */

static bool blob_referenced_locked(struct img_store *s, const char *hex)
{
        return img_idx_blob_used(s->recs, hex);
}

static bool layer_referenced_locked(struct img_store *s, const char *hex)
{
        return img_idx_chain_used(s->recs, hex);
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
        img_idx_free(s->recs);
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

/* Lock held: what the record says; the config comes from its blob. */
static int info_locked(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                       struct uvm_error **err)
{
        _cleanup_free_ char *path = img_blob_path(data, rec->id);

        return img_idx_info_file(rec, path, ret, err);
}

int img_status(struct img_store *s, const char *ref, struct img_info *ret, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        r = img_idx_status(s->recs, ref, info_locked, s, ret, err);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_list(struct img_store *s, const char *filter_ref, struct img_info **ret, size_t *ret_n,
             struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        r = img_idx_list(s->recs, filter_ref, info_locked, s, ret, ret_n, err);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int save_cb(void *data, struct uvm_error **err)
{
        return save_locked(data, err);
}

int img_remove(struct img_store *s, const char *ref, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s);
        r = img_idx_remove(&s->recs, ref, save_cb, s, err);
        index_unlock(s);
        if (r == IMG_IDX_DROPPED)
                gc_locked(s);
        pthread_mutex_unlock(&s->lock);
        return r < 0 ? r : 0;
}

int img_use(struct img_store *s, const char *ref, const char *user, char **ret_id,
            char ***ret_layers, struct img_config *ret_config, struct uvm_error **err)
{
        _cleanup_strv_ char **layers = NULL, **diff_ids = NULL;
        _cleanup_free_ char *json = NULL, *id = NULL;
        struct img_config cfg = {0};
        struct img_idx_rec *rec;
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
        r = layers && id ? img_idx_strv_add(&rec->users, user) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < rec->n_layers; i++)
                if (!(layers[i] = img_layer_path(s, rec->layers[i].chain)))
                        r = -ENOMEM;
        if (r >= 0)
                r = read_config(s, rec->id, &json, &len, err);
        if (r < 0)
                img_idx_release(s->recs, rec->id, user);
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

int img_hold(struct img_store *s, const char *ref, const char *user, char **ret_id,
             struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        sync_locked(s);
        r = img_idx_hold(s->recs, ref, user, ret_id, err);
        pthread_mutex_unlock(&s->lock);
        return r;
}

void img_release(struct img_store *s, const char *image_id, const char *user)
{
        pthread_mutex_lock(&s->lock);
        img_idx_release(s->recs, image_id, user);
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
