/* CRI RuntimeService, pod sandboxes: decode, validate, call the sandbox
 * layer (sandbox/sandbox.h), encode. */

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "network/net.h"
#include "sandbox/cgroup.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"
#include "sandbox/sysctl.h"
#include "sandbox/uvm_options.h"
#include "service/compute_agent.h"
#include "service/cri.h"
#include "service/cri_resources.h"
#include "service/daemon.h"
#include "service/metrics_uvmd.h"
#include "service/runtime_state.h"
#include "service/validate.h"

/* As containerd: the kubelet has already stopped the containers with their
 * grace periods; what is left is killed at once. */
#define POD_STOP_TIMEOUT_MS 0
#define MAX_KV 256
#define MAX_PORTS 64

static const Runtime__V1__NamespaceOption *ns_options(const Runtime__V1__PodSandboxConfig *c)
{
        if (c->linux && c->linux->security_context)
                return c->linux->security_context->namespace_options;
        return NULL;
}

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

/* An empty hostname means the node's, as containerd does; one the kernel
 * would refuse is refused here, before anything exists. */
static int pod_hostname(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c,
                        const char **ret, struct uvm_error **err)
{
        struct utsname u;

        if (!STR_EMPTY(c->hostname)) {
                *ret = c->hostname;
                return validate_hostname("hostname", c->hostname, err);
        }
        if (uname(&u) < 0)
                return uvm_error_set(err, errno, "uname: %m");
        *ret = srv_strdup(ctx, u.nodename);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

/* "name=value" for each of linux.sysctls, checked: namespaced, in a
 * namespace the pod owns. */
static int pod_sysctls(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c, bool host_net,
                       bool host_ipc, char ***ret, struct uvm_error **err)
{
        size_t n = c->linux ? c->linux->n_sysctls : 0;
        char **v;
        int r;

        *ret = NULL;
        if (n == 0)
                return 0;
        if (n > DRV_MAX_SYSCTLS)
                return uvm_error_set(err, EINVAL, "linux.sysctls: more than %d", DRV_MAX_SYSCTLS);
        v = srv_new_array(ctx, char *, n + 1);
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *k = c->linux->sysctls[i]->key, *val = c->linux->sysctls[i]->value;

                if ((r = validate_sysctl(k, val, err)) < 0 ||
                    (r = sysctl_check_for_pod(k, host_net, host_ipc, err)) < 0)
                        return uvm_error_wrap(err, "linux.sysctls");
                v[i] = srv_printf(ctx, "%s=%s", k, val);
                if (!v[i])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = v;
        return 0;
}

/* The pod's user namespace, checked: never run a pod without the isolation
 * it asked for, nor with host namespaces it would not own. */
static int pod_userns(const Runtime__V1__NamespaceOption *ns, const struct handler_entry *handler,
                      struct userns_map *ret, struct uvm_error **err)
{
        int r = cri_userns_from(ns ? ns->userns_options : NULL, ret, err);

        if (r < 0 || !userns_map_enabled(ret))
                return r;
        if (!handler->user_namespaces)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "runtime handler \"%s\" does not support user namespaces "
                                     "(namespace_options.userns_options.mode POD)",
                                     handler->name);
        if (ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE ||
            ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE ||
            ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE)
                return uvm_error_set(err, EINVAL,
                                     "namespace_options.userns_options: a pod in its own user "
                                     "namespace cannot use the node's network, PID or IPC "
                                     "namespace");
        return 0;
}

/* The pod record from the request (strings borrowed except kv copies). */
static int pod_rec_from(struct srv_ctx *ctx, const Runtime__V1__RunPodSandboxRequest *req,
                        struct pod_record *rec, bool *ret_host_net, struct uvm_error **err)
{
        const Runtime__V1__PodSandboxConfig *c = req->config;
        const Runtime__V1__NamespaceOption *ns;
        struct uvmd *d = ctx->daemon;
        const struct handler_entry *handler;
        const char *hostname = NULL;
        struct userns_map userns;
        char **sysctls = NULL;
        int r;

