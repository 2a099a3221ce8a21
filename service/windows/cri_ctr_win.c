/* CRI RuntimeService, containers on Windows: the handlers Linux shares
 * (cri_ctr_common.c, cri_exec_common.c, cri_update_common.c) over the
 * sandbox layer's portable container half and the hcs driver, which
 * reaches the agent in the pod's VM: the life cycle, ExecSync,
 * ReopenContainerLog (the CRI log is sandbox/log.c's, shared) and
 * UpdateContainerResources. A Windows node's kubelet gives a container
 * windows resources: CreateContainer maps them to the Linux ones the
 * container in the VM runs with, as UpdateContainerResources does
 * (cri_ctr_resources_pick). Stats (cri_stats.c) and Exec, Attach and
 * PortForward (service/cri_stream.c) are Linux's bindings, served as they
 * are by daemon_win.c, over the streaming server it starts. */

/* Before any <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and
 * CRI messages have fields of those names. */
#include "proto/api.pb-c.h"

#include <errno.h>

#include "sandbox/ids.h"
#include "service/cri.h"
#include "service/cri_ctr_common.h"
#include "service/cri_update_common.h"
#include "service/validate.h"
#include "service/windows/daemon_win.h"

/* The request with config.linux.resources the pick: windows ones mapped
 * (the copies from the call's arena; the request stays as it came). */
static int with_linux_resources(struct srv_ctx *ctx, const Runtime__V1__CreateContainerRequest *req,
                                const Runtime__V1__CreateContainerRequest **ret,
                                struct uvm_error **err)
{
        static const Runtime__V1__LinuxContainerConfig no_linux =
                RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        const Runtime__V1__ContainerConfig *c = req->config;
        Runtime__V1__CreateContainerRequest *q;
        Runtime__V1__ContainerConfig *qc;
        Runtime__V1__LinuxContainerConfig *ql;
        const Runtime__V1__LinuxContainerResources *res = NULL;
        _cleanup_free_ char *json = NULL;
        int r;

        *ret = req;
        /* Linux resources are checked where the spec is made (ctr_win.c);
         * anything else amiss in the request is cri_ctr_create's to say. */
        if (!c || (c->linux && c->linux->resources) || !c->windows || !c->windows->resources)
                return 0;
        r = validate_string("pod_sandbox_id", req->pod_sandbox_id, SBX_ID_LEN, err);
        if (r < 0)
                return r;
        r = cri_ctr_resources_pick(ctx, req->pod_sandbox_id, NULL, c->windows->resources, &res,
                                   &json, err);
        if (r < 0)
                return uvm_error_wrap(err, "config");
        q = srv_new(ctx, Runtime__V1__CreateContainerRequest);
        qc = srv_new(ctx, Runtime__V1__ContainerConfig);
        ql = srv_new(ctx, Runtime__V1__LinuxContainerConfig);
        if (!q || !qc || !ql)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ql = c->linux ? *c->linux : no_linux;
        ql->resources = (Runtime__V1__LinuxContainerResources *) res;
        *qc = *c;
        qc->linux = ql;
        *q = *req;
        q->config = qc;
        *ret = q;
        return 0;
}

static int cri_win_create_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m,
                              ProtobufCMessage **ret, struct uvm_error **err)
{
        const Runtime__V1__CreateContainerRequest *req = NULL;
        int r = with_linux_resources(ctx, (const void *) m, &req, err);

        return r < 0 ? r : cri_ctr_create(ctx, &req->base, ret, err);
}

const struct srv_binding cri_win_ctr_bindings[] = {
        {"runtime.v1.RuntimeService", "CreateContainer", SRV_UNARY, false, cri_win_create_ctr,
         NULL},
        {"runtime.v1.RuntimeService", "StartContainer", SRV_UNARY, false, cri_ctr_start, NULL},
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
