#pragma once

#include "sandbox/driver.h"

/* One extra driver consulted before the built-in table (unit tests). */
void drv_register_extra(const struct drv_ops *ops);
