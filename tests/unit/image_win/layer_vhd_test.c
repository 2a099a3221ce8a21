/* img_layer_vhd, portable (also run under Wine): a tar built here, gzipped
 * with zlib (one member or two), turned into an erofs VHD in memory; the
 * digests it reports and checks, the footer and the superblock; refusals
 * of a wrong blob digest, a wrong diff id, a damaged or cut gzip stream. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/error.h"
#include "image/digest.h"
#include "image/layer_vhd.h"
#include "image/vhd.h"

struct buf {
        unsigned char *p;
        size_t len, cap, pos;
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

static void octal(char *f, size_t n, unsigned long long v)
{
        snprintf(f, n, "%0*llo", (int) n - 1, v);
}

static void tar_entry(struct buf *b, const char *name, char type, const char *data, size_t n)
{
        char h[512] = {0};
        unsigned sum = 0;
        static const char zero[512];

        snprintf(h, 100, "%s", name);
        octal(h + 100, 8, type == '5' ? 0755 : 0644);
        octal(h + 108, 8, 0);
        octal(h + 116, 8, 0);
        octal(h + 124, 12, n);
        octal(h + 136, 12, 1700000000);
        memset(h + 148, ' ', 8);
        h[156] = type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        for (size_t i = 0; i < 512; i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);
        put(b, h, 512);
        put(b, data, n);
        if (n % 512)
                put(b, zero, 512 - n % 512);
}

static struct buf make_tar(void)
{
        struct buf b = {0};
        static const char zero[1024];

        tar_entry(&b, "etc/", '5', "", 0);
        tar_entry(&b, "etc/hello", '0', "hello, layer\n", 13);
        put(&b, zero, sizeof(zero));
        return b;
}

static void gzip_into(struct buf *out, const unsigned char *p, size_t n)
{
        z_stream z = {0};
        unsigned char chunk[4096];
        int rc;

        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                         Z_OK);
        z.next_in = (unsigned char *) p;
        z.avail_in = (uInt) n;
        do {
                z.next_out = chunk;
                z.avail_out = sizeof(chunk);
                rc = deflate(&z, Z_FINISH);
                put(out, chunk, sizeof(chunk) - z.avail_out);
        } while (rc == Z_OK);
        assert_int_equal(rc, Z_STREAM_END);
        deflateEnd(&z);
}

/* A source handing out a few bytes at a time. */
static int src_read(void *ctx, void *dst, size_t n, size_t *ret_n)
{
        struct buf *b = ctx;
        size_t left = b->len - b->pos;

        if (n > 777)
                n = 777;
        *ret_n = n < left ? n : left;
        memcpy(dst, b->p + b->pos, *ret_n);
        b->pos += *ret_n;
        return 0;
}

static int sink_write(void *ctx, const void *p, size_t n, uint64_t off)
{
        struct buf *b = ctx;

        if (off + n > b->cap) {
                b->cap = (size_t) (off + n) * 2;
                b->p = realloc(b->p, b->cap);
                assert_non_null(b->p);
        }
        if (off > b->len)
                memset(b->p + b->len, 0, (size_t) off - b->len);
        memcpy(b->p + off, p, n);
        if (off + n > b->len)
                b->len = (size_t) (off + n);
        return 0;
}

static int run(struct buf *blob, const struct img_layer_vhd_want *want, struct buf *out,
               struct img_layer_vhd_stats *st, struct uvm_error **err)
{
        struct img_tar_source src = {src_read, blob};
        struct img_erofs_sink sink = {sink_write, out};

        blob->pos = 0;
        out->len = 0;
        return img_layer_vhd(&src, want, &sink, st, err);
}

static uint32_t le32(const unsigned char *p)
{
        return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
}

