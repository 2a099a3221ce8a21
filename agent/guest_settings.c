/* ModifySettings with a ResourceType, in a VM guest: what the host tells
 * the guest once it answered (docs/agent.md, "Guest settings"):
 *   Guest:   {"TimeNs", "Entropy" (hex), "Hostname", "Sysctls": ["k=v"],
 *             "SharePid"}: answers {"PidNsHolder": pid} with SharePid
 *   Network: {"Interfaces": [{"Mac", "FromMac" (optional: the NIC's address
 *             now, a template's in a clone; it takes Mac), "Mtu",
 *             "Addresses": ["a/p"]}],
 *             "Routes": [{"Destination": "a/p", "Gateway": "a"}], "WaitMs"}:
 *             each interface waited for as a Nic's, WaitMs for all of them
 *             (default NETWORK_WAIT_MS): an hcs pod's adapters, hot-added
 *             just before, reach the guest asynchronously; a qemu pod's are
 *             there at boot and cost no wait.
 *   Share:   {"Tag", "Path"}: the pod's 9p share, mounted at Path.
 *   Disk:    {"Lun", "Path"}: a hot-plugged layer disk (guest_disks.c).
 *   Plan9:   {"Port", "AccessName", "Path", "ReadOnly", "Remove"}: an hcs
 *            host's Plan9 share over vsock (guest_plan9.c, plan9.h).
 *   Nic:     {"Mac", "FromMac", "Mtu", "Addresses", "Routes", "OldAddresses",
 *             "Remove", "WaitMs"}: a hot-plugged adapter (the ComputeAgent's):
 *             found by MAC (waiting WaitMs for it to appear); with
 *             OldAddresses or Remove first taken down (which drops its
 *             routes) and those addresses deleted; unless Remove, then up
 *             with the MTU, the addresses and the routes through it.
 *   PodFiles: {"ResolvConf", "Hosts", "Hostname"}: an hcs pod's /etc files
 *             for its containers, under /run/uvmd/pod (podfiles.h).
 * Every field is checked; the first failure is the answer. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/link_wait.h"
#include "agent/podfiles.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"

#define MAX_ENTROPY 512
#define MAX_ADDRS 8
#define MAX_IFACES 8
#define MAX_ROUTES 16
#define NL_BUF 4096

static json_object *array_of(json_object *o, const char *k, size_t max)
{
        json_object *v = json_object_object_get(o, k);

        if (!v)
                return json_object_new_array(); /* caller puts it */
        return json_object_is_type(v, json_type_array) && json_object_array_length(v) <= max
                       ? json_object_get(v)
                       : NULL;
}

/* The host's entropy, credited: a VM booted a moment ago has little. */
static int add_entropy(const char *hex, struct uvm_error **err)
{
        struct {
                struct rand_pool_info info;
                unsigned char buf[MAX_ENTROPY];
        } e = {0};
        size_t n = strlen(hex) / 2;
        _cleanup_close_ int fd = -1;

        if (strlen(hex) % 2 || n > MAX_ENTROPY)
                return uvm_error_set(err, EINVAL,
                                     "Entropy: an even number of hex digits, at "
                                     "most 1024");
        for (size_t i = 0; i < n; i++) {
                int hi = hex_digit_value(hex[2 * i]), lo = hex_digit_value(hex[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return uvm_error_set(err, EINVAL, "Entropy: not lowercase hex");
                e.buf[i] = (unsigned char) (hi << 4 | lo);
        }
        e.info.entropy_count = (int) n * 8;
        e.info.buf_size = (int) n;
        fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e) < 0)
                return uvm_error_set(err, errno, "RNDADDENTROPY: %m");
        /* Credited entropy alone leaves the CRNG's keys as they are until its
         * next scheduled reseed (up to a minute): a VM cloned from a template
         * would meanwhile draw what its siblings draw. Rekey it now. */
        if (ioctl(fd, RNDRESEEDCRNG, NULL) < 0)
                return uvm_error_set(err, errno, "RNDRESEEDCRNG: %m");
        return 0;
}

/* A pod sharing one PID namespace: the holder is its PID 1 (agent_pidns.c),
 * made once; its pid (as the guest sees it) goes back to the host. */
