#pragma once

/*
 * Runtime handlers as this node can serve them: each configured handler
 * (RuntimeClass name -> driver) checked against the drivers built into this
 * uvmd and what their probes found here, and the driver behind the default
 * handler "" chosen from that evidence. Resolved once at start-up, read-only
 * afterwards.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/driver.h"
#include "service/config.h"

struct handler_entry {
        char *name;   /* "" is the default handler */
        char *driver; /* "ns", "qemu", "hcs" */
        bool usable;  /* advertised in Status and accepted by RunPodSandbox */
        int error;    /* errno for RunPodSandbox when not usable */
        char *reason; /* why not usable (or, for "", why this driver) */
        bool rro_mounts, user_namespaces;
};

struct handlers {
        struct handler_entry v[UVMD_MAX_HANDLERS + 1]; /* v[0] is "" */
        size_t n;
};

/* The driver table (drv_lookup), replaced by fakes in tests. */
struct handlers_probe_ops {
        const struct drv_ops *(*lookup)(const char *driver);
};

/* Resolve the config's handlers. An explicit default_driver this node cannot
 * run is an error (the operator asked for it); the automatic default prefers
 * a driver whose probe saw a hypervisor run a guest, else "ns". */
int handlers_resolve(const struct uvmd_config *c, const struct drv_probe_env *env,
                     const struct handlers_probe_ops *ops, struct handlers *ret,
                     struct uvm_error **err);
void handlers_clear(struct handlers *h);

/* The usable handler of that name (NULL or "" = the default); an unknown or
 * unusable handler is an error naming it and the reason. */
int handlers_get(const struct handlers *h, const char *handler, const struct handler_entry **ret,
                 struct uvm_error **err);
/* The same, for its driver's name. */
int handlers_driver_for(const struct handlers *h, const char *handler, const char **ret_driver,
                        struct uvm_error **err);

/* One log line per handler, the default's first. */
void handlers_log(const struct handlers *h);
