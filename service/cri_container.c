/* CRI RuntimeService, containers: decode, validate, call the sandbox layer
 * (sandbox/container.h), encode. */

#include <string.h>

#include "proto/api.pb-c.h"

#include "common/log.h"
#include "common/platform.h"
#include "sandbox/container.h"
#include "sandbox/ids.h"
#include "sandbox/list.h"
#include "service/cri.h"
#include "service/daemon.h"
#include "service/metrics_uvmd.h"
#include "service/validate.h"

#define EXEC_MAX_ARGS 1024

/* Stop and Remove take any id the kubelet may retry with (one that names
 * nothing is success); the others, ids uvmd could have made. */
#define ANY_ID_MAX 1024

static int ctr_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("container_id", id, SBX_ID_LEN, err);
}

static int cri_create_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__CreateContainerRequest *req = (const void *) m;
        Runtime__V1__CreateContainerResponse *resp =
                srv_new(ctx, Runtime__V1__CreateContainerResponse);
        _cleanup_free_ char *id = NULL;
        uint64_t t0 = plat_now_ns();
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = validate_string("pod_sandbox_id", req->pod_sandbox_id, SBX_ID_LEN, err);
        if (r < 0)
                return r;
        if (!req->config)
                return uvm_error_set(err, EINVAL, "config is required");
        r = sbx_ctr_create(ctx->daemon->sbx, req->pod_sandbox_id, req->config, &id, err);
        if (r < 0)
                return r;
        metrics_ctr_created(id, plat_now_ns() - t0);
        runtime__v1__create_container_response__init(resp);
        resp->container_id = srv_strdup(ctx, id);
        *ret = &resp->base;
        return 0;
}

/* Start, Remove and ReopenContainerLog: an id in, an empty message out. */
static int id_call(struct srv_ctx *ctx, const char *id, size_t id_max, ProtobufCMessage **ret,
                   const ProtobufCMessageDescriptor *desc,
                   int (*fn)(struct sbx *, const char *, struct uvm_error **),
                   struct uvm_error **err)
{
        ProtobufCMessage *resp = srv_alloc(ctx, desc->sizeof_message);
        int r = validate_string("container_id", id, id_max, err);

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fn(ctx->daemon->sbx, id, err);
        if (r < 0)
                return r;
        protobuf_c_message_init(desc, resp);
        *ret = resp;
        return 0;
}

static int cri_start_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Runtime__V1__StartContainerRequest *req = (const void *) m;
        uint64_t t0 = plat_now_ns(), total;
        int r;

        r = id_call(ctx, req->container_id, SBX_ID_LEN, ret,
                    &runtime__v1__start_container_response__descriptor, sbx_ctr_start, err);
        if (r < 0)
                return r;
        /* The pod-start histogram's container phase: create + start. */
        total = metrics_ctr_started(req->container_id, plat_now_ns() - t0);
        log_debug("container %s: created and started in %.3f s", req->container_id,
                  (double) total / 1e9);
        return r;
}

static int cri_remove_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__RemoveContainerRequest *req = (const void *) m;

        return id_call(ctx, req->container_id, ANY_ID_MAX, ret,
                       &runtime__v1__remove_container_response__descriptor, sbx_ctr_remove, err);
}

static int cri_reopen_log(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__ReopenContainerLogRequest *req = (const void *) m;

        return id_call(ctx, req->container_id, SBX_ID_LEN, ret,
                       &runtime__v1__reopen_container_log_response__descriptor, sbx_ctr_reopen_log,
                       err);
}

static int cri_stop_ctr(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                        struct uvm_error **err)
{
        const Runtime__V1__StopContainerRequest *req = (const void *) m;
        Runtime__V1__StopContainerResponse *resp = srv_new(ctx, Runtime__V1__StopContainerResponse);
        int r = validate_string("container_id", req->container_id, ANY_ID_MAX, err);

        if (r < 0)
                return r;
        if (req->timeout < 0 || req->timeout > 86400)
                return uvm_error_set(err, EINVAL, "timeout %lld: 0 to 86400 seconds",
                                     (long long) req->timeout);
        r = sbx_ctr_stop(ctx->daemon->sbx, req->container_id, req->timeout, err);
        if (r < 0)
                return r;
        runtime__v1__stop_container_response__init(resp);
        *ret = &resp->base;
        return 0;
}

static Runtime__V1__ContainerMetadata *ctr_meta(struct srv_ctx *ctx, const struct ctr_record *r)
{
        Runtime__V1__ContainerMetadata *m = srv_new(ctx, Runtime__V1__ContainerMetadata);

        if (m) {
                runtime__v1__container_metadata__init(m);
                m->name = srv_strdup(ctx, r->name);
                m->attempt = r->attempt;
        }
        return m;
}

