/*
 * Layer unpack, see unpack.h.
 *
 * Two libarchive readers are chained: the outer one reads the blob with the
 * "raw" format over the gzip and zstd filters (or none), so its data is the
 * uncompressed tar stream; every byte of it is hashed on the way (the diff
 * id) and handed to the inner reader, which only knows tar (ustar, pax, GNU).
 * Entries are then written by hand with *at() calls, never with
 * archive_write_disk: each parent directory is opened with openat2(2) and
 * RESOLVE_BENEATH, so neither "..", an absolute path nor a symlink extracted
 * earlier can lead outside the target directory, and the last component is
 * never followed.
 *
 * On failure the directory is left half-filled: the caller removes it.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "image/unpack.h"

#define UNPACK_MAX_ENTRIES 1000000
/* A tar ends with two zero blocks, padded to its blocking factor (10 KiB
 * for tar(1)); anything much longer after the end is not a layer. */
#define UNPACK_MAX_TRAILER (1024 * 1024)
#define UNPACK_BUF_SIZE (128 * 1024)
#define UNPACK_MAX_XATTRS 1024
#define UNPACK_OPEN_RETRIES 16
#define UNPACK_MAX_ACL 1024

/* The kernel's system.posix_acl_* xattr format (no libacl needed). */
#define ACL_XATTR_VERSION 2
enum {
        ACL_TAG_USER_OBJ = 0x01,
        ACL_TAG_USER = 0x02,
        ACL_TAG_GROUP_OBJ = 0x04,
        ACL_TAG_GROUP = 0x08,
        ACL_TAG_MASK = 0x10,
        ACL_TAG_OTHER = 0x20,
};

struct acl_ent {
        uint16_t tag, perm;
        uint32_t id;
};

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_XATTR_PREFIX "trusted.overlay."
#define OVL_OPAQUE_XATTR "trusted.overlay.opaque"

/* The outer reader and what passes through it. */
struct feed {
        struct archive *outer;
        EVP_MD_CTX *md;
        unsigned char *buf;
        uint64_t total; /* uncompressed bytes read so far */
        char *error;    /* first decompression error, reported instead of the tar's */
};

/* A directory whose times are set once nothing more is created in it. */
struct dir_time {
        char *path;
        struct timespec ts[2];
};

struct unpack {
        int blob_fd;
        int root_fd; /* the target directory, O_PATH */
        struct archive *tar;
        struct feed feed;
        struct dir_time *dirs;
        size_t n_dirs, cap_dirs;
};

/* Ownership, mode and times of an entry, checked. */
struct meta {
        uid_t uid;
        gid_t gid;
        mode_t perm;
        struct timespec ts[2]; /* atime, mtime as utimensat(2) takes them */
};

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void unpack_done(struct unpack *u)
{
        /* The tar reader reads through the feed: free it first. */
        if (u->tar)
                archive_read_free(u->tar);
        if (u->feed.outer)
                archive_read_free(u->feed.outer);
        EVP_MD_CTX_free(u->feed.md);
        free(u->feed.buf);
        free(u->feed.error);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
        closep(&u->root_fd);
        closep(&u->blob_fd);
}

/* errno from libarchive, EINVAL when the error is about the data itself. */
static int archive_code(struct archive *a)
{
        int e = archive_errno(a);

        /* libarchive reports bad data as EILSEQ ("file format") or -1. */
        if (e <= 0 || e == EILSEQ)
                return EINVAL;
        return e;
}

static int tar_error(struct unpack *u, const char *what, struct uvm_error **err)
{
        if (u->feed.error)
                return uvm_error_set(err, EINVAL, "%s: %s", what, u->feed.error);
        return uvm_error_set(err, archive_code(u->tar), "%s: %s", what,
                             archive_error_string(u->tar) ?: "unknown error");
}

/* Read callback of the tar reader: the next uncompressed chunk, hashed. */
static la_ssize_t feed_read(struct archive *a, void *userdata, const void **ret_buf)
{
        struct feed *f = userdata;
        la_ssize_t n = archive_read_data(f->outer, f->buf, UNPACK_BUF_SIZE);

        if (n < 0) {
                if (!f->error)
                        f->error = strdup(archive_error_string(f->outer) ?: "read error");
                archive_set_error(a, archive_code(f->outer), "%s",
                                  archive_error_string(f->outer) ?: "read error");
                return -1;
        }
        if (n > 0 && EVP_DigestUpdate(f->md, f->buf, (size_t) n) != 1) {
                archive_set_error(a, ENOMEM, "sha256 update failed");
                return -1;
        }
        f->total += (uint64_t) n;
        *ret_buf = f->buf;
        return n;
}