        if (!c || !c->metadata)
                return uvm_error_set(err, EINVAL, "config.metadata is required");
        if ((r = validate_string("metadata.name", c->metadata->name, 253, err)) < 0 ||
            (r = validate_string("metadata.namespace", c->metadata->namespace_, 253, err)) < 0 ||
            (r = validate_string("metadata.uid", c->metadata->uid, 253, err)) < 0)
                return r;
        if (!STR_EMPTY(c->log_directory) &&
            (r = validate_absolute_path("log_directory", c->log_directory, err)) < 0)
                return r;
        r = handlers_get(&d->handlers, req->runtime_handler, &handler, err);
        if (r < 0)
                return r;
        ns = ns_options(c);
        r = pod_userns(ns, handler, &userns, err);
        if (r < 0)
                return r;
        *ret_host_net = ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
        r = pod_hostname(ctx, c, &hostname, err);
        if (r >= 0)
                r = pod_sysctls(ctx, c, *ret_host_net,
                                ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE, &sysctls, err);
        if (r < 0)
                return r;
        if (c->linux && !STR_EMPTY(c->linux->cgroup_parent) &&
            (r = sbx_cgroup_parent_check(c->linux->cgroup_parent,
                                         rt_cgroup_driver_is_systemd(&d->cfg), err)) < 0)
                return r;
        *rec = (struct pod_record){
                .name = c->metadata->name,
                .namespace_ = c->metadata->namespace_,
                .uid = c->metadata->uid,
                .attempt = c->metadata->attempt,
                .runtime_handler = req->runtime_handler,
                .driver = handler->driver,
                .hostname = (char *) hostname,
                .sysctls = sysctls,
                .cgroup_parent = c->linux && !STR_EMPTY(c->linux->cgroup_parent)
                                         ? c->linux->cgroup_parent
                                         : NULL,
                .log_directory = STR_EMPTY(c->log_directory) ? NULL : c->log_directory,
                .host_ipc = ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE,
                .host_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE,
                .share_pid = ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__POD,
                .userns = userns,
        };
        r = uvm_opts(&d->cfg, c, &rec->uvm, err);
        if (r >= 0 && c->linux)
                r = cri_pod_limits(c->linux->resources, c->linux->overhead, &rec->limits, err);
        if (r >= 0)
                r = cri_kv_from((void *const *) c->labels, c->n_labels, "labels", &rec->labels,
                                &rec->n_labels, err);
        if (r >= 0)
                r = cri_kv_from((void *const *) c->annotations, c->n_annotations, "annotations",
                                &rec->annotations, &rec->n_annotations, err);
        return r;
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

static int net_cfg_from(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c,
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
        if (c->n_port_mappings > MAX_PORTS)
                return uvm_error_set(err, EINVAL, "more than %d port_mappings", MAX_PORTS);
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

static int cri_run_pod(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__RunPodSandboxRequest *req = (const void *) m;
        Runtime__V1__RunPodSandboxResponse *resp = srv_new(ctx, Runtime__V1__RunPodSandboxResponse);
        struct pod_record rec = {0};
        struct net_port ports[MAX_PORTS];
        struct net_pod_config net;
        struct sbx_pod_timing timing;
        _cleanup_free_ char *id = NULL;
        bool host_net = false;
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = pod_rec_from(ctx, req, &rec, &host_net, err);
        if (r >= 0)
                r = net_cfg_from(ctx, req->config, rec.hostname, ports, &net, err);
        if (r >= 0)
                r = sbx_pod_run_timed(ctx->daemon->sbx, &rec, &net, host_net, &id, &timing, err);
        /* Only the label/annotation copies are owned by rec. */
        for (size_t i = 0; i < rec.n_labels; i++) {
                free(rec.labels[i].key);
                free(rec.labels[i].value);
        }
        for (size_t i = 0; i < rec.n_annotations; i++) {
                free(rec.annotations[i].key);
                free(rec.annotations[i].value);
        }
        free(rec.labels);
        free(rec.annotations);
        if (r < 0)
                return r;
        if (timing.network_ns)
                metrics_pod_phase("network", timing.network_ns);
        metrics_pod_phase("driver", timing.driver_ns);
        runtime__v1__run_pod_sandbox_response__init(resp);
        resp->pod_sandbox_id = srv_strdup(ctx, id);
        *ret = &resp->base;
        return 0;
}

static int pod_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("pod_sandbox_id", id, 64, err);
}

/* Stop and Remove: any id the kubelet may retry with; one that names
 * nothing is success. */
static int any_pod_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("pod_sandbox_id", id, 1024, err);
}

static int cri_stop_pod(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                        struct uvm_error **err)
{
        const Runtime__V1__StopPodSandboxRequest *req = (const void *) m;
        Runtime__V1__StopPodSandboxResponse *resp =
                srv_new(ctx, Runtime__V1__StopPodSandboxResponse);
        int r = any_pod_id_arg(req->pod_sandbox_id, err);

        if (r >= 0)
                r = sbx_pod_stop(ctx->daemon->sbx, req->pod_sandbox_id, POD_STOP_TIMEOUT_MS, err);
        if (r < 0)
                return r;
        runtime__v1__stop_pod_sandbox_response__init(resp);
        *ret = &resp->base;
        return 0;
}

static int cri_remove_pod(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__RemovePodSandboxRequest *req = (const void *) m;
        Runtime__V1__RemovePodSandboxResponse *resp =
                srv_new(ctx, Runtime__V1__RemovePodSandboxResponse);
        int r = any_pod_id_arg(req->pod_sandbox_id, err);

        if (r >= 0)
                r = sbx_pod_remove(ctx->daemon->sbx, req->pod_sandbox_id, err);
        if (r < 0)
                return r;
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
        o->network = r->netns_path || r->n_ips ? RUNTIME__V1__NAMESPACE_MODE__POD
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
                             const char *agent)
{
        Runtime__V1__PodSandboxStatus__AnnotationsEntry **v, *e;

        v = srv_new_array(ctx, Runtime__V1__PodSandboxStatus__AnnotationsEntry *,
                          st->n_annotations + 1);
        e = srv_new(ctx, Runtime__V1__PodSandboxStatus__AnnotationsEntry);
        if (!v || !e)
                return;
        runtime__v1__pod_sandbox_status__annotations_entry__init(e);
        e->key = CAGENT_ANNOTATION;
        e->value = srv_strdup(ctx, agent);
        for (size_t i = 0; i < st->n_annotations; i++)
                v[i] = st->annotations[i];
        v[st->n_annotations] = e;
        st->annotations = v;
        st->n_annotations++;
}

