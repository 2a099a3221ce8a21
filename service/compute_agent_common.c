/* The ComputeAgent handlers, shared (compute_agent_common.h). */

#include <stdlib.h>

#include "proto/computeagent.pb-c.h"

#include "common/macros.h"
#include "service/compute_agent-plat.h"
#include "service/compute_agent_common.h"

/* The lists bounded before anything is allocated for them. */
static int check_endpoint(const Uvmd__Computeagent__V1__Endpoint *e, struct uvm_error **err)
{
        if (!e)
                return uvm_error_set(err, EINVAL, "endpoint is required");
        if (e->n_addresses > CAGENT_MAX_ADDRESSES || e->n_routes > CAGENT_MAX_ROUTES)
                return uvm_error_set(err, EINVAL, "at most %d addresses and %d routes",
                                     CAGENT_MAX_ADDRESSES, CAGENT_MAX_ROUTES);
        return 0;
}

static int ca_add_nic(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Uvmd__Computeagent__V1__AddNICRequest *req = (const void *) m;
        Uvmd__Computeagent__V1__AddNICResponse *resp =
                srv_new(ctx, Uvmd__Computeagent__V1__AddNICResponse);
        _cleanup_free_ char *ifname = NULL;
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = cagent_plat_check(ctx, req->container_id, false, req->nic_id, err);
        if (r >= 0)
                r = check_endpoint(req->endpoint, err);
        if (r >= 0)
                r = cagent_plat_add(ctx, req->container_id, req->nic_id, req->endpoint, &ifname,
                                    err);
        if (r < 0)
                return r;
        uvmd__computeagent__v1__add_nicresponse__init(resp);
        resp->interface_name = srv_strdup(ctx, ifname ? ifname : "");
        *ret = &resp->base;
        return 0;
}

static int ca_modify_nic(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Uvmd__Computeagent__V1__ModifyNICRequest *req = (const void *) m;
        Uvmd__Computeagent__V1__ModifyNICResponse *resp =
                srv_new(ctx, Uvmd__Computeagent__V1__ModifyNICResponse);
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = cagent_plat_check(ctx, req->container_id, true, req->nic_id, err);
        if (r >= 0)
                r = check_endpoint(req->endpoint, err);
        if (r >= 0)
                r = cagent_plat_modify(ctx, req->container_id, req->nic_id, req->endpoint, err);
        if (r < 0)
                return r;
        uvmd__computeagent__v1__modify_nicresponse__init(resp);
        *ret = &resp->base;
        return 0;
}

static int ca_delete_nic(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Uvmd__Computeagent__V1__DeleteNICRequest *req = (const void *) m;
        Uvmd__Computeagent__V1__DeleteNICResponse *resp =
                srv_new(ctx, Uvmd__Computeagent__V1__DeleteNICResponse);
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = cagent_plat_check(ctx, req->container_id, false, req->nic_id, err);
        if (r >= 0)
                r = cagent_plat_delete(ctx, req->container_id, req->nic_id, err);
        if (r < 0)
                return r;
        uvmd__computeagent__v1__delete_nicresponse__init(resp);
        *ret = &resp->base;
        return 0;
}

const struct srv_binding cagent_bindings[] = {
        {CAGENT_SERVICE, "AddNIC", SRV_UNARY, false, ca_add_nic, NULL},
        {CAGENT_SERVICE, "ModifyNIC", SRV_UNARY, false, ca_modify_nic, NULL},
        {CAGENT_SERVICE, "DeleteNIC", SRV_UNARY, false, ca_delete_nic, NULL},
        {0},
};
