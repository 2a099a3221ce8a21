/* img_erofs_from_tar and the VHD footer, portable (also run under Wine):
 * tars built here in memory, fed a few bytes at a time; the image read
 * back with a small erofs reader of this test's own (superblock checksum,
 * root directory, a file's inode and packed data); refusals of hostile or
 * absurd tars; sink and source errors passed on. The kernel's view of real
 * images is tests/integration/test_erofs_writer.py's. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "image/erofs_write.h"
#include "image/vhd.h"

/* ---- tars in memory ---- */

struct buf {
        unsigned char *p;
        size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 4096;
                b->p = realloc(b->p, b->cap);
                assert_non_null(b->p);
        }
        memcpy(b->p + b->len, p, n);
        b->len += n;
}

static void pad512(struct buf *b)
{
        static const unsigned char zero[512];

        put(b, zero, (512 - b->len % 512) % 512);
}

static void octal(unsigned char *f, size_t len, uint64_t v)
{
        char tmp[32];

        snprintf(tmp, sizeof(tmp), "%0*llo", (int) len - 1, (unsigned long long) v);
        memcpy(f, tmp, len - 1);
}

static void header(struct buf *b, const char *name, char type, uint64_t size, const char *link,
                   unsigned mode, unsigned uid)
{
        unsigned char h[512] = {0};
        unsigned sum = 0;

        memcpy(h, name, strnlen(name, 100));
        octal(h + 100, 8, mode);
        octal(h + 108, 8, uid);
        octal(h + 116, 8, 0);
        octal(h + 124, 12, size);
        octal(h + 136, 12, 1700000000);
        h[156] = (unsigned char) type;
        if (link)
                memcpy(h + 157, link, strnlen(link, 100));
        memcpy(h + 257,
               "ustar\0"
               "00",
               8);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        octal(h + 148, 7, sum);
        put(b, h, 512);
}

static void file(struct buf *b, const char *name, const char *data)
{
        header(b, name, '0', strlen(data), NULL, 0644, 0);
        put(b, data, strlen(data));
        pad512(b);
}

static void pax(struct buf *b, const char *records)
{
        header(b, "PaxHeader", 'x', strlen(records), NULL, 0644, 0);
        put(b, records, strlen(records));
        pad512(b);
}

/* One "LEN key=value\n" record, LEN counting itself. */
static void pax_kv(struct buf *b, const char *key, const char *value)
{
        char rec[1024];
        size_t body = strlen(key) + strlen(value) + 3, len = body + 1;

        while (len != body + (size_t) snprintf(rec, sizeof(rec), "%zu", len))
                len = body + (size_t) snprintf(rec, sizeof(rec), "%zu", len);
        snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, value);
        assert_int_equal(strlen(rec), len);
        pax(b, rec);
}

static void end(struct buf *b)
{
        static const unsigned char zero[1024];

        put(b, zero, sizeof(zero));
}

/* ---- source and sink ---- */

struct src {
        const struct buf *b;
        size_t off, chunk;
        int fail_at; /* -1: never */
};

static int src_read(void *ctx, void *p, size_t n, size_t *ret_n)
{
        struct src *s = ctx;
        size_t k = s->b->len - s->off;

        if (s->fail_at >= 0 && s->off >= (size_t) s->fail_at)
                return -EIO;
        if (k > n)
                k = n;
        if (k > s->chunk)
                k = s->chunk;
        memcpy(p, s->b->p + s->off, k);
        s->off += k;
        *ret_n = k;
        return 0;
}

struct sink {
        struct buf img;
        int fail;
        uint64_t last_off;
        int backwards; /* writes that went back, besides block 0's */
};

