#pragma once

/*
 * The pod registry: id -> pod, with one lock for membership and one per pod.
 * Lock order: registry -> pod. The registry lock is never held across
 * driver calls; a pod's op_lock serialises the driver calls of one pod (the
 * driver contract), its lock guards its state and is held only briefly, so
 * List/Status never wait on a busy pod.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/driver.h"
#include "sandbox/record.h"

struct sbx;

struct sbx_options {
        const char *state_root; /* pods live in <state_root>/pods/<id> */
        const char *oci_runtime;
};

int sbx_new(const struct sbx_options *o, struct sbx **ret, struct uvm_error **err);
struct sbx *sbx_free(struct sbx *s);

/* Run a pod from rec (id filled in here, state ignored). Name uniqueness:
 * name+namespace+uid+attempt -> -EEXIST. On failure nothing is left. */
int sbx_pod_run(struct sbx *s, const struct pod_record *rec, char **ret_id, struct uvm_error **err);
/* Idempotent: a missing pod is success. */
int sbx_pod_stop(struct sbx *s, const char *id_prefix, uint32_t timeout_ms, struct uvm_error **err);
int sbx_pod_remove(struct sbx *s, const char *id_prefix, struct uvm_error **err);

/* A copy of the pod's record as of now (never waits on a busy pod). */
int sbx_pod_get(struct sbx *s, const char *id_prefix, struct pod_record *ret,
                struct uvm_error **err);
size_t sbx_pod_count(struct sbx *s);
