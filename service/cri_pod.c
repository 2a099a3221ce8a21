/* CRI RuntimeService, pod sandboxes on Linux: decode, validate, call the
 * sandbox layer (sandbox/sandbox.h), encode. What Windows shares is in
 * cri_pod_common.c. */

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "network/net.h"
#include "sandbox/cgroup.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"
#include "sandbox/sysctl.h"
#include "sandbox/uvm_options.h"
#include "service/compute_agent.h"
#include "service/cri.h"
#include "service/cri_pod_common.h"
#include "sandbox/cri_resources.h"
#include "service/daemon.h"
#include "service/metrics_uvmd.h"
#include "service/runtime_state.h"
#include "service/validate.h"

static const Runtime__V1__NamespaceOption *ns_options(const Runtime__V1__PodSandboxConfig *c)
{
        if (c->linux && c->linux->security_context)
                return c->linux->security_context->namespace_options;
        return NULL;
}

/* An empty hostname means the node's, as containerd does; one the kernel
 * would refuse is refused here, before anything exists. */
static int pod_hostname(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c,
                        const char **ret, struct uvm_error **err)
{
        struct utsname u;

        if (!STR_EMPTY(c->hostname)) {
                *ret = c->hostname;
                return validate_hostname("hostname", c->hostname, err);
        }
        if (uname(&u) < 0)
                return uvm_error_set(err, errno, "uname: %m");
        *ret = srv_strdup(ctx, u.nodename);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

/* "name=value" for each of linux.sysctls, checked: namespaced, in a
 * namespace the pod owns. */
static int pod_sysctls(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c, bool host_net,
                       bool host_ipc, char ***ret, struct uvm_error **err)
{
        size_t n = c->linux ? c->linux->n_sysctls : 0;
        char **v;
        int r;

        *ret = NULL;
        if (n == 0)
                return 0;
        if (n > DRV_MAX_SYSCTLS)
                return uvm_error_set(err, EINVAL, "linux.sysctls: more than %d", DRV_MAX_SYSCTLS);
        v = srv_new_array(ctx, char *, n + 1);
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *k = c->linux->sysctls[i]->key, *val = c->linux->sysctls[i]->value;

                if ((r = validate_sysctl(k, val, err)) < 0 ||
                    (r = sysctl_check_for_pod(k, host_net, host_ipc, err)) < 0)
                        return uvm_error_wrap(err, "linux.sysctls");
                v[i] = srv_printf(ctx, "%s=%s", k, val);
                if (!v[i])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = v;
        return 0;
}

/* The pod's user namespace, checked: never run a pod without the isolation
 * it asked for, nor with host namespaces it would not own. */
static int pod_userns(const Runtime__V1__NamespaceOption *ns, const struct handler_entry *handler,
                      struct userns_map *ret, struct uvm_error **err)
{
        int r = cri_userns_from(ns ? ns->userns_options : NULL, ret, err);

        if (r < 0 || !userns_map_enabled(ret))
                return r;
        if (!handler->user_namespaces)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "runtime handler \"%s\" does not support user namespaces "
                                     "(namespace_options.userns_options.mode POD)",
                                     handler->name);
        if (ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE ||
            ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE ||
            ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE)
                return uvm_error_set(err, EINVAL,
                                     "namespace_options.userns_options: a pod in its own user "
                                     "namespace cannot use the node's network, PID or IPC "
                                     "namespace");
        return 0;
}

/* The pod record from the request (strings borrowed except kv copies):
 * the shared part (cri_pod_common.c), then Linux's namespaces, hostname,
 * sysctls, cgroup parent and limits. */
static int pod_rec_from(struct srv_ctx *ctx, const Runtime__V1__RunPodSandboxRequest *req,
                        struct pod_record *rec, bool *ret_host_net, struct uvm_error **err)
{
        const Runtime__V1__PodSandboxConfig *c = req->config;
        const Runtime__V1__NamespaceOption *ns;
        struct uvmd *d = ctx->daemon;
        const struct handler_entry *handler;
        const char *hostname = NULL;
        char **sysctls = NULL;
        int r;

