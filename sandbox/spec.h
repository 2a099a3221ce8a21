#pragma once

/*
 * The OCI runtime spec (config.json) for a workload container, from the CRI
 * ContainerConfig, the image config and the pod. Pure but for one read: a
 * Localhost seccomp profile (sandbox/seccomp.c); the rootfs /etc/passwd
 * lookup for user names is done by the caller.
 */

#include <stdbool.h>

#include "proto/api.pb-c.h"

#include "common/error.h"

struct spec_image {
        char *const *entrypoint; /* NULL-terminated or NULL */
        char *const *cmd;
        char *const *env; /* "K=V" */
        const char *working_dir;
};

struct spec_pod {
        const char *id;
        const char *cgroup_parent; /* "/uvmd/<pod>" or "uvmd-<pod>.slice" */
        bool systemd_cgroups;
        bool host_network, host_ipc, host_pid;
        bool share_pid;
        const char *hostname;
        int oom_score_adj_floor; /* the lowest value this process may set */
};

/* Build the spec as JSON text (malloc'd). uid/gid come from the caller's
 * user resolution. -EINVAL naming the field for bad input. */
int spec_build(const Runtime__V1__ContainerConfig *c, const struct spec_image *img,
               const struct spec_pod *pod, const char *ctr_id, unsigned uid, unsigned gid,
               char **ret_json, struct uvm_error **err);

/* The kubelet's rule: command replaces the entrypoint (and drops the image
 * cmd); args replace the cmd. Returns a NULL-terminated copy. */
int spec_args(const Runtime__V1__ContainerConfig *c, const struct spec_image *img, char ***ret_argv,
              struct uvm_error **err);
