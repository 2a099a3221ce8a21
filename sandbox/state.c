#include <string.h>

#include "common/log.h"
#include "sandbox/state.h"

static const char *const pod_names[_POD_STATE_MAX] = {
        [POD_CREATING] = "creating",
        [POD_READY] = "ready",
        [POD_NOTREADY] = "notready",
};

static const char *const ctr_names[_CTR_STATE_MAX] = {
        [CTR_CREATED] = "created",
        [CTR_RUNNING] = "running",
        [CTR_EXITED] = "exited",
        [CTR_UNKNOWN] = "unknown",
};

/* pod_moves[from][to]: a stopped pod never comes back (CRI creates a new
 * sandbox with attempt+1 instead). */
static const bool pod_moves[_POD_STATE_MAX][_POD_STATE_MAX] = {
        [POD_CREATING] = {[POD_READY] = true, [POD_NOTREADY] = true},
        [POD_READY] = {[POD_NOTREADY] = true},
};

/* A container may exit without having run (start failed, pod died); an
 * unknown one becomes whatever the driver reports after a restart. */
static const bool ctr_moves[_CTR_STATE_MAX][_CTR_STATE_MAX] = {
        [CTR_CREATED] = {[CTR_RUNNING] = true, [CTR_EXITED] = true, [CTR_UNKNOWN] = true},
        [CTR_RUNNING] = {[CTR_EXITED] = true, [CTR_UNKNOWN] = true},
        [CTR_UNKNOWN] = {[CTR_CREATED] = true, [CTR_RUNNING] = true, [CTR_EXITED] = true},
};

const char *pod_state_to_string(enum pod_state s)
{
        return s >= 0 && s < _POD_STATE_MAX ? pod_names[s] : "invalid";
}

const char *ctr_state_to_string(enum ctr_state s)
{
        return s >= 0 && s < _CTR_STATE_MAX ? ctr_names[s] : "invalid";
}

static int lookup(const char *const *names, int n, const char *s)
{
        for (int i = 0; s && i < n; i++)
                if (STR_EQ(names[i], s))
                        return i;
        return -EINVAL;
}

int pod_state_from_string(const char *s, enum pod_state *ret)
{
        int i = lookup(pod_names, _POD_STATE_MAX, s);

        if (i < 0)
                return i;
        *ret = (enum pod_state) i;
        return 0;
}

int ctr_state_from_string(const char *s, enum ctr_state *ret)
{
        int i = lookup(ctr_names, _CTR_STATE_MAX, s);

        if (i < 0)
                return i;
        *ret = (enum ctr_state) i;
        return 0;
}

bool pod_state_allowed(enum pod_state from, enum pod_state to)
{
        if (from < 0 || from >= _POD_STATE_MAX || to < 0 || to >= _POD_STATE_MAX)
                return false;
        return from == to || pod_moves[from][to];
}

bool ctr_state_allowed(enum ctr_state from, enum ctr_state to)
{
        if (from < 0 || from >= _CTR_STATE_MAX || to < 0 || to >= _CTR_STATE_MAX)
                return false;
        return from == to || ctr_moves[from][to];
}

int pod_state_change(const char *id, enum pod_state *state, enum pod_state to,
                     struct uvm_error **err)
{
        if (!pod_state_allowed(*state, to))
                return uvm_error_set(err, EBUSY, "pod %s is %s, it cannot become %s", id,
                                     pod_state_to_string(*state), pod_state_to_string(to));
        if (*state != to)
                log_pod(LOG_LEVEL_INFO, id, "pod %s: %s -> %s", id, pod_state_to_string(*state),
                        pod_state_to_string(to));
        *state = to;
        return 0;
}

int ctr_state_change(const char *pod_id, const char *id, enum ctr_state *state, enum ctr_state to,
                     struct uvm_error **err)
{
        if (!ctr_state_allowed(*state, to))
                return uvm_error_set(err, EBUSY, "container %s is %s, it cannot become %s", id,
                                     ctr_state_to_string(*state), ctr_state_to_string(to));
        if (*state != to)
                log_ctr(LOG_LEVEL_INFO, pod_id, id, "container %s: %s -> %s", id,
                        ctr_state_to_string(*state), ctr_state_to_string(to));
        *state = to;
        return 0;
}
