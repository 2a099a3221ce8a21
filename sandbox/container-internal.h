#pragma once

/* A container's insides, shared by container.c (registry, life cycle,
 * events, recovery), ctr_create.c and ctr_record.c. */

#include <pthread.h>

#include "sandbox/container.h"
#include "sandbox/sandbox-internal.h"

#define SBX_MAX_CTRS 16384

/* Signals as the agent's wire carries them: Linux's numbers, whatever the
 * host's (mingw has no SIGKILL). */
#define CTR_SIGTERM 15
#define CTR_SIGKILL 9

struct sbx_ctr {
        int refs;              /* atomic */
        pthread_mutex_t lock;  /* guards rec and log */
        pthread_cond_t cond;   /* rec.state changed */
        struct ctr_record rec; /* lock */
        struct crilog *log;    /* lock */
        struct sbx_pod *pod;   /* immutable, a reference */
        char *path;            /* immutable: the record file */
        int stop_signal;       /* immutable once created (a Linux number) */
        int64_t prev_ts;       /* lock: the last usage sample, for the CPU rate */
        uint64_t prev_cpu;     /* lock */
};

int64_t ctr_now_ns(void);
/* A reference to the container id_prefix names, which must be in state want
 * (-EBUSY, naming both states, when not). */
int ctr_find_in_state(struct sbx *s, const char *id_prefix, enum ctr_state want,
                      struct sbx_ctr **ret, struct uvm_error **err);
void ctr_unref(struct sbx_ctr *c);
void ctr_unrefp(struct sbx_ctr **c);
/* c->lock held (or c not yet shared). */
int ctr_save_locked(struct sbx_ctr *c, struct uvm_error **err);
/* Tell the event sink; c->lock held. */
void ctr_emit_locked(struct sbx_ctr *c, enum ctr_event ev);
void ctr_registry_drop(struct sbx *s, struct sbx_ctr *c);

/* The record file: written atomically; read back with every field checked
 * (-EINVAL for a damaged record, -EIO when unreadable). */
int ctr_record_write(const char *path, const struct ctr_record *r, struct uvm_error **err);
int ctr_record_load(const char *path, struct ctr_record *r);

/* --- mounts (ctr_mounts.c) --- */

struct img_store;

/* The record's copy of the request's mounts. */
int ctr_mounts_from(const Runtime__V1__ContainerConfig *cfg, struct ctr_mount **ret, size_t *ret_n,
                    struct uvm_error **err);
/* -EINVAL when a host path's mount cannot give the propagation asked for. */
int ctr_mounts_check_propagation(const struct ctr_mount *m, size_t n, struct uvm_error **err);
/* Hold the image of each image volume (its id goes into m[i].image_id) and
 * list its layers for the driver; on failure nothing is held. */
int ctr_image_volumes_take(struct img_store *images, const char *ctr_id, struct ctr_mount *m,
                           size_t n, struct drv_image_volume **ret, size_t *ret_n,
                           struct uvm_error **err);
void ctr_image_volumes_release(struct img_store *images, const char *ctr_id,
                               const struct ctr_mount *m, size_t n);
void ctr_image_volumes_free(struct drv_image_volume *v, size_t n);
/* After a restart: hold again what a reloaded container held. */
void ctr_image_hold(struct img_store *images, const char *image_id, const char *user);
void ctr_image_volumes_hold(struct img_store *images, const char *ctr_id, const struct ctr_mount *m,
                            size_t n);
