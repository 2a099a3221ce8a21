#pragma once

/* CreateContainer and UpdateContainerResources: checking
 * LinuxContainerResources and turning them into an OCI "linux.resources"
 * object (a container's spec; what runc update -r reads);
 * a Windows node's WindowsContainerResources as Linux values for a Linux
 * container in a utility VM (docs/windows.md "Container resources").
 * Pure and portable. */

#include "proto/api.pb-c.h"

#include <json-c/json.h>

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
#define CRI_CFS_PERIOD 100000 /* the kernel's default CFS period, microseconds */
#define CRI_WIN_CPU_MAX 10000 /* windows cpu_shares and cpu_maximum: 1 to this */

/* A cpuset list: "0-3,8,10-11". */
int cri_cpuset_check(const char *field, const char *s, struct uvm_error **err);

/* Check every field of r; on success *ret is the OCI linux.resources
 * object holding the fields that were set (the caller's reference), and
 * cri_resources_json's *ret_json (malloc'd) its text. */
int cri_resources_obj(const Runtime__V1__LinuxContainerResources *r, json_object **ret,
                      struct uvm_error **err);
int cri_resources_json(const Runtime__V1__LinuxContainerResources *r, char **ret_json,
                       struct uvm_error **err);

/* A pod's limits from PodSandboxConfig.linux (or UpdatePodSandboxResources):
 * its resources plus its overhead, each checked as a container's are. A
 * bound is set only where the pod's resources set one (the overhead adds to
 * it, scaled to the pod's CPU period); NULLs are "none". */
int cri_pod_limits(const Runtime__V1__LinuxContainerResources *res,
                   const Runtime__V1__LinuxContainerResources *overhead, struct sbx_pod_limits *ret,
                   struct uvm_error **err);

/* What mapping windows resources needs to know of the container's VM. */
struct cri_uvm_facts {
        unsigned vcpus;           /* the VM's processors; 0 counts as 1 */
        int64_t rootfs_max_bytes; /* the most a container's writable layer holds there */
};

/* w as Linux cgroup values in *ret (initialised here; no strings set),
 * every field checked first (-EINVAL naming "windows.<field>"):
 * cpu_maximum (a share of the VM's CPUs, 1-10000) and cpu_count (CPUs,
 * clamped to the VM's) become a CFS quota over CRI_CFS_PERIOD, at most
 * one of them; cpu_shares 1-10000 scaled into 2-262144; the memory limit
 * as it is; rootfs_size_in_bytes only checked against
 * uvm->rootfs_max_bytes; affinity_cpus refused. */
int cri_resources_from_windows(const Runtime__V1__WindowsContainerResources *w,
                               const struct cri_uvm_facts *uvm,
                               Runtime__V1__LinuxContainerResources *ret, struct uvm_error **err);
