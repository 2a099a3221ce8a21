/* registry-plat.h on Windows: paths are UTF-8 until CreateFileW. */

#include <errno.h>
#include <stdlib.h>

#include <windows.h>

#include "common/platform.h"
#include "common/utf16.h"
#include "image/registry-plat.h"

struct reg_file {
        HANDLE h;
};

static int last_errno(void)
{
        return -plat_errno_from_win32(GetLastError());
}

int reg_file_create(const char *path, struct reg_file **ret)
{
        struct reg_file *f;
        wchar_t *w = NULL;
        int r;

        r = utf8_to_wide(path, UTF16_PATH_MAX, &w);
        if (r < 0)
                return r;
        f = malloc(sizeof(*f));
        if (!f) {
                free(w);
                return -ENOMEM;
        }
        /* CREATE_NEW: an existing file is an error, as O_EXCL; not shared
         * while it is written. */
        f->h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
        r = f->h == INVALID_HANDLE_VALUE ? last_errno() : 0;
        free(w);
        if (r < 0) {
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

int reg_file_write(struct reg_file *f, const void *data, size_t n)
{
        const char *p = data;

        while (n > 0) {
                DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD) n, w = 0;

                if (!WriteFile(f->h, p, chunk, &w, NULL))
                        return last_errno();
                p += w;
                n -= w;
        }
        return 0;
}

int reg_file_truncate(struct reg_file *f)
{
        LARGE_INTEGER zero = {0};

        if (!SetFilePointerEx(f->h, zero, NULL, FILE_BEGIN) || !SetEndOfFile(f->h))
                return last_errno();
        return 0;
}

int reg_file_sync(struct reg_file *f)
{
        return FlushFileBuffers(f->h) ? 0 : last_errno();
}

int reg_file_close(struct reg_file *f)
{
        int r = 0;

        if (!f)
                return 0;
        if (!CloseHandle(f->h))
                r = last_errno();
        free(f);
        return r;
}

int reg_file_remove(const char *path)
{
        wchar_t *w = NULL;
        int r;

        r = utf8_to_wide(path, UTF16_PATH_MAX, &w);
        if (r < 0)
                return r;
        r = DeleteFileW(w) ? 0 : last_errno();
        free(w);
        return r;
}

void reg_sleep_ms(unsigned ms)
{
        Sleep(ms);
}
