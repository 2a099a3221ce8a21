/* The pieces of a pull both stores share (pull_common.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/pull_common.h"

/* img_pull_bytes_total(): process-wide, as metrics are. */
static uint64_t pulled_bytes; /* atomic (__atomic builtins) */

uint64_t img_pull_bytes_total(void)
{
        return __atomic_load_n(&pulled_bytes, __ATOMIC_RELAXED);
}

void img_pull_count(uint64_t n)
{
        __atomic_add_fetch(&pulled_bytes, n, __ATOMIC_RELAXED);
}

/* --- one pull per reference --- */

static void op_put_locked(const struct img_pulls *t, struct img_pull_op *op)
{
        if (--op->waiters > 0)
                return;
        for (struct img_pull_op **p = t->ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
        free(op->key);
        free(op->id);
        free(op->msg);
        free(op);
}

/* Lock held: a finished pull's result, copied for this caller. */
static int op_result_locked(const struct img_pull_op *op, char **ret_id, struct uvm_error **err)
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
static struct img_pull_op *op_get_locked(const struct img_pulls *t, const char *key, bool *ret_new)
{
        struct img_pull_op *op;

        for (op = *t->ops; op && strcmp(op->key, key) != 0; op = op->next)
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
        op->next = *t->ops;
        *t->ops = op;
        return op;
}

int img_pull_once(const struct img_pulls *t, const char *ref_str,
                  int (*pull)(void *data, const struct img_ref *ref, char **ret_id,
                              struct uvm_error **err),
                  void *data, char **ret_id, struct uvm_error **err)
{
        struct img_ref ref = {0};
        _cleanup_free_ char *key = NULL;
        struct uvm_error *perr = NULL;
        struct img_pull_op *op;
        char *id = NULL;
        bool mine = false;
        int r;

        r = img_ref_parse(ref_str, &ref, err);
        if (r < 0)
                return r;
        if (!(key = img_ref_string(&ref))) {
                img_ref_clear(&ref);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(t->lock);
        op = op_get_locked(t, key, &mine);
        if (op && !mine) { /* someone is pulling it: their result */
                while (!op->done)
                        pthread_cond_wait(t->cond, t->lock);
                r = op_result_locked(op, ret_id, err);
                op_put_locked(t, op);
        }
        pthread_mutex_unlock(t->lock);
        if (!op || !mine) {
                img_ref_clear(&ref);
                return op ? r : uvm_error_set(err, ENOMEM, "out of memory");
        }

        log_info("pulling %s", key);
        r = pull(data, &ref, &id, &perr);
        img_ref_clear(&ref);

        pthread_mutex_lock(t->lock);
        op->done = true;
        op->result = r < 0 ? r : 0;
        op->id = r < 0 ? NULL : id;
        op->msg = perr && perr->msg ? strdup(perr->msg) : NULL;
        pthread_cond_broadcast(t->cond);
        r = op_result_locked(op, ret_id, err);
        op_put_locked(t, op);
        pthread_mutex_unlock(t->lock);
        uvm_error_free(perr);
        if (r < 0)
                return uvm_error_wrap(err, "pull %s", key);
        log_info("pulled %s: %s", key, *ret_id);
        return 0;
}

/* --- resolve and check --- */

void img_resolved_clear(struct img_resolved *r)
{
        free(r->body);
        free(r->tag);
        free(r->name_digest);
        *r = (struct img_resolved){0};
}

int img_pull_resolve(struct reg_client *reg, const struct img_ref *ref,
                     const struct img_registry_auth *auth, struct img_resolved *ret,
                     struct uvm_error **err)
{
        _cleanup_free_ char *name = img_ref_name(ref);
        struct img_resolved v = {0};
        char top[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
        uint64_t fetched = 0;
        int r;

        if (!name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = reg_resolve_image(reg, ref, auth, IMG_PULL_OS, IMG_PULL_ARCH, &v.body, &v.len, v.digest,
                              top, &fetched, err);
        img_pull_count(fetched);
        if (r < 0)
                return r;
        img_digest_buf(v.body, v.len, got);
        if (strcmp(got, v.digest) != 0)
                r = uvm_error_set(err, EBADMSG, "manifest digest is %s, expected %s", got,
                                  v.digest);
        else if (ref->tag && asprintf(&v.tag, "%s:%s", name, ref->tag) < 0) {
                v.tag = NULL;
                r = uvm_error_set(err, ENOMEM, "out of memory");
        } else if (asprintf(&v.name_digest, "%s@%s", name, top) < 0) {
                v.name_digest = NULL;
                r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                img_resolved_clear(&v);
                return r;
        }
        *ret = v;
        return 0;
}

int img_check_media(const struct img_manifest *m, bool zstd_ok, struct uvm_error **err)
{
        enum img_media k = img_media_classify(m->config.media_type);

        if (k != IMG_MEDIA_OCI_CONFIG && k != IMG_MEDIA_DOCKER_CONFIG)
                return uvm_error_set(err, ENOTSUP, "unsupported config media type \"%s\"",
                                     m->config.media_type);
        for (size_t i = 0; i < m->n_layers; i++) {
                k = img_media_classify(m->layers[i].media_type);
                if (k != IMG_MEDIA_LAYER_TAR && k != IMG_MEDIA_LAYER_GZIP &&
                    (k != IMG_MEDIA_LAYER_ZSTD || !zstd_ok))
                        return uvm_error_set(err, ENOTSUP, "unsupported layer media type \"%s\"%s",
                                             m->layers[i].media_type,
                                             zstd_ok ? "" : " (tar and tar+gzip are)");
        }
        return 0;
}

int img_config_diff_ids(const struct img_manifest *m, const char *json, size_t len, char ***ret,
                        struct uvm_error **err)
{
        struct img_config cfg = {0};
        char **diff_ids = NULL;
        size_t n = 0;
        int r = img_config_parse(json, len, &cfg, &diff_ids, err);

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

int img_config_diff_ids_load(const struct img_manifest *m, const char *path, char ***ret,
                             struct uvm_error **err)
{
        _cleanup_free_ char *json = NULL;
        size_t len;
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMG_MAX_JSON, &json, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "read config %s: %s", m->config.digest, strerror(-r));
        return img_config_diff_ids(m, json, len, ret, err);
}

/* --- layers by a few workers --- */

struct each_job {
        int (*one)(void *data, size_t i, struct uvm_error **err);
        void *data;
        size_t n;
        pthread_mutex_t lock; /* guards the three below */
        size_t next;
        int result; /* the first failure */
        struct uvm_error *err;
};

static void *each_worker(void *arg)
{
        struct each_job *j = arg;

        for (;;) {
                struct uvm_error *err = NULL;
                size_t i;
                int r;

                pthread_mutex_lock(&j->lock);
                i = j->next++;
                r = j->result;
                pthread_mutex_unlock(&j->lock);
                if (r < 0 || i >= j->n)
                        return NULL;
                r = j->one(j->data, i, &err);
                pthread_mutex_lock(&j->lock);
                if (r < 0 && j->result >= 0) {
                        j->result = r;
                        j->err = TAKE_PTR(err);
                }
                pthread_mutex_unlock(&j->lock);
                uvm_error_free(err);
        }
}

int img_layers_each(size_t n, int (*one)(void *data, size_t i, struct uvm_error **err), void *data,
                    struct uvm_error **err)
{
        struct each_job j = {.one = one, .data = data, .n = n};
        pthread_t t[IMG_PULL_WORKERS];
        size_t want = n < IMG_PULL_WORKERS ? n : IMG_PULL_WORKERS, started = 0;

        pthread_mutex_init(&j.lock, NULL);
        for (; started < want; started++)
                if (pthread_create(&t[started], NULL, each_worker, &j) != 0)
                        break;
        if (started == 0 && n > 0)
                each_worker(&j); /* no thread to spare: here */
        for (size_t i = 0; i < started; i++)
                pthread_join(t[i], NULL);
        pthread_mutex_destroy(&j.lock);
        if (j.result < 0) {
                uvm_error_set(err, j.err ? j.err->code : -j.result, "%s",
                              j.err && j.err->msg ? j.err->msg : "layer failed");
                uvm_error_free(j.err);
                return j.result;
        }
        return 0;
}
