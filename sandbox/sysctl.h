#pragma once

/*
 * Pod sysctls: only those the kernel keeps per namespace can be set for a
 * pod, and only in a namespace the pod has of its own (as runc decides).
 */

#include <stdbool.h>

#include "common/error.h"

enum sysctl_ns { SYSCTL_NS_NONE, SYSCTL_NS_IPC, SYSCTL_NS_NET, SYSCTL_NS_UTS };

/* The namespace a sysctl name ("net.ipv4.ip_forward") belongs to. */
enum sysctl_ns sysctl_namespace(const char *name);

/* -EINVAL naming the sysctl when it is not namespaced, or its namespace is
 * the host's for this pod (host network / host IPC). */
int sysctl_check_for_pod(const char *name, bool host_network, bool host_ipc,
                         struct uvm_error **err);
