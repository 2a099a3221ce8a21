/*
 * uvmd.exe's ComputeAgent (compute_agent-plat.h): served on the CRI's own
 * loopback listener, one endpoint for every pod, each request routed by its
 * container_id (the pod sandbox id, required here, ModifyNIC included). A
 * NIC is an HCN endpoint, named by Endpoint.host_interface (its GUID), that
 * the pod's hcs driver adds to the pod's namespace and VM (drv_ops.nic_add,
 * sandbox/drivers/hcs/nic_ca.c); its MAC and address are HCN's, so AddNIC
 * takes nothing else, and ModifyNIC changes the guest's address, default
 * route and MTU. The driver records the NICs, so a restarted uvmd.exe
 * knows them; docs/windows.md says why one endpoint.
 */

/* Before <stdio.h>: msvcrt's stdin, stdout and stderr are macros. */
#include "proto/computeagent.pb-c.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "sandbox/record.h"
#include "sandbox/sandbox.h"
#include "service/compute_agent-plat.h"
#include "service/daemon.h"

#define ID_MAX 64 /* a pod id; a nic_id (network/nic.h's NIC_ID_MAX) */

/* 1..64 of [A-Za-z0-9_.-], as Linux's endpoints check them. */
static int check_id(const char *what, const char *id, struct uvm_error **err)
{
        size_t n = id ? strlen(id) : 0;

        if (n == 0 || n > ID_MAX)
                return uvm_error_set(err, EINVAL, "%s must be 1 to %d characters", what, ID_MAX);
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]) && !strchr("_.-", id[i]))
                        return uvm_error_set(err, EINVAL,
                                             "%s '%s': only letters, digits, '_', '.', '-'", what,
                                             id);
        return 0;
}

int cagent_plat_check(struct srv_ctx *ctx, const char *container_id, bool optional,
                      const char *nic_id, struct uvm_error **err)
{
        struct sbx *sbx = ctx->daemon->sbx;
        struct pod_record rec = {0};
        bool same;
        int r;

        if (STR_EMPTY(container_id))
                return uvm_error_set(err, EINVAL,
                                     "container_id is required: uvmd.exe serves every pod's "
                                     "ComputeAgent on one endpoint");
        r = check_id("container_id", container_id, err);
        if (r < 0)
                return r;
        /* The whole id: a prefix could name another pod tomorrow. */
        r = sbx_pod_get(sbx, container_id, &rec, err);
        if (r < 0)
                return r;
        same = STR_EQ(rec.id, container_id);
        pod_record_clear(&rec);
        if (!same)
                return uvm_error_set(err, ENOENT, "pod sandbox '%s' not found", container_id);
        if (!sbx_pod_guest_nics(sbx, container_id))
                return uvm_error_set(err, EOPNOTSUPP, "pod %s: its driver adds no NICs",
                                     container_id);
        return check_id("nic_id", nic_id, err);
}

/* The request's fields as the driver takes them (routes from the call's
 * arena); on hcs only the guest's side of them is used. */
static int nic_from(struct srv_ctx *ctx, const Uvmd__Computeagent__V1__Endpoint *e,
                    struct drv_nic *ret, struct uvm_error **err)
{
        const char **dst = srv_new_array(ctx, const char *, e->n_routes);
        const char **gw = srv_new_array(ctx, const char *, e->n_routes);

        if (!dst || !gw)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < e->n_routes; i++) {
                if (!e->routes[i])
                        return uvm_error_set(err, EINVAL, "routes[%zu] is empty", i);
                dst[i] = e->routes[i]->destination;
                gw[i] = STR_EMPTY(e->routes[i]->gateway) ? NULL : e->routes[i]->gateway;
        }
        *ret = (struct drv_nic){
                .ifname = STR_EMPTY(e->interface_name) ? NULL : e->interface_name,
                .mac = STR_EMPTY(e->mac) ? NULL : e->mac,
                .mtu = e->mtu,
                .addrs = (const char *const *) e->addresses,
                .n_addrs = e->n_addresses,
                .route_dst = dst,
                .route_gw = gw,
                .n_routes = e->n_routes,
        };
        return 0;
}

int cagent_plat_add(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                    const Uvmd__Computeagent__V1__Endpoint *e, char **ret_ifname,
                    struct uvm_error **err)
{
        struct drv_nic n;
        int r;

        if (STR_EMPTY(e->host_interface))
                return uvm_error_set(err, EINVAL,
                                     "endpoint.host_interface is required: the HCN endpoint's id");
        r = nic_from(ctx, e, &n, err);
        if (r < 0)
                return r;
        n.hcn_endpoint = e->host_interface;
        /* The guest names the interface: nothing to answer. */
        return sbx_pod_nic(ctx->daemon->sbx, container_id, SBX_NIC_ADD, nic_id, NULL, &n, err);
}

int cagent_plat_modify(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       const Uvmd__Computeagent__V1__Endpoint *e, struct uvm_error **err)
{
        struct drv_nic n;
        int r;

        if (!STR_EMPTY(e->host_interface) || !STR_EMPTY(e->interface_name))
                return uvm_error_set(err, EINVAL,
                                     "host_interface and interface_name cannot change");
        r = nic_from(ctx, e, &n, err);
        if (r < 0)
                return r;
        return sbx_pod_nic(ctx->daemon->sbx, container_id, SBX_NIC_MODIFY, nic_id, NULL, &n, err);
}

int cagent_plat_delete(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       struct uvm_error **err)
{
        const struct drv_nic none = {0};

        return sbx_pod_nic(ctx->daemon->sbx, container_id, SBX_NIC_REMOVE, nic_id, NULL, &none,
                           err);
}
