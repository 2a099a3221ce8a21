/* The Windows side of common/platform.h (mingw-w64): Win32 and CNG calls,
 * UTF-8 paths converted to UTF-16 here and nowhere else. */

#include <errno.h>
#include <io.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <bcrypt.h>

#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"

/* From FILETIME's epoch (1601-01-01) to the Unix one, in 100 ns ticks. */
#define EPOCH_DIFF_100NS 116444736000000000ull
/* Reads go in chunks a DWORD can count. */
#define IO_CHUNK (1u << 30)

int plat_errno_from_win32(unsigned long code)
{
        switch (code) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
        case ERROR_INVALID_DRIVE:
        case ERROR_BAD_NETPATH:
                return ENOENT;
        case ERROR_ACCESS_DENIED:
        case ERROR_PRIVILEGE_NOT_HELD:
                return EACCES;
        case ERROR_ALREADY_EXISTS:
        case ERROR_FILE_EXISTS:
                return EEXIST;
        case ERROR_NOT_ENOUGH_MEMORY:
        case ERROR_OUTOFMEMORY:
                return ENOMEM;
        case ERROR_DISK_FULL:
        case ERROR_HANDLE_DISK_FULL:
                return ENOSPC;
        case ERROR_INVALID_NAME:
        case ERROR_BAD_PATHNAME:
        case ERROR_INVALID_PARAMETER:
        case ERROR_NO_UNICODE_TRANSLATION:
                return EINVAL;
        case ERROR_SHARING_VIOLATION:
        case ERROR_LOCK_VIOLATION:
        case ERROR_BUSY:
                return EBUSY;
        case ERROR_DIR_NOT_EMPTY:
                return ENOTEMPTY;
        case ERROR_DIRECTORY:
                return ENOTDIR;
        case ERROR_FILENAME_EXCED_RANGE:
                return ENAMETOOLONG;
        case ERROR_TIMEOUT:
        case WAIT_TIMEOUT:
                return ETIMEDOUT;
        case ERROR_NOT_SUPPORTED:
        case ERROR_CALL_NOT_IMPLEMENTED:
                return ENOTSUP;
        default:
                return EIO;
        }
}

static int last_error(void)
{
        return -plat_errno_from_win32(GetLastError());
}

/* Paths as the API takes them (utf16.h). */
static int to_wide(const char *s, wchar_t **ret)
{
        return utf8_to_wide(s, UTF16_PATH_MAX, ret);
}

static int from_wide(const wchar_t *w, char **ret)
{
        return wide_to_utf8(w, UTF16_PATH_MAX, ret);
}

static void handle_closep(HANDLE *h)
{
        if (*h != INVALID_HANDLE_VALUE)
                CloseHandle(*h);
}

#define _cleanup_handle_ _cleanup_(handle_closep)

uint64_t plat_now_ns(void)
{
        static LARGE_INTEGER freq; /* constant since boot: racing writers agree */
        LARGE_INTEGER c;

        if (freq.QuadPart == 0)
                QueryPerformanceFrequency(&freq);
        QueryPerformanceCounter(&c);
        /* Split to keep count * 1e9 from overflowing. */
        return (uint64_t) (c.QuadPart / freq.QuadPart) * 1000000000ull +
               (uint64_t) (c.QuadPart % freq.QuadPart) * 1000000000ull / (uint64_t) freq.QuadPart;
}

uint64_t plat_realtime_ns(void)
{
        FILETIME ft;
        uint64_t t;

        GetSystemTimePreciseAsFileTime(&ft);
        t = ((uint64_t) ft.dwHighDateTime << 32) | ft.dwLowDateTime;
        return t < EPOCH_DIFF_100NS ? 0 : (t - EPOCH_DIFF_100NS) * 100;
}

int plat_random(void *buf, size_t n)
{
        unsigned char *p = buf;

        while (n > 0) {
                ULONG chunk = n > IO_CHUNK ? IO_CHUNK : (ULONG) n;

                if (!BCRYPT_SUCCESS(
                            BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
                        return -EIO;
                p += chunk;
                n -= chunk;
        }
        return 0;
}

unsigned plat_host_cpus(void)
{
        DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);

        return n > 0 ? (unsigned) n : 1;
}

static int write_all(HANDLE h, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                DWORD chunk = len > IO_CHUNK ? IO_CHUNK : (DWORD) len, n = 0;

                if (!WriteFile(h, p, chunk, &n, NULL))
                        return last_error();
                p += n;
                len -= n;
        }
        return 0;
}

/* Write and flush the temp file; closes it before returning so the rename
 * can replace path. */
static int write_temp(const wchar_t *tmp, const void *data, size_t len)
{
        _cleanup_handle_ HANDLE h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                                                FILE_ATTRIBUTE_NORMAL, NULL);
        int r;

        if (h == INVALID_HANDLE_VALUE)
                return last_error();
        r = write_all(h, data, len);
        if (r == 0 && !FlushFileBuffers(h))
                r = last_error();
        return r;
}

