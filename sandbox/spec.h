#pragma once

/*
 * The OCI runtime spec (config.json) for a workload container, from the CRI
 * ContainerConfig, the image config and the pod. Pure but for reads: a
 * Localhost seccomp profile (sandbox/seccomp.c), the host's device nodes a
 * container asks for, and whether AppArmor and a profile are there
 * (sandbox/apparmor.h); the user is resolved by the caller (sandbox/user.h).
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "common/error.h"
#include "sandbox/apparmor.h"
#include "sandbox/idmap.h"
#include "sandbox/user.h"

struct spec_image {
        char *const *entrypoint; /* NULL-terminated or NULL */
        char *const *cmd;
        char *const *env; /* "K=V" */
        const char *working_dir;
};

/* A host device node, for privileged containers. */
struct spec_device {
        char path[128];
        char type; /* 'c' or 'b' */
        unsigned major, minor, mode;
};

/* The node's device nodes under /dev (what a privileged container gets),
 * at most 1024; malloc'd. */
int spec_host_devices(struct spec_device **ret, size_t *ret_n);

struct spec_pod {
        const char *id;
        const char *cgroup_parent; /* "/uvmd/<pod>" or "uvmd-<pod>.slice" */
        bool systemd_cgroups;
        bool host_network, host_ipc, host_pid;
        bool share_pid;
        const char *hostname;
        int oom_score_adj_floor; /* the lowest value this process may set */
        uint64_t caps_held;      /* capability bits uvmd holds (its bounding set) */
        bool rro_mounts;         /* the pod's handler can make recursive read-only mounts */
        /* The node's AppArmor (sandbox/apparmor.h); NULL: the host's. */
        const struct apparmor_node *apparmor;
        /* Given to privileged containers (with every device allowed). */
        const struct spec_device *host_devices;
        size_t n_host_devices;
        /* The pod's user namespace; NULL or no mappings: the host's. */
        const struct userns_map *userns;
};

/* The capability bits in this process's bounding set. */
uint64_t spec_caps_held(void);

/* Build the spec as JSON text (malloc'd). user comes from the caller's user
 * resolution (sandbox/user.h). An image volume (a mount with image set) gets
 * an empty source: the driver mounts the image and fills it in. -EINVAL
 * naming the field for bad input. */
int spec_build(const Runtime__V1__ContainerConfig *c, const struct spec_image *img,
               const struct spec_pod *pod, const char *ctr_id, const struct ctr_user *user,
               char **ret_json, struct uvm_error **err);

/* spec_userns.c. A CRI id mapping list, checked (idmap_check), naming field. */
int spec_idmap_from_cri(const char *field, Runtime__V1__IDMapping *const *v, size_t n,
                        struct idmap *ret, struct uvm_error **err);
/* A container's userns_options must be its pod's. */
int spec_userns_check(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                      struct uvm_error **err);
/* linux.uidMappings/gidMappings of a pod with its own user namespace. */
void spec_userns_linux(const struct spec_pod *pod, json_object *linux_o);
/* A CRI mount's idmap (mounts[i]) onto its OCI mount object. */
int spec_userns_mount(const Runtime__V1__Mount *m, size_t i, const struct spec_pod *pod,
                      json_object *mount, struct uvm_error **err);

/* Whether a CRI mount is an image volume (ImageVolume: image set, no host_path). */
bool spec_mount_is_image(const Runtime__V1__Mount *m);

/* The kubelet's rule: command replaces the entrypoint (and drops the image
 * cmd); args replace the cmd. Returns a NULL-terminated copy. */
int spec_args(const Runtime__V1__ContainerConfig *c, const struct spec_image *img, char ***ret_argv,
              struct uvm_error **err);
