#pragma once

/*
 * A VM pod's image layers as read-only disks (hcsshim's LCOW model): each
 * layer's erofs image (image/disk.c) is hot-plugged through QMP as a SCSI
 * disk (scsi-hd, target 0, its own LUN) on the VM's virtio-scsi controller
 * "scsi0", which the command line gives at boot on virtio-mmio: SCSI
 * hot-plug needs no PCI slot, so a pod is not limited by its root ports. The
 * guest agent mounts it at /run/layers/<lun> (ModifySettings "Disk").
 *
 * A disk stays attached for the pod's life once a container used it (the
 * next container of the same image finds it there). Each attached disk is
 * recorded as <state>/disks/<lun> holding the image's host path, so a
 * restarted uvmd knows them. Thread-safe: one attach at a time per pod (QMP
 * takes one client).
 */

#include "agent/client.h"
#include "common/error.h"

#define QDISKS_MAX 256 /* disks per pod */

struct qdisks;

typedef int (*qdisks_image_fn)(void *data, const char *layer_dir, char **ret_path,
                               struct uvm_error **err);

/* Load the records under state_dir/disks (made when missing). */
int qdisks_open(const char *state_dir, const char *qmp_sock, struct qdisks **ret,
                struct uvm_error **err);
struct qdisks *qdisks_free(struct qdisks *d);

/* For each layer dir: its disk image (image_of), attached and mounted in
 * the guest unless it is already; *ret (malloc'd, NULL-terminated) gets the
 * guest paths in the same order. A disk whose hot-plug failed is removed
 * from QEMU again; one that attached but did not mount stays recorded (a
 * later attach retries the mount). */
int qdisks_attach(struct qdisks *d, struct agent_client *agent, qdisks_image_fn image_of,
                  void *data, char *const *layers, char ***ret, struct uvm_error **err);

/* The guest path of lun (buf of at least 32 bytes). */
const char *qdisks_guest_path(unsigned lun, char *buf, size_t len);
