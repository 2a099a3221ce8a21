#pragma once

/*
 * What the registry client needs from its host besides HTTP: the file a
 * blob streams into, and a pause between retries. registry-plat_linux.c
 * (a file descriptor), registry-plat_win.c (a HANDLE; UTF-16 at the edge).
 * Each returns 0 or -errno.
 */

#include <stddef.h>

struct reg_file;

/* Create path, which must not exist (0644 on Linux). */
int reg_file_create(const char *path, struct reg_file **ret);
int reg_file_write(struct reg_file *f, const void *p, size_t n);
/* Empty it and write from its start again (a retry). */
int reg_file_truncate(struct reg_file *f);
/* Its data on disk. */
int reg_file_sync(struct reg_file *f);
/* Close (NULL is fine). */
int reg_file_close(struct reg_file *f);
int reg_file_remove(const char *path);

void reg_sleep_ms(unsigned ms);
