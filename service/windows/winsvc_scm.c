/* Registering and unregistering the service with the SCM, and the command
 * line entry point (winsvc_main_args). */

#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/utf16.h"
#include "service/windows/winsvc-internal.h"
#include "service/windows/winsvc.h"

#define DESCRIPTION                                                                                \
        "Kubernetes CRI runtime: every pod sandbox is a Hyper-V utility VM (uvmd). "               \
        "Stopping it stops the pods' VMs."
#define DISPLAY_NAME "uvmd CRI runtime"
#define DISPLAY_MAX 256
#define EVENTLOG_KEY L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\"

wchar_t *winsvc_utf16(const char *s)
{
        wchar_t *w = NULL;

        return utf8_to_wide(s, UTF16_PATH_MAX, &w) < 0 ? NULL : w;
}

char *winsvc_utf8(const wchar_t *w)
{
        char *s = NULL;

        return wide_to_utf8(w, UTF16_PATH_MAX, &s) < 0 ? NULL : s;
}

int winsvc_errno(DWORD code)
{
        switch (code) {
        case ERROR_SERVICE_EXISTS:
        case ERROR_DUPLICATE_SERVICE_NAME:
        case ERROR_ALREADY_EXISTS:
                return EEXIST;
        case ERROR_SERVICE_DOES_NOT_EXIST:
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
                return ENOENT;
        case ERROR_ACCESS_DENIED:
                return EACCES;
        case ERROR_SERVICE_MARKED_FOR_DELETE:
        case ERROR_SERVICE_ALREADY_RUNNING:
                return EBUSY;
        case ERROR_INVALID_NAME:
        case ERROR_INVALID_PARAMETER:
                return EINVAL;
        case ERROR_FAILED_SERVICE_CONTROLLER_CONNECT:
                return ENOTCONN;
        case ERROR_NOT_ENOUGH_MEMORY:
        case ERROR_OUTOFMEMORY:
                return ENOMEM;
        default:
                return EIO;
        }
}

int winsvc_win_error(struct uvm_error **err, DWORD code, const char *fmt, ...)
{
        _cleanup_free_ char *ctx = NULL;
        char text[256] = "";
        va_list ap;
        DWORD n;

        va_start(ap, fmt);
        if (vasprintf(&ctx, fmt, ap) < 0)
                ctx = NULL;
        va_end(ap);
        n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                           0, text, sizeof(text), NULL);
        /* The system's text ends in ".\r\n"; the record adds its own end. */
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == '.'))
                text[--n] = '\0';
        return uvm_error_set(err, winsvc_errno(code), "%s: %s (error %lu)", ctx ? ctx : "?",
                             n ? text : "unknown error", (unsigned long) code);
}

int winsvc_event_source_install(const char *name, struct uvm_error **err)
{
        /* EventCreate.exe's message table maps IDs 1-1000 to "%1": the
         * record text is the whole message, without a message DLL of ours. */
        static const wchar_t msgfile[] = L"%SystemRoot%\\System32\\EventCreate.exe";
        DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
        _cleanup_wfree_ wchar_t *wname = winsvc_utf16(name);
        wchar_t key[sizeof(EVENTLOG_KEY) / sizeof(wchar_t) + WINSVC_NAME_MAX];
        HKEY k;
        LONG e;

        if (!wname)
                return uvm_error_set(err, EINVAL, "event source '%s' is not UTF-8", name);
        _snwprintf(key, ARRAY_SIZE(key), L"%ls%ls", EVENTLOG_KEY, wname);
        key[ARRAY_SIZE(key) - 1] = L'\0';
        e = RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_SET_VALUE, NULL, &k, NULL);
        if (e != ERROR_SUCCESS)
                return winsvc_win_error(err, (DWORD) e, "event source '%s'", name);
        e = RegSetValueExW(k, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *) msgfile,
                           sizeof(msgfile));
        if (e == ERROR_SUCCESS)
                e = RegSetValueExW(k, L"TypesSupported", 0, REG_DWORD, (const BYTE *) &types,
                                   sizeof(types));
        RegCloseKey(k);
        if (e != ERROR_SUCCESS)
                return winsvc_win_error(err, (DWORD) e, "event source '%s'", name);
        return 0;
}

int winsvc_event_source_remove(const char *name, struct uvm_error **err)
{
        _cleanup_wfree_ wchar_t *wname = winsvc_utf16(name);
        wchar_t key[sizeof(EVENTLOG_KEY) / sizeof(wchar_t) + WINSVC_NAME_MAX];
        LONG e;

        if (!wname)
                return uvm_error_set(err, EINVAL, "event source '%s' is not UTF-8", name);
        _snwprintf(key, ARRAY_SIZE(key), L"%ls%ls", EVENTLOG_KEY, wname);
        key[ARRAY_SIZE(key) - 1] = L'\0';
        e = RegDeleteKeyW(HKEY_LOCAL_MACHINE, key);
        if (e != ERROR_SUCCESS && e != ERROR_FILE_NOT_FOUND)
                return winsvc_win_error(err, (DWORD) e, "event source '%s'", name);
        return 0;
}

