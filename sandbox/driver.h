#pragma once

/*
 * The driver table: how a pod's utility VM is made and how containers are
 * placed in it. "ns" (Linux namespaces + the agent as sandbox init), "qemu"
 * (a microVM whose PID 1 is the agent) and "hcs" (Windows) fill this table;
 * the sandbox layer never knows which one it talks to.
 *
 * Threading: the sandbox layer serialises calls per pod (pod lock); calls for
 * different pods may run concurrently. Event callbacks come from driver
 * threads, with no sandbox lock held by the driver.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/bridge_types.h"
#include "common/error.h"

struct drv_pod; /* one UVM, private to the driver */
struct agent_client;

/* Reports from the driver to the sandbox layer. */
struct drv_events {
        void *data;
        /* A container's init process ended (exit_code: 128+signal when killed). */
        void (*ctr_exited)(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                           bool oom_killed);
        /* Container output, in order per stream; may be called with partial lines. */
        void (*ctr_output)(void *data, const char *ctr_id, enum drv_stream stream, const char *buf,
                           size_t len);
        /* The UVM (or its agent) died: every container in it has exited. */
        void (*pod_died)(void *data, const char *reason);
};

/* UVM sizing, hcsshim's defaults and rules (see sandbox/uvm_options.h). */
struct drv_uvm_options {
        uint32_t memory_mb;
        uint32_t processors;
        bool allow_overcommit;
        bool deferred_commit;
};

#define DRV_MAX_SYSCTLS 64

struct drv_pod_spec {
        const char *id; /* pod id (64 hex) */
        const char *hostname;
        const char *state_dir;  /* <state_root>/pods/<id>: exists, the pod's own */
        const char *netns_path; /* NULL: host network */
        /* Windows (hcs): the HCN endpoint GUIDs the network layer made for
         * the pod, NULL-terminated; NULL: none */
        char *const *hcn_endpoints;
        /* Windows (hcs): the HCN namespace (GUID) the network layer made
         * and CNI's plugins put hcn_endpoints in; the caller's, left alone
         * by the driver. NULL: the driver makes one for hcn_endpoints. */
        const char *hcn_namespace;
        /* The pod's user namespace, pinned (sandbox/idmap.h), which owns its
         * network namespace; the pod's IPC, UTS and PID namespaces and its
         * containers go in it. NULL: the host's. */
        const char *userns_path;
        bool host_ipc;
        bool host_pid;
        bool share_pid;            /* containers share one pod PID namespace */
        const char *cgroup_parent; /* per-pod parent cgroup (relative to the hierarchy) */
        /* "name=value", NULL-terminated (at most DRV_MAX_SYSCTLS): namespaced
         * sysctls, already checked, set in the pod's namespaces. */
        char *const *sysctls;
        const char *oci_runtime; /* path of runc or crun */
        struct drv_uvm_options uvm;
        const struct drv_events *events;
        /* For a driver that gives a VM its layers as disks (qemu): the
         * read-only disk image of one of a container's layer dirs, made on
         * first use (image/image.h img_layer_disk). NULL: none on this node. */
        int (*layer_disk)(void *data, const char *layer_dir, char **ret_path,
                          struct uvm_error **err);
        void *layer_disk_data;
        const char *layer_disk_dir; /* where those are: a VM may read only there */
};

/* What a probe may look at: the node's devices and tools, as configured. */
struct drv_probe_env {
        const char *oci_runtime; /* path of runc or crun */
        const char *kvm_device;  /* "/dev/kvm" unless the config moves (or hides) it */
        const char *data_root;   /* where image layers live (a probe may write there) */
        const char *state_root;  /* where pods' directories live */
        /* The qemu driver's node settings (service/config.h), kept by it. */
        const char *qemu_binary, *guest_dir, *qemu_accel;
        unsigned vm_boot_timeout_ms;
        bool vm_templates; /* qemu: boot pods from saved templates */
};

/* What a driver can do on this node, found by trying it (never by the mere
 * existence of a device node). */
struct drv_probe {
        bool usable;      /* it can run pods here */
        bool accelerated; /* a hypervisor was seen running a guest: the default's first choice */
        bool rro_mounts;  /* recursive read-only mounts work */
        bool user_namespaces;
        char reason[256]; /* why (not) usable / (not) accelerated, for logs and Status */
};

/* A network adapter added to a running VM from outside the CNI flow (the
 * ComputeAgent): its host end is ifname, already in the pod's network
 * namespace; the guest takes the MAC, MTU, addresses and routes. */
