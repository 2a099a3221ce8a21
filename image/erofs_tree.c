/* Tar entries into the erofs writer's tree, with the same rules as the
 * Linux unpacker (image/unpack.c): names normalised, ".." and absolute
 * names refused, a later entry replaces an earlier one except that a
 * directory coming again is merged, missing parents are made, whiteouts
 * become a char device 0/0 or the opaque xattr. File data goes straight to
 * the sink. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "image/erofs-internal.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

int ew_write(struct ew *w, const void *buf, size_t n, uint64_t off, struct uvm_error **err)
{
        int r = w->out.pwrite(w->out.ctx, buf, n, off);

        if (r < 0)
                return uvm_error_set(err, -r, "write the erofs image at byte %llu: %s",
                                     (unsigned long long) off, strerror(-r));
        return 0;
}

static struct ew_inode *inode_new(struct ew *w, uint32_t mode)
{
        struct ew_inode *ino;

        if (w->n_inodes == w->cap_inodes) {
                uint32_t cap = w->cap_inodes ? w->cap_inodes * 2 : 256;
                struct ew_inode **v = realloc(w->inodes, cap * sizeof(*v));

                if (!v)
                        return NULL;
                w->inodes = v;
                w->cap_inodes = cap;
        }
        ino = calloc(1, sizeof(*ino));
        if (!ino)
                return NULL;
        w->meta += sizeof(*ino) + sizeof(*w->inodes);
        ino->id = w->n_inodes;
        ino->mode = mode;
        w->inodes[w->n_inodes++] = ino;
        return ino;
}

int ew_init(struct ew *w, const struct img_erofs_sink *out, const struct img_erofs_opts *opts,
            struct uvm_error **err)
{
        *w = (struct ew){.out = *out, .next_blk = 1};
        w->max_entries = opts->max_entries ? opts->max_entries : IMG_EROFS_ENTRIES_MAX;
        w->max_meta = opts->max_meta ? opts->max_meta : IMG_EROFS_META_MAX;
        w->tail_budget = opts->tail_budget ? opts->tail_budget : IMG_EROFS_TAIL_BUDGET;
        if (w->tail_budget == UINT64_MAX)
                w->tail_budget = 0;
        w->hash_cap = 1024;
        w->hash = calloc(w->hash_cap, sizeof(*w->hash));
        w->buf = malloc(EW_IO);
        w->root = w->hash && w->buf ? inode_new(w, EW_IFDIR | 0755) : NULL;
        if (!w->root)
                return uvm_error_set(err, ENOMEM, "out of memory");
        w->root->implicit = true;
        return 0;
}

static void xattrs_free(struct ew_inode *ino)
{
        for (uint16_t i = 0; i < ino->n_xattrs; i++) {
                free(ino->xattrs[i].name);
                free(ino->xattrs[i].value);
        }
        free(ino->xattrs);
        ino->xattrs = NULL;
        ino->n_xattrs = 0;
}

void ew_done(struct ew *w)
{
        for (uint32_t i = 0; i < w->n_inodes; i++) {
                struct ew_inode *ino = w->inodes[i];

                xattrs_free(ino);
                free(ino->tail);
                free(ino->kids);
                free(ino);
        }
        for (uint32_t i = 0; i < w->hash_cap; i++)
                free(w->hash[i]);
        free(w->inodes);
        free(w->hash);
        free(w->buf);
}

static uint32_t name_hash(uint32_t dir, const char *name, size_t n)
{
        uint64_t h = 14695981039346656037ull ^ dir;

        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char) name[i]) * 1099511628211ull;
        return (uint32_t) (h ^ (h >> 32));
}

/* The slot of (dir, name): its dentry, or the empty slot it would take. */
static struct ew_dentry **slot_of(struct ew *w, uint32_t dir, const char *name, size_t n)
{
        uint32_t mask = w->hash_cap - 1, i = name_hash(dir, name, n) & mask;

        for (;; i = (i + 1) & mask) {
                struct ew_dentry *d = w->hash[i];

                if (!d || (d->dir->id == dir && d->name_len == n && memcmp(d->name, name, n) == 0))
                        return &w->hash[i];
        }
}