static int check_register_args(const char *name, const char *display, const char *exe,
                               const char *config, struct uvm_error **err)
{
        int r;

        if ((r = winsvc_check_name(name, err)) < 0)
                return r;
        if (STR_EMPTY(display) || strlen(display) > DISPLAY_MAX)
                return uvm_error_set(err, EINVAL, "display name must be 1 to %d characters",
                                     DISPLAY_MAX);
        if ((r = winsvc_check_path("executable", exe, err)) < 0 ||
            (r = winsvc_check_path("config", config, err)) < 0)
                return r;
        if (!winsvc_path_is_absolute(exe) || !winsvc_path_is_absolute(config))
                return uvm_error_set(err, EINVAL, "'%s' is not an absolute path",
                                     winsvc_path_is_absolute(exe) ? config : exe);
        return 0;
}

/* The description is a convenience: a failure to set it is logged only. */
static void set_description(SC_HANDLE svc, const char *name)
{
        SERVICE_DESCRIPTIONW d = {.lpDescription = (wchar_t *) L"" DESCRIPTION};

        if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d))
                log_warn("service '%s': cannot set its description (error %lu), ignoring", name,
                         (unsigned long) GetLastError());
}

int winsvc_register(const char *name, const char *display_name, const char *exe, const char *config,
                    unsigned flags, struct uvm_error **err)
{
        _cleanup_free_ char *line = NULL;
        _cleanup_wfree_ wchar_t *wname = NULL, *wdisplay = NULL, *wline = NULL;
        _cleanup_sc_ SC_HANDLE scm = NULL, svc = NULL;
        int r;

        if ((r = check_register_args(name, display_name, exe, config, err)) < 0 ||
            (r = winsvc_command_line(exe, config, name, flags, &line, err)) < 0)
                return r;
        wname = winsvc_utf16(name);
        wdisplay = winsvc_utf16(display_name);
        wline = winsvc_utf16(line);
        if (!wname || !wdisplay || !wline)
                return uvm_error_set(err, EINVAL, "service '%s': a name or path is not UTF-8",
                                     name);
        scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
        if (!scm)
                return winsvc_win_error(err, GetLastError(), "open the service control manager");
        svc = CreateServiceW(scm, wname, wdisplay, SERVICE_CHANGE_CONFIG | SERVICE_QUERY_STATUS,
                             SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                             wline, NULL, NULL, NULL, NULL /* LocalSystem */, NULL);
        if (!svc) {
                DWORD e = GetLastError();
                if (e == ERROR_SERVICE_EXISTS || e == ERROR_DUPLICATE_SERVICE_NAME)
                        return uvm_error_set(err, EEXIST,
                                             "service '%s' is already registered "
                                             "(--unregister-service first to change it)",
                                             name);
                return winsvc_win_error(err, e, "create service '%s'", name);
        }
        set_description(svc, name);
        if ((flags & WINSVC_EVENT_LOG) && winsvc_event_source_install(name, err) < 0) {
                /* Not half-registered: take the service away again. */
                DeleteService(svc);
                return uvm_error_wrap(err, "register service '%s'", name);
        }
        log_info("registered service '%s': %s", name, line);
        return 0;
}

static const char *state_name(DWORD s)
{
        static const char *const names[] = {
                "?",       "STOPPED",          "START_PENDING", "STOP_PENDING",
                "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING", "PAUSED"};
        return s < ARRAY_SIZE(names) ? names[s] : "?";
}

/* Asks a running service to stop and waits, bounded, for STOPPED. A
 * service still starting cannot take STOP yet: it is asked once running. */
static int stop_and_wait(SC_HANDLE svc, const char *name, struct uvm_error **err)
{
        ULONGLONG deadline = GetTickCount64() + WINSVC_STOP_TIMEOUT_MS;
        SERVICE_STATUS st = {0};
        bool asked = false;

        for (;;) {
                if (!QueryServiceStatus(svc, &st))
                        return winsvc_win_error(err, GetLastError(), "query service '%s'", name);
                if (st.dwCurrentState == SERVICE_STOPPED)
                        return 0;
                if (!asked &&
                    (st.dwCurrentState == SERVICE_RUNNING || st.dwCurrentState == SERVICE_PAUSED)) {
                        if (!ControlService(svc, SERVICE_CONTROL_STOP, &st) &&
                            GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
                                return winsvc_win_error(err, GetLastError(), "stop service '%s'",
                                                        name);
                        asked = true;
                        log_info("service '%s': asked to stop", name);
                }
                if (GetTickCount64() >= deadline)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "service '%s' did not stop within %d s (%s); "
                                             "not unregistered",
                                             name, WINSVC_STOP_TIMEOUT_MS / 1000,
                                             state_name(st.dwCurrentState));
                Sleep(200);
        }
}

