#pragma once

/*
 * Listing pods and containers without copying their records.
 *
 * The kubelet lists every second, so a list must cost what its answer
 * costs, not a deep copy of every record (ids, metadata, labels,
 * annotations, mounts, ...) that is then mostly filtered away. The caller
 * gives keep(), which decides on the live record whether it is wanted, and
 * visit(), which copies out of a kept record only what the answer needs
 * (the CRI layer: straight into the call's arena, which is freed in one go).
 *
 * Both run with the record's own lock held (a pod's or a container's short
 * lock, never its op_lock, so a busy pod does not hold up a list; the
 * registry lock only while references are taken). So they must be short:
 * no blocking, no calls back into the sandbox layer, and no pointer into the
 * record kept past their return.
 */

#include <stdbool.h>

#include "common/error.h"
#include "sandbox/container.h"
#include "sandbox/record.h"

struct sbx;

/* arg is the same for keep and visit. keep NULL: every record. visit
 * returns >= 0 to go on, -errno to stop the walk. */
typedef bool (*sbx_pod_keep_fn)(const struct pod_record *r, const void *arg);
typedef int (*sbx_pod_visit_fn)(const struct pod_record *r, void *arg);
typedef bool (*sbx_ctr_keep_fn)(const struct ctr_record *r, const void *arg);
typedef int (*sbx_ctr_visit_fn)(const struct ctr_record *r, void *arg);

/* Visit each pod (container) keep() accepts, in no set order. Returns how
 * many were visited, or the first -errno visit() returned (err says so);
 * -ENOMEM when the references could not be taken. */
int sbx_pod_each(struct sbx *s, sbx_pod_keep_fn keep, sbx_pod_visit_fn visit, void *arg,
                 struct uvm_error **err);
int sbx_ctr_each(struct sbx *s, sbx_ctr_keep_fn keep, sbx_ctr_visit_fn visit, void *arg,
                 struct uvm_error **err);

/* The List generation: it moves after every change a List answer can show
 * (a pod or container registered or dropped, a state change, a container's
 * image id), once the change is visible to a walk. So an answer built by a
 * walk begun after reading generation g is still the answer while this
 * returns g; read it before the walk, and a change during the walk makes
 * the answer stale, never wrongly current. */
uint64_t sbx_list_gen(struct sbx *s);
