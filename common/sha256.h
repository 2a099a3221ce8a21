#pragma once

/*
 * SHA-256, from the platform's crypto library: OpenSSL's libcrypto on Linux
 * (sha256_openssl.c), CNG's BCrypt on Windows (sha256_win.c), so portable
 * modules (image digests) need no crypto library of their own on Windows.
 */

#include <stddef.h>

#define SHA256_LEN 32

struct sha256;

/* A new hash; NULL when out of memory (or the provider cannot start). */
struct sha256 *sha256_new(void);

/* Add data. Cannot fail on an initialised hash. */
void sha256_update(struct sha256 *h, const void *data, size_t len);

/* The digest of everything added since creation or the last final; the
 * hash is then empty again, ready for the next input. */
void sha256_final(struct sha256 *h, unsigned char out[SHA256_LEN]);

struct sha256 *sha256_free(struct sha256 *h);

/* One-shot digest of a buffer. 0, or -ENOMEM. */
int sha256_buf(const void *data, size_t len, unsigned char out[SHA256_LEN]);
