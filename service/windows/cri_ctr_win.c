/* CRI RuntimeService, containers on Windows: the handlers Linux shares
 * (cri_ctr_common.c) over the sandbox layer's portable container half and
 * the hcs driver. What the Windows build cannot give a container yet
 * (an image not already on the node, mounts, a log) is refused or left out
 * by sandbox/ctr_win.c; ExecSync, ReopenContainerLog, streaming and stats
 * are not bound (UNIMPLEMENTED). */

/* Before any <stdio.h>: msvcrt's stdin, stdout and stderr are macros, and
 * CRI messages have fields of those names. */
#include "proto/api.pb-c.h"

#include "service/cri.h"
#include "service/cri_ctr_common.h"
#include "service/windows/daemon_win.h"

const struct srv_binding cri_win_ctr_bindings[] = {
        {"runtime.v1.RuntimeService", "CreateContainer", SRV_UNARY, false, cri_ctr_create, NULL},
        {"runtime.v1.RuntimeService", "StartContainer", SRV_UNARY, false, cri_ctr_start, NULL},
        {"runtime.v1.RuntimeService", "StopContainer", SRV_UNARY, false, cri_ctr_stop, NULL},
        {"runtime.v1.RuntimeService", "RemoveContainer", SRV_UNARY, false, cri_ctr_remove, NULL},
        {"runtime.v1.RuntimeService", "ContainerStatus", SRV_UNARY, false, cri_ctr_status, NULL},
        {"runtime.v1.RuntimeService", "ListContainers", SRV_UNARY, false, cri_ctr_list_call, NULL,
         cri_list_ctrs_fast},
        {0},
};
