/* CRI RuntimeService, pod sandboxes on Windows: the shared checks and
 * answers (service/cri_pod_common.h), with what an hcs pod cannot have
 * refused before anything is made. */

/* Before any <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and
 * CRI messages have fields of those names. */
#include "proto/api.pb-c.h"

#include <errno.h>
#include <string.h>

#include "network/net.h"
#include "network/pod_files.h"
#include "sandbox/sandbox.h"
#include "service/compute_agent_common.h"
#include "service/cri.h"
#include "service/cri_pod_common.h"
#include "sandbox/cri_resources.h"
#include "service/daemon.h"
#include "service/validate.h"

/* A VM pod has its own kernel and (through HCN) its own network: the
 * node's namespaces, user namespaces and Linux sysctls are refused. */
static int win_pod_checks(const Runtime__V1__PodSandboxConfig *c, struct uvm_error **err)
{
        const Runtime__V1__LinuxPodSandboxConfig *l = c->linux;
        const Runtime__V1__NamespaceOption *ns =
                l && l->security_context ? l->security_context->namespace_options : NULL;

        if (ns && (ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE ||
                   ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE ||
                   ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE))
                return uvm_error_set(err, EINVAL,
                                     "namespace_options: an hcs pod is a VM and cannot share the "
                                     "node's network, PID or IPC namespace");
        if (ns && ns->userns_options &&
            ns->userns_options->mode != RUNTIME__V1__NAMESPACE_MODE__NODE)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "namespace_options.userns_options: user namespaces are not "
                                     "available for hcs pods");
        if (l && l->n_sysctls)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "linux.sysctls: not available for hcs pods in this build");
        if (!STR_EMPTY(c->hostname))
                return validate_hostname("hostname", c->hostname, err);
        return 0;
}

/* The DNS config's entries bounded and checked (pod_files.h) before
 * anything is made: the same text goes into the VM after CNI. */
static int win_dns_check(const struct net_pod_config *net, struct uvm_error **err)
{
        struct net_pod_files f = {0};
        int r = net_pod_files_build(&(struct net_pod_files_in){.hostname = "localhost",
                                                               .dns_servers = net->dns_servers,
                                                               .dns_searches = net->dns_searches,
                                                               .dns_options = net->dns_options},
                                    &f, err);

        net_pod_files_clear(&f);
        return r < 0 ? uvm_error_wrap(err, "dns_config") : 0;
}

static int win_run_pod(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__RunPodSandboxRequest *req = (const void *) m;
        const struct handler_entry *handler;
        struct net_port ports[CRI_POD_MAX_PORTS];
        struct net_pod_config net;
        struct pod_record rec = {0};
        _cleanup_free_ char *id = NULL;
        int r;

        /* The handler's lookup refuses one that cannot run pods here. */
        r = cri_pod_rec_common(ctx, req, &rec, &handler, err);
        if (r >= 0)
                r = win_pod_checks(req->config, err);
        /* Kept as Linux keeps them (UpdatePodSandboxResources too). */
        if (r >= 0 && req->config->linux)
                r = cri_pod_limits(req->config->linux->resources, req->config->linux->overhead,
                                   &rec.limits, err);
        if (r >= 0) {
                rec.hostname = STR_EMPTY(req->config->hostname) ? NULL : req->config->hostname;
                /* CNI over HCN (names, published ports, DNS, as on
                 * Linux), then the driver's NICs (sandbox_win.c) */
                r = cri_pod_net_cfg(ctx, req->config, rec.hostname, ports, &net, err);
        }
        if (r >= 0)
                r = win_dns_check(&net, err);
        if (r >= 0)
                r = sbx_pod_run(ctx->daemon->sbx, &rec, &net, false, &id, err);
        cri_pod_rec_release(&rec);
        return r < 0 ? r : cri_pod_run_answer(ctx, id, ret, err);
}

static int win_pod_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__PodSandboxStatusRequest *req = (const void *) m;
        struct pod_record r = {0};
        int rc = cri_pod_id_arg(req->pod_sandbox_id, err);

        if (rc >= 0)
                rc = sbx_pod_get(ctx->daemon->sbx, req->pod_sandbox_id, &r, err);
        if (rc < 0)
                return rc;
        /* Every pod's ComputeAgent is on the CRI's own listener
         * (compute_agent_win.c), routed by container_id. */
        rc = cri_pod_status_answer(ctx, &r, CAGENT_ANNOTATION, ctx->daemon->cfg.socket,
                                   req->verbose, ret, err);
        pod_record_clear(&r);
        return rc;
}

const struct srv_binding cri_win_pod_bindings[] = {
        {"runtime.v1.RuntimeService", "RunPodSandbox", SRV_UNARY, false, win_run_pod, NULL},
        {"runtime.v1.RuntimeService", "StopPodSandbox", SRV_UNARY, false, cri_pod_stop, NULL},
        {"runtime.v1.RuntimeService", "RemovePodSandbox", SRV_UNARY, false, cri_pod_remove, NULL},
        {"runtime.v1.RuntimeService", "PodSandboxStatus", SRV_UNARY, false, win_pod_status, NULL},
        {"runtime.v1.RuntimeService", "ListPodSandbox", SRV_UNARY, false, cri_pod_list_call, NULL,
         cri_list_pods_fast},
        {"runtime.v1.RuntimeService", "UpdatePodSandboxResources", SRV_UNARY, false,
         cri_pod_update_resources, NULL},
        {0},
};
