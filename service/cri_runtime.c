/* CRI RuntimeService: Version, Status, RuntimeConfig, UpdateRuntimeConfig. */

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "common/fs.h"
#include "common/log.h"
#include "network/net.h"
#include "service/cri_runtime_common.h"
#include "service/daemon.h"
#include "service/runtime_state.h"
#include "service/validate.h"

static Runtime__V1__RuntimeCondition *runtime_ready(struct srv_ctx *ctx)
{
        const struct uvmd_config *cfg = &ctx->daemon->cfg;
        _cleanup_free_ char *path = NULL;

        if (access(cfg->state_root, W_OK) < 0)
                return cri_condition(ctx, "RuntimeReady", false, "StateRootUnwritable",
                                     srv_printf(ctx, "state root '%s' is not writable: %s",
                                                cfg->state_root, strerror(errno)));
        if (fs_find_exec(cfg->oci_runtime, &path) < 0)
                return cri_condition(
                        ctx, "RuntimeReady", false, "OCIRuntimeMissing",
                        srv_printf(ctx, "OCI runtime '%s' not found on PATH", cfg->oci_runtime));
        return cri_condition(ctx, "RuntimeReady", true, NULL, NULL);
}

static Runtime__V1__RuntimeCondition *network_ready(struct srv_ctx *ctx)
{
        _cleanup_free_ char *msg = NULL;

        /* cached by the network module and refreshed by its dir watch */
        if (!net_ready(ctx->daemon->net, &msg))
                return cri_condition(ctx, "NetworkReady", false, "NetworkPluginNotReady",
                                     srv_printf(ctx, "cni config uninitialized: %s",
                                                msg ? msg : "no valid CNI config"));
        return cri_condition(ctx, "NetworkReady", true, NULL, NULL);
}

static json_object *verbose_handlers(const struct handlers *hs)
{
        json_object *o = json_object_new_object();

        for (size_t i = 0; i < hs->n; i++) {
                const struct handler_entry *e = &hs->v[i];
                json_object *h = json_object_new_object();

                json_object_object_add(h, "driver", json_object_new_string(e->driver));
                json_object_object_add(h, "usable", json_object_new_boolean(e->usable));
                json_object_object_add(h, "reason", json_object_new_string(e->reason));
                json_object_object_add(o, e->name, h);
        }
        return o;
}

static char *verbose_config(struct srv_ctx *ctx)
{
        const struct uvmd_config *cfg = &ctx->daemon->cfg;
        const struct handlers *hs = &ctx->daemon->handlers;
        json_object *o = json_object_new_object();
        _cleanup_free_ char *cidr = rt_pod_cidr(ctx->daemon);
        char *s;

        json_object_object_add(o, "socket", json_object_new_string(cfg->socket));
        json_object_object_add(o, "stateRoot", json_object_new_string(cfg->state_root));
        json_object_object_add(o, "dataRoot", json_object_new_string(cfg->data_root));
        json_object_object_add(o, "cniConfDir", json_object_new_string(cfg->cni_conf_dir));
        json_object_object_add(o, "ociRuntime", json_object_new_string(cfg->oci_runtime));
        json_object_object_add(o, "defaultDriver", json_object_new_string(hs->v[0].driver));
        json_object_object_add(o, "defaultDriverReason", json_object_new_string(hs->v[0].reason));
        json_object_object_add(o, "runtimeHandlers", verbose_handlers(hs));
        json_object_object_add(o, "podCIDR", json_object_new_string(cidr ? cidr : ""));
        s = srv_strdup(ctx, json_object_to_json_string_ext(
                                    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

/* Only handlers that can run pods here: the kubelet trusts what is listed. */
static int add_handlers(struct srv_ctx *ctx, Runtime__V1__StatusResponse *r)
{
        const struct handlers *hs = &ctx->daemon->handlers;

        r->runtime_handlers = srv_new_array(ctx, Runtime__V1__RuntimeHandler *, hs->n);
        if (!r->runtime_handlers)
                return -ENOMEM;
        for (size_t i = 0; i < hs->n; i++) {
                const struct handler_entry *e = &hs->v[i];
                Runtime__V1__RuntimeHandler *h;
                Runtime__V1__RuntimeHandlerFeatures *f;

                if (!e->usable)
                        continue;
                h = srv_new(ctx, Runtime__V1__RuntimeHandler);
                f = srv_new(ctx, Runtime__V1__RuntimeHandlerFeatures);
                if (!h || !f)
                        return -ENOMEM;
                runtime__v1__runtime_handler__init(h);
                runtime__v1__runtime_handler_features__init(f);
                h->name = e->name;
                f->recursive_read_only_mounts = e->rro_mounts;
                f->user_namespaces = e->user_namespaces;
                h->features = f;
                r->runtime_handlers[r->n_runtime_handlers++] = h;
        }
        return 0;
}

static int cri_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__StatusRequest *req = (const void *) m;
        Runtime__V1__StatusResponse *r = srv_new(ctx, Runtime__V1__StatusResponse);
        Runtime__V1__RuntimeStatus *st = srv_new(ctx, Runtime__V1__RuntimeStatus);
        Runtime__V1__RuntimeCondition **conds =
                srv_new_array(ctx, Runtime__V1__RuntimeCondition *, 2);

        if (!r || !st || !conds)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__status_response__init(r);
        runtime__v1__runtime_status__init(st);
        conds[0] = runtime_ready(ctx);
        conds[1] = network_ready(ctx);
        if (!conds[0] || !conds[1] || add_handlers(ctx, r) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        st->conditions = conds;
        st->n_conditions = 2;
        r->status = st;
        r->features = srv_new(ctx, Runtime__V1__RuntimeFeatures);
        if (!r->features)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__runtime_features__init(r->features);
        /* run_as_user's groups follow supplemental_groups_policy (sandbox/user.c). */
        r->features->supplemental_groups_policy = true;
        if (req->verbose && cri_status_config_info(ctx, r, verbose_config(ctx)) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &r->base;
        return 0;
}

static int cri_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *m,
                              ProtobufCMessage **ret, struct uvm_error **err)
{
        Runtime__V1__RuntimeConfigResponse *r = srv_new(ctx, Runtime__V1__RuntimeConfigResponse);
        Runtime__V1__LinuxRuntimeConfiguration *l =
                srv_new(ctx, Runtime__V1__LinuxRuntimeConfiguration);

        if (!r || !l)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__runtime_config_response__init(r);
        runtime__v1__linux_runtime_configuration__init(l);
        l->cgroup_driver = rt_cgroup_driver_is_systemd(&ctx->daemon->cfg)
                                   ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                   : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
        r->linux = l;
        *ret = &r->base;
        return 0;
}

const struct srv_binding cri_runtime_bindings[] = {
        {"runtime.v1.RuntimeService", "Version", SRV_UNARY, true, cri_version, NULL},
        {"runtime.v1.RuntimeService", "Status", SRV_UNARY, false, cri_status, NULL},
        {"runtime.v1.RuntimeService", "RuntimeConfig", SRV_UNARY, true, cri_runtime_config, NULL},
        {"runtime.v1.RuntimeService", "UpdateRuntimeConfig", SRV_UNARY, false,
         cri_update_runtime_config, NULL},
        {0},
};
