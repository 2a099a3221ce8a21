/* UpdateContainerResources for Linux's daemon and uvmd.exe: the resources
 * checked (cri_resources.c), the container's driver told through the
 * sandbox layer, the record's resources (ContainerStatus) updated. A
 * container of an hcs pod also takes a Windows node's windows resources,
 * mapped to Linux values for its VM (docs/windows.md "Container
 * resources"). */

#include "proto/api.pb-c.h"

#include <errno.h>
#include <string.h>

#include "sandbox/container.h"
#include "sandbox/ids.h"
#include "sandbox/sandbox.h"
#include "sandbox/cri_resources.h"
#include "service/cri_update_common.h"
#include "service/daemon.h"
#include "service/validate.h"

#define GIB (1ll << 30)
#define MIB (1ll << 20)

/* What the windows mapping needs of pod_id's VM: its processors, and the
 * most a container's writable layer holds there (its scratch disk, or
 * without scratch disks the VM's memory, where the layer is then). */
static int uvm_facts(struct uvmd *d, const char *pod_id, struct cri_uvm_facts *ret,
                     struct uvm_error **err)
{
        struct pod_record rec = {0};
        int r = sbx_pod_get(d->sbx, pod_id, &rec, err);

        if (r < 0)
                return r;
        if (!STR_EQ(rec.driver, "hcs"))
                r = uvm_error_set(err, EINVAL,
                                  "windows resources: pod %s runs on the %s driver, give linux "
                                  "resources",
                                  rec.id, rec.driver ? rec.driver : "?");
        else
                *ret = (struct cri_uvm_facts){
                        .vcpus = rec.uvm.processors,
                        .rootfs_max_bytes = d->cfg.scratch_size_gb
                                                    ? (int64_t) d->cfg.scratch_size_gb * GIB
                                                    : (int64_t) rec.uvm.memory_mb * MIB,
                };
        pod_record_clear(&rec);
        return r;
}

int cri_ctr_resources_pick(struct srv_ctx *ctx, const char *pod_id,
                           const Runtime__V1__LinuxContainerResources *l,
                           const Runtime__V1__WindowsContainerResources *w,
                           const Runtime__V1__LinuxContainerResources **ret, char **ret_json,
                           struct uvm_error **err)
{
        Runtime__V1__LinuxContainerResources *m = NULL;
        struct cri_uvm_facts facts;
        int r;

        if (!l && !w) {
                *ret = NULL;
                *ret_json = NULL;
                return 0;
        }
        if (!l) {
                m = srv_new(ctx, Runtime__V1__LinuxContainerResources);
                if (!m)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                r = uvm_facts(ctx->daemon, pod_id, &facts, err);
                if (r >= 0)
                        r = cri_resources_from_windows(w, &facts, m, err);
                if (r < 0)
                        return r;
                l = m;
        }
        r = cri_resources_json(l, ret_json, err);
        if (r < 0)
                return m ? r : uvm_error_wrap(err, "linux");
        *ret = l;
        return 0;
}

/* The pod of container id (-ENOENT when unknown). */
static int pod_of(struct uvmd *d, const char *id, char **ret, struct uvm_error **err)
{
        struct ctr_record rec = {0};
        int r = sbx_ctr_get(d->sbx, id, &rec, err);

        if (r >= 0 && !(*ret = strdup(rec.pod_id)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        ctr_record_clear(&rec);
        return r;
}

int cri_ctr_update(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err)
{
        const Runtime__V1__UpdateContainerResourcesRequest *req = (const void *) m;
        Runtime__V1__UpdateContainerResourcesResponse *resp =
                srv_new(ctx, Runtime__V1__UpdateContainerResourcesResponse);
        const Runtime__V1__LinuxContainerResources *l = NULL;
        _cleanup_free_ char *json = NULL, *pod_id = NULL;
        struct ctr_resources res;
        int r = validate_string("container_id", req->container_id, SBX_ID_LEN, err);

        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!req->linux && !req->windows)
                return uvm_error_set(err, EINVAL,
                                     "linux (or, on a Windows node, windows) resources are "
                                     "required");
        /* Only windows ones need the container's pod (its VM). */
        if (!req->linux)
                r = pod_of(ctx->daemon, req->container_id, &pod_id, err);
        if (r >= 0)
                r = cri_ctr_resources_pick(ctx, pod_id, req->linux, req->windows, &l, &json, err);
        if (r < 0)
                return r;
        /* What ContainerStatus reports from now on (the runtime cannot change
         * oom_score_adj of a running process: it stays as created). */
        res = (struct ctr_resources){
                .cpu_period = l->cpu_period,
                .cpu_quota = l->cpu_quota,
                .cpu_shares = l->cpu_shares,
                .memory_limit_in_bytes = l->memory_limit_in_bytes,
                .memory_swap_limit_in_bytes = l->memory_swap_limit_in_bytes,
                .cpuset_cpus = l->cpuset_cpus,
                .cpuset_mems = l->cpuset_mems,
        };
        r = sbx_ctr_update(ctx->daemon->sbx, req->container_id, &res, json, err);
        if (r < 0)
                return r;
        runtime__v1__update_container_resources_response__init(resp);
        *ret = &resp->base;
        return 0;
}
