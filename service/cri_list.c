/* The unfiltered List answer from the daemon's list cache (cri.h). Apart
 * from cri.c, whose request translations link without the daemon. */

#include "sandbox/list.h"
#include "service/cri.h"
#include "service/daemon.h"

int cri_list_cached(struct srv_ctx *ctx, enum list_kind kind, list_build_fn build, void *arg,
                    struct uvm_error **err)
{
        /* Read before build() walks: a change during the walk leaves the
         * entry stale, never wrongly current. */
        uint64_t gen = sbx_list_gen(ctx->daemon->sbx);
        struct list_reply *r = NULL;
        int rc = list_cache_answer(ctx->daemon->lists, kind, gen, build, arg, &r, err);

        if (rc < 0)
                return rc;
        srv_reply_packed(ctx, list_reply_data(r), list_reply_len(r), list_reply_unref, r);
        return 0;
}
