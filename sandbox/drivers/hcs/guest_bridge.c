/*
 * The hcs driver's guest table over the bridge client (guest_bridge.h).
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "common/sock.h"
#include "sandbox/drivers/hcs/guest_bridge.h"

/* Signal numbers on the wire are the guest's (Linux): mingw has no SIGKILL. */
#define GUEST_SIGKILL 9
#define GUEST_SIGTERM 15

static pthread_mutex_t dial_lock = PTHREAD_MUTEX_INITIALIZER;
static hcs_bridge_dial_fn dial_fn; /* guarded by dial_lock */
static void *dial_data;            /* guarded by dial_lock */

struct hcs_guest {
        struct agent_client *client;           /* immutable once connect returned */
        const struct hcs_guest_events *events; /* borrowed, immutable */
        char *system_id;                       /* immutable, for messages */
        pthread_mutex_t lock;                  /* guards the fields below */
        bool live;                             /* connect returned it: died may be reported */
        bool closing;                          /* disconnect began: no more died */
        bool down;                             /* the connection closed */
};

static struct hcs_guest *guest_free(struct hcs_guest *g)
{
        if (!g)
                return NULL;
        agent_client_free(g->client); /* joins the reader: no callback after it */
        pthread_mutex_destroy(&g->lock);
        free(g->system_id);
        free(g);
        return NULL;
}

/* --- events, on the client's reader thread --- */

static void on_exited(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                      bool oom_killed)
{
        struct hcs_guest *g = data;

        if (g->events->ctr_exited)
                g->events->ctr_exited(g->events->data, ctr_id, exit_code, finished_ns, oom_killed);
}

static void on_output(void *data, const char *ctr_id, enum drv_stream stream, const char *buf,
                      size_t len)
{
        struct hcs_guest *g = data;

        if (g->events->ctr_output)
                g->events->ctr_output(g->events->data, ctr_id, stream, buf, len);
}

/* The connection ended: the guest died, unless the driver hung up or it
 * happened before connect returned (connect fails then instead). */
static void on_closed(void *data, const char *reason)
{
        struct hcs_guest *g = data;
        bool report;

        pthread_mutex_lock(&g->lock);
        g->down = true;
        report = g->live && !g->closing;
        pthread_mutex_unlock(&g->lock);
        log_debug("hcs guest %s: agent connection closed: %s", g->system_id, reason);
        if (report && g->events->died)
                g->events->died(g->events->data, reason);
}

/* --- connect and disconnect --- */

static int64_t ms_left(uint64_t deadline_ns)
{
        uint64_t now = plat_now_ns();

        return now >= deadline_ns ? 0 : (int64_t) ((deadline_ns - now) / 1000000u);
}

static int dial(const char *system_id, const char *runtime_id, uint32_t timeout_ms, int *ret_fd,
                struct uvm_error **err)
{
        hcs_bridge_dial_fn fn;
        void *data;

        pthread_mutex_lock(&dial_lock);
        fn = dial_fn;
        data = dial_data;
        pthread_mutex_unlock(&dial_lock);
        if (!fn)
                return uvm_error_set(err, ENODEV, "no way to reach the agent (no dialler)");
        return fn(data, system_id, runtime_id, timeout_ms, ret_fd, err);
}

static int guest_new(const char *system_id, const struct hcs_guest_events *events,
                     struct hcs_guest **ret, struct uvm_error **err)
{
        struct hcs_guest *g;

        if (STR_EMPTY(system_id) || !events || !ret)
                return uvm_error_set(err, EINVAL, "hcs guest: system id and events are required");
        g = calloc(1, sizeof(*g));
        if (!g)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&g->lock, NULL);
        g->events = events;
        g->system_id = strdup(system_id);
        if (!g->system_id) {
                guest_free(g);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = g;
        return 0;
}

/* Events count from now on; -ECONNRESET when the connection already went
 * (right after the negotiation). */
static int go_live(struct hcs_guest *g, struct uvm_error **err)
{
        bool down;

        pthread_mutex_lock(&g->lock);
        down = g->down;
        g->live = !down;
        pthread_mutex_unlock(&g->lock);
        if (down)
                return uvm_error_set(err, ECONNRESET, "agent in VM %s: the connection closed",
                                     g->system_id);
        return 0;
}

