/* stream/ws-sha1.h with CNG (bcrypt.dll). */

#include <errno.h>
#include <stdbool.h>

#include <windows.h>
#include <bcrypt.h>

#include "stream/ws-sha1.h"

int ws_sha1(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[WS_SHA1_LEN])
{
        BCRYPT_ALG_HANDLE alg = NULL;
        BCRYPT_HASH_HANDLE h = NULL;
        bool ok;

        /* The inputs are a WebSocket key and a GUID: far below ULONG. */
        if (alen > 4096 || blen > 4096)
                return -EIO;
        ok = BCRYPT_SUCCESS(BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA1_ALGORITHM, NULL, 0)) &&
             BCRYPT_SUCCESS(BCryptCreateHash(alg, &h, NULL, 0, NULL, 0, 0)) &&
             BCRYPT_SUCCESS(BCryptHashData(h, (PUCHAR) a, (ULONG) alen, 0)) &&
             BCRYPT_SUCCESS(BCryptHashData(h, (PUCHAR) b, (ULONG) blen, 0)) &&
             BCRYPT_SUCCESS(BCryptFinishHash(h, out, WS_SHA1_LEN, 0));
        if (h)
                BCryptDestroyHash(h);
        if (alg)
                BCryptCloseAlgorithmProvider(alg, 0);
        return ok ? 0 : -EIO;
}
