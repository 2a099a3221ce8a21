#pragma once

/* The CRI stats handlers (cri_stats.c), shared by Linux and Windows, and
 * their bindings, which both daemons serve. */

#include "proto/api.pb-c.h"

#include "service/handler.h"

int cri_ctr_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err);
int cri_list_ctr_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err);
int cri_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err);
int cri_list_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err);

extern const struct srv_binding cri_stats_bindings[];
