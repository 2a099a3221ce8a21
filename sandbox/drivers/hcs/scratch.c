/*
 * A container's scratch disk, hcsshim's LCOW model: a VHD per container,
 * attached read-write over SCSI, formatted by the guest when blank and
 * mounted where the container's overlay upper and work dirs go (the
 * hosted document's ScratchDirPath), so its writes take the host's disk,
 * not the VM's memory. The file is <state dir>/scratch-<id>.vhd, a sparse
 * fixed VHD of the binding's scratch_size_gb; the disk is one of disks.c's
 * (hcs_disk_add: file, grant, HCS add, guest mount, each recorded before
 * it runs), its owner the container, removed by its delete, the pod's
 * stop or a reattach that finds it unfinished.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "image/vhd.h"
#include "sandbox/drivers/hcs/driver-internal.h"

static int scratch_find(struct drv_pod *p, const char *ctr_id)
{
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++)
                if (p->disks[lun].scratch_of && STR_EQ(p->disks[lun].scratch_of, ctr_id))
                        return (int) lun;
        return -1;
}

int hcs_scratch_file(struct drv_pod *p, const char *path, struct uvm_error **err)
{
        int r = img_vhd_create_sparse(path, (uint64_t) p->b->cfg.scratch_size_gb << 30, err);

        return r < 0 ? uvm_error_wrap(err, "scratch disk of pod %s", p->id) : 0;
}

int hcs_scratch_attach(struct drv_pod *p, const char *ctr_id, char **ret_path,
                       struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *gp = NULL;
        unsigned lun;
        int r;

        *ret_path = NULL;
        if (p->b->cfg.scratch_size_gb == 0 || !p->b->guest->mount_scratch)
                return 0;
        if (STR_EMPTY(ctr_id) || strlen(ctr_id) > HCS_CTR_ID_MAX || strpbrk(ctr_id, "/\\:"))
                return uvm_error_set(err, EINVAL, "container id '%.64s' is not usable",
                                     ctr_id ? ctr_id : "");
        if (scratch_find(p, ctr_id) >= 0)
                return uvm_error_set(err, EEXIST, "container %s has a scratch disk already",
                                     ctr_id);
        /* A Windows path, as HCS takes it (the state dir is one there). */
        if (asprintf(&path, "%s\\scratch-%s.vhd", p->state_dir, ctr_id) < 0 ||
            asprintf(&gp, HCS_SCRATCH_GUEST_ROOT "%s", ctr_id) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = hcs_disk_add(p, path, ctr_id, &lun, err);
        if (r < 0)
                return uvm_error_wrap(err, "scratch disk of container %s", ctr_id);
        r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r < 0) {
                hcs_disk_remove_logged(p, lun);
                return uvm_error_wrap(err, "scratch disk of container %s", ctr_id);
        }
        *ret_path = TAKE_PTR(gp);
        return 0;
}

void hcs_scratch_release(struct drv_pod *p, const char *ctr_id)
{
        int lun = ctr_id ? scratch_find(p, ctr_id) : -1;

        if (lun >= 0)
                hcs_disk_remove_logged(p, (unsigned) lun);
}
