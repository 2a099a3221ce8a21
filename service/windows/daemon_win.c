/* uvmd.exe's daemon: assembly of what the Windows build serves
 * (daemon_win.h). */

/* Before <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and CRI
 * messages have fields of those names. */
#include "proto/api.pb-c.h"
#include "proto/computeagent.pb-c.h"

#include <stdio.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>

#include "common/log.h"
#include "common/platform.h"
#include "common/sock.h"
#include "image/image.h"
#include "network/hcn.h"
#include "network/net_hcn.h"
#include "sandbox/drivers/hcs/bind_win.h"
#include "sandbox/drivers/hcs/guest_bridge.h"
#include "sandbox/sandbox.h"
#include "sandbox/stream.h"
#include "service/compute_agent_common.h"
#include "service/config.h"
#include "service/cri_runtime_common.h"
#include "service/cri_stats.h"
#include "service/list_cache.h"
#include "service/runtime_state.h"
#include "service/windows/daemon_win.h"

/* Built from the .proto files at build time (//proto:descriptor_set_embed). */
extern const unsigned char uvmd_descriptor_set[];
extern const size_t uvmd_descriptor_set_len;

static const struct srv_binding *const bindings[] = {
        health_bindings,      reflection_bindings, cri_win_runtime_bindings, cri_win_pod_bindings,
        cri_win_ctr_bindings, cri_stats_bindings,  cri_image_bindings,       cagent_bindings,
        cri_stream_bindings,  cri_events_bindings,
};

#define TCP_DIAL_RETRY_MS 100

/* hcs_bridge_address (config.h): one TCP connection to the agent per
 * dial, retried while nothing listens yet, within timeout_ms. */
static int tcp_dial(void *data, const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                    int *ret_fd, struct uvm_error **err)
{
        const struct sockaddr_in *to = data;
        uint64_t until = plat_now_ns() + (uint64_t) timeout_ms * 1000000u;

        for (;;) {
                SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
                int e;

                if (s == INVALID_SOCKET)
                        return uvm_error_set(err, EIO, "agent of %s: socket: error %d", system_id,
                                             WSAGetLastError());
                if (connect(s, (const struct sockaddr *) to, sizeof(*to)) == 0) {
                        int fd = sock_fd_from_handle((uintptr_t) s);

                        if (fd < 0)
                                return uvm_error_set(err, -fd, "agent of %s: no fd", system_id);
                        *ret_fd = fd;
                        return 0;
                }
                e = WSAGetLastError();
                closesocket(s);
                if (e != WSAECONNREFUSED || plat_now_ns() >= until)
                        return uvm_error_set(err, e == WSAECONNREFUSED ? ETIMEDOUT : EIO,
                                             "agent of %s at 127.0.0.1:%u: error %d", system_id,
                                             (unsigned) ntohs(to->sin_port), e);
                Sleep(TCP_DIAL_RETRY_MS);
        }
}

/* The guest table: the bridge over TCP loopback when configured, else
 * NULL (drv_hcs_system then takes HvSocket). */
static const struct hcs_guest_ops *guest_ops(const struct uvmd_config *cfg)
{
        static struct sockaddr_in to; /* the dialler's data: lives as long as the process */
        unsigned port;

        if (!cfg->hcs_bridge_address ||
            config_loopback_address(cfg->hcs_bridge_address, NULL, &port, NULL) < 0)
                return NULL;
        to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((u_short) port)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        log_info("hcs driver: agents reached over TCP at 127.0.0.1:%u (hcs_bridge_address)", port);
        return hcs_guest_bridge(tcp_dial, &to);
}

/* Binds the hcs driver to computecore, computenetwork and the HvSocket
 * bridge; on a host without them (Wine) its probe keeps the reason. */
