/* A VM pod's tap and tc redirect in the pod's network namespace (vm.h). */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/run.h"
#include "network/netns.h"
#include "network/vm.h"

#define TAP_NAME "tap0"
#define CMD_TIMEOUT_MS 10000
#define CMD_MAX_OUT (256u << 10)

int net_vm_run(const char *name, const char *const *args, char **out, struct uvm_error **err)
{
        char *argv[32];
        _cleanup_free_ char *buf = NULL;
        char bin[64];
        size_t n = 0;
        int status = 0, r;

        if (fs_find_tool(name, bin, sizeof(bin)) < 0)
                return uvm_error_set(err, ENOENT, "%s is not installed", name);
        argv[n++] = bin;
        for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
                argv[n++] = (char *) args[i];
        argv[n] = NULL;
        r = run_capture(argv, CMD_TIMEOUT_MS, CMD_MAX_OUT, &buf, &status);
        if (r < 0)
                return uvm_error_set(err, -r, "%s %s: %s", name, args[0], strerror(-r));
        if (status != 0)
                return uvm_error_set(err, EIO, "%s %s %s: exit %d", name, args[0],
                                     args[1] ? args[1] : "", status);
        if (out)
                *out = TAKE_PTR(buf);
        return 0;
}

static json_object *parse_array(const char *json, const char *what, struct uvm_error **err)
{
        json_object *o = json ? json_tokener_parse(json) : NULL;

        if (!json_object_is_type(o, json_type_array)) {
                json_object_put(o);
                uvm_error_set(err, EINVAL, "%s: not a JSON array", what);
                return NULL;
        }
        return o;
}

int net_vm_parse_link(const char *json, struct net_vm_nic *nic, struct uvm_error **err)
{
        json_object *a = parse_array(json, "ip link", err), *l;
        const char *mac;
        int64_t mtu;

        if (!a)
                return -EINVAL;
        l = json_object_array_get_idx(a, 0);
        mac = json_string_of(l, "address");
        mtu = json_object_get_int64(json_object_object_get(l, "mtu"));
        if (!mac || strlen(mac) != 17 || mtu < 68 || mtu > 65535) {
                json_object_put(a);
                return uvm_error_set(err, EINVAL, "ip link: no MAC address or MTU");
        }
        snprintf(nic->mac, sizeof(nic->mac), "%s", mac);
        nic->mtu = (int) mtu;
        json_object_put(a);
        return 0;
}

int net_vm_parse_addrs(const char *json, struct net_vm_nic *nic, struct uvm_error **err)
{
        json_object *a = parse_array(json, "ip addr", err), *infos;

        if (!a)
                return -EINVAL;
        nic->n_addrs = 0;
        infos = json_object_object_get(json_object_array_get_idx(a, 0), "addr_info");
        for (size_t i = 0; json_object_is_type(infos, json_type_array) &&
                           i < json_object_array_length(infos) && nic->n_addrs < NET_VM_MAX_ADDRS;
             i++) {
                json_object *x = json_object_array_get_idx(infos, i);
                const char *local = json_string_of(x, "local"), *scope = json_string_of(x, "scope");
                int64_t prefix = json_object_get_int64(json_object_object_get(x, "prefixlen"));

                /* The guest makes its own link-local addresses. */
                if (!local || (scope && STR_EQ(scope, "link")) || prefix < 0 || prefix > 128)
                        continue;
                snprintf(nic->addrs[nic->n_addrs++], sizeof(nic->addrs[0]), "%.45s/%d", local,
                         (int) prefix);
        }
        json_object_put(a);
        return nic->n_addrs ? 0
                            : uvm_error_set(err, EINVAL,
                                            "ip addr: the interface has no "
                                            "address");
}

/* Only routes through a gateway: the on-link ones follow from the addresses. */
int net_vm_parse_routes(const char *json, struct net_vm_nic *nic, struct uvm_error **err)
{
        json_object *a = parse_array(json, "ip route", err);

        if (!a)
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(a) && nic->n_routes < NET_VM_MAX_ROUTES;
             i++) {
                json_object *x = json_object_array_get_idx(a, i);
                const char *dst = json_string_of(x, "dst"), *gw = json_string_of(x, "gateway");
                struct net_vm_route *r = &nic->routes[nic->n_routes];

                if (!dst || !gw)
                        continue;
                if (STR_EQ(dst, "default"))
                        dst = strchr(gw, ':') ? "::/0" : "0.0.0.0/0";
                if (strlen(dst) > 48)
                        continue; /* longer than any address with its prefix */
                snprintf(r->dst, sizeof(r->dst), "%s%s", dst,
                         strchr(dst, '/') ? "" : (strchr(dst, ':') ? "/128" : "/32"));
                snprintf(r->gw, sizeof(r->gw), "%.63s", gw);
                nic->n_routes++;
        }
        json_object_put(a);
        return 0;
}

