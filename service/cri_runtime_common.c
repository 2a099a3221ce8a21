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
