#pragma once

/*
 * UTF-8 <-> UTF-16 at the Windows API edge (Windows only): uvmd's strings
 * are UTF-8 everywhere else. Both refuse invalid input (unpaired
 * surrogates, bad UTF-8) and anything longer than max_bytes bytes of UTF-8,
 * and return 0, -EINVAL or -ENOMEM; *ret is malloc'd.
 */

#ifdef _WIN32
#include <stddef.h>
#include <wchar.h>

int utf8_to_wide(const char *s, size_t max_bytes, wchar_t **ret);
int wide_to_utf8(const wchar_t *w, size_t max_bytes, char **ret);

/* The longest path Windows takes (\\?\ form), in UTF-8 bytes at most. */
#define UTF16_PATH_MAX 32767u
#endif
