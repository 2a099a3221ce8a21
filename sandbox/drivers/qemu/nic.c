/* A VM pod's added network adapters: tap and tc in the pod's namespace,
 * QMP hot-plug on a root port, the guest's configuration (nic.h). */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/netns.h"
#include "network/vm.h"
#include "sandbox/drivers/qemu/nic.h"
#include "sandbox/drivers/qemu/qmp.h"

#define QMP_TIMEOUT_MS 10000
#define UNPLUG_TIMEOUT_MS 30000 /* pciehp waits 5 s after the button, TCG adds */
#define GUEST_WAIT_MS 20000
#define NIC_ID_MAX 64

/* --- pure parts --- */

bool qnic_id_valid(const char *nic_id)
{
        size_t n = nic_id ? strlen(nic_id) : 0;

        if (n == 0 || n > NIC_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) nic_id[i]) && !strchr("_.-", nic_id[i]))
                        return false;
        return true;
}

int qnic_free_port(const bool used[QNIC_PORTS])
{
        for (unsigned i = 0; i < QNIC_PORTS; i++)
                if (!used[i])
                        return (int) i;
        return -ENOSPC;
}

int qnic_parse_record(const char *text, unsigned *ret_port)
{
        char *end;
        unsigned long v;

        if (!text || !isdigit((unsigned char) text[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(text, &end, 10);
        if (errno || v >= QNIC_PORTS || (*end && !STR_EQ(end, "\n")))
                return -EINVAL;
        *ret_port = (unsigned) v;
        return 0;
}

static json_object *strings(const char *const *v, size_t n)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

json_object *qnic_guest_request(const struct drv_nic *nic, const struct drv_nic *old, bool remove,
                                int wait_ms)
{
        json_object *s = json_object_new_object(), *routes = json_object_new_array();

        json_object_object_add(s, "Mac", json_object_new_string(nic->mac));
        if (old && old->mac && strcasecmp(old->mac, nic->mac) != 0)
                json_object_object_add(s, "FromMac", json_object_new_string(old->mac));
        json_object_object_add(s, "Mtu", json_object_new_int((int) nic->mtu));
        json_object_object_add(s, "WaitMs", json_object_new_int(wait_ms));
        if (remove) {
                json_object_object_add(s, "Remove", json_object_new_boolean(true));
                json_object_object_add(s, "OldAddresses", strings(nic->addrs, nic->n_addrs));
                json_object_put(routes);
                return s;
        }
        if (old)
                json_object_object_add(s, "OldAddresses", strings(old->addrs, old->n_addrs));
        json_object_object_add(s, "Addresses", strings(nic->addrs, nic->n_addrs));
        for (size_t i = 0; i < nic->n_routes; i++) {
                json_object *rt = json_object_new_object();

                json_object_object_add(rt, "Destination",
                                       json_object_new_string(nic->route_dst[i]));
                if (nic->route_gw[i])
                        json_object_object_add(rt, "Gateway",
                                               json_object_new_string(nic->route_gw[i]));
                json_object_array_add(routes, rt);
        }
        json_object_object_add(s, "Routes", routes);
        return s;
}

/* --- records: <state>/nics/<nic id> holds the root port --- */

static char *record_path(const struct qnic_pod *p, const char *nic_id)
{
        char *path = NULL;

        return asprintf(&path, "%s/nics/%s", p->state_dir, nic_id ? nic_id : "") < 0 ? NULL : path;
}

static int record_read(const struct qnic_pod *p, const char *nic_id, unsigned *ret_port)
{
        _cleanup_free_ char *path = record_path(p, nic_id), *text = NULL;
        int r = path ? fs_read_file(path, 64, &text, NULL) : -ENOMEM;

        return r < 0 ? r : qnic_parse_record(text, ret_port);
}

/* Which ports the records hold; -EEXIST when nic_id has one. */
static int ports_used(const struct qnic_pod *p, const char *nic_id, bool used[QNIC_PORTS],
                      struct uvm_error **err)
{
        _cleanup_free_ char *dir = record_path(p, NULL);
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (!dir)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_mkdir_p(dir, 0700);
        if (r < 0 || !(d = opendir(dir)))
                return uvm_error_set(err, r < 0 ? -r : errno, "open %s: %s", dir,
                                     strerror(r < 0 ? -r : errno));
        while ((e = readdir(d)) && r == 0) {
                unsigned port;

                if (e->d_name[0] == '.' || record_read(p, e->d_name, &port) < 0)
                        continue;
                used[port] = true;
                if (STR_EQ(e->d_name, nic_id))
                        r = uvm_error_set(err, EEXIST, "NIC '%s' already has an adapter", nic_id);
        }
        closedir(d);
        return r;
}

static int record_write(const struct qnic_pod *p, const char *nic_id, unsigned port,
                        struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(p, nic_id);
        char text[16];
        int r;

        snprintf(text, sizeof(text), "%u\n", port);
        r = path ? fs_write_atomic(path, text, strlen(text), 0600) : -ENOMEM;
        return r < 0 ? uvm_error_set(err, -r, "write %s: %s", path ? path : "", strerror(-r)) : 0;
}

static void record_drop(const struct qnic_pod *p, const char *nic_id)
{
        _cleanup_free_ char *path = record_path(p, nic_id);

        if (path && unlink(path) < 0 && errno != ENOENT)
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: remove %s: %m, ignoring", p->id, path);
}

/* --- the pod's namespace: tap and tc --- */

struct ns_job {
        const char *ifname;
        char tap[IF_NAMESIZE];
        unsigned mtu; /* in: 0 for the interface's; out: what the tap has */
        int tap_fd;   /* out */
        bool remove;  /* take the redirect away instead */
        struct uvm_error *e;
};

static int iface_mtu(const char *ifname, unsigned *ret)
{
        struct ifreq ifr = {0};
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (s < 0 || ioctl(s, SIOCGIFMTU, &ifr) < 0)
                return -errno;
        *ret = (unsigned) ifr.ifr_mtu;
        return 0;
}

static int open_tap(struct ns_job *j)
{
        struct ifreq ifr = {0};
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return uvm_error_set(&j->e, errno, "open /dev/net/tun: %m");
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", j->tap);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return uvm_error_set(&j->e, errno, "create tap %s: %m", j->tap);
        j->tap_fd = TAKE_FD(fd);
        return 0;
}

/* The tap (it lives while an fd of it is open) and the redirect both ways;
 * on failure the ingress qdiscs go again (the tap with its fd). */
static int ns_attach(void *data)
{
        struct ns_job *j = data;
        char mtu[16];
        int r = 0;

        if (!j->mtu && (r = iface_mtu(j->ifname, &j->mtu)) < 0)
                return uvm_error_set(&j->e, -r, "interface '%s' in the pod: %s", j->ifname,
                                     strerror(-r));
        snprintf(mtu, sizeof(mtu), "%u", j->mtu);
        r = open_tap(j);
        if (r >= 0)
                r = net_vm_run(
                        "ip",
                        (const char *[]){"link", "set", "dev", j->tap, "mtu", mtu, "up", NULL},
                        NULL, &j->e);
        if (r >= 0)
                r = net_vm_redirect(j->ifname, j->tap, &j->e);
        if (r >= 0)
                r = net_vm_redirect(j->tap, j->ifname, &j->e);
        if (r < 0) {
                (void) net_vm_run(
                        "tc", (const char *[]){"qdisc", "del", "dev", j->ifname, "ingress", NULL},
                        NULL, NULL);
                if (j->tap_fd >= 0)
                        close(j->tap_fd);
                j->tap_fd = -1;
        }
        return r;
}

/* The redirect from the interface (the tap's went with the tap), or the
 * tap's MTU. */
static int ns_change(void *data)
{
        struct ns_job *j = data;
        char mtu[16];

        if (j->remove) {
                if (if_nametoindex(j->ifname) == 0)
                        return 0;
                return net_vm_run(
                        "tc", (const char *[]){"qdisc", "del", "dev", j->ifname, "ingress", NULL},
                        NULL, &j->e);
        }
        snprintf(mtu, sizeof(mtu), "%u", j->mtu);
        if (if_nametoindex(j->tap) == 0)
                return uvm_error_set(&j->e, ENOENT, "tap %s is not in the pod", j->tap);
        return net_vm_run("ip", (const char *[]){"link", "set", "dev", j->tap, "mtu", mtu, NULL},
                          NULL, &j->e);
}

static int in_netns(const char *netns_path, netns_fn fn, struct ns_job *j, struct uvm_error **err)
{
        return netns_run_job(netns_path, fn, j, &j->e, err);
}

/* --- QMP --- */

static json_object *obj(const char *k1, const char *v1, const char *k2, const char *v2)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, k1, json_object_new_string(v1));
        if (k2)
                json_object_object_add(o, k2, json_object_new_string(v2));
        return o;
}

struct qids {
        char fd[80], net[80], dev[80], port[16];
};

static void qids_of(const char *nic_id, unsigned port, struct qids *ret)
{
        snprintf(ret->fd, sizeof(ret->fd), "fd-%s", nic_id);
        snprintf(ret->net, sizeof(ret->net), "net-%s", nic_id);
        snprintf(ret->dev, sizeof(ret->dev), "nic-%s", nic_id);
        snprintf(ret->port, sizeof(ret->port), "rp%u", port);
}

/* A QMP error that says the object is not there (already removed). */
static bool not_found(const struct uvm_error *e)
{
        return e && e->msg && (strstr(e->msg, "DeviceNotFound") || strstr(e->msg, "not found"));
}

/* device_del, then (wait) its DEVICE_DELETED: the guest released it. */
static int unplug(struct qmp *q, const char *dev, bool wait, struct uvm_error **err)
{
        _cleanup_json_ json_object *a = obj("id", dev, NULL, NULL);
        struct uvm_error *e = NULL;
        int r = qmp_execute(q, "device_del", a, QMP_TIMEOUT_MS, NULL, &e);

        if (r < 0) {
                r = not_found(e) ? 0 : uvm_error_set(err, uvm_error_code(e), "%s", e->msg);
                uvm_error_free(e);
                return r;
        }
        while (wait) {
                _cleanup_json_ json_object *data = NULL;
                const char *d;

                r = qmp_wait_event(q, "DEVICE_DELETED", UNPLUG_TIMEOUT_MS, &data, err);
                if (r < 0)
                        return uvm_error_wrap(err, "unplug %s", dev);
                d = json_string_of(data, "device");
                if (d && STR_EQ(d, dev))
                        return 0;
        }
        return 0;
}

static int netdev_del(struct qmp *q, const char *net, struct uvm_error **err)
{
        _cleanup_json_ json_object *a = obj("id", net, NULL, NULL);
        struct uvm_error *e = NULL;
        int r = qmp_execute(q, "netdev_del", a, QMP_TIMEOUT_MS, NULL, &e);

        if (r < 0) {
                r = not_found(e) ? 0 : uvm_error_set(err, uvm_error_code(e), "%s", e->msg);
                uvm_error_free(e);
        }
        return r;
}

/* What of an adapter QEMU has: the device, its netdev, a named fd. Without
 * wait the device goes whenever the guest lets go (QEMU deletes a netdev
 * whose NIC is still there along with that NIC). */
static int qemu_release(struct qmp *q, const struct qids *id, bool fd_named, bool wait,
                        struct uvm_error **err)
{
        int r = unplug(q, id->dev, wait, err);

        if (r >= 0)
                r = netdev_del(q, id->net, err);
        if (fd_named) {
                _cleanup_json_ json_object *a = obj("fdname", id->fd, NULL, NULL);

                (void) qmp_execute(q, "closefd", a, QMP_TIMEOUT_MS, NULL, NULL);
        }
        return r;
}

/* getfd, netdev_add, device_add; on failure QEMU keeps nothing. */
static int qemu_plug(struct qmp *q, const struct qids *id, int tap_fd, const char *mac,
                     struct uvm_error **err)
{
        _cleanup_json_ json_object *fd = obj("fdname", id->fd, NULL, NULL);
        _cleanup_json_ json_object *net = obj("type", "tap", "id", id->net);
        _cleanup_json_ json_object *dev = obj("driver", "virtio-net-pci", "id", id->dev);
        struct uvm_error *e = NULL;
        int r, stage = 0;

        json_object_object_add(net, "fd", json_object_new_string(id->fd));
        json_object_object_add(dev, "netdev", json_object_new_string(id->net));
        json_object_object_add(dev, "bus", json_object_new_string(id->port));
        /* A root port has one slot; QEMU 7.2 would put a second device on
         * another one the guest never sees, instead of refusing it. */
        json_object_object_add(dev, "addr", json_object_new_string("0"));
        json_object_object_add(dev, "mac", json_object_new_string(mac));
        r = qmp_execute_fd(q, "getfd", fd, tap_fd, QMP_TIMEOUT_MS, NULL, err);
        if (r >= 0 && ++stage)
                r = qmp_execute(q, "netdev_add", net, QMP_TIMEOUT_MS, NULL, err);
        if (r >= 0 && ++stage)
                r = qmp_execute(q, "device_add", dev, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0 && stage > 0) {
                /* the fd is the netdev's once it was added */
                if (stage == 2 && netdev_del(q, id->net, &e) < 0) {
                        log_warn("qmp: %s, ignoring", e->msg);
                        e = uvm_error_free(e);
                }
                if (stage == 1) {
                        _cleanup_json_ json_object *a = obj("fdname", id->fd, NULL, NULL);

                        (void) qmp_execute(q, "closefd", a, QMP_TIMEOUT_MS, NULL, NULL);
                }
        }
        return r;
}

/* --- the operations --- */

static int guest_call(const struct qnic_pod *p, const struct drv_nic *nic,
                      const struct drv_nic *old, bool remove, struct uvm_error **err)
{
        /* Only a new adapter may still be on its way into the guest. */
        _cleanup_json_ json_object *s =
                qnic_guest_request(nic, old, remove, !old && !remove ? GUEST_WAIT_MS : 0);

        if (!p->agent)
                return uvm_error_set(err, ENOTCONN, "no agent connection");
        return agent_client_modify(p->agent, "Nic", s, NULL, err);
}

static int check(const char *nic_id, const struct drv_nic *nic, struct uvm_error **err)
{
        if (!qnic_id_valid(nic_id))
                return uvm_error_set(err, EINVAL, "NIC id '%.80s' is not 1..64 of [A-Za-z0-9_.-]",
                                     nic_id ? nic_id : "");
        if (!nic || STR_EMPTY(nic->netns_path) || STR_EMPTY(nic->ifname) || !nic->mac ||
            strlen(nic->mac) != 17 || strlen(nic->ifname) >= IF_NAMESIZE ||
            nic->n_addrs > DRV_NIC_MAX_ADDRS || nic->n_routes > DRV_NIC_MAX_ROUTES)
                return uvm_error_set(err, EINVAL,
                                     "NIC '%s': a namespace, an interface, a MAC, at most %d "
                                     "addresses and %d routes",
                                     nic_id, DRV_NIC_MAX_ADDRS, DRV_NIC_MAX_ROUTES);
        return 0;
}

/* Plugged: QEMU and then the guest take it; undone on failure. */
static int plug_and_configure(const struct qnic_pod *p, const struct qids *id, struct ns_job *j,
                              const struct drv_nic *nic, struct uvm_error **err)
{
        _cleanup_qmp_ struct qmp *q = NULL;
        struct drv_nic guest = *nic;
        struct uvm_error *e = NULL;
        int r = qmp_connect(p->qmp_sock, QMP_TIMEOUT_MS, &q, err);

        if (r >= 0)
                r = qemu_plug(q, id, j->tap_fd, nic->mac, err);
        close(j->tap_fd); /* QEMU has its own now, or none */
        j->tap_fd = -1;
        if (r < 0)
                return r;
        guest.mtu = j->mtu;
        r = guest_call(p, &guest, NULL, false, err);
        if (r < 0 && qemu_release(q, id, false, true, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
        }
        return r < 0 ? uvm_error_wrap(err, "the guest") : r;
}

int qnic_add(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *nic,
             struct uvm_error **err)
{
        bool used[QNIC_PORTS] = {false};
        struct ns_job j = {
                .ifname = nic ? nic->ifname : NULL, .mtu = nic ? nic->mtu : 0, .tap_fd = -1};
        struct ns_job undo = {.remove = true};
        struct uvm_error *e = NULL;
        struct qids id;
        int port, r;

        if (check(nic_id, nic, err) < 0)
                return -EINVAL;
        r = ports_used(p, nic_id, used, err);
        if (r < 0)
                return r;
        port = qnic_free_port(used);
        if (port < 0)
                return uvm_error_set(err, ENOSPC,
                                     "all %u PCIe root ports of the VM hold added NICs",
                                     QNIC_PORTS);
        qids_of(nic_id, (unsigned) port, &id);
        snprintf(j.tap, sizeof(j.tap), "vnic%d", port);
        r = record_write(p, nic_id, (unsigned) port, err);
        if (r < 0)
                return r;
        r = in_netns(nic->netns_path, ns_attach, &j, err);
        if (r >= 0) {
                r = plug_and_configure(p, &id, &j, nic, err);
                undo.ifname = nic->ifname;
                if (r < 0 && in_netns(nic->netns_path, ns_change, &undo, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: %s, ignoring", p->id, e->msg);
                        e = uvm_error_free(e);
                }
        }
        if (r < 0) {
                record_drop(p, nic_id);
                return uvm_error_wrap(err, "NIC '%s' on root port %s", nic_id, id.port);
        }
        log_pod(LOG_LEVEL_INFO, p->id, "qemu pod %s: NIC '%s' (%s) on %s, %s <-> %s", p->id, nic_id,
                nic->mac, id.port, nic->ifname, j.tap);
        return 0;
}

/* A change the guest refused halfway: put back what was (the tap's MTU too,
 * when it was known). Failures are logged. */
static void modify_undo(const struct qnic_pod *p, const char *nic_id, struct ns_job *j,
                        const struct drv_nic *old, const struct drv_nic *nic)
{
        struct uvm_error *e = NULL;

        if (guest_call(p, old, nic, false, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: NIC '%s': restoring the guest: %s",
                        p->id, nic_id, e->msg);
                e = uvm_error_free(e);
        }
        j->mtu = old->mtu;
        if (old->mtu && nic->mtu && old->mtu != nic->mtu &&
            in_netns(nic->netns_path, ns_change, j, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: NIC '%s': %s, ignoring", p->id, nic_id,
                        e->msg);
                uvm_error_free(e);
        }
}

int qnic_modify(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *old,
                const struct drv_nic *nic, struct uvm_error **err)
{
        struct ns_job j = {.ifname = nic ? nic->ifname : NULL, .mtu = nic ? nic->mtu : 0};
        unsigned port;
        int r;

        if (check(nic_id, nic, err) < 0 || check(nic_id, old, err) < 0)
                return -EINVAL;
        r = record_read(p, nic_id, &port);
        if (r < 0)
                return uvm_error_set(err, ENOENT, "NIC '%s' has no adapter in the VM", nic_id);
        snprintf(j.tap, sizeof(j.tap), "vnic%u", port);
        if (nic->mtu && nic->mtu != old->mtu) {
                r = in_netns(nic->netns_path, ns_change, &j, err);
                if (r < 0)
                        return r;
        }
        r = guest_call(p, nic, old, false, err);
        if (r < 0) {
                modify_undo(p, nic_id, &j, old, nic);
                return uvm_error_wrap(err, "the guest");
        }
        return 0;
}

int qnic_remove(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *nic,
                struct uvm_error **err)
{
        _cleanup_qmp_ struct qmp *q = NULL;
        struct ns_job j = {.ifname = nic ? nic->ifname : NULL, .remove = true};
        struct uvm_error *e = NULL;
        struct qids id;
        unsigned port;
        int r;

        if (check(nic_id, nic, err) < 0)
                return -EINVAL;
        if (record_read(p, nic_id, &port) < 0)
                return 0; /* never plugged, or removed before */
        qids_of(nic_id, port, &id);
        /* The guest first; one that cannot (the adapter is gone) is no stop. */
        if (guest_call(p, nic, NULL, true, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: NIC '%s' in the guest: %s, ignoring",
                        p->id, nic_id, e->msg);
                e = uvm_error_free(e);
        }
        r = qmp_connect(p->qmp_sock, QMP_TIMEOUT_MS, &q, err);
        if (r >= 0)
                r = qemu_release(q, &id, true, true, err);
        if (r < 0)
                return uvm_error_wrap(err, "remove NIC '%s' from the VM", nic_id);
        if (in_netns(nic->netns_path, ns_change, &j, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
        }
        record_drop(p, nic_id);
        log_pod(LOG_LEVEL_INFO, p->id, "qemu pod %s: NIC '%s' removed from %s", p->id, nic_id,
                id.port);
        return 0;
}

/* The "nic-<id>" devices QEMU has (qom-list of /machine/peripheral). */
static void reconcile_with(const struct qnic_pod *p, struct qmp *q)
{
        _cleanup_json_ json_object *a = obj("path", "/machine/peripheral", NULL, NULL);
        _cleanup_json_ json_object *list = NULL;
        struct uvm_error *e = NULL;

        if (qmp_execute(q, "qom-list", a, QMP_TIMEOUT_MS, &list, &e) < 0 ||
            !json_object_is_type(list, json_type_array)) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: qom-list: %s, ignoring", p->id,
                        e ? e->msg : "not an array");
                uvm_error_free(e);
                return;
        }
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                const char *name = json_string_of(json_object_array_get_idx(list, i), "name");
                unsigned port;
                struct qids id;

                if (!name || strncmp(name, "nic-", 4) != 0 || !qnic_id_valid(name + 4) ||
                    record_read(p, name + 4, &port) >= 0)
                        continue;
                qids_of(name + 4, 0, &id);
                /* Not waited for: this runs before uvmd is ready. */
                if (qemu_release(q, &id, true, false, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: %s, ignoring", p->id, e->msg);
                        e = uvm_error_free(e);
                } else
                        log_pod(LOG_LEVEL_INFO, p->id,
                                "qemu pod %s: adapter %s had no record: removing it", p->id, name);
        }
}

void qnic_reconcile(const struct qnic_pod *p)
{
        _cleanup_qmp_ struct qmp *q = NULL;
        struct uvm_error *e = NULL;

        if (qmp_connect(p->qmp_sock, QMP_TIMEOUT_MS, &q, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "qemu pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
                return;
        }
        reconcile_with(p, q);
}
