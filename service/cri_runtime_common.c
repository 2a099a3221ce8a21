/* Shared RuntimeService pieces (cri_runtime_common.h): Linux and Windows. */

/* Before any <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and
 * CRI messages have fields of those names. */
#include "proto/api.pb-c.h"

#include <errno.h>

#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"

#include "service/cri_runtime_common.h"
#include "service/daemon.h"
#include "service/runtime_state.h"
#include "service/validate.h"

const ProtobufCServiceDescriptor *const cri_services[CRI_N_SERVICES] = {
        &runtime__v1__runtime_service__descriptor,
        &runtime__v1__image_service__descriptor,
        &grpc__health__v1__health__descriptor,
        &grpc__reflection__v1__server_reflection__descriptor,
        &grpc__reflection__v1alpha__server_reflection__descriptor,
};

int cri_version(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                struct uvm_error **err)
{
        Runtime__V1__VersionResponse *r = srv_new(ctx, Runtime__V1__VersionResponse);

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__version_response__init(r);
        /* "version" is the kubelet-facing API version of the CRI service. */
        r->version = "0.1.0";
        r->runtime_name = UVMD_NAME;
        r->runtime_version = UVMD_VERSION;
        r->runtime_api_version = CRI_API_VERSION;
        *ret = &r->base;
        return 0;
}

Runtime__V1__RuntimeCondition *cri_condition(struct srv_ctx *ctx, const char *type, bool ok,
                                             const char *reason, const char *msg)
{
        Runtime__V1__RuntimeCondition *c = srv_new(ctx, Runtime__V1__RuntimeCondition);

        if (!c)
                return NULL;
        runtime__v1__runtime_condition__init(c);
        c->type = (char *) type;
        c->status = ok;
        c->reason = srv_strdup(ctx, ok ? "" : reason);
        c->message = srv_strdup(ctx, ok ? "" : msg);
        return c;
}

/* The node's pod CIDR, kept for Status (verbose) across restarts; the CNI
 * plugins have their own ranges. */
int cri_update_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *m,
                              ProtobufCMessage **ret, struct uvm_error **err)
{
        const Runtime__V1__UpdateRuntimeConfigRequest *req = (const void *) m;
        Runtime__V1__UpdateRuntimeConfigResponse *r =
                srv_new(ctx, Runtime__V1__UpdateRuntimeConfigResponse);
        const char *cidr;
        int rc;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__update_runtime_config_response__init(r);
        *ret = &r->base;
        /* The kubelet sends an empty update at start-up: nothing to change. */
        if (!req->runtime_config || !req->runtime_config->network_config ||
            STR_EMPTY(req->runtime_config->network_config->pod_cidr))
                return 0;
        cidr = req->runtime_config->network_config->pod_cidr;
        rc = validate_cidrs("runtime_config.network_config.pod_cidr", cidr, err);
        if (rc < 0)
                return rc;
        return rt_set_pod_cidr(ctx->daemon, cidr, err);
}

int cri_status_config_info(struct srv_ctx *ctx, Runtime__V1__StatusResponse *r, char *config)
{
        Runtime__V1__StatusResponse__InfoEntry *e =
                srv_new(ctx, Runtime__V1__StatusResponse__InfoEntry);

        r->info = srv_new_array(ctx, Runtime__V1__StatusResponse__InfoEntry *, 1);
        if (!e || !r->info || !config)
                return -ENOMEM;
        runtime__v1__status_response__info_entry__init(e);
        e->key = "config";
        e->value = config;
        r->info[0] = e;
        r->n_info = 1;
        return 0;
}
