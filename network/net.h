#pragma once

/*
 * Pod networking: the CNI config watch, the pod network namespace and the CNI
 * executor. The pods layer calls this from RunPodSandbox / StopPodSandbox /
 * RemovePodSandbox; Status calls net_ready.
 *
 * net_new/net_free/net_ready are in network/net.c, the pod attachment
 * (net_pod_setup/load/teardown) in network/pod.c, the DNS files in
 * network/pod_files.c. The caller serialises calls for one pod (pod lock);
 * calls for different pods run in parallel, and no lock is held while CNI
 * plugins run.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct net; /* the module: CNI config watch + executor */

struct net_options {
        const char *conf_dir;
        char *const *bin_dirs;
        const char *state_dir; /* <state_root>/network */
        unsigned plugin_timeout_ms;
};

int net_new(const struct net_options *o, struct net **ret, struct uvm_error **err);
struct net *net_free(struct net *n);

struct cni_exec_ops;
/* Run CNI plugins through ops instead of posix_spawn (a fake executor in
 * tests); NULL restores the real one. Call before any pod is set up. */
void net_set_cni_exec(struct net *n, const struct cni_exec_ops *ops, void *data);

/* NetworkReady for Status: false + a message until a valid config exists; the
 * config dir is watched so a config installed later flips it without restart. */
bool net_ready(struct net *n, char **ret_message);

struct net_port {
        int protocol; /* 0 tcp, 1 udp, 2 sctp (CRI Protocol enum) */
        uint16_t container_port, host_port;
        const char *host_ip;
};

struct net_pod_config {
        const char *pod_id, *name, *namespace_, *uid, *hostname;
        const struct net_port *ports;
        size_t n_ports;
        char *const *dns_servers; /* NULL-terminated or NULL */
        char *const *dns_searches;
        char *const *dns_options;
        uint64_t ingress_bps, egress_bps; /* 0 = unlimited */
        const char *userns_path; /* the pod's pinned user namespace owns its netns; NULL: none */
};

struct net_pod_result {
        char *netns_path;
        char *ips[2];
        size_t n_ips;
        char *interface;
};

void net_pod_result_clear(struct net_pod_result *r);

/* Create the pod netns (bind-mounted nsfs file under state_dir, loopback up),
 * run CNI ADD with the first valid config and the runtime config capabilities,
 * persist a record under state_dir. On failure nothing is left. */
int net_pod_setup(struct net *n, const struct net_pod_config *cfg, struct net_pod_result *ret,
                  struct uvm_error **err);

/* net_pod_setup in two halves, for a caller that starts the pod's sandbox
 * in the namespace while ADD runs. net_pod_netns records the attachment and
 * creates the namespace (its path: net_pod_attach_netns); net_pod_add runs
 * ADD on it and records the result. Each undoes its own work on failure
 * (net_pod_add: DEL, the namespace and the record too); after a successful
 * net_pod_netns, net_pod_teardown undoes everything whether or not ADD ran.
 * net_pod_attach_free releases the handle only. */
struct net_pod_attach;
int net_pod_netns(struct net *n, const struct net_pod_config *cfg, struct net_pod_attach **ret,
                  struct uvm_error **err);
const char *net_pod_attach_netns(const struct net_pod_attach *a);
int net_pod_add(struct net_pod_attach *a, struct net_pod_result *ret, struct uvm_error **err);
void net_pod_attach_free(struct net_pod_attach *a);

/* Reload a pod's persisted result after a uvmd restart (-ENOENT if none). */
int net_pod_load(struct net *n, const char *pod_id, struct net_pod_result *ret,
                 struct uvm_error **err);

/* CNI DEL from the persisted record, remove the netns and the record.
 * Idempotent: a pod with nothing left is success. */
int net_pod_teardown(struct net *n, const char *pod_id, struct uvm_error **err);

/* Write resolv.conf, hosts (with ip + hostname) and hostname into dir, for
 * bind-mounting into every container of the pod. ip may be NULL (no CNI). */
int net_pod_write_files(const char *dir, const struct net_pod_config *cfg, const char *ip,
                        struct uvm_error **err);
