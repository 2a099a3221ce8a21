/* common/sha256.h with CNG (bcrypt.dll, Windows 8 and later). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include <windows.h>
#include <bcrypt.h>

#include "common/sha256.h"

struct sha256 {
        BCRYPT_ALG_HANDLE alg;
        BCRYPT_HASH_HANDLE hash;
};

struct sha256 *sha256_new(void)
{
        struct sha256 *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        if (!BCRYPT_SUCCESS(
                    BCryptOpenAlgorithmProvider(&h->alg, BCRYPT_SHA256_ALGORITHM, NULL, 0))) {
                h->alg = NULL;
                return sha256_free(h);
        }
        /* REUSABLE: BCryptFinishHash leaves the hash empty for the next
         * input, as sha256_final promises. */
        if (!BCRYPT_SUCCESS(BCryptCreateHash(h->alg, &h->hash, NULL, 0, NULL, 0,
                                             BCRYPT_HASH_REUSABLE_FLAG))) {
                h->hash = NULL;
                return sha256_free(h);
        }
        return h;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
        const unsigned char *p = data;

        assert(h);
        /* BCryptHashData counts in ULONG: feed large inputs in pieces. */
        while (len > 0) {
                ULONG chunk = len > (1u << 30) ? (1u << 30) : (ULONG) len;
                NTSTATUS st = BCryptHashData(h->hash, (PUCHAR) p, chunk, 0);

                assert(BCRYPT_SUCCESS(st));
                (void) st;
                p += chunk;
                len -= chunk;
        }
}

void sha256_final(struct sha256 *h, unsigned char out[SHA256_LEN])
{
        NTSTATUS st;

        assert(h);
        st = BCryptFinishHash(h->hash, out, SHA256_LEN, 0);
        assert(BCRYPT_SUCCESS(st));
        (void) st;
}

struct sha256 *sha256_free(struct sha256 *h)
{
        if (!h)
                return NULL;
        if (h->hash)
                BCryptDestroyHash(h->hash);
        if (h->alg)
                BCryptCloseAlgorithmProvider(h->alg, 0);
        free(h);
        return NULL;
}

int sha256_buf(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
        struct sha256 *h = sha256_new();

        if (!h)
                return -ENOMEM;
        sha256_update(h, data, len);
        sha256_final(h, out);
        sha256_free(h);
        return 0;
}
