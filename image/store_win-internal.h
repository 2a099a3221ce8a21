#pragma once

/* The Windows store's insides, shared by store_win.c (records, lookup,
 * removal, collection, files) and pull_win.c (pulls). */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "image/image.h"
#include "image/pull_common.h"
#include "image/registry.h"
#include "image/store_index.h"

/* A file's identity and last write (0s: not known). */
struct imgw_stamp {
        uint32_t volume, index_hi, index_lo, size, mtime_hi, mtime_lo;
};

struct img_store {
        char *root;             /* <data root>\images; read-only after new */
        struct reg_client *reg; /* read-only after new */

        /* index.lock and ingest.lock in root (HANDLEs), shared with every
         * process on the store (another uvmd.exe, an import tool): index
         * locked (LockFileEx) around images.json's reads and writes, shared
         * to read, exclusive to change; ingest shared while this process
         * ingests, exclusive to collect. Read-only after new. */
        void *index_file, *ingest_file;

        pthread_mutex_t lock;     /* guards everything below; never held across I/O but
                                   * images.json's read and write, and collection */
        pthread_cond_t cond;      /* a pull finished */
        struct img_idx_rec *recs; /* each with its users: containers holding it */
        struct img_pull_op *pulls;
        unsigned ingests; /* pulls writing blobs and disks: collection waits */
        bool gc_pending;
        /* images.json as last read or written here: another process's
         * write changes it (a new file: the write renames one in). */
        struct imgw_stamp stamp;
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