static int hash_grow(struct ew *w)
{
        struct ew_dentry **old = w->hash;
        uint32_t old_cap = w->hash_cap;

        w->hash = calloc((size_t) old_cap * 2, sizeof(*w->hash));
        if (!w->hash) {
                w->hash = old;
                return -ENOMEM;
        }
        w->hash_cap = old_cap * 2;
        for (uint32_t i = 0; i < old_cap; i++)
                if (old[i])
                        *slot_of(w, old[i]->dir->id, old[i]->name, old[i]->name_len) = old[i];
        free(old);
        return 0;
}

/* Dentries are never removed: a replaced name keeps its dentry, and those
 * of a directory that was replaced stay behind keyed by its dead id. */
static struct ew_dentry *lookup(struct ew *w, struct ew_inode *dir, const char *name, size_t n)
{
        return *slot_of(w, dir->id, name, n);
}

static int link_new(struct ew *w, struct ew_inode *dir, const char *name, size_t n,
                    struct ew_inode *ino, struct ew_dentry **ret)
{
        struct ew_dentry *d;

        if ((w->hash_used + 1) * 2 > w->hash_cap && hash_grow(w) < 0)
                return -ENOMEM;
        if (dir->n_kids == dir->cap_kids) {
                uint32_t cap = dir->cap_kids ? dir->cap_kids * 2 : 8;
                struct ew_dentry **v = realloc(dir->kids, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                dir->kids = v;
                dir->cap_kids = cap;
        }
        d = malloc(sizeof(*d) + n + 1);
        if (!d)
                return -ENOMEM;
        w->meta += sizeof(*d) + n + 1 + 2 * sizeof(*w->hash) + sizeof(*dir->kids);
        d->dir = dir;
        d->inode = ino;
        d->name_len = (uint16_t) n;
        memcpy(d->name, name, n);
        d->name[n] = '\0';
        *slot_of(w, dir->id, name, n) = d;
        w->hash_used++;
        dir->kids[dir->n_kids++] = d;
        *ret = d;
        return 0;
}

/* "a//./b/" -> "a/b"; "" is the root. Refuses absolute names, "..", long
 * components and paths. */
static int normalize(const char *in, char *out, size_t out_size, const char *what,
                     struct uvm_error **err)
{
        size_t n = 0;

        if (!*in)
                return uvm_error_set(err, EINVAL, "layer tar has an entry with an empty %s", what);
        if (in[0] == '/')
                return uvm_error_set(err, EINVAL, "layer tar %s '%s' is absolute", what, in);
        for (const char *p = in; *p;) {
                size_t len = strcspn(p, "/");

                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return uvm_error_set(err, EINVAL, "layer tar %s '%s' contains \"..\"", what,
                                             in);
                if (len > IMG_TAR_NAME_MAX)
                        return uvm_error_set(err, EINVAL,
                                             "layer tar %s '%.64s...' has a name longer than %d",
                                             what, in, IMG_TAR_NAME_MAX);
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n + len + 2 > out_size)
                                return uvm_error_set(err, EINVAL, "layer tar %s is too long", what);
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
                while (*p == '/')
                        p++;
        }
        out[n] = '\0';
        return 0;
}

/* The directory holding path's last component, made (0755, root) where
 * missing; *ret_name points into path. */
static int parent_of(struct ew *w, const char *path, struct ew_inode **ret_dir,
                     const char **ret_name, struct uvm_error **err)
{
        struct ew_inode *dir = w->root;
        const char *p = path, *slash;

        while ((slash = strchr(p, '/'))) {
                size_t n = (size_t) (slash - p);
                struct ew_dentry *d = lookup(w, dir, p, n);

                if (!d) {
                        struct ew_inode *sub = inode_new(w, EW_IFDIR | 0755);

                        if (!sub || link_new(w, dir, p, n, sub, &d) < 0)
                                return uvm_error_set(err, ENOMEM, "out of memory");
                        sub->implicit = true;
                }
                if ((d->inode->mode & EW_IFMT) != EW_IFDIR)
                        return uvm_error_set(err, EINVAL,
                                             "layer tar entry '%s': '%.*s' is not a directory",
                                             path, (int) (slash - path), path);
                dir = d->inode;
                p = slash + 1;
        }
        *ret_dir = dir;
        *ret_name = p;
        return 0;
}

