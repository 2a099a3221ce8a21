/* Reading a container's cgroup: whether the kernel OOM-killed a task in it.
 * Both hierarchies are looked at, since a hybrid host (cgroup v1 controllers
 * plus a v2 mount) may account memory in either. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "common/fs.h"

/* The value of the "oom_kill N" line of a memory.oom_control (v1) or
 * memory.events (v2) file; -1 if it cannot be read. */
static long long oom_kill_count(const char *path)
{
        _cleanup_free_ char *buf = NULL;
        char *p;

        if (fs_read_file(path, 4096, &buf, NULL) < 0)
                return -1;
        for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                long long v;

                if (strncmp(p, "oom_kill ", 9) == 0 && sscanf(p + 9, "%lld", &v) == 1)
                        return v;
        }
        return -1;
}

bool agent_cgroup_oom_killed(const char *cgroup_path)
{
        static const char *const fmts[] = {
                "/sys/fs/cgroup/memory%s%s/memory.oom_control",
                "/sys/fs/cgroup%s%s/memory.events",
                "/sys/fs/cgroup/unified%s%s/memory.events",
        };
        const char *sep = cgroup_path[0] == '/' ? "" : "/";

        /* "slice:prefix:name" is the systemd driver's form: not a path we can read. */
        if (strchr(cgroup_path, ':') || strstr(cgroup_path, ".."))
                return false;
        for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
                _cleanup_free_ char *path = NULL;
                long long v;

                if (asprintf(&path, fmts[i], sep, cgroup_path) < 0)
                        return false;
                v = oom_kill_count(path);
                if (v >= 0)
                        return v > 0;
        }
        return false;
}
