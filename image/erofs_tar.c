/* The layer tar reader behind erofs_tar.h: 512-byte headers, numbers in
 * octal or GNU base-256, GNU 'L'/'K' long names, PAX 'x' records (path,
 * linkpath, size, uid, gid, mtime, SCHILY.xattr.*); a 'g' global header is
 * skipped (Go's archive/tar and Docker never write one). */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "image/erofs_tar.h"

#define BLOCK 512
#define PAX_XATTR "SCHILY.xattr."

struct img_tar {
        struct img_tar_source src;
        uint64_t offset;    /* bytes consumed */
        uint64_t remaining; /* data of the current entry not yet read */
        uint64_t padding;   /* then up to the next 512 boundary */
        bool done;
        struct img_tar_entry e;
        /* Overrides from GNU long names and PAX records, for the next entry. */
        char *long_path, *long_link;
        char *pax_path, *pax_link;
        bool pax_has_size, pax_has_uid, pax_has_gid, pax_has_mtime;
        uint64_t pax_size;
        uint32_t pax_uid, pax_gid, pax_mtime_ns;
        int64_t pax_mtime;
        struct img_tar_xattr pax_xattrs[IMG_TAR_XATTRS_MAX];
        size_t pax_n_xattrs;
        char name[IMG_TAR_PATH_MAX], link[IMG_TAR_PATH_MAX];
};

struct img_tar *img_tar_new(const struct img_tar_source *src)
{
        struct img_tar *t = calloc(1, sizeof(*t));

        if (t)
                t->src = *src;
        return t;
}

static void xattrs_clear(struct img_tar_xattr *x, size_t *n)
{
        for (size_t i = 0; i < *n; i++) {
                free(x[i].name);
                free(x[i].value);
        }
        *n = 0;
}

static void overrides_clear(struct img_tar *t)
{
        free(t->long_path);
        free(t->long_link);
        free(t->pax_path);
        free(t->pax_link);
        t->long_path = t->long_link = t->pax_path = t->pax_link = NULL;
        t->pax_has_size = t->pax_has_uid = t->pax_has_gid = t->pax_has_mtime = false;
        xattrs_clear(t->pax_xattrs, &t->pax_n_xattrs);
}

struct img_tar *img_tar_free(struct img_tar *t)
{
        if (!t)
                return NULL;
        overrides_clear(t);
        xattrs_clear(t->e.xattrs, &t->e.n_xattrs);
        free(t);
        return NULL;
}

uint64_t img_tar_offset(const struct img_tar *t)
{
        return t->offset;
}

/* n bytes or the end: *ret_n is what was read. */
static int read_some(struct img_tar *t, void *buf, size_t n, size_t *ret_n, struct uvm_error **err)
{
        size_t got = 0;

        while (got < n) {
                size_t k = 0;
                int r = t->src.read(t->src.ctx, (char *) buf + got, n - got, &k);

                if (r < 0)
                        return uvm_error_set(err, -r, "read the layer tar at byte %llu: %s",
                                             (unsigned long long) (t->offset + got), strerror(-r));
                if (k == 0)
                        break;
                if (k > n - got)
                        return uvm_error_set(err, EIO, "layer tar source returned too much");
                got += k;
        }
        t->offset += got;
        *ret_n = got;
        return 0;
}

static int read_exact(struct img_tar *t, void *buf, size_t n, const char *what,
                      struct uvm_error **err)
{
        size_t got;
        int r = read_some(t, buf, n, &got, err);

        if (r < 0)
                return r;
        if (got != n)
                return uvm_error_set(err, EINVAL, "layer tar is truncated in %s", what);
        return 0;
}

static int skip(struct img_tar *t, uint64_t n, const char *what, struct uvm_error **err)
{
        char buf[8192];

        while (n > 0) {
                size_t k = n < sizeof(buf) ? (size_t) n : sizeof(buf);
                int r = read_exact(t, buf, k, what, err);

                if (r < 0)
                        return r;
                n -= k;
        }
        return 0;
}

static uint64_t pad_of(uint64_t size)
{
        return (BLOCK - size % BLOCK) % BLOCK;
}

/* A numeric header field: octal (spaces or NULs around it) or GNU base-256
 * (first byte 0x80; negative 0xff ones are refused). */
