#pragma once

/*
 * Workload containers: created in a READY pod from a CRI ContainerConfig
 * and an image, placed in the pod's UVM by its driver, their output written
 * to the CRI log. Each has one record, <pod dir>/containers/<id>.json,
 * written atomically on every state change.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/api.pb-c.h"

#include "common/error.h"
#include "sandbox/driver.h"
#include "sandbox/record.h"
#include "sandbox/state.h"
#include "sandbox/user.h"

struct sbx;
struct sbx_ctr;

/* A CRI mount as the container got it (ContainerStatus reports these). */
struct ctr_mount {
        char *container_path, *host_path; /* host_path NULL for an image volume */
        char *image, *image_id;           /* image volume: as asked for, and the image held */
        char *image_sub_path;
        bool readonly, recursive_read_only;
        int propagation; /* Runtime__V1__MountPropagation */
};

/* The container's current Linux resources: from CreateContainer, with
 * each field UpdateContainerResources sets replaced. */
struct ctr_resources {
        int64_t cpu_period, cpu_quota, cpu_shares;
        int64_t memory_limit_in_bytes, memory_swap_limit_in_bytes;
        int64_t oom_score_adj;
        char *cpuset_cpus, *cpuset_mems;
};

struct ctr_record {
        char *id, *pod_id, *name;
        uint32_t attempt;
        char *image;    /* as the kubelet asked for it */
        char *image_id; /* sha256:... */
        char *log_path; /* absolute, or NULL when the pod has no log directory */
        enum ctr_state state;
        int64_t created_ns, started_ns, finished_ns;
        int exit_code;
        char *reason, *message; /* for ContainerStatus */
        struct record_kv *labels, *annotations;
        size_t n_labels, n_annotations;
        struct ctr_mount *mounts;
        size_t n_mounts;
        struct ctr_user user;
        struct ctr_resources res;
};

void ctr_record_clear(struct ctr_record *r);
void ctr_mounts_free(struct ctr_mount *m, size_t n);
void ctr_resources_clear(struct ctr_resources *r);

/* Create a container in pod_id from c (the CRI config: metadata, image,
 * command, mounts, security...). -EBUSY when the pod is not ready, -EEXIST
 * for a second container of the same name and attempt, -ENOENT for an
 * unknown image. On failure nothing is left. */
int sbx_ctr_create(struct sbx *s, const char *pod_id, const Runtime__V1__ContainerConfig *c,
                   char **ret_id, struct uvm_error **err);
int sbx_ctr_start(struct sbx *s, const char *id_prefix, struct uvm_error **err);
/* Stop signal, then SIGKILL after timeout_s. A stopped or missing container
 * is success. */
int sbx_ctr_stop(struct sbx *s, const char *id_prefix, int64_t timeout_s, struct uvm_error **err);
/* Kills it if needed; a missing container is success. */
int sbx_ctr_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err);
int sbx_ctr_get(struct sbx *s, const char *id_prefix, struct ctr_record *ret,
                struct uvm_error **err);
/* Listing containers: sandbox/list.h (sbx_ctr_each). */
int sbx_ctr_exec_sync(struct sbx *s, const char *id_prefix, const struct drv_exec_spec *spec,
                      struct drv_exec_result *ret, struct uvm_error **err);
int sbx_ctr_reopen_log(struct sbx *s, const char *id_prefix, struct uvm_error **err);

/* Driver events, routed by the pod layer. */
void sbx_ctr_on_exit(struct sbx *s, const char *ctr_id, int exit_code, int64_t finished_ns,
                     bool oom_killed);
void sbx_ctr_on_output(struct sbx *s, const char *ctr_id, enum drv_stream stream, const char *buf,
                       size_t len);
/* The pod's UVM is gone: its running containers have exited. */
void sbx_ctr_pod_stopped(struct sbx *s, const char *pod_id);
/* The same when it died on its own: why becomes their status message. */
void sbx_ctr_pod_died(struct sbx *s, const char *pod_id, const char *why);
/* Containers of a pod (for RemovePodSandbox), removed one by one. */
int sbx_ctr_remove_pod(struct sbx *s, const char *pod_id, struct uvm_error **err);

/* A deep copy of src (for event sinks that keep a record past the call). */
int ctr_record_copy(const struct ctr_record *src, struct ctr_record *ret);

/* Usage of a container now: from the driver while it runs, zeros (stamped
 * with the time of the call) when it is created or exited. Waits at most
 * wait_ms for a pod busy with another driver call (-EAGAIN after that), so a
 * stuck pod holds up no caller for long. ret_rec (may be NULL) gets a copy of
 * the record as of the call. */
int sbx_ctr_usage(struct sbx *s, const char *id_prefix, int64_t wait_ms, struct ctr_record *ret_rec,
                  struct drv_ctr_stats *ret, struct uvm_error **err);

/* Apply resources_json (an OCI linux.resources object) to a running
 * container, and merge res (its fields that are set) into the record:
 * -EBUSY when it is not running, -EOPNOTSUPP when the pod's driver cannot
 * update. */
int sbx_ctr_update(struct sbx *s, const char *id_prefix, const struct ctr_resources *res,
                   const char *resources_json, struct uvm_error **err);

/* Container life-cycle events, for GetContainerEvents. */
enum ctr_event {
        CTR_EVENT_CREATED,
        CTR_EVENT_STARTED,
        CTR_EVENT_STOPPED,
        CTR_EVENT_DELETED,
};

/* Called with the container's lock held (and possibly the registry's): it
 * must copy what it needs and return without blocking or calling back into
 * the sandbox layer. rec is the record after the change. */
typedef void (*ctr_event_fn)(void *data, enum ctr_event ev, const struct ctr_record *rec,
                             int64_t at_ns);

/* The one process-wide event sink (fn NULL: none). Process-wide rather than
 * per registry because the daemon has exactly one registry. */
void sbx_ctr_set_event_sink(ctr_event_fn fn, void *data);
