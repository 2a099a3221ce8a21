#pragma once

/* UpdateContainerResources: checking LinuxContainerResources and turning
 * them into an OCI "linux.resources" object (what runc update -r reads). */

#include "proto/api.pb-c.h"

#include "common/error.h"
#include "sandbox/cgroup.h"

#define CRI_MAX_CPU_SHARES 262144
#define CRI_MIN_CPU_QUOTA 1000
#define CRI_MIN_CPU_PERIOD 1000
#define CRI_MAX_CPU_PERIOD 1000000
#define CRI_MIN_MEMORY_LIMIT (4ll << 20)
#define CRI_MAX_CPUSET_LEN 1024
#define CRI_MAX_HUGEPAGE_LIMITS 16
#define CRI_MAX_UNIFIED 64

/* A cpuset list: "0-3,8,10-11". */
int cri_cpuset_check(const char *field, const char *s, struct uvm_error **err);

/* Check every field of r; on success *ret_json (malloc'd) is the OCI
 * linux.resources object holding the fields that were set. */
int cri_resources_json(const Runtime__V1__LinuxContainerResources *r, char **ret_json,
                       struct uvm_error **err);

/* A pod's limits from PodSandboxConfig.linux (or UpdatePodSandboxResources):
 * its resources plus its overhead, each checked as a container's are. A
 * bound is set only where the pod's resources set one (the overhead adds to
 * it, scaled to the pod's CPU period); NULLs are "none". */
int cri_pod_limits(const Runtime__V1__LinuxContainerResources *res,
                   const Runtime__V1__LinuxContainerResources *overhead, struct sbx_pod_limits *ret,
                   struct uvm_error **err);
