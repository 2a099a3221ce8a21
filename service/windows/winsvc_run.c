/* The service's life under the SCM: ServiceMain, the control handler, and
 * the status reports between them. */

#include <windows.h>
#include <stdbool.h>
#include <string.h>

#include "common/log.h"
#include "service/windows/winsvc-internal.h"
#include "service/windows/winsvc.h"

/* While pending, a checkpoint every TICK_MS with a hint of WAIT_HINT_MS:
 * the SCM sees progress however long start() or the drain takes, and a
 * service that stops reporting (hung) is still noticed. */
#define TICK_MS 1000
#define WAIT_HINT_MS 10000

/* ServiceMain takes no context pointer: one service per process, so the
 * state is static. */
static struct {
        CRITICAL_SECTION lock; /* guards the fields below once the dispatcher runs */
        const struct winsvc_app *app;
        SERVICE_STATUS_HANDLE handle;
        SERVICE_STATUS status;
        bool stop_asked; /* stop() has been called */
        HANDLE tick_done;
        int result; /* 0, or the -errno start() or run() failed with */
} svc;

/* winsvc_run runs once per process: the lock is never torn down, since
 * the service thread may still hold it when the dispatcher returns. */
static LONG svc_used;

static const char *state_name(DWORD s)
{
        static const char *const names[] = {"INITIAL",       "STOPPED", "START_PENDING",
                                            "STOP_PENDING",  "RUNNING", "CONTINUE_PENDING",
                                            "PAUSE_PENDING", "PAUSED"};
        return s < ARRAY_SIZE(names) ? names[s] : "?";
}

static bool is_pending(DWORD s)
{
        return s == SERVICE_START_PENDING || s == SERVICE_STOP_PENDING;
}

/* With svc.lock held: the new status, logged before the SCM hears it. */
static void set_status_locked(DWORD state, int result)
{
        SERVICE_STATUS *st = &svc.status;
        DWORD old = st->dwCurrentState;

        st->dwServiceType = SERVICE_WIN32_OWN_PROCESS;
        st->dwCurrentState = state;
        /* No controls while pending: a STOP during start would race start(). */
        st->dwControlsAccepted =
                state == SERVICE_RUNNING
                        ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN
                        : 0;
        st->dwCheckPoint = is_pending(state) ? (old == state ? st->dwCheckPoint + 1 : 1) : 0;
        st->dwWaitHint = is_pending(state) ? WAIT_HINT_MS : 0;
        st->dwWin32ExitCode = result < 0 ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
        st->dwServiceSpecificExitCode = result < 0 ? (DWORD) -result : 0;
        if (old != state)
                log_info("service %s: %s -> %s%s", svc.app->name, state_name(old),
                         state_name(state), result < 0 ? " (service-specific error)" : "");
}

static void send_status(const SERVICE_STATUS *st)
{
        if (!SetServiceStatus(svc.handle, (SERVICE_STATUS *) st))
                log_warn("service %s: cannot report %s (error %lu), ignoring", svc.app->name,
                         state_name(st->dwCurrentState), (unsigned long) GetLastError());
}

/* With svc.lock held. */
static void report_locked(DWORD state, int result)
{
        set_status_locked(state, result);
        send_status(&svc.status);
}

/* The last report, made without the lock and as the very last thing: once
 * the SCM hears STOPPED the dispatcher returns and the process may end
 * (Wine ends it at once), whatever this thread was doing. */
static void report_stopped(int result)
{
        SERVICE_STATUS st;

        EnterCriticalSection(&svc.lock);
        set_status_locked(SERVICE_STOPPED, result);
        st = svc.status;
        LeaveCriticalSection(&svc.lock);
        send_status(&st);
}

static void report(DWORD state, int result)
{
        EnterCriticalSection(&svc.lock);
        report_locked(state, result);
        LeaveCriticalSection(&svc.lock);
}

static DWORD WINAPI tick_main(void *unused)
{
        while (WaitForSingleObject(svc.tick_done, TICK_MS) == WAIT_TIMEOUT) {
                EnterCriticalSection(&svc.lock);
                if (is_pending(svc.status.dwCurrentState))
                        report_locked(svc.status.dwCurrentState, 0);
                LeaveCriticalSection(&svc.lock);
        }
        return 0;
}

static const char *control_name(DWORD c)
{
        return c == SERVICE_CONTROL_STOP       ? "STOP"
               : c == SERVICE_CONTROL_SHUTDOWN ? "SHUTDOWN"
                                               : "PRESHUTDOWN";
}

