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
