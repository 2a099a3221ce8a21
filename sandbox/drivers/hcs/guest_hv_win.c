/*
 * The bridge's dialler on Windows (guest_hv_win.h): the agent's vsock port
 * P in the guest is HvSocket service "<P in hex>-facb-11e6-bd58-
 * 64006a7986d3" on the host, dialled at the VM's RuntimeId.
 */

#include <errno.h>
#include <stdio.h>

#include "agent/client.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/documents.h"
#include "sandbox/drivers/hcs/guest_bridge.h"
#include "sandbox/drivers/hcs/guest_hv_win.h"

static uint32_t bridge_port; /* set before the table is handed out */

static int hv_dial(void *data, const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                   int *ret_fd, struct uvm_error **err)
{
        uint32_t *port = data;
        char service[HCS_GUID_LEN + 1];

        if (STR_EMPTY(runtime_id))
                return uvm_error_set(err, EINVAL, "VM %s: no RuntimeId to reach its agent at",
                                     system_id);
        hcs_vsock_service_id(__atomic_load_n(port, __ATOMIC_ACQUIRE), service);
        return agent_client_dial_hv(runtime_id, service, timeout_ms, ret_fd, err);
}

const struct hcs_guest_ops *hcs_guest_hv(uint32_t vsock_port, char *reason, size_t size)
{
        if (!vsock_port) {
                if (reason && size)
                        snprintf(reason, size,
                                 "no vsock port for the agent's bridge (bridge_vsock_port)");
                return NULL;
        }
        __atomic_store_n(&bridge_port, vsock_port, __ATOMIC_RELEASE);
        return hcs_guest_bridge(hv_dial, &bridge_port);
}
