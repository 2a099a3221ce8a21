/* stream/ws-sha1.h over OpenSSL. */

#include <errno.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "stream/ws-sha1.h"

int ws_sha1(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[WS_SHA1_LEN])
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned len = 0;
        bool ok;

        ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == WS_SHA1_LEN;
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -EIO;
}