struct attach_job {
        const char *ifname;
        struct net_vm_nic *nic;
        struct uvm_error **err;
};

static int open_tap(struct net_vm_nic *nic, struct uvm_error **err)
{
        struct ifreq ifr = {0};
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return uvm_error_set(err, errno, "open /dev/net/tun: %m");
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP_NAME);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int e = errno;

                close(fd);
                return uvm_error_set(err, e, "create tap %s: %s", TAP_NAME, strerror(e));
        }
        snprintf(nic->tap, sizeof(nic->tap), TAP_NAME);
        nic->tap_fd = fd;
        return 0;
}

int net_vm_redirect(const char *from, const char *to, struct uvm_error **err)
{
        int r = net_vm_run("tc", (const char *[]){"qdisc", "add", "dev", from, "ingress", NULL},
                           NULL, err);

        if (r >= 0)
                r = net_vm_run("tc",
                               (const char *[]){"filter", "add",      "dev", from,     "parent",
                                                "ffff:",  "protocol", "all", "u32",    "match",
                                                "u8",     "0",        "0",   "action", "mirred",
                                                "egress", "redirect", "dev", to,       NULL},
                               NULL, err);
        return r;
}

static int attach_in_netns(void *data)
{
        struct attach_job *j = data;
        _cleanup_free_ char *link = NULL, *addrs = NULL, *r4 = NULL, *r6 = NULL;
        char mtu[16];
        int r;

        r = net_vm_run("ip", (const char *[]){"-j", "link", "show", "dev", j->ifname, NULL}, &link,
                       j->err);
        if (r >= 0)
                r = net_vm_parse_link(link, j->nic, j->err);
        if (r >= 0)
                r = net_vm_run("ip", (const char *[]){"-j", "addr", "show", "dev", j->ifname, NULL},
                               &addrs, j->err);
        if (r >= 0)
                r = net_vm_parse_addrs(addrs, j->nic, j->err);
        if (r >= 0)
                r = net_vm_run("ip", (const char *[]){"-j", "-4", "route", "show", NULL}, &r4,
                               j->err);
        if (r >= 0)
                r = net_vm_parse_routes(r4, j->nic, j->err);
        if (r >= 0)
                r = net_vm_run("ip", (const char *[]){"-j", "-6", "route", "show", NULL}, &r6,
                               j->err);
        if (r >= 0)
                r = net_vm_parse_routes(r6, j->nic, j->err);
        if (r >= 0)
                r = open_tap(j->nic, j->err);
        snprintf(mtu, sizeof(mtu), "%d", j->nic->mtu);
        if (r >= 0)
                r = net_vm_run(
                        "ip",
                        (const char *[]){"link", "set", "dev", TAP_NAME, "mtu", mtu, "up", NULL},
                        NULL, j->err);
        if (r >= 0)
                r = net_vm_redirect(j->ifname, TAP_NAME, j->err);
        if (r >= 0)
                r = net_vm_redirect(TAP_NAME, j->ifname, j->err);
        if (r < 0 && j->nic->tap_fd >= 0) {
                close(j->nic->tap_fd); /* the tap goes with it */
                j->nic->tap_fd = -1;
        }
        return r;
}

int net_vm_attach(const char *netns_path, const char *ifname, struct net_vm_nic *ret,
                  struct uvm_error **err)
{
        struct attach_job j = {ifname, ret, err};
        int r;

        *ret = (struct net_vm_nic){.tap_fd = -1};
        r = netns_run(netns_path, attach_in_netns, &j, err);
        if (r < 0)
                return uvm_error_wrap(err, "VM network in %s", netns_path);
        log_debug("VM network: %s %s mtu %d, %zu addresses, %zu routes", ifname, ret->mac, ret->mtu,
                  ret->n_addrs, ret->n_routes);
        return 0;
}
