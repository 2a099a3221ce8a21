/*
 * An hcs pod's layer disks, hcsshim's LCOW model: each image layer is a
 * read-only VHD attached to the VM over SCSI, mounted by the guest; a
 * container's rootfs is an overlay of them (the agent's). A disk is shared
 * by every container of the pod whose image has that layer: attached for
 * the first, removed after the last. Add: grant the VM access to the file,
 * HCS add, guest mount; remove: guest unmount, HCS remove. The record is
 * written before each step (driver-internal.h, struct hcs_disk), so a uvmd
 * killed in between finds what may exist (hcs_disks_settle).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/documents.h"
#include "sandbox/drivers/hcs/driver-internal.h"

_Static_assert(HCS_MAX_DISKS == HCS_SCSI_MAX_LUNS, "one controller's LUNs");
_Static_assert(HCS_MAX_CTR_LAYERS == HCS_HOSTED_MAX_LAYERS, "a hosted document's layers");

static void guest_path(unsigned lun, char *buf, size_t size)
{
        snprintf(buf, size, HCS_DISK_GUEST_ROOT "%u", lun);
}

static bool running(struct drv_pod *p)
{
        return p->created && p->guest && !hcs_pod_exited(p);
}

static void record(struct drv_pod *p)
{
        struct uvm_error *e = NULL;

        if (hcs_record_write(p, HCS_RECORD_READY, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
        }
}

static int host_disk(struct drv_pod *p, bool add, unsigned lun, struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL;
        char *result = NULL, what[96];
        int r;

        snprintf(what, sizeof(what), "%s layer disk at LUN %u of", add ? "attach" : "remove", lun);
        r = hcs_doc_scsi(add, lun, p->disks[lun].path, &doc, err);
        if (r < 0)
                return uvm_error_wrap(err, "%s %s", what, p->system_id);
        r = p->b->hcs->modify(p->sys, doc, p->b->cfg.create_timeout_ms, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, what, p->system_id);
        free(result);
        return 0;
}

/* Guest first, then host, each flag cleared once that side is gone (or
 * was never there: -ENOENT), the record written before each step; the
 * slot freed once both are. A VM that no longer runs took both with it.
 * The first failure, its side's flag kept. */
static int disk_remove(struct drv_pod *p, unsigned lun, struct uvm_error **err)
{
        struct hcs_disk *d = &p->disks[lun];
        struct uvm_error *e = NULL;
        char gp[32];
        int r;

        guest_path(lun, gp, sizeof(gp));
        d->ready = false;
        record(p);
        if (d->in_guest && running(p)) {
                r = p->b->guest->unmount_disk(p->guest, lun, gp, &e);
                if (r < 0 && r != -ENOENT) {
                        r = uvm_error_set(err, -r, "unmount layer disk %s in %s: %s", gp,
                                          p->system_id, e ? e->msg : strerror(-r));
                        uvm_error_free(e);
                        return r;
                }
                e = uvm_error_free(e);
        }
        d->in_guest = false;
        if (d->on_host && running(p)) {
                record(p);
                r = host_disk(p, false, lun, &e);
                if (r < 0 && r != -ENOENT) {
                        r = uvm_error_set(err, -r, "%s", e ? e->msg : strerror(-r));
                        uvm_error_free(e);
                        return r;
                }
                e = uvm_error_free(e);
        }
        d->on_host = false;
        free(d->path);
        d->path = NULL;
        record(p);
        return 0;
}

static void disk_remove_logged(struct drv_pod *p, unsigned lun)
{
        struct uvm_error *e = NULL;

        if (disk_remove(p, lun, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id,
                        e ? e->msg : "remove a layer disk failed");
                uvm_error_free(e);
        }
}

/* A new disk for path at a free LUN: granted, attached, mounted. On
 * failure what was done is removed again. */
