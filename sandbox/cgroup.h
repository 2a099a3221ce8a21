#pragma once

/* A pod's parent cgroup: the kubelet's (PodSandboxConfig.linux.cgroup_parent,
 * with its QoS, pod limits and pids limit) when it gives one, else uvmd's
 * own. Containers' cgroups go below it. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* -EINVAL unless parent is usable with the cgroup driver: an absolute path
 * without ".." (cgroupfs), or a slice name (systemd). */
int sbx_cgroup_parent_check(const char *parent, bool systemd, struct uvm_error **err);

/* The parent as the OCI runtime's cgroupsPath wants it (malloc'd): the
 * kubelet's, or "/uvmd/<pod>" (cgroupfs) / "uvmd-<pod>.slice" (systemd). */
char *sbx_cgroup_parent(const char *kubelet_parent, const char *pod_id, bool systemd);

/* Remove a pod's parent cgroup from every mounted hierarchy when it is
 * uvmd's own ("/uvmd/<pod>" with cgroupfs; systemd removes its slices, and
 * the kubelet's parent is the kubelet's). It must be empty (its containers
 * gone); failures are logged and ignored. */
void sbx_cgroup_remove_own(const char *kubelet_parent, const char *pod_id, bool systemd);

/* What bounds a pod as a whole: its resources plus its overhead (the
 * kubelet's pod-level LinuxContainerResources). 0: not bounded. */
struct sbx_pod_limits {
        int64_t memory_bytes;
        int64_t cpu_quota;  /* microseconds per period */
        int64_t cpu_period; /* microseconds; 0 with a quota: 100000 */
        int64_t cpu_shares;
};

static inline bool sbx_pod_limits_set(const struct sbx_pod_limits *l)
{
        return l->memory_bytes > 0 || l->cpu_quota > 0 || l->cpu_shares > 0;
}

/* Set l on the pod's parent cgroup when it is uvmd's own and the cgroupfs
 * driver's ("/uvmd/<pod>" in the memory and cpu hierarchies, or in the
 * unified one), creating it; unset fields go back to unbounded. *applied
 * says whether anything was written: a kubelet parent carries the kubelet's
 * own pod limits, and a systemd slice's properties are systemd's. */
int sbx_cgroup_apply_own(const char *kubelet_parent, const char *pod_id, bool systemd,
                         const struct sbx_pod_limits *l, bool *applied, struct uvm_error **err);

/* Put pid (with its threads) in "<parent>/<name>" of every mounted
 * hierarchy (cgroupfs: a VM's QEMU under the pod's parent, so the kubelet's
 * limits and eviction see its memory). A systemd slice parent is left to
 * systemd: nothing is done. */
int sbx_cgroup_place(const char *parent, const char *name, pid_t pid, struct uvm_error **err);
/* Remove "<parent>/<name>" from every hierarchy (empty by then); logged. */
void sbx_cgroup_unplace(const char *parent, const char *name);