static int sink_write(void *ctx, const void *p, size_t n, uint64_t off)
{
        struct sink *s = ctx;

        if (s->fail)
                return -s->fail;
        if (off < s->last_off && off != 0)
                s->backwards++;
        s->last_off = off + n;
        if (off + n > s->img.cap) {
                s->img.cap = (size_t) (off + n) * 2;
                s->img.p = realloc(s->img.p, s->img.cap);
                assert_non_null(s->img.p);
        }
        if (off > s->img.len)
                memset(s->img.p + s->img.len, 0, (size_t) off - s->img.len);
        memcpy(s->img.p + off, p, n);
        if (off + n > s->img.len)
                s->img.len = (size_t) (off + n);
        return 0;
}

static int convert(const struct buf *tar, struct sink *sk, const struct img_erofs_opts *opts,
                   struct uvm_error **err)
{
        struct src s = {tar, 0, 7, -1};
        struct img_tar_source in = {src_read, &s};
        struct img_erofs_sink out = {sink_write, sk};
        struct img_erofs_opts none = {0};
        struct img_erofs_stats st;

        return img_erofs_from_tar(&in, &out, opts ? opts : &none, &st, err);
}

/* ---- a small erofs reader ---- */

static uint32_t le16(const unsigned char *p)
{
        return p[0] | (uint32_t) p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
        return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const unsigned char *p)
{
        return le32(p) | (uint64_t) le32(p + 4) << 32;
}

static uint32_t crc32c_raw(uint32_t c, const unsigned char *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        }
        return c;
}

struct inode {
        const unsigned char *raw;
        uint32_t mode, layout, nlink;
        uint64_t size;
        uint32_t blkaddr;
        const unsigned char *inline_data; /* after inode and xattrs */
};

static struct inode read_inode(const struct buf *img, uint64_t nid)
{
        const unsigned char *p = img->p + nid * 32;
        struct inode i = {.raw = p};
        int ext = le16(p) & 1;
        uint32_t icount = le16(p + 2), isize = ext ? 64 : 32;

        assert_true(nid * 32 + isize <= img->len);
        i.layout = (le16(p) >> 1) & 7;
        i.mode = le16(p + 4);
        i.size = ext ? le64(p + 8) : le32(p + 8);
        i.nlink = ext ? le32(p + 44) : le16(p + 6);
        i.blkaddr = le32(p + 16);
        i.inline_data = p + isize + (icount ? 12 + 4 * (icount - 1) : 0);
        return i;
}

/* The nid of name in directory d (inline or in blocks), or 0. */
static uint64_t dir_lookup(const struct buf *img, const struct inode *d, const char *name)
{
        for (uint64_t off = 0; off < d->size; off += 4096) {
                uint64_t left = d->size - off, blk_len = left < 4096 ? left : 4096;
                const unsigned char *b =
                        d->layout == 2 && left < 4096
                                ? d->inline_data
                                : img->p + (uint64_t) (d->blkaddr + off / 4096) * 4096;
                uint32_t n = le16(b + 8) / 12;

                for (uint32_t k = 0; k < n; k++) {
                        uint32_t no = le16(b + 12 * k + 8);
                        uint32_t ne = k + 1 < n ? le16(b + 12 * (k + 1) + 8) : (uint32_t) blk_len;

                        while (k + 1 == n && ne > no && b[ne - 1] == 0)
                                ne--;
                        if (ne - no == strlen(name) && memcmp(b + no, name, ne - no) == 0)
                                return le64(b + 12 * k);
                }
        }
        return 0;
}

static struct inode root_of(const struct buf *img)
{
        const unsigned char *sb = img->p + 1024;
        unsigned char copy[4096 - 1024];

        assert_true(img->len >= 4096);
        assert_int_equal(le32(sb), 0xE0F5E1E2u);
        assert_int_equal(sb[12], 12);
        assert_int_equal((uint64_t) le32(sb + 36) * 4096, img->len);
        memcpy(copy, sb, sizeof(copy));
        memset(copy + 4, 0, 4);
        assert_int_equal(crc32c_raw(~0u, copy, sizeof(copy)), le32(sb + 4));
        return read_inode(img, le16(sb + 14));
}

