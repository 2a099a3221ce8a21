#pragma once

/* The Windows store's insides, shared by store_win.c (records, lookup,
 * removal, collection, files) and pull_win.c (pulls). */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "image/image.h"
#include "image/registry.h"
#include "image/store_index.h"

/* A pull in progress, shared by every caller asking for the same reference. */
struct imgw_pull {
        char *key; /* canonical reference */
        bool done;
        int result;
        char *id, *msg;
        unsigned waiters; /* callers holding it, the puller included */
        struct imgw_pull *next;
};

struct img_store {
        char *root;             /* <data root>\images; read-only after new */
        struct reg_client *reg; /* read-only after new */

        pthread_mutex_t lock; /* guards everything below; never held across I/O but
                               * images.json's write and collection */
        pthread_cond_t cond;  /* a pull finished */
        struct img_idx_rec *recs;
        struct imgw_pull *pulls;
        unsigned ingests; /* pulls writing blobs and disks: collection waits */
        bool gc_pending;
};

/* "<root>/<sub>" (malloc'd; NULL on out-of-memory). */
char *imgw_path(const struct img_store *s, const char *sub);
char *imgw_blob_path(const struct img_store *s, const char *digest);
char *imgw_disk_path(const struct img_store *s, const char *chain);
/* A fresh name under tmp\ for what ("blob", "disk"). */
char *imgw_tmp_path(const struct img_store *s, const char *what);

/* File size, or -ENOENT. */
int64_t imgw_file_size(const char *path);
int imgw_unlink(const char *path);
/* Flush f to disk and close it: 0 or -errno. */
int imgw_fclose_flushed(FILE *f);
FILE *imgw_fopen_write(const char *path);
/* Move tmp to final, which must not exist (-EEXIST: someone else made it). */
int imgw_rename_new(const char *tmp, const char *final);

/* Add or merge a record and write images.json (takes rec). */
int imgw_commit(struct img_store *s, struct img_idx_rec *rec, struct uvm_error **err);
/* Bracket a pull's writes: collection of what no record uses waits until
 * none runs (a disk renamed in place before its record exists). */
void imgw_ingest_begin(struct img_store *s);
void imgw_ingest_end(struct img_store *s, bool failed);