int winsvc_unregister(const char *name, struct uvm_error **err)
{
        _cleanup_wfree_ wchar_t *wname = NULL;
        _cleanup_sc_ SC_HANDLE scm = NULL, svc = NULL;
        int r;

        if ((r = winsvc_check_name(name, err)) < 0)
                return r;
        if (!(wname = winsvc_utf16(name)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
        if (!scm)
                return winsvc_win_error(err, GetLastError(), "open the service control manager");
        svc = OpenServiceW(scm, wname, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
        if (!svc) {
                DWORD e = GetLastError();
                if (e == ERROR_SERVICE_DOES_NOT_EXIST)
                        return uvm_error_set(err, ENOENT, "service '%s' is not registered", name);
                return winsvc_win_error(err, e, "open service '%s'", name);
        }
        if ((r = stop_and_wait(svc, name, err)) < 0)
                return r;
        if (!DeleteService(svc))
                return winsvc_win_error(err, GetLastError(), "delete service '%s'", name);
        /* Registered only with --event-log; absent is fine. */
        if (winsvc_event_source_remove(name, err) < 0)
                return uvm_error_wrap(err, "unregister service '%s'", name);
        log_info("unregistered service '%s'", name);
        return 0;
}

/* This process's own executable, as UTF-8. */
static int own_exe(char **ret, struct uvm_error **err)
{
        for (DWORD size = MAX_PATH; size <= 32768; size *= 2) {
                _cleanup_wfree_ wchar_t *w = malloc(size * sizeof(wchar_t));
                DWORD n = w ? GetModuleFileNameW(NULL, w, size) : 0;

                if (!w)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if (n == 0)
                        return winsvc_win_error(err, GetLastError(), "own executable path");
                if (n < size) {
                        char *s = winsvc_utf8(w);
                        if (!s)
                                return uvm_error_set(err, EINVAL, "own path is not UTF-16");
                        *ret = s;
                        return 0;
                }
        }
        return uvm_error_set(err, ENAMETOOLONG, "own executable path is too long");
}

/* path made absolute (the SCM starts services in the system directory); it
 * must be an existing file. */
static int absolute_file(const char *path, char **ret, struct uvm_error **err)
{
        _cleanup_wfree_ wchar_t *w = winsvc_utf16(path), *full = NULL;
        DWORD n, attr;
        char *s;

        if (!w)
                return uvm_error_set(err, EINVAL, "'%s' is not UTF-8", path);
        n = GetFullPathNameW(w, 0, NULL, NULL);
        if (n == 0 || !(full = malloc(n * sizeof(wchar_t))) ||
            GetFullPathNameW(w, n, full, NULL) >= n)
                return winsvc_win_error(err, GetLastError(), "'%s'", path);
        attr = GetFileAttributesW(full);
        if (attr == INVALID_FILE_ATTRIBUTES)
                return winsvc_win_error(err, GetLastError(), "config '%s'", path);
        if (attr & FILE_ATTRIBUTE_DIRECTORY)
                return uvm_error_set(err, EINVAL, "config '%s' is a directory", path);
        if (!(s = winsvc_utf8(full)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = s;
        return 0;
}

static int do_register(const struct winsvc_args *a, const char *default_config,
                       struct uvm_error **err)
{
        _cleanup_free_ char *exe = NULL, *config = NULL, *display = NULL;
        const char *given = a->config ? a->config : default_config;
        int r;

        if (STR_EMPTY(given))
                return uvm_error_set(err, EINVAL, "--register-service needs --config PATH");
        if ((r = own_exe(&exe, err)) < 0 || (r = absolute_file(given, &config, err)) < 0)
                return r;
        if (STR_EQ(a->name, WINSVC_DEFAULT_NAME))
                display = strdup(DISPLAY_NAME);
        else if (asprintf(&display, "%s (%s)", DISPLAY_NAME, a->name) < 0)
                display = NULL;
        if (!display)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return winsvc_register(a->name, display, exe, config, a->flags, err);
}

int winsvc_main_args(int *argc, char **argv, const char *default_config,
                     struct winsvc_args *ret_args, struct uvm_error **err)
{
        struct winsvc_args a;
        int r;

        if ((r = winsvc_parse_args(argc, argv, &a, err)) < 0)
                return r;
        if (a.command == WINSVC_CMD_REGISTER)
                r = do_register(&a, default_config, err);
        else if (a.command == WINSVC_CMD_UNREGISTER)
                r = winsvc_unregister(a.name, err);
        if (r < 0)
                return r;
        *ret_args = a;
        return a.command == WINSVC_CMD_REGISTER || a.command == WINSVC_CMD_UNREGISTER;
}