static int bridge_connect(const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                          const struct hcs_guest_events *events, struct hcs_guest **ret_guest,
                          struct uvm_error **err)
{
        uint64_t deadline = plat_now_ns() + (uint64_t) timeout_ms * 1000000u;
        struct agent_client_events ev = {
                .exited = on_exited, .output = on_output, .closed = on_closed};
        struct hcs_guest *g = NULL;
        char peer[160];
        int64_t left;
        int fd = -1, r;

        r = guest_new(system_id, events, &g, err);
        if (r < 0)
                return r;
        ev.data = g;
        r = dial(system_id, runtime_id, timeout_ms, &fd, err);
        left = ms_left(deadline);
        if (r >= 0 && left == 0) {
                sock_close(fd);
                r = uvm_error_set(err, ETIMEDOUT, "agent in VM %s: no answer within %u ms",
                                  system_id, (unsigned) timeout_ms);
        }
        snprintf(peer, sizeof(peer), "VM %.128s", system_id);
        if (r >= 0)
                r = agent_client_connect_fd(fd, peer, (unsigned) left, &ev, &g->client, err);
        if (r >= 0)
                r = go_live(g, err);
        if (r < 0) {
                guest_free(g);
                return r;
        }
        log_debug("hcs guest %s: connected to the agent", system_id);
        *ret_guest = g;
        return 0;
}

static void bridge_disconnect(struct hcs_guest *g)
{
        if (!g)
                return;
        pthread_mutex_lock(&g->lock);
        g->closing = true;
        pthread_mutex_unlock(&g->lock);
        guest_free(g);
}

/* --- NICs --- */

/* HCN's "00-15-5D-..." (or ':' form) as the guest's "00:15:5d:...". */
static int mac_to_guest(const char *mac, char ret[18])
{
        static const char hex[] = "0123456789abcdef";

        if (strlen(mac) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 17; i++) {
                const char *d;

                if (i % 3 == 2) {
                        if (mac[i] != '-' && mac[i] != ':')
                                return -EINVAL;
                        ret[i] = ':';
                        continue;
                }
                d = strchr(hex, mac[i] >= 'A' && mac[i] <= 'F' ? mac[i] + 32 : mac[i]);
                if (!d || !*d)
                        return -EINVAL;
                ret[i] = *d;
        }
        ret[17] = '\0';
        return 0;
}

/* ModifySettings Network for one interface (agent/guest_settings.c). */
static json_object *nic_settings(const char *mac, const struct hcn_endpoint *ep)
{
        _cleanup_json_ json_object *s = json_object_new_object();
        json_object *ifc = json_object_new_object(), *ifcs = json_object_new_array(),
                    *addrs = json_object_new_array(), *routes = json_object_new_array();
        char cidr[80];

        snprintf(cidr, sizeof(cidr), "%s/%u", ep->ip, (unsigned) ep->prefix_len);
        json_object_array_add(addrs, json_object_new_string(cidr));
        json_object_object_add(ifc, "Mac", json_object_new_string(mac));
        json_object_object_add(ifc, "Mtu", json_object_new_int(0)); /* the device's own */
        json_object_object_add(ifc, "Addresses", addrs);
        json_object_array_add(ifcs, ifc);
        if (ep->gateway[0]) {
                json_object *rt = json_object_new_object();

                json_object_object_add(
                        rt, "Destination",
                        json_object_new_string(strchr(ep->gateway, ':') ? "::/0" : "0.0.0.0/0"));
                json_object_object_add(rt, "Gateway", json_object_new_string(ep->gateway));
                json_object_array_add(routes, rt);
        }
        json_object_object_add(s, "Interfaces", ifcs);
        json_object_object_add(s, "Routes", routes);
        return TAKE_PTR(s);
}

