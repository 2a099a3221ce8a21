/* The unfiltered List answer from the daemon's list cache (cri.h), on a
 * worker or, for a hit, on the queue thread. Apart from cri.c, whose
 * request translations link without the daemon. */

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

/* On the queue thread: only the generation (an atomic) and the cache's
 * lock (trylock, held only to swap or take a reference) are touched, never
 * a record's lock, which a state change holds across an fsync'd write. */
static bool list_fast(struct srv_ctx *ctx, enum list_kind kind)
{
        uint64_t gen = sbx_list_gen(ctx->daemon->sbx);
        struct list_reply *r = list_cache_peek(ctx->daemon->lists, kind, gen);

        if (!r)
                return false;
        srv_reply_packed(ctx, list_reply_data(r), list_reply_len(r), list_reply_unref, r);
        return true;
}

bool cri_list_pods_fast(struct srv_ctx *ctx, const ProtobufCMessage *m)
{
        const Runtime__V1__ListPodSandboxRequest *req = (const void *) m;

        return list_pod_filter_empty(req->filter) && list_fast(ctx, LIST_PODS);
}

bool cri_list_ctrs_fast(struct srv_ctx *ctx, const ProtobufCMessage *m)
{
        const Runtime__V1__ListContainersRequest *req = (const void *) m;

        return list_ctr_filter_empty(req->filter) && list_fast(ctx, LIST_CTRS);
}
