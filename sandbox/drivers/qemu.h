#pragma once

/* The "qemu" driver (sandbox/drivers/qemu/driver.c): a pod is a QEMU
 * microVM whose guest runs uvmd-agent. sandbox/driver.c lists it when this
 * header is present. */

#include "sandbox/driver.h"

extern const struct drv_ops drv_qemu_ops;
