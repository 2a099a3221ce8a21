#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "sandbox/driver.h"

/* The ns driver lives in sandbox/drivers/ and is built when present. */
#if __has_include("sandbox/drivers/ns.h")
#include "sandbox/drivers/ns.h"
#define HAVE_DRV_NS 1
#endif
#if __has_include("sandbox/drivers/qemu.h")
#include "sandbox/drivers/qemu.h"
#define HAVE_DRV_QEMU 1
#endif

/* Windows builds the hcs driver only (the sandbox's pods_win target). */
#ifdef _WIN32
#include "sandbox/drivers/hcs/driver.h"
#endif

static const struct drv_ops *const drivers[] = {
#ifdef _WIN32
        &drv_hcs_ops,
#endif
#ifdef HAVE_DRV_NS
        &drv_ns_ops,
#endif
#ifdef HAVE_DRV_QEMU
        &drv_qemu_ops,
#endif
        NULL,
};

/* Tests register a fake driver here (sandbox/driver-internal.h). */
static const struct drv_ops *extra;

void drv_register_extra(const struct drv_ops *ops)
{
        extra = ops;
}

const struct drv_ops *drv_lookup(const char *name)
{
        if (!name)
                return NULL;
        if (extra && STR_EQ(extra->name, name))
                return extra;
        for (size_t i = 0; drivers[i]; i++)
                if (STR_EQ(drivers[i]->name, name))
                        return drivers[i];
        return NULL;
}

const struct drv_ops *drv_at(size_t i)
{
        if (i < ARRAY_SIZE(drivers) - 1)
                return drivers[i];
        return i == ARRAY_SIZE(drivers) - 1 ? extra : NULL;
}
