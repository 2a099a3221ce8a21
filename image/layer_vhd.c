/* A layer blob to an erofs VHD (layer_vhd.h): zlib's inflate between the
 * blob and the tar reader, a hasher on each side of it. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/error.h"
#include "common/macros.h"
#include "image/layer_vhd.h"
#include "image/vhd.h"

#define IN_BUF (64u << 10)

struct unzip {
        const struct img_tar_source *in;
        bool gzip;
        z_stream z;
        bool member_end; /* the last inflate ended a gzip member */
        bool eof;        /* the blob has no more bytes */
        int failed;      /* -errno once the stream went wrong */
        const char *why;
        struct img_hasher *blob, *tar;
        uint64_t blob_bytes, tar_bytes;
        unsigned char buf[IN_BUF];
};

static int fill(struct unzip *u)
{
        size_t got = 0;
        int r = u->in->read(u->in->ctx, u->buf, sizeof(u->buf), &got);

        if (r < 0)
                return r;
        if (got == 0) {
                u->eof = true;
                return 0;
        }
        img_hasher_update(u->blob, u->buf, got);
        u->blob_bytes += got;
        u->z.next_in = u->buf;
        u->z.avail_in = (uInt) got;
        return 0;
}

static int fail(struct unzip *u, int r, const char *why)
{
        u->failed = r;
        u->why = why;
        return r;
}

/* Inflate into out until something comes out or the blob ends; several
 * gzip members follow one another (what pigz and some builders write). */
static int inflate_some(struct unzip *u, void *out, size_t n, size_t *ret_n)
{
        if (n == 0)
                return 0;
        u->z.next_out = out;
        u->z.avail_out = (uInt) (n > (1u << 30) ? 1u << 30 : n);
        n = u->z.avail_out;
        while (u->z.avail_out == n) {
                int rc;

                if (u->z.avail_in == 0 && !u->eof) {
                        int r = fill(u);
                        if (r < 0)
                                return fail(u, r, "read the blob");
                        continue;
                }
                if (u->z.avail_in == 0) {
                        if (!u->member_end)
                                return fail(u, -EBADMSG, "the gzip stream is cut short");
                        break;
                }
                if (u->member_end) {
                        if (inflateReset(&u->z) != Z_OK)
                                return fail(u, -EBADMSG, "gzip: reset");
                        u->member_end = false;
                }
                rc = inflate(&u->z, Z_NO_FLUSH);
                if (rc == Z_STREAM_END)
                        u->member_end = true;
                else if (rc == Z_MEM_ERROR)
                        return fail(u, -ENOMEM, "gzip: out of memory");
                else if (rc != Z_OK && rc != Z_BUF_ERROR)
                        return fail(u, -EBADMSG, "the gzip stream is damaged");
        }
        *ret_n = n - u->z.avail_out;
        return 0;
}

static int unzip_read(void *ctx, void *out, size_t n, size_t *ret_n)
{
        struct unzip *u = ctx;
        int r;

        *ret_n = 0;
        if (u->failed)
                return u->failed;
        if (u->gzip) {
                r = inflate_some(u, out, n, ret_n);
        } else {
                r = u->in->read(u->in->ctx, out, n, ret_n);
                if (r >= 0) {
                        img_hasher_update(u->blob, out, *ret_n);
                        u->blob_bytes += *ret_n;
                }
        }
        if (r < 0)
                return r;
        img_hasher_update(u->tar, out, *ret_n);
        u->tar_bytes += *ret_n;
        return 0;
}

/* Whatever the tar reader left (there should be nothing) is still part of
 * both digests. */
static int drain(struct unzip *u)
{
        unsigned char buf[16384];
        size_t got;
        int r;

        do
                r = unzip_read(u, buf, sizeof(buf), &got);
        while (r >= 0 && got > 0);
        return r;
}

static int check(struct uvm_error **err, const char *what, const char *want, const char *got)
{
        if (!want || strcmp(want, got) == 0)
                return 0;
        return uvm_error_set(err, EBADMSG, "%s is %s, expected %s", what, got, want);
}

static int convert(struct unzip *u, const struct img_layer_vhd_want *want,
                   const struct img_erofs_sink *out, struct img_layer_vhd_stats *st,
                   struct uvm_error **err)
{
        struct img_tar_source src = {unzip_read, u};
        struct img_erofs_opts opts = {0};
        struct img_erofs_stats es;
        int r;

        memcpy(opts.uuid, want->uuid, sizeof(opts.uuid));
        r = img_erofs_from_tar(&src, out, &opts, &es, err);
        if (r < 0 && u->failed) {
                uvm_error_free(*err);
                *err = NULL;
                return uvm_error_set(err, -u->failed, "layer blob: %s", u->why);
        }
        if (r >= 0 && (r = drain(u)) < 0)
                return uvm_error_set(err, -r, "layer blob: %s", u->why ? u->why : "read");
        if (r < 0)
                return r;
        img_hasher_final(u->blob, st->blob_digest);
        img_hasher_final(u->tar, st->diff_id);
        st->blob_bytes = u->blob_bytes;
        st->tar_bytes = u->tar_bytes;
        /* The blob first: a diff id is meaningless over the wrong blob. */
        if ((r = check(err, "the layer blob's digest", want->blob_digest, st->blob_digest)) < 0 ||
            (r = check(err, "the uncompressed layer's digest (its diff id)", want->diff_id,
                       st->diff_id)) < 0)
                return r;
        return img_vhd_append(out, es.image_bytes, &st->file_bytes, err);
}

int img_layer_vhd(const struct img_tar_source *src, const struct img_layer_vhd_want *want,
                  const struct img_erofs_sink *out, struct img_layer_vhd_stats *ret_stats,
                  struct uvm_error **err)
{
        struct unzip *u = calloc(1, sizeof(*u));
        struct img_layer_vhd_stats st = {0};
        int r;

        if (!u)
                return uvm_error_set(err, ENOMEM, "out of memory");
        u->in = src;
        u->gzip = want->gzip;
        u->blob = img_hasher_new();
        u->tar = img_hasher_new();
        r = u->blob && u->tar ? 0 : -ENOMEM;
        /* 16 + 15: a gzip wrapper only, the largest window. */
        if (r >= 0 && u->gzip && inflateInit2(&u->z, 16 + MAX_WBITS) != Z_OK)
                r = -ENOMEM;
        if (r < 0) {
                img_hasher_free(u->blob);
                img_hasher_free(u->tar);
                free(u);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = convert(u, want, out, &st, err);
        if (u->gzip)
                inflateEnd(&u->z);
        img_hasher_free(u->blob);
        img_hasher_free(u->tar);
        free(u);
        if (r >= 0 && ret_stats)
                *ret_stats = st;
        return r;
}
