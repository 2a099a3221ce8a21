#pragma once

/*
 * What a container in a VM pod sees of the host: one 9p share per pod
 * (<pod state dir>/share, given to QEMU at boot, mounted by the guest at
 * QSHARE_GUEST), where each container's layers and CRI mounts are
 * bind-mounted by the host at create (share/c/<ctr>/{l<i>,m<k>}), and its
 * OCI spec rewritten to point at them and at the guest's own namespaces.
 */

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/error.h"

#define QSHARE_TAG "uvmdshare"
#define QSHARE_GUEST "/run/share"

struct qshare_pod {
        const char *share;  /* host path of the share */
        bool share_pid;     /* containers join the holder's PID namespace */
        pid_t pidns_holder; /* that holder, as the guest sees it */
};

/* Bind the container's layers (unless NULL: they came as disks) and mounts
 * into the share and rewrite oci for the guest. *ret_layers (malloc'd,
 * NULL-terminated; NULL without layers) are the layers' guest paths. -EINVAL naming what a VM pod
 * cannot do. On failure nothing is left of the container in the share. */
int qshare_ctr_prepare(const struct qshare_pod *pod, const char *ctr_id, char *const *layers,
                       json_object *oci, char ***ret_layers, struct uvm_error **err);
/* Unmount and remove what qshare_ctr_prepare made; idempotent. */
void qshare_ctr_release(const char *share, const char *ctr_id);
/* Every container's; then the share directory itself. */
void qshare_release_all(const char *share);