int plat_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_free_ wchar_t *wpath = NULL, *wtmp = NULL;
        int r;

        (void) mode; /* the file takes the directory's ACL */
        if (STR_EMPTY(path) || (!data && len > 0))
                return -EINVAL;
        if (asprintf(&tmp, "%s.tmp.%lu.%lu", path, (unsigned long) GetCurrentProcessId(),
                     (unsigned long) GetCurrentThreadId()) < 0)
                return -ENOMEM;
        r = to_wide(path, &wpath);
        if (r == 0)
                r = to_wide(tmp, &wtmp);
        if (r < 0)
                return r;
        r = write_temp(wtmp, data, len);
        /* WRITE_THROUGH: return only once the rename itself is on disk. */
        if (r == 0 && !MoveFileExW(wtmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
                r = last_error();
        if (r < 0)
                DeleteFileW(wtmp);
        return r;
}

int plat_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
        _cleanup_free_ wchar_t *wpath = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_handle_ HANDLE h = INVALID_HANDLE_VALUE;
        size_t len = 0, cap = 4096;
        int r;

        if (!ret_buf)
                return -EINVAL;
        r = to_wide(path, &wpath);
        if (r < 0)
                return r;
        h = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                        NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE)
                return last_error();
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        /* Read to the end rather than trust the size: the file may grow. */
        for (;;) {
                DWORD n = 0, want;

                if (len == cap) {
                        char *nb;
                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                want = cap - len > IO_CHUNK ? IO_CHUNK : (DWORD) (cap - len);
                if (!ReadFile(h, buf + len, want, &n, NULL))
                        return last_error();
                if (n == 0)
                        break;
                len += n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret_buf = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int plat_fopen_read(const char *path, FILE **ret_file)
{
        _cleanup_free_ wchar_t *w = NULL;
        FILE *f;
        DWORD a;
        int r;

        if (STR_EMPTY(path) || !ret_file)
                return -EINVAL;
        r = to_wide(path, &w);
        if (r < 0)
                return r;
        a = GetFileAttributesW(w);
        if (a == INVALID_FILE_ATTRIBUTES)
                return last_error();
        if (a & FILE_ATTRIBUTE_DIRECTORY)
                return -EINVAL;
        /* "N": not inherited by child processes (msvcrt's O_NOINHERIT). */
        f = _wfopen(w, L"rbN");
        if (!f)
                return errno ? -errno : -EIO;
        /* Only a file on disk: not a pipe, console or device name. */
        if (GetFileType((HANDLE) _get_osfhandle(_fileno(f))) != FILE_TYPE_DISK) {
                fclose(f);
                return -EINVAL;
        }
        *ret_file = f;
        return 0;
}

static bool is_sep(wchar_t c)
{
        return c == L'/' || c == L'\\';
}

static bool is_dir(const wchar_t *w)
{
        DWORD a = GetFileAttributesW(w);

        return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

/* Create one directory; an existing one is fine, anything else there is
 * -ENOTDIR. */
static int mkdir_one(const wchar_t *w)
{
        DWORD e;

        if (CreateDirectoryW(w, NULL))
                return 0;
        e = GetLastError();
        if (is_dir(w))
                return 0;
        if (e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS)
                return -ENOTDIR;
        return -plat_errno_from_win32(e);
}

/* Length of the root of an absolute path: "C:", "\\server\share" or
 * "\\?\C:" (separators after it are skipped by the caller), else 0. */
static size_t root_len(const wchar_t *w)
{
        size_t i = 0;
        int seps = 0;

        if (w[0] && w[1] == L':')
                return 2;
        if (!is_sep(w[0]) || !is_sep(w[1]))
                return is_sep(w[0]) ? 1 : 0;
        /* UNC: the first two components after the leading pair. */
        for (i = 2; w[i]; i++)
                if (is_sep(w[i]) && ++seps == 2)
                        break;
        return i;
}

int plat_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ wchar_t *w = NULL;
        int r;

        (void) mode; /* new directories take their parent's ACL */
        if (STR_EMPTY(path))
                return -EINVAL;
        r = to_wide(path, &w);
        if (r < 0)
                return r;
        /* Each prefix ending before a separator, then the whole path; the
         * root ("C:\", "\\server\share\") is never created. */
        for (wchar_t *p = w + root_len(w); *p; p++) {
                if (!is_sep(*p) || p == w || is_sep(p[-1]))
                        continue;
                *p = L'\0';
                r = mkdir_one(w);
                *p = L'\\';
                if (r < 0)
                        return r;
        }
        return mkdir_one(w);
}

static int rm_rf_w(const wchar_t *w);

/* Remove what a directory holds, every entry tried; the first error. */
static int rm_children(const wchar_t *dir)
{
        size_t n = wcslen(dir);
        _cleanup_free_ wchar_t *pattern = malloc((n + 3) * sizeof(wchar_t));
        WIN32_FIND_DATAW fd;
        HANDLE find;
        int r = 0;

        if (!pattern)
                return -ENOMEM;
        swprintf(pattern, n + 3, L"%ls\\*", dir);
        find = FindFirstFileW(pattern, &fd);
        if (find == INVALID_HANDLE_VALUE)
                return GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : last_error();
        do {
                size_t m = wcslen(fd.cFileName);
                wchar_t *child;
                int q;

                if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
                        continue;
                child = malloc((n + m + 2) * sizeof(wchar_t));
                if (!child) {
                        r = r ?: -ENOMEM;
                        continue;
                }
                swprintf(child, n + m + 2, L"%ls\\%ls", dir, fd.cFileName);
                q = rm_rf_w(child);
                free(child);
                if (q < 0 && r == 0)
                        r = q;
        } while (FindNextFileW(find, &fd));
        FindClose(find);
        return r;
}

static int rm_rf_w(const wchar_t *w)
{
        DWORD a = GetFileAttributesW(w);
        int r;

        if (a == INVALID_FILE_ATTRIBUTES) {
                DWORD e = GetLastError();
                return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? 0 : last_error();
        }
        if (a & FILE_ATTRIBUTE_READONLY)
                SetFileAttributesW(w, a & ~(DWORD) FILE_ATTRIBUTE_READONLY);
        /* A symlink or junction to a directory: remove the link, never what
         * it points to. */
        if ((a & FILE_ATTRIBUTE_DIRECTORY) && !(a & FILE_ATTRIBUTE_REPARSE_POINT)) {
                r = rm_children(w);
                if (r < 0)
                        return r;
        }
        if (a & FILE_ATTRIBUTE_DIRECTORY)
                return RemoveDirectoryW(w) ? 0 : last_error();
        return DeleteFileW(w) ? 0 : last_error();
}

int plat_dir_each(const char *dir, void (*fn)(void *data, const char *name, bool is_dir),
                  void *data)
{
        _cleanup_free_ char *pattern = NULL;
        _cleanup_free_ wchar_t *w = NULL;
        WIN32_FIND_DATAW fd;
        HANDLE find;
        int r;

        if (asprintf(&pattern, "%s\\*", dir) < 0)
                return -ENOMEM;
        r = utf8_to_wide(pattern, UTF16_PATH_MAX, &w);
        if (r < 0)
                return r;
        find = FindFirstFileW(w, &fd);
        if (find == INVALID_HANDLE_VALUE) {
                DWORD e = GetLastError();

                return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND
                               ? 0
                               : -plat_errno_from_win32(e);
        }
        do {
                char *name = NULL;

                if (fd.cFileName[0] != L'.' &&
                    wide_to_utf8(fd.cFileName, UTF16_PATH_MAX, &name) >= 0)
                        fn(data, name, fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
                free(name);
        } while (FindNextFileW(find, &fd));
        FindClose(find);
        return 0;
}

int plat_rm_rf(const char *path)
{
        _cleanup_free_ wchar_t *w = NULL;
        int r;

        if (STR_EMPTY(path))
                return -EINVAL;
        r = to_wide(path, &w);
        return r < 0 ? r : rm_rf_w(w);
}

/* The temp directory, UTF-8, without a trailing separator. */
static int temp_dir(char **ret)
{
        wchar_t w[MAX_PATH + 1];
        DWORD n = GetTempPathW(ARRAY_SIZE(w), w);

        if (n == 0 || n > MAX_PATH)
                return n == 0 ? last_error() : -ENAMETOOLONG;
        while (n > 1 && is_sep(w[n - 1]))
                w[--n] = L'\0';
        return from_wide(w, ret);
}

int plat_mkdtemp(const char *prefix, char **ret_path)
{
        static const char hex[] = "0123456789abcdef";
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!prefix || strpbrk(prefix, "/\\:"))
                return -EINVAL;
        r = temp_dir(&dir);
        if (r < 0)
                return r;
        /* Random names, so a clash is rare; retry a few times if one is. */
        for (int tries = 0; tries < 16; tries++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_free_ wchar_t *w = NULL;
                unsigned char raw[6];
                char name[2 * sizeof(raw) + 1];

                r = plat_random(raw, sizeof(raw));
                if (r < 0)
                        return r;
                for (size_t i = 0; i < sizeof(raw); i++) {
                        name[2 * i] = hex[raw[i] >> 4];
                        name[2 * i + 1] = hex[raw[i] & 15];
                }
                name[sizeof(name) - 1] = '\0';
                if (asprintf(&path, "%s\\%s%s", dir, prefix, name) < 0)
                        return -ENOMEM;
                r = to_wide(path, &w);
                if (r < 0)
                        return r;
                if (CreateDirectoryW(w, NULL)) {
                        *ret_path = TAKE_PTR(path);
                        return 0;
                }
                if (GetLastError() != ERROR_ALREADY_EXISTS)
                        return last_error();
        }
        return -EEXIST;
}
