/* img_pull on Windows: the manifest resolved at the registry (linux/amd64
 * from an index), the config and manifest stored by digest, and each layer
 * fetched to tmp\, turned into disks\<chain id hex>.vhd (layer_vhd.h) and
 * dropped. Callers asking for the same reference at once share one pull;
 * two pulls needing the same layer each make it under a temp name and the
 * second finds it in place. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/layer_vhd.h"
#include "image/manifest.h"
#include "image/pull_common.h"
#include "image/ref.h"
#include "image/store_win-internal.h"

struct pull {
        struct img_store *s;
        const struct img_ref *ref;
        const struct img_registry_auth *auth;
};

/* The blob into tmp\ (the registry client checks its size and digest as it
 * streams and removes it on failure); *ret_tmp names it. */
static int fetch(struct pull *p, const struct img_descriptor *d, char **ret_tmp,
                 struct uvm_error **err)
{
        _cleanup_free_ char *tmp = imgw_tmp_path(p->s, "blob");
        int r;

        if (!tmp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = reg_get_blob(p->s->reg, p->ref, d->digest, d->size, p->auth, tmp, err);
        if (r < 0)
                return r;
        img_pull_count((uint64_t) d->size);
        *ret_tmp = TAKE_PTR(tmp);
        return 0;
}

static int store_config(struct pull *p, const struct img_descriptor *d, struct uvm_error **err)
{
        _cleanup_free_ char *final = imgw_blob_path(p->s, d->digest), *tmp = NULL;
        int r;

        if (!final)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (imgw_file_size(final) == d->size)
                return 0;
        r = fetch(p, d, &tmp, err);
        if (r < 0)
                return r;
        r = imgw_rename_new(tmp, final);
        (void) imgw_unlink(tmp);
        if (r < 0 && r != -EEXIST)
                return uvm_error_set(err, -r, "store config %s: %s", d->digest, strerror(-r));
        return 0;
}

/* blob (a file) -> gunzip -> erofs -> VHD under a temp name, flushed, then
 * renamed to its chain id's name. */
static int make_disk(struct pull *p, const struct img_descriptor *d, const char *blob,
                     const char *diff_id, const char *final, struct uvm_error **err)
{
        _cleanup_free_ char *tmp = imgw_tmp_path(p->s, "disk");
        struct img_layer_vhd_want want = {
                .blob_digest = d->digest,
                .diff_id = diff_id,
                .gzip = img_media_classify(d->media_type) == IMG_MEDIA_LAYER_GZIP,
        };
        struct img_layer_vhd_stats st;
        struct img_tar_source src;
        struct img_erofs_sink sink;
        FILE *in = NULL, *out;
        int r;

        if (!tmp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        memcpy(want.uuid, diff_id + 7, sizeof(want.uuid)); /* stable per layer */
        r = plat_fopen_read(blob, &in);
        if (r < 0)
                return uvm_error_set(err, -r, "open %s: %s", blob, strerror(-r));
        out = imgw_fopen_write(tmp);
        if (!out) {
                fclose(in);
                return uvm_error_set(err, errno ? errno : EIO, "create %s", tmp);
        }
        src = img_erofs_file_source(in);
        sink = img_erofs_file_sink(out);
        r = img_layer_vhd(&src, &want, &sink, &st, err);
        fclose(in);
        if (imgw_fclose_flushed(out) < 0 && r >= 0)
                r = uvm_error_set(err, EIO, "write %s", tmp);
        if (r >= 0) {
                r = imgw_rename_new(tmp, final);
                if (r == -EEXIST) /* another pull made it meanwhile: the same bytes */
                        r = 0;
                else if (r < 0)
                        r = uvm_error_set(err, -r, "store %s: %s", final, strerror(-r));
                else
                        log_info("layer %s: %s (%llu bytes from a %llu-byte tar)", d->digest, final,
                                 (unsigned long long) st.file_bytes,
                                 (unsigned long long) st.tar_bytes);
        }
        (void) imgw_unlink(tmp);
        return r;
}

static int ensure_layer(struct pull *p, const struct img_descriptor *d, const char *diff_id,
                        const char *chain, struct uvm_error **err)
{
        _cleanup_free_ char *final = imgw_disk_path(p->s, chain), *blob = NULL;
        int r;

        if (!final)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (imgw_file_size(final) >= 0)
                return 0;
        r = fetch(p, d, &blob, err);
        if (r >= 0)
                r = make_disk(p, d, blob, diff_id, final, err);
        if (blob)
                (void) imgw_unlink(blob);
        return r < 0 ? uvm_error_wrap(err, "layer %s", d->digest) : 0;
}

struct layer_job {
        struct pull *p;
        const struct img_manifest *m;
        char **diff_ids, **chains;
};

static int one_layer(void *data, size_t i, struct uvm_error **err)
{
        struct layer_job *j = data;

        return ensure_layer(j->p, &j->m->layers[i], j->diff_ids[i], j->chains[i], err);
}

/* Everything the manifest names into the store, then the record. */
static int ingest(struct pull *p, const struct img_manifest *m, const char *body, size_t len,
                  const char *manifest_digest, const char *tag, const char *digest,
                  struct uvm_error **err)
{
        _cleanup_free_ char *mpath = imgw_blob_path(p->s, manifest_digest),
                            *config = imgw_blob_path(p->s, m->config.digest);
        _cleanup_strv_ char **diff_ids = NULL, **chains = NULL;
        struct layer_job job = {.p = p, .m = m};
        struct img_idx_rec *rec;
        int r = img_check_media(m, false, err);

        if (r < 0)
                return r;
        if (!mpath)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(mpath, body, len, 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "store manifest %s: %s", manifest_digest,
                                     strerror(-r));
        r = store_config(p, &m->config, err);
        if (r >= 0)
                r = img_config_diff_ids_load(m, config, &diff_ids, err);
        if (r >= 0 && img_chain_ids(diff_ids, &chains) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                job.diff_ids = diff_ids;
                job.chains = chains;
                r = img_layers_each(m->n_layers, one_layer, &job, err);
        }
        if (r < 0)
                return r;
        rec = img_idx_rec_new(m, manifest_digest, len, chains, (char *[]){(char *) tag, NULL},
                              (char *[]){(char *) digest, NULL});
        if (!rec)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return imgw_commit(p->s, rec, err);
}

static int do_pull(void *data, const struct img_ref *ref, char **ret_id, struct uvm_error **err)
{
        struct pull *p = data;
        struct img_resolved res = {0};
        struct img_manifest m = {0};
        int r;

        p->ref = ref;
        r = img_pull_resolve(p->s->reg, ref, p->auth, &res, err);
        if (r >= 0)
                r = img_manifest_parse(res.body, res.len, &m, err);
        if (r < 0) {
                img_resolved_clear(&res);
                return r;
        }
        imgw_ingest_begin(p->s);
        r = ingest(p, &m, res.body, res.len, res.digest, res.tag, res.name_digest, err);
        /* What a failed pull wrote goes once no other pull runs. */
        imgw_ingest_end(p->s, r < 0);
        if (r >= 0 && !(*ret_id = strdup(m.config.digest)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        img_manifest_clear(&m);
        img_resolved_clear(&res);
        return r;
}

int img_pull(struct img_store *s, const char *ref, const struct img_registry_auth *auth,
             char **ret_id, struct uvm_error **err)
{
        struct img_pulls t = {&s->lock, &s->cond, &s->pulls};
        struct pull p = {.s = s, .auth = auth};

        return img_pull_once(&t, ref, do_pull, &p, ret_id, err);
}