static struct inode path_inode(const struct buf *img, const char *path)
{
        struct inode i = root_of(img);
        char tmp[512];

        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                uint64_t nid;

                memcpy(tmp, p, n);
                tmp[n] = '\0';
                nid = dir_lookup(img, &i, tmp);
                assert_true(nid != 0);
                i = read_inode(img, nid);
                p += n + (p[n] == '/');
        }
        return i;
}

/* ---- tests ---- */

static void test_crc_vector(void **state)
{
        (void) state;
        /* CRC-32C check value of "123456789" is 0xE3069283 (final XOR on). */
        assert_int_equal(~crc32c_raw(~0u, (const unsigned char *) "123456789", 9), 0xE3069283u);
}

static void test_small_layer_reads_back(void **state)
{
        struct buf tar = {0};
        struct sink sk = {0};
        struct uvm_error *err = NULL;
        struct inode i;
        char big[5000];

        (void) state;
        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        header(&tar, "etc/", '5', 0, NULL, 0755, 0);
        file(&tar, "etc/hello", "hello\n");
        file(&tar, "etc/big", big);
        header(&tar, "etc/link", '2', 0, "hello", 0777, 0);
        header(&tar, "etc/hard", '1', 0, "etc/hello", 0644, 0);
        header(&tar, "etc/.wh.gone", '0', 0, NULL, 0644, 0);
        end(&tar);
        assert_int_equal(convert(&tar, &sk, NULL, &err), 0);
        assert_null(err);
        assert_int_equal(sk.backwards, 0);
        i = root_of(&sk.img);
        assert_int_equal(i.mode & 0170000, 0040000);
        i = path_inode(&sk.img, "etc/hello");
        assert_int_equal(i.mode, 0100644);
        assert_int_equal(i.size, 6);
        assert_int_equal(i.nlink, 2);
        assert_int_equal(i.layout, 2);
        assert_memory_equal(i.inline_data, "hello\n", 6);
        i = path_inode(&sk.img, "etc/big");
        assert_int_equal(i.size, sizeof(big) - 1);
        assert_memory_equal(sk.img.p + (uint64_t) i.blkaddr * 4096, big, 4096);
        assert_memory_equal(i.inline_data, big, sizeof(big) - 1 - 4096);
        i = path_inode(&sk.img, "etc/link");
        assert_int_equal(i.mode, 0120777);
        assert_memory_equal(i.inline_data, "hello", 5);
        i = path_inode(&sk.img, "etc/gone");
        assert_int_equal(i.mode, 0020000);
        assert_int_equal(le32(i.raw + 16), 0); /* rdev 0/0 */
        assert_int_equal(dir_lookup(&sk.img, &(struct inode){0}, "x"), 0);
        free(tar.p);
        free(sk.img.p);
}

static void test_same_tar_same_image(void **state)
{
        struct buf tar = {0};
        struct sink a = {0}, b = {0};

        (void) state;
        for (int i = 0; i < 300; i++) {
                char name[64];

                snprintf(name, sizeof(name), "dir/file-%03d", 299 - i);
                file(&tar, name, name);
        }
        end(&tar);
        assert_int_equal(convert(&tar, &a, NULL, NULL), 0);
        assert_int_equal(convert(&tar, &b, NULL, NULL), 0);
        assert_int_equal(a.img.len, b.img.len);
        assert_memory_equal(a.img.p, b.img.p, a.img.len);
        /* 300 names need more than one directory block: sorted across them. */
        assert_true(path_inode(&a.img, "dir").size > 4096);
        assert_int_equal(path_inode(&a.img, "dir/file-000").size, 12);
        assert_int_equal(path_inode(&a.img, "dir/file-299").size, 12);
        free(tar.p);
        free(a.img.p);
        free(b.img.p);
}

