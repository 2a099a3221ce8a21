#pragma once

/*
 * What the CNI executor (cni_exec.c, cni_conf.c: portable) gets from its
 * platform, one file each: cni_spawn.c on Linux (posix_spawn, process
 * groups), cni_spawn_win.c on Windows (CreateProcessW, a Job object).
 * cni_exec_spawn (cni_exec.h) and cni_find_plugin (cni_conf.h) are there too.
 */

#include "common/error.h"

/* The environment every plugin gets besides the CNI_* request variables:
 * CNI_PATH (bin_dirs joined with the platform's separator) and what a
 * plugin needs to run its own tools (PATH; on Windows SystemRoot and the
 * temp dirs too). NULL-terminated, malloc'd; -ENOMEM. */
int cni_plat_base_env(char *const *bin_dirs, char ***ret_env);

/* The names in dir, sorted as the kubelet sorts them (byte order): every
 * entry, the caller picks the config files. -ENOENT with a message naming
 * dir when it cannot be read. */
int cni_plat_dir_names(const char *dir, char ***ret_names, struct uvm_error **err);

/* dir + the platform's separator + name; NULL for out of memory. */
char *cni_plat_path_join(const char *dir, const char *name);
