#pragma once

/*
 * Namespaces pinned on plain files (nsfs bind mounts, the `ip netns`
 * convention), so one outlives every process in it and survives a restart.
 *
 * Some namespaces can only be made by a process of its own: a thread may not
 * join a user namespace, and a namespace owned by a user namespace must be
 * made from inside it. nsfs_pin_child makes them in a short-lived child.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Runs in the child, a raw clone of a possibly multi-threaded process: it
 * may make system calls only (no malloc, no locks, no stdio). Returns 0 or
 * -errno and sets *step to a constant naming what failed. */
typedef int (*nsfs_child_fn)(void *data, const char **step);
/* Runs in the parent once the child's setup is done, before the pin. */
typedef int (*nsfs_parent_fn)(pid_t child, void *data, const char **step);

/* Create path (an existing one is -EEXIST), run child_fn in a child, then
 * parent_fn (may be NULL), then bind-mount the child's namespace ns ("user",
 * "net", ...) onto path. 0 or -errno with *step naming the failing step; on
 * failure nothing is left. */
int nsfs_pin_child(const char *path, const char *ns, nsfs_child_fn child_fn,
                   nsfs_parent_fn parent_fn, void *data, const char **step);

/* Unmount (every stacked layer) and unlink path. Idempotent. 0 or -errno
 * with *step set. */
int nsfs_unpin(const char *path, const char **step);

/* A detached clone of the mount tree at path (recursive: with its sub
 * mounts), idmapped with the user namespace userns_fd, with the mount
 * attributes attr (MOUNT_ATTR_*) added: an fd for move_mount, or for
 * overlayfs as /proc/self/fd/N. -errno, with *step set; EINVAL from the
 * idmap step means the filesystem cannot be idmapped. */
int nsfs_idmapped_clone(const char *path, int userns_fd, uint64_t attr, bool recursive,
                        const char **step);