static int share_pid(json_object *s, json_object **ret, struct uvm_error **err)
{
        int r = 0;

        if (!json_object_get_boolean(json_object_object_get(s, "SharePid")))
                return 0;
        if (agent_pidns_holder() <= 0)
                r = agent_pidns_start(true, NULL, err);
        if (r < 0)
                return r;
        *ret = json_object_new_object();
        json_object_object_add(*ret, "PidNsHolder", json_object_new_int(agent_pidns_holder()));
        return 0;
}

static int guest_identity(json_object *s, json_object **ret, struct uvm_error **err)
{
        json_object *t = json_object_object_get(s, "TimeNs"), *sysctls;
        const char *entropy = json_string_of(s, "Entropy"), *host = json_string_of(s, "Hostname");
        int r = 0;

        if (t) {
                int64_t ns = json_object_get_int64(t);
                struct timespec ts = {ns / 1000000000, ns % 1000000000};

                if (!json_object_is_type(t, json_type_int) || ns <= 0)
                        return uvm_error_set(err, EINVAL, "TimeNs: a positive integer");
                if (clock_settime(CLOCK_REALTIME, &ts) < 0)
                        return uvm_error_set(err, errno, "clock_settime: %m");
        }
        if (entropy && (r = add_entropy(entropy, err)) < 0)
                return r;
        if (host && (strlen(host) == 0 || strlen(host) > 64))
                return uvm_error_set(err, EINVAL, "Hostname: 1 to 64 bytes");
        if (host && sethostname(host, strlen(host)) < 0)
                return uvm_error_set(err, errno, "Hostname '%s': %m", host);
        sysctls = array_of(s, "Sysctls", 64);
        if (!sysctls)
                return uvm_error_set(err, EINVAL, "Sysctls: an array of at most 64 strings");
        for (size_t i = 0; r >= 0 && i < json_object_array_length(sysctls); i++) {
                const char *kv = json_object_get_string(json_object_array_get_idx(sysctls, i));

                r = kv && strchr(kv, '=') ? agent_apply_sysctl(kv, err)
                                          : uvm_error_set(err, EINVAL, "Sysctls[%zu]: 'k=v'", i);
        }
        json_object_put(sysctls);
        return r < 0 ? r : share_pid(s, ret, err);
}

/* --- rtnetlink: just what an interface, its addresses and routes need --- */

struct nl_req {
        struct nlmsghdr h;
        union {
                struct ifinfomsg ifi;
                struct ifaddrmsg ifa;
                struct rtmsg rt;
        };
        char attrs[256];
};

static void nl_attr(struct nl_req *q, unsigned short type, const void *data, size_t len)
{
        struct rtattr *a = (struct rtattr *) ((char *) q + NLMSG_ALIGN(q->h.nlmsg_len));

        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send q and wait for the kernel's ack: 0 or -errno. */
static int nl_talk(struct nl_req *q)
{
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        char buf[NL_BUF];
        ssize_t n;

        if (fd < 0)
                return -errno;
        q->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        q->h.nlmsg_seq = 1;
        if (send(fd, q, q->h.nlmsg_len, 0) < 0)
                return -errno;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n);
             h = NLMSG_NEXT(h, n))
                if (h->nlmsg_type == NLMSG_ERROR)
                        return ((struct nlmsgerr *) NLMSG_DATA(h))->error;
        return -EPROTO;
}

/* "a/p" into family, address bytes and prefix length. */
static int parse_cidr(const char *s, int *family, unsigned char addr[16], int *prefix)
{
        char ip[64];
        const char *slash = strchr(s, '/');
        char *end;
        long p;

        if (!slash || (size_t) (slash - s) >= sizeof(ip))
                return -EINVAL;
        memcpy(ip, s, (size_t) (slash - s));
        ip[slash - s] = '\0';
        *family = strchr(ip, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(*family, ip, addr) != 1)
                return -EINVAL;
        p = strtol(slash + 1, &end, 10);
        if (*end || p < 0 || p > (*family == AF_INET ? 32 : 128))
                return -EINVAL;
        *prefix = (int) p;
        return 0;
}