static int bridge_add_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                          const struct hcn_endpoint *ep, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = NULL;
        char mac[18];
        int r;

        if (!ep || STR_EMPTY(nic_id))
                return uvm_error_set(err, EINVAL, "hcs guest %s: add NIC: no endpoint",
                                     g->system_id);
        if (mac_to_guest(ep->mac, mac) < 0)
                return uvm_error_set(err, EINVAL, "hcs guest %s: NIC %s: MAC '%.32s' is not usable",
                                     g->system_id, nic_id, ep->mac);
        if (!ep->ip[0] || !memchr(ep->ip, '\0', sizeof(ep->ip)) ||
            ep->prefix_len > (strchr(ep->ip, ':') ? 128 : 32))
                return uvm_error_set(err, EINVAL, "hcs guest %s: NIC %s: no usable address",
                                     g->system_id, nic_id);
        s = nic_settings(mac, ep);
        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_client_modify(g->client, "Network", s, NULL, err);
        if (r < 0)
                return uvm_error_wrap(err, "configure NIC %s (%s) in namespace %s", nic_id, mac,
                                      ns_id ? ns_id : "");
        return 0;
}

/* The agent's "Nic" settings (agent/guest_settings.c) from the "Network"
 * ones: the adapter found by its MAC, its old address taken down, the new
 * one, the MTU and the default route put up. */
static json_object *nic_change(const char *mac, const struct hcn_endpoint *old,
                               const struct hcn_endpoint *ep, unsigned mtu)
{
        _cleanup_json_ json_object *net = nic_settings(mac, ep);
        _cleanup_json_ json_object *s = json_object_new_object();
        json_object *ifc = json_object_array_get_idx(json_object_object_get(net, "Interfaces"), 0),
                    *olds = json_object_new_array();
        char cidr[80];

        if (!s || !ifc || !olds) {
                json_object_put(olds);
                return NULL;
        }
        snprintf(cidr, sizeof(cidr), "%s/%u", old->ip, (unsigned) old->prefix_len);
        json_object_array_add(olds, json_object_new_string(cidr));
        json_object_object_add(s, "Mac", json_object_new_string(mac));
        json_object_object_add(s, "Mtu", json_object_new_int((int) mtu));
        json_object_object_add(s, "Addresses",
                               json_object_get(json_object_object_get(ifc, "Addresses")));
        json_object_object_add(s, "OldAddresses", olds);
        json_object_object_add(s, "Routes", json_object_get(json_object_object_get(net, "Routes")));
        return TAKE_PTR(s);
}

static int bridge_modify_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                             const struct hcn_endpoint *old, const struct hcn_endpoint *ep,
                             unsigned mtu, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = NULL;
        char mac[18];
        int r;

        if (!old || !ep || STR_EMPTY(nic_id) || mac_to_guest(ep->mac, mac) < 0)
                return uvm_error_set(err, EINVAL, "hcs guest %s: modify NIC: no usable MAC",
                                     g->system_id);
        s = nic_change(mac, old, ep, mtu);
        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_client_modify(g->client, "Nic", s, NULL, err);
        if (r < 0)
                return uvm_error_wrap(err, "reconfigure NIC %s (%s) in namespace %s", nic_id, mac,
                                      ns_id ? ns_id : "");
        return 0;
}

static int bridge_remove_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                             struct uvm_error **err)
{
        bool down;

        pthread_mutex_lock(&g->lock);
        down = g->down;
        pthread_mutex_unlock(&g->lock);
        if (down)
                return uvm_error_set(err, ENOTCONN,
                                     "hcs guest %s: remove NIC %s: the agent is gone", g->system_id,
                                     nic_id ? nic_id : "");
        return 0; /* see guest_bridge.h: the device's removal unconfigures it */
}

/* --- containers --- */

/* The agent's Disk settings (agent/guest_disks.c), as the qemu driver
 * sends them; "Remove" unmounts, "Scratch" formats a blank disk and mounts
 * it read-write. */
static int bridge_disk(struct hcs_guest *g, unsigned lun, const char *guest_path, bool remove,
                       bool scratch, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();

        if (!s || json_object_object_add(s, "Lun", json_object_new_int((int) lun)) < 0 ||
            json_object_object_add(s, "Path", json_object_new_string(guest_path)) < 0 ||
            (remove && json_object_object_add(s, "Remove", json_object_new_boolean(true)) < 0) ||
            (scratch && json_object_object_add(s, "Scratch", json_object_new_boolean(true)) < 0))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return agent_client_modify(g->client, "Disk", s, NULL, err);
}

static int bridge_mount_disk(struct hcs_guest *g, unsigned lun, const char *guest_path,
                             struct uvm_error **err)
{
        return bridge_disk(g, lun, guest_path, false, false, err);
}

