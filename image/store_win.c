/* The Windows image store (store_win.h): records, lookup, status, removal,
 * collection and the few file calls it makes (UTF-16 at the edge). One
 * uvmd.exe owns the store: the lock is in-process. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <io.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "image/manifest.h"
#include "image/store_win-internal.h"

/* --- files --- */

char *imgw_path(const struct img_store *s, const char *sub)
{
        char *p = NULL;

        return asprintf(&p, "%s\\%s", s->root, sub) < 0 ? NULL : p;
}

char *imgw_blob_path(const struct img_store *s, const char *digest)
{
        char *p = NULL;

        if (!img_digest_valid(digest) ||
            asprintf(&p, "%s\\blobs\\sha256\\%s", s->root, digest + 7) < 0)
                return NULL;
        return p;
}

char *imgw_disk_path(const struct img_store *s, const char *chain)
{
        char *p = NULL;

        if (!img_digest_valid(chain) || asprintf(&p, "%s\\disks\\%s.vhd", s->root, chain + 7) < 0)
                return NULL;
        return p;
}

char *imgw_tmp_path(const struct img_store *s, const char *what)
{
        static unsigned long counter;
        unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        char *p = NULL;

        if (asprintf(&p, "%s\\tmp\\%s.%lu.%lu", s->root, what,
                     (unsigned long) GetCurrentProcessId(), n) < 0)
                return NULL;
        return p;
}

static wchar_t *wide(const char *path)
{
        wchar_t *w = NULL;

        return utf8_to_wide(path, UTF16_PATH_MAX, &w) < 0 ? NULL : w;
}

int64_t imgw_file_size(const char *path)
{
        _cleanup_free_ wchar_t *w = wide(path);
        WIN32_FILE_ATTRIBUTE_DATA a;

        if (!w)
                return -ENOMEM;
        if (!GetFileAttributesExW(w, GetFileExInfoStandard, &a))
                return -plat_errno_from_win32(GetLastError());
        if (a.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
                return -EISDIR;
        return (int64_t) (((uint64_t) a.nFileSizeHigh << 32) | a.nFileSizeLow);
}

int imgw_unlink(const char *path)
{
        _cleanup_free_ wchar_t *w = wide(path);

        if (!w)
                return -ENOMEM;
        if (!DeleteFileW(w) && GetLastError() != ERROR_FILE_NOT_FOUND)
                return -plat_errno_from_win32(GetLastError());
        return 0;
}

FILE *imgw_fopen_write(const char *path)
{
        _cleanup_free_ wchar_t *w = wide(path);

        /* N: not inherited by child processes. */
        return w ? _wfopen(w, L"wbN") : NULL;
}

int imgw_fclose_flushed(FILE *f)
{
        int r = 0;

        if (fflush(f) != 0)
                r = -EIO;
        else if (!FlushFileBuffers((HANDLE) _get_osfhandle(_fileno(f))))
                r = -plat_errno_from_win32(GetLastError());
        if (fclose(f) != 0 && r == 0)
                r = -EIO;
        return r;
}

int imgw_rename_new(const char *tmp, const char *final)
{
        _cleanup_free_ wchar_t *a = wide(tmp), *b = wide(final);
        DWORD e;

        if (!a || !b)
                return -ENOMEM;
        /* No REPLACE_EXISTING: a disk a VM may have open is never replaced. */
        if (MoveFileExW(a, b, MOVEFILE_WRITE_THROUGH))
                return 0;
        e = GetLastError();
        return e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS ? -EEXIST
                                                                   : -plat_errno_from_win32(e);
}

/* --- records --- */

static int save_locked(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_path(s, "images.json"), *text = img_idx_format(s->recs);
        int r;

        if (!path || !text)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        return 0;
}

static int load(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_path(s, "images.json"), *text = NULL;
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMG_IDX_MAX_BYTES, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        r = img_idx_parse(text, &s->recs, err);
        return r < 0 ? uvm_error_wrap(err, "%s", path) : 0;
}

/* --- collection: blobs and disks no record uses --- */

struct sweep {
        struct img_store *s;
        const char *dir;
        bool disks;
};

static void sweep_one(void *data, const char *name, bool is_dir)
{
        struct sweep *w = data;
        _cleanup_free_ char *p = NULL;
        char hex[65];
        size_t n = strlen(name);
        bool used;

        if (w->disks) {
                if (n != 64 + 4 || strcmp(name + 64, ".vhd") != 0)
                        used = false;
                else {
                        memcpy(hex, name, 64);
                        hex[64] = '\0';
                        used = img_idx_chain_used(w->s->recs, hex);
                }
        } else {
                used = n == 64 && img_idx_blob_used(w->s->recs, name);
        }
        if (used || asprintf(&p, "%s\\%s", w->dir, name) < 0)
                return;
        /* A disk a VM still has open cannot go yet: the next collection retries. */
        if ((is_dir ? plat_rm_rf(p) : imgw_unlink(p)) < 0)
                log_warn("remove %s failed, keeping it for now", p);
        else
                log_debug("removed %s: no image uses it", p);
}

static void gc_locked(struct img_store *s)
{
        static const char *const subs[] = {"blobs\\sha256", "disks"};

        if (s->ingests > 0) {
                s->gc_pending = true;
                return;
        }
        s->gc_pending = false;
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *dir = imgw_path(s, subs[i]);
                struct sweep w = {s, dir, i == 1};
                if (dir)
                        (void) plat_dir_each(dir, sweep_one, &w);
        }
}

void imgw_ingest_begin(struct img_store *s)
{
        pthread_mutex_lock(&s->lock);
        s->ingests++;
        pthread_mutex_unlock(&s->lock);
}

