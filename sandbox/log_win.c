/* The CRI log's file on Windows (log-plat.h): UTF-16 at this edge. Opened
 * with append access only, so that each WriteFile lands whole at the end
 * of the file; shared for reading, writing and deleting, so that the
 * kubelet can read it and rotate it (rename) while it is open. */

#include <errno.h>
#include <wchar.h>

#include <windows.h>

#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "sandbox/log-plat.h"

int crilog_plat_open(const char *path, intptr_t *ret_file)
{
        _cleanup_free_ wchar_t *w = NULL;
        BY_HANDLE_FILE_INFORMATION info;
        HANDLE h;
        int r = utf8_to_wide(path, UTF16_PATH_MAX, &w);

        if (r < 0)
                return r;
        /* The link itself, not its target: then refused (O_NOFOLLOW). */
        h = CreateFileW(w, FILE_APPEND_DATA | SYNCHRONIZE,
                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
        if (h == INVALID_HANDLE_VALUE)
                return -plat_errno_from_win32(GetLastError());
        if (!GetFileInformationByHandle(h, &info)) {
                r = -plat_errno_from_win32(GetLastError());
                CloseHandle(h);
                return r;
        }
        if (info.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY)) {
                CloseHandle(h);
                return info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY ? -EISDIR : -ELOOP;
        }
        *ret_file = (intptr_t) h;
        return 0;
}

int crilog_plat_write(intptr_t file, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                DWORD n = len > (1u << 30) ? (1u << 30) : (DWORD) len, done = 0;

                if (!WriteFile((HANDLE) file, p, n, &done, NULL))
                        return -plat_errno_from_win32(GetLastError());
                if (done == 0)
                        return -EIO;
                p += done;
                len -= done;
        }
        return 0;
}

void crilog_plat_close(intptr_t file)
{
        CloseHandle((HANDLE) file);
}