static int cri_pod_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__PodSandboxStatusRequest *req = (const void *) m;
        Runtime__V1__PodSandboxStatusResponse *resp =
                srv_new(ctx, Runtime__V1__PodSandboxStatusResponse);
        Runtime__V1__PodSandboxStatus *st = srv_new(ctx, Runtime__V1__PodSandboxStatus);
        struct pod_record r = {0};
        _cleanup_free_ char *agent = NULL;
        int rc = pod_id_arg(req->pod_sandbox_id, err);

        if (rc < 0)
                return rc;
        if (!resp || !st)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = sbx_pod_get(ctx->daemon->sbx, req->pod_sandbox_id, &r, err);
        if (rc < 0)
                return rc;
        runtime__v1__pod_sandbox_status_response__init(resp);
        runtime__v1__pod_sandbox_status__init(st);
        st->id = srv_strdup(ctx, r.id);
        st->metadata = pod_meta(ctx, &r);
        st->state = pod_state(&r);
        st->created_at = r.created_ns;
        st->network = pod_net(ctx, &r);
        st->linux = pod_linux(ctx, &r);
        st->runtime_handler = srv_strdup(ctx, r.runtime_handler ? r.runtime_handler : "");
        st->labels = cri_kv_to(ctx, r.labels, r.n_labels,
                               &runtime__v1__pod_sandbox_status__labels_entry__descriptor,
                               &st->n_labels);
        st->annotations = cri_kv_to(ctx, r.annotations, r.n_annotations,
                                    &runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
                                    &st->n_annotations);
        agent = cagent_address(ctx->daemon->cagent, r.id);
        if (agent)
                status_add_agent(ctx, st, agent);
        if (req->verbose) {
                Runtime__V1__PodSandboxStatusResponse__InfoEntry *e =
                        srv_new(ctx, Runtime__V1__PodSandboxStatusResponse__InfoEntry);
                resp->info =
                        srv_new_array(ctx, Runtime__V1__PodSandboxStatusResponse__InfoEntry *, 1);
                if (e && resp->info) {
                        runtime__v1__pod_sandbox_status_response__info_entry__init(e);
                        e->key = "info";
                        e->value = pod_info_json(ctx, &r, agent);
                        resp->info[0] = e;
                        resp->n_info = 1;
                }
        }
        pod_record_clear(&r);
        resp->status = st;
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

static int list_pods(struct srv_ctx *ctx, const Runtime__V1__PodSandboxFilter *f,
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

static int list_all_pods(void *ctx, ProtobufCMessage **ret, struct uvm_error **err)
{
        return list_pods(ctx, NULL, ret, err);
}

static int cri_list_pods(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Runtime__V1__ListPodSandboxRequest *req = (const void *) m;

        /* The kubelet's relist, every second: mostly the same answer. */
        if (list_pod_filter_empty(req->filter))
                return cri_list_cached(ctx, LIST_PODS, list_all_pods, ctx, err);
        return list_pods(ctx, req->filter, ret, err);
}

/* The kubelet resized the pod's cgroup (its own parent): remembered, and
 * set where the pod's cgroup is uvmd's own. */
static int cri_update_pod_resources(struct srv_ctx *ctx, const ProtobufCMessage *m,
                                    ProtobufCMessage **ret, struct uvm_error **err)
{
        const Runtime__V1__UpdatePodSandboxResourcesRequest *req = (const void *) m;
        Runtime__V1__UpdatePodSandboxResourcesResponse *resp =
                srv_new(ctx, Runtime__V1__UpdatePodSandboxResourcesResponse);
        struct sbx_pod_limits limits;
        int r = pod_id_arg(req->pod_sandbox_id, err);

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

const struct srv_binding cri_pod_bindings[] = {
        {"runtime.v1.RuntimeService", "RunPodSandbox", SRV_UNARY, false, cri_run_pod, NULL},
        {"runtime.v1.RuntimeService", "StopPodSandbox", SRV_UNARY, false, cri_stop_pod, NULL},
        {"runtime.v1.RuntimeService", "RemovePodSandbox", SRV_UNARY, false, cri_remove_pod, NULL},
        {"runtime.v1.RuntimeService", "PodSandboxStatus", SRV_UNARY, false, cri_pod_status, NULL},
        {"runtime.v1.RuntimeService", "ListPodSandbox", SRV_UNARY, false, cri_list_pods, NULL},
        {"runtime.v1.RuntimeService", "UpdatePodSandboxResources", SRV_UNARY, false,
         cri_update_pod_resources, NULL},
        {0},
};
