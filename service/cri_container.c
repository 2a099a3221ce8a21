/* CRI RuntimeService, containers on Linux: the shared handlers
 * (cri_ctr_common.c, cri_exec_common.c, cri_update_common.c:
 * UpdateContainerResources) with metrics. */

#include "proto/api.pb-c.h"

#include "common/log.h"
#include "common/platform.h"
#include "service/cri.h"
#include "service/cri_ctr_common.h"
#include "service/cri_update_common.h"
#include "service/daemon.h"
#include "service/metrics_uvmd.h"

static int cri_create_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        uint64_t t0 = plat_now_ns();
        int r = cri_ctr_create(ctx, m, ret, err);

        if (r >= 0)
                metrics_ctr_created(((Runtime__V1__CreateContainerResponse *) *ret)->container_id,
                                    plat_now_ns() - t0);
        return r;
}

static int cri_start_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Runtime__V1__StartContainerRequest *req = (const void *) m;
        uint64_t t0 = plat_now_ns(), total;
        int r = cri_ctr_start(ctx, m, ret, err);

        if (r < 0)
                return r;
        /* The pod-start histogram's container phase: create + start. */
        total = metrics_ctr_started(req->container_id, plat_now_ns() - t0);
        log_debug("container %s: created and started in %.3f s", req->container_id,
                  (double) total / 1e9);
        return r;
}

const struct srv_binding cri_container_bindings[] = {
        {"runtime.v1.RuntimeService", "CreateContainer", SRV_UNARY, false, cri_create_ctr, NULL},
        {"runtime.v1.RuntimeService", "StartContainer", SRV_UNARY, false, cri_start_ctr, NULL},
        {"runtime.v1.RuntimeService", "StopContainer", SRV_UNARY, false, cri_ctr_stop, NULL},
        {"runtime.v1.RuntimeService", "RemoveContainer", SRV_UNARY, false, cri_ctr_remove, NULL},
        {"runtime.v1.RuntimeService", "ContainerStatus", SRV_UNARY, false, cri_ctr_status, NULL},
        {"runtime.v1.RuntimeService", "ListContainers", SRV_UNARY, false, cri_ctr_list_call, NULL,
         cri_list_ctrs_fast},
        {"runtime.v1.RuntimeService", "ExecSync", SRV_UNARY, false, cri_ctr_exec_sync, NULL},
        {"runtime.v1.RuntimeService", "ReopenContainerLog", SRV_UNARY, false, cri_ctr_reopen_log,
         NULL},
        {"runtime.v1.RuntimeService", "UpdateContainerResources", SRV_UNARY, false, cri_ctr_update,
         NULL},
        {0},
};