static Runtime__V1__ImageSpec *ctr_image(struct srv_ctx *ctx, const struct ctr_record *r)
{
        Runtime__V1__ImageSpec *s = srv_new(ctx, Runtime__V1__ImageSpec);

        if (s) {
                runtime__v1__image_spec__init(s);
                s->image = srv_strdup(ctx, r->image);
        }
        return s;
}

static Runtime__V1__Mount *status_mount(struct srv_ctx *ctx, const struct ctr_mount *x)
{
        Runtime__V1__Mount *m = srv_new(ctx, Runtime__V1__Mount);
        Runtime__V1__ImageSpec *img;

        if (!m)
                return NULL;
        runtime__v1__mount__init(m);
        m->container_path = srv_strdup(ctx, x->container_path);
        m->host_path = srv_strdup(ctx, x->host_path ? x->host_path : "");
        m->readonly = x->readonly;
        m->recursive_read_only = x->recursive_read_only;
        m->propagation = x->propagation;
        if (!x->image)
                return m;
        /* An image volume: the image as resolved, by its id (digest). */
        img = srv_new(ctx, Runtime__V1__ImageSpec);
        if (!img)
                return NULL;
        runtime__v1__image_spec__init(img);
        img->image = srv_strdup(ctx, x->image_id ? x->image_id : x->image);
        img->user_specified_image = srv_strdup(ctx, x->image);
        m->image = img;
        m->image_sub_path = srv_strdup(ctx, x->image_sub_path ? x->image_sub_path : "");
        return m;
}

static int status_mounts(struct srv_ctx *ctx, const struct ctr_record *r,
                         Runtime__V1__ContainerStatus *st)
{
        st->mounts = srv_new_array(ctx, Runtime__V1__Mount *, r->n_mounts);
        for (size_t i = 0; st->mounts && i < r->n_mounts; i++)
                if (!(st->mounts[st->n_mounts++] = status_mount(ctx, &r->mounts[i])))
                        return -ENOMEM;
        return st->mounts ? 0 : -ENOMEM;
}

/* What the container runs with now (in-place resize reads it). */
static Runtime__V1__ContainerResources *status_resources(struct srv_ctx *ctx,
                                                         const struct ctr_resources *x)
{
        Runtime__V1__ContainerResources *cr = srv_new(ctx, Runtime__V1__ContainerResources);
        Runtime__V1__LinuxContainerResources *l =
                srv_new(ctx, Runtime__V1__LinuxContainerResources);

        if (!cr || !l)
                return NULL;
        runtime__v1__container_resources__init(cr);
        runtime__v1__linux_container_resources__init(l);
        l->cpu_period = x->cpu_period;
        l->cpu_quota = x->cpu_quota;
        l->cpu_shares = x->cpu_shares;
        l->memory_limit_in_bytes = x->memory_limit_in_bytes;
        l->memory_swap_limit_in_bytes = x->memory_swap_limit_in_bytes;
        l->oom_score_adj = x->oom_score_adj;
        l->cpuset_cpus = srv_strdup(ctx, x->cpuset_cpus ? x->cpuset_cpus : "");
        l->cpuset_mems = srv_strdup(ctx, x->cpuset_mems ? x->cpuset_mems : "");
        cr->linux = l;
        return cr;
}

static Runtime__V1__ContainerUser *status_user(struct srv_ctx *ctx, const struct ctr_user *u)
{
        Runtime__V1__ContainerUser *cu = srv_new(ctx, Runtime__V1__ContainerUser);
        Runtime__V1__LinuxContainerUser *l = srv_new(ctx, Runtime__V1__LinuxContainerUser);

        if (!cu || !l)
                return NULL;
        runtime__v1__container_user__init(cu);
        runtime__v1__linux_container_user__init(l);
        l->uid = u->uid;
        l->gid = u->gid;
        l->supplemental_groups = srv_new_array(ctx, int64_t, u->n_groups);
        for (size_t i = 0; l->supplemental_groups && i < u->n_groups; i++)
                l->supplemental_groups[l->n_supplemental_groups++] = u->groups[i];
        cu->linux = l;
        return l->supplemental_groups ? cu : NULL;
}

