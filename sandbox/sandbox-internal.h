#pragma once

/* The registry's insides, shared by sandbox.c (pods) and container.c. */

#include <pthread.h>
#include <time.h>

#include "sandbox/container.h"
#include "sandbox/sandbox.h"

#define SBX_MAX_PODS 4096

struct sbx_pod {
        int refs;                /* atomic */
        pthread_mutex_t op_lock; /* serialises driver calls for this pod */
        pthread_mutex_t lock;    /* guards rec and drv below; never held across blocking work */
        struct pod_record rec;   /* lock */
        struct drv_pod *drv;     /* lock (written under op_lock too) */
        /* Held for reading by driver calls made outside op_lock (ExecSync),
         * for writing while drv is freed. */
        pthread_rwlock_t drv_rw;
        const struct drv_ops *ops; /* immutable */
        char *dir;                 /* immutable */
        char *userns_path;         /* immutable: <dir>/userns, pinned when rec.userns is set */
        struct drv_events events;  /* immutable */
        struct net *net;           /* immutable, may be NULL */
        struct sbx *sbx;           /* immutable: the registry it belongs to */
        char **unreadable;         /* recovery only: containers whose records were damaged */
        struct stream_io *streams; /* lock: Exec/Attach/PortForward sessions (stream.c) */
};

struct sbx {
        pthread_mutex_t lock; /* guards pods/n_pods */
        struct sbx_pod **pods;
        size_t n_pods;
        char *state_root, *oci_runtime;                       /* immutable */
        struct net *net;                                      /* immutable, may be NULL */
        struct img_store *images;                             /* immutable, may be NULL */
        char *images_root;                                    /* immutable, may be NULL */
        bool systemd_cgroups;                                 /* immutable */
        struct sbx_hooks hooks;                               /* immutable */
        struct sbx_driver_features features[SBX_MAX_DRIVERS]; /* immutable (names borrowed) */
        size_t n_features;

        /* atomic (__atomic builtins), by drv_at() index: sbx_driver_counts() */
        uint64_t crashes[SBX_MAX_DRIVERS], reattached[SBX_MAX_DRIVERS], lost[SBX_MAX_DRIVERS];

        /* containers: guarded by lock too (lock order: registry -> pod -> container) */
        struct sbx_ctr **ctrs;
        size_t n_ctrs;

        uint64_t list_gen; /* atomic: sbx_list_gen() (list.h) */
};

/* Bump the List generation (list.h): called after every change a List
 * answer can show has been made, never before it. */
void sbx_list_changed(struct sbx *s);

/* The features of a driver on this node (none when unlisted). */
struct sbx_driver_features sbx_features_of(const struct sbx *s, const char *driver);

/* CLOCK_REALTIME ms from now, for timed waits. */
struct timespec sbx_realtime_in(int64_t ms);

/* Take p->op_lock, waiting at most ms (-ETIMEDOUT after that): usage
 * queries must not queue behind a stuck pod for longer than their caller
 * is willing to wait. */
int pod_op_lock_within(struct sbx_pod *p, int64_t ms);

void pod_unref(struct sbx_pod *p);
void pod_unrefp(struct sbx_pod **p);
int pod_get_ref(struct sbx *s, const char *id_prefix, struct sbx_pod **ret, struct uvm_error **err);
void sbx_ctr_forget(struct sbx *s, struct sbx_ctr *c);
void sbx_ctr_recover_pod(struct sbx *s, struct sbx_pod *p);
void sbx_ctr_reconcile_pod(struct sbx *s, struct sbx_pod *p);
