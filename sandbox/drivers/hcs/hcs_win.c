/*
 * struct hcs_api over computecore.dll. The DLL is loaded at run time from
 * the system directory only, so uvmd starts (and says why) on a Windows
 * without the Host Compute Service. This is the only place that speaks
 * UTF-16 and HRESULT: the driver sees UTF-8, -errno and HCS's result
 * documents.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/utf16.h"
#include "sandbox/drivers/hcs/hcs_win-internal.h"

struct hcs_system {
        const struct hcs_raw *raw; /* the table it was made with */
        HCS_SYSTEM handle;
        hcs_event_fn fn; /* set once, by set_callback */
        void *data;
};

/* The raw table behind the process's hcs_api (see hcs_api_from_raw). */
static const struct hcs_raw *bound_raw;

/* ---- HRESULTs ---- */

static const struct {
        HRESULT hr;
        int err;
        const char *name;
} hresults[] = {
        {E_INVALIDARG, EINVAL, "E_INVALIDARG"},
        {E_POINTER, EINVAL, "E_POINTER"},
        {HCS_E_INVALID_JSON, EINVAL, "HCS_E_INVALID_JSON"},
        {E_ACCESSDENIED, EPERM, "E_ACCESSDENIED"},
        {HCS_E_ACCESS_DENIED, EPERM, "HCS_E_ACCESS_DENIED"},
        {HCS_E_SYSTEM_NOT_FOUND, ENOENT, "HCS_E_SYSTEM_NOT_FOUND"},
        {HCS_HR_WIN32(ERROR_NOT_FOUND), ENOENT, "ERROR_NOT_FOUND"},
        {HCS_HR_WIN32(ERROR_FILE_NOT_FOUND), ENOENT, "ERROR_FILE_NOT_FOUND"},
        {HCS_HR_WIN32(ERROR_PATH_NOT_FOUND), ENOENT, "ERROR_PATH_NOT_FOUND"},
        {HCS_E_SYSTEM_ALREADY_EXISTS, EEXIST, "HCS_E_SYSTEM_ALREADY_EXISTS"},
        {HCS_HR_WIN32(ERROR_ALREADY_EXISTS), EEXIST, "ERROR_ALREADY_EXISTS"},
        /* Shutdown or terminate of a system that already stopped. */
        {HCS_E_SYSTEM_ALREADY_STOPPED, ESRCH, "HCS_E_SYSTEM_ALREADY_STOPPED"},
        {HCS_E_OPERATION_TIMEOUT, ETIMEDOUT, "HCS_E_OPERATION_TIMEOUT"},
        {HCS_E_CONNECTION_TIMEOUT, ETIMEDOUT, "HCS_E_CONNECTION_TIMEOUT"},
        {HCS_HR_WIN32(WAIT_TIMEOUT), ETIMEDOUT, "WAIT_TIMEOUT"},
        {HCS_HR_WIN32(ERROR_TIMEOUT), ETIMEDOUT, "ERROR_TIMEOUT"},
        {HCS_E_INVALID_STATE, EBUSY, "HCS_E_INVALID_STATE"},
        {HCS_E_OPERATION_PENDING, EBUSY, "HCS_E_OPERATION_PENDING"},
        {HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, EBUSY,
         "HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET"},
        {HCS_E_OPERATION_ALREADY_CANCELLED, ECANCELED, "HCS_E_OPERATION_ALREADY_CANCELLED"},
        {HCS_HR_WIN32(ERROR_CANCELLED), ECANCELED, "ERROR_CANCELLED"},
        {HCS_E_SERVICE_NOT_AVAILABLE, EAGAIN, "HCS_E_SERVICE_NOT_AVAILABLE"},
        {HCS_E_SERVICE_DISCONNECT, EAGAIN, "HCS_E_SERVICE_DISCONNECT"},
        {HCS_E_HYPERV_NOT_INSTALLED, ENOTSUP, "HCS_E_HYPERV_NOT_INSTALLED"},
        {E_NOTIMPL, ENOTSUP, "E_NOTIMPL"},
        {HCS_HR_WIN32(ERROR_NOT_SUPPORTED), ENOTSUP, "ERROR_NOT_SUPPORTED"},
        {E_OUTOFMEMORY, ENOMEM, "E_OUTOFMEMORY"},
        {HCS_HR_WIN32(ERROR_NOT_ENOUGH_MEMORY), ENOMEM, "ERROR_NOT_ENOUGH_MEMORY"},
        {HCS_E_UNEXPECTED_EXIT, EIO, "HCS_E_UNEXPECTED_EXIT"},
        {HCS_E_TERMINATED, EIO, "HCS_E_TERMINATED"},
};

