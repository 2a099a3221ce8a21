/* CRI RuntimeService, containers, the part Linux and Windows share:
 * decode, validate, call the sandbox layer (sandbox/container.h), encode.
 * ExecSync is cri_exec_common.c's; Linux adds metrics and
 * UpdateContainerResources (cri_container.c). */

#include "proto/api.pb-c.h"

#include <errno.h>
#include <string.h>

#include "sandbox/container.h"
#include "sandbox/ids.h"
#include "sandbox/list.h"
#include "service/cri.h"
#include "service/cri_ctr_common.h"
#include "service/daemon.h"
#include "service/validate.h"

/* Stop and Remove take any id the kubelet may retry with (one that names
 * nothing is success); the others, ids uvmd could have made. */
#define ANY_ID_MAX 1024

int cri_ctr_id_arg(const char *id, struct uvm_error **err)
{
        return validate_string("container_id", id, SBX_ID_LEN, err);
}

int cri_ctr_create(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err)
{
        const Runtime__V1__CreateContainerRequest *req = (const void *) m;
        Runtime__V1__CreateContainerResponse *resp =
                srv_new(ctx, Runtime__V1__CreateContainerResponse);
        _cleanup_free_ char *id = NULL;
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

int cri_ctr_start(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                  struct uvm_error **err)
{
        const Runtime__V1__StartContainerRequest *req = (const void *) m;

        return id_call(ctx, req->container_id, SBX_ID_LEN, ret,
                       &runtime__v1__start_container_response__descriptor, sbx_ctr_start, err);
}

int cri_ctr_remove(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err)
{
        const Runtime__V1__RemoveContainerRequest *req = (const void *) m;

        return id_call(ctx, req->container_id, ANY_ID_MAX, ret,
                       &runtime__v1__remove_container_response__descriptor, sbx_ctr_remove, err);
}

int cri_ctr_reopen_log(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                       struct uvm_error **err)
{
        const Runtime__V1__ReopenContainerLogRequest *req = (const void *) m;

        return id_call(ctx, req->container_id, SBX_ID_LEN, ret,
                       &runtime__v1__reopen_container_log_response__descriptor, sbx_ctr_reopen_log,
                       err);
}

int cri_ctr_stop(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
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

int cri_ctr_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err)
{
        const Runtime__V1__ContainerStatusRequest *req = (const void *) m;
        Runtime__V1__ContainerStatusResponse *resp =
                srv_new(ctx, Runtime__V1__ContainerStatusResponse);
        Runtime__V1__ContainerStatus *st = srv_new(ctx, Runtime__V1__ContainerStatus);
        struct ctr_record r = {0};
        int rc = cri_ctr_id_arg(req->container_id, err);

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

int cri_ctr_list_call(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__ListContainersRequest *req = (const void *) m;

        /* The kubelet's relist, every second: mostly the same answer. */
        if (list_ctr_filter_empty(req->filter))
                return cri_list_cached(ctx, LIST_CTRS, list_all_ctrs, ctx, err);
        return list_ctrs(ctx, req->filter, ret, err);
}
