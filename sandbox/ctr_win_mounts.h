#pragma once

/*
 * A Windows container's CRI mounts (ctr_win_mounts.c): host directories
 * (or a file's, restricted to it) shared into the hcs pod's VM over Plan9 by the hcs driver
 * (sandbox/drivers/hcs/shares.c), bound into the container by the agent.
 */

#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/container-internal.h"

/* Every mount usable, checked before anything is made: a container path
 * absolute, a host path an absolute Windows path of an existing directory
 * or file (a file's directory shareable: not a bare \\server), private
 * propagation. -EINVAL (bad paths), -ENOENT (no such file or directory)
 * or -EOPNOTSUPP (what a Plan9 share cannot do) with the mount's index. */
int ctr_win_mounts_check(const Runtime__V1__ContainerConfig *cfg, struct uvm_error **err);

/* The mounts into c's record and into spec's "mounts" as bind mounts
 * whose source is the host path (the driver makes each a share and the
 * source the guest's mount point, or the file in it), options rbind,
 * rprivate and ro or rw; a file's marked DRV_HCS_MOUNT_FILE_KEY. */
int ctr_win_mounts_add(struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                       json_object *spec, struct uvm_error **err);
