/*
 * An hcs pod's layer disks, hcsshim's LCOW model: each image layer is a
 * read-only VHD attached to the VM over SCSI, mounted by the guest; a
 * container's rootfs is an overlay of them (the agent's). A disk is shared
 * by every container of the pod whose image has that layer: attached for
 * the first, removed after the last. Add: grant the VM access to the file,
 * HCS add, guest mount; remove: guest unmount, HCS remove, the grant
 * revoked (also at the pod's stop for a disk whose removal failed). The record is
 * written before each step (driver-internal.h, struct hcs_disk), so a uvmd
 * killed in between finds what may exist (hcs_disks_settle). A
 * container's scratch disk (scratch.c) goes the same way, read-write, its
 * file made before and deleted after.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "sandbox/drivers/hcs/documents.h"
#include "sandbox/drivers/hcs/driver-internal.h"

_Static_assert(HCS_MAX_DISKS == HCS_SCSI_MAX_LUNS, "one controller's LUNs");
_Static_assert(HCS_MAX_CTR_LAYERS == HCS_HOSTED_MAX_LAYERS, "a hosted document's layers");

#define GUEST_PATH_MAX (sizeof(HCS_SCRATCH_GUEST_ROOT) + HCS_CTR_ID_MAX + 1)

static void guest_path(const struct hcs_disk *d, unsigned lun, char *buf, size_t size)
{
        if (d->scratch_of)
                snprintf(buf, size, HCS_SCRATCH_GUEST_ROOT "%s", d->scratch_of);
        else
                snprintf(buf, size, HCS_DISK_GUEST_ROOT "%u", lun);
}

static const char *kind(const struct hcs_disk *d)
{
        return d->scratch_of ? "scratch" : "layer";
}

static int host_disk(struct drv_pod *p, bool add, unsigned lun, struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL;
        char *result = NULL, what[96];
        int r;

        snprintf(what, sizeof(what), "%s %s disk at LUN %u of", add ? "attach" : "remove",
                 kind(&p->disks[lun]), lun);
        r = hcs_doc_scsi(add, lun, p->disks[lun].path, !p->disks[lun].scratch_of, &doc, err);
        if (r < 0)
                return uvm_error_wrap(err, "%s %s", what, p->system_id);
        r = p->b->hcs->modify(p->sys, doc, p->b->cfg.create_timeout_ms, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, what, p->system_id);
        free(result);
        return 0;
}

static int disk_unmount(struct drv_pod *p, unsigned lun, struct uvm_error **err)
{
        const struct hcs_disk *d = &p->disks[lun];
        char gp[GUEST_PATH_MAX];
        int r;

        guest_path(d, lun, gp, sizeof(gp));
        r = p->b->guest->unmount_disk(p->guest, lun, gp, err);
        if (r < 0) {
                uvm_error_set(err, -r, "%s", strerror(-r)); /* when the guest said nothing */
                uvm_error_wrap(err, "unmount %s disk %s in %s", kind(d), gp, p->system_id);
        }
        return r;
}

static int disk_detach(struct drv_pod *p, unsigned lun, struct uvm_error **err)
{
        return host_disk(p, false, lun, err);
}

/* The VM's entry taken out of the VHD's ACL, once the VM no longer has
 * the disk. A failure is logged, not returned: the disk is off the VM (or
 * the VM is gone) and an entry left behind lets only that VM's account,
 * which goes with the VM, open the file; failing the removal would keep
 * the LUN, and a scratch's file, for nothing. */
static void disk_revoke(struct drv_pod *p, struct hcs_disk *d)
{
        struct uvm_error *e = NULL;
        char *result = NULL;
        int r;

        if (d->ungranted)
                return;
        r = p->b->hcs->revoke_vm_access(p->system_id, d->path, &result);
        if (r < 0) {
                hcs_call_error(&e, r, result, "revoke access to a disk for", p->system_id);
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s (%s), ignoring", p->id, e->msg,
                        d->path);
                uvm_error_free(e);
        } else {
                free(result);
        }
        d->ungranted = true;
}

/* hcs_refs_unplug, the grant revoked, then a scratch's file deleted; the
 * LUN freed once all are gone. The first failure, its step's flag kept. */
static int disk_remove(struct drv_pod *p, unsigned lun, struct uvm_error **err)
{
        struct hcs_disk *d = &p->disks[lun];
        struct hcs_ref_flags f = {&d->ready, &d->in_guest, &d->on_host};
        int r = hcs_refs_unplug(p, &hcs_disk_refs, lun, f, err);

        if (r < 0)
                return r;
        disk_revoke(p, d);
        if (d->file) {
                hcs_refs_record(p);
                r = plat_rm_rf(d->path);
                if (r < 0 && r != -ENOENT)
                        return uvm_error_set(err, -r, "delete scratch disk %s: %s", d->path,
                                             strerror(-r));
        }
        d->file = false;
        free(d->path);
        free(d->scratch_of);
        *d = (struct hcs_disk){0};
        hcs_refs_record(p);
        return 0;
}