void imgw_ingest_end(struct img_store *s, bool failed)
{
        pthread_mutex_lock(&s->lock);
        if (failed)
                s->gc_pending = true;
        if (--s->ingests == 0 && s->gc_pending)
                gc_locked(s);
        pthread_mutex_unlock(&s->lock);
}

int imgw_commit(struct img_store *s, struct img_idx_rec *rec, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        r = img_idx_commit(&s->recs, rec);
        r = r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : save_locked(s, err);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* --- image.h --- */

int img_store_new(const struct img_options *o, struct img_store **ret, struct uvm_error **err)
{
        static const char *const dirs[] = {"blobs\\sha256", "disks", "tmp"};
        struct reg_options ro = {
                .insecure_registries = o->insecure_registries,
                .mirrors = o->mirrors,
                .timeout_ms = o->pull_timeout_ms,
        };
        struct img_store *s = calloc(1, sizeof(*s));
        int r = 0;

        if (!s || !(s->root = strdup(o->root))) {
                free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        /* What a uvmd.exe killed mid-pull left in tmp\ goes first. */
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(dirs); i++) {
                _cleanup_free_ char *p = imgw_path(s, dirs[i]);
                if (!p)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                else if (i == 2 && (r = plat_rm_rf(p)) < 0)
                        r = uvm_error_set(err, -r, "empty %s: %s", p, strerror(-r));
                else if ((r = plat_mkdir_p(p, 0700)) < 0)
                        r = uvm_error_set(err, -r, "create %s: %s", p, strerror(-r));
        }
        if (r >= 0)
                r = load(s, err);
        if (r >= 0)
                r = reg_client_new(&ro, &s->reg, err);
        if (r < 0) {
                img_store_free(s);
                return uvm_error_wrap(err, "image store %s", o->root);
        }
        /* Blobs and disks a killed pull renamed in place before its record. */
        pthread_mutex_lock(&s->lock);
        gc_locked(s);
        pthread_mutex_unlock(&s->lock);
        *ret = s;
        return 0;
}

struct img_store *img_store_free(struct img_store *s)
{
        if (!s)
                return NULL;
        img_idx_free(s->recs);
        reg_client_free(s->reg);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->root);
        free(s);
        return NULL;
}

/* Lock held: the record's answer, its config from the blob. */
static int info_locked(struct img_store *s, const struct img_idx_rec *rec, struct img_info *ret,
                       struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_blob_path(s, rec->id), *json = NULL;
        size_t len;
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMG_MAX_JSON, &json, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "image %s: config blob: %s", rec->id, strerror(-r));
        return img_idx_info(rec, json, len, ret, err);
}

int img_status(struct img_store *s, const char *ref, struct img_info *ret, struct uvm_error **err)
{
        struct img_idx_rec *rec;
        int r;

        pthread_mutex_lock(&s->lock);
        rec = img_idx_lookup(s->recs, ref);
        r = rec ? info_locked(s, rec, ret, err)
                : uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_list(struct img_store *s, const char *filter_ref, struct img_info **ret, size_t *ret_n,
             struct uvm_error **err)
{
        struct img_idx_rec *only = NULL;
        struct img_info *v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        if (filter_ref && *filter_ref && !(only = img_idx_lookup(s->recs, filter_ref)))
                goto out;
        for (struct img_idx_rec *rec = s->recs; r >= 0 && rec; rec = rec->next) {
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
                r = info_locked(s, rec, &v[n], err);
                if (r >= 0)
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

int img_remove(struct img_store *s, const char *ref, struct uvm_error **err)
{
        struct img_idx_rec *rec;
        bool untag;
        int r;

        pthread_mutex_lock(&s->lock);
        rec = img_idx_lookup(s->recs, ref);
        if (!rec) { /* already gone: success, as the kubelet expects */
                pthread_mutex_unlock(&s->lock);
                return 0;
        }
        /* One of several tags: untagged only, as docker rmi does. */
        untag = img_idx_untag(rec, ref);
        log_info("image %s: %s", rec->id, untag ? "untagged" : "removed");
        if (!untag)
                img_idx_drop(&s->recs, rec);
        r = save_locked(s, err);
        if (!untag)
                gc_locked(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

struct usage {
        const char *dir;
        uint64_t bytes, files;
};

static void usage_one(void *data, const char *name, bool is_dir)
{
        struct usage *u = data;
        _cleanup_free_ char *p = NULL;
        int64_t n;

        if (is_dir || asprintf(&p, "%s\\%s", u->dir, name) < 0)
                return;
        n = imgw_file_size(p);
        if (n >= 0) {
                u->bytes += (uint64_t) n;
                u->files++;
        }
}

int img_fs_usage(struct img_store *s, struct img_fs_usage *ret, struct uvm_error **err)
{
        static const char *const subs[] = {"blobs\\sha256", "disks"};
        _cleanup_free_ char *index = imgw_path(s, "images.json");
        struct img_fs_usage u = {0};

        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *dir = imgw_path(s, subs[i]);
                struct usage w = {dir, 0, 0};
                if (!dir)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                (void) plat_dir_each(dir, usage_one, &w);
                u.used_bytes += w.bytes;
                u.inodes_used += w.files;
        }
        if (index && imgw_file_size(index) >= 0) {
                u.used_bytes += (uint64_t) imgw_file_size(index);
                u.inodes_used++;
        }
        u.timestamp_ns = (int64_t) plat_realtime_ns();
        u.mountpoint = strdup(s->root);
        if (!u.mountpoint)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = u;
        return 0;
}