/* On the dispatcher's thread (winsvc_run's caller's): the app's data lives
 * at least as long as this can run. */
static DWORD WINAPI control_handler(DWORD control, DWORD type, void *event, void *ctx)
{
        switch (control) {
        case SERVICE_CONTROL_INTERROGATE:
                return NO_ERROR;
        case SERVICE_CONTROL_STOP:
        case SERVICE_CONTROL_SHUTDOWN:
        case SERVICE_CONTROL_PRESHUTDOWN:
                EnterCriticalSection(&svc.lock);
                /* Only a running main loop is asked, and only once: after
                 * run() returned on its own there is nothing left to ask. */
                if (svc.status.dwCurrentState == SERVICE_RUNNING && !svc.stop_asked) {
                        svc.stop_asked = true;
                        log_info("service %s: %s, draining", svc.app->name, control_name(control));
                        report_locked(SERVICE_STOP_PENDING, 0);
                        svc.app->stop(svc.app->data);
                }
                LeaveCriticalSection(&svc.lock);
                return NO_ERROR;
        default:
                return ERROR_CALL_NOT_IMPLEMENTED;
        }
}

/* Runs the app between START_PENDING and STOP_PENDING; returns its result. */
static int run_app(void)
{
        const struct winsvc_app *app = svc.app;
        bool asked;
        int r;

        r = app->start(app->data);
        if (r < 0) {
                log_error("service %s: start failed: %s", app->name, strerror(-r));
                return r;
        }
        report(SERVICE_RUNNING, 0);
        r = app->run(app->data);
        EnterCriticalSection(&svc.lock);
        asked = svc.stop_asked;
        if (!asked)
                report_locked(SERVICE_STOP_PENDING, 0);
        LeaveCriticalSection(&svc.lock);
        if (!asked)
                log_warn("service %s: main loop returned without a stop request (%s)", app->name,
                         r < 0 ? strerror(-r) : "no error");
        return r < 0 ? r : 0;
}

static void WINAPI service_main(DWORD argc, wchar_t **argv)
{
        _cleanup_wfree_ wchar_t *wname = winsvc_utf16(svc.app->name);
        HANDLE ticker = NULL;

        svc.handle = wname ? RegisterServiceCtrlHandlerExW(wname, control_handler, NULL) : NULL;
        if (!svc.handle) {
                log_error("service %s: cannot register its control handler (error %lu)",
                          svc.app->name, (unsigned long) GetLastError());
                svc.result = -EIO;
                return; /* without a handle there is no status to report */
        }
        report(SERVICE_START_PENDING, 0);
        svc.tick_done = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (svc.tick_done)
                ticker = CreateThread(NULL, 0, tick_main, NULL, 0, NULL);
        if (!ticker)
                log_warn("service %s: no progress reports while pending (error %lu), ignoring",
                         svc.app->name, (unsigned long) GetLastError());
        svc.result = run_app();
        if (ticker) {
                SetEvent(svc.tick_done);
                WaitForSingleObject(ticker, INFINITE);
                CloseHandle(ticker);
        }
        if (svc.tick_done)
                CloseHandle(svc.tick_done);
        report_stopped(svc.result);
}

static int check_app(const struct winsvc_app *app, struct uvm_error **err)
{
        if (!app || !app->start || !app->run || !app->stop)
                return uvm_error_set(err, EINVAL, "service app needs start, run and stop");
        return winsvc_check_name(app->name, err);
}

int winsvc_run(const struct winsvc_app *app, struct uvm_error **err)
{
        _cleanup_wfree_ wchar_t *wname = NULL;
        int r;

        if ((r = check_app(app, err)) < 0)
                return r;
        if (!(wname = winsvc_utf16(app->name)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (InterlockedCompareExchange(&svc_used, 1, 0) != 0)
                return uvm_error_set(err, EBUSY, "a service runs once in a process");
        InitializeCriticalSection(&svc.lock);
        svc.app = app;
        SERVICE_TABLE_ENTRYW table[] = {{wname, service_main}, {NULL, NULL}};
        if (!StartServiceCtrlDispatcherW(table)) {
                DWORD e = GetLastError();
                r = e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
                            ? uvm_error_set(err, ENOTCONN,
                                            "--service: not started by the service control "
                                            "manager (register with --register-service, then "
                                            "'sc start %s')",
                                            app->name)
                            : winsvc_win_error(err, e, "service %s: dispatcher", app->name);
        } else if (svc.result < 0) {
                r = uvm_error_set(err, -svc.result, "service %s stopped on an error: %s", app->name,
                                  strerror(-svc.result));
        }
        return r;
}