/* vmcompute's form of an HCS code (bit 30 set) as computecore's. */
static HRESULT normalize(HRESULT hr)
{
        uint32_t v = (uint32_t) hr;

        if ((v & 0x0fff0000u) == 0x00370000u)
                v &= ~0x40000000u;
        return (HRESULT) v;
}

int hcs_hresult_to_errno(HRESULT hr)
{
        hr = normalize(hr);
        if (SUCCEEDED(hr))
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(hresults); i++)
                if (hresults[i].hr == hr)
                        return -hresults[i].err;
        return -EIO;
}

const char *hcs_hresult_name(HRESULT hr)
{
        hr = normalize(hr);
        for (size_t i = 0; i < ARRAY_SIZE(hresults); i++)
                if (hresults[i].hr == hr)
                        return hresults[i].name;
        return NULL;
}

static bool is_timeout(HRESULT hr)
{
        return hcs_hresult_to_errno(hr) == -ETIMEDOUT;
}

/* ---- result documents ---- */

/* A document HCS handed out, as malloc'd UTF-8 (NULL if none or not
 * convertible); the original is released with LocalFree either way. */
static char *take_document(const struct hcs_raw *raw, PWSTR doc)
{
        char *s = NULL;

        if (!doc)
                return NULL;
        if (wide_to_utf8(doc, HCS_WIN_DOC_MAX, &s) < 0)
                s = NULL;
        raw->local_free(doc);
        return s;
}

/* Our own result document when HCS gave none, in HCS's shape
 * ({"Error": <HRESULT>, "ErrorMessage": ...}) so that callers read one
 * kind. why is ours: no characters that need escaping. */
static char *make_result(HRESULT hr, const char *call, const char *why)
{
        const char *name = hcs_hresult_name(hr);
        char buf[512];

        snprintf(buf, sizeof(buf),
                 "{\"Error\":%ld,\"ErrorMessage\":\"%s: %s (HRESULT 0x%08lx%s%s)\"}", (long) hr,
                 call, why, (unsigned long) (uint32_t) hr, name ? " " : "", name ? name : "");
        return strdup(buf);
}

/* Fail call with hr: HCS's result document (doc, taken) or ours in
 * *ret_result when asked for; the HRESULT as -errno. */
static int fail_with(const struct hcs_raw *raw, HRESULT hr, PWSTR doc, const char *call,
                     const char *why, char **ret_result)
{
        char *result = take_document(raw, doc);
        int r = hcs_hresult_to_errno(hr);

        if (r == 0) /* a failure without a failing HRESULT */
                r = -EIO, hr = E_FAIL;
        if (ret_result)
                *ret_result = result ? result : make_result(hr, call, why);
        else
                free(result);
        return r;
}

/* ---- operations ---- */

/* How long the undo of a failed create waits for the terminate. */
#define HCS_UNDO_TIMEOUT_MS 30000u

static int win_terminate(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result);

static int op_new(const struct hcs_raw *raw, const char *call, HCS_OPERATION *ret,
                  char **ret_result)
{
        HCS_OPERATION op = raw->create_operation(NULL, NULL);

        if (!op)
                return fail_with(raw, E_OUTOFMEMORY, NULL, call, "HcsCreateOperation failed",
                                 ret_result);
        *ret = op;
        return 0;
}

