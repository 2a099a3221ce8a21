#pragma once

/* Small file helpers: atomic writes, bounded reads, directory creation. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. Returns 0 or -errno. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file of at most max bytes; the buffer is NUL-terminated.
 * -EFBIG when the file is larger than max. */
int fs_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Write s to an existing file (a sysfs, procfs or cgroup knob) in one
 * write. 0 or -errno. */
int fs_write_string(const char *path, const char *s);

/* mkdir -p with the given mode for created directories; -ENOTDIR when path
 * exists and is not a directory. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf that never crosses into another mount, bind mounts of the same
 * filesystem included (mount ids, Linux 5.8), nor removes a file mounted
 * over: -EXDEV then, with everything else removed. */
int fs_rm_rf(const char *path);

/* du: bytes allocated and inodes below path, on path's filesystem only,
 * symlinks not followed. -errno when the walk fails. */
int fs_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes);

/* The mount holding path (absolute, symlinks resolved): its mount point and
 * whether it is shared or a slave, from our /proc/self/mountinfo. -ENOENT
 * when none matches. */
int fs_mount_of(const char *path, char *ret_mnt, size_t mnt_len, bool *shared, bool *slave);

/* Whether every directory on the way to path (absolute, itself included) can
 * be searched by anyone (o+x), as a process in a user namespace must to reach
 * what lies below. On false, ret_dir (may be NULL) names the first one that
 * cannot. */
bool fs_searchable_by_all(const char *path, char *ret_dir, size_t len);

/* Unmount every mount stacked on path (at most max); errors other than "not
 * mounted" are returned. */
int fs_unmount_all(const char *path, int max);

/* Detach every mount strictly below dir (from /proc/self/mountinfo; at most
 * max of them), deepest first. 0, or the first -errno an unmount gave
 * (the others are still tried). */
int fs_unmount_below(const char *dir, size_t max);

/* "<dir>/<name>", malloc'd; NULL when out of memory. */
char *fs_path_join(const char *dir, const char *name);

/* An executable: a name holding a '/' as it is, else the first match on
 * PATH (a system default when PATH is unset). *ret_path is malloc'd.
 * -ENOENT when there is none, -errno for a path that cannot run. */
int fs_find_exec(const char *name, char **ret_path);
/* A system tool (ip, tc, mkfs.erofs) in /usr/sbin, /sbin, /usr/bin or
 * /bin, whatever uvmd's own PATH says: its path in ret, or -ENOENT. */
int fs_find_tool(const char *name, char *ret, size_t len);
