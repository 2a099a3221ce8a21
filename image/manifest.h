#pragma once

/*
 * OCI and Docker schema 2 manifests, indexes (manifest lists) and image
 * configs, parsed with json-c. Everything is validated and bounded: digests
 * well formed, sizes non-negative, media types known, at most
 * IMG_MAX_LAYERS layers and IMG_MAX_MANIFESTS index entries.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/image.h"

#define IMG_MAX_LAYERS 256
#define IMG_MAX_MANIFESTS 1024
#define IMG_MAX_JSON (4u << 20) /* manifests and configs larger than this are refused */

enum img_media {
        IMG_MEDIA_UNKNOWN,
        IMG_MEDIA_OCI_MANIFEST,    /* application/vnd.oci.image.manifest.v1+json */
        IMG_MEDIA_OCI_INDEX,       /* application/vnd.oci.image.index.v1+json */
        IMG_MEDIA_DOCKER_MANIFEST, /* application/vnd.docker.distribution.manifest.v2+json */
        IMG_MEDIA_DOCKER_LIST,     /* application/vnd.docker.distribution.manifest.list.v2+json */
        IMG_MEDIA_OCI_CONFIG,      /* application/vnd.oci.image.config.v1+json */
        IMG_MEDIA_DOCKER_CONFIG,   /* application/vnd.docker.container.image.v1+json */
        IMG_MEDIA_LAYER_TAR,       /* oci ...layer.v1.tar */
        IMG_MEDIA_LAYER_GZIP,      /* oci ...tar+gzip, docker ...rootfs.diff.tar.gzip */
        IMG_MEDIA_LAYER_ZSTD,      /* oci ...tar+zstd */
};

enum img_media img_media_classify(const char *media_type);
/* Accept header value listing every manifest/index type we understand. */
const char *img_media_accept(void);

struct img_descriptor {
        char *media_type;
        char *digest; /* validated */
        int64_t size; /* >= 0 */
        /* index entries only (may be NULL) */
        char *os, *arch, *variant;
        char *ref_name; /* annotation org.opencontainers.image.ref.name */
};

struct img_manifest {
        enum img_media kind; /* OCI_MANIFEST or DOCKER_MANIFEST */
        struct img_descriptor config;
        struct img_descriptor *layers;
        size_t n_layers;
};

struct img_index {
        enum img_media kind; /* OCI_INDEX or DOCKER_LIST */
        struct img_descriptor *manifests;
        size_t n_manifests;
};

/* What a manifest-or-index body is: from its mediaType field, else from the
 * given Content-Type, else by shape ("manifests" vs "layers"). */
enum img_media img_manifest_sniff(const char *json, size_t len, const char *content_type);

int img_manifest_parse(const char *json, size_t len, struct img_manifest *ret,
                       struct uvm_error **err);
void img_manifest_clear(struct img_manifest *m);

int img_index_parse(const char *json, size_t len, struct img_index *ret, struct uvm_error **err);
void img_index_clear(struct img_index *ix);
/* The entry for os/arch (variant may be NULL: any; "amd64" matches no
 * variant or "v1"): its position, or -ENOENT. */
int img_index_select(const struct img_index *ix, const char *os, const char *arch,
                     const char *variant);

/* An image config: the runtime part (img_config of image.h) and the layer
 * diff ids in order. -EINVAL when rootfs.type is not "layers" or a diff id is
 * malformed. */
int img_config_parse(const char *json, size_t len, struct img_config *ret_config,
                     char ***ret_diff_ids, struct uvm_error **err);

/* Chain ids (OCI image spec): chain[0] = diff[0],
 * chain[i] = sha256(chain[i-1] + " " + diff[i]). NULL-terminated. */
int img_chain_ids(char *const *diff_ids, char ***ret_chain_ids);
