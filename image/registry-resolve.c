/* reg_resolve_image: what a reference names, down to one image manifest
 * (an index is resolved to the entry for the platform asked). Shared by
 * Linux's pull.c and Windows' pull_win.c. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "image/manifest.h"
#include "image/registry.h"

int reg_resolve_image(struct reg_client *c, const struct img_ref *ref,
                      const struct img_registry_auth *auth, const char *os, const char *arch,
                      char **ret_body, size_t *ret_len, char ret_digest[IMG_DIGEST_LEN + 1],
                      char ret_top_digest[IMG_DIGEST_LEN + 1], uint64_t *ret_fetched,
                      struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *mt = NULL;
        struct img_index ix = {0};
        size_t len;
        int r, pick;

        *ret_fetched = 0;
        r = reg_get_manifest(c, ref, ref->digest ? ref->digest : ref->tag, auth, &body, &len, &mt,
                             ret_top_digest, err);
        if (r < 0)
                return r;
        *ret_fetched += len;
        switch (img_manifest_sniff(body, len, mt)) {
        case IMG_MEDIA_OCI_MANIFEST:
        case IMG_MEDIA_DOCKER_MANIFEST:
                memcpy(ret_digest, ret_top_digest, IMG_DIGEST_LEN + 1);
                *ret_body = TAKE_PTR(body);
                *ret_len = len;
                return 0;
        case IMG_MEDIA_OCI_INDEX:
        case IMG_MEDIA_DOCKER_LIST:
                break;
        default:
                return uvm_error_set(err, ENOTSUP, "unsupported manifest media type \"%s\"",
                                     mt ? mt : "");
        }
        r = img_index_parse(body, len, &ix, err);
        if (r < 0)
                return r;
        pick = img_index_select(&ix, os, arch, NULL);
        if (pick < 0) {
                img_index_clear(&ix);
                return uvm_error_set(err, ENOENT, "no %s/%s image in the index", os, arch);
        }
        free(TAKE_PTR(mt));
        free(TAKE_PTR(body));
        r = reg_get_manifest(c, ref, ix.manifests[pick].digest, auth, &body, &len, &mt, ret_digest,
                             err);
        img_index_clear(&ix);
        if (r < 0)
                return r;
        *ret_fetched += len;
        r = img_manifest_sniff(body, len, mt);
        if (r != IMG_MEDIA_OCI_MANIFEST && r != IMG_MEDIA_DOCKER_MANIFEST)
                return uvm_error_set(err, ENOTSUP, "index entry is not an image manifest");
        *ret_body = TAKE_PTR(body);
        *ret_len = len;
        return 0;
}
