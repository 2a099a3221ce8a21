#pragma once

/*
 * Registry client (OCI distribution / Docker Registry HTTP API v2; libcurl on
 * Linux, WinHTTP on Windows).
 * HTTPS unless the host is in the insecure list; mirrors are tried first, in
 * order, then the registry itself. Auth: anonymous, basic (username/password
 * or the "auth" field), identity token, registry token, and bearer tokens
 * fetched from the realm in a WWW-Authenticate challenge (cached per
 * repository scope). Transient failures (connect errors, 5xx, 429) are
 * retried with backoff.
 *
 * Errors: -ENOENT unknown manifest or blob, -EKEYREJECTED unauthorized,
 * -EAGAIN unreachable, -EBADMSG digest or size mismatch, -ENOTSUP
 * unsupported media type, -ENOSPC disk full, -ETIMEDOUT, -EFBIG too large.
 */

#include <errno.h>
#include <stdint.h>

#include "common/error.h"
#include "image/digest.h"
#include "image/image.h"
#include "image/ref.h"

#ifdef _WIN32
/* mingw-w64's errno.h lacks these two; numbers clear of its own. */
#ifndef EKEYREJECTED
#define EKEYREJECTED 1129
#endif
#ifndef EDQUOT
#define EDQUOT 1122
#endif
#endif

struct reg_client;

struct reg_options {
        char *const *insecure_registries; /* hosts ("127.0.0.1:5000"), NULL-terminated */
        char *const *mirrors;             /* "registry=https://m1,http://m2", NULL-terminated */
        unsigned timeout_ms;              /* per request, 0 = 10 minutes */
        unsigned retries;                 /* transient retries, 0 = 3 */
        const char *proxy;                /* "http://host:port"; NULL: none on Windows,
                                             libcurl's environment variables on Linux */
};

int reg_client_new(const struct reg_options *o, struct reg_client **ret, struct uvm_error **err);
struct reg_client *reg_client_free(struct reg_client *c);

/* GET /v2/<path>/manifests/<reference> (reference: ref->digest if set, else
 * ref->tag) with our Accept list. The body is bounded by IMG_MAX_JSON and,
 * when fetched by digest, verified. ret_digest: the body's sha256. */
int reg_get_manifest(struct reg_client *c, const struct img_ref *ref, const char *reference,
                     const struct img_registry_auth *auth, char **ret_body, size_t *ret_len,
                     char **ret_media_type, char ret_digest[IMG_DIGEST_LEN + 1],
                     struct uvm_error **err);

/* GET /v2/<path>/blobs/<digest> into dest_path (created, 0644), verifying
 * size and digest as it streams; on any failure dest_path is removed. */
int reg_get_blob(struct reg_client *c, const struct img_ref *ref, const char *digest, int64_t size,
                 const struct img_registry_auth *auth, const char *dest_path,
                 struct uvm_error **err);

/* What ref names, down to one image manifest: an index (manifest list) is
 * resolved to its os/arch entry (LCOW and Linux run linux/amd64).
 * ret_top_digest: the digest of what ref itself names (the index's, for
 * RepoDigests); ret_digest: the manifest's; *ret_fetched: manifest bytes
 * downloaded. */
int reg_resolve_image(struct reg_client *c, const struct img_ref *ref,
                      const struct img_registry_auth *auth, const char *os, const char *arch,
                      char **ret_body, size_t *ret_len, char ret_digest[IMG_DIGEST_LEN + 1],
                      char ret_top_digest[IMG_DIGEST_LEN + 1], uint64_t *ret_fetched,
                      struct uvm_error **err);