static bool disk_exists(struct drv_pod *p, unsigned lun)
{
        return p->disks[lun].path != NULL;
}

static bool disk_ready(struct drv_pod *p, unsigned lun)
{
        return p->disks[lun].ready;
}

/* A ready scratch disk is its container's, whatever layers it has. */
static bool disk_counted(struct drv_pod *p, unsigned lun)
{
        return !p->disks[lun].scratch_of;
}

static void disk_forget(struct drv_pod *p, unsigned lun)
{
        free(p->disks[lun].path);
        free(p->disks[lun].scratch_of);
        p->disks[lun] = (struct hcs_disk){0};
}

/* Remove-all's end for a disk whose removal failed: the VM's end takes the
 * disk, not the file's ACL entry. */
static void disk_drop(struct drv_pod *p, unsigned lun)
{
        if (p->disks[lun].path)
                disk_revoke(p, &p->disks[lun]);
        disk_forget(p, lun);
}

const struct hcs_refs_ops hcs_disk_refs = {
        .max = HCS_MAX_DISKS,
        .max_per_user = HCS_MAX_CTR_LAYERS,
        .plural = "layer disks",
        .one = "layer disk",
        .fallback = "remove a disk failed",
        .json_nums = "luns",
        .exists = disk_exists,
        .ready = disk_ready,
        .counted = disk_counted,
        .remove = disk_remove,
        .forget = disk_drop,
        .guest_off = disk_unmount,
        .host_off = disk_detach,
};

void hcs_disk_remove_logged(struct drv_pod *p, unsigned lun)
{
        hcs_refs_remove_logged(p, &hcs_disk_refs, lun);
}

/* A scratch's file (recorded first: it may exist from then on). */
static int scratch_file(struct drv_pod *p, struct hcs_disk *d, struct uvm_error **err)
{
        int r;

        if (!d->scratch_of)
                return 0;
        d->file = true;
        r = hcs_record_write(p, HCS_RECORD_READY, err);
        return r < 0 ? r : hcs_scratch_file(p, d->path, err);
}

/* The grant, the disk recorded before it (a scratch's is, for its file):
 * a uvmd killed right after it finds the disk and revokes it. */
static int disk_grant(struct drv_pod *p, struct hcs_disk *d, struct uvm_error **err)
{
        char *result = NULL;
        int r = d->file ? 0 : hcs_record_write(p, HCS_RECORD_READY, err);

        if (r < 0)
                return r;
        r = p->b->hcs->grant_vm_access(p->system_id, d->path, &result);
        if (r < 0)
                return hcs_call_error(err, r, result,
                                      d->scratch_of ? "grant access to scratch disk for"
                                                    : "grant access to layer disk for",
                                      p->system_id);
        free(result);
        d->ungranted = false;
        return 0;
}

static int disk_mount(struct drv_pod *p, struct hcs_disk *d, unsigned lun, struct uvm_error **err)
{
        char gp[GUEST_PATH_MAX];
        int r;

        d->in_guest = true;
        guest_path(d, lun, gp, sizeof(gp));
        r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0 && (r = d->scratch_of ? p->b->guest->mount_scratch(p->guest, lun, gp, err)
                                         : p->b->guest->mount_disk(p->guest, lun, gp, err)) < 0)
                uvm_error_wrap(err, "mount %s disk %s at %s in %s", kind(d), d->path, gp,
                               p->system_id);
        return r;
}

