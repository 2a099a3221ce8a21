#pragma once

/*
 * The image store's records (images.json) as a list in memory: its JSON,
 * lookup by id, id prefix, tag or digest, names moving between images, and
 * which blobs and layers the records still use. Portable (ISO C, json-c,
 * image_parse): Linux's store (store.c) and the Windows store
 * (store_win.c) both keep their records with it, in the format
 * sandbox/ctr_win.c reads:
 *
 *   {"images": [{"id": "sha256:<config>", "manifest": "sha256:...",
 *                "size": N, "tags": ["docker.io/library/busybox:latest"],
 *                "digests": ["docker.io/library/busybox@sha256:..."],
 *                "layers": [{"digest": "sha256:<blob>", "chain": "sha256:<chain id>",
 *                            "size": N}]}]}
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/image.h"
#include "image/manifest.h"

#define IMG_IDX_MAX_BYTES (64u << 20) /* images.json larger than this is refused */

struct img_idx_layer {
        char *digest; /* the (compressed) blob */
        char *chain;  /* chain id */
        int64_t size;
};

struct img_idx_rec {
        char *id;       /* config digest */
        char *manifest; /* manifest digest */
        char **tags;    /* "name:tag", NULL-terminated */
        char **digests; /* "name@sha256:...", NULL-terminated */
        struct img_idx_layer *layers;
        size_t n_layers;
        uint64_t size; /* manifest + config + compressed layers */
        char **users;  /* containers using it (img_idx_hold; not persisted), or NULL */
        struct img_idx_rec *next;
};

/* A record for the image m describes, named by tags and digests (each may
 * be NULL), its layers' chain ids given; users an empty list. NULL on
 * out-of-memory. */
struct img_idx_rec *img_idx_rec_new(const struct img_manifest *m, const char *manifest_digest,
                                    size_t manifest_len, char *const *chains, char *const *tags,
                                    char *const *digests);
struct img_idx_rec *img_idx_rec_free(struct img_idx_rec *r);
void img_idx_free(struct img_idx_rec *list);

/* images.json's text into a list (malformed records are skipped with a
 * warning); -EINVAL when it is not an image index. */
int img_idx_parse(const char *text, struct img_idx_rec **ret, struct uvm_error **err);
/* The list as images.json's text (malloc'd), NULL on out-of-memory. */
char *img_idx_format(const struct img_idx_rec *list);

/* By reference (tag or digest, normalised as docker does), then by id or a
 * unique id prefix of at least 4 hex digits; NULL when none. */
struct img_idx_rec *img_idx_lookup(struct img_idx_rec *list, const char *ref);

/* Add rec (owned from here on) or merge its names into the record of the
 * same id; its names leave any other image (a moved tag). 0 or -ENOMEM. */
int img_idx_commit(struct img_idx_rec **list, struct img_idx_rec *rec);

/* RemoveImage's rule, first half: when rec has several tags and ref names
 * one of them, only that tag goes (true); else the record is to go. */
bool img_idx_untag(struct img_idx_rec *rec, const char *ref);
/* Unlink rec from the list and free it. */
void img_idx_drop(struct img_idx_rec **list, struct img_idx_rec *rec);

/* RemoveImage's rule, whole, for both stores: ref names no record
 * (IMG_IDX_ABSENT: success, as the kubelet expects); one of several tags
 * (IMG_IDX_UNTAGGED: only that tag goes); an image a container holds
 * (-EBUSY "image <id> is in use by container <id>", nothing changed); else
 * the record goes (IMG_IDX_DROPPED: the caller collects what no record
 * uses now). A change is written with save(data); when that fails the
 * record stays in the list and the failure is the answer. */
enum { IMG_IDX_ABSENT, IMG_IDX_UNTAGGED, IMG_IDX_DROPPED };
int img_idx_remove(struct img_idx_rec **list, const char *ref,
                   int (*save)(void *data, struct uvm_error **err), void *data,
                   struct uvm_error **err);

/* Containers holding images: user (a container id) holds the image ref
 * names until released by image id; *ret_id (may be NULL) is the image id.
 * -ENOENT when absent. Holding twice is holding once. */
int img_idx_hold(struct img_idx_rec *list, const char *ref, const char *user, char **ret_id,
                 struct uvm_error **err);
void img_idx_release(struct img_idx_rec *list, const char *id, const char *user);

/* ListImages over the records: every one, or only the one filter_ref
 * names (none when it names none); info makes each answer (a store reads
 * the config blob its own way). */
int img_idx_list(struct img_idx_rec *list, const char *filter_ref,
                 int (*info)(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                             struct uvm_error **err),
                 void *data, struct img_info **ret, size_t *ret_n, struct uvm_error **err);

/* Whether any record uses the blob, or the layer of that chain id (64 hex). */
bool img_idx_blob_used(const struct img_idx_rec *list, const char *hex);
bool img_idx_chain_used(const struct img_idx_rec *list, const char *hex);

/* ImageStatus' answer from a record and its config blob's JSON; or read
 * from the blob at config_path; or for the image ref names (-ENOENT when
 * none), info making it (a store finds the blob its own way). */
int img_idx_info(const struct img_idx_rec *rec, const char *config_json, size_t len,
                 struct img_info *ret, struct uvm_error **err);
int img_idx_info_file(const struct img_idx_rec *rec, const char *config_path, struct img_info *ret,
                      struct uvm_error **err);
int img_idx_status(struct img_idx_rec *list, const char *ref,
                   int (*info)(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                               struct uvm_error **err),
                   void *data, struct img_info *ret, struct uvm_error **err);

/* Append a copy of s to the NULL-terminated *v unless there: 1 added,
 * 0 present, -ENOMEM. */
int img_idx_strv_add(char ***v, const char *s);
