/* CRI RuntimeService, containers on Windows: the handlers Linux shares
 * (cri_ctr_common.c, cri_exec_common.c) over the sandbox layer's portable
 * container half and the hcs driver, which reaches the agent in the pod's
 * VM: the life cycle, ExecSync and ReopenContainerLog (the CRI log is
 * sandbox/log.c's, shared). UpdateContainerResources is not bound
 * (UNIMPLEMENTED). Stats (cri_stats.c) and Exec, Attach and PortForward
 * (service/cri_stream.c) are Linux's bindings, served as they are by
 * daemon_win.c, over the streaming server it starts. */

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
        {"runtime.v1.RuntimeService", "ExecSync", SRV_UNARY, false, cri_ctr_exec_sync, NULL},
        {"runtime.v1.RuntimeService", "ReopenContainerLog", SRV_UNARY, false, cri_ctr_reopen_log,
         NULL},
        {0},
};
