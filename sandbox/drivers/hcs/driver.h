#pragma once

/*
 * The "hcs" driver: a pod is a Hyper-V utility VM made by the Host Compute
 * Service (id "<pod id>@vm"), its network an HCN namespace whose endpoints
 * are hot-added to the VM as NICs, its containers placed in the VM by our
 * agent. Everything outside the process goes through three tables: HCS
 * (hcs_api.h), HCN (network/hcn.h) and the agent in the guest (guest.h).
 * Production binds computecore, computenetwork and the HvSocket bridge;
 * unit tests bind fakes.
 *
 * struct drv_ops carries no context of its own, so the driver keeps one
 * binding per process: drv_hcs_new() makes it current (on Windows
 * drv_hcs_system() does, with computecore and computenetwork), and the
 * table's probe says the driver is usable only while one is. A pod keeps the
 * binding it was made with (a reference) until pod_free, so a new binding
 * never changes the tables under a live pod.
 */

#include <stdint.h>

#include "common/error.h"
#include "network/hcn.h"
#include "sandbox/driver.h"
#include "sandbox/drivers/hcs/guest.h"
#include "sandbox/drivers/hcs/hcs_api.h"

#define DRV_HCS_CREATE_TIMEOUT_MS 240000u /* hcsshim's: create and start, 4 min */
#define DRV_HCS_GUEST_CONNECT_MS 120000u  /* the agent answers within 2 min */
#define DRV_HCS_SHUTDOWN_WAIT_MS 30000u   /* graceful shutdown, then terminate */
#define DRV_HCS_TERMINATE_WAIT_MS 30000u

struct drv_hcs_config {
        /* HCS create and start, and each hot-add or removal (one HCS
         * operation each). */
        uint32_t create_timeout_ms;
        uint32_t guest_connect_ms; /* connect to the agent and negotiate */
        uint32_t shutdown_wait_ms; /* for the graceful shutdown of the VM */
        uint32_t terminate_wait_ms;
        /* The guest image, booted kernel-direct (as LCOW does). Copied. */
        const char *kernel_path, *initrd_path;
        const char *kernel_cmdline; /* NULL: documents.h's */
        /* The vsock port the agent's bridge listens on, put in the VM's
         * HvSocket service table; 0: none (the guest table's business). */
        uint32_t bridge_vsock_port;
        uint32_t host_cpus; /* the host's logical processors: the clamp */
        /* Each container's scratch VHD in GiB (scratch.c), a sparse file
         * in the pod's state dir; 0 (the default here; the service's is
         * hcsshim's 20): none, the guest's tmpfs holds its writes. */
        uint32_t scratch_size_gb;
};

/* The defaults above; paths NULL, host_cpus 1. */
void drv_hcs_config_init_defaults(struct drv_hcs_config *cfg);

/* Bind the driver to its tables (borrowed: they must outlive every pod)
 * and config (copied), make the binding current and give the driver table
 * in *ret_ops. -EINVAL when a table lacks an entry or the config is
 * unusable. */
int drv_hcs_new(const struct hcs_api *hcs, const struct hcn_api *hcn,
                const struct hcs_guest_ops *guest, const struct drv_hcs_config *cfg,
                const struct drv_ops **ret_ops, struct uvm_error **err);
/* Drop the current binding: pod_create and pod_reattach then fail with
 * -ENODEV; pods made before keep theirs. */
void drv_hcs_unbind(void);
/* Why this host cannot bind the driver (drv_hcs_system, bind_win.h): the
 * probe reports it while no binding is current. NULL forgets it. */
void drv_hcs_set_unavailable(const char *reason);

/* Whether path can be a CRI mount's host directory shared into an hcs
 * pod: absolute (C:\dir, \\?\C:\dir or \\server\share\dir), no ".", ".."
 * or empty component, no stream or device. -EINVAL with the reason. */
int drv_hcs_share_path_check(const char *path, struct uvm_error **err);

/* A key of an OCI spec mount that ctr_win_mounts.c sets (true) when the
 * bind's source is a host file, not a directory: the driver shares the
 * file's directory restricted to that file (hcsshim's single-file
 * mapping) and binds <its mount point>/<name>. The driver removes the key
 * before the agent sees the spec. */
#define DRV_HCS_MOUNT_FILE_KEY "uvmdHostFile"

/* A host file's path (drv_hcs_share_path_check's forms) split into the
 * directory to share (a drive root keeps its '\': "C:\") and the file's
 * name (one component, at most 255 bytes), both malloc'd. -EINVAL when
 * there is no name (a root, a trailing separator) or the directory cannot
 * be shared (\\server alone). */
int drv_hcs_share_file_split(const char *path, char **ret_dir, char **ret_name,
                             struct uvm_error **err);

extern const struct drv_ops drv_hcs_ops;
