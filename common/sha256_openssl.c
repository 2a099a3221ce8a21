/* common/sha256.h with OpenSSL's EVP interface (Linux). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "common/sha256.h"

struct sha256 {
        EVP_MD_CTX *ctx;
};

struct sha256 *sha256_new(void)
{
        struct sha256 *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->ctx = EVP_MD_CTX_new();
        /* sha256 init only fails when OpenSSL cannot allocate */
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                return sha256_free(h);
        return h;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
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

void sha256_final(struct sha256 *h, unsigned char out[SHA256_LEN])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        int ok;

        assert(h);
        ok = EVP_DigestFinal_ex(h->ctx, md, &n);
        assert(ok == 1 && n == SHA256_LEN);
        for (size_t i = 0; i < SHA256_LEN; i++)
                out[i] = md[i];
        /* the context was initialised once, so re-initialising it reuses it */
        ok = EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
        assert(ok == 1);
        (void) ok;
}

struct sha256 *sha256_free(struct sha256 *h)
{
        if (!h)
                return NULL;
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
}

int sha256_buf(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (EVP_Digest(len ? data : "", len, md, &n, EVP_sha256(), NULL) != 1 || n != SHA256_LEN)
                return -ENOMEM;
        for (size_t i = 0; i < SHA256_LEN; i++)
                out[i] = md[i];
        return 0;
}
