#pragma once

/*
 * The text of a pod's /etc/resolv.conf, /etc/hosts and /etc/hostname, from
 * the kubelet's DNS config, the pod's hostname and its IP. Portable: Linux
 * pods write it into the pod's directory (net_pod_write_files), hcs pods
 * send it to the agent in the VM.
 */

#include <stdbool.h>

#include "common/error.h"

/* Bounds on what the kubelet may hand us: each entry becomes one token of a
 * line in a file libc parses, so whitespace or control bytes would inject
 * extra directives. */
#define NET_POD_FILES_MAX_ENTRIES 32
#define NET_POD_FILES_MAX_TOKEN 253

/* What one entry of each DNS list may be: a server an address, a search
 * domain a host name, an option a token; each within the bounds above.
 * The same rules judge a CNI result's advised DNS (cni_exec.h). */
enum net_pod_dns_kind { NET_POD_DNS_SERVER, NET_POD_DNS_SEARCH, NET_POD_DNS_OPTION };
bool net_pod_files_dns_ok(enum net_pod_dns_kind kind, const char *s);

struct net_pod_files_in {
        const char *hostname;     /* required */
        const char *ip;           /* NULL: no network (hosts has localhost only) */
        char *const *dns_servers; /* NULL-terminated or NULL */
        char *const *dns_searches;
        char *const *dns_options;
};

struct net_pod_files {
        char *resolv_conf, *hosts, *hostname;
};

void net_pod_files_clear(struct net_pod_files *f);

/* Every entry checked (count, length, characters; servers and ip are
 * addresses); ret written only on success. */
int net_pod_files_build(const struct net_pod_files_in *in, struct net_pod_files *ret,
                        struct uvm_error **err);
