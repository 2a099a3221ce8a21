#include <stdio.h>
#include <string.h>

#include "proto/api.pb-c.h"

#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "network/net.h"
#include "sandbox/apparmor.h"
#include "sandbox/phase.h"
#include "sandbox/sandbox.h"
#include "sandbox/stream.h"
#include "service/compute_agent.h"
#include "service/cri_runtime_common.h"
#include "service/cri_stats.h"
#include "service/daemon.h"
#include "service/list_cache.h"
#include "service/metrics_uvmd.h"
#include "service/runtime_state.h"

/* Built from the .proto files at build time (see service/BUILD). */
extern const unsigned char uvmd_descriptor_set[];
extern const size_t uvmd_descriptor_set_len;

static const struct srv_binding *const bindings[] = {
        health_bindings,    reflection_bindings, cri_runtime_bindings,
        cri_image_bindings, cri_pod_bindings,    cri_container_bindings,
        cri_stats_bindings, cri_events_bindings, cri_stream_bindings,
};

static int net_init(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *state = NULL;
        struct net_options o = {.conf_dir = d->cfg.cni_conf_dir,
                                .bin_dirs = d->cfg.cni_bin_dirs,
                                .plugin_timeout_ms = d->cfg.cni_plugin_timeout_ms};

        if (asprintf(&state, "%s/network", d->cfg.state_root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        o.state_dir = state;
        return net_new(&o, &d->net, err);
}

static int images_init(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *root = NULL;
        struct img_options o = {
                .insecure_registries = d->cfg.insecure_registries,
                .mirrors = d->cfg.registry_mirrors,
                .pull_timeout_ms = d->cfg.image_pull_timeout_ms,
        };

        if (asprintf(&root, "%s/images", d->cfg.data_root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        o.root = root;
        return img_store_new(&o, &d->images, err);
}

/* One entry per usable driver, from the handlers' probes. */
static size_t driver_features(const struct handlers *h, struct sbx_driver_features *v)
{
        size_t n = 0;

        for (size_t i = 0; i < h->n; i++) {
                bool seen = false;
                for (size_t k = 0; k < n; k++)
                        seen = seen || STR_EQ(v[k].driver, h->v[i].driver);
                if (!seen && h->v[i].usable && n < SBX_MAX_DRIVERS)
                        v[n++] = (struct sbx_driver_features){h->v[i].driver, h->v[i].rro_mounts};
        }
        return n;
}

static int sbx_init(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *runtime = NULL;
        struct sbx_driver_features features[SBX_MAX_DRIVERS];
        struct sbx_hooks hooks;
        int r;
        struct sbx_options o = {
                .state_root = d->cfg.state_root,
                .net = d->net,
                .images = d->images,
                .systemd_cgroups = rt_cgroup_driver_is_systemd(&d->cfg),
                .hooks = &hooks,
                .features = features,
        };

        /* One queue thread for the CRI server and every pod's ComputeAgent
         * endpoint: each thread waiting on a queue takes turns as gRPC's
         * poller, and one that is not the CRI server's made every CRI call
         * hop threads (docs/PERFORMANCE.md, run 10). */
        if (d->cfg.io_threads <= 1) {
                r = srv_queue_new(d->cfg.queue_spin_us, &d->queue, err);
                if (r < 0)
                        return r;
        }
        /* Before recovery: READY pods get their endpoints back. */
        r = cagent_new(d, d->queue, &d->cagent, err);
        if (r < 0)
                return r;
        cagent_hooks(d->cagent, &hooks);
        /* Each sandbox call's phases go to uvmd_phase_duration_seconds. */
        phase_set_sink(metrics_phase);
        o.n_features = driver_features(&d->handlers, features);

        /* A missing runtime is reported by Status (RuntimeReady), not fatal here. */
        o.oci_runtime =
                fs_find_exec(d->cfg.oci_runtime, &runtime) >= 0 ? runtime : d->cfg.oci_runtime;
        r = sbx_new(&o, &d->sbx, err);
        return r < 0 ? r : sbx_recover(d->sbx, err);
}

/* uvmd's RuntimeDefault AppArmor profile, where the node has AppArmor. A
 * failure is not fatal: containers asking for it are refused, naming it. */
static void apparmor_init(struct uvmd *d)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!apparmor_host.enabled())
                return;
        if (asprintf(&dir, "%s/apparmor", d->cfg.state_root) < 0)
                return;
        r = fs_mkdir_p(dir, 0755);
        if (r >= 0)
                r = apparmor_load_default(&apparmor_host, dir, &e);
        if (r < 0)
                log_warn("AppArmor: %s; containers asking for RuntimeDefault will be refused",
                         e ? e->msg : strerror(-r));
        else
                log_info("AppArmor: profile " APPARMOR_DEFAULT_PROFILE " loaded");
}

/* Which handlers this node serves, and the default's driver, from probes. */
static int handlers_init(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *runtime = NULL;
        struct drv_probe_env env = {.kvm_device = d->cfg.kvm_device,
                                    .data_root = d->cfg.data_root,
                                    .state_root = d->cfg.state_root,
                                    .qemu_binary = d->cfg.qemu_binary,
                                    .guest_dir = d->cfg.guest_dir,
                                    .qemu_accel = d->cfg.qemu_accel,
                                    .vm_boot_timeout_ms = d->cfg.vm_boot_timeout_ms,
                                    .vm_templates = d->cfg.vm_templates};
        const struct handlers_probe_ops ops = {.lookup = drv_lookup};
        int r;

        env.oci_runtime =
                fs_find_exec(d->cfg.oci_runtime, &runtime) >= 0 ? runtime : d->cfg.oci_runtime;
        r = handlers_resolve(&d->cfg, &env, &ops, &d->handlers, err);
        if (r < 0)
                return r;
        handlers_log(&d->handlers);
        return 0;
}

/* A root made if missing, then used by its real path: runc refuses a
 * container rootfs reached through a symlink (/var/run -> /run on Debian),
 * and the mount table, which cleanups compare against, shows real paths. */
static int real_root(char **path, const char *what, struct uvm_error **err)
{
        int r = fs_mkdir_p(*path, 0711);
        char *real;

        if (r < 0)
                return uvm_error_set(err, -r, "create %s '%s': %s", what, *path, strerror(-r));
        real = realpath(*path, NULL);
        if (!real)
                return uvm_error_set(err, errno, "resolve %s '%s': %s", what, *path,
                                     strerror(errno));
        if (!STR_EQ(real, *path))
                log_info("%s '%s' is '%s'", what, *path, real);
        free(*path);
        *path = real;
        return 0;
}

int uvmd_init(struct uvmd *d, struct uvm_error **err)
{
        int r;

        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->health_cond, NULL);
        r = real_root(&d->cfg.state_root, "state root", err);
        if (r < 0)
                return r;
        r = real_root(&d->cfg.data_root, "data root", err);
        if (r < 0)
                return r;
        apparmor_init(d);
        r = net_init(d, err);
        if (r < 0)
                return r;
        r = images_init(d, err);
        if (r < 0)
                return r;
        r = rt_load(d, err);
        if (r < 0)
                return r;
        r = handlers_init(d, err);
        if (r < 0)
                return r;
        r = sbx_init(d, err);
        if (r < 0)
                return r;
        d->lists = list_cache_new();
        if (!d->lists)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = descdb_new(uvmd_descriptor_set, uvmd_descriptor_set_len, &d->descdb, err);
        if (r < 0)
                return r;
        return dispatch_table_new(cri_services, CRI_N_SERVICES, bindings, ARRAY_SIZE(bindings),
                                  &d->table, err);
}

static void on_drain(void *data)
{
        uvmd_set_serving(data, false);
}

int uvmd_start(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *address = NULL;
        struct srv_options o = {
                .io_threads = d->cfg.io_threads,
                .queue = d->queue,
                .workers = d->cfg.workers,
                .queue_limit = d->cfg.queue_limit,
                .max_streams = d->cfg.max_streams,
                .max_message_bytes = d->cfg.max_message_bytes,
                .daemon = d,
        };
        int r;

        struct stream_config sc = {
                .address = d->cfg.stream_address,
                .tls_cert = d->cfg.stream_tls_cert,
                .tls_key = d->cfg.stream_tls_key,
                .token_ttl_ms = d->cfg.stream_token_ttl_ms,
        };

        if (asprintf(&address, "unix:%s", d->cfg.socket) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        d->stream_backend = sbx_stream_backend(d->sbx);
        r = stream_server_start(&sc, &d->stream_backend, &d->stream, err);
        if (r < 0)
                return r;
        o.address = address;
        r = srv_start(&o, d->table, &d->srv, err);
        if (r < 0) {
                d->stream = stream_server_stop(d->stream);
                return r;
        }
        srv_on_drain(d->srv, on_drain, d);
        uvmd_set_serving(d, true);
        return 0;
}

void uvmd_stop(struct uvmd *d)
{
        srv_stop(d->srv, d->cfg.shutdown_grace_ms);
        d->srv = NULL;
        /* Sessions end (their execs killed) before the pods go. */
        d->stream = stream_server_stop(d->stream);
}

void uvmd_fini(struct uvmd *d)
{
        d->table = dispatch_table_free(d->table);
        d->descdb = descdb_free(d->descdb);
        d->cagent = cagent_free(d->cagent);
        /* After the CRI server (uvmd_stop) and every endpoint stopped. */
        srv_queue_free(d->queue);
        d->queue = NULL;
        d->sbx = sbx_free(d->sbx);
        d->lists = list_cache_free(d->lists);
        d->net = net_free(d->net);
        d->images = img_store_free(d->images);
        free(d->pod_cidr);
        d->pod_cidr = NULL;
        handlers_clear(&d->handlers);
        config_free(&d->cfg);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->health_cond);
}