/* Finish an operation that call (issued, its HRESULT) started: wait up to
 * timeout_ms; on success the result document goes to *ret_doc if asked
 * for, else it is released. A timed-out operation is cancelled so that
 * HCS does not finish it behind our back. The operation is closed. */
static int op_finish(const struct hcs_raw *raw, HCS_OPERATION op, HRESULT issued,
                     uint32_t timeout_ms, const char *call, char **ret_doc, char **ret_result)
{
        PWSTR doc = NULL;
        char *result;
        HRESULT hr;

        if (FAILED(issued)) {
                raw->close_operation(op);
                return fail_with(raw, issued, NULL, call, "the call failed", ret_result);
        }
        hr = raw->wait_for_operation_result(op, timeout_ms, &doc);
        if (FAILED(hr)) {
                if (is_timeout(hr) && raw->cancel_operation)
                        (void) raw->cancel_operation(op); /* best effort, ignoring */
                raw->close_operation(op);
                return fail_with(raw, hr, doc, call,
                                 is_timeout(hr) ? "timed out" : "the operation failed", ret_result);
        }
        raw->close_operation(op);
        if (!ret_doc) {
                free(take_document(raw, doc));
                return 0;
        }
        result = take_document(raw, doc);
        if (!result)
                return fail_with(raw, E_FAIL, NULL, call, "no usable result document", ret_result);
        *ret_doc = result;
        return 0;
}

/* A UTF-8 argument as UTF-16; a failure recorded like HCS's own. */
static int to_wide(const struct hcs_raw *raw, const char *s, size_t max, const char *call,
                   const char *what, wchar_t **ret, char **ret_result)
{
        char why[96];
        int r = utf8_to_wide(s, max, ret);

        if (r < 0) {
                snprintf(why, sizeof(why), "%s is not UTF-8 of at most %zu bytes", what, max);
                return fail_with(raw, r == -ENOMEM ? E_OUTOFMEMORY : E_INVALIDARG, NULL, call, why,
                                 ret_result);
        }
        return 0;
}

/* ---- the table ---- */

static int win_create(const char *id, const char *doc_json, uint32_t timeout_ms,
                      struct hcs_system **ret_sys, char **ret_result)
{
        static const char call[] = "HcsCreateComputeSystem";
        const struct hcs_raw *raw = bound_raw;
        _cleanup_free_ wchar_t *wid = NULL, *wdoc = NULL;
        _cleanup_free_ struct hcs_system *sys = NULL;
        HCS_OPERATION op = NULL;
        HRESULT hr;
        int r;

        if ((r = to_wide(raw, id, HCS_WIN_ID_MAX, call, "id", &wid, ret_result)) < 0 ||
            (r = to_wide(raw, doc_json, HCS_WIN_DOC_MAX, call, "document", &wdoc, ret_result)) < 0)
                return r;
        sys = calloc(1, sizeof(*sys));
        if (!sys)
                return fail_with(raw, E_OUTOFMEMORY, NULL, call, "out of memory", ret_result);
        sys->raw = raw;
        if ((r = op_new(raw, call, &op, ret_result)) < 0)
                return r;
        hr = raw->create_compute_system(wid, wdoc, op, NULL, &sys->handle);
        r = op_finish(raw, op, hr, timeout_ms, call, NULL, ret_result);
        if (r < 0) {
                /* A system half made (timed out) would outlive its handle
                 * (the document keeps VMs across a uvmd restart): stop it
                 * first, best effort. */
                if (sys->handle) {
                        (void) win_terminate(sys, HCS_UNDO_TIMEOUT_MS, NULL);
                        raw->close_compute_system(sys->handle);
                }
                return r;
        }
        *ret_sys = TAKE_PTR(sys);
        return 0;
}

