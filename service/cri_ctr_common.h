#pragma once

/* The CRI container handlers Linux and Windows share (cri_ctr_common.c):
 * validation, the sandbox layer's calls, the answers. */

#include "proto/api.pb-c.h"

#include "service/handler.h"

/* A container id uvmd could have made. */
int cri_ctr_id_arg(const char *id, struct uvm_error **err);

int cri_ctr_create(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err);
int cri_ctr_start(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err);
int cri_ctr_stop(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                 struct uvm_error **err);
int cri_ctr_remove(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err);
int cri_ctr_reopen_log(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err);
int cri_ctr_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err);
/* ExecSync (cri_exec_common.c): the command through the pod's driver,
 * its timeout and output caps. */
int cri_ctr_exec_sync(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err);
/* ListContainers: an empty filter from the cached answer. */
int cri_ctr_list_call(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err);
