/* The Windows image store (store_win.h): records, lookup, status, removal,
 * collection and the few file calls it makes (UTF-16 at the edge). Several
 * processes may share a store (two uvmd.exe, an import tool), as on Linux
 * (store.c): images.json is read and changed under index.lock, each
 * process's view of it reloaded when another one wrote it; collection
 * runs only when no process ingests (ingest.lock). */

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

/* --- the locks shared with other processes --- */

static int open_lock(struct img_store *s, const char *name, void **ret, struct uvm_error **err)
{
        _cleanup_free_ char *p = imgw_path(s, name);
        _cleanup_free_ wchar_t *w = p ? wide(p) : NULL;
        HANDLE h;

        if (!w)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* Never deleted: two processes must lock the same file. Not
         * inherited (no security attributes). */
        h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) {
                int r = plat_errno_from_win32(GetLastError());
                return uvm_error_set(err, r, "open %s: %s", p, strerror(r));
        }
        *ret = h;
        return 0;
}

/* LockFileEx on the file's first byte: waits unless try; -EAGAIN when
 * try finds it taken. */
static int file_lock(void *h, bool shared, bool try)
{
        OVERLAPPED ov = {0};
        DWORD flags =
                (shared ? 0 : LOCKFILE_EXCLUSIVE_LOCK) | (try ? LOCKFILE_FAIL_IMMEDIATELY : 0);
        DWORD e;

        if (LockFileEx(h, flags, 0, 1, 0, &ov))
                return 0;
        e = GetLastError();
        return e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ? -EAGAIN
                                                                  : -plat_errno_from_win32(e);
}

static void file_unlock(void *h)
{
        OVERLAPPED ov = {0};

        (void) UnlockFileEx(h, 0, 1, 0, &ov);
}

/* --- records --- */

/* A file's identity and last write: -ENOENT when there is none. */
static int stamp_read(const char *path, struct imgw_stamp *ret)
{
        _cleanup_free_ wchar_t *w = wide(path);
        BY_HANDLE_FILE_INFORMATION i;
        HANDLE h;
        bool ok;

        if (!w)
                return -ENOMEM;
        h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                        OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE)
                return -plat_errno_from_win32(GetLastError());
        ok = GetFileInformationByHandle(h, &i);
        CloseHandle(h);
        if (!ok)
                return -EIO;
        *ret = (struct imgw_stamp){i.dwVolumeSerialNumber,
                                   i.nFileIndexHigh,
                                   i.nFileIndexLow,
                                   i.nFileSizeLow,
                                   i.ftLastWriteTime.dwHighDateTime,
                                   i.ftLastWriteTime.dwLowDateTime};
        return 0;
}

static int save_locked(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_path(s, "images.json"), *text = img_idx_format(s->recs);
        int r;

        if (!path || !text)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        if (stamp_read(path, &s->stamp) < 0)
                s->stamp = (struct imgw_stamp){0}; /* read again next time */
        return 0;
}

/* images.json into s->recs (empty: none), its stamp st. */
static int load(struct img_store *s, const struct imgw_stamp *st, struct uvm_error **err)
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
        if (r < 0)
                return uvm_error_wrap(err, "%s", path);
        s->stamp = *st;
        return 0;
}

/* Index lock held: images.json read again when another process wrote it
 * since. Users (containers) are this process's own and carry over. */
static void sync_locked(struct img_store *s)
{
        _cleanup_free_ char *path = imgw_path(s, "images.json");
        struct img_idx_rec *old = s->recs;
        struct uvm_error *err = NULL;
        struct imgw_stamp st;

        if (!path || stamp_read(path, &st) < 0 || memcmp(&st, &s->stamp, sizeof(st)) == 0)
                return;
        s->recs = NULL;
        if (load(s, &st, &err) < 0) {
                log_warn("reload %s: %s, keeping what was loaded", path, err->msg);
                uvm_error_free(err);
                img_idx_free(s->recs);
                s->recs = old;
                return;
        }
        for (struct img_idx_rec *n = s->recs; n; n = n->next)
                for (struct img_idx_rec *o = old; o; o = o->next)
                        if (strcmp(n->id, o->id) == 0) {
                                char **u = n->users;
                                n->users = o->users;
                                o->users = u;
                        }
        img_idx_free(old);
}

/* s->lock held: images.json locked for every process (shared: to read;
 * exclusive: to change), this process's view of it fresh. A lock that
 * fails is logged: the store goes on as one process's. */
static void index_lock(struct img_store *s, bool shared)
{
        int r = file_lock(s->index_file, shared, false);

        if (r < 0)
                log_warn("lock %s\\index.lock: %s, going on", s->root, strerror(-r));
        sync_locked(s);
}

static void index_unlock(struct img_store *s)
{
        file_unlock(s->index_file);
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

/* Only when no process ingests: their disks are renamed in place before
 * their records exist (ingest.lock: shared while ingesting, exclusive
 * here). Otherwise later, after this process's next ingest or removal. */
static void gc_locked(struct img_store *s)
{
        static const char *const subs[] = {"blobs\\sha256", "disks"};

        if (s->ingests > 0 || file_lock(s->ingest_file, false, true) < 0) {
                s->gc_pending = true;
                return;
        }
        s->gc_pending = false;
        index_lock(s, true);
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *dir = imgw_path(s, subs[i]);
                struct sweep w = {s, dir, i == 1};
                if (dir)
                        (void) plat_dir_each(dir, sweep_one, &w);
        }
        index_unlock(s);
        file_unlock(s->ingest_file);
}

