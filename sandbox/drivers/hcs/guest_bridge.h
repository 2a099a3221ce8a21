#pragma once

/*
 * The hcs driver's guest table (guest.h) over the bridge client
 * (agent/client.h): the agent in the utility VM is the same binary, and
 * speaks the same protocol, as in a qemu pod. Portable: the table is given
 * a dialler that produces a connected socket to a VM's agent: HvSocket on
 * Windows (guest_hv_win.h), loopback TCP to a scripted agent in tests.
 *
 * What each entry sends:
 *   connect      the dialler, then NegotiateProtocol and GetProperties
 *                (agent_client_connect_fd), within timeout_ms overall (the
 *                client gives the negotiation at least 30 s);
 *   add_nic      ModifySettings Network {Interfaces [{Mac (':' form), Mtu 0,
 *                Addresses ["ip/prefix"]}], Routes [the default route through
 *                the gateway, when there is one]}, what the qemu driver sends;
 *   remove_nic   nothing: the agent has no request that unconfigures an
 *                interface, and the guest kernel drops the device, with its
 *                addresses and routes, when the host removes the NIC next;
 *   ctr_*        Create (the OCI spec and layers: the hosted document is
 *                HCS's view of the container, which our agent does not take),
 *                Start, SignalProcess, DeleteContainerState, GetProperties,
 *                ExecuteProcess;
 *   ctr_stop_all SIGTERM to each running container's init, SIGKILL to all
 *                of each once timeout_ms passed, then up to
 *                HCS_BRIDGE_KILL_WAIT_MS for them to go.
 * Events: the agent's exit notifications and container output go to the
 * driver as they come; the connection closing without a disconnect is the
 * guest dying.
 */

#include <stdint.h>

#include "common/error.h"
#include "sandbox/drivers/hcs/guest.h"

#define HCS_BRIDGE_POLL_MS 50         /* how often ctr_stop_all looks */
#define HCS_BRIDGE_KILL_WAIT_MS 2000u /* for SIGKILLed containers to go */

/* Connect to the agent of compute system system_id (RuntimeId runtime_id)
 * within timeout_ms and give the connected socket in *ret_fd (SOCK_CLOEXEC,
 * the caller's). -ETIMEDOUT when it does not answer in time. */
typedef int (*hcs_bridge_dial_fn)(void *data, const char *system_id, const char *runtime_id,
                                  uint32_t timeout_ms, int *ret_fd, struct uvm_error **err);

/* Make dial(data, ...) the way this process reaches agents (one dialler
 * per process, like the driver's binding: a later call replaces it for
 * the connections made after) and return the guest table, named "bridge".
 * data is borrowed: it must outlive every connection. */
const struct hcs_guest_ops *hcs_guest_bridge(hcs_bridge_dial_fn dial, void *data);
