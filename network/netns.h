#pragma once

/*
 * Pod network namespaces, persisted as nsfs bind mounts on plain files (the
 * `ip netns` convention), so a namespace outlives every process in it and
 * survives a uvmd restart. No daemon thread ever changes namespace: creating
 * and entering happen on short-lived dedicated threads.
 */

#include <stdbool.h>

#include "common/error.h"

/* Create a new network namespace with loopback up and bind-mount it onto a
 * new file at path. The parent directory must exist; an existing path is
 * -EEXIST. On failure nothing is left behind. */
int netns_create(const char *path, struct uvm_error **err);

/* The same, the namespace owned by the user namespace pinned at
 * userns_path (NULL: the caller's, as netns_create), so that processes in
 * that user namespace may administer it and mount its sysfs. */
int netns_create_owned(const char *path, const char *userns_path, struct uvm_error **err);

/* Unmount and unlink path. Idempotent: a missing or unmounted path is fine. */
int netns_remove(const char *path, struct uvm_error **err);

/* Whether path is a mounted network namespace. */
bool netns_is_valid(const char *path);

typedef int (*netns_fn)(void *data);

/* Run fn(data) on a new thread that has joined the namespace at path, and
 * return what fn returned (fn returns 0 or -errno), or the setup error. */
int netns_run(const char *path, netns_fn fn, void *data, struct uvm_error **err);

/* netns_run for a job that keeps its own error in *job_err (fn cannot
 * return one): when set, it becomes *err's message and code, and is freed. */
int netns_run_job(const char *path, netns_fn fn, void *data, struct uvm_error **job_err,
                  struct uvm_error **err);
