#pragma once

/*
 * The CRI log's file, one implementation per platform (log_linux.c,
 * log_win.c); the format and the line splitting are log.c's, shared. A
 * file is an fd on Linux and a HANDLE on Windows, -1 when there is none
 * (INVALID_HANDLE_VALUE is -1 too).
 */

#include <stddef.h>
#include <stdint.h>

/* Open path for appending, creating it (mode 0640 on Linux; the
 * directory's ACL on Windows); a symlink (reparse point) is refused. The
 * file may be renamed or removed while open (rotation). 0 or -errno. */
int crilog_plat_open(const char *path, intptr_t *ret_file);

/* Append buf whole, at the end of the file whoever else appends: one
 * record is one write. 0 or -errno. */
int crilog_plat_write(intptr_t file, const void *buf, size_t len);

void crilog_plat_close(intptr_t file);
