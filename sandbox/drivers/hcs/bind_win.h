#pragma once

/*
 * The hcs driver on a Windows host (bind_win.c, Windows only): bound to
 * computecore.dll (hcs_win.c) and computenetwork.dll (network/hcn_win.c),
 * both loaded at run time, and to the agent in the VM through the bridge
 * over HvSocket (guest_hv_win.h) unless the caller gives another guest
 * table (tests).
 */

#include <stddef.h>

#include "sandbox/drivers/hcs/driver.h"

/* Load HCS and HCN and make the driver's binding current with guest
 * (borrowed: it must outlive every pod; NULL: the bridge over HvSocket to
 * cfg->bridge_vsock_port, which must then be set) and cfg (copied;
 * host_cpus 0: this host's logical processors). Returns the driver table,
 * or NULL with why in reason (size bytes, truncated) when HCS or HCN do
 * not load here or guest/cfg are unusable; the driver's probe then reports
 * that reason. */
const struct drv_ops *drv_hcs_system(const struct hcs_guest_ops *guest,
                                     const struct drv_hcs_config *cfg, char *reason, size_t size);
