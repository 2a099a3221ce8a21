/* img_pull on Windows: the manifest resolved at the registry (linux/amd64
 * from an index), the config and manifest stored by digest, and each layer
 * fetched to tmp\, turned into disks\<chain id hex>.vhd (layer_vhd.h) and
 * dropped. Callers asking for the same reference at once share one pull;
 * two pulls needing the same layer each make it under a temp name and the
 * second finds it in place. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/layer_vhd.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store_win-internal.h"

#define PLATFORM_OS "linux" /* LCOW runs Linux containers */
#define PLATFORM_ARCH "amd64"
#define LAYER_WORKERS 4

static uint64_t pulled_bytes; /* atomic (__atomic builtins) */

uint64_t img_pull_bytes_total(void)
{
        return __atomic_load_n(&pulled_bytes, __ATOMIC_RELAXED);
}

static void count_pulled(uint64_t n)
{
        __atomic_add_fetch(&pulled_bytes, n, __ATOMIC_RELAXED);
}

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
        count_pulled((uint64_t) d->size);
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
        pthread_mutex_t lock; /* guards the three below */
        size_t next;
        int result; /* the first failure */
        struct uvm_error *err;
};

static void *layer_worker(void *arg)
{
        struct layer_job *j = arg;

        for (;;) {
                struct uvm_error *err = NULL;
                size_t i;
                int r;

                pthread_mutex_lock(&j->lock);
                i = j->next++;
                r = j->result;
                pthread_mutex_unlock(&j->lock);
                if (r < 0 || i >= j->m->n_layers)
                        return NULL;
                r = ensure_layer(j->p, &j->m->layers[i], j->diff_ids[i], j->chains[i], &err);
                pthread_mutex_lock(&j->lock);
                if (r < 0 && j->result >= 0) {
                        j->result = r;
                        j->err = TAKE_PTR(err);
                }
                pthread_mutex_unlock(&j->lock);
                uvm_error_free(err);
        }
}

/* A few layers at once, as Linux's ingest does: one layer's download
 * overlaps another's conversion, and each disk is independent. */
static int ensure_layers(struct layer_job *j, struct uvm_error **err)
{
        pthread_t t[LAYER_WORKERS];
        size_t n = j->m->n_layers < LAYER_WORKERS ? j->m->n_layers : LAYER_WORKERS, started = 0;

        pthread_mutex_init(&j->lock, NULL);
        for (; started < n; started++)
                if (pthread_create(&t[started], NULL, layer_worker, j) != 0)
                        break;
        if (started == 0 && n > 0)
                layer_worker(j); /* no thread to spare: here */
        for (size_t i = 0; i < started; i++)
                pthread_join(t[i], NULL);
        pthread_mutex_destroy(&j->lock);
        if (j->result < 0) {
                uvm_error_set(err, j->err ? j->err->code : -j->result, "%s",
                              j->err && j->err->msg ? j->err->msg : "layer failed");
                uvm_error_free(j->err);
                return j->result;
        }
        return 0;
}

/* Before anything is fetched: what the Windows store cannot take. */
static int check_media(const struct img_manifest *m, struct uvm_error **err)
{
        enum img_media k = img_media_classify(m->config.media_type);

        if (k != IMG_MEDIA_OCI_CONFIG && k != IMG_MEDIA_DOCKER_CONFIG)
                return uvm_error_set(err, ENOTSUP, "unsupported config media type \"%s\"",
                                     m->config.media_type);
        for (size_t i = 0; i < m->n_layers; i++) {
                k = img_media_classify(m->layers[i].media_type);
                if (k != IMG_MEDIA_LAYER_GZIP && k != IMG_MEDIA_LAYER_TAR)
                        return uvm_error_set(err, ENOTSUP,
                                             "layer media type \"%s\" is not supported on "
                                             "Windows (tar and tar+gzip are)",
                                             m->layers[i].media_type);
        }
        return 0;
}

static int config_diff_ids(struct pull *p, const struct img_manifest *m, char ***ret,
                           struct uvm_error **err)
{
        _cleanup_free_ char *path = imgw_blob_path(p->s, m->config.digest), *json = NULL;
        struct img_config cfg = {0};
        char **diff_ids = NULL;
        size_t len, n = 0;
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMG_MAX_JSON, &json, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "read config %s: %s", m->config.digest, strerror(-r));
        r = img_config_parse(json, len, &cfg, &diff_ids, err);
        img_config_clear(&cfg);
        if (r < 0)
                return uvm_error_wrap(err, "config %s", m->config.digest);
        while (diff_ids && diff_ids[n])
                n++;
        if (n != m->n_layers) {
                strv_free(diff_ids);
                return uvm_error_set(err, EBADMSG, "config %s lists %zu layers, the manifest %zu",
                                     m->config.digest, n, m->n_layers);
        }
        *ret = diff_ids;
        return 0;
}

