#pragma once

/*
 * uvmd as a Windows service (Windows only; no gRPC here). uvmd.exe's main
 * calls winsvc_main_args() first: it carries out --register-service and
 * --unregister-service itself, and tells main whether the SCM started the
 * process (--service), in which case main loads its config as usual and
 * hands its life cycle to winsvc_run() instead of waiting for a signal.
 */

#include <stddef.h>

#include "common/error.h"
#include "service/windows/winsvc_args.h"

/* How long unregistering waits for a running service to stop. */
#define WINSVC_STOP_TIMEOUT_MS 30000

/*
 * The program run as the service. start() runs while the SCM sees
 * START_PENDING and returns >= 0 or -errno; run() is the main loop, on the
 * service thread, and returns when stop() asked it to (or on a failure, with
 * -errno); stop() is called once, from the SCM's control thread, on STOP,
 * SHUTDOWN or PRESHUTDOWN: like SIGTERM on Linux it only asks run() to drain
 * and return, and must not block.
 */
struct winsvc_app {
        const char *name; /* the service name (winsvc_args.name) */
        void *data;
        int (*start)(void *data);
        int (*run)(void *data);
        void (*stop)(void *data);
};

/*
 * Creates the service: own process, automatic start, LocalSystem, the
 * command line of winsvc_command_line(), a description. exe and config must
 * be absolute. An existing service of that name is an error (-EEXIST), not
 * an update: silently repointing a registered, perhaps running, service at
 * another binary or config is what an upgrade must decide, by unregistering
 * first (deploy/windows/install.ps1 does).
 */
int winsvc_register(const char *name, const char *display_name, const char *exe, const char *config,
                    unsigned flags, struct uvm_error **err);

/* Stops the service if it is running (waiting up to WINSVC_STOP_TIMEOUT_MS,
 * -ETIMEDOUT and nothing deleted past that), then deletes it. -ENOENT when
 * no such service exists. */
int winsvc_unregister(const char *name, struct uvm_error **err);

/*
 * Connects to the SCM (StartServiceCtrlDispatcherW) and runs app as the
 * service until it stops. Returns the service's exit status: 0, or the
 * -errno that start() or run() failed with (also reported to the SCM as a
 * service-specific exit code). -ENOTCONN when the process was not started
 * by the SCM. Once per process (-EBUSY after): the service's state is
 * static, as ServiceMain takes no context.
 */
int winsvc_run(const struct winsvc_app *app, struct uvm_error **err);

/*
 * What uvmd.exe's main calls first. Parses and removes the service options
 * (winsvc_parse_args), then returns 1 when it carried out the command
 * itself (--register-service, --unregister-service: main exits 0), 0 when
 * main goes on (ret_args->command is WINSVC_CMD_SERVICE when the SCM started
 * the process, WINSVC_CMD_NONE for a console run), -errno when the command
 * line is bad (-EINVAL) or the command failed. Register: the executable is
 * this process's own; the config is --config or default_config, made
 * absolute, and must exist.
 */
int winsvc_main_args(int *argc, char **argv, const char *default_config,
                     struct winsvc_args *ret_args, struct uvm_error **err);

/* UTF-8 to a malloc'd UTF-16 string, and back; NULL on bad input or OOM. */
wchar_t *winsvc_utf16(const char *s);
char *winsvc_utf8(const wchar_t *s);
