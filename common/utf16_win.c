/* UTF-8 <-> UTF-16 for the Windows API edge (utf16.h). */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

#include "common/utf16.h"

int utf8_to_wide(const char *s, size_t max_bytes, wchar_t **ret)
{
        size_t len;
        wchar_t *w;
        int n;

        if (!s || max_bytes >= INT_MAX)
                return -EINVAL;
        len = strnlen(s, max_bytes + 1);
        if (len > max_bytes)
                return -EINVAL;
        /* len + 1: the terminator is converted too. */
        n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, (int) len + 1, NULL, 0);
        if (n <= 0)
                return -EINVAL;
        w = calloc((size_t) n, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, (int) len + 1, w, n) != n) {
                free(w);
                return -EINVAL;
        }
        *ret = w;
        return 0;
}

int wide_to_utf8(const wchar_t *w, size_t max_bytes, char **ret)
{
        size_t len;
        char *s;
        int n;

        if (!w || max_bytes >= INT_MAX)
                return -EINVAL;
        /* Each UTF-16 unit is at least one UTF-8 byte. */
        len = wcsnlen(w, max_bytes + 1);
        if (len > max_bytes)
                return -EINVAL;
        n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int) len + 1, NULL, 0, NULL,
                                NULL);
        if (n <= 0 || (size_t) n > max_bytes + 1)
                return -EINVAL;
        s = malloc((size_t) n);
        if (!s)
                return -ENOMEM;
        if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int) len + 1, s, n, NULL,
                                NULL) != n) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}
