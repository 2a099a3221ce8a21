#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/platform.h"
#include "common/sha256.h"
#include "image/digest.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LEN 7
#define DIGEST_HEX_LEN 64
#define DIGEST_READ_CHUNK (128u * 1024)

struct img_hasher {
        struct sha256 *sha;
};

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool img_digest_valid(const char *d)
{
        if (!d || strncmp(d, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0)
                return false;
        for (size_t i = 0; i < DIGEST_HEX_LEN; i++)
                if (!is_lower_hex(d[DIGEST_PREFIX_LEN + i]))
                        return false; /* also stops at a short string's NUL */
        return d[IMG_DIGEST_LEN] == '\0';
}

/* Render a raw 32-byte sha256 in OCI form. */
static void digest_format(const unsigned char md[32], char out[IMG_DIGEST_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";

        memcpy(out, DIGEST_PREFIX, DIGEST_PREFIX_LEN);
        for (size_t i = 0; i < 32; i++) {
                out[DIGEST_PREFIX_LEN + 2 * i] = hex[md[i] >> 4];
                out[DIGEST_PREFIX_LEN + 2 * i + 1] = hex[md[i] & 0xf];
        }
        out[IMG_DIGEST_LEN] = '\0';
}

struct img_hasher *img_hasher_new(void)
{
        struct img_hasher *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->sha = sha256_new();
        if (!h->sha)
                return img_hasher_free(h);
        return h;
}

void img_hasher_update(struct img_hasher *h, const void *data, size_t len)
{
        assert(h);
        sha256_update(h->sha, data, len);
}

void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1])
{
        unsigned char md[SHA256_LEN];

        assert(h);
        sha256_final(h->sha, md);
        digest_format(md, out);
}

struct img_hasher *img_hasher_free(struct img_hasher *h)
{
        if (!h)
                return NULL;
        sha256_free(h->sha);
        free(h);
        return NULL;
}

void img_digest_buf(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
        unsigned char md[SHA256_LEN];
        int r = sha256_buf(data, len, md);

        /* fails only when the crypto library cannot allocate */
        assert(r == 0);
        (void) r;
        digest_format(md, out);
}

static void hasherp(struct img_hasher **h)
{
        img_hasher_free(*h);
}

static int digest_stream(FILE *f, struct img_hasher *h, unsigned long long *ret_size)
{
        _cleanup_free_ char *buf = malloc(DIGEST_READ_CHUNK);
        unsigned long long total = 0;
        size_t n;

        if (!buf)
                return -ENOMEM;
        while ((n = fread(buf, 1, DIGEST_READ_CHUNK, f)) > 0) {
                img_hasher_update(h, buf, n);
                total += n;
        }
        if (ferror(f))
                return -EIO;
        *ret_size = total;
        return 0;
}

int img_digest_file(const char *path, char out[IMG_DIGEST_LEN + 1], unsigned long long *ret_size)
{
        _cleanup_(hasherp) struct img_hasher *h = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long long size = 0;
        int r;

        if (!path)
                return -EINVAL;
        /* -EINVAL for a directory or FIFO: garbage, or blocking forever */
        r = plat_fopen_read(path, &f);
        if (r < 0)
                return r;
        h = img_hasher_new();
        if (!h)
                return -ENOMEM;
        r = digest_stream(f, h, &size);
        if (r < 0)
                return r;
        img_hasher_final(h, out);
        if (ret_size)
                *ret_size = size;
        return 0;
}
