#pragma once

/*
 * The bridge's dialler on a Windows host (guest_hv_win.c, Windows only):
 * HvSocket (AF_HYPERV) to the VM's RuntimeId, at the HvSocket service of
 * the vsock port the agent listens on (documents.h's
 * hcs_vsock_service_id, the one the UVM document's service table names).
 */

#include <stddef.h>
#include <stdint.h>

#include "sandbox/drivers/hcs/guest.h"

/* The guest table over HvSocket to vsock_port (guest_bridge.h; one port
 * per process, a later call replaces it), or NULL with why in reason
 * (size bytes, cut) when the port is 0. */
const struct hcs_guest_ops *hcs_guest_hv(uint32_t vsock_port, char *reason, size_t size);