        r = cri_pod_rec_common(ctx, req, rec, &handler, err);
        if (r >= 0 && rec->log_directory)
                r = validate_absolute_path("log_directory", rec->log_directory, err);
        if (r < 0)
                return r;
        ns = ns_options(c);
        r = pod_userns(ns, handler, &rec->userns, err);
        if (r < 0)
                return r;
        *ret_host_net = ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
        r = pod_hostname(ctx, c, &hostname, err);
        if (r >= 0)
                r = pod_sysctls(ctx, c, *ret_host_net,
                                ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE, &sysctls, err);
        if (r < 0)
                return r;
        if (c->linux && !STR_EMPTY(c->linux->cgroup_parent) &&
            (r = sbx_cgroup_parent_check(c->linux->cgroup_parent,
                                         rt_cgroup_driver_is_systemd(&d->cfg), err)) < 0)
                return r;
        rec->hostname = (char *) hostname;
        rec->sysctls = sysctls;
        rec->cgroup_parent =
                c->linux && !STR_EMPTY(c->linux->cgroup_parent) ? c->linux->cgroup_parent : NULL;
        rec->host_ipc = ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
        rec->host_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE;
        rec->share_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__POD;
        if (c->linux)
                r = cri_pod_limits(c->linux->resources, c->linux->overhead, &rec->limits, err);
        return r;
}

static int cri_run_pod(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__RunPodSandboxRequest *req = (const void *) m;
        struct pod_record rec = {0};
        struct net_port ports[CRI_POD_MAX_PORTS];
        struct net_pod_config net;
        struct sbx_pod_timing timing;
        _cleanup_free_ char *id = NULL;
        bool host_net = false;
        int r;

        r = pod_rec_from(ctx, req, &rec, &host_net, err);
        if (r >= 0)
                r = cri_pod_net_cfg(ctx, req->config, rec.hostname, ports, &net, err);
        if (r >= 0)
                r = sbx_pod_run_timed(ctx->daemon->sbx, &rec, &net, host_net, &id, &timing, err);
        /* Only the label/annotation copies are owned by rec. */
        cri_pod_rec_release(&rec);
        if (r < 0)
                return r;
        if (timing.network_ns)
                metrics_pod_phase("network", timing.network_ns);
        metrics_pod_phase("driver", timing.driver_ns);
        return cri_pod_run_answer(ctx, id, ret, err);
}

static int cri_pod_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__PodSandboxStatusRequest *req = (const void *) m;
        struct pod_record r = {0};
        _cleanup_free_ char *agent = NULL;
        int rc = cri_pod_id_arg(req->pod_sandbox_id, err);

        if (rc >= 0)
                rc = sbx_pod_get(ctx->daemon->sbx, req->pod_sandbox_id, &r, err);
        if (rc < 0)
                return rc;
        agent = cagent_address(ctx->daemon->cagent, r.id);
        rc = cri_pod_status_answer(ctx, &r, CAGENT_ANNOTATION, agent, req->verbose, ret, err);
        pod_record_clear(&r);
        return rc;
}

const struct srv_binding cri_pod_bindings[] = {
        {"runtime.v1.RuntimeService", "RunPodSandbox", SRV_UNARY, false, cri_run_pod, NULL},
        {"runtime.v1.RuntimeService", "StopPodSandbox", SRV_UNARY, false, cri_pod_stop, NULL},
        {"runtime.v1.RuntimeService", "RemovePodSandbox", SRV_UNARY, false, cri_pod_remove, NULL},
        {"runtime.v1.RuntimeService", "PodSandboxStatus", SRV_UNARY, false, cri_pod_status, NULL},
        {"runtime.v1.RuntimeService", "ListPodSandbox", SRV_UNARY, false, cri_pod_list_call, NULL,
         cri_list_pods_fast},
        {"runtime.v1.RuntimeService", "UpdatePodSandboxResources", SRV_UNARY, false,
         cri_pod_update_resources, NULL},
        {0},
};
