/* The per-pod parent cgroup: the OCI runtime creates it (as the parent of
 * each container's cgroup) but removes only the containers' own; the pod's
 * goes when the pod is removed. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "sandbox/cgroup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

void sbx_cgroup_remove(const char *rel)
{
        struct dirent *e;
        char path[512];
        DIR *d;

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
