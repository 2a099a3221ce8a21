#pragma once

/*
 * The "Plan9" guest settings (guest_plan9.c): a Plan9 share the hcs host
 * added to the VM, served on a vsock port of the host under an access
 * name, mounted at a guest path; or, with "Remove", unmounted. Parsing
 * and the 9p mount's data are here, apart from the mount, so they are
 * tested on any host (no vsock transport is needed).
 *
 *   {"Port": 564, "AccessName": "m0", "Path": "/run/mounts/m0",
 *    "ReadOnly": false}
 *   {"Path": "/run/mounts/m0", "Remove": true}
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

#define PLAN9_ROOT "/run/mounts/" /* the hcs driver's mount points */
#define PLAN9_NAME_MAX 64
#define PLAN9_MSIZE 65536u /* hcsshim's payload size for vsock 9p */
#define PLAN9_HOST_CID 2u  /* VMADDR_CID_HOST */

struct plan9_req {
        uint32_t port;
        char name[PLAN9_NAME_MAX + 1];
        char path[256];
        bool read_only, remove;
};

/* Every field checked: a Path of one name under PLAN9_ROOT; unless
 * Remove, a Port of 1 to 2^32-2 and an AccessName of [A-Za-z0-9._-]. */
int plan9_parse(json_object *s, struct plan9_req *ret, struct uvm_error **err);

/* The 9p mount's data for a connected socket fd: the fd transport both
 * ways, the msize, 9P2000.L and the access name. -ENOSPC when len is too
 * small. */
int plan9_mount_data(int fd, const char *name, char *buf, size_t len);