#define DRV_NIC_MAX_ADDRS 16
#define DRV_NIC_MAX_ROUTES 16
struct drv_nic {
        const char *netns_path;
        const char *ifname;
        const char *mac;
        unsigned mtu;                                   /* 0: the interface's */
        const char *const *addrs;                       /* "a/p" */
        size_t n_addrs;                                 /* at most DRV_NIC_MAX_ADDRS */
        const char *const *route_dst, *const *route_gw; /* gw NULL: on-link */
        size_t n_routes;                                /* at most DRV_NIC_MAX_ROUTES */
        /* hcs: the HCN endpoint (GUID) that is the NIC's host end, in place
         * of netns_path and ifname; its MAC and address are HCN's. */
        const char *hcn_endpoint;
};

struct drv_ops {
        const char *name;
        /* pod_create needs the pod's network namespace only, not what CNI
         * ADD puts in it: the sandbox layer may run ADD meanwhile. */
        bool cni_concurrent;
        /* Optional (NULL: usable, nothing more). Run once at start-up. */
        void (*probe)(const struct drv_probe_env *env, struct drv_probe *ret);
        /* Make and start the UVM. On failure nothing it took is left. */
        int (*pod_create)(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                          struct uvm_error **err);
        /* After a uvmd restart: reconnect to a live UVM from its state_dir.
         * -ESRCH when it is gone (the caller then cleans up). */
        int (*pod_reattach)(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                            struct uvm_error **err);
        /* Kill every container (stop signal, then SIGKILL after timeout_ms)
         * and shut the UVM down. Idempotent. */
        int (*pod_stop)(struct drv_pod *pod, uint32_t timeout_ms, struct uvm_error **err);
        /* Release everything the driver holds for the pod (after stop). */
        void (*pod_free)(struct drv_pod *pod);
        bool (*pod_alive)(struct drv_pod *pod);

        int (*ctr_create)(struct drv_pod *pod, const struct drv_ctr_spec *spec,
                          struct uvm_error **err);
        int (*ctr_start)(struct drv_pod *pod, const char *ctr_id, struct uvm_error **err);
        int (*ctr_signal)(struct drv_pod *pod, const char *ctr_id, int sig, struct uvm_error **err);
        /* After exit (or never started): remove it and its rootfs mount. */
        int (*ctr_delete)(struct drv_pod *pod, const char *ctr_id, struct uvm_error **err);
        int (*ctr_state)(struct drv_pod *pod, const char *ctr_id, enum drv_ctr_state *ret_state,
                         int *ret_exit_code, struct uvm_error **err);
        int (*ctr_exec_sync)(struct drv_pod *pod, const char *ctr_id,
                             const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                             struct uvm_error **err);
        /* resources_json: an OCI "linux.resources" object. Optional (NULL). */
        int (*ctr_update)(struct drv_pod *pod, const char *ctr_id, const char *resources_json,
                          struct uvm_error **err);
        /* Optional (NULL). */
        int (*ctr_stats)(struct drv_pod *pod, const char *ctr_id, struct drv_ctr_stats *ret,
                         struct uvm_error **err);
        /* Optional (NULL): the pod's network interfaces, seen from inside. */
        int (*pod_stats)(struct drv_pod *pod, struct drv_pod_stats *ret, struct uvm_error **err);
        /* Optional (NULL: no streaming): the connection to the pod's agent,
         * for Exec, Attach and PortForward sessions (sandbox/stream.c). It
         * lives until pod_free. */
        struct agent_client *(*agent)(struct drv_pod *pod);
        /* Optional (NULL: the pod's network namespace is the pod's network,
         * and an added interface needs nothing from the driver). A guest
         * network adapter for nic_id: add it (on failure nothing of it is
         * left), change it from old to nic (same netns_path and ifname), or
         * remove it (an adapter already gone is no error). */
        int (*nic_add)(struct drv_pod *pod, const char *nic_id, const struct drv_nic *nic,
                       struct uvm_error **err);
        int (*nic_modify)(struct drv_pod *pod, const char *nic_id, const struct drv_nic *old,
                          const struct drv_nic *nic, struct uvm_error **err);
        int (*nic_remove)(struct drv_pod *pod, const char *nic_id, const struct drv_nic *nic,
                          struct uvm_error **err);
};

/* The driver registered under name, or NULL. */
const struct drv_ops *drv_lookup(const char *name);
/* The i-th driver built in (and a test's), NULL past the last: for what
 * must ask every driver, such as cleaning up after an unreadable record. */
const struct drv_ops *drv_at(size_t i);
