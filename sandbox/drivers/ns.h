#pragma once

/* The "ns" driver (sandbox/drivers/ns/driver.c): Linux namespaces, with uvmd-agent as the
 * sandbox init. sandbox/driver.c lists it when this header is present. */

#include "sandbox/driver.h"

extern const struct drv_ops drv_ns_ops;
