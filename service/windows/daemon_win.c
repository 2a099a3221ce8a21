/* uvmd.exe's daemon: assembly of what the Windows build serves
 * (daemon_win.h). */

/* Before <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and CRI
 * messages have fields of those names. */
#include "proto/api.pb-c.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/platform.h"
#include "network/hcn.h"
#include "sandbox/drivers/hcs/bind_win.h"
#include "service/cri_runtime_common.h"
#include "service/windows/daemon_win.h"

/* Built from the .proto files at build time (//proto:descriptor_set_embed). */
extern const unsigned char uvmd_descriptor_set[];
extern const size_t uvmd_descriptor_set_len;

#define NOT_PORTED                                                                                 \
        "not in the Windows build yet (the sandbox layer: pods, containers and images are not "    \
        "ported)"

static const struct srv_binding *const bindings[] = {
        health_bindings,
        reflection_bindings,
        cri_win_runtime_bindings,
};

/* Binds the hcs driver to computecore, computenetwork and the HvSocket
 * bridge; on a host without them (Wine) its probe keeps the reason. */
static void bind_hcs(const struct uvmd_config *cfg)
{
        _cleanup_free_ char *kernel = NULL, *initrd = NULL;
        struct drv_hcs_config hc;
        char why[800];

        drv_hcs_config_init_defaults(&hc);
        if (asprintf(&kernel, "%s\\vmlinuz", cfg->guest_dir) < 0 ||
            asprintf(&initrd, "%s\\initrd.img", cfg->guest_dir) < 0)
                return; /* the probe then says the driver is not bound */
        hc.kernel_path = kernel;
        hc.initrd_path = initrd;
        hc.bridge_vsock_port = UVMD_WIN_BRIDGE_VSOCK_PORT;
        if (!drv_hcs_system(NULL, &hc, why, sizeof(why)))
                log_warn("%s", why);
}

static int handler_set(struct handler_entry *e, const char *name, const char *driver,
                       const struct drv_probe *hcs)
{
        bool built = STR_EQ(driver, "hcs");
        char reason[300];

        snprintf(reason, sizeof(reason), "%s",
                 built ? hcs->reason : "only the hcs driver is built into uvmd for Windows");
        e->name = strdup(name);
        e->driver = strdup(driver);
        e->reason = strdup(reason);
        e->usable = built && hcs->usable;
        e->error = !built ? EOPNOTSUPP : e->usable ? 0 : ENODEV;
        return e->name && e->driver && e->reason ? 0 : -ENOMEM;
}

/* The handlers from the hcs driver's probe. Unlike Linux (handlers.c), a
 * default that cannot run pods is not fatal: uvmd.exe still serves, and
 * Status says why (Wine has no computecore.dll; a host may lack Hyper-V). */
static int handlers_win(struct uvmd *d, struct uvm_error **err)
{
        const struct uvmd_config *c = &d->cfg;
        struct drv_probe_env env = {.data_root = c->data_root, .state_root = c->state_root};
        struct handlers *h = &d->handlers;
        struct drv_probe hcs;
        int r;

        if (!STR_EQ(c->default_driver, "auto") && !STR_EQ(c->default_driver, "hcs"))
                return uvm_error_set(err, EOPNOTSUPP,
                                     "default_driver \"%s\": only hcs runs pods on Windows",
                                     c->default_driver);
        drv_hcs_ops.probe(&env, &hcs);
        r = handler_set(&h->v[0], "", "hcs", &hcs);
        for (size_t i = 0; r >= 0 && i < c->n_handlers; i++)
                r = handler_set(&h->v[i + 1], c->handlers[i].name, c->handlers[i].driver, &hcs);
        h->n = c->n_handlers + 1;
        if (r < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        handlers_log(h);
        return 0;
}

static int make_root(const char *what, const char *path, struct uvm_error **err)
{
        int r = plat_mkdir_p(path, 0711);

        return r < 0 ? uvm_error_set(err, -r, "create %s root '%s': %s", what, path, strerror(-r))
                     : 0;
}

int uvmd_win_init(struct uvmd_win *w, struct uvm_error **err)
{
        struct uvmd *d = &w->d;
        int r;

        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->health_cond, NULL);
        if ((r = make_root("state", d->cfg.state_root, err)) < 0 ||
            (r = make_root("data", d->cfg.data_root, err)) < 0)
                return r;
        bind_hcs(&d->cfg);
        w->network_ready = hcn_api_computenetwork(w->network_why, sizeof(w->network_why)) != NULL;
        if (!w->network_ready)
                log_warn("HCN unavailable: %s", w->network_why);
        r = handlers_win(d, err);
        if (r >= 0)
                r = descdb_new(uvmd_descriptor_set, uvmd_descriptor_set_len, &d->descdb, err);
        if (r >= 0)
                r = dispatch_table_new(cri_services, CRI_N_SERVICES, bindings, ARRAY_SIZE(bindings),
                                       &d->table, err);
        return r;
}

static void on_drain(void *data)
{
        uvmd_set_serving(data, false);
}

int uvmd_win_start(struct uvmd_win *w, struct uvm_error **err)
{
        struct uvmd *d = &w->d;
        char address[32];
        unsigned port;
        struct srv_options o = {
                .address = address,
                .io_threads = d->cfg.io_threads,
                .workers = d->cfg.workers,
                .queue_limit = d->cfg.queue_limit,
                .max_streams = d->cfg.max_streams,
                .max_message_bytes = d->cfg.max_message_bytes,
                .daemon = d,
                .data = w,
                .unimplemented_why = NOT_PORTED,
        };
        int r = config_tcp_endpoint_port(d->cfg.socket, &port, err);

        if (r < 0)
                return uvm_error_wrap(err, "socket");
        snprintf(address, sizeof(address), "127.0.0.1:%u", port);
        r = srv_start(&o, d->table, &d->srv, err);
        if (r < 0)
                return r;
        srv_on_drain(d->srv, on_drain, d);
        uvmd_set_serving(d, true);
        return 0;
}

void uvmd_win_stop(struct uvmd_win *w)
{
        srv_stop(w->d.srv, w->d.cfg.shutdown_grace_ms);
        w->d.srv = NULL;
}

void uvmd_win_fini(struct uvmd_win *w)
{
        struct uvmd *d = &w->d;

        d->table = dispatch_table_free(d->table);
        d->descdb = descdb_free(d->descdb);
        handlers_clear(&d->handlers);
        config_free(&d->cfg);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->health_cond);
}
