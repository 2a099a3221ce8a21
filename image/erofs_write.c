/* The erofs image's layout once the tar has ended (erofs_write.h): inodes
 * in breadth-first order, directories sorted by name as the kernel's
 * binary search needs, nids, directory blocks, inodes, superblock.
 * Uncompressed only: flat plain or flat inline. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "image/erofs-internal.h"

#define SB_OFFSET 1024
#define SB_MAGIC 0xE0F5E1E2u
#define SB_COMPAT_CHKSUM 0x1u
#define ROOT_POS 1152 /* after the 128-byte superblock */
#define DIRENT 12
#define COMPACT 32
#define LAYOUT_PLAIN 0
#define LAYOUT_INLINE 2
#define NAME_OPAQUE "overlay.opaque"

static void put16(unsigned char *p, uint16_t v)
{
        p[0] = (unsigned char) v;
        p[1] = (unsigned char) (v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static void put64(unsigned char *p, uint64_t v)
{
        put32(p, (uint32_t) v);
        put32(p + 4, (uint32_t) (v >> 32));
}

static bool is_dir(const struct ew_inode *ino)
{
        return (ino->mode & EW_IFMT) == EW_IFDIR;
}

static int cmp_dentry(const void *a, const void *b)
{
        const struct ew_dentry *x = *(struct ew_dentry *const *) a,
                               *y = *(struct ew_dentry *const *) b;
        int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);

        return c ? c : (int) x->name_len - (int) y->name_len;
}

/* Breadth-first from the root: the live inodes, each once (hard links),
 * kids sorted, parents and link counts set. */
static int order_inodes(struct ew *w, struct ew_inode ***ret, uint32_t *ret_n)
{
        struct ew_inode **order = malloc((size_t) w->n_inodes * sizeof(*order));
        uint32_t n = 0;

        if (!order)
                return -ENOMEM;
        order[n++] = w->root;
        w->root->seen = true;
        w->root->parent = w->root;
        for (uint32_t i = 0; i < n; i++) {
                struct ew_inode *dir = order[i];

                if (!is_dir(dir))
                        continue;
                dir->nlink = 2;
                if (dir->n_kids) /* qsort wants a non-NULL base */
                        qsort(dir->kids, dir->n_kids, sizeof(*dir->kids), cmp_dentry);
                for (uint32_t k = 0; k < dir->n_kids; k++) {
                        struct ew_inode *kid = dir->kids[k]->inode;

                        if (!kid->seen) {
                                kid->seen = true;
                                kid->parent = dir;
                                order[n++] = kid;
                        }
                        if (is_dir(kid))
                                dir->nlink++;
                        else
                                kid->nlink++;
                }
        }
        *ret = order;
        *ret_n = n;
        return 0;
}

struct stamp {
        int64_t s;
        uint32_t ns;
};

static int cmp_stamp(const void *a, const void *b)
{
        const struct stamp *x = a, *y = b;

        if (x->s != y->s)
                return x->s < y->s ? -1 : 1;
        return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* Made directories take the newest time of the layer (the output depends on
 * the tar only); the epoch is the commonest time, which compact inodes share. */
static int pick_epoch(struct ew_inode **order, uint32_t n, struct stamp *ret)
{
        struct stamp *v = malloc((size_t) n * sizeof(*v)), newest = {0, 0}, best = {0, 0};
        uint32_t run = 0, best_run = 0;

        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
                if (!order[i]->implicit &&
                    cmp_stamp(&(struct stamp){order[i]->mtime, order[i]->mtime_ns}, &newest) > 0)
                        newest = (struct stamp){order[i]->mtime, order[i]->mtime_ns};
        for (uint32_t i = 0; i < n; i++) {
                if (order[i]->implicit) {
                        order[i]->mtime = newest.s;
                        order[i]->mtime_ns = newest.ns;
                }
                v[i] = (struct stamp){order[i]->mtime, order[i]->mtime_ns};
        }
        qsort(v, n, sizeof(*v), cmp_stamp);
        for (uint32_t i = 0; i < n; i++) {
                run = i > 0 && cmp_stamp(&v[i], &v[i - 1]) == 0 ? run + 1 : 1;
                if (run > best_run) {
                        best_run = run;
                        best = v[i];
                }
        }
        free(v);
        *ret = best;
        return 0;
}

/* A directory's entries with "." and ".." among them, sorted. */
struct dent {
        const char *name;
        uint16_t len;
        struct ew_inode *ino;
};

static int cmp_dent(const void *a, const void *b)
{
        const struct dent *x = a, *y = b;
        int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

        return c ? c : (int) x->len - (int) y->len;
}

static struct dent *dir_entries(struct ew_inode *dir, size_t *ret_n)
{
        struct dent *v = malloc(((size_t) dir->n_kids + 2) * sizeof(*v));
        size_t n = 0;

        if (!v)
                return NULL;
        v[n++] = (struct dent){".", 1, dir};
        v[n++] = (struct dent){"..", 2, dir->parent};
        for (uint32_t i = 0; i < dir->n_kids; i++)
                v[n++] = (struct dent){dir->kids[i]->name, dir->kids[i]->name_len,
                                       dir->kids[i]->inode};
        qsort(v, n, sizeof(*v), cmp_dent);
        *ret_n = n;
        return v;
}

static uint8_t file_type(uint32_t mode)
{
        switch (mode & EW_IFMT) {
        case EW_IFREG:
                return 1;
        case EW_IFDIR:
                return 2;
        case EW_IFCHR:
                return 3;
        case EW_IFBLK:
                return 4;
        case EW_IFIFO:
                return 5;
        case EW_IFSOCK:
                return 6;
        case EW_IFLNK:
                return 7;
        default:
                return 0;
        }
}

/* Directory blocks: each starts with its dirents, then their names (no
 * NULs; a name ends where the next begins). Returns the size; fills buf
 * when given (nids must be known then). */
static uint64_t dir_build(const struct dent *v, size_t n, unsigned char *buf)
{
        uint64_t base = 0;

        for (size_t i = 0;;) {
                size_t j = i, used = 0, nameoff;

                while (j < n && used + DIRENT + v[j].len <= IMG_EROFS_BLOCK)
                        used += DIRENT + v[j++].len;
                nameoff = (j - i) * DIRENT;
                for (size_t k = i; buf && k < j; k++) {
                        unsigned char *d = buf + base + (k - i) * DIRENT;

                        put64(d, v[k].ino->nid);
                        put16(d + 8, (uint16_t) nameoff);
                        d[10] = file_type(v[k].ino->mode);
                        d[11] = 0;
                        memcpy(buf + base + nameoff, v[k].name, v[k].len);
                        nameoff += v[k].len;
                }
                if (j == n)
                        return base + used;
                base += IMG_EROFS_BLOCK;
                i = j;
        }
}

static bool compact_fits(const struct ew_inode *ino, const struct stamp *epoch)
{
        return ino->uid <= 0xffff && ino->gid <= 0xffff && ino->size <= UINT32_MAX &&
               ino->nlink <= 0xffff && ino->mtime == epoch->s && ino->mtime_ns == epoch->ns;
}

/* A directory's size, and where its blocks go: the tail packed after the
 * inode when it fits in the inode's block (room bytes), the rest in the
 * data area from next_blk. */
static int dir_plan(struct ew *w, struct ew_inode *dir, size_t room, struct uvm_error **err)
{
        size_t n;
        _cleanup_free_ struct dent *v = dir_entries(dir, &n);
        uint64_t tail;

        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        dir->size = dir_build(v, n, NULL);
        tail = dir->size % IMG_EROFS_BLOCK;
        dir->packed = tail && dir->isize + dir->xsize + tail <= room;
        dir->tail_len = dir->packed ? (uint32_t) tail : 0;
        dir->nblocks = (uint32_t) ((dir->size + (dir->packed ? 0 : IMG_EROFS_BLOCK - 1)) /
                                   IMG_EROFS_BLOCK);
        if (dir->nblocks >= EW_BLOCKS_MAX - w->next_blk)
                return uvm_error_set(err, EFBIG, "the layer does not fit in an erofs image");
        dir->blkaddr = dir->nblocks ? w->next_blk : 0;
        w->next_blk += dir->nblocks;
        return 0;
}

/* Sizes, directory plans and nids; returns the image's end. */
static int plan(struct ew *w, struct ew_inode **order, uint32_t n, const struct stamp *epoch,
                uint64_t *ret_end, struct uvm_error **err)
{
        uint64_t pos;
        int r;

        for (uint32_t i = 0; i < n; i++) {
                struct ew_inode *ino = order[i];

                ino->isize = compact_fits(ino, epoch) ? COMPACT : EW_INODE_EXTENDED;
                ino->xsize = (uint16_t) ew_xattr_body(ino);
                ino->ino = i + 1;
                if (is_dir(ino)) {
                        r = dir_plan(w, ino, i == 0 ? IMG_EROFS_BLOCK - ROOT_POS : IMG_EROFS_BLOCK,
                                     err);
                        if (r < 0)
                                return r;
                }
        }
        w->root->nid = ROOT_POS / 32;
        pos = (uint64_t) w->next_blk * IMG_EROFS_BLOCK;
        for (uint32_t i = 1; i < n; i++) {
                struct ew_inode *ino = order[i];
                uint64_t need = (uint64_t) ino->isize + ino->xsize + ino->tail_len;

                pos = (pos + 31) & ~(uint64_t) 31;
                /* Nothing of an inode crosses a block: the kernel wants its
                 * packed tail in the inode's block. */
                if (pos % IMG_EROFS_BLOCK + need > IMG_EROFS_BLOCK)
                        pos = (pos + IMG_EROFS_BLOCK - 1) / IMG_EROFS_BLOCK * IMG_EROFS_BLOCK;
                ino->nid = pos / 32;
                pos += need;
        }
        pos = (pos + IMG_EROFS_BLOCK - 1) / IMG_EROFS_BLOCK * IMG_EROFS_BLOCK;
        if (pos / IMG_EROFS_BLOCK >= EW_BLOCKS_MAX)
                return uvm_error_set(err, EFBIG, "the layer does not fit in an erofs image");
        *ret_end = pos;
        return 0;
}

/* Each directory's blocks to the data area, its tail kept for its inode. */
static int write_dirs(struct ew *w, struct ew_inode **order, uint32_t n, struct uvm_error **err)
{
        for (uint32_t i = 0; i < n; i++) {
                struct ew_inode *dir = order[i];
                size_t cnt;
                _cleanup_free_ struct dent *v = NULL;
                _cleanup_free_ unsigned char *buf = NULL;
                uint64_t full = (uint64_t) dir->nblocks * IMG_EROFS_BLOCK;
                int r;

                if (!is_dir(dir))
                        continue;
                v = dir_entries(dir, &cnt);
                buf = calloc(1, full + IMG_EROFS_BLOCK);
                if (!v || !buf)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                dir_build(v, cnt, buf);
                if (full) {
                        r = ew_write(w, buf, full, (uint64_t) dir->blkaddr * IMG_EROFS_BLOCK, err);
                        if (r < 0)
                                return r;
                }
                if (dir->packed) {
                        free(dir->tail);
                        dir->tail = malloc(dir->tail_len);
                        if (!dir->tail)
                                return uvm_error_set(err, ENOMEM, "out of memory");
                        memcpy(dir->tail, buf + full, dir->tail_len);
                }
        }
        return 0;
}

static size_t put_xattr(unsigned char *p, uint8_t index, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
        p[0] = (unsigned char) name_len;
        p[1] = index;
        put16(p + 2, (uint16_t) value_len);
        memcpy(p + 4, name, name_len);
        memcpy(p + 4 + name_len, value, value_len);
        return (4 + name_len + value_len + 3) & ~(size_t) 3;
}

/* The inode, its xattrs and packed tail at p (zeroed, in one block). */
static void put_inode(unsigned char *p, const struct ew_inode *ino)
{
        bool ext = ino->isize == EW_INODE_EXTENDED;
        uint32_t type = ino->mode & EW_IFMT;
        uint32_t iu = type == EW_IFCHR || type == EW_IFBLK ? ino->rdev : ino->blkaddr;
        unsigned char *x = p + ino->isize;

        put16(p, (uint16_t) (ext | (ino->packed ? LAYOUT_INLINE : LAYOUT_PLAIN) << 1));
        put16(p + 2, (uint16_t) (ino->xsize ? (ino->xsize - EW_XATTR_HEADER) / 4 + 1 : 0));
        put16(p + 4, (uint16_t) ino->mode);
        put32(p + 16, iu);
        put32(p + 20, ino->ino);
        if (ext) {
                put64(p + 8, ino->size);
                put32(p + 24, ino->uid);
                put32(p + 28, ino->gid);
                put64(p + 32, (uint64_t) ino->mtime);
                put32(p + 40, ino->mtime_ns);
                put32(p + 44, ino->nlink);
        } else {
                /* i_mtime (offset 12) stays 0: the epoch's own time. */
                put16(p + 6, (uint16_t) ino->nlink);
                put32(p + 8, (uint32_t) ino->size);
                put16(p + 24, (uint16_t) ino->uid);
                put16(p + 26, (uint16_t) ino->gid);
        }
        if (ino->xsize) {
                size_t off = EW_XATTR_HEADER; /* no name filter, no shared xattrs */

                for (uint16_t i = 0; i < ino->n_xattrs; i++)
                        off += put_xattr(x + off, ino->xattrs[i].index, ino->xattrs[i].name,
                                         ino->xattrs[i].name_len, ino->xattrs[i].value,
                                         ino->xattrs[i].value_len);
                if (ino->opaque)
                        put_xattr(x + off, 4, NAME_OPAQUE, strlen(NAME_OPAQUE), "y", 1);
        }
        if (ino->packed)
                memcpy(x + ino->xsize, ino->tail, ino->tail_len);
}

/* Every inode but the root, block by block, in order. */
static int write_inodes(struct ew *w, struct ew_inode **order, uint32_t n, struct uvm_error **err)
{
        unsigned char *blk = w->buf;
        uint64_t cur = UINT64_MAX;
        int r;

        for (uint32_t i = 1; i < n; i++) {
                uint64_t pos = order[i]->nid * 32, b = pos / IMG_EROFS_BLOCK;

                if (b != cur) {
                        if (cur != UINT64_MAX) {
                                r = ew_write(w, blk, IMG_EROFS_BLOCK, cur * IMG_EROFS_BLOCK, err);
                                if (r < 0)
                                        return r;
                        }
                        memset(blk, 0, IMG_EROFS_BLOCK);
                        cur = b;
                }
                put_inode(blk + pos % IMG_EROFS_BLOCK, order[i]);
        }
        if (cur == UINT64_MAX)
                return 0;
        return ew_write(w, blk, IMG_EROFS_BLOCK, cur * IMG_EROFS_BLOCK, err);
}

/* CRC-32C (Castagnoli, reflected), from ~0, without the final inversion:
 * the kernel's crc32c(~0, ...) that checks the superblock. */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
        while (n--) {
                crc ^= *p++;
                for (int k = 0; k < 8; k++)
                        crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return crc;
}

static int write_super(struct ew *w, uint32_t inos, uint64_t end, const struct stamp *epoch,
                       const struct img_erofs_opts *opts, struct uvm_error **err)
{
        unsigned char *b = w->buf, *sb = b + SB_OFFSET;

        memset(b, 0, IMG_EROFS_BLOCK);
        put32(sb, SB_MAGIC);
        put32(sb + 8, SB_COMPAT_CHKSUM);
        sb[12] = 12; /* 4 KiB blocks */
        put16(sb + 14, (uint16_t) w->root->nid);
        put64(sb + 16, inos);
        put64(sb + 24, (uint64_t) epoch->s);
        put32(sb + 32, epoch->ns);
        put32(sb + 36, (uint32_t) (end / IMG_EROFS_BLOCK));
        memcpy(sb + 48, opts->uuid, 16);
        put_inode(b + ROOT_POS, w->root);
        put32(sb + 4, crc32c(~0u, sb, IMG_EROFS_BLOCK - SB_OFFSET));
        return ew_write(w, b, IMG_EROFS_BLOCK, 0, err);
}

int ew_finish(struct ew *w, const struct img_erofs_opts *opts, struct img_erofs_stats *stats,
              struct uvm_error **err)
{
        _cleanup_free_ struct ew_inode **order = NULL;
        struct stamp epoch;
        uint64_t end = 0;
        uint32_t n;
        int r;

        if (order_inodes(w, &order, &n) < 0 || pick_epoch(order, n, &epoch) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* Link counts are known now; an inode they make extended must still
         * have room for its packed tail (sized for an extended inode). */
        r = plan(w, order, n, &epoch, &end, err);
        if (r >= 0)
                r = write_dirs(w, order, n, err);
        if (r >= 0)
                r = write_inodes(w, order, n, err);
        if (r >= 0)
                r = write_super(w, n, end, &epoch, opts, err);
        if (r < 0)
                return r;
        stats->image_bytes = end;
        stats->inodes = n;
        stats->data_blocks = w->data_blocks;
        return 0;
}

int img_erofs_from_tar(const struct img_tar_source *src, const struct img_erofs_sink *out,
                       const struct img_erofs_opts *opts, struct img_erofs_stats *ret_stats,
                       struct uvm_error **err)
{
        struct img_erofs_stats stats = {0};
        struct img_tar_entry *e;
        struct img_tar *t = NULL;
        struct ew w;
        int r = ew_init(&w, out, opts, err);

        if (r >= 0) {
                t = img_tar_new(src);
                if (!t)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        while (r >= 0 && (r = img_tar_next(t, &e, err)) > 0)
                r = ew_add_entry(&w, t, e, err);
        if (r >= 0)
                r = ew_finish(&w, opts, &stats, err);
        if (r >= 0)
                stats.tar_bytes = img_tar_offset(t);
        img_tar_free(t);
        ew_done(&w);
        if (r < 0)
                return r;
        if (ret_stats)
                *ret_stats = stats;
        return 0;
}

#ifdef _WIN32
#define seek64 _fseeki64
#define tell64 _ftelli64
#else
#define seek64 fseeko
#define tell64 ftello
#endif

static int file_pwrite(void *ctx, const void *buf, size_t n, uint64_t off)
{
        FILE *f = ctx;

        if ((uint64_t) tell64(f) != off && seek64(f, (int64_t) off, SEEK_SET) != 0)
                return errno ? -errno : -EIO;
        if (fwrite(buf, 1, n, f) != n)
                return errno ? -errno : -EIO;
        return 0;
}

static int file_read(void *ctx, void *buf, size_t n, size_t *ret_n)
{
        FILE *f = ctx;

        *ret_n = fread(buf, 1, n, f);
        if (*ret_n == 0 && ferror(f))
                return errno ? -errno : -EIO;
        return 0;
}

struct img_erofs_sink img_erofs_file_sink(FILE *f)
{
        return (struct img_erofs_sink){file_pwrite, f};
}

struct img_tar_source img_erofs_file_source(FILE *f)
{
        return (struct img_tar_source){file_read, f};
}
