#pragma once

/*
 * A VM pod's added network adapters (drv_ops.nic_add/modify/remove, for the
 * ComputeAgent). The host end, an interface already in the pod's network
 * namespace, is tc-redirected both ways to a tap "vnic<port>" there (the
 * model of the pod's first NIC, network/vm.h); QEMU gets the tap's fd over
 * QMP (getfd, SCM_RIGHTS), a netdev "net-<nic id>" on it and a
 * virtio-net-pci "nic-<nic id>" on root port rp<port>; the guest agent
 * configures the adapter it finds by MAC (ModifySettings "Nic").
 *
 * Order: add = tap and tc, QMP, guest; remove = guest, device_del (waiting
 * for DEVICE_DELETED: the guest's PCIe hot-plug takes ~5 s to let go),
 * netdev_del (QEMU closes the tap, which goes), tc. A failure on the way in
 * undoes what was done. Each adapter's root port is recorded as
 * <state>/nics/<nic id> before QEMU hears of it, so a restarted uvmd still
 * removes it, and its reattach drops adapters QEMU has but no record names
 * (qnic_reconcile).
 */

#include <stdbool.h>

#include "agent/client.h"
#include "common/error.h"
#include "sandbox/driver.h"
#include "sandbox/drivers/qemu/cmdline.h"

#define QNIC_PORTS QEMU_POD_ROOT_PORTS /* rp0..rp3 */

/* What of the pod the adapters need (borrowed). */
struct qnic_pod {
        const char *id, *state_dir, *qmp_sock;
        struct agent_client *agent;
};

int qnic_add(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *nic,
             struct uvm_error **err);
int qnic_modify(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *old,
                const struct drv_nic *nic, struct uvm_error **err);
int qnic_remove(const struct qnic_pod *p, const char *nic_id, const struct drv_nic *nic,
                struct uvm_error **err);
/* After a reattach: remove adapters QEMU has that no record names (a uvmd
 * that died between device_del and forgetting it). Failures are logged. */
void qnic_reconcile(const struct qnic_pod *p);

/* For tests. The first root port that used[] leaves free, or -ENOSPC. */
int qnic_free_port(const bool used[QNIC_PORTS]);
/* A record's text: "<port>\n". -EINVAL when it is not one. */
int qnic_parse_record(const char *text, unsigned *ret_port);
/* The guest's ModifySettings "Nic" for nic: old (the adapter before, or
 * NULL) has its addresses dropped and its MAC replaced; remove lets go. */
json_object *qnic_guest_request(const struct drv_nic *nic, const struct drv_nic *old, bool remove,
                                int wait_ms);
/* A QMP id may hold the nic id: 1..64 of [A-Za-z0-9_.-]. */
bool qnic_id_valid(const char *nic_id);