static int disk_add(struct drv_pod *p, const char *path, unsigned *ret_lun, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        struct hcs_disk *d = NULL;
        char *result = NULL, gp[32];
        unsigned lun;
        int r;

        for (lun = 0; lun < HCS_MAX_DISKS && !d; lun++)
                if (!p->disks[lun].path)
                        d = &p->disks[lun];
        if (!d)
                return uvm_error_set(err, ENOSPC,
                                     "the VM %s has %u layer disks, its SCSI controller's "
                                     "limit: no LUN left for %s",
                                     p->system_id, HCS_MAX_DISKS, path);
        lun--;
        r = p->b->hcs->grant_vm_access(p->system_id, path, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, "grant access to layer disk for",
                                      p->system_id);
        free(result);
        *d = (struct hcs_disk){.path = strdup(path), .on_host = true};
        if (!d->path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0)
                r = host_disk(p, true, lun, err);
        if (r >= 0) {
                d->in_guest = true;
                guest_path(lun, gp, sizeof(gp));
                r = hcs_record_write(p, HCS_RECORD_READY, err);
                if (r >= 0 && (r = p->b->guest->mount_disk(p->guest, lun, gp, err)) < 0)
                        uvm_error_wrap(err, "mount layer disk %s at %s in %s", path, gp,
                                       p->system_id);
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

static size_t disk_users(struct drv_pod *p, unsigned lun)
{
        size_t n = 0;

        for (size_t i = 0; i < HCS_MAX_LAYER_CTRS; i++)
                for (size_t j = 0; p->users[i].id[0] && j < p->users[i].n_luns; j++)
                        n += p->users[i].luns[j] == lun;
        return n;
}

static struct hcs_layer_user *user_find(struct drv_pod *p, const char *ctr_id)
{
        for (size_t i = 0; i < HCS_MAX_LAYER_CTRS; i++)
                if (p->users[i].id[0] && STR_EQ(p->users[i].id, ctr_id))
                        return &p->users[i];
        return NULL;
}

/* The disk of one layer, for user u: the pod's, or a new one. A disk a
 * removal left behind (not ready) is removed first. */
static int layer_disk(struct drv_pod *p, struct hcs_layer_user *u, const char *path,
                      struct uvm_error **err)
{
        int found = disk_find(p, path);
        unsigned lun = 0;
        int r;

        if (found >= 0 && !p->disks[found].ready && disk_users(p, (unsigned) found) == 0) {
                r = disk_remove(p, (unsigned) found, err);
                if (r < 0)
                        return uvm_error_wrap(err, "a layer disk left behind");
                found = -1;
        }
        if (found >= 0) {
                lun = (unsigned) found;
        } else {
                r = disk_add(p, path, &lun, err);
                if (r < 0)
                        return r;
        }
        u->luns[u->n_luns++] = (uint8_t) lun;
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
        if (n && user_find(p, ctr_id))
                return uvm_error_set(err, EEXIST, "container %s has layer disks already", ctr_id);
        *ret_n = n;
        return 0;
}

static int guest_paths(const struct hcs_layer_user *u, char ***ret, struct uvm_error **err)
{
        char **v = calloc(u->n_luns + 1, sizeof(char *));
        char gp[32];

        for (size_t i = 0; v && i < u->n_luns; i++) {
                guest_path(u->luns[i], gp, sizeof(gp));
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
        struct hcs_layer_user *u = NULL;
        size_t n = 0;
        int r;

        *ret_paths = NULL;
        r = check_layers(p, ctr_id, layers, &n, err);
        if (r < 0 || n == 0)
                return r;
        for (size_t i = 0; i < HCS_MAX_LAYER_CTRS && !u; i++)
                if (!p->users[i].id[0])
                        u = &p->users[i];
        if (!u)
                return uvm_error_set(err, ENOSPC,
                                     "pod %s has %d containers with layer disks: no more", p->id,
                                     HCS_MAX_LAYER_CTRS);
        *u = (struct hcs_layer_user){0};
        memcpy(u->id, ctr_id, strlen(ctr_id) + 1);
        for (size_t i = 0; i < n; i++) {
                r = layer_disk(p, u, layers[i], err);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0)
                r = guest_paths(u, ret_paths, err);
        if (r < 0) {
                hcs_disks_release(p, ctr_id);
                return uvm_error_wrap(err, "layer disks of container %s", ctr_id);
        }
        return 0;
}

void hcs_disks_release(struct drv_pod *p, const char *ctr_id)
{
        struct hcs_layer_user *u = user_find(p, ctr_id);
        struct hcs_layer_user was;

        if (!u)
                return;
        was = *u;
        *u = (struct hcs_layer_user){0};
        record(p);
        for (size_t i = was.n_luns; i-- > 0;) {
                unsigned lun = was.luns[i];

                if (p->disks[lun].path && disk_users(p, lun) == 0)
                        disk_remove_logged(p, lun);
        }
}

void hcs_disks_remove_all(struct drv_pod *p)
{
        memset(p->users, 0, sizeof(p->users));
        for (unsigned lun = HCS_MAX_DISKS; lun-- > 0;)
                if (p->disks[lun].path) {
                        disk_remove_logged(p, lun);
                        /* The VM's end drops it anyway. */
                        free(p->disks[lun].path);
                        p->disks[lun] = (struct hcs_disk){0};
                }
}

void hcs_disks_settle(struct drv_pod *p)
{
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++) {
                if (!p->disks[lun].path || p->disks[lun].ready)
                        continue;
                for (size_t i = 0; i < HCS_MAX_LAYER_CTRS; i++)
                        for (size_t j = 0; p->users[i].id[0] && j < p->users[i].n_luns; j++)
                                if (p->users[i].luns[j] == lun) {
                                        log_pod(LOG_LEVEL_INFO, p->id,
                                                "hcs pod %s: container %s's create did not "
                                                "finish: its layer disks are not counted",
                                                p->id, p->users[i].id);
                                        p->users[i] = (struct hcs_layer_user){0};
                                        break;
                                }
        }
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++)
                if (p->disks[lun].path && (!p->disks[lun].ready || disk_users(p, lun) == 0))
                        disk_remove_logged(p, lun);
}

void hcs_disks_clear(struct drv_pod *p)
{
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++) {
                free(p->disks[lun].path);
                p->disks[lun] = (struct hcs_disk){0};
        }
}
