#pragma once

/*
 * What disks_test and shares_test share: two containers, ctr-a and ctr-b,
 * using a pod's numbered resources (refs.c's users: layer disks, Plan9
 * shares) with resource 0 in common, and the crash checks on them: uvmd
 * killed at each step of ctr-b's create (ctr-a made before) or of ctr-a's
 * delete (both made before), a new uvmd reattaching from the record as it
 * was then.
 */

#include <stdbool.h>
#include <stddef.h>

#include "sandbox/drivers/hcs/driver.h"

/* One kind of resource, as its test sees it. */
struct ctr_pair {
        const char *what;                 /* "disks": the printed line */
        const struct drv_ctr_spec *a, *b; /* ctr-a, ctr-b */
        /* The record in dir: its resources, ' '-separated, each
         * "n:<flags>/.../<ready>", and its users, "id:n,n" each. */
        void (*recorded)(const char *dir, char *res, size_t rsize, char *users, size_t usize);
        const int *host, *guest; /* the fakes' counts of them */
        const char *half[2];     /* found in the resources: one is half-made */
        const char *kept;        /* resource 0, whole: always kept */
        /* Recorded at a crash in ctr-b's create (ctr-a's delete): a
         * resource half-made, and the calls the reattach undoes it with. */
        const char *create_half, *create_undo[2];
        const char *delete_half, *delete_undo[2];
};

/* ctr_create (ctr_delete), which must succeed. */
void pair_create_ok(struct drv_pod *pod, const struct drv_ctr_spec *c);
void pair_delete_ok(struct drv_pod *pod, const char *id);
/* For fixture_crash_each: the crash at step n (0: none, the steps
 * counted) of ctr-b's create or ctr-a's delete; the reattached pod keeps
 * only whole resources, ctr-a's (ctr-b's) and resource 0 among them;
 * then the deletes leave nothing. */
void pair_crash_at(const struct ctr_pair *k, int n, bool deleting, int *ret_steps);