static int parse_num(const unsigned char *f, size_t len, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i = 0;

        if (f[0] == 0x80) {
                for (i = 1; i < len; i++) {
                        if (v >> 56)
                                return -ERANGE;
                        v = v << 8 | f[i];
                }
                *ret = v;
                return 0;
        }
        if (f[0] & 0x80)
                return -EINVAL;
        while (i < len && (f[i] == ' ' || f[i] == '\0'))
                i++;
        for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 60)
                        return -ERANGE;
                v = v << 3 | (uint64_t) (f[i] - '0');
        }
        for (; i < len; i++)
                if (f[i] != ' ' && f[i] != '\0')
                        return -EINVAL;
        *ret = v;
        return 0;
}

/* The stored checksum matches the header summed with the field as spaces,
 * bytes taken unsigned (POSIX) or signed (old Sun tars). */
static bool checksum_ok(const unsigned char *h)
{
        uint64_t want;
        long us = 0, ss = 0;

        if (parse_num(h + 148, 8, &want) < 0)
                return false;
        for (size_t i = 0; i < BLOCK; i++) {
                unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];

                us += c;
                ss += (signed char) c;
        }
        return want == (uint64_t) us || want == (uint64_t) ss;
}

static bool all_zero(const unsigned char *h)
{
        for (size_t i = 0; i < BLOCK; i++)
                if (h[i])
                        return false;
        return true;
}

/* The data of a 'L', 'K' or 'x' header, whole, with a NUL after it. */
static int read_meta(struct img_tar *t, uint64_t size, uint64_t max, char **ret,
                     struct uvm_error **err)
{
        _cleanup_free_ char *buf = NULL;
        int r;

