/* Linux's ComputeAgent: an endpoint per pod, the map pod id -> its
 * endpoint, and what a request does there (compute_agent-plat.h; the
 * handlers are compute_agent_common.c's). */

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/computeagent.pb-c.h"

#include "common/log.h"
#include "common/macros.h"
#include "network/nic.h"
#include "sandbox/sandbox.h"
#include "service/compute_agent-plat.h"
#include "service/compute_agent.h"
#include "service/compute_agent_common.h"
#include "service/daemon.h"

#define CAGENT_MAX_MESSAGE (64 * 1024)
#define CAGENT_GRACE_MS 5000

/* One pod's endpoint. Everything but lock is immutable while it is served. */
struct cagent_pod {
        struct cagent *ca;
        char *pod_id, *pod_dir, *netns_path, *socket;
        int dir_fd;           /* the pod dir, for binding when its path is too long */
        pthread_mutex_t lock; /* serialises NIC operations (the list file) */
        struct srv *srv;
};

struct cagent {
        struct uvmd *daemon;
        struct srv_queue *queue;      /* every pod's endpoint polls here (server.h) */
        bool own_queue;               /* made here, not the daemon's */
        struct dispatch_table *table; /* immutable */
        pthread_mutex_t lock;         /* guards pods, n_pods */
        struct cagent_pod **pods;
        size_t n_pods;
};

/* --- a VM pod's guest adapters, through its driver (sandbox/driver.h) --- */

struct guest_call {
        struct cagent *ca;
        const char *pod_id, *netns_path;
};

static void drv_nic_of(const struct guest_call *g, const struct nic_state *s, struct drv_nic *ret)
{
        *ret = (struct drv_nic){.netns_path = g->netns_path,
                                .ifname = s->ifname,
                                .mac = s->mac,
                                .mtu = s->mtu,
                                .addrs = s->addrs,
                                .n_addrs = s->n_addrs,
                                .route_dst = s->dst,
                                .route_gw = s->gw,
                                .n_routes = s->n_routes};
}

static int guest_add(void *data, const struct nic_state *s, struct uvm_error **err)
{
        struct guest_call *g = data;
        struct drv_nic n;

        drv_nic_of(g, s, &n);
        return sbx_pod_nic(g->ca->daemon->sbx, g->pod_id, SBX_NIC_ADD, s->nic_id, NULL, &n, err);
}

static int guest_modify(void *data, const struct nic_state *old, const struct nic_state *s,
                        struct uvm_error **err)
{
        struct guest_call *g = data;
        struct drv_nic a, b;

        drv_nic_of(g, old, &a);
        drv_nic_of(g, s, &b);
        return sbx_pod_nic(g->ca->daemon->sbx, g->pod_id, SBX_NIC_MODIFY, s->nic_id, &a, &b, err);
}

static int guest_remove(void *data, const struct nic_state *s, struct uvm_error **err)
{
        struct guest_call *g = data;
        struct drv_nic n;

        drv_nic_of(g, s, &n);
        return sbx_pod_nic(g->ca->daemon->sbx, g->pod_id, SBX_NIC_REMOVE, s->nic_id, NULL, &n, err);
}

/* The pod's guest, when its driver has one (NULL: an ns pod). */
static const struct nic_guest *guest_of(struct cagent_pod *p, struct guest_call *call,
                                        struct nic_guest *ret)
{
        /* Asked each time: the pod is registered after its ready hook ran. */
        if (!p->ca->daemon->sbx || !sbx_pod_guest_nics(p->ca->daemon->sbx, p->pod_id))
                return NULL;
        *call = (struct guest_call){p->ca, p->pod_id, p->netns_path};
        *ret = (struct nic_guest){guest_add, guest_modify, guest_remove, call};
        return ret;
}

/* --- requests (compute_agent-plat.h): ctx->data is the pod's endpoint --- */

int cagent_plat_check(struct srv_ctx *ctx, const char *container_id, bool optional,
                      const char *nic_id, struct uvm_error **err)
{
        const struct cagent_pod *p = ctx->data;

        if (!(optional && STR_EMPTY(container_id))) {
                if (nic_check_id("container_id", container_id, err) < 0)
                        return -EINVAL;
                if (!STR_EQ(container_id, p->pod_id))
                        return uvm_error_set(
                                err, EINVAL,
                                "container_id '%s' is not the pod this endpoint serves",
                                container_id);
        }
        return nic_check_id("nic_id", nic_id, err) < 0 ? -EINVAL : 0;
}

/* The request's endpoint as network/nic.h wants it (the lists already
 * bounded by compute_agent_common.c). */
static int endpoint_from(struct srv_ctx *ctx, const Uvmd__Computeagent__V1__Endpoint *e,
                         struct nic_endpoint *ret, struct uvm_error **err)
{
        struct nic_route *routes = srv_new_array(ctx, struct nic_route, e->n_routes);

