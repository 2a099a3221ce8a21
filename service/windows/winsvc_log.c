#include <windows.h>
#include <string.h>

#include "service/windows/winsvc-internal.h"
#include "service/windows/winsvc.h"
#include "service/windows/winsvc_log.h"

/* Records longer than this are cut in the event log (its limit is 31,839
 * characters per string). */
#define RECORD_EVENT_MAX 8192
#define RECORD_EVENT_ID 1

struct winsvc_log {
        HANDLE file;   /* opened for FILE_APPEND_DATA only */
        HANDLE source; /* event source, or NULL */
};

/* Creates every missing directory above the file at path. */
static int make_parents(wchar_t *path, struct uvm_error **err)
{
        /* Skip the root: "X:\" or "\\server\share\". */
        wchar_t *p = path + (path[0] && path[1] == L':' ? 3 : 0);

        if (path[0] == L'\\' && path[1] == L'\\')
                for (int seps = 0; *p && seps < 4; p++)
                        seps += *p == L'\\';
        for (; *p; p++) {
                if (*p != L'\\' && *p != L'/')
                        continue;
                wchar_t c = *p;
                *p = L'\0';
                if (!CreateDirectoryW(path, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
                        DWORD e = GetLastError();
                        _cleanup_free_ char *dir = winsvc_utf8(path);
                        *p = c;
                        return winsvc_win_error(err, e, "log directory '%s'", dir ? dir : "?");
                }
                *p = c;
        }
        return 0;
}

int winsvc_log_open(const char *path, const char *event_source, struct winsvc_log **ret_log,
                    struct uvm_error **err)
{
        _cleanup_wfree_ wchar_t *wpath = NULL, *wsrc = NULL;
        struct winsvc_log *l;
        int r;

        if ((r = winsvc_check_path("log", path, err)) < 0 ||
            (event_source && (r = winsvc_check_name(event_source, err)) < 0))
                return r;
        if (!winsvc_path_is_absolute(path))
                return uvm_error_set(err, EINVAL, "log path '%s' is not absolute", path);
        if (!(wpath = winsvc_utf16(path)) || (event_source && !(wsrc = winsvc_utf16(event_source))))
                return uvm_error_set(err, EINVAL, "log path '%s' is not UTF-8", path);
        if ((r = make_parents(wpath, err)) < 0)
                return r;
        if (!(l = calloc(1, sizeof(*l))))
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* Append-only access: every WriteFile lands at the end as one piece,
         * and readers (an operator's tail) are not locked out. */
        l->file = CreateFileW(wpath, FILE_APPEND_DATA,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                              OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (l->file == INVALID_HANDLE_VALUE) {
                r = winsvc_win_error(err, GetLastError(), "log file '%s'", path);
                free(l);
                return r;
        }
        if (wsrc && !(l->source = RegisterEventSourceW(NULL, wsrc))) {
                r = winsvc_win_error(err, GetLastError(), "event source '%s'", event_source);
                CloseHandle(l->file);
                free(l);
                return r;
        }
        *ret_log = l;
        return 0;
}

unsigned short winsvc_log_event_type(const char *record, size_t len)
{
        /* Text: "<time> <level> ..."; JSON: {"time":...,"level":"<level>",...}. */
        const char *sp = memchr(record, ' ', len);
        const char *lvl = NULL;

        if (len > 0 && record[0] == '{') {
                const char *k = strstr(record, "\"level\":\"");
                lvl = k ? k + 9 : NULL;
        } else if (sp) {
                lvl = sp + 1;
        }
        if (lvl && strncmp(lvl, "error", 5) == 0)
                return EVENTLOG_ERROR_TYPE;
        if (lvl && strncmp(lvl, "warn", 4) == 0)
                return EVENTLOG_WARNING_TYPE;
        return EVENTLOG_INFORMATION_TYPE;
}

static void report_event(HANDLE source, const char *record, size_t len)
{
        char buf[RECORD_EVENT_MAX];
        size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
        _cleanup_wfree_ wchar_t *w = NULL;
        const wchar_t *strings[1];

        /* A cut record ends before a whole UTF-8 sequence, not inside one. */
        while (n < len && n > 0 && ((unsigned char) record[n] & 0xc0) == 0x80)
                n--;
        memcpy(buf, record, n);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = '\0';
        if (!(w = winsvc_utf16(buf)))
                return; /* not UTF-8 or out of memory, ignoring */
        strings[0] = w;
        if (!ReportEventW(source, winsvc_log_event_type(record, len), 0, RECORD_EVENT_ID, NULL, 1,
                          0, strings, NULL)) {
                /* The file has the record; nowhere else to say so, ignoring. */
        }
}

void winsvc_log_sink(const char *record, size_t len, void *userdata)
{
        struct winsvc_log *l = userdata;
        DWORD done = 0;

        if (!l)
                return;
        if (len > 0 && len <= MAXDWORD && !WriteFile(l->file, record, (DWORD) len, &done, NULL)) {
                /* Nowhere left to report a failed log write, ignoring. */
        }
        if (l->source)
                report_event(l->source, record, len);
}

struct winsvc_log *winsvc_log_close(struct winsvc_log *l)
{
        if (!l)
                return NULL;
        if (l->source)
                DeregisterEventSource(l->source);
        CloseHandle(l->file);
        free(l);
        return NULL;
}
