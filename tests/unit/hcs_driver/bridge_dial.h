#pragma once

/* The bridge's dialler for the hcs driver's tests (guest_bridge.h): each
 * dial makes a loopback TCP pair and serves its far end with a new
 * scripted agent (tests/unit/agent/fake_agent.h). Portable. */

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "tests/unit/agent/fake_agent.h"

struct bridge_dial {
        struct fake_agent *agent; /* of the last dial; bridge_dial_reset stops it */
        int dials;
        char system_id[128], runtime_id[64]; /* what the last dial was given */
        uint32_t timeout_ms;
        int fail;     /* -errno: the next dials fail so, after... */
        bool use_all; /* ...waiting out their whole timeout (also on success) */
        /* Each new agent answers preset_rpc with preset (NULL: its default). */
        uint32_t preset_rpc;
        const char *preset;
};

extern struct bridge_dial dialled;

/* An hcs_bridge_dial_fn; data is ignored. A second dial stops the agent
 * of the first (its connection sees the close). */
int bridge_dial(void *data, const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                int *ret_fd, struct uvm_error **err);
/* Stop the agent and forget everything. */
void bridge_dial_reset(void);
