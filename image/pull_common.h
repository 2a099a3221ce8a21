#pragma once

/*
 * What a pull does the same way in both stores (Linux's pull.c and
 * ingest.c, Windows' pull_win.c), portable: callers of one reference
 * sharing one pull, the resolve step at the registry, the checks of a
 * manifest and its config, and the few workers the layers are brought in
 * by. Where a layer goes (an unpacked directory, an erofs VHD) stays each
 * store's own.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/digest.h"
#include "image/image.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/registry.h"

#define IMG_PULL_OS "linux" /* LCOW runs Linux containers too */
#define IMG_PULL_ARCH "amd64"
#define IMG_PULL_WORKERS 4

/* Add to img_pull_bytes_total(): bytes fetched from registries. */
void img_pull_count(uint64_t n);

/* A pull in progress, shared by every caller asking for the same reference. */
struct img_pull_op {
        char *key; /* canonical reference */
        bool done;
        int result;
        char *id, *msg;
        unsigned waiters; /* callers holding it, the puller included */
        struct img_pull_op *next;
};

/* The shared-pull table of a store: lock guards *ops; cond is broadcast
 * when a pull finishes. */
struct img_pulls {
        pthread_mutex_t *lock;
        pthread_cond_t *cond;
        struct img_pull_op **ops;
};

/* img_pull's frame: ref_str parsed, then pull(data, ref) run once for
 * every caller asking for the same canonical reference meanwhile, each
 * caller getting its result (*ret_id the image id). Called without the
 * lock. */
int img_pull_once(const struct img_pulls *t, const char *ref_str,
                  int (*pull)(void *data, const struct img_ref *ref, char **ret_id,
                              struct uvm_error **err),
                  void *data, char **ret_id, struct uvm_error **err);

/* The image manifest ref names, resolved at its registry (an index to its
 * linux/amd64 entry), its digest checked, and the names the record gets. */
struct img_resolved {
        char *body; /* the manifest */
        size_t len;
        char digest[IMG_DIGEST_LEN + 1]; /* of body */
        char *tag;                       /* "name:tag", NULL when ref has no tag */
        char *name_digest;               /* "name@<digest of what ref names>" */
};
int img_pull_resolve(struct reg_client *reg, const struct img_ref *ref,
                     const struct img_registry_auth *auth, struct img_resolved *ret,
                     struct uvm_error **err);
void img_resolved_clear(struct img_resolved *r);

/* Media types a store takes: the configs, tar and tar+gzip layers, and
 * zstd ones when zstd_ok. -ENOTSUP naming the first other. */
int img_check_media(const struct img_manifest *m, bool zstd_ok, struct uvm_error **err);

/* The config's (json, len) diff ids, one per layer of m: -EBADMSG when
 * the counts differ. _load: the config read from the blob at path (NULL:
 * -ENOMEM, for a path that could not be made). */
int img_config_diff_ids(const struct img_manifest *m, const char *json, size_t len, char ***ret,
                        struct uvm_error **err);
int img_config_diff_ids_load(const struct img_manifest *m, const char *path, char ***ret,
                             struct uvm_error **err);

/* one(data, i) for i in [0, n) by up to IMG_PULL_WORKERS threads (here
 * when none can start): one layer's download overlaps another's
 * conversion. After a failure no new i starts; the first failure is the
 * answer. */
int img_layers_each(size_t n, int (*one)(void *data, size_t i, struct uvm_error **err), void *data,
                    struct uvm_error **err);
