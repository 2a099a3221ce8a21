#pragma once

#include <stdbool.h>

/*
 * The portability seam: the few operating-system services that portable
 * modules (records, ids, UVM options, the bridge codec, image parsers) need,
 * with one implementation per platform: platform_linux.c and platform_win.c,
 * picked by //common:platform. Everything else a portable module uses is
 * ISO C plus json-c. Paths are UTF-8 on both; on Windows they are converted
 * to UTF-16 at this edge and both '/' and '\' separate components.
 *
 * Every function that can fail returns 0 (or a count) on success and -errno
 * on failure; Windows error codes are mapped to the nearest errno value.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Monotonic clock in nanoseconds, for timeouts and durations. Never goes
 * back; its zero is arbitrary. */
uint64_t plat_now_ns(void);

/* Wall-clock time in nanoseconds since the Unix epoch (UTC), for records
 * and CRI timestamps. */
uint64_t plat_realtime_ns(void);

/* Fill buf with n bytes from the system's cryptographic random source
 * (getrandom, BCryptGenRandom). 0 or -errno; after a failure buf holds
 * nothing usable. */
int plat_random(void *buf, size_t n);

/* Online logical processors of the host, at least 1. */
unsigned plat_host_cpus(void);

/* Replace path with data, atomically: a temp file in the same directory,
 * flushed to disk, then renamed over path (and, on Linux, the directory
 * synced), so a reader sees the old or the new content, never a torn one.
 * mode applies to a new file on Linux; Windows files take the directory's
 * ACL. */
int plat_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer (ret_len may be NULL). -EFBIG when the file holds more than max
 * bytes. */
int plat_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Open an existing regular file for streaming reads (binary, never
 * inherited by child processes). -EINVAL for a directory, FIFO or device:
 * they would read as garbage or block. */
int plat_fopen_read(const char *path, FILE **ret_file);

/* mkdir -p: create path and its missing parents (mode for new directories
 * on Linux). 0 when it already is a directory, -ENOTDIR when something else
 * is in the way. */
int plat_mkdir_p(const char *path, mode_t mode);

/* Each entry of dir whose name does not start with '.', with whether it is
 * a directory: fn(data, name, is_dir). A missing dir has no entries (0);
 * else 0 or -errno. */
int plat_dir_each(const char *dir, void (*fn)(void *data, const char *name, bool is_dir),
                  void *data);

/* rm -rf: remove path and everything below it; 0 when it does not exist.
 * Never follows a link: a symlink, junction or (on Linux) a mount point
 * below path is not descended into (Linux: -EXDEV for a mount point). */
int plat_rm_rf(const char *path);

/* Create a new private directory "<temp dir>/<prefix>XXXXXX" (TMPDIR or
 * /tmp; GetTempPathW) and return its malloc'd path. For tests and scratch
 * space: mingw-w64 has no mkdtemp(). */
int plat_mkdtemp(const char *prefix, char **ret_path);

#ifdef _WIN32
/* The errno value (positive) nearest to a Win32 error code (GetLastError()),
 * EIO when there is none. For Windows-only modules at the API edge. */
int plat_errno_from_win32(unsigned long code);
#endif

#ifdef _WIN32
#include <stdlib.h>
#include <string.h>

/* POSIX/glibc string functions that mingw-w64's C library lacks, so that
 * portable modules can keep using them. */
static inline char *strndup(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        char *d = malloc(len + 1);

        if (!d)
                return NULL;
        memcpy(d, s, len);
        d[len] = '\0';
        return d;
}

static inline void *memrchr(const void *s, int c, size_t n)
{
        const unsigned char *p = s;

        while (n-- > 0)
                if (p[n] == (unsigned char) c)
                        return (void *) (p + n);
        return NULL;
}
#endif