/* A tar that must be refused with code and a message holding needle. */
static void refused(struct buf *tar, const struct img_erofs_opts *opts, int code,
                    const char *needle)
{
        struct sink sk = {0};
        struct uvm_error *err = NULL;
        int r = convert(tar, &sk, opts, &err);

        assert_int_equal(r, -code);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
        free(tar->p);
        free(sk.img.p);
        memset(tar, 0, sizeof(*tar));
}

static void test_paths_refused(void **state)
{
        struct buf tar = {0};
        char name[300];

        (void) state;
        file(&tar, "../escape", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "\"..\"");
        file(&tar, "a/b/../../../c", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "\"..\"");
        file(&tar, "/etc/passwd", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "absolute");
        memset(name, 'n', 256);
        name[256] = '\0';
        pax_kv(&tar, "path", name);
        file(&tar, "short", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "longer than 255");
        header(&tar, "hl", '1', 0, "missing", 0644, 0);
        end(&tar);
        refused(&tar, NULL, EINVAL, "not in the layer");
        file(&tar, "f", "x");
        file(&tar, "f/g", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "not a directory");
}

static void test_name_of_255_taken(void **state)
{
        struct buf tar = {0};
        struct sink sk = {0};
        char rec[600], name[300];

        (void) state;
        memset(name, 'n', 255);
        name[255] = '\0';
        snprintf(rec, sizeof(rec), "d/%s", name);
        pax_kv(&tar, "path", rec);
        file(&tar, "short", "data");
        end(&tar);
        assert_int_equal(convert(&tar, &sk, NULL, NULL), 0);
        snprintf(rec, sizeof(rec), "d/%s", name);
        assert_int_equal(path_inode(&sk.img, rec).size, 4);
        free(tar.p);
        free(sk.img.p);
}

static void test_sizes_refused(void **state)
{
        struct buf tar = {0};
        unsigned char h[512];

        (void) state;
        pax_kv(&tar, "size", "1099511627777");
        file(&tar, "huge", "x");
        end(&tar);
        refused(&tar, NULL, EFBIG, "1099511627777");
        /* base-256 size in the header itself */
        header(&tar, "huge2", '0', 0, NULL, 0644, 0);
        memcpy(h, tar.p, 512);
        memset(h + 124, 0, 12);
        h[124] = 0x80;
        h[128] = 0x7f; /* 2^63-ish */
        memset(h + 148, ' ', 8);
        {
                unsigned sum = 0;

                for (int i = 0; i < 512; i++)
                        sum += h[i];
                octal(h + 148, 7, sum);
        }
        memcpy(tar.p, h, 512);
        end(&tar);
        refused(&tar, NULL, EFBIG, "huge2");
        for (int i = 0; i < 5; i++)
                file(&tar, i % 2 ? "a" : "b", "x");
        end(&tar);
        refused(&tar, &(struct img_erofs_opts){.max_entries = 4}, EFBIG, "more than 4 entries");
        for (int i = 0; i < 100; i++) {
                char name[32];

                snprintf(name, sizeof(name), "many/f%d", i);
                file(&tar, name, "");
        }
        end(&tar);
        refused(&tar, &(struct img_erofs_opts){.max_meta = 8192}, EFBIG, "metadata is over 8192");
        pax_kv(&tar, "uid", "4294967295");
        file(&tar, "owner", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "PAX uid");
}

static void test_bad_tars_refused(void **state)
{
        struct buf tar = {0};

        (void) state;
        file(&tar, "f", "x");
        tar.p[148] ^= 1; /* checksum digit */
        end(&tar);
        refused(&tar, NULL, EINVAL, "checksum");
        header(&tar, "f", '0', 3000, NULL, 0644, 0);
        put(&tar, "short", 5);
        refused(&tar, NULL, EINVAL, "truncated");
        header(&tar, "sparse", 'S', 0, NULL, 0644, 0);
        end(&tar);
        refused(&tar, NULL, EINVAL, "unsupported type 'S'");
        pax(&tar, "22 GNU.sparse.major=1\n");
        file(&tar, "s", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "sparse");
        pax(&tar, "99 path=x\n");
        file(&tar, "p", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "malformed PAX");
        pax_kv(&tar, "path", "x");
        end(&tar);
        refused(&tar, NULL, EINVAL, "ends after an extended header");
        header(&tar, "x", '0', 0, NULL, 0644, 0);
        put(&tar, "partial header", 14);
        refused(&tar, NULL, EINVAL, "truncated");
}