static int link_up(int index, int mtu, struct uvm_error **err)
{
        struct nl_req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                                 .nlmsg_type = RTM_NEWLINK}};
        int r;

        q.ifi.ifi_family = AF_UNSPEC;
        q.ifi.ifi_index = index;
        q.ifi.ifi_flags = IFF_UP;
        q.ifi.ifi_change = IFF_UP;
        if (mtu > 0)
                nl_attr(&q, IFLA_MTU, &mtu, sizeof(mtu));
        r = nl_talk(&q);
        return r < 0 ? uvm_error_set(err, -r, "link %d up (mtu %d): %s", index, mtu, strerror(-r))
                     : 0;
}

/* A clone's NIC has its template's address: give it the pod's (virtio-net
 * passes it to the device, whose receive filter follows). */
static int set_mac(int index, const char *mac, struct uvm_error **err)
{
        struct nl_req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                                 .nlmsg_type = RTM_NEWLINK}};
        unsigned char a[6];
        int r;

        if (sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &a[0], &a[1], &a[2], &a[3], &a[4],
                   &a[5]) != 6)
                return uvm_error_set(err, EINVAL, "Mac '%.17s'", mac);
        q.ifi.ifi_family = AF_UNSPEC;
        q.ifi.ifi_index = index;
        nl_attr(&q, IFLA_ADDRESS, a, sizeof(a));
        r = nl_talk(&q);
        return r < 0 ? uvm_error_set(err, -r, "link %d address %s: %s", index, mac, strerror(-r))
                     : 0;
}

/* Add (NLM_F_EXCL; one already there is fine) or delete (one already gone
 * is no error) an address of the interface. */
static int change_addr(int index, const char *cidr, bool add, struct uvm_error **err)
{
        struct nl_req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
                                 .nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR,
                                 .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0}};
        unsigned char a[16];
        int family, prefix, r;

        if (parse_cidr(cidr, &family, a, &prefix) < 0)
                return uvm_error_set(err, EINVAL, "address '%.64s': not a/prefix", cidr);
        q.ifa.ifa_family = (unsigned char) family;
        q.ifa.ifa_prefixlen = (unsigned char) prefix;
        q.ifa.ifa_index = (unsigned) index;
        nl_attr(&q, IFA_LOCAL, a, family == AF_INET ? 4 : 16);
        if (add)
                nl_attr(&q, IFA_ADDRESS, a, family == AF_INET ? 4 : 16);
        r = nl_talk(&q);
        if (r >= 0 || (add && r == -EEXIST) ||
            (!add && (r == -EADDRNOTAVAIL || r == -ENOENT || r == -ENODEV)))
                return 0;
        return uvm_error_set(err, -r, "%s address %s: %s", add ? "add" : "delete", cidr,
                             strerror(-r));
}

/* oif: the interface the route goes through, 0: any (the kernel's pick). */
static int add_route(json_object *rt, int oif, struct uvm_error **err)
{
        struct nl_req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
                                 .nlmsg_type = RTM_NEWROUTE,
                                 .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL}};
        const char *dst = json_string_of(rt, "Destination"), *gw = json_string_of(rt, "Gateway");
        unsigned char d[16], g[16];
        int family, prefix, r;

        if (!dst || parse_cidr(dst, &family, d, &prefix) < 0)
                return uvm_error_set(err, EINVAL, "route destination '%.64s'", dst ? dst : "");
        if (gw && inet_pton(family, gw, g) != 1)
                return uvm_error_set(err, EINVAL, "route gateway '%.64s'", gw);
        q.rt.rtm_family = (unsigned char) family;
        q.rt.rtm_dst_len = (unsigned char) prefix;
        q.rt.rtm_table = RT_TABLE_MAIN;
        q.rt.rtm_protocol = RTPROT_BOOT;
        q.rt.rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        q.rt.rtm_type = RTN_UNICAST;
        if (prefix > 0)
                nl_attr(&q, RTA_DST, d, family == AF_INET ? 4 : 16);
        if (gw)
                nl_attr(&q, RTA_GATEWAY, g, family == AF_INET ? 4 : 16);
        if (oif > 0)
                nl_attr(&q, RTA_OIF, &oif, sizeof(oif));
        r = nl_talk(&q);
        return r < 0 && r != -EEXIST ? uvm_error_set(err, -r, "route %s: %s", dst, strerror(-r))
                                     : 0;
}

/* The adapter with mac (the host gave the guest NIC the CNI one), waited
 * for: a hot-added one appears once the kernel's PCIe hot-plug and
 * virtio_net (or Hyper-V's netvsc) took it, about a second under TCG.
 * FromMac: it has that address until now, and takes mac. */