int hcs_disk_add(struct drv_pod *p, const char *path, const char *scratch_of, unsigned *ret_lun,
                 struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        struct hcs_disk *d = NULL;
        unsigned lun;
        int r;

        for (lun = 0; lun < HCS_MAX_DISKS && !d; lun++)
                if (!p->disks[lun].path)
                        d = &p->disks[lun];
        if (!d)
                return uvm_error_set(err, ENOSPC,
                                     "the VM %s has %u disks, its SCSI controller's "
                                     "limit: no LUN left for %s",
                                     p->system_id, HCS_MAX_DISKS, path);
        lun--;
        *d = (struct hcs_disk){.path = strdup(path),
                               .scratch_of = scratch_of ? strdup(scratch_of) : NULL,
                               .ungranted = true};
        if (!d->path || (scratch_of && !d->scratch_of)) {
                free(d->path);
                free(d->scratch_of);
                *d = (struct hcs_disk){0};
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = scratch_file(p, d, err);
        if (r >= 0)
                r = disk_grant(p, d, err);
        if (r < 0 && !d->file) { /* nothing made: the slot is free again */
                disk_forget(p, lun);
                hcs_refs_record(p);
                return r;
        }
        if (r >= 0) {
                d->on_host = true;
                r = hcs_record_write(p, HCS_RECORD_READY, err);
                if (r >= 0)
                        r = host_disk(p, true, lun, err);
                if (r >= 0)
                        r = disk_mount(p, d, lun, err);
        }
        if (r < 0) {
                if (disk_remove(p, lun, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                        uvm_error_free(e);
                }
                return r;
        }
        d->ready = true;
        *ret_lun = lun;
        return 0;
}

static int disk_find(struct drv_pod *p, const char *path)
{
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++)
                if (p->disks[lun].path && STR_EQ(p->disks[lun].path, path))
                        return (int) lun;
        return -1;
}

/* The disk of one layer, for user u: the pod's, or a new one. A disk a
 * removal left behind (not ready) is removed first. */
static int layer_disk(struct drv_pod *p, struct hcs_ref_user *u, const char *path,
                      struct uvm_error **err)
{
        int found = disk_find(p, path);
        unsigned lun = 0;
        int r;

        r = hcs_refs_reuse(p, &p->users, &hcs_disk_refs, &found, err);
        if (r < 0)
                return r;
        if (found >= 0) {
                lun = (unsigned) found;
        } else {
                r = hcs_disk_add(p, path, NULL, &lun, err);
                if (r < 0)
                        return r;
        }
        u->nums[u->n++] = (uint8_t) lun;
        return 0;
}

static int check_layers(struct drv_pod *p, const char *ctr_id, char *const *layers, size_t *ret_n,
                        struct uvm_error **err)
{
        size_t n = 0;

        while (layers && layers[n])
                n++;
        if (n > HCS_MAX_CTR_LAYERS)
                return uvm_error_set(err, EINVAL, "container %s has %zu layers: at most %u", ctr_id,
                                     n, HCS_MAX_CTR_LAYERS);
        if (strlen(ctr_id) > HCS_CTR_ID_MAX)
                return uvm_error_set(err, EINVAL, "container id '%.64s' is too long", ctr_id);
        if (n && hcs_refs_find(&p->users, ctr_id))
                return uvm_error_set(err, EEXIST, "container %s has layer disks already", ctr_id);
        *ret_n = n;
        return 0;
}

static int guest_paths(struct drv_pod *p, const struct hcs_ref_user *u, char ***ret,
                       struct uvm_error **err)
{
        char **v = calloc(u->n + 1, sizeof(char *));
        char gp[GUEST_PATH_MAX];

        for (size_t i = 0; v && i < u->n; i++) {
                guest_path(&p->disks[u->nums[i]], u->nums[i], gp, sizeof(gp));
                if (!(v[i] = strdup(gp))) {
                        strv_free(v);
                        v = NULL;
                }
        }
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = v;
        return 0;
}

int hcs_disks_attach(struct drv_pod *p, const char *ctr_id, char *const *layers, char ***ret_paths,
                     struct uvm_error **err)
{
        struct hcs_ref_user *u = NULL;
        size_t n = 0;
        int r;

        *ret_paths = NULL;
        r = check_layers(p, ctr_id, layers, &n, err);
        if (r < 0 || n == 0)
                return r;
        u = hcs_refs_new(&p->users, ctr_id);
        if (!u)
                return uvm_error_set(err, ENOSPC,
                                     "pod %s has %d containers with layer disks: no more", p->id,
                                     HCS_MAX_LAYER_CTRS);
        for (size_t i = 0; i < n; i++) {
                r = layer_disk(p, u, layers[i], err);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0)
                r = guest_paths(p, u, ret_paths, err);
        if (r < 0) {
                hcs_disks_release(p, ctr_id);
                return uvm_error_wrap(err, "layer disks of container %s", ctr_id);
        }
        return 0;
}

void hcs_disks_release(struct drv_pod *p, const char *ctr_id)
{
        hcs_refs_release(p, &p->users, &hcs_disk_refs, ctr_id);
}

/* The VM's end drops it anyway; a scratch file that would not go is left
 * (logged). */
void hcs_disks_remove_all(struct drv_pod *p)
{
        hcs_refs_remove_all(p, &p->users, &hcs_disk_refs);
}

void hcs_disks_settle(struct drv_pod *p)
{
        hcs_refs_settle(p, &p->users, &hcs_disk_refs);
}

void hcs_disks_clear(struct drv_pod *p)
{
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++)
                disk_forget(p, lun);
}
