/* RuntimeService's pod sandbox handlers, the part both builds share
 * (cri_pod_common.h). */

#include "proto/api.pb-c.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "network/net.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"
#include "sandbox/uvm_options.h"
#include "service/cri.h"
#include "service/cri_pod_common.h"
#include "sandbox/cri_resources.h"
#include "service/daemon.h"
#include "service/validate.h"

#define MAX_KV 256
/* As containerd: the kubelet has already stopped the containers with their
 * grace periods; what is left is killed at once. */
#define POD_STOP_TIMEOUT_MS 0

static int uvm_opts(const struct uvmd_config *cfg, const Runtime__V1__PodSandboxConfig *c,
                    struct drv_uvm_options *ret, struct uvm_error **err)
{
        struct uvm_kv kv[MAX_KV];
        struct uvm_options_input in = {
                .annotations = kv, .allow_annotations = STR_EQ(cfg->vm_size_annotations, "allow")};
        const Runtime__V1__LinuxContainerResources *res = c->linux ? c->linux->resources : NULL;

        for (size_t i = 0; i < c->n_annotations && i < MAX_KV; i++)
                kv[in.n_annotations++] =
                        (struct uvm_kv){c->annotations[i]->key, c->annotations[i]->value};
        if (res) {
                in.memory_limit_bytes = res->memory_limit_in_bytes;
                in.cpu_quota = res->cpu_quota;
                in.cpu_period = res->cpu_period;
        }
        /* The pod's overhead (its RuntimeClass's) is the UVM's too. */
        if (res && res->memory_limit_in_bytes > 0 && c->linux->overhead &&
            c->linux->overhead->memory_limit_in_bytes > 0 &&
            c->linux->overhead->memory_limit_in_bytes <= INT64_MAX - in.memory_limit_bytes)
                in.memory_limit_bytes += c->linux->overhead->memory_limit_in_bytes;
        return uvm_options_resolve(&in, ret, err);
}

/* protoc-c arrays carry a count; the network module wants NULL-terminated. */
static char **strv0(struct srv_ctx *ctx, char **v, size_t n)
{
        char **out;

        if (n == 0)
                return NULL;
        out = srv_new_array(ctx, char *, n + 1);
        for (size_t i = 0; out && i < n; i++)
                out[i] = v[i];
        return out;
}

int cri_pod_net_cfg(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c,
                    const char *hostname, struct net_port *ports, struct net_pod_config *ret,
                    struct uvm_error **err)
{
        *ret = (struct net_pod_config){
                .name = c->metadata->name,
                .namespace_ = c->metadata->namespace_,
                .uid = c->metadata->uid,
                .hostname = hostname,
                .ports = ports,
        };
        if (c->n_port_mappings > CRI_POD_MAX_PORTS)
                return uvm_error_set(err, EINVAL, "more than %d port_mappings", CRI_POD_MAX_PORTS);
        for (size_t i = 0; i < c->n_port_mappings; i++) {
                const Runtime__V1__PortMapping *p = c->port_mappings[i];
                if (p->container_port <= 0 || p->container_port > 65535 || p->host_port < 0 ||
                    p->host_port > 65535 || (int) p->protocol < 0 || p->protocol > 2)
                        return uvm_error_set(err, EINVAL,
                                             "port_mappings[%zu]: bad port or protocol", i);
                if (p->host_port == 0)
                        continue; /* only hostPorts need the portmap plugin */
                ports[ret->n_ports++] = (struct net_port){p->protocol, (uint16_t) p->container_port,
                                                          (uint16_t) p->host_port, p->host_ip};
        }
        if (c->dns_config) {
                const Runtime__V1__DNSConfig *d = c->dns_config;
                ret->dns_servers = strv0(ctx, d->servers, d->n_servers);
                ret->dns_searches = strv0(ctx, d->searches, d->n_searches);
                ret->dns_options = strv0(ctx, d->options, d->n_options);
        }
        return 0;
}

int cri_pod_rec_common(struct srv_ctx *ctx, const Runtime__V1__RunPodSandboxRequest *req,
                       struct pod_record *rec, const struct handler_entry **ret_handler,
                       struct uvm_error **err)
{
        const Runtime__V1__PodSandboxConfig *c = req->config;
        const struct handler_entry *handler;
        int r;

