/* The bridge's data (bridge_types.h). */

#include <stdlib.h>
#include <string.h>

#include "agent/bridge_types.h"

void drv_exec_result_clear(struct drv_exec_result *r)
{
        if (!r)
                return;
        free(r->out);
        free(r->errout);
        memset(r, 0, sizeof(*r));
}
