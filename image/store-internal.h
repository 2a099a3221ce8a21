#pragma once

/*
 * The image store's insides, shared by store.c (records, lookup, removal,
 * garbage collection), ingest.c (blobs and layers into the store), pull.c
 * and import.c.
 *
 * Layout under root:
 *   blobs/sha256/<hex>   content, written under a temp name then renamed
 *   layers/<chain hex>/  one unpacked layer (its own diff, overlayfs whiteouts)
 *   disks/<chain hex>.erofs  that layer as a VM disk image (disk.c), on demand
 *   tmp/                 downloads and unpacks in progress (emptied at start)
 *   images.json          the records below, written atomically
 */

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "image/digest.h"
#include "image/image.h"
#include "image/pull_common.h"
#include "image/registry.h"
#include "image/store_index.h"

/* Records (struct img_idx_rec) are store_index.h's, shared with the Windows
 * store; here each has its users (containers) set. */

struct img_store {
        char *root;
        char *disk_dir;         /* root/disks */
        struct reg_client *reg; /* read-only after new */
        unsigned pull_timeout_ms;

        int lock_fd;   /* index.lock: flock'ed exclusive while changing images.json */
        int ingest_fd; /* ingest.lock: shared while ingesting, exclusive to collect */

        pthread_mutex_t lock;    /* guards everything below */
        struct stat index_stamp; /* images.json as last read or written */
        pthread_cond_t cond;     /* a pull finished */
        struct img_idx_rec *recs;
        struct img_pull_op *pulls;
        unsigned ingests; /* ingests running: garbage collection waits */
        bool gc_pending;
};

/* Paths (malloc'ed; NULL on out-of-memory). */
char *img_blob_path(struct img_store *s, const char *digest);
char *img_layer_path(struct img_store *s, const char *chain);
char *img_tmp_path(struct img_store *s, const char *what);

/* A source of blobs for ingest: fetch digest (of size) to dest_path, which
 * does not exist yet. */
struct img_blob_source {
        int (*fetch)(void *data, const char *digest, int64_t size, const char *dest_path,
                     struct uvm_error **err);
        void *data;
};

/* Bring the image a manifest describes into the store: config and layer
 * blobs (skipping those present), layers unpacked by chain id and checked
 * against the config's diff ids, then a record with the given names (tags
 * and digests may be NULL). *ret_id is the image id. Called without the
 * lock. */
int img_ingest(struct img_store *s, const char *manifest_json, size_t manifest_len,
               const char *manifest_digest, const struct img_blob_source *src, char *const *tags,
               char *const *digests, char **ret_id, struct uvm_error **err);

/* Store a buffer as a blob (verified). */
int img_put_blob(struct img_store *s, const char *data, size_t len,
                 char ret_digest[IMG_DIGEST_LEN + 1], struct uvm_error **err);

/* Lock held: add or merge a record (names move to the image, off any other
 * image that had them), persist. Takes ownership of rec. */
int img_rec_commit_locked(struct img_store *s, struct img_idx_rec *rec, struct uvm_error **err);

/* Garbage collection counters: ingest_begin/end bracket an ingest so blobs it
 * just wrote are not collected before its record exists. */
void img_ingest_begin(struct img_store *s);
void img_ingest_end(struct img_store *s, bool failed);