void imgw_ingest_begin(struct img_store *s)
{
        pthread_mutex_lock(&s->lock);
        if (s->ingests++ == 0 && file_lock(s->ingest_file, true, false) < 0)
                log_warn("lock %s\\ingest.lock failed, going on", s->root);
        pthread_mutex_unlock(&s->lock);
}

void imgw_ingest_end(struct img_store *s, bool failed)
{
        pthread_mutex_lock(&s->lock);
        if (failed)
                s->gc_pending = true;
        if (--s->ingests == 0) {
                file_unlock(s->ingest_file);
                if (s->gc_pending)
                        gc_locked(s);
        }
        pthread_mutex_unlock(&s->lock);
}

int imgw_commit(struct img_store *s, struct img_idx_rec *rec, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s, false);
        r = img_idx_commit(&s->recs, rec);
        r = r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : save_locked(s, err);
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* --- image.h --- */

/* images.json at start, under the index lock: unlike a reload, a store
 * that cannot be read is an error. */
static int load_first(struct img_store *s, struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_path(s, "images.json");
        struct imgw_stamp st = {0};
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_lock(&s->lock);
        if (file_lock(s->index_file, true, false) < 0)
                log_warn("lock %s\\index.lock failed, going on", s->root);
        r = stamp_read(path, &st);
        r = r < 0 && r != -ENOENT ? uvm_error_set(err, -r, "%s: %s", path, strerror(-r))
                                  : load(s, &st, err);
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* What a uvmd.exe killed mid-pull left in tmp\, unless another process
 * is pulling now (its files are there). */
static void empty_tmp_locked(struct img_store *s)
{
        _cleanup_free_ char *p = imgw_path(s, "tmp");
        int r;

        if (!p || file_lock(s->ingest_file, false, true) < 0)
                return;
        r = plat_rm_rf(p);
        if (r >= 0)
                r = plat_mkdir_p(p, 0700);
        if (r < 0)
                log_warn("empty %s: %s, ignoring", p, strerror(-r));
        file_unlock(s->ingest_file);
}

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
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(dirs); i++) {
                _cleanup_free_ char *p = imgw_path(s, dirs[i]);
                if (!p)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                else if ((r = plat_mkdir_p(p, 0700)) < 0)
                        r = uvm_error_set(err, -r, "create %s: %s", p, strerror(-r));
        }
        if (r >= 0)
                r = open_lock(s, "index.lock", &s->index_file, err);
        if (r >= 0)
                r = open_lock(s, "ingest.lock", &s->ingest_file, err);
        if (r >= 0)
                r = load_first(s, err);
        if (r >= 0)
                r = reg_client_new(&ro, &s->reg, err);
        if (r < 0) {
                img_store_free(s);
                return uvm_error_wrap(err, "image store %s", o->root);
        }
        pthread_mutex_lock(&s->lock);
        empty_tmp_locked(s);
        /* Blobs and disks a killed pull renamed in place before its record. */
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
        if (s->index_file)
                CloseHandle(s->index_file);
        if (s->ingest_file)
                CloseHandle(s->ingest_file);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->root);
        free(s);
        return NULL;
}

/* Lock held: the record's answer, its config from the blob. */
static int info_locked(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                       struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_blob_path(data, rec->id);

        return img_idx_info_file(rec, path, ret, err);
}

int img_status(struct img_store *s, const char *ref, struct img_info *ret, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s, true);
        r = img_idx_status(s->recs, ref, info_locked, s, ret, err);
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_list(struct img_store *s, const char *filter_ref, struct img_info **ret, size_t *ret_n,
             struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s, true);
        r = img_idx_list(s->recs, filter_ref, info_locked, s, ret, ret_n, err);
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int save_cb(void *data, struct uvm_error **err)
{
        return save_locked(data, err);
}

/* An image a container holds is refused whole: its disks may be attached
 * to a running VM (which Windows would not let go of anyway), and the
 * record leaves images.json before any file goes. */
int img_remove(struct img_store *s, const char *ref, struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s, false);
        r = img_idx_remove(&s->recs, ref, save_cb, s, err);
        index_unlock(s);
        if (r == IMG_IDX_DROPPED)
                gc_locked(s);
        pthread_mutex_unlock(&s->lock);
        return r < 0 ? r : 0;
}

int img_hold(struct img_store *s, const char *ref, const char *user, char **ret_id,
             struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&s->lock);
        index_lock(s, true);
        r = img_idx_hold(s->recs, ref, user, ret_id, err);
        index_unlock(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

void img_release(struct img_store *s, const char *image_id, const char *user)
{
        pthread_mutex_lock(&s->lock);
        img_idx_release(s->recs, image_id, user);
        pthread_mutex_unlock(&s->lock);
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