static void bind_hcs(const struct uvmd_config *cfg)
{
        _cleanup_free_ char *kernel = NULL, *initrd = NULL;
        struct drv_hcs_config hc;
        char why[800];

        drv_hcs_config_init_defaults(&hc);
        /* Kernel-direct boot takes the uncompressed kernel, as the qemu
         * driver's does (docs/guest.md). */
        if (asprintf(&kernel, "%s\\vmlinux", cfg->guest_dir) < 0 ||
            asprintf(&initrd, "%s\\initrd.img", cfg->guest_dir) < 0)
                return; /* the probe then says the driver is not bound */
        hc.kernel_path = kernel;
        hc.initrd_path = initrd;
        hc.bridge_vsock_port = UVMD_WIN_BRIDGE_VSOCK_PORT;
        hc.scratch_size_gb = cfg->scratch_size_gb;
        if (!drv_hcs_system(guest_ops(cfg), &hc, why, sizeof(why)))
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

/* The pod registry under the state root, with what a previous uvmd.exe
 * left: ready pods reattached to their VMs (the hcs driver's records),
 * half-made ones undone. */
static int pods_win(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *images = NULL;
        struct sbx_options o = {.state_root = d->cfg.state_root};
        int r;

        /* Pods' networks from CNI plugins over HCN (net_hcn.h). */
        {
                struct uvmd_win *w = (struct uvmd_win *) d;
                struct net_hcn_options no = {
                        .conf_dir = d->cfg.cni_conf_dir,
                        .bin_dirs = d->cfg.cni_bin_dirs,
                        .plugin_timeout_ms = d->cfg.cni_plugin_timeout_ms,
                        .hcn = hcn_api_computenetwork(NULL, 0),
                        .hcn_why = w->network_why,
                };
                r = net_hcn_new(&no, &d->net, err);
                if (r < 0)
                        return r;
                o.net = d->net;
        }

        /* The image store under the data root (image/store_win.h): pulled
         * here, read by the container half. */
        if (asprintf(&images, "%s\\images", d->cfg.data_root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        o.images_root = images;
        r = img_store_new(&(struct img_options){.root = images,
                                                .insecure_registries = d->cfg.insecure_registries,
                                                .mirrors = d->cfg.registry_mirrors,
                                                .pull_timeout_ms = d->cfg.image_pull_timeout_ms},
                          &d->images, err);
        if (r < 0)
                return r;
        o.images = d->images; /* containers hold their images in it (img_hold) */

        d->lists = list_cache_new();
        if (!d->lists)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = sbx_new(&o, &d->sbx, err);
        if (r >= 0)
                r = sbx_recover(d->sbx, err);
        if (r >= 0)
                log_info("pods: %zu recovered from %s", sbx_pod_count(d->sbx), d->cfg.state_root);
        return r;
}

/* The CRI's services and the ComputeAgent: uvmd.exe serves every pod's
 * on the CRI's listener (compute_agent_win.c). */
static const ProtobufCServiceDescriptor *const *services_win(void)
{
        static const ProtobufCServiceDescriptor *v[CRI_N_SERVICES + 1];

        memcpy(v, cri_services, sizeof(cri_services));
        v[CRI_N_SERVICES] = &uvmd__computeagent__v1__compute_agent__descriptor;
        return v;
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
        r = rt_load(d, err);
        if (r >= 0)
                r = handlers_win(d, err);
        if (r >= 0)
                r = pods_win(d, err);
        if (r >= 0)
                r = descdb_new(uvmd_descriptor_set, uvmd_descriptor_set_len, &d->descdb, err);
        if (r >= 0)
                r = dispatch_table_new(services_win(), CRI_N_SERVICES + 1, bindings,
                                       ARRAY_SIZE(bindings), &d->table, err);
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
        };
        /* Exec, Attach and PortForward URLs point here (plain HTTP: the
         * Windows build has no TLS; loopback by default, as on Linux). */
        struct stream_config sc = {
                .address = d->cfg.stream_address,
                .tls_cert = d->cfg.stream_tls_cert,
                .tls_key = d->cfg.stream_tls_key,
                .token_ttl_ms = d->cfg.stream_token_ttl_ms,
        };
        int r = config_tcp_endpoint_port(d->cfg.socket, &port, err);

        if (r < 0)
                return uvm_error_wrap(err, "socket");
        snprintf(address, sizeof(address), "127.0.0.1:%u", port);
        d->stream_backend = sbx_stream_backend(d->sbx);
        r = stream_server_start(&sc, &d->stream_backend, &d->stream, err);
        if (r < 0)
                return r;
        r = srv_start(&o, d->table, &d->srv, err);
        if (r < 0) {
                d->stream = stream_server_stop(d->stream);
                return r;
        }
        srv_on_drain(d->srv, on_drain, d);
        uvmd_set_serving(d, true);
        return 0;
}

void uvmd_win_stop(struct uvmd_win *w)
{
        srv_stop(w->d.srv, w->d.cfg.shutdown_grace_ms);
        w->d.srv = NULL;
        /* Sessions end before the pods go (their VMs keep running). */
        w->d.stream = stream_server_stop(w->d.stream);
}

void uvmd_win_fini(struct uvmd_win *w)
{
        struct uvmd *d = &w->d;

        d->table = dispatch_table_free(d->table);
        /* The pods' VMs keep running (ShouldTerminateOnLastHandleClosed is
         * false): the next uvmd.exe reattaches. */
        d->sbx = sbx_free(d->sbx);
        d->net = net_hcn_free(d->net);
        d->images = img_store_free(d->images);
        d->lists = list_cache_free(d->lists);
        d->descdb = descdb_free(d->descdb);
        handlers_clear(&d->handlers);
        free(d->pod_cidr);
        d->pod_cidr = NULL;
        config_free(&d->cfg);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->health_cond);
}