static int win_open(const char *id, struct hcs_system **ret_sys, char **ret_result)
{
        static const char call[] = "HcsOpenComputeSystem";
        const struct hcs_raw *raw = bound_raw;
        _cleanup_free_ wchar_t *wid = NULL;
        struct hcs_system *sys;
        HCS_SYSTEM handle = NULL;
        HRESULT hr;
        int r;

        if ((r = to_wide(raw, id, HCS_WIN_ID_MAX, call, "id", &wid, ret_result)) < 0)
                return r;
        hr = raw->open_compute_system(wid, GENERIC_ALL, &handle);
        if (FAILED(hr))
                return fail_with(raw, hr, NULL, call, "the call failed", ret_result);
        sys = calloc(1, sizeof(*sys));
        if (!sys) {
                raw->close_compute_system(handle);
                return fail_with(raw, E_OUTOFMEMORY, NULL, call, "out of memory", ret_result);
        }
        sys->raw = raw;
        sys->handle = handle;
        *ret_sys = sys;
        return 0;
}

enum lifecycle { START, SHUTDOWN, TERMINATE };

static int win_lifecycle(struct hcs_system *sys, enum lifecycle what, uint32_t timeout_ms,
                         char **ret_result)
{
        static const char *const calls[] = {"HcsStartComputeSystem", "HcsShutDownComputeSystem",
                                            "HcsTerminateComputeSystem"};
        const struct hcs_raw *raw = sys->raw;
        HCS_OPERATION op = NULL;
        HRESULT hr;
        int r;

        if ((r = op_new(raw, calls[what], &op, ret_result)) < 0)
                return r;
        if (what == START)
                hr = raw->start_compute_system(sys->handle, op, NULL);
        else if (what == SHUTDOWN)
                hr = raw->shut_down_compute_system(sys->handle, op, NULL);
        else
                hr = raw->terminate_compute_system(sys->handle, op, NULL);
        return op_finish(raw, op, hr, timeout_ms, calls[what], NULL, ret_result);
}

static int win_start(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        return win_lifecycle(sys, START, timeout_ms, ret_result);
}

static int win_shutdown(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        return win_lifecycle(sys, SHUTDOWN, timeout_ms, ret_result);
}

static int win_terminate(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        return win_lifecycle(sys, TERMINATE, timeout_ms, ret_result);
}

static int win_modify(struct hcs_system *sys, const char *request_json, uint32_t timeout_ms,
                      char **ret_result)
{
        static const char call[] = "HcsModifyComputeSystem";
        const struct hcs_raw *raw = sys->raw;
        _cleanup_free_ wchar_t *wreq = NULL;
        HCS_OPERATION op = NULL;
        int r;

        if ((r = to_wide(raw, request_json, HCS_WIN_DOC_MAX, call, "request", &wreq, ret_result)) <
                    0 ||
            (r = op_new(raw, call, &op, ret_result)) < 0)
                return r;
        return op_finish(raw, op, raw->modify_compute_system(sys->handle, op, wreq, NULL),
                         timeout_ms, call, NULL, ret_result);
}

static int win_properties(struct hcs_system *sys, const char *query_json, uint32_t timeout_ms,
                          char **ret_json, char **ret_result)
{
        static const char call[] = "HcsGetComputeSystemProperties";
        const struct hcs_raw *raw = sys->raw;
        _cleanup_free_ wchar_t *wquery = NULL;
        HCS_OPERATION op = NULL;
        int r;

        if ((query_json && (r = to_wide(raw, query_json, HCS_WIN_DOC_MAX, call, "query", &wquery,
                                        ret_result)) < 0) ||
            (r = op_new(raw, call, &op, ret_result)) < 0)
                return r;
        return op_finish(raw, op, raw->get_compute_system_properties(sys->handle, op, wquery),
                         timeout_ms, call, ret_json, ret_result);
}

static const char *event_kind(HCS_EVENT_TYPE type)
{
        switch (type) {
        case HcsEventSystemExited:
                return "SystemExited";
        case HcsEventSystemCrashInitiated:
                return "SystemCrashInitiated";
        case HcsEventSystemCrashReport:
                return "SystemCrashReport";
        case HcsEventSystemRdpEnhancedModeStateChanged:
                return "SystemRdpEnhancedModeStateChanged";
        case HcsEventSystemSiloJobCreated:
                return "SystemSiloJobCreated";
        case HcsEventSystemGuestConnectionClosed:
                return "SystemGuestConnectionClosed";
        case HcsEventProcessExited:
                return "ProcessExited";
        case HcsEventOperationCallback:
                return "OperationCallback";
        case HcsEventServiceDisconnect:
                return "ServiceDisconnect";
        default:
                return "Unknown";
        }
}