static void test_xattr_bounds(void **state)
{
        struct buf tar = {0}, recs = {0};
        char rec[64];

        (void) state;
        for (int i = 0; i < 65; i++) {
                int n = snprintf(rec, sizeof(rec), "xx SCHILY.xattr.user.a%02d=v\n", i);

                rec[0] = (char) ('0' + n / 10);
                rec[1] = (char) ('0' + n % 10);
                put(&recs, rec, (size_t) n);
        }
        put(&recs, "", 1);
        pax(&tar, (const char *) recs.p);
        file(&tar, "x", "x");
        end(&tar);
        refused(&tar, NULL, E2BIG, "more than 64 xattrs");
        free(recs.p);
}

/* An xattr given twice keeps the later value, once; overlay ones and
 * unknown namespaces are dropped. */
static void test_xattr_kept_once(void **state)
{
        struct buf tar = {0};
        struct sink sk = {0};
        struct inode i;
        const unsigned char *x;

        (void) state;
        pax(&tar, "25 SCHILY.xattr.user.a=1\n25 SCHILY.xattr.user.a=2\n"
                  "41 SCHILY.xattr.trusted.overlay.opaque=y\n26 SCHILY.xattr.other.b=3\n");
        file(&tar, "f", "x");
        end(&tar);
        assert_int_equal(convert(&tar, &sk, NULL, NULL), 0);
        i = path_inode(&sk.img, "f");
        assert_int_equal(le16(i.raw + 2), 3); /* 12-byte header + one 8-byte entry */
        x = i.raw + 32 + 12;
        assert_int_equal(x[0], 1); /* name length */
        assert_int_equal(x[1], 1); /* user. */
        assert_int_equal(le16(x + 2), 1);
        assert_memory_equal(x + 4, "a2", 2);
        assert_memory_equal(i.inline_data, "x", 1);
        free(tar.p);
        free(sk.img.p);
}

static void test_errors_passed_on(void **state)
{
        struct buf tar = {0};
        struct sink sk = {.fail = ENOSPC};
        struct uvm_error *err = NULL;
        struct src s = {&tar, 0, 512, 700};
        struct img_tar_source in = {src_read, &s};
        struct img_erofs_sink out = {sink_write, &sk};
        struct img_erofs_opts o = {0};

        (void) state;
        file(&tar, "f", "data");
        end(&tar);
        assert_int_equal(convert(&tar, &sk, NULL, &err), -ENOSPC);
        assert_non_null(strstr(err->msg, "write the erofs image"));
        err = uvm_error_free(err);
        sk.fail = 0;
        assert_int_equal(img_erofs_from_tar(&in, &out, &o, NULL, &err), -EIO);
        assert_non_null(strstr(err->msg, "read the layer tar"));
        uvm_error_free(err);
        free(tar.p);
        free(sk.img.p);
}