        if (size >= max)
                return uvm_error_set(err, EINVAL, "layer tar has a %llu-byte extended header",
                                     (unsigned long long) size);
        buf = malloc((size_t) size + 1);
        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = read_exact(t, buf, (size_t) size, "an extended header", err);
        if (r < 0)
                return r;
        buf[size] = '\0';
        r = skip(t, pad_of(size), "an extended header", err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int set_string(char **slot, const char *v, size_t n, const char *key, struct uvm_error **err)
{
        char *s;

        if (memchr(v, '\0', n) || n >= IMG_TAR_PATH_MAX)
                return uvm_error_set(err, EINVAL, "layer tar has an invalid PAX %s", key);
        s = malloc(n + 1);
        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        memcpy(s, v, n);
        s[n] = '\0';
        free(*slot);
        *slot = s;
        return 0;
}

static int parse_dec(const char *v, size_t n, uint64_t max, uint64_t *ret)
{
        uint64_t x = 0;

        if (n == 0 || n > 20)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EINVAL;
                if (x > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                x = x * 10 + (uint64_t) (v[i] - '0');
        }
        if (x > max)
                return -ERANGE;
        *ret = x;
        return 0;
}

/* "[-]SECONDS[.FRACTION]" */
static int parse_pax_time(struct img_tar *t, const char *v, size_t n)
{
        bool neg = n > 0 && v[0] == '-';
        const char *dot = memchr(v, '.', n);
        size_t int_len = (dot ? (size_t) (dot - v) : n) - neg;
        uint64_t sec, ns = 0;
        int r = parse_dec(v + neg, int_len, INT64_MAX, &sec);

        if (r < 0)
                return r;
        if (dot) {
                size_t frac = n - (size_t) (dot + 1 - v);

                for (size_t i = 0; i < 9; i++) {
                        char c = i < frac ? dot[1 + i] : '0';

                        if (c < '0' || c > '9')
                                return -EINVAL;
                        ns = ns * 10 + (uint64_t) (c - '0');
                }
        }
        /* A negative time with a fraction counts down from its second. */
        t->pax_mtime = neg ? -(int64_t) sec - (ns ? 1 : 0) : (int64_t) sec;
        t->pax_mtime_ns = (uint32_t) (neg && ns ? 1000000000 - ns : ns);
        t->pax_has_mtime = true;
        return 0;
}

static int pax_xattr(struct img_tar *t, const char *name, size_t name_len, const char *v, size_t n,
                     struct uvm_error **err)
{
        struct img_tar_xattr *x;

        if (name_len == 0 || name_len > IMG_TAR_NAME_MAX || memchr(name, '\0', name_len) ||
            n > IMG_TAR_XATTR_VALUE_MAX)
                return uvm_error_set(err, EINVAL, "layer tar has an invalid xattr record");
        /* A key given twice: the later record wins, as for any PAX key. */
        for (size_t i = 0; i < t->pax_n_xattrs; i++)
                if (strlen(t->pax_xattrs[i].name) == name_len &&
                    memcmp(t->pax_xattrs[i].name, name, name_len) == 0) {
                        x = &t->pax_xattrs[i];
                        free(x->name);
                        free(x->value);
                        *x = t->pax_xattrs[--t->pax_n_xattrs];
                        break;
                }
        if (t->pax_n_xattrs >= IMG_TAR_XATTRS_MAX)
                return uvm_error_set(err, E2BIG, "layer tar entry has more than %d xattrs",
                                     IMG_TAR_XATTRS_MAX);
        x = &t->pax_xattrs[t->pax_n_xattrs];
        x->name = malloc(name_len + 1);
        x->value = malloc(n ? n : 1);
        if (!x->name || !x->value) {
                free(x->name);
                free(x->value);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        memcpy(x->name, name, name_len);
        x->name[name_len] = '\0';
        memcpy(x->value, v, n);
        x->value_len = n;
        t->pax_n_xattrs++;
        return 0;
}

static int pax_record(struct img_tar *t, const char *k, size_t kn, const char *v, size_t n,
                      struct uvm_error **err)
{
        uint64_t x = 0;
        int r = 0;

#define KEY_IS(s) (kn == strlen(s) && memcmp(k, s, kn) == 0)
        if (kn > strlen(PAX_XATTR) && memcmp(k, PAX_XATTR, strlen(PAX_XATTR)) == 0)
                return pax_xattr(t, k + strlen(PAX_XATTR), kn - strlen(PAX_XATTR), v, n, err);
        if (kn > 11 && memcmp(k, "GNU.sparse.", 11) == 0)
                return uvm_error_set(err, EINVAL, "layer tar holds a sparse file: not supported");
        if (n == 0) /* an empty value unsets the key */
                return 0;
        if (KEY_IS("path"))
                return set_string(&t->pax_path, v, n, "path", err);
        if (KEY_IS("linkpath"))
                return set_string(&t->pax_link, v, n, "linkpath", err);
        if (KEY_IS("size")) {
                r = parse_dec(v, n, UINT64_MAX, &x);
                if (r == 0 && x > IMG_TAR_FILE_MAX)
                        return uvm_error_set(err, EFBIG, "layer tar entry of %llu bytes",
                                             (unsigned long long) x);
                t->pax_size = x;
                t->pax_has_size = r == 0;
        } else if (KEY_IS("uid") || KEY_IS("gid")) {
                r = parse_dec(v, n, UINT32_MAX - 1, &x);
                if (r == 0 && k[0] == 'u')
                        t->pax_uid = (uint32_t) x, t->pax_has_uid = true;
                else if (r == 0)
                        t->pax_gid = (uint32_t) x, t->pax_has_gid = true;
        } else if (KEY_IS("mtime")) {
                r = parse_pax_time(t, v, n);
        }
#undef KEY_IS
        if (r < 0)
                return uvm_error_set(err, EINVAL, "layer tar has an invalid PAX %.*s '%.*s'",
                                     (int) kn, k, (int) (n < 64 ? n : 64), v);
        return 0;
}

/* "LEN KEY=VALUE\n" records; LEN counts the whole record. */
static int parse_pax(struct img_tar *t, const char *buf, size_t size, struct uvm_error **err)
{
        size_t off = 0;

        while (off < size) {
                const char *rec = buf + off, *sp, *eq;
                uint64_t len;
                int r;

                sp = memchr(rec, ' ', size - off < 21 ? size - off : 21);
                if (!sp || parse_dec(rec, (size_t) (sp - rec), size - off, &len) < 0 ||
                    len < (uint64_t) (sp - rec) + 3 || rec[len - 1] != '\n')
                        return uvm_error_set(err, EINVAL, "layer tar has a malformed PAX record");
                eq = memchr(sp + 1, '=', (size_t) (rec + len - 1 - (sp + 1)));
                if (!eq || eq == sp + 1)
                        return uvm_error_set(err, EINVAL, "layer tar has a malformed PAX record");
                r = pax_record(t, sp + 1, (size_t) (eq - sp - 1), eq + 1,
                               (size_t) (rec + len - 1 - (eq + 1)), err);
                if (r < 0)
                        return r;
                off += (size_t) len;
        }
        return 0;
}

/* A header's NUL-padded string field. */
static void field(char *dst, const unsigned char *src, size_t len)
{
        size_t n = strnlen((const char *) src, len);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

static int header_type(char flag, const char *name, enum img_tar_type *ret)
{
        size_t n = strlen(name);

        switch (flag) {
        case '0':
        case '\0':
        case '7':
                /* Old tars mark a directory by the slash alone. */
                *ret = n > 0 && name[n - 1] == '/' ? IMG_TAR_DIR : IMG_TAR_FILE;
                return 0;
        case '1':
                *ret = IMG_TAR_HARDLINK;
                return 0;
        case '2':
                *ret = IMG_TAR_SYMLINK;
                return 0;
        case '3':
                *ret = IMG_TAR_CHAR;
                return 0;
        case '4':
                *ret = IMG_TAR_BLOCK;
                return 0;
        case '5':
                *ret = IMG_TAR_DIR;
                return 0;
        case '6':
                *ret = IMG_TAR_FIFO;
                return 0;
        default:
                return -EINVAL;
        }
}

/* Header numbers into the entry; PAX values win. */
static int header_numbers(struct img_tar *t, const unsigned char *h, uint64_t *ret_size,
                          struct uvm_error **err)
{
        struct img_tar_entry *e = &t->e;
        uint64_t mode, uid, gid, size, mtime, maj, min;

        if (parse_num(h + 100, 8, &mode) < 0 || parse_num(h + 108, 8, &uid) < 0 ||
            parse_num(h + 116, 8, &gid) < 0 || parse_num(h + 124, 12, &size) < 0 ||
            parse_num(h + 136, 12, &mtime) < 0 || parse_num(h + 329, 8, &maj) < 0 ||
            parse_num(h + 337, 8, &min) < 0)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has an invalid number",
                                     e->path);
        if (t->pax_has_size)
                size = t->pax_size;
        if (size > IMG_TAR_FILE_MAX)
                return uvm_error_set(err, EFBIG, "layer tar entry '%s' is %llu bytes", e->path,
                                     (unsigned long long) size);
        if (!t->pax_has_uid && uid >= UINT32_MAX)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has an invalid owner",
                                     e->path);
        if (!t->pax_has_gid && gid >= UINT32_MAX)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has an invalid group",
                                     e->path);
        if (!t->pax_has_mtime && mtime > INT64_MAX)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has an invalid mtime",
                                     e->path);
        if (maj > UINT32_MAX || min > UINT32_MAX)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has an invalid device",
                                     e->path);
        e->mode = (uint32_t) (mode & 07777);
        e->uid = t->pax_has_uid ? t->pax_uid : (uint32_t) uid;
        e->gid = t->pax_has_gid ? t->pax_gid : (uint32_t) gid;
        e->mtime = t->pax_has_mtime ? t->pax_mtime : (int64_t) mtime;
        e->mtime_ns = t->pax_has_mtime ? t->pax_mtime_ns : 0;
        e->dev_major = (uint32_t) maj;
        e->dev_minor = (uint32_t) min;
        *ret_size = size;
        return 0;
}