        *rec = (struct pod_record){0};
        if (!c || !c->metadata)
                return uvm_error_set(err, EINVAL, "config.metadata is required");
        if ((r = validate_string("metadata.name", c->metadata->name, 253, err)) < 0 ||
            (r = validate_string("metadata.namespace", c->metadata->namespace_, 253, err)) < 0 ||
            (r = validate_string("metadata.uid", c->metadata->uid, 253, err)) < 0)
                return r;
        r = handlers_get(&ctx->daemon->handlers, req->runtime_handler, &handler, err);
        if (r < 0)
                return r;
        *rec = (struct pod_record){
                .name = c->metadata->name,
                .namespace_ = c->metadata->namespace_,
                .uid = c->metadata->uid,
                .attempt = c->metadata->attempt,
                .runtime_handler = req->runtime_handler,
                .driver = handler->driver,
                .log_directory = STR_EMPTY(c->log_directory) ? NULL : c->log_directory,
        };
        r = uvm_opts(&ctx->daemon->cfg, c, &rec->uvm, err);
        if (r >= 0)
                r = cri_kv_from((void *const *) c->labels, c->n_labels, "labels", &rec->labels,
                                &rec->n_labels, err);
        if (r >= 0)
                r = cri_kv_from((void *const *) c->annotations, c->n_annotations, "annotations",
                                &rec->annotations, &rec->n_annotations, err);
        if (r >= 0)
                *ret_handler = handler;
        return r;
}

void cri_pod_rec_release(struct pod_record *rec)
{
        record_kv_free(rec->labels, rec->n_labels);
        record_kv_free(rec->annotations, rec->n_annotations);
        rec->labels = rec->annotations = NULL;
        rec->n_labels = rec->n_annotations = 0;
}

int cri_pod_run_answer(struct srv_ctx *ctx, const char *id, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        Runtime__V1__RunPodSandboxResponse *resp = srv_new(ctx, Runtime__V1__RunPodSandboxResponse);

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__run_pod_sandbox_response__init(resp);
        resp->pod_sandbox_id = srv_strdup(ctx, id);
        if (!resp->pod_sandbox_id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &resp->base;
        return 0;
}

int cri_pod_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("pod_sandbox_id", id, 64, err);
}

int cri_any_pod_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("pod_sandbox_id", id, 1024, err);
}

int cri_pod_stop(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                 struct uvm_error **err)
{
        const Runtime__V1__StopPodSandboxRequest *req = (const void *) m;
        Runtime__V1__StopPodSandboxResponse *resp =
                srv_new(ctx, Runtime__V1__StopPodSandboxResponse);
        int r = cri_any_pod_id_arg(req->pod_sandbox_id, err);

        if (r >= 0)
                r = sbx_pod_stop(ctx->daemon->sbx, req->pod_sandbox_id, POD_STOP_TIMEOUT_MS, err);
        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__stop_pod_sandbox_response__init(resp);
        *ret = &resp->base;
        return 0;
}

int cri_pod_remove(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err)
{
        const Runtime__V1__RemovePodSandboxRequest *req = (const void *) m;
        Runtime__V1__RemovePodSandboxResponse *resp =
                srv_new(ctx, Runtime__V1__RemovePodSandboxResponse);
        int r = cri_any_pod_id_arg(req->pod_sandbox_id, err);

        if (r >= 0)
                r = sbx_pod_remove(ctx->daemon->sbx, req->pod_sandbox_id, err);
        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__remove_pod_sandbox_response__init(resp);
        *ret = &resp->base;
        return 0;
}

static Runtime__V1__PodSandboxMetadata *pod_meta(struct srv_ctx *ctx, const struct pod_record *r)
{
        Runtime__V1__PodSandboxMetadata *m = srv_new(ctx, Runtime__V1__PodSandboxMetadata);

        if (m) {
                runtime__v1__pod_sandbox_metadata__init(m);
                m->name = srv_strdup(ctx, r->name);
                m->namespace_ = srv_strdup(ctx, r->namespace_);
                m->uid = srv_strdup(ctx, r->uid);
                m->attempt = r->attempt;
        }
        return m;
}

static Runtime__V1__PodSandboxState pod_state(const struct pod_record *r)
{
        return r->state == POD_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                                     : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}

static Runtime__V1__PodSandboxNetworkStatus *pod_net(struct srv_ctx *ctx,
                                                     const struct pod_record *r)
{
        Runtime__V1__PodSandboxNetworkStatus *n =
                srv_new(ctx, Runtime__V1__PodSandboxNetworkStatus);

        if (!n)
                return NULL;
        runtime__v1__pod_sandbox_network_status__init(n);
        n->ip = srv_strdup(ctx, r->n_ips > 0 ? r->ips[0] : "");
        n->additional_ips = srv_new_array(ctx, Runtime__V1__PodIP *, r->n_ips);
        for (size_t i = 1; n->additional_ips && i < r->n_ips; i++) {
                Runtime__V1__PodIP *ip = srv_new(ctx, Runtime__V1__PodIP);
                if (!ip)
                        return NULL;
                runtime__v1__pod_ip__init(ip);
                ip->ip = srv_strdup(ctx, r->ips[i]);
                n->additional_ips[n->n_additional_ips++] = ip;
        }
        return n;
}

