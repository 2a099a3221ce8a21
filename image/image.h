#pragma once

/*
 * The image store: what the rest of uvmd sees of images. Content (blobs by
 * sha256 digest, OCI layout) and unpacked layers (by chain ID) live under
 * <data_root>/images; the reference index maps names to image ids.
 *
 * An image id is the digest of its config blob ("sha256:<64 hex>"), as with
 * containerd and the kubelet. Every call is safe from several threads;
 * concurrent pulls of one image share one download.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct img_store;

struct img_registry_auth {
        const char *username, *password;
        const char *auth; /* base64 "user:password" */
        const char *identity_token, *registry_token;
        /* The registry these are for ("host[:port]", a URL, or "docker.io"'s
         * "https://index.docker.io/v1/"); empty: the image's own registry.
         * Never sent anywhere else: not to mirrors, not to other registries. */
        const char *server_address;
};

struct img_options {
        const char *root;                 /* <data_root>/images */
        char *const *insecure_registries; /* plain HTTP allowed; NULL-terminated */
        /* "registry=mirror1,mirror2" entries, NULL-terminated */
        char *const *mirrors;
        unsigned pull_timeout_ms;
};

int img_store_new(const struct img_options *o, struct img_store **ret, struct uvm_error **err);
struct img_store *img_store_free(struct img_store *s);

/* What CreateContainer needs from an image. */
struct img_config {
        char **entrypoint, **cmd, **env; /* NULL-terminated, may be NULL */
        char *working_dir, *user, *stop_signal;
        char **exposed_ports, **volumes; /* "80/tcp", "/data" */
};

struct img_info {
        char *id;                         /* sha256:<64 hex> of the config */
        char **repo_tags, **repo_digests; /* NULL-terminated */
        uint64_t size;                    /* compressed layers + config + manifest */
        struct img_config config;
        bool has_uid;
        int64_t uid;                  /* from config.user when numeric */
        char *username;               /* from config.user when a name */
        char *pinned_or_verbose_json; /* the image config JSON, for verbose */
};

void img_config_clear(struct img_config *c);
void img_info_clear(struct img_info *i);

/* Pull ref (docker-style reference) and unpack its layers. *ret_id is the
 * image id. Errors: -EINVAL bad reference, -ENOENT unknown image,
 * -EKEYREJECTED unauthorized, -EAGAIN registry unreachable, -EBADMSG digest
 * mismatch, -ENOTSUP unsupported media type, -ENOSPC disk full. */
int img_pull(struct img_store *s, const char *ref, const struct img_registry_auth *auth,
             char **ret_id, struct uvm_error **err);

/* Bytes downloaded from registries by every img_pull of this process so
 * far (manifests and the blobs that were not in the store), for metrics. */
uint64_t img_pull_bytes_total(void);

/* Import an OCI or docker-save archive; each image in it gets its tags.
 * *ret_ids: NULL-terminated list of image ids. */
int img_import(struct img_store *s, const char *archive_path, char ***ret_ids,
               struct uvm_error **err);

/* Look an image up by id, id prefix, tag (name:tag, short names resolved as
 * docker does) or digest (name@sha256:...). -ENOENT when absent. */
int img_status(struct img_store *s, const char *ref, struct img_info *ret, struct uvm_error **err);

/* Every image; filter_ref (may be NULL/"") selects like img_status does. */
int img_list(struct img_store *s, const char *filter_ref, struct img_info **ret, size_t *ret_n,
             struct uvm_error **err);

/* Remove an image by id, tag or digest: removing a tag of an image with
 * other tags drops only that tag; a missing image is success; an image in
 * use (img_use, img_hold) is -EBUSY, changing nothing. Unreferenced blobs
 * and layers are freed. */
int img_remove(struct img_store *s, const char *ref, struct uvm_error **err);

/* For container creation: the image's unpacked layer directories, lowest
 * first (NULL-terminated), its config, and its id; marks the image in use
 * by user (a container id) until img_release. */
int img_use(struct img_store *s, const char *ref, const char *user, char **ret_id,
            char ***ret_layers, struct img_config *ret_config, struct uvm_error **err);
void img_release(struct img_store *s, const char *image_id, const char *user);
/* Only the mark: the image ref names held by user until img_release, its
 * id in *ret_id (may be NULL); -ENOENT when absent. For a container
 * reloaded after a restart, and for Windows' containers, whose layers the
 * hcs driver takes from the store's disks (store_win.h). */
int img_hold(struct img_store *s, const char *ref, const char *user, char **ret_id,
             struct uvm_error **err);

/* For VM pods: the read-only erofs disk image of an unpacked layer
 * directory (one of img_use's), made on first use, kept under the store
 * root until the last image using the layer is removed. */
int img_layer_disk(struct img_store *s, const char *layer_dir, char **ret_path,
                   struct uvm_error **err);
/* Where those are (it exists once the store is open). */
const char *img_layer_disk_dir(struct img_store *s);

/* Usage of the store's filesystem for ImageFsInfo. */
struct img_fs_usage {
        char *mountpoint; /* the store root */
        uint64_t used_bytes, inodes_used;
        int64_t timestamp_ns;
};
int img_fs_usage(struct img_store *s, struct img_fs_usage *ret, struct uvm_error **err);