static int nic_find(const char *mac, const char *from, int64_t wait_ms, char name[IF_NAMESIZE],
                    struct uvm_error **err)
{
        bool by_from = false;
        int index = agent_link_wait(AGENT_LINK_SYS_NET, mac, from, wait_ms, name, IF_NAMESIZE,
                                    &by_from);
        int r;

        if (index < 0)
                return uvm_error_set(err, ENODEV, "no interface with MAC %s within %lld ms", mac,
                                     (long long) wait_ms);
        if (by_from && (r = set_mac(index, mac, err)) < 0)
                return r;
        return index;
}

static int64_t mono_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* deadline: the request's (mono_ms), shared by its interfaces. */
static int one_iface(json_object *ifc, int64_t deadline, struct uvm_error **err)
{
        const char *mac = json_string_of(ifc, "Mac"), *from = json_string_of(ifc, "FromMac");
        json_object *addrs = array_of(ifc, "Addresses", MAX_ADDRS), *mtu_o;
        int64_t mtu =
                (mtu_o = json_object_object_get(ifc, "Mtu")) ? json_object_get_int64(mtu_o) : 0;
        char name[IF_NAMESIZE] = "";
        int64_t left = deadline - mono_ms();
        int index, r;

        if (!mac || strlen(mac) != 17 || (from && strlen(from) != 17) || !addrs || mtu < 0 ||
            mtu > 65535) {
                json_object_put(addrs);
                return uvm_error_set(err, EINVAL,
                                     "Interfaces: need Mac, Mtu 0..65535, at most "
                                     "8 Addresses");
        }
        index = nic_find(mac, from, left > 0 ? left : 0, name, err);
        r = index < 0 ? index : link_up(index, (int) mtu, err);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(addrs); i++)
                r = change_addr(index, json_object_get_string(json_object_array_get_idx(addrs, i)),
                                true, err);
        json_object_put(addrs);
        if (r >= 0)
                log_info("guest: %s (%s) configured", name, mac);
        return r;
}

/* Without WaitMs: what the qemu host gives a hot-plugged Nic, below the
 * host's call timeout (agent/client-internal.h, 30 s). */
#define NETWORK_WAIT_MS 20000

static int guest_network(json_object *s, struct uvm_error **err)
{
        json_object *ifcs = array_of(s, "Interfaces", MAX_IFACES),
                    *routes = array_of(s, "Routes", MAX_ROUTES),
                    *wait_o = json_object_object_get(s, "WaitMs");
        int64_t wait_ms = wait_o ? json_object_get_int64(wait_o) : NETWORK_WAIT_MS;
        int64_t deadline = mono_ms() + wait_ms;
        int r = ifcs && routes && wait_ms >= 0 && wait_ms <= AGENT_LINK_MAX_WAIT_MS
                        ? link_up((int) if_nametoindex("lo"), 0, err)
                        : uvm_error_set(err, EINVAL,
                                        "Interfaces (at most 8) and Routes "
                                        "(at most 16) must be arrays, WaitMs 0..30000");

        for (size_t i = 0; r >= 0 && i < json_object_array_length(ifcs); i++)
                r = one_iface(json_object_array_get_idx(ifcs, i), deadline, err);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(routes); i++)
                r = add_route(json_object_array_get_idx(routes, i), 0, err);
        json_object_put(ifcs);
        json_object_put(routes);
        return r;
}

/* --- a hot-plugged adapter --- */

static int link_down(int index, struct uvm_error **err)
{
        struct nl_req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                                 .nlmsg_type = RTM_NEWLINK}};
        int r;

        q.ifi.ifi_family = AF_UNSPEC;
        q.ifi.ifi_index = index;
        q.ifi.ifi_change = IFF_UP;
        r = nl_talk(&q);
        return r < 0 ? uvm_error_set(err, -r, "link %d down: %s", index, strerror(-r)) : 0;
}

static bool valid_mac(const char *m)
{
        return m && strlen(m) == 17;
}

static int nic_apply(int index, json_object *s, json_object *addrs, json_object *routes,
                     struct uvm_error **err)
{
        json_object *mtu_o = json_object_object_get(s, "Mtu");
        int64_t mtu = mtu_o ? json_object_get_int64(mtu_o) : 0;
        int r;

