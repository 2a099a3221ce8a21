/* The per-pod parent cgroup: the OCI runtime creates it (as the parent of
 * each container's cgroup) but removes only the containers' own; the pod's
 * goes when the pod is removed. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "sandbox/cgroup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PARENT_MAX 1024

int sbx_cgroup_parent_check(const char *parent, bool systemd, struct uvm_error **err)
{
        size_t n = strlen(parent);

        if (n == 0 || n > PARENT_MAX)
                return uvm_error_set(err, EINVAL, "cgroup_parent: 1 to %d bytes", PARENT_MAX);
        if (systemd) {
                /* "kubepods-burstable-pod<uid>.slice": a unit name, no path. */
                if (n < 7 || strcmp(parent + n - 6, ".slice") != 0 ||
                    strspn(parent, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-.:") != n)
                        return uvm_error_set(err, EINVAL,
                                             "cgroup_parent \"%.128s\": the systemd cgroup "
                                             "driver wants a slice name (\"*.slice\")",
                                             parent);
                return 0;
        }
        if (parent[0] != '/' || strstr(parent, "/../") || strcmp(parent + n - 3, "/..") == 0 ||
            strspn(parent, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_-./:") != n)
                return uvm_error_set(err, EINVAL,
                                     "cgroup_parent \"%.128s\": the cgroupfs driver wants an "
                                     "absolute path without \"..\"",
                                     parent);
        return 0;
}

char *sbx_cgroup_parent(const char *kubelet_parent, const char *pod_id, bool systemd)
{
        char *s = NULL;

        if (!STR_EMPTY(kubelet_parent))
                return strdup(kubelet_parent);
        if (asprintf(&s, systemd ? "uvmd-%s.slice" : "/uvmd/%s", pod_id) < 0)
                return NULL;
        return s;
}

void sbx_cgroup_remove_own(const char *kubelet_parent, const char *pod_id, bool systemd)
{
        struct dirent *e;
        char path[512], rel[128];
        DIR *d;

        if (systemd || !STR_EMPTY(kubelet_parent))
                return;
        snprintf(rel, sizeof(rel), "uvmd/%s", pod_id);

        /* cgroup v2 alone: the root is the hierarchy. */
        snprintf(path, sizeof(path), "%s/%s", CGROUP_ROOT, rel);
        if (rmdir(path) < 0 && errno != ENOENT && errno != ENOTDIR)
                log_debug("rmdir %s: %m, ignoring", path);
        /* v1 and hybrid: one directory per hierarchy (some are links to
         * combined ones, so a second removal finds nothing). */
        d = opendir(CGROUP_ROOT);
        if (!d)
                return;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s/%s", CGROUP_ROOT, e->d_name, rel);
                if (rmdir(path) < 0 && errno != ENOENT && errno != ENOTDIR)
                        log_debug("rmdir %s: %m, ignoring", path);
        }
        closedir(d);
}