static int open_feed(struct unpack *u, const char *blob_path, struct uvm_error **err)
{
        struct feed *f = &u->feed;
        struct archive_entry *e;

        u->blob_fd = open(blob_path, O_RDONLY | O_CLOEXEC);
        if (u->blob_fd < 0)
                return uvm_error_set(err, errno, "open: %m");
        f->md = EVP_MD_CTX_new();
        f->buf = malloc(UNPACK_BUF_SIZE);
        f->outer = archive_read_new();
        if (!f->md || !f->buf || !f->outer || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* Only the built-in decoders: ARCHIVE_WARN means libarchive would
         * fork an external program, which a threaded daemon must not do. */
        if (archive_read_support_filter_gzip(f->outer) != ARCHIVE_OK ||
            archive_read_support_filter_zstd(f->outer) != ARCHIVE_OK ||
            archive_read_support_format_raw(f->outer) != ARCHIVE_OK)
                return uvm_error_set(err, ENOTSUP, "libarchive lacks built-in gzip/zstd: %s",
                                     archive_error_string(f->outer) ?: "unknown");
        if (archive_read_open_fd(f->outer, u->blob_fd, UNPACK_BUF_SIZE) != ARCHIVE_OK ||
            archive_read_next_header(f->outer, &e) != ARCHIVE_OK)
                return uvm_error_set(err, archive_code(f->outer),
                                     "not a tar, tar+gzip or tar+zstd blob: %s",
                                     archive_error_string(f->outer) ?: "unreadable");
        /* One compression at most: the filters are the decoder plus the
         * bottom "none" reader. gzip inside gzip is not a layer. */
        if (archive_filter_count(f->outer) > 2)
                return uvm_error_set(err, EINVAL, "the blob is compressed more than once");
        return 0;
}

static int open_tar(struct unpack *u, struct uvm_error **err)
{
        u->tar = archive_read_new();
        if (!u->tar)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (archive_read_support_format_tar(u->tar) != ARCHIVE_OK)
                return tar_error(u, "tar reader", err);
        if (archive_read_open(u->tar, &u->feed, NULL, feed_read, NULL) != ARCHIVE_OK)
                return tar_error(u, "layer is not a tar archive", err);
        return 0;
}

/*
 * Check an entry path and write its normal form to ret (PATH_MAX bytes):
 * no leading "/", no "..", "." and empty components dropped. The root
 * itself ("./") normalises to "".
 */
static int path_normalize(const char *in, char *ret, struct uvm_error **err)
{
        size_t n = 0;

        if (!in || !*in)
                return uvm_error_set(err, EINVAL, "layer entry with an empty name");
        if (strnlen(in, PATH_MAX) >= PATH_MAX)
                return uvm_error_set(err, ENAMETOOLONG, "layer entry '%.64s...' is longer than %d",
                                     in, PATH_MAX - 1);
        if (in[0] == '/')
                return uvm_error_set(err, EPERM, "layer entry '%s' is an absolute path", in);
        for (const char *p = in; *p;) {
                size_t len = strcspn(p, "/");

                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return uvm_error_set(err, EPERM, "layer entry '%s' contains \"..\"", in);
                if (len > NAME_MAX)
                        return uvm_error_set(err, ENAMETOOLONG,
                                             "layer entry '%s' has a name longer than %d", in,
                                             NAME_MAX);
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                ret[n++] = '/';
                        memcpy(ret + n, p, len);
                        n += len;
                }
                p += len;
                while (*p == '/')
                        p++;
        }
        ret[n] = '\0';
        return 0;
}

/* openat2 beneath the root: "..", absolute symlinks and symlinks leading
 * out give EXDEV. "" is the root itself. */
static int open_beneath(int root_fd, const char *path, int flags, int *ret_fd)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };

        for (int i = 0; i < UNPACK_OPEN_RETRIES; i++) {
                long fd = syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));

                if (fd >= 0) {
                        *ret_fd = (int) fd;
                        return 0;
                }
                /* EAGAIN: a concurrent rename made ".." ambiguous; retry. */
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

