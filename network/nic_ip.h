#pragma once

/* Running iproute2's `ip` for the NIC operations (network/nic.c). */

#include "common/error.h"

#define NIC_IP_MAX_ARGS 16

/* Run `ip args...` (args NULL-terminated) and wait for it (bounded). The
 * child inherits the calling thread's network namespace, so calling this
 * from a netns_run() function acts inside the pod. A failure carries ip's
 * own message; "Cannot find device" is -ENOENT, "File exists" -EEXIST,
 * kernel refusals of the request -EINVAL. */
int nic_ip_run(const char *const *args, struct uvm_error **err);
