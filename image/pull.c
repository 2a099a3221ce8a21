/* img_pull: resolve a reference at its registry and ingest what it names.
 * Callers asking for the same reference at once share one pull. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store-internal.h"

#define PLATFORM_OS "linux"
#define PLATFORM_ARCH "amd64"

/* img_pull_bytes_total(): process-wide, as metrics are. */
static uint64_t pulled_bytes; /* atomic (__atomic builtins) */

uint64_t img_pull_bytes_total(void)
{
        return __atomic_load_n(&pulled_bytes, __ATOMIC_RELAXED);
}

static void count_pulled(int64_t n)
{
        if (n > 0)
                __atomic_add_fetch(&pulled_bytes, (uint64_t) n, __ATOMIC_RELAXED);
}

struct reg_source {
        struct img_store *s;
        const struct img_ref *ref;
        const struct img_registry_auth *auth;
};

static int reg_fetch(void *data, const char *digest, int64_t size, const char *dest_path,
                     struct uvm_error **err)
{
        struct reg_source *rs = data;
        struct stat st;
        int r;

        r = reg_get_blob(rs->s->reg, rs->ref, digest, size, rs->auth, dest_path, err);
        if (r >= 0)
                count_pulled(stat(dest_path, &st) == 0 ? st.st_size : size);
        return r;
}

/* The image manifest ref names: an index is resolved to its linux/amd64
 * entry. ret_top_digest is the digest of what the reference itself names. */
static int resolve(struct img_store *s, const struct img_ref *ref,
                   const struct img_registry_auth *auth, char **ret_body, size_t *ret_len,
                   char ret_digest[IMG_DIGEST_LEN + 1], char ret_top_digest[IMG_DIGEST_LEN + 1],
                   struct uvm_error **err)
{
        uint64_t fetched = 0;
        int r = reg_resolve_image(s->reg, ref, auth, PLATFORM_OS, PLATFORM_ARCH, ret_body, ret_len,
                                  ret_digest, ret_top_digest, &fetched, err);

        count_pulled((int64_t) fetched);
        return r;
}

static int do_pull(struct img_store *s, const struct img_ref *ref,
                   const struct img_registry_auth *auth, char **ret_id, struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *name = img_ref_name(ref), *tag = NULL, *dig = NULL;
        char digest[IMG_DIGEST_LEN + 1], top[IMG_DIGEST_LEN + 1];
        struct reg_source rs = {.s = s, .ref = ref, .auth = auth};
        struct img_blob_source src = {.fetch = reg_fetch, .data = &rs};
        char *tags[2] = {0}, *digests[2] = {0};
        size_t len = 0;
        int r;

        if (!name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = resolve(s, ref, auth, &body, &len, digest, top, err);
        if (r < 0)
                return r;
        if ((ref->tag && asprintf(&tag, "%s:%s", name, ref->tag) < 0) ||
            asprintf(&dig, "%s@%s", name, top) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        tags[0] = tag;
        digests[0] = dig;
        return img_ingest(s, body, len, digest, &src, tags, digests, ret_id, err);
}

static void op_put_locked(struct img_store *s, struct img_pull_op *op)
{
        if (--op->waiters > 0)
                return;
        for (struct img_pull_op **p = &s->pulls; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
        free(op->key);
        free(op->id);
        free(op->msg);
        free(op);
}

/* Lock held: the result of a finished shared pull, copied for this caller. */
static int op_result_locked(struct img_pull_op *op, char **ret_id, struct uvm_error **err)
{
        char *id;

        if (op->result < 0)
                return uvm_error_set(err, -op->result, "%s", op->msg ? op->msg : "pull failed");
        id = strdup(op->id);
        if (!id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_id = id;
        return 0;
}

int img_pull(struct img_store *s, const char *ref_str, const struct img_registry_auth *auth,
             char **ret_id, struct uvm_error **err)
{
        struct img_ref ref = {0};
        _cleanup_free_ char *key = NULL;
        struct img_pull_op *op;
        struct uvm_error *perr = NULL;
        char *id = NULL;
        int r;

        r = img_ref_parse(ref_str, &ref, err);
        if (r < 0)
                return r;
        key = img_ref_string(&ref);
        if (!key) {
                img_ref_clear(&ref);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&s->lock);
        for (op = s->pulls; op && strcmp(op->key, key) != 0; op = op->next)
                ;
        if (op) {
                /* Someone is pulling it: wait for their result. */
                op->waiters++;
                while (!op->done)
                        pthread_cond_wait(&s->cond, &s->lock);
                r = op_result_locked(op, ret_id, err);
                op_put_locked(s, op);
                pthread_mutex_unlock(&s->lock);
                img_ref_clear(&ref);
                return r;
        }
        op = calloc(1, sizeof(*op));
        if (!op || !(op->key = strdup(key))) {
                free(op);
                pthread_mutex_unlock(&s->lock);
                img_ref_clear(&ref);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        op->waiters = 1;
        op->next = s->pulls;
        s->pulls = op;
        pthread_mutex_unlock(&s->lock);

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
        return r;
}
