#pragma once

/* A pod's parent cgroup: the kubelet's (PodSandboxConfig.linux.cgroup_parent,
 * with its QoS, pod limits and pids limit) when it gives one, else uvmd's
 * own. Containers' cgroups go below it. */

#include <stdbool.h>

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
