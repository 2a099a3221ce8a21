#pragma once

/*
 * What a ComputeAgent request does, per platform (compute_agent_common.c
 * decodes and answers): Linux's per-pod endpoints move host interfaces
 * into the pod (compute_agent.c, network/nic.h); uvmd.exe adds HCN
 * endpoints to hcs pods through their driver (windows/compute_agent_win.c).
 * ctx->data is the serving instance's (srv_options.data). Each returns 0
 * or -errno with the reason in err.
 */

#include <stdbool.h>

#include "common/error.h"
#include "proto/computeagent.pb-c.h"
#include "service/handler.h"

/* The request's pod (container_id; optional: it may be empty) and nic_id,
 * before anything else is looked at. */
int cagent_plat_check(struct srv_ctx *ctx, const char *container_id, bool optional,
                      const char *nic_id, struct uvm_error **err);
/* ep: present, its lists within CAGENT_MAX_ADDRESSES / CAGENT_MAX_ROUTES.
 * *ret_ifname (malloc'd) is what AddNIC answers. */
int cagent_plat_add(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                    const Uvmd__Computeagent__V1__Endpoint *ep, char **ret_ifname,
                    struct uvm_error **err);
int cagent_plat_modify(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       const Uvmd__Computeagent__V1__Endpoint *ep, struct uvm_error **err);
int cagent_plat_delete(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       struct uvm_error **err);
