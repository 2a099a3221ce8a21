/* img_pull: resolve a reference at its registry and ingest what it names.
 * Callers asking for the same reference at once share one pull
 * (pull_common.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "image/manifest.h"
#include "image/pull_common.h"
#include "image/ref.h"
#include "image/store-internal.h"

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
                img_pull_count(stat(dest_path, &st) == 0 ? (uint64_t) st.st_size
                                                         : (uint64_t) (size > 0 ? size : 0));
        return r;
}

static int do_pull(void *data, const struct img_ref *ref, char **ret_id, struct uvm_error **err)
{
        struct reg_source *rs = data;
        struct img_blob_source src = {.fetch = reg_fetch, .data = rs};
        struct img_resolved m = {0};
        int r;

        rs->ref = ref;
        r = img_pull_resolve(rs->s->reg, ref, rs->auth, &m, err);
        if (r < 0)
                return r;
        r = img_ingest(rs->s, m.body, m.len, m.digest, &src, (char *[]){m.tag, NULL},
                       (char *[]){m.name_digest, NULL}, ret_id, err);
        img_resolved_clear(&m);
        return r;
}

int img_pull(struct img_store *s, const char *ref, const struct img_registry_auth *auth,
             char **ret_id, struct uvm_error **err)
{
        struct img_pulls t = {&s->lock, &s->cond, &s->pulls};
        struct reg_source rs = {.s = s, .auth = auth};

        return img_pull_once(&t, ref, do_pull, &rs, ret_id, err);
}