        if (mtu < 0 || mtu > 65535)
                return uvm_error_set(err, EINVAL, "Mtu: 0..65535");
        r = link_up(index, (int) mtu, err);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(addrs); i++)
                r = change_addr(index, json_object_get_string(json_object_array_get_idx(addrs, i)),
                                true, err);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(routes); i++)
                r = add_route(json_object_array_get_idx(routes, i), index, err);
        return r;
}

static int guest_nic(json_object *s, struct uvm_error **err)
{
        const char *mac = json_string_of(s, "Mac"), *from = json_string_of(s, "FromMac");
        json_object *addrs = array_of(s, "Addresses", MAX_ADDRS * 2),
                    *routes = array_of(s, "Routes", MAX_ROUTES),
                    *old = array_of(s, "OldAddresses", MAX_ADDRS * 2),
                    *wait_o = json_object_object_get(s, "WaitMs");
        bool remove = json_object_get_boolean(json_object_object_get(s, "Remove"));
        int64_t wait_ms = wait_o ? json_object_get_int64(wait_o) : 0;
        char name[IF_NAMESIZE] = "";
        int index, r = 0;

        if (!valid_mac(mac) || (from && !valid_mac(from)) || !addrs || !routes || !old ||
            wait_ms < 0 || wait_ms > AGENT_LINK_MAX_WAIT_MS)
                r = uvm_error_set(err, EINVAL,
                                  "Nic: need Mac, at most 16 Addresses and OldAddresses, 16 "
                                  "Routes, WaitMs 0..30000");
        index = r < 0 ? r : nic_find(mac, from, wait_ms, name, err);
        r = index < 0 ? index : 0;
        if (r >= 0 && (remove || json_object_array_length(old) > 0))
                r = link_down(index, err);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(old); i++)
                r = change_addr(index, json_object_get_string(json_object_array_get_idx(old, i)),
                                false, err);
        if (r >= 0 && !remove)
                r = nic_apply(index, s, addrs, routes, err);
        json_object_put(addrs);
        json_object_put(routes);
        json_object_put(old);
        if (r >= 0)
                log_info("guest: adapter %s (%s) %s", name, mac,
                         remove ? "released" : "configured");
        return r;
}

static int guest_share(json_object *s, struct uvm_error **err)
{
        const char *tag = json_string_of(s, "Tag"), *path = json_string_of(s, "Path");

        if (!tag || !path || strlen(tag) > 31 || path[0] != '/' || strstr(path, ".."))
                return uvm_error_set(err, EINVAL,
                                     "Share: Tag (at most 31 bytes) and an absolute "
                                     "Path");
        if (fs_mkdir_p(path, 0755) < 0 ||
            mount(tag, path, "9p", MS_NOSUID | MS_NODEV,
                  "trans=virtio,version=9p2000.L,msize=262144,cache=none") < 0)
                return uvm_error_set(err, errno, "mount 9p share '%s' on %s: %m", tag, path);
        return 0;
}

int agent_guest_modify(json_object *req, json_object **ret, struct uvm_error **err)
{
        const char *type = json_string_of(req, "ResourceType");
        json_object *s = json_object_object_get(req, "Settings");

        if (!agent_cfg.guest)
                return uvm_error_set(err, ENOSYS, "ModifySettings %s: only in a VM guest",
                                     type ? type : "");
        if (!json_object_is_type(s, json_type_object))
                return uvm_error_set(err, EINVAL, "Settings must be an object");
        *ret = NULL;
        if (type && STR_EQ(type, "Guest"))
                return guest_identity(s, ret, err);
        if (type && STR_EQ(type, "Network"))
                return guest_network(s, err);
        if (type && STR_EQ(type, "Share"))
                return guest_share(s, err);
        if (type && STR_EQ(type, "Disk"))
                return agent_guest_disk(s, err);
        if (type && STR_EQ(type, "Plan9"))
                return agent_guest_plan9(s, err);
        if (type && STR_EQ(type, "Nic"))
                return guest_nic(s, err);
        if (type && STR_EQ(type, "PodFiles"))
                return agent_podfiles_apply(s, AGENT_POD_FILES_DIR, err);
        return uvm_error_set(err, EINVAL, "ResourceType '%.32s' is unknown", type ? type : "");
}
