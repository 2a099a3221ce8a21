#pragma once

/*
 * A Windows pod's network from CNI plugins (win-bridge, win-overlay,
 * azure-vnet, flannel's...), as containerd runs them: uvmd makes the pod's
 * HCN namespace (empty), runs ADD with CNI_NETNS set to its GUID, the
 * plugins make HCN endpoints and put them in it, and the namespace's
 * endpoints are then what the hcs driver hot-adds to the VM as NICs.
 * DEL runs at the pod's stop, before the namespace is deleted.
 *
 * The attachment's record (<pod dir>/cni.json: the namespace GUID, the
 * exact config list, CNI_ARGS, the runtime config, then ADD's result) is
 * written before the namespace exists and before ADD runs, so a uvmd.exe
 * killed at any point leaves enough for DEL and the namespace's removal.
 *
 * Portable (HCN through struct hcn_api, plugins through cni_exec_ops), so
 * it is unit-tested on Linux with fakes. The caller serialises calls for a
 * pod (the sandbox layer's pod lock).
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "network/hcn.h"

#define NET_HCN_MAX_ENDPOINTS 8 /* the hcs driver's NICs per pod */
#define NET_HCN_RECORD "cni.json"

struct net; /* Windows: the CNI config and the HCN table */
struct cni_exec_ops;
/* Declared only: net.h has a field named "interface", which objbase.h
 * makes a macro in files that include windows.h first. */
struct net_pod_config;   /* network/net.h */
struct net_pod_files_in; /* network/pod_files.h */

struct net_hcn_options {
        const char *conf_dir;
        char *const *bin_dirs;
        unsigned plugin_timeout_ms;
        const struct hcn_api *hcn; /* NULL: no HCN on this host, never ready */
        const char *hcn_why;       /* why not, for NetworkReady */
};

int net_hcn_new(const struct net_hcn_options *o, struct net **ret, struct uvm_error **err);
struct net *net_hcn_free(struct net *n);
/* Plugins through ops instead of CreateProcessW (tests). */
void net_hcn_set_exec(struct net *n, const struct cni_exec_ops *ops, void *data);

/* Whether this node runs CNI for its pods: its config dir exists. A node
 * without one gives pods no network at creation; their NICs come from the
 * ComputeAgent only (hcsshim's ncproxy model). */
bool net_hcn_in_use(struct net *n);

/* NetworkReady: HCN is there and the config dir has a valid list whose
 * plugins exist; else false and why (malloc'd). */
bool net_hcn_ready(struct net *n, char **ret_message);

struct net_hcn_result {
        char ns_id[HCN_GUID_LEN + 1];
        char endpoints[NET_HCN_MAX_ENDPOINTS][HCN_GUID_LEN + 1];
        size_t n_endpoints;
        char *ips[2]; /* bare addresses from ADD's result */
        size_t n_ips;
        /* the DNS ADD's result advised (checked: cni_exec.h), for a pod
         * whose own DNS config is empty (net_hcn_pod_dns); NULL: none */
        char **dns_servers, **dns_searches, **dns_options;
};

void net_hcn_result_clear(struct net_hcn_result *r);

/* Record, namespace, ADD, result recorded, the namespace's endpoints.
 * cfg (pod_id set) gives CNI_ARGS and the runtime config: port mappings
 * and DNS for the plugins that declare "portMappings" and "dns", as on
 * Linux (cni_pod.h). On failure everything is undone (DEL when ADD ran)
 * unless undoing failed, in which case the record stays for
 * net_hcn_pod_teardown. */
int net_hcn_pod_setup(struct net *n, const char *pod_dir, const struct net_pod_config *cfg,
                      struct net_hcn_result *ret, struct uvm_error **err);

/* The DNS lists of the pod's resolv.conf into in: the pod's DNS config
 * when it has any entry, else what ADD's result advised, as hcsshim's
 * guest does from the endpoint's DNS when the CRI gave none. cfg and res
 * may be NULL; the lists are borrowed from them. */
void net_hcn_pod_dns(const struct net_pod_config *cfg, const struct net_hcn_result *res,
                     struct net_pod_files_in *in);

/* From the record: DEL (the ADD may have happened), the namespace deleted,
 * the record removed. Idempotent: no record is success; what is gone is
 * no error. A failed DEL keeps the record for another try. */
int net_hcn_pod_teardown(struct net *n, const char *pod_dir, const char *pod_id,
                         struct uvm_error **err);
