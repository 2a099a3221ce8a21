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

#include "common/error.h"

struct drv_pod; /* one UVM, private to the driver */

enum drv_stream { DRV_STDOUT = 1, DRV_STDERR = 2 };

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
};

/* An image mounted read-only into a container (the ImageVolume feature). */
struct drv_image_volume {
        const char *destination; /* the spec mount with this destination and an empty source */
        char *const *layers;     /* the image's layer dirs, lowest first; NULL-terminated */
        const char *sub_path;    /* relative, without ".."; "" is the image's root */
};

struct drv_ctr_spec {
        const char *id;
        char *const *layers; /* read-only layer dirs, lowest first; NULL-terminated */
        bool readonly_rootfs;
        const struct drv_image_volume *image_volumes;
        size_t n_image_volumes;
        /* The OCI runtime spec (config.json) built by the sandbox layer. The
         * driver sets root.path and the pod's namespace paths. */
        const char *oci_spec_json;
};

/* ExecSync keeps at most this much of each stream (one bridge frame holds
 * both); what is beyond is dropped and the result says so. */
#define DRV_EXEC_MAX_OUTPUT (256u << 10)

struct drv_exec_spec {
        char *const *argv;  /* NULL-terminated, argv[0] required */
        int64_t timeout_ms; /* <= 0: none */
        size_t max_output;  /* per stream; beyond it output is dropped */
};

struct drv_exec_result {
        int exit_code;
        bool timed_out;
        bool out_cut, err_cut; /* output beyond max_output was dropped */
        char *out, *errout;    /* malloc'd, may be NULL when empty */
        size_t out_len, err_len;
};

void drv_exec_result_clear(struct drv_exec_result *r);

struct drv_ctr_stats {
        int64_t timestamp_ns;
        uint64_t cpu_usage_ns;
        uint64_t cpu_nano_cores; /* the rate since the last sample; set by the sandbox layer */
        uint64_t memory_usage_bytes;
        uint64_t memory_working_set_bytes;
        uint64_t memory_rss_bytes;
        uint64_t page_faults, major_page_faults;
        uint64_t process_count;
        /* The writable layer: what the container wrote, and the host
         * directory on the filesystem holding it (empty: unknown). */
        uint64_t writable_bytes, writable_inodes;
        char writable_fs[256];
};

#define DRV_MAX_INTERFACES 16

/* A pod's own usage, beyond its containers'. */
struct drv_pod_stats {
        int64_t timestamp_ns;
        struct drv_interface_stats {
                char name[16];
                uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
        } interfaces[DRV_MAX_INTERFACES];
        size_t n_interfaces;
};

enum drv_ctr_state { DRV_CTR_CREATED, DRV_CTR_RUNNING, DRV_CTR_EXITED, DRV_CTR_UNKNOWN };

/* What a probe may look at: the node's devices and tools, as configured. */
struct drv_probe_env {
        const char *oci_runtime; /* path of runc or crun */
        const char *kvm_device;  /* "/dev/kvm" unless the config moves (or hides) it */
        const char *data_root;   /* where image layers live (a probe may write there) */
        const char *state_root;  /* where pods' directories live */
        /* The qemu driver's node settings (service/config.h), kept by it. */
        const char *qemu_binary, *guest_dir, *qemu_accel;
        unsigned vm_boot_timeout_ms;
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

struct drv_ops {
        const char *name;
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
};

/* The driver registered under name, or NULL. */
const struct drv_ops *drv_lookup(const char *name);
/* The i-th driver built in (and a test's), NULL past the last: for what
 * must ask every driver, such as cleaning up after an unreadable record. */
const struct drv_ops *drv_at(size_t i);