static Runtime__V1__LinuxPodSandboxStatus *pod_linux(struct srv_ctx *ctx,
                                                     const struct pod_record *r)
{
        Runtime__V1__LinuxPodSandboxStatus *l = srv_new(ctx, Runtime__V1__LinuxPodSandboxStatus);
        Runtime__V1__Namespace *ns = srv_new(ctx, Runtime__V1__Namespace);
        Runtime__V1__NamespaceOption *o = srv_new(ctx, Runtime__V1__NamespaceOption);

        if (!l || !ns || !o)
                return NULL;
        runtime__v1__linux_pod_sandbox_status__init(l);
        runtime__v1__namespace__init(ns);
        runtime__v1__namespace_option__init(o);
        /* An hcs pod's network is its VM's (HCN), never the node's. */
        o->network = r->netns_path || r->n_ips || STR_EQ(r->driver, "hcs")
                             ? RUNTIME__V1__NAMESPACE_MODE__POD
                             : RUNTIME__V1__NAMESPACE_MODE__NODE;
        o->ipc = r->host_ipc ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__POD;
        o->pid = r->host_pid    ? RUNTIME__V1__NAMESPACE_MODE__NODE
                 : r->share_pid ? RUNTIME__V1__NAMESPACE_MODE__POD
                                : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        ns->options = o;
        l->namespaces = ns;
        return l;
}

