#pragma once

/*
 * uvmd.exe's daemon (Windows only): what the Windows build serves today.
 * The CRI on TCP loopback with health and reflection, RuntimeService's
 * Version, Status and RuntimeConfig answered from the hcs driver's probe
 * (computecore.dll and computenetwork.dll loaded, or why not), and the pod
 * sandbox calls (Run, Stop, Remove, Status, List) and the container calls
 * (Create, Start, Stop, Remove, Status, List) through the sandbox layer and
 * the hcs driver, with records under the state root that a restarted
 * uvmd.exe reattaches to; ExecSync, logs and stats; the ImageService over
 * the Windows image store (image/store_win.h); streaming, events and
 * resource updates: every CRI method Linux's uvmd serves, from the same
 * handlers where they are portable.
 *
 *   uvmd_win_init -> uvmd_win_start -> (serving) -> uvmd_win_stop -> uvmd_win_fini
 *
 * The life cycle is main_win.c's, as a service (winsvc.h) or a console
 * program.
 */

#include <stdbool.h>

#include "common/error.h"
#include "service/daemon.h"

/* The hcs driver's agent bridge port in the VM's HvSocket service table
 * (the one hcsshim's LCOW guest uses for its bridge). */
#define UVMD_WIN_BRIDGE_VSOCK_PORT 0x40000000u

struct uvmd_win {
        struct uvmd d;         /* config, method table, handlers, health: as on Linux */
        bool network_ready;    /* computenetwork.dll (HCN) loaded; read-only after init */
        char network_why[320]; /* why not; read-only after init */
};

/* The RuntimeService methods served on Windows (cri_win.c, cri_pod_win.c,
 * cri_ctr_win.c). */
extern const struct srv_binding cri_win_runtime_bindings[];
extern const struct srv_binding cri_win_pod_bindings[];
extern const struct srv_binding cri_win_ctr_bindings[];

/* w->d.cfg is loaded and validated. Creates the state and data roots,
 * binds the hcs driver (its probe, not a failure, says why it cannot run
 * pods here) and builds the method table. */
int uvmd_win_init(struct uvmd_win *w, struct uvm_error **err);

/* Listens on the config's tcp://127.0.0.1:PORT and serves. */
int uvmd_win_start(struct uvmd_win *w, struct uvm_error **err);

/* The drain, as SIGTERM on Linux: health turns NOT_SERVING, calls in
 * flight get shutdown_grace_ms, then the rest are cancelled. */
void uvmd_win_stop(struct uvmd_win *w);

void uvmd_win_fini(struct uvmd_win *w);
