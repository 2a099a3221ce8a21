/* CRI RuntimeService on Windows: Version, Status, RuntimeConfig and
 * UpdateRuntimeConfig (shared with Linux). Status
 * reports the hcs driver's probe and HCN as daemon_win.c found them, and
 * the CNI config as it is now. */

/* Before any <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and
 * CRI messages have fields of those names. */
#include "proto/api.pb-c.h"

#include <string.h>

#include <json-c/json.h>

#include "common/macros.h"
#include "network/net_hcn.h"
#include "service/cri_runtime_common.h"
#include "service/runtime_state.h"
#include "service/windows/daemon_win.h"

/* The handlers that can run pods here: none while the hcs driver is not
 * bound (the kubelet trusts what is listed). */
static int win_handlers(struct srv_ctx *ctx, Runtime__V1__StatusResponse *r)
{
        const struct handlers *hs = &ctx->daemon->handlers;

        r->runtime_handlers = srv_new_array(ctx, Runtime__V1__RuntimeHandler *, hs->n);
        if (!r->runtime_handlers)
                return -ENOMEM;
        for (size_t i = 0; i < hs->n; i++) {
                Runtime__V1__RuntimeHandler *h;

                if (!hs->v[i].usable)
                        continue;
                h = srv_new(ctx, Runtime__V1__RuntimeHandler);
                if (!h)
                        return -ENOMEM;
                runtime__v1__runtime_handler__init(h);
                h->name = hs->v[i].name;
                r->runtime_handlers[r->n_runtime_handlers++] = h;
        }
        return 0;
}

/* HCN first (no pod gets a network without it); then, on a node that
 * runs CNI (its config dir exists), the config as Linux checks it: the
 * kubelet holds pods back until a DaemonSet has installed it. A node
 * without the dir networks its pods through the ComputeAgent only. */
static Runtime__V1__RuntimeCondition *network_ready(struct srv_ctx *ctx, const struct uvmd_win *w)
{
        _cleanup_free_ char *msg = NULL;
        struct net *n = ctx->daemon->net;

        if (!w->network_ready || !n)
                return cri_condition(ctx, "NetworkReady", false, "HCNUnavailable", w->network_why);
        if (!net_hcn_in_use(n) || net_hcn_ready(n, &msg))
                return cri_condition(ctx, "NetworkReady", true, NULL, NULL);
        return cri_condition(
                ctx, "NetworkReady", false, "NetworkPluginNotReady",
                srv_printf(ctx, "cni config uninitialized: %s", msg ? msg : "no valid CNI config"));
}

/* Status(verbose)'s "config": what an operator checks first. */
static char *verbose_config(struct srv_ctx *ctx)
{
        const struct uvmd_config *cfg = &ctx->daemon->cfg;
        _cleanup_free_ char *cidr = rt_pod_cidr(ctx->daemon);
        json_object *o = json_object_new_object();
        char *s;

        json_object_object_add(o, "socket", json_object_new_string(cfg->socket));
        json_object_object_add(o, "stateRoot", json_object_new_string(cfg->state_root));
        json_object_object_add(o, "dataRoot", json_object_new_string(cfg->data_root));
        json_object_object_add(o, "cniConfDir", json_object_new_string(cfg->cni_conf_dir));
        json_object_object_add(o, "podCIDR", json_object_new_string(cidr ? cidr : ""));
        s = srv_strdup(ctx, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return s;
}

static int win_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__StatusRequest *req = (const void *) m;
        const struct uvmd_win *w = ctx->data;
        const struct handler_entry *def = &ctx->daemon->handlers.v[0];
        Runtime__V1__StatusResponse *r = srv_new(ctx, Runtime__V1__StatusResponse);
        Runtime__V1__RuntimeStatus *st = srv_new(ctx, Runtime__V1__RuntimeStatus);
        Runtime__V1__RuntimeCondition **conds =
                srv_new_array(ctx, Runtime__V1__RuntimeCondition *, 2);

        if (!r || !st || !conds)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__status_response__init(r);
        runtime__v1__runtime_status__init(st);
        conds[0] = cri_condition(ctx, "RuntimeReady", def->usable, "HCSUnavailable", def->reason);
        conds[1] = network_ready(ctx, w);
        if (!conds[0] || !conds[1] || win_handlers(ctx, r) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        st->conditions = conds;
        st->n_conditions = 2;
        r->status = st;
        if (req->verbose && cri_status_config_info(ctx, r, verbose_config(ctx)) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &r->base;
        return 0;
}

/* Only Linux settings (the cgroup driver) exist in the response. */
static int win_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *m,
                              ProtobufCMessage **ret, struct uvm_error **err)
{
        Runtime__V1__RuntimeConfigResponse *r = srv_new(ctx, Runtime__V1__RuntimeConfigResponse);

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__runtime_config_response__init(r);
        *ret = &r->base;
        return 0;
}

const struct srv_binding cri_win_runtime_bindings[] = {
        {"runtime.v1.RuntimeService", "Version", SRV_UNARY, true, cri_version, NULL},
        {"runtime.v1.RuntimeService", "Status", SRV_UNARY, true, win_status, NULL},
        {"runtime.v1.RuntimeService", "RuntimeConfig", SRV_UNARY, true, win_runtime_config, NULL},
        {"runtime.v1.RuntimeService", "UpdateRuntimeConfig", SRV_UNARY, false,
         cri_update_runtime_config, NULL},
        {0},
};
