#pragma once

/*
 * The agent inside an hcs pod's utility VM, as a table: in production the
 * bridge over HvSocket (guest_bridge.h: the same agent and protocol as
 * qemu pods), in unit tests a fake or the bridge over loopback TCP. One
 * struct hcs_guest is one connection to one VM's agent.
 * Every call that can fail returns -errno and records why in *err.
 */

#include <stdbool.h>
#include <stdint.h>

#include "agent/bridge_types.h"
#include "common/error.h"
#include "network/hcn.h"

/* Where the agent writes the pod's files in the VM (agent/podfiles.h). */
#define HCS_GUEST_POD_FILES "/run/uvmd/pod"

struct agent_client;
struct hcs_guest; /* a connection, owned by the table's implementation */

/* What the guest reports, from the connection's reader thread, until
 * disconnect returns. ctr_output may be NULL (no output relayed). */
struct hcs_guest_events {
        void *data;
        /* A container's init process ended (128+signal when killed). */
        void (*ctr_exited)(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                           bool oom_killed);
        void (*ctr_output)(void *data, const char *ctr_id, enum drv_stream stream, const char *buf,
                           size_t len);
        /* The connection ended without a disconnect: the agent (or the VM
         * under it) is gone. */
        void (*died)(void *data, const char *reason);
};

struct hcs_guest_ops {
        const char *name; /* "bridge", "fake" */
        /* Wait up to timeout_ms for the agent of compute system system_id
         * (a VM whose RuntimeId, from HCS's properties, is runtime_id: its
         * HvSocket address) to answer, and negotiate the protocol. events
         * is borrowed until disconnect. -ETIMEDOUT when it does not answer
         * in time. */
        int (*connect)(const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                       const struct hcs_guest_events *events, struct hcs_guest **ret_guest,
                       struct uvm_error **err);
        /* Configure (remove) the NIC nic_id, already added (still there) on
         * the host's side, in the guest: MAC, address/prefix and gateway of
         * ep, in the pod's HCN namespace ns_id. */
        int (*add_nic)(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                       const struct hcn_endpoint *ep, struct uvm_error **err);
        int (*remove_nic)(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                          struct uvm_error **err);
        /* Optional (NULL: NICs cannot change): reconfigure the NIC nic_id
         * in the guest from old to ep (same MAC: address/prefix, gateway)
         * with mtu (0: the device's). */
        int (*modify_nic)(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                          const struct hcn_endpoint *old, const struct hcn_endpoint *ep,
                          unsigned mtu, struct uvm_error **err);
        /* A layer disk the host attached read-only at SCSI LUN lun (the
         * VM's one controller): mount it at guest_path (the agent's Disk
         * settings; one already mounted there is no error). Unmount it
         * before the host removes it; one not mounted is no error. */
        int (*mount_disk)(struct hcs_guest *g, unsigned lun, const char *guest_path,
                          struct uvm_error **err);
        int (*unmount_disk)(struct hcs_guest *g, unsigned lun, const char *guest_path,
                            struct uvm_error **err);
        /* Optional (NULL: no scratch disks): a container's scratch disk
         * the host attached read-write at lun, formatted by the guest when
         * blank and mounted read-write at guest_path (the agent's Disk
         * settings with Scratch), where the container's overlay upper and
         * work dirs go. unmount_disk unmounts it. */
        int (*mount_scratch)(struct hcs_guest *g, unsigned lun, const char *guest_path,
                             struct uvm_error **err);
        /* A Plan9 share the host added (name, on vsock port): mount it at
         * guest_path (the agent's Plan9 settings; one mounted there already
         * is no error), read-only or not. Unmount it before the host removes
         * it; one not mounted is no error. */
        int (*mount_share)(struct hcs_guest *g, unsigned port, const char *name,
                           const char *guest_path, bool read_only, struct uvm_error **err);
        int (*unmount_share)(struct hcs_guest *g, const char *guest_path, struct uvm_error **err);
        /* Optional (NULL: the containers get the image's own): the pod's
         * resolv.conf, hosts and hostname (network/pod_files.h), written
         * by the agent (its PodFiles settings) under HCS_GUEST_POD_FILES,
         * each replaced atomically, for every container's bind mounts. */
        int (*pod_files)(struct hcs_guest *g, const char *resolv_conf, const char *hosts,
                         const char *hostname, struct uvm_error **err);
        /* Create a container from spec and its hosted container document
         * (documents.h), not started. */
        int (*ctr_create)(struct hcs_guest *g, const struct drv_ctr_spec *spec,
                          const char *hosted_doc_json, struct uvm_error **err);
        int (*ctr_start)(struct hcs_guest *g, const char *ctr_id, struct uvm_error **err);
        int (*ctr_signal)(struct hcs_guest *g, const char *ctr_id, int sig, struct uvm_error **err);
        int (*ctr_delete)(struct hcs_guest *g, const char *ctr_id, struct uvm_error **err);
        int (*ctr_state)(struct hcs_guest *g, const char *ctr_id, enum drv_ctr_state *ret_state,
                         int *ret_exit_code, struct uvm_error **err);
        int (*ctr_exec_sync)(struct hcs_guest *g, const char *ctr_id,
                             const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                             struct uvm_error **err);
        /* New cgroup values of a running container, resources_json an OCI
         * "linux.resources" object (the agent's UpdateContainer, runc
         * update). Optional (NULL: resources cannot change). */
        int (*ctr_update)(struct hcs_guest *g, const char *ctr_id, const char *resources_json,
                          struct uvm_error **err);
        /* Usage of a container, of the pod (its interfaces), as the agent
         * measures them in the VM. Optional (NULL: no stats). */
        int (*ctr_stats)(struct hcs_guest *g, const char *ctr_id, struct drv_ctr_stats *ret,
                         struct uvm_error **err);
        int (*pod_stats)(struct hcs_guest *g, struct drv_pod_stats *ret, struct uvm_error **err);
        /* The agent's bridge client, for Exec, Attach and PortForward
         * sessions (sandbox/stream.c). Optional (NULL: no sessions). */
        struct agent_client *(*client)(struct hcs_guest *g);
        /* Every running container: its stop signal, SIGKILL after
         * timeout_ms; returns once all have exited. */
        int (*ctr_stop_all)(struct hcs_guest *g, uint32_t timeout_ms, struct uvm_error **err);
        /* Close the connection; no event is reported after it returns.
         * NULL is a no-op. */
        void (*disconnect)(struct hcs_guest *g);
};