/* A real entry's header (not 'L', 'K', 'x' or 'g'): fill t->e. */
static int take_entry(struct img_tar *t, const unsigned char *h, uint64_t *ret_size,
                      struct uvm_error **err)
{
        struct img_tar_entry *e = &t->e;
        bool ustar = memcmp(h + 257,
                            "ustar\0"
                            "00",
                            8) == 0;
        char name[101], prefix[156];
        int r;

        field(name, h, 100);
        field(prefix, h + 345, 155);
        if (t->pax_path || t->long_path)
                snprintf(t->name, sizeof(t->name), "%s", t->pax_path ? t->pax_path : t->long_path);
        else if (ustar && prefix[0])
                snprintf(t->name, sizeof(t->name), "%s/%s", prefix, name);
        else
                snprintf(t->name, sizeof(t->name), "%s", name);
        if (t->pax_link || t->long_link)
                snprintf(t->link, sizeof(t->link), "%s", t->pax_link ? t->pax_link : t->long_link);
        else
                field(t->link, h + 157, 100);
        e->path = t->name;
        e->link = t->link;
        if (header_type((char) h[156], t->name, &e->type) < 0)
                return uvm_error_set(err, EINVAL, "layer tar entry '%s' has unsupported type '%c'",
                                     t->name, h[156] >= 0x20 && h[156] < 0x7f ? h[156] : '?');
        r = header_numbers(t, h, ret_size, err);
        if (r < 0)
                return r;
        e->size = e->type == IMG_TAR_FILE ? *ret_size : 0;
        memcpy(e->xattrs, t->pax_xattrs, sizeof(e->xattrs));
        e->n_xattrs = t->pax_n_xattrs;
        t->pax_n_xattrs = 0;
        overrides_clear(t);
        return 0;
}