        if (!routes)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < e->n_routes; i++) {
                if (!e->routes[i])
                        return uvm_error_set(err, EINVAL, "routes[%zu] is empty", i);
                routes[i] = (struct nic_route){e->routes[i]->destination, e->routes[i]->gateway};
        }
        *ret = (struct nic_endpoint){
                .host_interface = e->host_interface,
                .interface_name = e->interface_name,
                .mac = e->mac,
                .addresses = (const char *const *) e->addresses,
                .n_addresses = e->n_addresses,
                .routes = routes,
                .n_routes = e->n_routes,
                .mtu = e->mtu,
        };
        return 0;
}

int cagent_plat_add(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                    const Uvmd__Computeagent__V1__Endpoint *e, char **ret_ifname,
                    struct uvm_error **err)
{
        struct cagent_pod *p = ctx->data;
        struct guest_call call;
        struct nic_guest guest;
        struct nic_endpoint ep;
        int r = endpoint_from(ctx, e, &ep, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        r = nic_add(p->pod_dir, p->netns_path, nic_id, &ep, guest_of(p, &call, &guest), ret_ifname,
                    err);
        pthread_mutex_unlock(&p->lock);
        return r;
}

int cagent_plat_modify(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       const Uvmd__Computeagent__V1__Endpoint *e, struct uvm_error **err)
{
        struct cagent_pod *p = ctx->data;
        struct guest_call call;
        struct nic_guest guest;
        struct nic_endpoint ep;
        int r = endpoint_from(ctx, e, &ep, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        r = nic_modify(p->pod_dir, p->netns_path, nic_id, &ep, guest_of(p, &call, &guest), err);
        pthread_mutex_unlock(&p->lock);
        return r;
}

int cagent_plat_delete(struct srv_ctx *ctx, const char *container_id, const char *nic_id,
                       struct uvm_error **err)
{
        struct cagent_pod *p = ctx->data;
        struct guest_call call;
        struct nic_guest guest;
        int r;

        pthread_mutex_lock(&p->lock);
        r = nic_delete(p->pod_dir, p->netns_path, nic_id, guest_of(p, &call, &guest), err);
        pthread_mutex_unlock(&p->lock);
        return r;
}

/* --- per-pod endpoints --- */

static void cagent_pod_free(struct cagent_pod *p)
{
        if (!p)
                return;
        if (p->dir_fd >= 0)
                close(p->dir_fd);
        pthread_mutex_destroy(&p->lock);
        free(p->pod_id);
        free(p->pod_dir);
        free(p->netns_path);
        free(p->socket);
        free(p);
}

static struct cagent_pod *cagent_pod_new(struct cagent *ca, const char *pod_id, const char *pod_dir,
                                         const char *netns_path)
{
        struct cagent_pod *p = calloc(1, sizeof(*p));

        if (!p)
                return NULL;
        p->ca = ca;
        p->dir_fd = -1;
        pthread_mutex_init(&p->lock, NULL);
        p->pod_id = strdup(pod_id);
        p->pod_dir = strdup(pod_dir);
        p->netns_path = strdup(netns_path);
        if (!p->pod_id || !p->pod_dir || !p->netns_path ||
            asprintf(&p->socket, "%s/" CAGENT_SOCKET_NAME, pod_dir) < 0) {
                p->socket = NULL;
                cagent_pod_free(p);
                return NULL;
        }
        return p;
}

/* The address to bind: the socket's own path when it fits in sun_path,
 * otherwise the same file reached through /proc/self/fd/<dir fd>. */
static int bind_address(struct cagent_pod *p, char **ret, struct uvm_error **err)
{
        struct sockaddr_un sa;
        int r;

        if (strlen(p->socket) < sizeof(sa.sun_path))
                r = asprintf(ret, "unix:%s", p->socket);
        else {
                p->dir_fd = open(p->pod_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (p->dir_fd < 0)
                        return uvm_error_set(err, errno, "open %s: %m", p->pod_dir);
                r = asprintf(ret, "unix:/proc/self/fd/%d/" CAGENT_SOCKET_NAME, p->dir_fd);
        }
        return r < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

static int serve(struct cagent *ca, struct cagent_pod *p, struct uvm_error **err)
{
        _cleanup_free_ char *address = NULL;
        struct srv_options o = {
                .queue = ca->queue,
                .workers = 1,
                .queue_limit = 8,
                .max_streams = 1,
                .max_message_bytes = CAGENT_MAX_MESSAGE,
                .daemon = ca->daemon,
                .data = p,
        };
        int r = bind_address(p, &address, err);

        if (r < 0)
                return r;
        o.address = address;
        o.socket_mode = 0600; /* only root talks to it */
        return srv_start(&o, ca->table, &p->srv, err);
}

static struct cagent_pod *take_locked(struct cagent *ca, const char *pod_id)
{
        for (size_t i = 0; i < ca->n_pods; i++)
                if (STR_EQ(ca->pods[i]->pod_id, pod_id)) {
                        struct cagent_pod *p = ca->pods[i];
                        ca->pods[i] = ca->pods[--ca->n_pods];
                        return p;
                }
        return NULL;
}

static bool known(struct cagent *ca, const char *pod_id)
{
        bool found = false;

        pthread_mutex_lock(&ca->lock);
        for (size_t i = 0; i < ca->n_pods && !found; i++)
                found = STR_EQ(ca->pods[i]->pod_id, pod_id);
        pthread_mutex_unlock(&ca->lock);
        return found;
}

static int add(struct cagent *ca, struct cagent_pod *p, struct uvm_error **err)
{
        struct cagent_pod **v;

        pthread_mutex_lock(&ca->lock);
        v = realloc(ca->pods, (ca->n_pods + 1) * sizeof(*v));
        if (v) {
                ca->pods = v;
                ca->pods[ca->n_pods++] = p;
        }
        pthread_mutex_unlock(&ca->lock);
        return v ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

static void on_pod_ready(void *data, const char *pod_id, const char *pod_dir,
                         const char *netns_path)
{
        struct cagent *ca = data;
        struct cagent_pod *p;
        struct uvm_error *e = NULL;
        int r;

        if (!netns_path || known(ca, pod_id))
                return; /* host-network pods have nothing to add NICs to */
        p = cagent_pod_new(ca, pod_id, pod_dir, netns_path);
        r = p ? serve(ca, p, &e) : uvm_error_set(&e, ENOMEM, "out of memory");
        if (r >= 0) {
                r = add(ca, p, &e);
                if (r < 0)
                        srv_stop(p->srv, 0);
        }
        if (r < 0) {
                log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: no ComputeAgent endpoint: %s, ignoring",
                        pod_id, e && e->msg ? e->msg : "unknown error");
                uvm_error_free(e);
                cagent_pod_free(p);
                return;
        }
        log_pod(LOG_LEVEL_INFO, pod_id, "pod %s: ComputeAgent on %s", pod_id, p->socket);
}

static void on_pod_stopped(void *data, const char *pod_id, const char *pod_dir,
                           const char *netns_path)
{
        struct cagent *ca = data;
        struct cagent_pod *p;

        pthread_mutex_lock(&ca->lock);
        p = take_locked(ca, pod_id);
        pthread_mutex_unlock(&ca->lock);
        /* In-flight calls finish (or are cancelled) before the NICs go. */
        if (p) {
                srv_stop(p->srv, CAGENT_GRACE_MS);
                cagent_pod_free(p);
        }
        /* Also when uvmd restarted and found the pod not ready any more. */
        if (netns_path)
                nic_delete_all(pod_dir, netns_path);
}

void cagent_hooks(struct cagent *ca, struct sbx_hooks *ret)
{
        *ret = (struct sbx_hooks){
                .pod_ready = on_pod_ready, .pod_stopped = on_pod_stopped, .data = ca};
}

char *cagent_address(struct cagent *ca, const char *pod_id)
{
        char *a = NULL;

        pthread_mutex_lock(&ca->lock);
        for (size_t i = 0; i < ca->n_pods; i++)
                if (STR_EQ(ca->pods[i]->pod_id, pod_id) &&
                    asprintf(&a, "unix://%s", ca->pods[i]->socket) < 0)
                        a = NULL;
        pthread_mutex_unlock(&ca->lock);
        return a;
}

int cagent_new(struct uvmd *d, struct srv_queue *queue, struct cagent **ret, struct uvm_error **err)
{
        static const ProtobufCServiceDescriptor *const services[] = {
                &uvmd__computeagent__v1__compute_agent__descriptor};
        static const struct srv_binding *const bindings[] = {cagent_bindings};
        struct cagent *ca = calloc(1, sizeof(*ca));
        int r;

        if (!ca)
                return uvm_error_set(err, ENOMEM, "out of memory");
        ca->daemon = d;
        pthread_mutex_init(&ca->lock, NULL);
        r = dispatch_table_new(services, ARRAY_SIZE(services), bindings, ARRAY_SIZE(bindings),
                               &ca->table, err);
        ca->queue = queue;
        ca->own_queue = !queue;
        if (r >= 0 && ca->own_queue)
                r = srv_queue_new(0, &ca->queue, err);
        if (r < 0) {
                cagent_free(ca);
                return r;
        }
        *ret = ca;
        return 0;
}

struct cagent *cagent_free(struct cagent *ca)
{
        if (!ca)
                return NULL;
        for (size_t i = 0; i < ca->n_pods; i++) {
                srv_stop(ca->pods[i]->srv, CAGENT_GRACE_MS);
                cagent_pod_free(ca->pods[i]);
        }
        free(ca->pods);
        if (ca->own_queue)
                srv_queue_free(ca->queue); /* after every endpoint on it stopped */
        dispatch_table_free(ca->table);
        pthread_mutex_destroy(&ca->lock);
        free(ca);
        return NULL;
}