static int resolve_error(int r, const char *entry, const char *path, struct uvm_error **err)
{
        switch (r) {
        case -EXDEV:
                return uvm_error_set(err, EPERM, "layer entry '%s': '%s' leads outside the layer",
                                     entry, path);
        case -ELOOP:
                return uvm_error_set(err, ELOOP, "layer entry '%s': too many symlinks in '%s'",
                                     entry, path);
        case -ENOSYS:
                return uvm_error_set(err, ENOSYS, "openat2 is not available (Linux >= 5.6)");
        default:
                return uvm_error_set(err, -r, "layer entry '%s': open '%s': %s", entry, path,
                                     strerror(-r));
        }
}

/* Open directory dir beneath the root, creating missing components (0755,
 * root-owned, as tar(1) does for parents it has not seen). */
static int open_dir(struct unpack *u, const char *dir, const char *entry, bool create, int *ret_fd,
                    struct uvm_error **err)
{
        _cleanup_close_ int cur = -1;
        char prefix[PATH_MAX];
        int r;

        r = open_beneath(u->root_fd, dir, O_PATH | O_DIRECTORY, ret_fd);
        if (r != -ENOENT || !create)
                return r < 0 ? resolve_error(r, entry, dir, err) : 0;
        r = open_beneath(u->root_fd, "", O_PATH | O_DIRECTORY, &cur);
        if (r < 0)
                return resolve_error(r, entry, ".", err);
        for (size_t start = 0; dir[start];) {
                size_t end = start + strcspn(dir + start, "/");
                int next;

                memcpy(prefix, dir, end);
                prefix[end] = '\0';
                /* EEXIST may be a symlink: the open beneath the root below
                 * follows it only if it stays inside. */
                if (mkdirat(cur, prefix + start, 0755) < 0 && errno != EEXIST)
                        return uvm_error_set(err, errno, "layer entry '%s': mkdir '%s': %m", entry,
                                             prefix);
                r = open_beneath(u->root_fd, prefix, O_PATH | O_DIRECTORY, &next);
                if (r < 0)
                        return resolve_error(r, entry, prefix, err);
                closep(&cur);
                cur = next;
                start = dir[end] ? end + 1 : end;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

/* Split path (normalised, not "") into its parent, opened, and last name. */
static int open_parent(struct unpack *u, char *path, const char *entry, bool create, int *ret_fd,
                       const char **ret_name, struct uvm_error **err)
{
        char *slash = strrchr(path, '/');
        int r;

        if (!slash) {
                r = open_dir(u, "", entry, create, ret_fd, err);
                *ret_name = path;
                return r;
        }
        *slash = '\0';
        r = open_dir(u, path, entry, create, ret_fd, err);
        *slash = '/';
        *ret_name = slash + 1;
        return r;
}

/* Make room for a new entry: a later entry replaces an earlier one, except
 * that a directory stays (and is merged into) when a directory comes again. */
static int clear_slot(int dir_fd, const char *name, bool want_dir, const char *entry,
                      bool *ret_kept_dir, struct uvm_error **err)
{
        struct stat st;

        if (ret_kept_dir)
                *ret_kept_dir = false;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return uvm_error_set(err, errno, "layer entry '%s': stat: %m", entry);
        }
        if (S_ISDIR(st.st_mode) && want_dir) {
                *ret_kept_dir = true;
                return 0;
        }
        if (unlinkat(dir_fd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': replace existing: %m", entry);
        return 0;
}

static int meta_from_entry(struct archive_entry *e, const char *entry, struct meta *m,
                           struct uvm_error **err)
{
        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        long mns = archive_entry_mtime_nsec(e), ans = archive_entry_atime_nsec(e);

        /* (uid_t) -1 means "unchanged" to chown(2); it is no owner. */
        if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
                return uvm_error_set(err, EINVAL, "layer entry '%s' has an invalid owner %lld:%lld",
                                     entry, (long long) uid, (long long) gid);
        m->uid = (uid_t) uid;
        m->gid = (gid_t) gid;
        m->perm = archive_entry_perm(e) & 07777;
        m->ts[1] = (struct timespec){.tv_nsec = UTIME_OMIT};
        if (archive_entry_mtime_is_set(e))
                m->ts[1] = (struct timespec){archive_entry_mtime(e),
                                             mns >= 0 && mns < 1000000000 ? mns : 0};
        m->ts[0] = m->ts[1];
        if (archive_entry_atime_is_set(e))
                m->ts[0] = (struct timespec){archive_entry_atime(e),
                                             ans >= 0 && ans < 1000000000 ? ans : 0};
        return 0;
}

/*
 * Extended attributes: on fd when >= 0, else on the path (not following a
 * symlink). The layer cannot set trusted.overlay.*: overlayfs metadata comes
 * from whiteouts only, or a layer could redirect into other layers.
 */
static int set_xattrs(struct archive_entry *e, int fd, const char *path, const char *entry,
                      struct uvm_error **err)
{
        const char *name;
        const void *value;
        size_t size;

        if (archive_entry_xattr_count(e) > UNPACK_MAX_XATTRS)
                return uvm_error_set(err, E2BIG, "layer entry '%s' has more than %d xattrs", entry,
                                     UNPACK_MAX_XATTRS);
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                int r;

                if (!name || !*name || strlen(name) > XATTR_NAME_MAX || size > XATTR_SIZE_MAX)
                        return uvm_error_set(err, EINVAL, "layer entry '%s' has an invalid xattr",
                                             entry);
                if (has_prefix(name, OVL_XATTR_PREFIX)) {
                        log_debug("layer entry '%s': xattr '%s' not kept, ignoring", entry, name);
                        continue;
                }
                r = fd >= 0 ? fsetxattr(fd, name, value, size, 0)
                            : lsetxattr(path, name, value, size, 0);
                if (r < 0 && errno == EOPNOTSUPP) {
                        log_debug("layer entry '%s': xattr '%s' not supported here, ignoring",
                                  entry, name);
                        continue;
                }
                if (r < 0)
                        return uvm_error_set(err, errno, "layer entry '%s': set xattr '%s': %m",
                                             entry, name);
        }
        return 0;
}

static int acl_tag(int tag)
{
        switch (tag) {
        case ARCHIVE_ENTRY_ACL_USER_OBJ:
                return ACL_TAG_USER_OBJ;
        case ARCHIVE_ENTRY_ACL_USER:
                return ACL_TAG_USER;
        case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
                return ACL_TAG_GROUP_OBJ;
        case ARCHIVE_ENTRY_ACL_GROUP:
                return ACL_TAG_GROUP;
        case ARCHIVE_ENTRY_ACL_MASK:
                return ACL_TAG_MASK;
        case ARCHIVE_ENTRY_ACL_OTHER:
                return ACL_TAG_OTHER;
        default:
                return -1;
        }
}

static int acl_cmp(const void *a, const void *b)
{
        const struct acl_ent *x = a, *y = b;

        if (x->tag != y->tag)
                return x->tag < y->tag ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

/* Write the ACL entries of one type as the kernel's xattr: a version word,
 * then {tag, perm, id} sorted by tag and id, little-endian. A named entry
 * needs a mask; tar(1) may leave it out, setfacl(1) would compute this one. */
static int write_acl(int fd, struct acl_ent *ents, size_t n, const char *xattr, const char *entry,
                     struct uvm_error **err)
{
        _cleanup_free_ uint8_t *buf = malloc(4 + 8 * n);
        uint32_t v = htole32(ACL_XATTR_VERSION);

        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        qsort(ents, n, sizeof(*ents), acl_cmp);
        memcpy(buf, &v, 4);
        for (size_t i = 0; i < n; i++) {
                uint16_t tag = htole16(ents[i].tag), perm = htole16(ents[i].perm);
                uint32_t id = htole32(ents[i].id);

                memcpy(buf + 4 + 8 * i, &tag, 2);
                memcpy(buf + 6 + 8 * i, &perm, 2);
                memcpy(buf + 8 + 8 * i, &id, 4);
        }
        if (fsetxattr(fd, xattr, buf, 4 + 8 * n, 0) < 0) {
                if (errno == EOPNOTSUPP) {
                        log_debug("layer entry '%s': ACLs not supported here, ignoring", entry);
                        return 0;
                }
                return uvm_error_set(err, errno, "layer entry '%s': set %s: %m", entry, xattr);
        }
        return 0;
}

/* POSIX.1e ACLs of the tar (pax SCHILY.acl.*) of one type. ACLs stored as
 * SCHILY.xattr.system.posix_acl_* (Go's archive/tar) are plain xattrs. */
static int set_acl(int fd, struct archive_entry *e, int type, const char *xattr, const char *entry,
                   struct uvm_error **err)
{
        _cleanup_free_ struct acl_ent *ents = NULL;
        int n = archive_entry_acl_reset(e, type), t, perm, tag, qual;
        bool named = false, mask = false;
        uint16_t group_perms = 0;
        const char *name;
        size_t k = 0;

        if (n <= 0)
                return 0;
        if (n > UNPACK_MAX_ACL)
                return uvm_error_set(err, E2BIG, "layer entry '%s' has more than %d ACL entries",
                                     entry, UNPACK_MAX_ACL);
        ents = calloc((size_t) n + 1, sizeof(*ents));
        if (!ents)
                return uvm_error_set(err, ENOMEM, "out of memory");
        while (k < (size_t) n &&
               archive_entry_acl_next(e, type, &t, &perm, &tag, &qual, &name) == ARCHIVE_OK) {
                int kt = acl_tag(tag);
                bool is_named = kt == ACL_TAG_USER || kt == ACL_TAG_GROUP;

                if (kt < 0 || (is_named && qual < 0))
                        return uvm_error_set(err, EINVAL, "layer entry '%s' has an invalid ACL",
                                             entry);
                ents[k++] = (struct acl_ent){(uint16_t) kt, (uint16_t) (perm & 07),
                                             is_named ? (uint32_t) qual : UINT32_MAX};
                named |= is_named;
                mask |= kt == ACL_TAG_MASK;
                if (is_named || kt == ACL_TAG_GROUP_OBJ)
                        group_perms |= (uint16_t) (perm & 07);
        }
        if (named && !mask)
                ents[k++] = (struct acl_ent){ACL_TAG_MASK, group_perms, UINT32_MAX};
        return write_acl(fd, ents, k, xattr, entry, err);
}

/* Owner before mode (chown clears setuid and file capabilities), xattrs
 * and ACLs after both. Times are the caller's: directories set them last. */
static int apply_meta_fd(int fd, bool is_dir, struct archive_entry *e, const struct meta *m,
                         const char *entry, struct uvm_error **err)
{
        int r;

        if (fchown(fd, m->uid, m->gid) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': chown: %m", entry);
        if (fchmod(fd, m->perm) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': chmod: %m", entry);
        r = set_xattrs(e, fd, NULL, entry, err);
        if (r >= 0)
                r = set_acl(fd, e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access", entry,
                            err);
        if (r >= 0 && is_dir)
                r = set_acl(fd, e, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default",
                            entry, err);
        return r;
}

/* The same for what cannot be opened for writing: symlinks, devices, fifos. */
static int apply_meta_at(int dir_fd, const char *name, bool is_link, struct archive_entry *e,
                         const struct meta *m, const char *entry, struct uvm_error **err)
{
        char proc[64 + NAME_MAX];
        int r;

        if (fchownat(dir_fd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': chown: %m", entry);
        /* Not a symlink (just created by us), so following is harmless. */
        if (!is_link && fchmodat(dir_fd, name, m->perm, 0) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': chmod: %m", entry);
        if (archive_entry_xattr_count(e) > 0) {
                /* No fd to use: name relative to the already-resolved parent. */
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dir_fd, name);
                r = set_xattrs(e, -1, proc, entry, err);
                if (r < 0)
                        return r;
        }
        if (utimensat(dir_fd, name, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': set times: %m", entry);
        return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                off += n;
                len -= (size_t) n;
        }
        return 0;
}

/* The data of a regular file; blocks may skip holes (sparse files). */
static int copy_data(struct unpack *u, int fd, struct archive_entry *e, const char *entry,
                     struct uvm_error **err)
{
        la_int64_t size = archive_entry_size(e);

        if (size < 0)
                return uvm_error_set(err, EINVAL, "layer entry '%s' has a negative size", entry);
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(u->tar, &buf, &len, &off);

                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return tar_error(u, entry, err);
                if (off < 0 || off > size || len > (uint64_t) (size - off))
                        return uvm_error_set(err, EINVAL,
                                             "layer entry '%s' has data beyond its size", entry);
                r = pwrite_all(fd, buf, len, (off_t) off);
                if (r < 0)
                        return uvm_error_set(err, -r, "layer entry '%s': write: %s", entry,
                                             strerror(-r));
        }
        if (ftruncate(fd, (off_t) size) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': truncate: %m", entry);
        return 0;
}

static int make_file(struct unpack *u, int dir_fd, const char *name, struct archive_entry *e,
                     const struct meta *m, const char *entry, struct uvm_error **err)
{
        _cleanup_close_ int fd = -1;
        int r;

        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return uvm_error_set(err, errno, "layer entry '%s': create: %m", entry);
        r = copy_data(u, fd, e, entry, err);
        if (r < 0)
                return r;
        r = apply_meta_fd(fd, false, e, m, entry, err);
        if (r < 0)
                return r;
        if (futimens(fd, m->ts) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': set times: %m", entry);
        return 0;
}

static int defer_dir_times(struct unpack *u, const char *path, const struct meta *m)
{
        if (u->n_dirs == u->cap_dirs) {
                size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 64;
                struct dir_time *d = reallocarray(u->dirs, cap, sizeof(*d));

                if (!d)
                        return -ENOMEM;
                u->dirs = d;
                u->cap_dirs = cap;
        }
        u->dirs[u->n_dirs].path = strdup(path);
        if (!u->dirs[u->n_dirs].path)
                return -ENOMEM;
        memcpy(u->dirs[u->n_dirs].ts, m->ts, sizeof(m->ts));
        u->n_dirs++;
        return 0;
}

/* dir_fd < 0: the entry is the root itself ("./"). */
static int make_dir(struct unpack *u, int dir_fd, const char *name, const char *path,
                    struct archive_entry *e, const struct meta *m, const char *entry,
                    struct uvm_error **err)
{
        _cleanup_close_ int fd = -1;
        bool exists = false;
        int r;

        if (dir_fd >= 0) {
                r = clear_slot(dir_fd, name, true, entry, &exists, err);
                if (r < 0)
                        return r;
                if (!exists && mkdirat(dir_fd, name, 0700) < 0)
                        return uvm_error_set(err, errno, "layer entry '%s': mkdir: %m", entry);
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return uvm_error_set(err, errno, "layer entry '%s': open: %m", entry);
        } else {
                r = open_beneath(u->root_fd, "", O_RDONLY | O_DIRECTORY, &fd);
                if (r < 0)
                        return resolve_error(r, entry, ".", err);
        }
        r = apply_meta_fd(fd, true, e, m, entry, err);
        if (r < 0)
                return r;
        if (defer_dir_times(u, path, m) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static int make_node(int dir_fd, const char *name, struct archive_entry *e, const struct meta *m,
                     const char *entry, struct uvm_error **err)
{
        mode_t type = archive_entry_filetype(e);
        dev_t dev = 0;

        if (type == AE_IFCHR || type == AE_IFBLK)
                dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        /* The mode is set again after chown: mknod is subject to the umask. */
        if (mknodat(dir_fd, name, type | m->perm, dev) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': mknod: %m", entry);
        return apply_meta_at(dir_fd, name, false, e, m, entry, err);
}

static int make_symlink(int dir_fd, const char *name, struct archive_entry *e, const struct meta *m,
                        const char *entry, struct uvm_error **err)
{
        const char *target = archive_entry_symlink(e);

        /* The target is not checked: it is resolved inside the container,
         * and later entries never follow it out (open_beneath). */
        if (!target || !*target)
                return uvm_error_set(err, EINVAL, "layer entry '%s': symlink without a target",
                                     entry);
        if (strnlen(target, PATH_MAX) >= PATH_MAX)
                return uvm_error_set(err, ENAMETOOLONG, "layer entry '%s': symlink target too long",
                                     entry);
        if (symlinkat(target, dir_fd, name) < 0)
                return uvm_error_set(err, errno, "layer entry '%s': symlink: %m", entry);
        return apply_meta_at(dir_fd, name, true, e, m, entry, err);
}

/* A hard link keeps its target's metadata; the target must be an entry
 * already extracted, inside the directory. */
static int make_hardlink(struct unpack *u, int dir_fd, const char *name, const char *link,
                         const char *entry, struct uvm_error **err)
{
        _cleanup_close_ int target_dir = -1;
        char target[PATH_MAX];
        const char *target_name;
        int r;

        r = path_normalize(link, target, err);
        if (r < 0)
                return uvm_error_wrap(err, "hard link '%s'", entry);
        if (!*target)
                return uvm_error_set(err, EPERM, "hard link '%s' to the layer root", entry);
        r = open_parent(u, target, entry, false, &target_dir, &target_name, err);
        if (r < 0)
                return r;
        /* No AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink. */
        if (linkat(target_dir, target_name, dir_fd, name, 0) < 0)
                return uvm_error_set(err, errno, "hard link '%s' to '%s': %m", entry, link);
        return 0;
}

static int make_whiteout(int dir_fd, const char *name, const char *entry, struct uvm_error **err)
{
        if (mknodat(dir_fd, name, S_IFCHR, makedev(0, 0)) < 0)
                return uvm_error_set(err, errno, "whiteout '%s': mknod: %m", entry);
        if (fchownat(dir_fd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
                return uvm_error_set(err, errno, "whiteout '%s': chown: %m", entry);
        return 0;
}

/* ".wh..wh..opq" in path's directory (created if missing): opaque for overlayfs. */
static int make_opaque(struct unpack *u, char *path, const char *entry, struct uvm_error **err)
{
        _cleanup_close_ int path_fd = -1, fd = -1;
        char *slash = strrchr(path, '/');
        int r;

        if (slash)
                *slash = '\0';
        r = open_dir(u, slash ? path : "", entry, true, &path_fd, err);
        if (r < 0)
                return r;
        /* fsetxattr needs a real fd; path_fd is O_PATH. */
        fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return uvm_error_set(err, errno, "whiteout '%s': open directory: %m", entry);
        if (fsetxattr(fd, OVL_OPAQUE_XATTR, "y", 1, 0) < 0)
                return uvm_error_set(err, errno, "whiteout '%s': set " OVL_OPAQUE_XATTR ": %m",
                                     entry);
        return 0;
}

static int extract_typed(struct unpack *u, int dir_fd, const char *name, const char *path,
                         struct archive_entry *e, const char *entry, struct uvm_error **err)
{
        mode_t type = archive_entry_filetype(e);
        struct meta m;
        int r;

        r = meta_from_entry(e, entry, &m, err);
        if (r < 0)
                return r;
        if (type == AE_IFDIR)
                return make_dir(u, dir_fd, name, path, e, &m, entry, err);
        r = clear_slot(dir_fd, name, false, entry, NULL, err);
        if (r < 0)
                return r;
        switch (type) {
        case AE_IFREG:
                return make_file(u, dir_fd, name, e, &m, entry, err);
        case AE_IFLNK:
                return make_symlink(dir_fd, name, e, &m, entry, err);
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                return make_node(dir_fd, name, e, &m, entry, err);
        default:
                return uvm_error_set(err, EINVAL, "layer entry '%s' has unsupported type 0%o",
                                     entry, (unsigned) type);
        }
}

/* The entry "./": the layer directory itself. */
static int extract_root(struct unpack *u, struct archive_entry *e, const char *entry,
                        struct uvm_error **err)
{
        struct meta m;
        int r;

        if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e))
                return uvm_error_set(err, EINVAL, "layer entry '%s' is not a directory", entry);
        r = meta_from_entry(e, entry, &m, err);
        return r < 0 ? r : make_dir(u, -1, NULL, "", e, &m, entry, err);
}

/* ".wh.NAME" in dir_fd: NAME becomes a whiteout (replacing an earlier
 * entry of this layer; lower layers are other directories). */
static int extract_whiteout(int dir_fd, const char *wh_name, const char *entry,
                            struct uvm_error **err)
{
        const char *name = wh_name + strlen(WH_PREFIX);
        int r;

        if (!*name || STR_EQ(name, ".") || STR_EQ(name, ".."))
                return uvm_error_set(err, EINVAL, "whiteout '%s' names no file", entry);
        r = clear_slot(dir_fd, name, false, entry, NULL, err);
        return r < 0 ? r : make_whiteout(dir_fd, name, entry, err);
}

static int extract_entry(struct unpack *u, struct archive_entry *e, struct uvm_error **err)
{
        _cleanup_close_ int dir_fd = -1;
        const char *entry = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
        char path[PATH_MAX];
        const char *name, *base;
        int r;

        r = path_normalize(entry, path, err);
        if (r < 0)
                return r;
        if (!*path)
                return extract_root(u, e, entry, err);
        base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (STR_EQ(base, WH_OPAQUE))
                return make_opaque(u, path, entry, err);
        if (has_prefix(base, WH_META_PREFIX)) {
                log_debug("layer entry '%s' is an unknown whiteout, ignoring", entry);
                return 0;
        }
        r = open_parent(u, path, entry, true, &dir_fd, &name, err);
        if (r < 0)
                return r;
        if (has_prefix(base, WH_PREFIX))
                return extract_whiteout(dir_fd, name, entry, err);
        if (link) {
                r = clear_slot(dir_fd, name, false, entry, NULL, err);
                return r < 0 ? r : make_hardlink(u, dir_fd, name, link, entry, err);
        }
        return extract_typed(u, dir_fd, name, path, e, entry, err);
}

static int extract_all(struct unpack *u, struct uvm_error **err)
{
        struct archive_entry *e;

        for (size_t n = 0;; n++) {
                int r = archive_read_next_header(u->tar, &e);

                if (r == ARCHIVE_EOF)
                        return 0;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return tar_error(u, "read layer", err);
                if (n >= UNPACK_MAX_ENTRIES)
                        return uvm_error_set(err, E2BIG, "layer has more than %d entries",
                                             UNPACK_MAX_ENTRIES);
                r = extract_entry(u, e, err);
                if (r < 0)
                        return r;
        }
}

/* The diff id covers the whole uncompressed stream, padding included. */
static int drain_trailer(struct unpack *u, struct uvm_error **err)
{
        uint64_t start = u->feed.total;
        const void *buf;

        for (;;) {
                la_ssize_t n = feed_read(u->tar, &u->feed, &buf);

                if (n < 0)
                        return tar_error(u, "read layer", err);
                if (n == 0)
                        return 0;
                if (u->feed.total - start > UNPACK_MAX_TRAILER)
                        return uvm_error_set(err, EINVAL,
                                             "more than %d bytes after the end of the layer's tar",
                                             UNPACK_MAX_TRAILER);
        }
}

/* Last, so that creating entries inside did not change them again. In
 * entry order: a later entry for the same directory wins. */
static int set_dir_times(struct unpack *u, struct uvm_error **err)
{
        for (size_t i = 0; i < u->n_dirs; i++) {
                _cleanup_close_ int fd = -1;
                int r = open_beneath(u->root_fd, u->dirs[i].path,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW, &fd);

                /* Replaced by a later entry: that one has its own times. */
                if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                        continue;
                if (r < 0)
                        return resolve_error(r, u->dirs[i].path, u->dirs[i].path, err);
                if (futimens(fd, u->dirs[i].ts) < 0)
                        return uvm_error_set(err, errno, "layer entry '%s': set times: %m",
                                             u->dirs[i].path);
        }
        return 0;
}

static int finish_digest(struct feed *f, char out[IMG_DIGEST_LEN + 1], struct uvm_error **err)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        static const char hex[] = "0123456789abcdef";

        if (EVP_DigestFinal_ex(f->md, md, &len) != 1 || len != 32)
                return uvm_error_set(err, EIO, "sha256 of the layer failed");
        memcpy(out, "sha256:", 7);
        for (unsigned i = 0; i < len; i++) {
                out[7 + 2 * i] = hex[md[i] >> 4];
                out[8 + 2 * i] = hex[md[i] & 0xf];
        }
        out[IMG_DIGEST_LEN] = '\0';
        return 0;
}

/* dir must be empty. On failure it is left partly filled and the caller
 * removes it (fs_rm_rf); ret_diff_id is written only on success. */
int img_unpack_layer(const char *blob_path, const char *dir, char ret_diff_id[IMG_DIGEST_LEN + 1],
                     struct uvm_error **err)
{
        _cleanup_(unpack_done) struct unpack u = {.blob_fd = -1, .root_fd = -1};
        char diff_id[IMG_DIGEST_LEN + 1];
        int r;

        u.root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (u.root_fd < 0)
                return uvm_error_set(err, errno, "open layer directory '%s': %m", dir);
        r = open_feed(&u, blob_path, err);
        if (r >= 0)
                r = open_tar(&u, err);
        if (r >= 0)
                r = extract_all(&u, err);
        if (r >= 0)
                r = drain_trailer(&u, err);
        if (r >= 0)
                r = set_dir_times(&u, err);
        if (r >= 0)
                r = finish_digest(&u.feed, diff_id, err);
        if (r < 0)
                return uvm_error_wrap(err, "unpack layer '%s'", blob_path);
        memcpy(ret_diff_id, diff_id, sizeof(diff_id));
        return 0;
}