static int bridge_unmount_disk(struct hcs_guest *g, unsigned lun, const char *guest_path,
                               struct uvm_error **err)
{
        return bridge_disk(g, lun, guest_path, true, false, err);
}

static int bridge_mount_scratch(struct hcs_guest *g, unsigned lun, const char *guest_path,
                                struct uvm_error **err)
{
        return bridge_disk(g, lun, guest_path, false, true, err);
}

/* The agent's Plan9 settings (agent/guest_plan9.c): a share served by
 * the host on vsock port Port under AccessName, mounted at Path;
 * "Remove" unmounts. */
static int bridge_share(struct hcs_guest *g, unsigned port, const char *name,
                        const char *guest_path, bool read_only, bool remove, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();

        if (!s || json_object_object_add(s, "Path", json_object_new_string(guest_path)) < 0 ||
            (!remove &&
             (json_object_object_add(s, "Port", json_object_new_int64(port)) < 0 ||
              json_object_object_add(s, "AccessName", json_object_new_string(name)) < 0 ||
              json_object_object_add(s, "ReadOnly", json_object_new_boolean(read_only)) < 0)) ||
            (remove && json_object_object_add(s, "Remove", json_object_new_boolean(true)) < 0))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return agent_client_modify(g->client, "Plan9", s, NULL, err);
}

static int bridge_mount_share(struct hcs_guest *g, unsigned port, const char *name,
                              const char *guest_path, bool read_only, struct uvm_error **err)
{
        return bridge_share(g, port, name, guest_path, read_only, false, err);
}

static int bridge_unmount_share(struct hcs_guest *g, const char *guest_path, struct uvm_error **err)
{
        return bridge_share(g, 0, NULL, guest_path, false, true, err);
}

static int bridge_ctr_create(struct hcs_guest *g, const struct drv_ctr_spec *spec,
                             const char *hosted_doc_json, struct uvm_error **err)
{
        if (!spec)
                return uvm_error_set(err, EINVAL, "hcs guest %s: no container spec", g->system_id);
        return agent_client_create(g->client, spec, err);
}

static int bridge_ctr_start(struct hcs_guest *g, const char *ctr_id, struct uvm_error **err)
{
        return agent_client_start(g->client, ctr_id, err);
}

static int bridge_ctr_signal(struct hcs_guest *g, const char *ctr_id, int sig,
                             struct uvm_error **err)
{
        return agent_client_signal(g->client, ctr_id, sig, false, err);
}

static int bridge_ctr_delete(struct hcs_guest *g, const char *ctr_id, struct uvm_error **err)
{
        return agent_client_delete(g->client, ctr_id, err);
}

static int bridge_ctr_state(struct hcs_guest *g, const char *ctr_id, enum drv_ctr_state *ret_state,
                            int *ret_exit_code, struct uvm_error **err)
{
        struct agent_ctr_info info = {0};
        int r = agent_client_state(g->client, ctr_id, &info, err);

        if (r < 0)
                return r;
        *ret_state = info.state;
        *ret_exit_code = info.exit_code;
        agent_ctr_info_clear(&info);
        return 0;
}

static int bridge_ctr_exec_sync(struct hcs_guest *g, const char *ctr_id,
                                const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                                struct uvm_error **err)
{
        return agent_client_exec_sync(g->client, ctr_id, spec, ret, err);
}

static int bridge_ctr_update(struct hcs_guest *g, const char *ctr_id, const char *resources_json,
                             struct uvm_error **err)
{
        return agent_client_update(g->client, ctr_id, resources_json, err);
}

static int bridge_ctr_stats(struct hcs_guest *g, const char *ctr_id, struct drv_ctr_stats *ret,
                            struct uvm_error **err)
{
        return agent_client_stats(g->client, ctr_id, ret, err);
}

static int bridge_pod_stats(struct hcs_guest *g, struct drv_pod_stats *ret, struct uvm_error **err)
{
        return agent_client_pod_stats(g->client, ret, err);
}

/* The running containers now (signalled with sig, to all their processes
 * for SIGKILL, when sig > 0), or -errno. A failed signal is logged: the
 * count says whether it worked. */