/* Put ino at dir/name, replacing what was there. */
static int place(struct ew *w, struct ew_inode *dir, const char *name, struct ew_inode *ino,
                 struct uvm_error **err)
{
        size_t n = strlen(name);
        struct ew_dentry *d = lookup(w, dir, name, n);

        if (d) {
                d->inode = ino;
                return 0;
        }
        if (link_new(w, dir, name, n, ino, &d) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* An xattr name to erofs' index and suffix; 0 for one not kept (unknown
 * namespaces; trusted.overlay.*, which only whiteouts may set, as in
 * image/unpack.c). */
static uint8_t xattr_index(const char *name, const char **ret_suffix)
{
        static const struct {
                const char *prefix;
                uint8_t index;
                bool whole;
        } map[] = {
                {"user.", 1, false},
                {"system.posix_acl_access", 2, true},
                {"system.posix_acl_default", 3, true},
                {"trusted.", 4, false},
                {"security.", 6, false},
        };

        if (strncmp(name, "trusted.overlay.", 16) == 0)
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
                size_t n = strlen(map[i].prefix);

                if (map[i].whole ? strcmp(name, map[i].prefix) == 0
                                 : strncmp(name, map[i].prefix, n) == 0 && name[n]) {
                        *ret_suffix = name + n;
                        return map[i].index;
                }
        }
        return 0;
}

size_t ew_xattr_body(const struct ew_inode *ino)
{
        size_t n = 0;

        for (uint16_t i = 0; i < ino->n_xattrs; i++)
                n += (4u + ino->xattrs[i].name_len + ino->xattrs[i].value_len + 3u) & ~3u;
        if (ino->opaque)
                n += (4u + strlen("overlay.opaque") + 1 + 3u) & ~3u;
        return n ? EW_XATTR_HEADER + n : 0;
}

static int set_xattrs(struct ew *w, struct ew_inode *ino, const struct img_tar_entry *e,
                      struct uvm_error **err)
{
        xattrs_free(ino);
        if (!e->n_xattrs)
                return 0;
        ino->xattrs = calloc(e->n_xattrs, sizeof(*ino->xattrs));
        if (!ino->xattrs)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < e->n_xattrs; i++) {
                const char *suffix = NULL;
                uint8_t index = xattr_index(e->xattrs[i].name, &suffix);
                struct ew_xattr *x = &ino->xattrs[ino->n_xattrs];

                if (!index)
                        continue;
                x->index = index;
                x->name_len = (uint8_t) strlen(suffix);
                x->value_len = (uint16_t) e->xattrs[i].value_len;
                x->name = strdup(suffix);
                x->value = malloc(x->value_len ? x->value_len : 1);
                ino->n_xattrs++;
                if (!x->name || !x->value)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                memcpy(x->value, e->xattrs[i].value, x->value_len);
                w->meta += sizeof(*x) + x->name_len + 1 + x->value_len;
        }
        if (ew_xattr_body(ino) > EW_XATTR_BODY_MAX)
                return uvm_error_set(err, E2BIG, "layer tar entry '%s' has %zu bytes of xattrs",
                                     e->path, ew_xattr_body(ino));
        return 0;
}

static int set_meta(struct ew *w, struct ew_inode *ino, uint32_t type,
                    const struct img_tar_entry *e, struct uvm_error **err)
{
        ino->mode = type | (e->mode & 07777);
        ino->uid = e->uid;
        ino->gid = e->gid;
        ino->mtime = e->mtime;
        ino->mtime_ns = e->mtime_ns < 1000000000 ? e->mtime_ns : 0;
        return set_xattrs(w, ino, e, err);
}

/* Linux's new_encode_dev. */
static uint32_t encode_dev(uint32_t major, uint32_t minor)
{
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffu) << 12);
}

static int tail_keep(struct ew *w, struct ew_inode *ino, uint32_t len)
{
        if (len == 0 || w->tail_used + len > w->tail_budget ||
            EW_INODE_EXTENDED + ew_xattr_body(ino) + len > IMG_EROFS_BLOCK)
                return 0;
        ino->tail = malloc(len);
        if (!ino->tail)
                return -ENOMEM;
        ino->tail_len = len;
        ino->packed = true;
        w->tail_used += len;
        return 1;
}