/* On an HCS thread: the event in UTF-8 to the caller's fn. A detail that
 * does not convert is passed as NULL rather than dropping the event. */
static void CALLBACK event_trampoline(HCS_EVENT *event, void *context)
{
        struct hcs_system *sys = context;
        char *detail = NULL;

        if (!sys || !sys->fn || !event)
                return;
        if (event->EventData && wide_to_utf8(event->EventData, HCS_WIN_DOC_MAX, &detail) < 0)
                detail = NULL;
        sys->fn(sys->data, event_kind(event->Type), detail);
        free(detail);
}

static int win_set_callback(struct hcs_system *sys, hcs_event_fn fn, void *data)
{
        HRESULT hr;

        if (!fn)
                return -EINVAL;
        if (sys->fn)
                return -EBUSY; /* HCS takes one callback per handle */
        sys->fn = fn;
        sys->data = data;
        hr = sys->raw->set_compute_system_callback(sys->handle, HcsEventOptionNone, sys,
                                                   event_trampoline);
        if (FAILED(hr)) {
                sys->fn = NULL;
                sys->data = NULL;
                return hcs_hresult_to_errno(hr);
        }
        return 0;
}

/* HcsCloseComputeSystem returns once no callback runs any more, so sys
 * can go right after. */
static void win_close(struct hcs_system *sys)
{
        if (!sys)
                return;
        if (sys->handle)
                sys->raw->close_compute_system(sys->handle);
        free(sys);
}

/* HcsGrantVmAccess and HcsRevokeVmAccess: one shape, answered at once. */
static int vm_access(HRESULT(WINAPI *fn)(PCWSTR, PCWSTR), const char *call, const char *id,
                     const char *path, char **ret_result)
{
        const struct hcs_raw *raw = bound_raw;
        _cleanup_free_ wchar_t *wid = NULL, *wpath = NULL;
        HRESULT hr;
        int r;

        if ((r = to_wide(raw, id, HCS_WIN_ID_MAX, call, "id", &wid, ret_result)) < 0 ||
            (r = to_wide(raw, path, 32767u, call, "path", &wpath, ret_result)) < 0)
                return r;
        hr = fn(wid, wpath);
        if (FAILED(hr))
                return fail_with(raw, hr, NULL, call, "the call failed", ret_result);
        return 0;
}

static int win_grant_vm_access(const char *id, const char *path, char **ret_result)
{
        return vm_access(bound_raw->grant_vm_access, "HcsGrantVmAccess", id, path, ret_result);
}

static int win_revoke_vm_access(const char *id, const char *path, char **ret_result)
{
        return vm_access(bound_raw->revoke_vm_access, "HcsRevokeVmAccess", id, path, ret_result);
}

static const struct hcs_api win_api = {
        .name = "computecore",
        .create = win_create,
        .open = win_open,
        .start = win_start,
        .shutdown = win_shutdown,
        .terminate = win_terminate,
        .modify = win_modify,
        .properties = win_properties,
        .set_callback = win_set_callback,
        .grant_vm_access = win_grant_vm_access,
        .revoke_vm_access = win_revoke_vm_access,
        .close = win_close,
};

const struct hcs_api *hcs_api_from_raw(const struct hcs_raw *raw)
{
        if (!raw || !raw->create_operation || !raw->close_operation ||
            !raw->wait_for_operation_result || !raw->create_compute_system ||
            !raw->open_compute_system || !raw->start_compute_system ||
            !raw->shut_down_compute_system || !raw->terminate_compute_system ||
            !raw->modify_compute_system || !raw->get_compute_system_properties ||
            !raw->set_compute_system_callback || !raw->close_compute_system ||
            !raw->grant_vm_access || !raw->revoke_vm_access || !raw->local_free)
                return NULL;
        bound_raw = raw;
        return &win_api;
}

