#pragma once

/*
 * Network interfaces added to a running pod from outside the CNI flow (the
 * ComputeAgent endpoint): an existing host interface is moved into the pod's
 * network namespace and configured there (name, MAC, MTU, addresses,
 * routes). What was added is persisted per pod (<pod dir>/nics.json), so pod
 * teardown removes it, also after a uvmd restart.
 *
 * The caller serialises the calls for one pod (the list file is read,
 * changed and rewritten).
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define NIC_ID_MAX 64
#define NIC_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define NIC_MAX_ADDRESSES 16
#define NIC_MAX_ROUTES 16
#define NIC_MAX_PER_POD 32
#define NIC_MTU_MIN 68
#define NIC_MTU_MAX 65535

struct nic_route {
        const char *destination; /* CIDR */
        const char *gateway;     /* bare address or NULL/"" for on-link */
};

/* A NULL or empty field means "not given". */
struct nic_endpoint {
        const char *host_interface;
        const char *interface_name;
        const char *mac;
        const char *const *addresses;
        size_t n_addresses;
        const struct nic_route *routes;
        size_t n_routes;
        unsigned mtu; /* 0: not given */
};

/* A NIC as recorded, for the guest of a VM pod. */
struct nic_state {
        const char *nic_id, *ifname; /* ifname: its host end, in the pod's namespace */
        const char *mac;             /* the guest adapter's */
        unsigned mtu;                /* 0: not given */
        const char *const *addrs;
        size_t n_addrs;
        const char *const *dst, *const *gw; /* gw[i] NULL: on-link */
        size_t n_routes;
};

/* A VM pod's guest adapters (its driver's, through the sandbox layer). With
 * one, an added interface only carries the guest's traffic: it is moved in,
 * given its MTU and brought up, and its MAC (the host interface's when none
 * is given), addresses and routes go to the guest. remove is called before
 * the interface goes; an adapter already gone is no error there. */
struct nic_guest {
        int (*add)(void *data, const struct nic_state *s, struct uvm_error **err);
        int (*modify)(void *data, const struct nic_state *old, const struct nic_state *s,
                      struct uvm_error **err);
        int (*remove)(void *data, const struct nic_state *s, struct uvm_error **err);
        void *data;
};

/* An id: 1..64 of [A-Za-z0-9_.-]. what names it in the message. */
int nic_check_id(const char *what, const char *id, struct uvm_error **err);
/* An interface name: 1..15 bytes, no '/', ':', whitespace, not "." or "..". */
int nic_check_ifname(const char *what, const char *name, struct uvm_error **err);
/* A unicast MAC "xx:xx:xx:xx:xx:xx", not all zero. */
int nic_check_mac(const char *mac, struct uvm_error **err);
/* "address/prefix" with the prefix within the family's bits; ret_family
 * may be NULL. */
int nic_check_cidr(const char *what, const char *cidr, int *ret_family, struct uvm_error **err);
/* Every given field of ep; adding: host_interface is required, otherwise it
 * must be empty. */
int nic_check_endpoint(const struct nic_endpoint *ep, bool adding, struct uvm_error **err);

/* Move ep->host_interface into the namespace at netns_path as
 * ep->interface_name (default nic_id), configure and bring it up (guest:
 * see struct nic_guest; NULL for a pod whose namespace is its network),
 * and record it. A NIC added with a guest is changed and deleted with one. Unknown host interface:
 * -ENOENT; nic_id or name taken: -EEXIST. On failure the interface is moved back to the host. */
int nic_add(const char *pod_dir, const char *netns_path, const char *nic_id,
            const struct nic_endpoint *ep, const struct nic_guest *guest, char **ret_ifname,
            struct uvm_error **err);

/* Apply the given fields of ep to the NIC added as nic_id (-ENOENT if
 * none); a given address or route list replaces the earlier one. */
int nic_modify(const char *pod_dir, const char *netns_path, const char *nic_id,
               const struct nic_endpoint *ep, const struct nic_guest *guest,
               struct uvm_error **err);

/* Delete the NIC's interface inside the pod and forget it (-ENOENT if no
 * such NIC). An interface already gone is fine. */
int nic_delete(const char *pod_dir, const char *netns_path, const char *nic_id,
               const struct nic_guest *guest, struct uvm_error **err);

/* Pod teardown: delete every recorded interface (failures are logged and
 * ignored: the namespace goes away next anyway) and the list itself. */
void nic_delete_all(const char *pod_dir, const char *netns_path);
