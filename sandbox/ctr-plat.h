#pragma once

/*
 * The container half of the sandbox layer is portable (container.c: the
 * registry, the state machine, records, driver calls, events, recovery;
 * ctr_create.c: the create sequence). What a container gets from its host
 * besides its pod's driver comes through these calls, one file per
 * platform:
 *
 *   ctr_linux.c  the image (held in the store), its user, the hardened OCI
 *                spec (spec.h), CRI mounts and image volumes, the pod's
 *                hosts/resolv.conf/hostname, the CRI log file;
 *   ctr_win.c    an image already in the node's store (read only: pulls
 *                are not in the Windows build), a plain OCI spec, no
 *                mounts; the CRI log file (log.h is shared).
 *
 * Nothing here takes the pod's op_lock; c->lock where said.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/container-internal.h"
#include "sandbox/driver.h"
#include "sandbox/phase.h"

/* What ctr_plat_prepare made for the driver's ctr_create. */
struct ctr_plat_made {
        char **layers;       /* NULL-terminated, may be NULL */
        char *oci_spec_json; /* the OCI config.json */
        struct drv_image_volume *vols;
        size_t n_vols;
        /* The user for the agent to resolve in the VM (ctr_win.c), with its
         * groups in the same allocation; NULL: c->rec.user is final. */
        struct user_db_req *user;
};

/* Everything before the record is written: the image (c->rec.image_id is
 * set under c->lock, and the List generation bumped, once it is held),
 * c->stop_signal, the record's user, mounts and resources, the log. On
 * failure the caller calls ctr_plat_release; ret is cleared by
 * ctr_plat_made_clear either way. */
int ctr_plat_prepare(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                     struct phase_clock *pc, struct ctr_plat_made *ret, struct uvm_error **err);
void ctr_plat_made_clear(struct ctr_plat_made *m);

/* Give back what prepare (or ctr_plat_recovered) held for c: its image and
 * image volumes. Idempotent. */
void ctr_plat_release(struct sbx *s, struct sbx_ctr *c);

/* A container reloaded after a restart: hold its images again, reopen its
 * log. Recovery runs before serving: no lock. */
void ctr_plat_recovered(struct sbx *s, struct sbx_ctr *c);

/* The CRI log (c->log), c->lock held. write/flush/reopen do nothing
 * without a log. */
void ctr_plat_log_write(struct sbx_ctr *c, enum drv_stream stream, const char *buf, size_t len);
void ctr_plat_log_flush(struct sbx_ctr *c);
int ctr_plat_log_reopen(struct sbx_ctr *c, struct uvm_error **err);
void ctr_plat_log_close(struct sbx_ctr *c);

/* A record file removed (a missing one is fine, other failures logged). */
void ctr_plat_unlink(const char *path);
