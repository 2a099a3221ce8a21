/* Runtime handlers: which configured handler can run pods on this node, and
 * the default handler's driver, from the drivers' own probes. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "service/handlers.h"

/* The drivers a default may pick, most isolated first. */
static const char *const default_order[] = {"qemu", "ns"};

struct probed {
        const char *driver;
        bool built;
        struct drv_probe p;
};

struct probe_cache {
        struct probed v[8];
        size_t n;
};

static const struct probed *probe_driver(struct probe_cache *pc, const char *driver,
                                         const struct drv_probe_env *env,
                                         const struct handlers_probe_ops *ops)
{
        const struct drv_ops *d;
        struct probed *x;

        for (size_t i = 0; i < pc->n; i++)
                if (STR_EQ(pc->v[i].driver, driver))
                        return &pc->v[i];
        if (pc->n == ARRAY_SIZE(pc->v))
                return NULL;
        x = &pc->v[pc->n++];
        *x = (struct probed){.driver = driver};
        d = ops->lookup(driver);
        x->built = d != NULL;
        if (!d)
                snprintf(x->p.reason, sizeof(x->p.reason),
                         "driver \"%s\" is not built into this uvmd", driver);
        else if (d->probe)
                d->probe(env, &x->p);
        else
                x->p.usable = true;
        return x;
}

static int fill(struct handler_entry *e, const char *name, const struct probed *x,
                const char *reason)
{
        e->name = strdup(name);
        e->driver = strdup(x->driver);
        e->usable = x->built && x->p.usable;
        e->error = !x->built ? EOPNOTSUPP : e->usable ? 0 : ENODEV;
        e->reason = strdup(reason ? reason : x->p.reason);
        e->rro_mounts = e->usable && x->p.rro_mounts;
        e->user_namespaces = e->usable && x->p.user_namespaces;
        return e->name && e->driver && e->reason ? 0 : -ENOMEM;
}

/* The automatic default: the first driver in default_order that is usable
 * and, unless it is the last resort "ns", saw its hypervisor run a guest. */
static int choose_default(struct probe_cache *pc, const struct drv_probe_env *env,
                          const struct handlers_probe_ops *ops, struct handler_entry *e,
                          struct uvm_error **err)
{
        char why[512] = "";

        for (size_t i = 0; i < ARRAY_SIZE(default_order); i++) {
                const struct probed *x = probe_driver(pc, default_order[i], env, ops);
                bool last = i + 1 == ARRAY_SIZE(default_order);
                char reason[800];

                if (!x)
                        break;
                if (x->built && x->p.usable && (x->p.accelerated || last)) {
                        if (last)
                                snprintf(reason, sizeof(reason),
                                         "no hypervisor was seen running a guest (%s)", why);
                        else
                                snprintf(reason, sizeof(reason), "%s", x->p.reason);
                        return fill(e, "", x, reason) < 0
                                       ? uvm_error_set(err, ENOMEM, "out of memory")
                                       : 0;
                }
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s: %s", *why ? "; " : "",
                         x->driver, x->p.reason);
        }
        return uvm_error_set(err, ENODEV, "no driver can run pods on this node: %s", why);
}

static int explicit_default(struct probe_cache *pc, const char *driver,
                            const struct drv_probe_env *env, const struct handlers_probe_ops *ops,
                            struct handler_entry *e, struct uvm_error **err)
{
        const struct probed *x = probe_driver(pc, driver, env, ops);
        char reason[300];

        if (!x)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!x->built || !x->p.usable)
                return uvm_error_set(err, x->built ? ENODEV : EOPNOTSUPP,
                                     "default_driver \"%s\" cannot run pods here: %s", driver,
                                     x->p.reason);
        snprintf(reason, sizeof(reason), "set by default_driver in the configuration");
        return fill(e, "", x, reason) < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

int handlers_resolve(const struct uvmd_config *c, const struct drv_probe_env *env,
                     const struct handlers_probe_ops *ops, struct handlers *ret,
                     struct uvm_error **err)
{
        struct probe_cache pc = {0};
        struct handlers h = {0};
        int r;

        r = STR_EQ(c->default_driver, "auto")
                    ? choose_default(&pc, env, ops, &h.v[0], err)
                    : explicit_default(&pc, c->default_driver, env, ops, &h.v[0], err);
        h.n = 1;
        for (size_t i = 0; r >= 0 && i < c->n_handlers; i++) {
                const struct probed *x = probe_driver(&pc, c->handlers[i].driver, env, ops);

                r = x ? fill(&h.v[h.n++], c->handlers[i].name, x, NULL) : -ENOMEM;
                if (r < 0)
                        uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                handlers_clear(&h);
                return r;
        }
        *ret = h;
        return 0;
}

void handlers_clear(struct handlers *h)
{
        for (size_t i = 0; i < h->n; i++) {
                free(h->v[i].name);
                free(h->v[i].driver);
                free(h->v[i].reason);
        }
        memset(h, 0, sizeof(*h));
}

int handlers_get(const struct handlers *h, const char *handler, const struct handler_entry **ret,
                 struct uvm_error **err)
{
        const char *name = handler ? handler : "";

        for (size_t i = 0; i < h->n; i++) {
                const struct handler_entry *e = &h->v[i];
                if (!STR_EQ(e->name, name))
                        continue;
                if (!e->usable)
                        return uvm_error_set(err, e->error,
                                             "runtime handler \"%s\" cannot run pods on this "
                                             "node: %s",
                                             name, e->reason);
                *ret = e;
                return 0;
        }
        return uvm_error_set(err, EINVAL, "runtime handler \"%.64s\" is not configured", name);
}

int handlers_driver_for(const struct handlers *h, const char *handler, const char **ret_driver,
                        struct uvm_error **err)
{
        const struct handler_entry *e = NULL;
        int r = handlers_get(h, handler, &e, err);

        if (r >= 0)
                *ret_driver = e->driver;
        return r;
}

void handlers_log(const struct handlers *h)
{
        for (size_t i = 0; i < h->n; i++) {
                const struct handler_entry *e = &h->v[i];
                if (i == 0)
                        log_info("default runtime handler: driver \"%s\" (%s)", e->driver,
                                 e->reason);
                else if (e->usable)
                        log_info("runtime handler \"%s\": driver \"%s\"%s%s", e->name, e->driver,
                                 e->rro_mounts ? ", recursive read-only mounts" : "",
                                 e->user_namespaces ? ", user namespaces" : "");
                else
                        log_info("runtime handler \"%s\" not offered: %s", e->name, e->reason);
        }
}
