#include <assert.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/macros.h"
#include "image/digest.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LEN 7
#define DIGEST_HEX_LEN 64
#define DIGEST_READ_CHUNK (128u * 1024)

struct img_hasher {
        EVP_MD_CTX *ctx;
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
        h->ctx = EVP_MD_CTX_new();
        /* sha256 init only fails when OpenSSL cannot allocate */
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                return img_hasher_free(h);
        return h;
}

void img_hasher_update(struct img_hasher *h, const void *data, size_t len)
{
        int ok;

        assert(h);
        if (len == 0)
                return;
        /* sha256 updates on an initialised context cannot fail */
        ok = EVP_DigestUpdate(h->ctx, data, len);
        assert(ok == 1);
        (void) ok;
}

void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        int ok;

        assert(h);
        ok = EVP_DigestFinal_ex(h->ctx, md, &n);
        assert(ok == 1 && n == 32);
        digest_format(md, out);
        /* the context was initialised once, so re-initialising it reuses it */
        ok = EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
        assert(ok == 1);
        (void) ok;
}

struct img_hasher *img_hasher_free(struct img_hasher *h)
{
        if (!h)
                return NULL;
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
}

void img_digest_buf(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        int ok;

        ok = EVP_Digest(len ? data : "", len, md, &n, EVP_sha256(), NULL);
        assert(ok == 1 && n == 32);
        (void) ok;
        digest_format(md, out);
}

static void hasherp(struct img_hasher **h)
{
        img_hasher_free(*h);
}

static int digest_fd(int fd, struct img_hasher *h, unsigned long long *ret_size)
{
        _cleanup_free_ char *buf = malloc(DIGEST_READ_CHUNK);
        unsigned long long total = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, DIGEST_READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                img_hasher_update(h, buf, (size_t) n);
                total += (unsigned long long) n;
        }
        *ret_size = total;
        return 0;
}

int img_digest_file(const char *path, char out[IMG_DIGEST_LEN + 1], unsigned long long *ret_size)
{
        _cleanup_(hasherp) struct img_hasher *h = NULL;
        _cleanup_close_ int fd = -1;
        unsigned long long size = 0;
        struct stat st;
        int r;

        if (!path)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* a directory or FIFO would read as garbage or block forever */
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        h = img_hasher_new();
        if (!h)
                return -ENOMEM;
        r = digest_fd(fd, h, &size);
        if (r < 0)
                return r;
        img_hasher_final(h, out);
        if (ret_size)
                *ret_size = size;
        return 0;
}
