#pragma once

/*
 * A streaming reader of uncompressed layer tars (ustar, GNU long names and
 * links, PAX extended headers), for the erofs writer. Portable: the bytes
 * come through a callback, so Windows feeds it from a file handle and Linux
 * from a fd. Every field is bounded before use; what a layer should not
 * hold (sparse files, unknown entry types, absurd sizes) is refused with
 * EINVAL or EFBIG.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define IMG_TAR_PATH_MAX 4096     /* path and link target, with the NUL */
#define IMG_TAR_NAME_MAX 255      /* one path component */
#define IMG_TAR_PAX_MAX (1 << 20) /* a PAX header's records */
#define IMG_TAR_XATTRS_MAX 64     /* SCHILY.xattr.* per entry */
#define IMG_TAR_XATTR_VALUE_MAX 4096
#define IMG_TAR_FILE_MAX (1ull << 40) /* 1 TiB: more is no image layer */

/* Reads up to n bytes into buf: sets *ret_n (0 at the end), 0 or -errno. */
struct img_tar_source {
        int (*read)(void *ctx, void *buf, size_t n, size_t *ret_n);
        void *ctx;
};

enum img_tar_type {
        IMG_TAR_FILE,
        IMG_TAR_HARDLINK,
        IMG_TAR_SYMLINK,
        IMG_TAR_CHAR,
        IMG_TAR_BLOCK,
        IMG_TAR_DIR,
        IMG_TAR_FIFO,
};

struct img_tar_xattr {
        char *name; /* full name, "security.capability" */
        char *value;
        size_t value_len;
};

/* One entry; its strings live until the next img_tar_next. */
struct img_tar_entry {
        enum img_tar_type type;
        char *path;    /* as in the tar (normalised by the caller) */
        char *link;    /* symlink target or hard link path, else "" */
        uint32_t mode; /* permission bits, 07777 */
        uint32_t uid, gid;
        uint64_t size; /* data bytes that follow (regular files only) */
        int64_t mtime;
        uint32_t mtime_ns;
        uint32_t dev_major, dev_minor;
        struct img_tar_xattr xattrs[IMG_TAR_XATTRS_MAX];
        size_t n_xattrs;
};

struct img_tar;

struct img_tar *img_tar_new(const struct img_tar_source *src);
struct img_tar *img_tar_free(struct img_tar *t);

/* The next entry into *ret_entry (owned by t): 1, 0 at the end of the
 * archive, or -errno. Data the caller did not read is skipped. */
int img_tar_next(struct img_tar *t, struct img_tar_entry **ret_entry, struct uvm_error **err);

/* Exactly n bytes of the current entry's data (n at most what is left). */
int img_tar_read(struct img_tar *t, void *buf, size_t n, struct uvm_error **err);

/* Bytes consumed from the source so far: all of it once img_tar_next has
 * returned 0 (what follows the end marker is read and ignored). */
uint64_t img_tar_offset(const struct img_tar *t);
