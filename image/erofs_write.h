#pragma once

/*
 * A layer tar to an uncompressed erofs image, without mkfs.erofs and
 * without an unpacked tree: for Windows hosts, whose hcs pods take image
 * layers as read-only VHDs (hcsshim's LCOW layer model) and whose NTFS could
 * not hold the layer's modes, owners and links anyway. Portable (ISO C and
 * common/ only).
 *
 * Layout: block 0 holds the superblock and the root directory's inode;
 * file data streams to blocks 1.. as the tar is read (whole blocks; a
 * file's last partial block is kept in memory, within a budget, and packed
 * after its inode, as mkfs.erofs does); the directories' blocks and all
 * other inodes follow once the tar has ended, and block 0 is written last.
 * So the tar is read once and only the tree's metadata stays in memory, and
 * an image cut short has no superblock. Whiteouts become what overlayfs
 * reads on erofs: ".wh.NAME" a character device 0/0, ".wh..wh..opq" the
 * trusted.overlay.opaque=y xattr on its directory.
 */

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "image/erofs_tar.h"

#define IMG_EROFS_BLOCK 4096
#define IMG_EROFS_ENTRIES_MAX (1u << 20)  /* tar entries in one layer */
#define IMG_EROFS_TAIL_BUDGET (64u << 20) /* bytes of file tails held for packing */
#define IMG_EROFS_META_MAX (256u << 20)   /* bytes of tree metadata held */

/* Writes n bytes at off: 0 or -errno. Offsets only grow, except for one
 * last write of block 0. */
struct img_erofs_sink {
        int (*pwrite)(void *ctx, const void *buf, size_t n, uint64_t off);
        void *ctx;
};

struct img_erofs_opts {
        uint8_t uuid[16];     /* the volume's */
        uint32_t max_entries; /* 0: IMG_EROFS_ENTRIES_MAX */
        uint64_t max_meta;    /* 0: IMG_EROFS_META_MAX (inodes, names, xattrs) */
        uint64_t tail_budget; /* 0: IMG_EROFS_TAIL_BUDGET; UINT64_MAX: none packed */
};

struct img_erofs_stats {
        uint64_t image_bytes; /* a multiple of IMG_EROFS_BLOCK */
        uint64_t tar_bytes;
        uint64_t inodes;
        uint64_t data_blocks; /* file data, including replaced entries' */
};

/* Read the whole tar from src, write the image to out. */
int img_erofs_from_tar(const struct img_tar_source *src, const struct img_erofs_sink *out,
                       const struct img_erofs_opts *opts, struct img_erofs_stats *ret_stats,
                       struct uvm_error **err);

/* A sink writing to f (seeking only when asked an offset not its own); a
 * source reading from f. */
struct img_erofs_sink img_erofs_file_sink(FILE *f);
struct img_tar_source img_erofs_file_source(FILE *f);