/* ---- computecore.dll ---- */

static const struct {
        const char *symbol;
        size_t offset;
        bool optional;
} computecore_symbols[] = {
        {"HcsCreateOperation", offsetof(struct hcs_raw, create_operation), false},
        {"HcsCloseOperation", offsetof(struct hcs_raw, close_operation), false},
        {"HcsWaitForOperationResult", offsetof(struct hcs_raw, wait_for_operation_result), false},
        {"HcsCancelOperation", offsetof(struct hcs_raw, cancel_operation), true},
        {"HcsCreateComputeSystem", offsetof(struct hcs_raw, create_compute_system), false},
        {"HcsOpenComputeSystem", offsetof(struct hcs_raw, open_compute_system), false},
        {"HcsStartComputeSystem", offsetof(struct hcs_raw, start_compute_system), false},
        {"HcsShutDownComputeSystem", offsetof(struct hcs_raw, shut_down_compute_system), false},
        {"HcsTerminateComputeSystem", offsetof(struct hcs_raw, terminate_compute_system), false},
        {"HcsModifyComputeSystem", offsetof(struct hcs_raw, modify_compute_system), false},
        {"HcsGetComputeSystemProperties", offsetof(struct hcs_raw, get_compute_system_properties),
         false},
        {"HcsSetComputeSystemCallback", offsetof(struct hcs_raw, set_compute_system_callback),
         false},
        {"HcsCloseComputeSystem", offsetof(struct hcs_raw, close_compute_system), false},
        {"HcsGrantVmAccess", offsetof(struct hcs_raw, grant_vm_access), false},
        {"HcsRevokeVmAccess", offsetof(struct hcs_raw, revoke_vm_access), false},
};

static INIT_ONCE computecore_once = INIT_ONCE_STATIC_INIT;
static struct hcs_raw computecore_raw;
static const struct hcs_api *computecore_api;
static char computecore_reason[320];

static BOOL CALLBACK computecore_load(PINIT_ONCE once, PVOID param, PVOID *context)
{
        /* The system directory only: never a computecore.dll planted next
         * to uvmd.exe or in the working directory. */
        HMODULE dll = LoadLibraryExW(L"computecore.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

        if (!dll) {
                snprintf(computecore_reason, sizeof(computecore_reason),
                         "computecore.dll is not in the system directory (error %lu): this "
                         "Windows has no Host Compute Service (Hyper-V with the Containers "
                         "feature, Windows 10 1809 / Server 2019 or later)",
                         (unsigned long) GetLastError());
                return TRUE;
        }
        for (size_t i = 0; i < ARRAY_SIZE(computecore_symbols); i++) {
                FARPROC fn = GetProcAddress(dll, computecore_symbols[i].symbol);

                if (!fn && !computecore_symbols[i].optional) {
                        snprintf(computecore_reason, sizeof(computecore_reason),
                                 "computecore.dll has no %s: this Windows is too old for uvmd",
                                 computecore_symbols[i].symbol);
                        FreeLibrary(dll);
                        return TRUE;
                }
                /* All function pointers have one size and representation. */
                memcpy((char *) &computecore_raw + computecore_symbols[i].offset, &fn, sizeof(fn));
        }
        computecore_raw.local_free = LocalFree;
        computecore_api = hcs_api_from_raw(&computecore_raw);
        if (!computecore_api)
                snprintf(computecore_reason, sizeof(computecore_reason),
                         "computecore.dll: incomplete binding");
        return TRUE; /* the DLL stays loaded for the process's life */
}

const struct hcs_api *hcs_api_computecore(char *reason, size_t reason_size)
{
        InitOnceExecuteOnce(&computecore_once, computecore_load, NULL, NULL);
        if (reason && reason_size)
                snprintf(reason, reason_size, "%s", computecore_api ? "" : computecore_reason);
        return computecore_api;
}
