/* The tests' dialler (bridge_dial.h). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sock.h"
#include "tests/unit/hcs_driver/bridge_dial.h"

struct bridge_dial dialled;

int bridge_dial(void *data, const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                int *ret_fd, struct uvm_error **err)
{
        int fds[2];

        dialled.dials++;
        snprintf(dialled.system_id, sizeof(dialled.system_id), "%s", system_id);
        snprintf(dialled.runtime_id, sizeof(dialled.runtime_id), "%s",
                 runtime_id ? runtime_id : "(null)");
        dialled.timeout_ms = timeout_ms;
        if (dialled.use_all)
                usleep(timeout_ms * 1000u);
        if (dialled.fail < 0)
                return uvm_error_set(err, -dialled.fail, "test dial of %s failed", system_id);
        assert_int_equal(sock_loopback_pair(fds), 0);
        fake_agent_stop(dialled.agent); /* an earlier connection's, if any */
        dialled.agent = fake_agent_start(fds[1]);
        if (dialled.preset)
                fake_agent_set(dialled.agent, dialled.preset_rpc, dialled.preset);
        *ret_fd = fds[0];
        return 0;
}

void bridge_dial_reset(void)
{
        fake_agent_stop(dialled.agent);
        memset(&dialled, 0, sizeof(dialled));
}
