/* Which sysctls a pod may set: the kernel's per-namespace ones (IPC, network,
 * UTS), in namespaces the pod owns. */

#include <string.h>

#include "common/macros.h"
#include "sandbox/sysctl.h"

static const char *const ipc_names[] = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
};

enum sysctl_ns sysctl_namespace(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(ipc_names); i++)
                if (STR_EQ(name, ipc_names[i]))
                        return SYSCTL_NS_IPC;
        if (strncmp(name, "fs.mqueue.", 10) == 0)
                return SYSCTL_NS_IPC;
        if (strncmp(name, "net.", 4) == 0)
                return SYSCTL_NS_NET;
        /* kernel.hostname is the pod's hostname field, not a sysctl to set. */
        if (STR_EQ(name, "kernel.domainname"))
                return SYSCTL_NS_UTS;
        return SYSCTL_NS_NONE;
}

int sysctl_check_for_pod(const char *name, bool host_network, bool host_ipc, struct uvm_error **err)
{
        switch (sysctl_namespace(name)) {
        case SYSCTL_NS_IPC:
                if (host_ipc)
                        return uvm_error_set(err, EINVAL,
                                             "sysctl %s: the pod shares the host's IPC "
                                             "namespace, so it would change the node",
                                             name);
                return 0;
        case SYSCTL_NS_NET:
        case SYSCTL_NS_UTS:
                if (host_network)
                        return uvm_error_set(err, EINVAL,
                                             "sysctl %s: the pod uses the host's network (and "
                                             "UTS) namespace, so it would change the node",
                                             name);
                return 0;
        case SYSCTL_NS_NONE:
                break;
        }
        return uvm_error_set(err, EINVAL,
                             "sysctl %s is not namespaced: a pod cannot set it without changing "
                             "the node",
                             name);
}
