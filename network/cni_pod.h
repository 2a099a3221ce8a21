#pragma once

/*
 * What a pod's CNI calls carry, the same on Linux (pod.c) and Windows
 * (net_hcn.c): CNI_ARGS with the pod's names, and the runtime config of
 * capability arguments from its port mappings, DNS config and bandwidth.
 * The executor gives each plugin only the keys it declares under
 * "capabilities" (cni_exec.c), as containerd does.
 */

#include <stdbool.h>

#include "common/error.h"
#include "network/net.h"

#define CNI_POD_MAX_PORTS 1024
#define CNI_POD_MAX_LIST 32
#define CNI_POD_MAX_NAME 253

/* A pod id as CNI's container id and a file name: letters, digits, '_',
 * '.', '-', at most 128, not starting with a dot or dash. */
bool cni_pod_id_ok(const char *s);

/* cfg's id, names, port mappings and DNS lists checked. */
int cni_pod_check(const struct net_pod_config *cfg, struct uvm_error **err);

/* CNI_ARGS (K8S_POD_NAMESPACE, _NAME, _INFRA_CONTAINER_ID, _UID) and the
 * runtime config (a JSON object: "portMappings" for published ports,
 * "dns", "bandwidth"; keys without a value are left out), cfg checked
 * first. Both malloc'd, written only on success. */
int cni_pod_args(const struct net_pod_config *cfg, char **ret_args, char **ret_runtime_config,
                 struct uvm_error **err);