/* Everything the manifest names into the store, then the record. */
static int ingest(struct pull *p, const struct img_manifest *m, const char *body, size_t len,
                  const char *manifest_digest, const char *tag, const char *digest,
                  struct uvm_error **err)
{
        _cleanup_free_ char *mpath = imgw_blob_path(p->s, manifest_digest);
        _cleanup_strv_ char **diff_ids = NULL, **chains = NULL;
        struct layer_job job = {.p = p, .m = m};
        struct img_idx_rec *rec;
        int r = check_media(m, err);

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
                r = config_diff_ids(p, m, &diff_ids, err);
        if (r >= 0 && img_chain_ids(diff_ids, &chains) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                job.diff_ids = diff_ids;
                job.chains = chains;
                r = ensure_layers(&job, err);
        }
        if (r < 0)
                return r;
        rec = img_idx_rec_new(m, manifest_digest, len, chains, (char *[]){(char *) tag, NULL},
                              (char *[]){(char *) digest, NULL});
        if (!rec)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return imgw_commit(p->s, rec, err);
}

static int do_pull(struct img_store *s, const struct img_ref *ref,
                   const struct img_registry_auth *auth, char **ret_id, struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *name = img_ref_name(ref), *tag = NULL, *dig = NULL;
        char digest[IMG_DIGEST_LEN + 1], top[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
        struct pull p = {.s = s, .ref = ref, .auth = auth};
        struct img_manifest m = {0};
        uint64_t fetched = 0;
        size_t len = 0;
        int r;

        if (!name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = reg_resolve_image(s->reg, ref, auth, PLATFORM_OS, PLATFORM_ARCH, &body, &len, digest,
                              top, &fetched, err);
        count_pulled(fetched);
        if (r < 0)
                return r;
        img_digest_buf(body, len, got);
        if (strcmp(got, digest) != 0)
                return uvm_error_set(err, EBADMSG, "manifest digest is %s, expected %s", got,
                                     digest);
        if ((ref->tag && asprintf(&tag, "%s:%s", name, ref->tag) < 0) ||
            asprintf(&dig, "%s@%s", name, top) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = img_manifest_parse(body, len, &m, err);
        if (r < 0)
                return r;
        imgw_ingest_begin(s);
        r = ingest(&p, &m, body, len, digest, tag, dig, err);
        /* What a failed pull wrote goes once no other pull runs. */
        imgw_ingest_end(s, r < 0);
        if (r >= 0 && !(*ret_id = strdup(m.config.digest)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        img_manifest_clear(&m);
        return r;
}

static void op_put_locked(struct img_store *s, struct imgw_pull *op)
{
        if (--op->waiters > 0)
                return;
        for (struct imgw_pull **pp = &s->pulls; *pp; pp = &(*pp)->next)
                if (*pp == op) {
                        *pp = op->next;
                        break;
                }
        free(op->key);
        free(op->id);
        free(op->msg);
        free(op);
}

static int op_result_locked(struct imgw_pull *op, char **ret_id, struct uvm_error **err)
{
        char *id;

        if (op->result < 0)
                return uvm_error_set(err, -op->result, "%s", op->msg ? op->msg : "pull failed");
        if (!(id = strdup(op->id)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_id = id;
        return 0;
}

/* Lock held: the pull of key in progress, joined; or a new one (*ret_new). */
static struct imgw_pull *op_get_locked(struct img_store *s, const char *key, bool *ret_new)
{
        struct imgw_pull *op;

        for (op = s->pulls; op && strcmp(op->key, key) != 0; op = op->next)
                ;
        *ret_new = !op;
        if (op) {
                op->waiters++;
                return op;
        }
        op = calloc(1, sizeof(*op));
        if (!op || !(op->key = strdup(key))) {
                free(op);
                return NULL;
        }
        op->waiters = 1;
        op->next = s->pulls;
        s->pulls = op;
        return op;
}

int img_pull(struct img_store *s, const char *ref_str, const struct img_registry_auth *auth,
             char **ret_id, struct uvm_error **err)
{
        struct img_ref ref = {0};
        _cleanup_free_ char *key = NULL;
        struct uvm_error *perr = NULL;
        struct imgw_pull *op;
        char *id = NULL;
        bool mine;
        int r;

        r = img_ref_parse(ref_str, &ref, err);
        if (r < 0)
                return r;
        if (!(key = img_ref_string(&ref))) {
                img_ref_clear(&ref);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&s->lock);
        op = op_get_locked(s, key, &mine);
        if (op && !mine) {
                while (!op->done)
                        pthread_cond_wait(&s->cond, &s->lock);
                r = op_result_locked(op, ret_id, err);
                op_put_locked(s, op);
        }
        pthread_mutex_unlock(&s->lock);
        if (!op || !mine) {
                img_ref_clear(&ref);
                return op ? r : uvm_error_set(err, ENOMEM, "out of memory");
        }

        log_info("pulling %s", key);
        r = do_pull(s, &ref, auth, &id, &perr);
        img_ref_clear(&ref);

        pthread_mutex_lock(&s->lock);
        op->done = true;
        op->result = r;
        op->id = id;
        op->msg = perr && perr->msg ? strdup(perr->msg) : NULL;
        pthread_cond_broadcast(&s->cond);
        r = op_result_locked(op, ret_id, err);
        op_put_locked(s, op);
        pthread_mutex_unlock(&s->lock);
        uvm_error_free(perr);
        if (r < 0)
                return uvm_error_wrap(err, "pull %s", key);
        log_info("pulled %s: %s", key, *ret_id);
        return 0;
}
