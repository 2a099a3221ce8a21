#pragma once

/*
 * What disks.c and shares.c share: a pod's resources by number (a disk's
 * LUN, a share's slot), each shared by the containers that list it, made
 * for the first and removed after the last. A table of those containers
 * ("users": id -> numbers), the counting, a container's release, the
 * pod's remove-all and a reattach's settle, and the table's record.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HCS_CTR_ID_MAX 128
#define HCS_REFS_MAX_USERS 64 /* containers in one table */
#define HCS_REFS_MAX_NUMS 128 /* numbers of one container */

/* A container's use: its id and its numbers (a disk's LUN, a share's
 * slot), in its order. */
struct hcs_ref_user {
        char id[HCS_CTR_ID_MAX + 1]; /* "": slot free */
        uint8_t nums[HCS_REFS_MAX_NUMS];
        size_t n;
};

struct hcs_refs {
        struct hcs_ref_user u[HCS_REFS_MAX_USERS];
};

struct drv_pod;
struct json_object;

/* One kind of resource, as the table's functions see it. */
struct hcs_refs_ops {
        unsigned max;          /* numbers: 0..max-1 */
        size_t max_per_user;   /* a record's user has at most this many */
        const char *plural;    /* "layer disks": the settle's log */
        const char *one;       /* "layer disk": "a <one> left behind" */
        const char *fallback;  /* the log when a removal says nothing */
        const char *json_nums; /* a user's record key: "luns" */
        bool (*exists)(struct drv_pod *p, unsigned n);
        bool (*ready)(struct drv_pod *p, unsigned n);
        /* Whether users count it (a scratch disk: no); NULL: all. */
        bool (*counted)(struct drv_pod *p, unsigned n);
        int (*remove)(struct drv_pod *p, unsigned n, struct uvm_error **err);
        /* Its memory freed, the number free (after remove-all's removal). */
        void (*forget)(struct drv_pod *p, unsigned n);
        /* hcs_refs_unplug's steps: the guest's unmount, the host's HCS
         * remove. Each returns the call's -errno, -ENOENT when that side
         * was gone already. */
        int (*guest_off)(struct drv_pod *p, unsigned n, struct uvm_error **err);
        int (*host_off)(struct drv_pod *p, unsigned n, struct uvm_error **err);
};

/* A resource's flags (struct hcs_disk's, hcs_share's). */
struct hcs_ref_flags {
        bool *ready, *in_guest, *on_host;
};

struct hcs_ref_user *hcs_refs_find(struct hcs_refs *t, const char *id);
/* A free entry for id (no longer than HCS_CTR_ID_MAX), empty; NULL when
 * the table is full. */
struct hcs_ref_user *hcs_refs_new(struct hcs_refs *t, const char *id);
/* How many users list n. */
size_t hcs_refs_users_of(const struct hcs_refs *t, unsigned n);
/* The pod's record written (HCS_RECORD_READY), a failure logged. */
void hcs_refs_record(struct drv_pod *p);
/* Resource n not ready, then taken out of the guest, then off the host:
 * each flag cleared once its side is gone (or was never there: -ENOENT),
 * the record written before each step. A VM that no longer runs took both
 * with it. The first failure, its side's flag kept. */
int hcs_refs_unplug(struct drv_pod *p, const struct hcs_refs_ops *ops, unsigned n,
                    struct hcs_ref_flags f, struct uvm_error **err);
/* ops->remove, a failure logged. */
void hcs_refs_remove_logged(struct drv_pod *p, const struct hcs_refs_ops *ops, unsigned n);
/* A found (>= 0) resource a removal left behind (not ready, no users) is
 * removed, *found -1 then: the caller adds a new one. */
int hcs_refs_reuse(struct drv_pod *p, const struct hcs_refs *t, const struct hcs_refs_ops *ops,
                   int *found, struct uvm_error **err);
/* Container id forgotten (the record written), then each of its
 * resources nobody else uses removed, last first. */
void hcs_refs_release(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops,
                      const char *id);
/* Every user forgotten, every resource removed (last first) and forgotten. */
void hcs_refs_remove_all(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops);
/* After a reattach: a user of a resource not ready is not counted (its
 * create did not finish); then resources not ready, or counted and
 * without users, are removed. */
void hcs_refs_settle(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops);
/* The record: array key of o, [{"<json_nums>": [n, ...], "id"}, ...]. */
int hcs_refs_record_add(const struct hcs_refs *t, const struct hcs_refs_ops *ops,
                        struct json_object *o, const char *key);
/* Array key of o (none: no users) into t: each id once, each number an
 * existing resource. -EINVAL when malformed. */
int hcs_refs_record_read(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops,
                         struct json_object *o, const char *key);
