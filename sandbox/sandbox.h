#pragma once

/*
 * The pod registry: id -> pod, with one lock for membership and one per pod.
 * Lock order: registry -> pod. The registry lock is never held across
 * driver calls; a pod's op_lock serialises the driver calls of one pod (the
 * driver contract), its lock guards its state and is held only briefly, so
 * List/Status never wait on a busy pod.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/driver.h"
#include "sandbox/record.h"

struct sbx;

struct net;
struct img_store;
struct net_pod_config;

/* Calls into the layer above at points of a pod's life, so per-pod services
 * (the ComputeAgent endpoint) follow the pod without the sandbox layer
 * knowing them. Entries may be NULL. They are called under the pod's
 * op_lock, must not call back into sbx for the same pod, and report their
 * own failures (the pod goes on). netns_path is NULL for host-network pods. */
struct sbx_hooks {
        /* The pod became READY: created, or reattached after a restart. */
        void (*pod_ready)(void *data, const char *pod_id, const char *pod_dir,
                          const char *netns_path);
        /* The pod is being stopped, before its network is torn down; may be
         * called again for a pod already stopped. */
        void (*pod_stopped)(void *data, const char *pod_id, const char *pod_dir,
                            const char *netns_path);
        void *data;
};

/* What a driver can do on this node (its start-up probe), for checks the
 * sandbox layer makes per container. */
struct sbx_driver_features {
        const char *driver;
        bool rro_mounts;
};

#define SBX_MAX_DRIVERS 8

struct sbx_options {
        const char *state_root; /* pods live in <state_root>/pods/<id> */
        const char *oci_runtime;
        struct net *net;          /* pod networking; NULL: pods get no network namespace */
        struct img_store *images; /* container images; NULL: no containers */
        /* Windows: the image store's root, read only (sandbox/ctr_win.c) */
        const char *images_root;
        bool systemd_cgroups;
        const struct sbx_hooks *hooks;              /* copied; may be NULL */
        const struct sbx_driver_features *features; /* copied; drivers not listed have none */
        size_t n_features;                          /* at most SBX_MAX_DRIVERS */
};

int sbx_new(const struct sbx_options *o, struct sbx **ret, struct uvm_error **err);
struct sbx *sbx_free(struct sbx *s);

/* Run a pod from rec (id filled in here, state ignored). Name uniqueness:
 * name+namespace+uid+attempt -> -EEXIST. net (pod_id ignored) says how to
 * network it and what goes in its resolv.conf/hosts/hostname; host_network
 * skips the namespace and CNI. On failure nothing is left. */
int sbx_pod_run(struct sbx *s, const struct pod_record *rec, const struct net_pod_config *net,
                bool host_network, char **ret_id, struct uvm_error **err);

/* How long sbx_pod_run's steps took, in ns; 0 for a step that did not run. */
struct sbx_pod_timing {
        uint64_t network_ns; /* the network namespace and CNI ADD */
        uint64_t driver_ns;  /* the driver's pod_create (qemu: until the guest agent answers) */
};

/* sbx_pod_run, telling how long its steps took (ret_timing may be NULL;
 * the same steps are logged at debug level). */
int sbx_pod_run_timed(struct sbx *s, const struct pod_record *rec, const struct net_pod_config *net,
                      bool host_network, char **ret_id, struct sbx_pod_timing *ret_timing,
                      struct uvm_error **err);

/* Per driver, since sbx_new: sandboxes that died under a ready pod
 * (crashes), and those found at recovery alive again (reattached) or gone
 * (lost). Fills at most max entries, in drv_at() order; returns how many. */
struct sbx_driver_counts {
        const char *driver;
        uint64_t crashes, reattached, lost;
};
size_t sbx_driver_counts(struct sbx *s, struct sbx_driver_counts *v, size_t max);

/* Listing pods: sandbox/list.h (sbx_pod_each). */

/* After a restart: reload every pod and container record, reattach to the
 * live sandboxes, mark what died as exited / not ready. */
int sbx_recover(struct sbx *s, struct uvm_error **err);

/* The directory holding the pod's resolv.conf, hosts and hostname. */
char *sbx_pod_files_dir(struct sbx *s, const char *pod_id);
/* Idempotent: a missing pod is success. */
int sbx_pod_stop(struct sbx *s, const char *id_prefix, uint32_t timeout_ms, struct uvm_error **err);
int sbx_pod_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err);

/* New pod limits (resources + overhead): kept in the record; on Linux set
 * on the pod's own cgroup (sbx_cgroup_apply_own, sandbox_linux.c), on
 * Windows only kept (sandbox_win.c: the VM's size bounds an hcs pod).
 * -ENOENT for an unknown pod. */
int sbx_pod_set_limits(struct sbx *s, const char *id_prefix, const struct sbx_pod_limits *l,
                       struct uvm_error **err);

/* A copy of the pod's record as of now (never waits on a busy pod). */
int sbx_pod_get(struct sbx *s, const char *id_prefix, struct pod_record *ret,
                struct uvm_error **err);
size_t sbx_pod_count(struct sbx *s);

/* The pod's own usage (its network interfaces) from its driver: zeros when
 * it is not ready or the driver cannot say; -EAGAIN when the pod stayed busy
 * for wait_ms. */
int sbx_pod_usage(struct sbx *s, const char *id_prefix, int64_t wait_ms, struct drv_pod_stats *ret,
                  struct uvm_error **err);

/* NICs added from outside (the ComputeAgent) on a pod whose driver has a
 * guest to give them to (drv_ops.nic_add). */
enum sbx_nic_op { SBX_NIC_ADD, SBX_NIC_MODIFY, SBX_NIC_REMOVE };
/* Whether the pod's driver has guest NICs; false for an unknown pod. */
bool sbx_pod_guest_nics(struct sbx *s, const char *pod_id);
/* The driver's nic_add / nic_modify (old: the NIC before) / nic_remove,
 * under the pod's op_lock, waiting for it at most SBX_NIC_LOCK_MS (then
 * -EAGAIN). A pod not ready: -EBUSY for add and modify, success for remove
 * (its VM and everything in it are gone or going). */
#define SBX_NIC_LOCK_MS 10000
int sbx_pod_nic(struct sbx *s, const char *pod_id, enum sbx_nic_op op, const char *nic_id,
                const struct drv_nic *old, const struct drv_nic *nic, struct uvm_error **err);