static int running(struct hcs_guest *g, int sig, struct uvm_error **err)
{
        struct agent_ctr_info *v = NULL;
        struct uvm_error *e = NULL;
        size_t n = 0;
        int count = 0, r;

        r = agent_client_list(g->client, &v, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (v[i].state != DRV_CTR_RUNNING)
                        continue;
                count++;
                if (sig > 0 &&
                    agent_client_signal(g->client, v[i].id, sig, sig == GUEST_SIGKILL, &e) < 0) {
                        log_debug("hcs guest %s: %s, ignoring", g->system_id, e->msg);
                        e = uvm_error_free(e);
                }
        }
        for (size_t i = 0; i < n; i++)
                agent_ctr_info_clear(&v[i]);
        free(v);
        return count;
}

/* Poll until none runs or the deadline passes: the count left, or -errno. */
static int wait_running(struct hcs_guest *g, int count, uint64_t deadline_ns,
                        struct uvm_error **err)
{
        while (count > 0 && ms_left(deadline_ns) > 0) {
                usleep(HCS_BRIDGE_POLL_MS * 1000);
                count = running(g, 0, err);
        }
        return count;
}

static int bridge_ctr_stop_all(struct hcs_guest *g, uint32_t timeout_ms, struct uvm_error **err)
{
        uint64_t now = plat_now_ns();
        int n;

        n = running(g, GUEST_SIGTERM, err);
        if (n > 0)
                n = wait_running(g, n, now + (uint64_t) timeout_ms * 1000000u, err);
        if (n > 0)
                n = running(g, GUEST_SIGKILL, err);
        if (n > 0)
                n = wait_running(
                        g, n, plat_now_ns() + (uint64_t) HCS_BRIDGE_KILL_WAIT_MS * 1000000u, err);
        if (n > 0)
                return uvm_error_set(err, ETIMEDOUT,
                                     "hcs guest %s: %d containers still run %u ms after SIGKILL",
                                     g->system_id, n, HCS_BRIDGE_KILL_WAIT_MS);
        if (n < 0)
                return uvm_error_wrap(err, "stop the containers of %s", g->system_id);
        return 0;
}

/* The agent's PodFiles settings (agent/podfiles.c). */
static int bridge_pod_files(struct hcs_guest *g, const char *resolv_conf, const char *hosts,
                            const char *hostname, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();

        if (!s ||
            json_object_object_add(s, "ResolvConf", json_object_new_string(resolv_conf)) < 0 ||
            json_object_object_add(s, "Hosts", json_object_new_string(hosts)) < 0 ||
            json_object_object_add(s, "Hostname", json_object_new_string(hostname)) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return agent_client_modify(g->client, "PodFiles", s, NULL, err);
}

static struct agent_client *bridge_client(struct hcs_guest *g)
{
        return g->client;
}

static const struct hcs_guest_ops bridge_ops = {
        .name = "bridge",
        .connect = bridge_connect,
        .add_nic = bridge_add_nic,
        .remove_nic = bridge_remove_nic,
        .modify_nic = bridge_modify_nic,
        .mount_disk = bridge_mount_disk,
        .unmount_disk = bridge_unmount_disk,
        .mount_scratch = bridge_mount_scratch,
        .mount_share = bridge_mount_share,
        .unmount_share = bridge_unmount_share,
        .pod_files = bridge_pod_files,
        .ctr_create = bridge_ctr_create,
        .ctr_start = bridge_ctr_start,
        .ctr_signal = bridge_ctr_signal,
        .ctr_delete = bridge_ctr_delete,
        .ctr_state = bridge_ctr_state,
        .ctr_exec_sync = bridge_ctr_exec_sync,
        .ctr_update = bridge_ctr_update,
        .ctr_stats = bridge_ctr_stats,
        .pod_stats = bridge_pod_stats,
        .client = bridge_client,
        .ctr_stop_all = bridge_ctr_stop_all,
        .disconnect = bridge_disconnect,
};

const struct hcs_guest_ops *hcs_guest_bridge(hcs_bridge_dial_fn dial, void *data)
{
        pthread_mutex_lock(&dial_lock);
        dial_fn = dial;
        dial_data = data;
        pthread_mutex_unlock(&dial_lock);
        return &bridge_ops;
}