/* One 512-byte header: 1 with an entry, 2 after an extension header, 0 at
 * the end, -errno. */
static int one_header(struct img_tar *t, struct uvm_error **err)
{
        unsigned char h[BLOCK];
        uint64_t size = 0;
        size_t got;
        char *buf = NULL;
        int r = read_some(t, h, BLOCK, &got, err);

        if (r < 0)
                return r;
        if (got == 0 || all_zero(h)) /* the end, with or without its marker */
                return got == 0 || got == BLOCK ? 0
                                                : uvm_error_set(err, EINVAL, "layer tar truncated");
        if (got != BLOCK)
                return uvm_error_set(err, EINVAL, "layer tar is truncated in a header");
        if (!checksum_ok(h))
                return uvm_error_set(err, EINVAL, "layer tar header at byte %llu: bad checksum",
                                     (unsigned long long) (t->offset - BLOCK));
        if (h[156] != 'L' && h[156] != 'K' && h[156] != 'x' && h[156] != 'g') {
                r = take_entry(t, h, &size, err);
                if (r < 0)
                        return r;
                t->remaining = size;
                t->padding = pad_of(size);
                return 1;
        }
        if (parse_num(h + 124, 12, &size) < 0)
                return uvm_error_set(err, EINVAL, "layer tar extended header has a bad size");
        if (h[156] == 'g') {
                if (size > IMG_TAR_PAX_MAX)
                        return uvm_error_set(err, EINVAL, "layer tar global header too large");
                r = skip(t, size + pad_of(size), "a global header", err);
                return r < 0 ? r : 2;
        }
        r = read_meta(t, size, h[156] == 'x' ? IMG_TAR_PAX_MAX : IMG_TAR_PATH_MAX, &buf, err);
        if (r < 0)
                return r;
        if (h[156] == 'x') {
                r = parse_pax(t, buf, (size_t) size, err);
                free(buf);
                return r < 0 ? r : 2;
        }
        free(h[156] == 'L' ? t->long_path : t->long_link);
        *(h[156] == 'L' ? &t->long_path : &t->long_link) = buf;
        return 2;
}

static int drain(struct img_tar *t, struct uvm_error **err)
{
        char buf[8192];
        size_t got;
        int r;

        do
                r = read_some(t, buf, sizeof(buf), &got, err);
        while (r >= 0 && got > 0);
        return r < 0 ? r : 0;
}

int img_tar_next(struct img_tar *t, struct img_tar_entry **ret_entry, struct uvm_error **err)
{
        int r;

        if (t->done)
                return 0;
        r = skip(t, t->remaining + t->padding, "file data", err);
        if (r < 0)
                return r;
        t->remaining = t->padding = 0;
        xattrs_clear(t->e.xattrs, &t->e.n_xattrs);
        do
                r = one_header(t, err);
        while (r == 2);
        if (r == 0) {
                if (t->long_path || t->long_link || t->pax_path || t->pax_link)
                        return uvm_error_set(err, EINVAL,
                                             "layer tar ends after an extended header");
                t->done = true;
                /* The rest (the second zero block, the record's padding) is
                 * read too: a caller hashing the stream for the layer's diff
                 * id through its source sees every byte. */
                return drain(t, err);
        }
        if (r < 0)
                return r;
        *ret_entry = &t->e;
        return 1;
}

int img_tar_read(struct img_tar *t, void *buf, size_t n, struct uvm_error **err)
{
        int r;

        if (n > t->remaining)
                return uvm_error_set(err, EINVAL, "read past the data of '%s'", t->e.path);
        r = read_exact(t, buf, n, "file data", err);
        if (r < 0)
                return r;
        t->remaining -= n;
        return 0;
}
