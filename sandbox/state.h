#pragma once

/*
 * Pod and container state machines. A state changes only through
 * pod_state_check()/ctr_state_check(), which consult one allowed-transition
 * table per kind and log "pod <id>: A -> B"; the objects in sandbox.c call
 * them from pod_set_state()/ctr_set_state().
 */

#include <stdbool.h>

#include "common/error.h"

enum pod_state {
        POD_CREATING, /* RunPodSandbox in progress: name reserved, not listed as ready */
        POD_READY,    /* the UVM runs */
        POD_NOTREADY, /* stopped, failed or died */
        _POD_STATE_MAX,
};

enum ctr_state {
        CTR_CREATED,
        CTR_RUNNING,
        CTR_EXITED,
        CTR_UNKNOWN, /* after a restart, before the driver said what it is */
        _CTR_STATE_MAX,
};

const char *pod_state_to_string(enum pod_state s);
const char *ctr_state_to_string(enum ctr_state s);
int pod_state_from_string(const char *s, enum pod_state *ret);
int ctr_state_from_string(const char *s, enum ctr_state *ret);

bool pod_state_allowed(enum pod_state from, enum pod_state to);
bool ctr_state_allowed(enum ctr_state from, enum ctr_state to);

/* Move *state to `to` if the table allows it (logging the change with id as
 * context); -EBUSY with a message otherwise. Staying in the same state is
 * allowed and not logged. */
int pod_state_change(const char *id, enum pod_state *state, enum pod_state to,
                     struct uvm_error **err);
int ctr_state_change(const char *pod_id, const char *id, enum ctr_state *state, enum ctr_state to,
                     struct uvm_error **err);