static int cri_ctr_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__ContainerStatusRequest *req = (const void *) m;
        Runtime__V1__ContainerStatusResponse *resp =
                srv_new(ctx, Runtime__V1__ContainerStatusResponse);
        Runtime__V1__ContainerStatus *st = srv_new(ctx, Runtime__V1__ContainerStatus);
        struct ctr_record r = {0};
        int rc = ctr_id_arg(req->container_id, err);

        if (rc < 0)
                return rc;
        if (!resp || !st)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = sbx_ctr_get(ctx->daemon->sbx, req->container_id, &r, err);
        if (rc < 0)
                return rc;
        runtime__v1__container_status_response__init(resp);
        runtime__v1__container_status__init(st);
        st->id = srv_strdup(ctx, r.id);
        st->metadata = ctr_meta(ctx, &r);
        st->state = cri_ctr_state(r.state);
        st->created_at = r.created_ns;
        st->started_at = r.started_ns;
        st->finished_at = r.finished_ns;
        st->exit_code = r.exit_code;
        st->image = ctr_image(ctx, &r);
        st->image_ref = srv_strdup(ctx, r.image_id ? r.image_id : "");
        st->image_id = st->image_ref;
        st->reason = srv_strdup(ctx, r.reason ? r.reason : "");
        st->message = srv_strdup(ctx, r.message ? r.message : "");
        st->log_path = srv_strdup(ctx, r.log_path ? r.log_path : "");
        st->labels =
                cri_kv_to(ctx, r.labels, r.n_labels,
                          &runtime__v1__container_status__labels_entry__descriptor, &st->n_labels);
        st->annotations = cri_kv_to(ctx, r.annotations, r.n_annotations,
                                    &runtime__v1__container_status__annotations_entry__descriptor,
                                    &st->n_annotations);
        rc = status_mounts(ctx, &r, st);
        st->resources = status_resources(ctx, &r.res);
        st->user = status_user(ctx, &r.user);
        ctr_record_clear(&r);
        if (rc < 0 || !st->resources || !st->user)
                return uvm_error_set(err, ENOMEM, "out of memory");
        resp->status = st;
        *ret = &resp->base;
        return 0;
}

/* One ListContainers answer being built (sandbox/list.h): the filter is
 * applied to the live records, and only the containers it keeps are copied,
 * into the call's arena. */
struct ctr_list {
        struct srv_ctx *ctx;
        const Runtime__V1__ContainerFilter *f;
        Runtime__V1__Container **items;
        size_t n, cap;
};

