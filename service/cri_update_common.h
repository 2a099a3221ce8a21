#pragma once

/* UpdateContainerResources, Linux's and uvmd.exe's one handler, and the
 * choice of a container's Linux resources it shares with uvmd.exe's
 * CreateContainer (cri_update_common.c). */

#include "proto/api.pb-c.h"

#include "service/handler.h"

/* The Linux resources a container of pod_id runs with: l when given; else,
 * for a pod of the hcs driver (a Linux container in a Windows node's VM,
 * whose kubelet sends windows resources), w mapped to Linux values for
 * that pod's VM (cri_resources_from_windows), from the call's arena;
 * NULL when neither is given. Checked either way (-EINVAL naming the
 * field, -ENOENT for an unknown pod); *ret_json (malloc'd) is the OCI
 * linux.resources object, NULL with *ret. */
int cri_ctr_resources_pick(struct srv_ctx *ctx, const char *pod_id,
                           const Runtime__V1__LinuxContainerResources *l,
                           const Runtime__V1__WindowsContainerResources *w,
                           const Runtime__V1__LinuxContainerResources **ret, char **ret_json,
                           struct uvm_error **err);

int cri_ctr_update(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err);