static char *pod_info_json(struct srv_ctx *ctx, const struct pod_record *r, const char *agent)
{
        json_object *o = json_object_new_object(), *u = json_object_new_object();
        char *s;

        json_object_object_add(o, "driver", json_object_new_string(r->driver));
        if (r->netns_path)
                json_object_object_add(o, "netns", json_object_new_string(r->netns_path));
        if (agent)
                json_object_object_add(o, "computeAgent", json_object_new_string(agent));
        json_object_object_add(u, "memoryMB", json_object_new_int64(r->uvm.memory_mb));
        json_object_object_add(u, "processors", json_object_new_int64(r->uvm.processors));
        json_object_object_add(u, "allowOvercommit",
                               json_object_new_boolean(r->uvm.allow_overcommit));
        json_object_object_add(o, "uvm", u);
        s = srv_strdup(ctx, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return s;
}

/* Announced, not stored: the endpoint exists only while uvmd serves it. */
static void status_add_agent(struct srv_ctx *ctx, Runtime__V1__PodSandboxStatus *st,
                             const char *key, const char *agent)
{
        Runtime__V1__PodSandboxStatus__AnnotationsEntry **v, *e;

        v = srv_new_array(ctx, Runtime__V1__PodSandboxStatus__AnnotationsEntry *,
                          st->n_annotations + 1);
        e = srv_new(ctx, Runtime__V1__PodSandboxStatus__AnnotationsEntry);
        if (!v || !e)
                return;
        runtime__v1__pod_sandbox_status__annotations_entry__init(e);
        e->key = (char *) key;
        e->value = srv_strdup(ctx, agent);
        for (size_t i = 0; i < st->n_annotations; i++)
                v[i] = st->annotations[i];
        v[st->n_annotations] = e;
        st->annotations = v;
        st->n_annotations++;
}

int cri_pod_status_answer(struct srv_ctx *ctx, const struct pod_record *r, const char *agent_key,
                          const char *agent, bool verbose, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        Runtime__V1__PodSandboxStatusResponse *resp =
                srv_new(ctx, Runtime__V1__PodSandboxStatusResponse);
        Runtime__V1__PodSandboxStatus *st = srv_new(ctx, Runtime__V1__PodSandboxStatus);

        if (!resp || !st)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__pod_sandbox_status_response__init(resp);
        runtime__v1__pod_sandbox_status__init(st);
        st->id = srv_strdup(ctx, r->id);
        st->metadata = pod_meta(ctx, r);
        st->state = pod_state(r);
        st->created_at = r->created_ns;
        st->network = pod_net(ctx, r);
        st->linux = pod_linux(ctx, r);
        st->runtime_handler = srv_strdup(ctx, r->runtime_handler ? r->runtime_handler : "");
        st->labels = cri_kv_to(ctx, r->labels, r->n_labels,
                               &runtime__v1__pod_sandbox_status__labels_entry__descriptor,
                               &st->n_labels);
        st->annotations = cri_kv_to(ctx, r->annotations, r->n_annotations,
                                    &runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
                                    &st->n_annotations);
        if (agent)
                status_add_agent(ctx, st, agent_key, agent);
        if (verbose) {
                Runtime__V1__PodSandboxStatusResponse__InfoEntry *e =
                        srv_new(ctx, Runtime__V1__PodSandboxStatusResponse__InfoEntry);
                resp->info =
                        srv_new_array(ctx, Runtime__V1__PodSandboxStatusResponse__InfoEntry *, 1);
                if (e && resp->info) {
                        runtime__v1__pod_sandbox_status_response__info_entry__init(e);
                        e->key = "info";
                        e->value = pod_info_json(ctx, r, agent);
                        resp->info[0] = e;
                        resp->n_info = 1;
                }
        }
        resp->status = st;
        *ret = &resp->base;
        return 0;
}

int cri_pod_update_resources(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                             struct uvm_error **err)
{
        const Runtime__V1__UpdatePodSandboxResourcesRequest *req = (const void *) m;
        Runtime__V1__UpdatePodSandboxResourcesResponse *resp =
                srv_new(ctx, Runtime__V1__UpdatePodSandboxResourcesResponse);
        struct sbx_pod_limits limits;
        int r = cri_pod_id_arg(req->pod_sandbox_id, err);

        if (r >= 0)
                r = cri_pod_limits(req->resources, req->overhead, &limits, err);
        if (r >= 0)
                r = sbx_pod_set_limits(ctx->daemon->sbx, req->pod_sandbox_id, &limits, err);
        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__update_pod_sandbox_resources_response__init(resp);
        *ret = &resp->base;
        return 0;
}

/* One ListPodSandbox answer being built (sandbox/list.h): the filter is
 * applied to the live records, and only the pods it keeps are copied, into
 * the call's arena. */
struct pod_list {
        struct srv_ctx *ctx;
        const Runtime__V1__PodSandboxFilter *f;
        Runtime__V1__PodSandbox **items;
        size_t n, cap;
};

static bool pod_keep(const struct pod_record *r, const void *arg)
{
        const Runtime__V1__PodSandboxFilter *f = ((const struct pod_list *) arg)->f;

        if (r->state == POD_CREATING)
                return false;
        if (!f)
                return true;
        if (!STR_EMPTY(f->id) && strncmp(r->id, f->id, strlen(f->id)) != 0)
                return false;
        if (f->state && pod_state(r) != f->state->state)
                return false;
        return cri_labels_match(r->labels, r->n_labels, (void *const *) f->label_selector,
                                f->n_label_selector);
}

/* Called under the pod's lock: copies what the answer needs, no more. */
static int pod_visit(const struct pod_record *r, void *arg)
{
        struct pod_list *l = arg;
        struct srv_ctx *ctx = l->ctx;
        Runtime__V1__PodSandbox *p = srv_new(ctx, Runtime__V1__PodSandbox);
        Runtime__V1__PodSandbox **items = cri_room(ctx, l->items, l->n, &l->cap, sizeof(*items));

        if (!p || !items)
                return -ENOMEM;
        l->items = items;
        runtime__v1__pod_sandbox__init(p);
        p->id = srv_strdup(ctx, r->id);
        p->metadata = pod_meta(ctx, r);
        p->state = pod_state(r);
        p->created_at = r->created_ns;
        p->runtime_handler = srv_strdup(ctx, r->runtime_handler ? r->runtime_handler : "");
        p->labels = cri_kv_to(ctx, r->labels, r->n_labels,
                              &runtime__v1__pod_sandbox__labels_entry__descriptor, &p->n_labels);
        p->annotations = cri_kv_to(ctx, r->annotations, r->n_annotations,
                                   &runtime__v1__pod_sandbox__annotations_entry__descriptor,
                                   &p->n_annotations);
        if (!p->id || !p->metadata || !p->runtime_handler || !p->labels || !p->annotations)
                return -ENOMEM;
        l->items[l->n++] = p;
        return 0;
}

int cri_pod_list(struct srv_ctx *ctx, const Runtime__V1__PodSandboxFilter *f,
                 ProtobufCMessage **ret, struct uvm_error **err)
{
        Runtime__V1__ListPodSandboxResponse *resp =
                srv_new(ctx, Runtime__V1__ListPodSandboxResponse);
        struct pod_list l = {.ctx = ctx, .f = f};
        int rc;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        l.cap = sbx_pod_count(ctx->daemon->sbx); /* grown if more appear meanwhile */
        rc = sbx_pod_each(ctx->daemon->sbx, pod_keep, pod_visit, &l, err);
        if (rc < 0)
                return rc;
        runtime__v1__list_pod_sandbox_response__init(resp);
        resp->items = l.items;
        resp->n_items = l.n;
        *ret = &resp->base;
        return 0;
}

int cri_pod_list_all(void *ctx, ProtobufCMessage **ret, struct uvm_error **err)
{
        return cri_pod_list(ctx, NULL, ret, err);
}

int cri_pod_list_call(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__ListPodSandboxRequest *req = (const void *) m;

        /* The kubelet's relist, every second: mostly the same answer. */
        if (list_pod_filter_empty(req->filter))
                return cri_list_cached(ctx, LIST_PODS, cri_pod_list_all, ctx, err);
        return cri_pod_list(ctx, req->filter, ret, err);
}