static bool ctr_keep(const struct ctr_record *r, const void *arg)
{
        const Runtime__V1__ContainerFilter *f = ((const struct ctr_list *) arg)->f;

        if (!f)
                return true;
        if (!STR_EMPTY(f->id) && strncmp(r->id, f->id, strlen(f->id)) != 0)
                return false;
        if (!STR_EMPTY(f->pod_sandbox_id) &&
            strncmp(r->pod_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
                return false;
        if (f->state && cri_ctr_state(r->state) != f->state->state)
                return false;
        return cri_labels_match(r->labels, r->n_labels, (void *const *) f->label_selector,
                                f->n_label_selector);
}

/* Called under the container's lock: copies what the answer needs, no
 * more. */
static int ctr_visit(const struct ctr_record *r, void *arg)
{
        struct ctr_list *l = arg;
        struct srv_ctx *ctx = l->ctx;
        Runtime__V1__Container *c = srv_new(ctx, Runtime__V1__Container);
        Runtime__V1__Container **items = cri_room(ctx, l->items, l->n, &l->cap, sizeof(*items));

        if (!c || !items)
                return -ENOMEM;
        l->items = items;
        runtime__v1__container__init(c);
        c->id = srv_strdup(ctx, r->id);
        c->pod_sandbox_id = srv_strdup(ctx, r->pod_id);
        c->metadata = ctr_meta(ctx, r);
        c->image = ctr_image(ctx, r);
        c->image_ref = srv_strdup(ctx, r->image_id ? r->image_id : "");
        c->image_id = c->image_ref;
        c->state = cri_ctr_state(r->state);
        c->created_at = r->created_ns;
        c->labels = cri_kv_to(ctx, r->labels, r->n_labels,
                              &runtime__v1__container__labels_entry__descriptor, &c->n_labels);
        c->annotations = cri_kv_to(ctx, r->annotations, r->n_annotations,
                                   &runtime__v1__container__annotations_entry__descriptor,
                                   &c->n_annotations);
        if (!c->id || !c->pod_sandbox_id || !c->metadata || !c->image || !c->image_ref ||
            !c->labels || !c->annotations)
                return -ENOMEM;
        l->items[l->n++] = c;
        return 0;
}

static int list_ctrs(struct srv_ctx *ctx, const Runtime__V1__ContainerFilter *f,
                     ProtobufCMessage **ret, struct uvm_error **err)
{
        Runtime__V1__ListContainersResponse *resp =
                srv_new(ctx, Runtime__V1__ListContainersResponse);
        struct ctr_list l = {.ctx = ctx, .f = f};
        int rc;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = sbx_ctr_each(ctx->daemon->sbx, ctr_keep, ctr_visit, &l, err);
        if (rc < 0)
                return rc;
        runtime__v1__list_containers_response__init(resp);
        resp->containers = l.items;
        resp->n_containers = l.n;
        *ret = &resp->base;
        return 0;
}

static int list_all_ctrs(void *ctx, ProtobufCMessage **ret, struct uvm_error **err)
{
        return list_ctrs(ctx, NULL, ret, err);
}

static int cri_list_ctrs(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Runtime__V1__ListContainersRequest *req = (const void *) m;

        /* The kubelet's relist, every second: mostly the same answer. */
        if (list_ctr_filter_empty(req->filter))
                return cri_list_cached(ctx, LIST_CTRS, list_all_ctrs, ctx, err);
        return list_ctrs(ctx, req->filter, ret, err);
}

static const char cut_notice[] = "\nuvmd: ExecSync %s cut at %u bytes\n";

/* The notice that a stream was cut, written at out (room for cut_notice
 * plus digits); its length. */
static size_t cut_note(uint8_t *out, const char *stream, bool cut)
{
        int n = cut ? snprintf((char *) out, sizeof(cut_notice) + 16, cut_notice, stream,
                               DRV_EXEC_MAX_OUTPUT)
                    : 0;

        return n > 0 ? (size_t) n : 0;
}

static int cri_exec_sync(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                         struct uvm_error **err)
{
        const Runtime__V1__ExecSyncRequest *req = (const void *) m;
        Runtime__V1__ExecSyncResponse *resp = srv_new(ctx, Runtime__V1__ExecSyncResponse);
        struct drv_exec_result res = {0};
        struct drv_exec_spec spec = {0};
        char **argv;
        int r = ctr_id_arg(req->container_id, err);

        if (r < 0)
                return r;
        if (req->n_cmd == 0 || req->n_cmd > EXEC_MAX_ARGS || STR_EMPTY(req->cmd[0]))
                return uvm_error_set(err, EINVAL, "cmd: 1 to %d arguments, the first non-empty",
                                     EXEC_MAX_ARGS);
        if (req->timeout < 0 || req->timeout > 86400)
                return uvm_error_set(err, EINVAL, "timeout %lld: 0 to 86400 seconds",
                                     (long long) req->timeout);
        argv = srv_new_array(ctx, char *, req->n_cmd + 1);
        if (!resp || !argv)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_cmd; i++)
                argv[i] = req->cmd[i];
        spec.argv = argv;
        spec.timeout_ms = req->timeout * 1000;
        spec.max_output = DRV_EXEC_MAX_OUTPUT;
        r = sbx_ctr_exec_sync(ctx->daemon->sbx, req->container_id, &spec, &res, err);
        if (r < 0)
                return r;
        if (res.timed_out) {
                drv_exec_result_clear(&res);
                return uvm_error_set(err, ETIMEDOUT, "command timed out after %llds",
                                     (long long) req->timeout);
        }
        runtime__v1__exec_sync_response__init(resp);
        resp->exit_code = res.exit_code;
        resp->stdout.data = srv_alloc(ctx, res.out_len + 1);
        resp->stderr.data = srv_alloc(ctx, res.err_len + 2 * (sizeof(cut_notice) + 16));
        if (!resp->stdout.data || !resp->stderr.data) {
                drv_exec_result_clear(&res);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (res.out_len)
                memcpy(resp->stdout.data, res.out, res.out_len);
        if (res.err_len)
                memcpy(resp->stderr.data, res.errout, res.err_len);
        resp->stdout.len = res.out_len;
        resp->stderr.len = res.err_len;
        /* The CRI has no field for it: the caller is told on stderr. */
        resp->stderr.len += cut_note(resp->stderr.data + resp->stderr.len, "stdout", res.out_cut);
        resp->stderr.len += cut_note(resp->stderr.data + resp->stderr.len, "stderr", res.err_cut);
        drv_exec_result_clear(&res);
        *ret = &resp->base;
        return 0;
}

const struct srv_binding cri_container_bindings[] = {
        {"runtime.v1.RuntimeService", "CreateContainer", SRV_UNARY, false, cri_create_ctr, NULL},
        {"runtime.v1.RuntimeService", "StartContainer", SRV_UNARY, false, cri_start_ctr, NULL},
        {"runtime.v1.RuntimeService", "StopContainer", SRV_UNARY, false, cri_stop_ctr, NULL},
        {"runtime.v1.RuntimeService", "RemoveContainer", SRV_UNARY, false, cri_remove_ctr, NULL},
        {"runtime.v1.RuntimeService", "ContainerStatus", SRV_UNARY, false, cri_ctr_status, NULL},
        {"runtime.v1.RuntimeService", "ListContainers", SRV_UNARY, false, cri_list_ctrs, NULL,
         cri_list_ctrs_fast},
        {"runtime.v1.RuntimeService", "ExecSync", SRV_UNARY, false, cri_exec_sync, NULL},
        {"runtime.v1.RuntimeService", "ReopenContainerLog", SRV_UNARY, false, cri_reopen_log, NULL},
        {0},
};