static void test_gzip_layer(void **state)
{
        struct buf tar = make_tar(), gz = {0}, out = {0};
        char diff[IMG_DIGEST_LEN + 1], blob[IMG_DIGEST_LEN + 1];
        struct img_layer_vhd_want want = {.gzip = true, .uuid = {1, 2, 3}};
        struct img_layer_vhd_stats st;
        struct uvm_error *err = NULL;

        (void) state;
        gzip_into(&gz, tar.p, tar.len);
        img_digest_buf(tar.p, tar.len, diff);
        img_digest_buf(gz.p, gz.len, blob);
        want.diff_id = diff;
        want.blob_digest = blob;
        assert_int_equal(run(&gz, &want, &out, &st, &err), 0);
        assert_string_equal(st.diff_id, diff);
        assert_string_equal(st.blob_digest, blob);
        assert_int_equal(st.tar_bytes, tar.len);
        assert_int_equal(st.blob_bytes, gz.len);
        assert_int_equal(st.file_bytes, out.len);
        assert_int_equal(out.len % 512, 0);
        assert_int_equal((out.len - 512) % 4096, 0);
        assert_memory_equal(out.p + out.len - 512, "conectix", 8);
        assert_int_equal(le32(out.p + 1024), 0xE0F5E1E2u); /* erofs' magic */
        free(tar.p);
        free(gz.p);
        free(out.p);
}

/* Two gzip members in a row, and a plain tar: the same diff id. */
static void test_members_and_plain(void **state)
{
        struct buf tar = make_tar(), gz = {0}, out = {0};
        char diff[IMG_DIGEST_LEN + 1];
        struct img_layer_vhd_want want = {.gzip = true};
        struct img_layer_vhd_stats st;
        struct uvm_error *err = NULL;

        (void) state;
        gzip_into(&gz, tar.p, 1024);
        gzip_into(&gz, tar.p + 1024, tar.len - 1024);
        img_digest_buf(tar.p, tar.len, diff);
        want.diff_id = diff;
        assert_int_equal(run(&gz, &want, &out, &st, &err), 0);
        assert_string_equal(st.diff_id, diff);
        want.gzip = false;
        want.blob_digest = diff; /* a plain tar's blob is its diff */
        assert_int_equal(run(&tar, &want, &out, &st, &err), 0);
        assert_string_equal(st.blob_digest, diff);
        free(tar.p);
        free(gz.p);
        free(out.p);
}

static void expect_refused(struct buf *blob, const struct img_layer_vhd_want *want,
                           const char *needle)
{
        struct buf out = {0};
        struct img_layer_vhd_stats st;
        struct uvm_error *err = NULL;

        assert_int_equal(run(blob, want, &out, &st, &err), -EBADMSG);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("\"%s\" lacks \"%s\"", err->msg, needle);
        uvm_error_free(err);
        free(out.p);
}

static void test_refusals(void **state)
{
        struct buf tar = make_tar(), gz = {0}, cut;
        char diff[IMG_DIGEST_LEN + 1], other[IMG_DIGEST_LEN + 1];
        struct img_layer_vhd_want want = {.gzip = true};

        (void) state;
        gzip_into(&gz, tar.p, tar.len);
        img_digest_buf(tar.p, tar.len, diff);
        img_digest_buf("x", 1, other);
        want.diff_id = other;
        expect_refused(&gz, &want, "diff id");
        want.diff_id = diff;
        want.blob_digest = other;
        expect_refused(&gz, &want, "blob's digest");
        want.blob_digest = NULL;
        cut = gz;
        cut.len = gz.len - 10;
        expect_refused(&cut, &want, "cut short");
        gz.p[gz.len / 2] ^= 0x55;
        gz.p[gz.len / 2 + 1] ^= 0x55;
        {
                struct buf out = {0};
                struct img_layer_vhd_stats st;
                struct uvm_error *err = NULL;
                /* Damage inflate notices, or a tar that no longer matches. */
                assert_true(run(&gz, &want, &out, &st, &err) < 0);
                uvm_error_free(err);
                free(out.p);
        }
        free(tar.p);
        free(gz.p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gzip_layer),
                cmocka_unit_test(test_members_and_plain),
                cmocka_unit_test(test_refusals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