/* size bytes: whole blocks to the data area from next_blk; the last partial
 * block kept for packing when it fits, else padded out to a block. */
static int stream_data(struct ew *w, struct img_tar *t, struct ew_inode *ino, const char *src,
                       uint64_t size, const char *path, struct uvm_error **err)
{
        uint64_t full = size / IMG_EROFS_BLOCK, rest = size % IMG_EROFS_BLOCK, done = 0, off;
        int kept = tail_keep(w, ino, (uint32_t) rest), r;

        if (kept < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        ino->size = size;
        ino->nblocks = (uint32_t) (kept ? full : full + (rest != 0));
        if (full + 1 > EW_BLOCKS_MAX - w->next_blk)
                return uvm_error_set(err, EFBIG, "layer tar entry '%s' does not fit in an image",
                                     path);
        ino->blkaddr = ino->nblocks ? w->next_blk : 0;
        off = (uint64_t) w->next_blk * IMG_EROFS_BLOCK;
        while (done < size) {
                size_t n = size - done < EW_IO ? (size_t) (size - done) : EW_IO;

                if (kept && done + n > full * IMG_EROFS_BLOCK)
                        n = (size_t) (full * IMG_EROFS_BLOCK - done);
                if (n == 0)
                        break;
                r = src ? (memcpy(w->buf, src + done, n), 0) : img_tar_read(t, w->buf, n, err);
                if (r < 0)
                        return r;
                memset(w->buf + n, 0, (IMG_EROFS_BLOCK - n % IMG_EROFS_BLOCK) % IMG_EROFS_BLOCK);
                r = ew_write(w, w->buf,
                             (n + IMG_EROFS_BLOCK - 1) / IMG_EROFS_BLOCK * IMG_EROFS_BLOCK,
                             off + done, err);
                if (r < 0)
                        return r;
                done += n;
        }
        if (kept) {
                r = src ? (memcpy(ino->tail, src + done, (size_t) rest), 0)
                        : img_tar_read(t, ino->tail, (size_t) rest, err);
                if (r < 0)
                        return r;
        }
        w->next_blk += ino->nblocks;
        w->data_blocks += ino->nblocks;
        return 0;
}

static int add_dir(struct ew *w, struct ew_inode *dir, const char *name,
                   const struct img_tar_entry *e, struct uvm_error **err)
{
        struct ew_dentry *d = *name ? lookup(w, dir, name, strlen(name)) : NULL;
        struct ew_inode *ino = *name ? NULL : w->root;

        if (d && (d->inode->mode & EW_IFMT) == EW_IFDIR)
                ino = d->inode; /* merged, as on a file system */
        if (!ino) {
                ino = inode_new(w, EW_IFDIR);
                if (!ino)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if (place(w, dir, name, ino, err) < 0)
                        return -ENOMEM;
        }
        ino->implicit = false;
        return set_meta(w, ino, EW_IFDIR, e, err);
}

static int add_hardlink(struct ew *w, struct ew_inode *dir, const char *name,
                        const struct img_tar_entry *e, struct uvm_error **err)
{
        char target[IMG_TAR_PATH_MAX];
        struct ew_inode *tdir;
        struct ew_dentry *d;
        const char *tname;
        int r = normalize(e->link, target, sizeof(target), "hard link target", err);

        if (r < 0)
                return r;
        if (!*target)
                return uvm_error_set(err, EINVAL, "hard link '%s' to the layer root", e->path);
        r = parent_of(w, target, &tdir, &tname, err);
        if (r < 0)
                return r;
        d = lookup(w, tdir, tname, strlen(tname));
        if (!d)
                return uvm_error_set(err, EINVAL,
                                     "hard link '%s' to '%s', which is not in the layer", e->path,
                                     e->link);
        if ((d->inode->mode & EW_IFMT) == EW_IFDIR)
                return uvm_error_set(err, EINVAL, "hard link '%s' to directory '%s'", e->path,
                                     e->link);
        return place(w, dir, name, d->inode, err);
}

static int add_other(struct ew *w, struct img_tar *t, struct ew_inode *dir, const char *name,
                     const struct img_tar_entry *e, struct uvm_error **err)
{
        static const uint32_t types[] = {
                [IMG_TAR_FILE] = EW_IFREG,  [IMG_TAR_SYMLINK] = EW_IFLNK, [IMG_TAR_CHAR] = EW_IFCHR,
                [IMG_TAR_BLOCK] = EW_IFBLK, [IMG_TAR_FIFO] = EW_IFIFO,
        };
        struct ew_inode *ino = inode_new(w, 0);
        int r;

        if (!ino)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = set_meta(w, ino, types[e->type], e, err);
        if (r < 0)
                return r;
        if (e->type == IMG_TAR_FILE)
                r = stream_data(w, t, ino, NULL, e->size, e->path, err);
        else if (e->type == IMG_TAR_SYMLINK)
                r = *e->link ? stream_data(w, t, ino, e->link, strlen(e->link), e->path, err)
                             : uvm_error_set(err, EINVAL, "symlink '%s' has no target", e->path);
        else if (e->type == IMG_TAR_CHAR || e->type == IMG_TAR_BLOCK)
                ino->rdev = encode_dev(e->dev_major, e->dev_minor);
        if (r < 0)
                return r;
        return place(w, dir, name, ino, err);
}

/* ".wh.NAME": NAME becomes overlayfs' whiteout, a char device 0/0 owned
 * by root (replacing an earlier entry of this layer). */
static int add_whiteout(struct ew *w, struct ew_inode *dir, const char *wh,
                        const struct img_tar_entry *e, struct uvm_error **err)
{
        const char *name = wh + strlen(WH_PREFIX);
        struct ew_inode *ino;

        if (!*name || STR_EQ(name, ".") || STR_EQ(name, ".."))
                return uvm_error_set(err, EINVAL, "whiteout '%s' names no file", e->path);
        ino = inode_new(w, EW_IFCHR);
        if (!ino)
                return uvm_error_set(err, ENOMEM, "out of memory");
        ino->mtime = e->mtime;
        ino->mtime_ns = e->mtime_ns < 1000000000 ? e->mtime_ns : 0;
        return place(w, dir, name, ino, err);
}

static int add_entry(struct ew *w, struct img_tar *t, const struct img_tar_entry *e,
                     struct uvm_error **err)
{
        char path[IMG_TAR_PATH_MAX];
        struct ew_inode *dir;
        const char *name;
        int r;

        if (++w->entries > w->max_entries)
                return uvm_error_set(err, EFBIG, "layer tar has more than %u entries",
                                     w->max_entries);
        r = normalize(e->path, path, sizeof(path), "entry", err);
        if (r < 0)
                return r;
        if (!*path) {
                if (e->type != IMG_TAR_DIR)
                        return uvm_error_set(err, EINVAL, "layer tar entry '%s' is not a directory",
                                             e->path);
                return add_dir(w, w->root, "", e, err);
        }
        r = parent_of(w, path, &dir, &name, err);
        if (r < 0)
                return r;
        if (STR_EQ(name, WH_OPAQUE)) {
                dir->opaque = true;
                return ew_xattr_body(dir) > EW_XATTR_BODY_MAX
                               ? uvm_error_set(err, E2BIG, "'%s': xattrs too large", e->path)
                               : 0;
        }
        if (strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
                return 0; /* an unknown whiteout of a later spec, as unpack.c */
        if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
                return add_whiteout(w, dir, name, e, err);
        if (e->type == IMG_TAR_HARDLINK)
                return add_hardlink(w, dir, name, e, err);
        if (e->type == IMG_TAR_DIR)
                return add_dir(w, dir, name, e, err);
        return add_other(w, t, dir, name, e, err);
}

int ew_add_entry(struct ew *w, struct img_tar *t, const struct img_tar_entry *e,
                 struct uvm_error **err)
{
        int r = add_entry(w, t, e, err);

        /* Names, xattrs and inodes stay in memory until the end: bounded. */
        if (r >= 0 && w->meta > w->max_meta)
                return uvm_error_set(err, EFBIG,
                                     "layer tar's metadata is over %llu bytes (at entry '%s')",
                                     (unsigned long long) w->max_meta, e->path);
        return r;
}
