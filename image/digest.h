#pragma once

/* sha256 digests in OCI form, "sha256:<64 lowercase hex>" (common/sha256.h:
 * OpenSSL on Linux, CNG on Windows). */

#include <stdbool.h>
#include <stddef.h>

#define IMG_DIGEST_LEN 71 /* strlen("sha256:") + 64 */

bool img_digest_valid(const char *d);

struct img_hasher;
struct img_hasher *img_hasher_new(void); /* NULL on out-of-memory */
void img_hasher_update(struct img_hasher *h, const void *data, size_t len);
/* Writes the digest (IMG_DIGEST_LEN + NUL) and resets the hasher. */
void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1]);
struct img_hasher *img_hasher_free(struct img_hasher *h);

void img_digest_buf(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1]);
/* Returns 0 or -errno; *ret_size gets the file size when not NULL. */
int img_digest_file(const char *path, char out[IMG_DIGEST_LEN + 1], unsigned long long *ret_size);
