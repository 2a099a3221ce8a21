/* Bringing an image into the store: blobs, unpacked layers, the record. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/manifest.h"
#include "image/store-internal.h"
#include "image/unpack.h"

static int blob_present(const char *path, int64_t size)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size < 0 || st.st_size == size);
}

/* Make sure the blob is in the store, fetching it from src when not. */
static int ensure_blob(struct img_store *s, const char *digest, int64_t size,
                       const struct img_blob_source *src, struct uvm_error **err)
{
        _cleanup_free_ char *path = img_blob_path(s, digest), *tmp = img_tmp_path(s, "blob");
        int r;

        if (!path || !tmp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (blob_present(path, size))
                return 0;
        r = src->fetch(src->data, digest, size, tmp, err);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        /* Only verified content ever carries its digest's name. */
        if (rename(tmp, path) < 0) {
                r = uvm_error_set(err, errno, "store blob %s: %m", digest);
                unlink(tmp);
                return r;
        }
        return 0;
}

int img_put_blob(struct img_store *s, const char *data, size_t len,
                 char ret_digest[IMG_DIGEST_LEN + 1], struct uvm_error **err)
{
        char digest[IMG_DIGEST_LEN + 1];
        _cleanup_free_ char *path = NULL;
        int r;

        img_digest_buf(data, len, digest);
        path = img_blob_path(s, digest);
        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!blob_present(path, (int64_t) len)) {
                r = fs_write_atomic(path, data, len, 0644);
                if (r < 0)
                        return uvm_error_set(err, -r, "store blob %s: %s", digest, strerror(-r));
        }
        memcpy(ret_digest, digest, sizeof(digest));
        return 0;
}

/* Unpack one layer under its chain id, unless it is there already. */
static int ensure_layer(struct img_store *s, const char *blob_digest, const char *diff_id,
                        const char *chain, struct uvm_error **err)
{
        _cleanup_free_ char *final = img_layer_path(s, chain), *tmp = img_tmp_path(s, "layer"),
                            *blob = img_blob_path(s, blob_digest);
        char got[IMG_DIGEST_LEN + 1];
        struct stat st;
        int r;

        if (!final || !tmp || !blob)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (stat(final, &st) == 0)
                return 0;
        if (mkdir(tmp, 0755) < 0)
                return uvm_error_set(err, errno, "create %s: %m", tmp);
        r = img_unpack_layer(blob, tmp, got, err);
        if (r >= 0 && strcmp(got, diff_id) != 0)
                r = uvm_error_set(err, EBADMSG,
                                  "layer %s: uncompressed content is %s, the image config says %s",
                                  blob_digest, got, diff_id);
        if (r >= 0 && rename(tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
                r = uvm_error_set(err, errno, "store layer %s: %m", chain);
        /* Unpacked concurrently by another pull, or failed: drop ours. */
        (void) fs_rm_rf(tmp);
        return r < 0 ? uvm_error_wrap(err, "layer %s", blob_digest) : 0;
}

struct layer_job {
        struct img_store *s;
        const struct img_manifest *m;
        const struct img_blob_source *src;
        char **diff_ids, **chains;
};

/* Layer i: its blob fetched, then unpacked (img_layers_each's workers). */
static int one_layer(void *data, size_t i, struct uvm_error **err)
{
        struct layer_job *j = data;
        const struct img_descriptor *d = &j->m->layers[i];
        int r = ensure_blob(j->s, d->digest, d->size, j->src, err);

        return r < 0 ? r : ensure_layer(j->s, d->digest, j->diff_ids[i], j->chains[i], err);
}

static int ingest(struct img_store *s, const struct img_manifest *m, const char *manifest_digest,
                  size_t manifest_len, const struct img_blob_source *src, char *const *tags,
                  char *const *digests, struct uvm_error **err)
{
        _cleanup_strv_ char **diff_ids = NULL, **chains = NULL;
        _cleanup_free_ char *config = img_blob_path(s, m->config.digest);
        struct layer_job job = {.s = s, .m = m, .src = src};
        struct img_idx_rec *rec;
        int r;

        r = img_check_media(m, true, err);
        if (r >= 0)
                r = ensure_blob(s, m->config.digest, m->config.size, src, err);
        if (r >= 0)
                r = img_config_diff_ids_load(m, config, &diff_ids, err);
        if (r >= 0 && img_chain_ids(diff_ids, &chains) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return r;
        job.diff_ids = diff_ids;
        job.chains = chains;
        r = img_layers_each(m->n_layers, one_layer, &job, err);
        if (r < 0)
                return r;
        rec = img_idx_rec_new(m, manifest_digest, manifest_len, chains, tags, digests);
        if (!rec)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_lock(&s->lock);
        r = img_rec_commit_locked(s, rec, err);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int img_ingest(struct img_store *s, const char *manifest_json, size_t manifest_len,
               const char *manifest_digest, const struct img_blob_source *src, char *const *tags,
               char *const *digests, char **ret_id, struct uvm_error **err)
{
        struct img_manifest m = {0};
        char stored[IMG_DIGEST_LEN + 1];
        char *id;
        int r;

        r = img_manifest_parse(manifest_json, manifest_len, &m, err);
        if (r < 0)
                return r;
        img_ingest_begin(s);
        r = img_put_blob(s, manifest_json, manifest_len, stored, err);
        if (r >= 0 && manifest_digest && strcmp(stored, manifest_digest) != 0)
                r = uvm_error_set(err, EBADMSG, "manifest digest is %s, expected %s", stored,
                                  manifest_digest);
        if (r >= 0)
                r = ingest(s, &m, stored, manifest_len, src, tags, digests, err);
        /* A failed ingest leaves nothing behind: what it fetched is collected
         * once no other ingest is running. */
        img_ingest_end(s, r < 0);
        if (r >= 0) {
                id = strdup(m.config.digest);
                if (!id)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                else
                        *ret_id = id;
        }
        img_manifest_clear(&m);
        return r;
}