static void test_vhd_footer(void **state)
{
        unsigned char f[512];
        uint8_t id[16] = {1, 2, 3};
        uint32_t sum = 0;
        uint16_t cyl;
        uint8_t heads, spt;
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(img_vhd_footer(1994752, id, 1000, f, NULL), 0);
        assert_memory_equal(f, "conectix", 8);
        for (int i = 0; i < 512; i++)
                sum += i >= 64 && i < 68 ? 0 : f[i];
        assert_int_equal((uint32_t) f[64] << 24 | f[65] << 16 | f[66] << 8 | f[67], ~sum);
        assert_int_equal(f[63], 2); /* fixed */
        assert_int_equal(f[47], 1994752 & 0xff);
        /* 3896 sectors: 17 per track, 4 heads, 57 cylinders. */
        assert_int_equal(f[56] << 8 | f[57], 57);
        assert_int_equal(f[58], 4);
        assert_int_equal(f[59], 17);
        assert_memory_equal(f + 68, id, 16);
        img_vhd_geometry(127ull << 30, &cyl, &heads, &spt);
        assert_int_equal(cyl, 65278); /* 266338304 sectors / 255 / 16 */
        assert_int_equal(heads, 16);
        assert_int_equal(spt, 255);
        img_vhd_geometry(128ull << 30, &cyl, &heads, &spt);
        assert_int_equal(cyl, 65535);
        assert_int_equal(img_vhd_footer(1000, id, 0, f, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(img_vhd_footer(4096ull << 30, id, 0, f, &err), -EFBIG);
        uvm_error_free(err);
}

static void test_vhd_append(void **state)
{
        struct sink sk = {0};
        struct img_erofs_sink out = {sink_write, &sk};
        uint64_t size = 0;
        int nonzero = 0;

        (void) state;
        assert_int_equal(sink_write(&sk, "abc", 3, 997), 0); /* a 1000-byte image */
        assert_int_equal(img_vhd_append(&out, 1000, &size, NULL), 0);
        assert_int_equal(size, 1024 + 512);
        assert_int_equal(sk.img.len, size);
        assert_memory_equal(sk.img.p + 1024, "conectix", 8);
        for (int i = 0; i < 16; i++)
                nonzero |= sk.img.p[1024 + 68 + i];
        assert_true(nonzero);
        assert_int_equal(sk.img.p[1000], 0);
        free(sk.img.p);
}

/* The FILE* sink and source, as the Windows store would use them. */
static void test_file_sink(void **state)
{
        struct buf tar = {0}, img = {0};
        FILE *in = tmpfile(), *out = tmpfile();
        struct img_tar_source src;
        struct img_erofs_sink sink;
        struct img_erofs_opts o = {0};
        struct img_erofs_stats st;
        long n;

        (void) state;
        if (!in || !out)
                skip();
        file(&tar, "a/b", "contents");
        end(&tar);
        assert_int_equal(fwrite(tar.p, 1, tar.len, in), tar.len);
        rewind(in);
        src = img_erofs_file_source(in);
        sink = img_erofs_file_sink(out);
        assert_int_equal(img_erofs_from_tar(&src, &sink, &o, &st, NULL), 0);
        assert_int_equal(st.tar_bytes, tar.len); /* the end marker read too */
        assert_int_equal(fseek(out, 0, SEEK_END), 0);
        n = ftell(out);
        assert_int_equal((uint64_t) n, st.image_bytes);
        rewind(out);
        img.p = malloc((size_t) n);
        img.len = (size_t) n;
        assert_int_equal(fread(img.p, 1, img.len, out), img.len);
        assert_int_equal(path_inode(&img, "a/b").size, 8);
        fclose(in);
        fclose(out);
        free(tar.p);
        free(img.p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc_vector),
                cmocka_unit_test(test_small_layer_reads_back),
                cmocka_unit_test(test_same_tar_same_image),
                cmocka_unit_test(test_paths_refused),
                cmocka_unit_test(test_name_of_255_taken),
                cmocka_unit_test(test_sizes_refused),
                cmocka_unit_test(test_bad_tars_refused),
                cmocka_unit_test(test_xattr_bounds),
                cmocka_unit_test(test_xattr_kept_once),
                cmocka_unit_test(test_errors_passed_on),
                cmocka_unit_test(test_vhd_footer),
                cmocka_unit_test(test_vhd_append),
                cmocka_unit_test(test_file_sink),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
