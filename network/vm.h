#pragma once

/*
 * A VM pod's network: in the pod's network namespace, a tap device whose
 * traffic is redirected to and from the CNI interface by tc (ingress qdisc,
 * mirred redirect both ways), so the guest's NIC stands where the CNI put
 * the pod, with the CNI interface's MAC, addresses, routes and MTU, which
 * are read back here for the guest to take.
 */

#include <stddef.h>

#include "common/error.h"

#define NET_VM_MAX_ADDRS 4
#define NET_VM_MAX_ROUTES 8

struct net_vm_route {
        char dst[64]; /* "0.0.0.0/0", "10.1.0.0/16", "::/0" */
        char gw[64];  /* "" when on-link */
};

struct net_vm_nic {
        char tap[16];
        int tap_fd; /* for QEMU's -netdev tap,fd=N; -1 when none */
        char mac[18];
        int mtu;
        char addrs[NET_VM_MAX_ADDRS][64]; /* "10.88.66.5/24" */
        size_t n_addrs;
        struct net_vm_route routes[NET_VM_MAX_ROUTES];
        size_t n_routes;
};

/* In the namespace at netns_path: read ifname's MAC, MTU, addresses and
 * gateway routes, create the tap "tap0" (its fd in ret->tap_fd, the device
 * gone when the last fd closes) and redirect ifname <-> tap0. On failure
 * nothing is left but what the namespace's removal takes. */
int net_vm_attach(const char *netns_path, const char *ifname, struct net_vm_nic *ret,
                  struct uvm_error **err);

/* Run the tool `name` (ip, tc) with args in the calling thread's network
 * namespace, bounded in time and output; *out (may be NULL) takes its
 * stdout. A non-zero exit is -EIO naming the command. */
int net_vm_run(const char *name, const char *const *args, char **out, struct uvm_error **err);

/* tc: everything arriving on `from` leaves through `to` (an ingress qdisc
 * and a mirred redirect), in the calling thread's network namespace. */
int net_vm_redirect(const char *from, const char *to, struct uvm_error **err);

/* Parse `ip -j addr show dev X` / `ip -j link show dev X` / `ip -j route
 * show` output into nic (exposed for tests). -EINVAL naming what is wrong. */
int net_vm_parse_link(const char *json, struct net_vm_nic *nic, struct uvm_error **err);
int net_vm_parse_addrs(const char *json, struct net_vm_nic *nic, struct uvm_error **err);
int net_vm_parse_routes(const char *json, struct net_vm_nic *nic, struct uvm_error **err);
