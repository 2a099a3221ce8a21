#pragma once

/*
 * What the Linux and Windows RuntimeService handlers share: the Version
 * answer and how a Status condition is built.
 */

#include <stdbool.h>

#include "proto/api.pb-c.h"

#include "service/handler.h"

/* The services every uvmd offers (descriptors for dispatch and reflection). */
#define CRI_N_SERVICES 5
extern const ProtobufCServiceDescriptor *const cri_services[CRI_N_SERVICES];

int cri_version(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                struct uvm_error **err);

/* A condition; reason and message are "" when it holds. NULL: out of
 * memory. */
Runtime__V1__RuntimeCondition *cri_condition(struct srv_ctx *ctx, const char *type, bool ok,
                                             const char *reason, const char *msg);

/* UpdateRuntimeConfig: the pod CIDR checked and persisted (runtime_state.h). */
int cri_update_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *m,
                              ProtobufCMessage **ret, struct uvm_error **err);

/* Status(verbose)'s one info entry, "config": config (JSON in the call's
 * arena; NULL counts as out of memory). -ENOMEM or 0. */
int cri_status_config_info(struct srv_ctx *ctx, Runtime__V1__StatusResponse *r, char *config);
