#pragma once

/* The erofs writer's in-memory tree, shared by erofs_tree.c (tar entries
 * into the tree, file data out to the sink) and erofs_write.c (layout,
 * directories, inodes, superblock). */

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "image/erofs_tar.h"
#include "image/erofs_write.h"

/* File types as Linux numbers them (the image's i_mode is Linux's). */
#define EW_IFMT 0170000
#define EW_IFSOCK 0140000
#define EW_IFLNK 0120000
#define EW_IFREG 0100000
#define EW_IFBLK 0060000
#define EW_IFDIR 0040000
#define EW_IFCHR 0020000
#define EW_IFIFO 0010000

#define EW_XATTR_BODY_MAX 2048 /* inline xattrs of one inode, header included */
#define EW_XATTR_HEADER 12
#define EW_INODE_EXTENDED 64
#define EW_BLOCKS_MAX 0xfffffff0u /* 32-bit block addresses */

struct ew_xattr {
        uint8_t index; /* erofs name index: user 1, ACLs 2 and 3, trusted 4, security 6 */
        uint8_t name_len;
        uint16_t value_len;
        char *name; /* after the index's prefix */
        char *value;
};

struct ew_dentry;

struct ew_inode {
        uint32_t id; /* unique: directories' key in the name hash */
        uint32_t mode;
        uint32_t uid, gid;
        int64_t mtime;
        uint32_t mtime_ns;
        uint64_t size;
        uint32_t rdev;             /* Linux's new_encode_dev */
        uint32_t blkaddr, nblocks; /* in the data area */
        char *tail;                /* packed after the inode: a file's last partial
                                    * block, a symlink's target, a directory's tail */
        uint32_t tail_len;
        bool packed;
        bool implicit; /* a directory made for a deeper entry's sake */
        bool opaque;   /* trusted.overlay.opaque=y */
        struct ew_xattr *xattrs;
        uint16_t n_xattrs;
        struct ew_dentry **kids; /* directories */
        uint32_t n_kids, cap_kids;
        /* Layout (erofs_write.c). */
        struct ew_inode *parent;
        uint64_t nid;
        uint32_t nlink, ino;
        uint16_t isize, xsize;
        bool seen;
};

struct ew_dentry {
        struct ew_inode *dir;
        struct ew_inode *inode; /* replaced in place when a later entry takes the name */
        uint16_t name_len;
        char name[];
};

struct ew {
        struct img_erofs_sink out;
        uint64_t tail_budget, tail_used;
        uint32_t max_entries, entries;
        uint64_t max_meta, meta; /* bytes of inodes, dentries, xattrs held */
        uint32_t next_blk;       /* next free data block */
        uint64_t data_blocks;
        struct ew_inode *root;
        struct ew_inode **inodes; /* all, for freeing */
        uint32_t n_inodes, cap_inodes;
        struct ew_dentry **hash; /* (dir id, name) -> dentry, open addressing */
        uint32_t hash_cap, hash_used;
        unsigned char *buf; /* EW_IO bytes */
};

#define EW_IO (1u << 20)

int ew_init(struct ew *w, const struct img_erofs_sink *out, const struct img_erofs_opts *opts,
            struct uvm_error **err);
void ew_done(struct ew *w);

/* One tar entry into the tree (its data, if any, to the sink). */
int ew_add_entry(struct ew *w, struct img_tar *t, const struct img_tar_entry *e,
                 struct uvm_error **err);

/* Write the image's metadata and superblock after the last entry. */
int ew_finish(struct ew *w, const struct img_erofs_opts *opts, struct img_erofs_stats *stats,
              struct uvm_error **err);

/* The inline xattr body's size: header and entries, 0 without xattrs. */
size_t ew_xattr_body(const struct ew_inode *ino);

int ew_write(struct ew *w, const void *buf, size_t n, uint64_t off, struct uvm_error **err);
