/* Reading a container's cgroup: whether the kernel OOM-killed a task in it.
 * Both hierarchies are looked at, since a hybrid host (cgroup v1 controllers
 * plus a v2 mount) may account memory in either. And fitting a container's
 * resources to the controllers the runtime will find. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

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

/* Whether the hierarchy the runtime uses has the hugetlb controller: the
 * v2 root lists it (a pure v2 host, a VM guest), or v1 mounts it (a v1 or
 * hybrid host, where runc uses v1). root is "/sys/fs/cgroup" but in tests. */
static bool hugetlb_present(const char *root)
{
        _cleanup_free_ char *v2 = NULL, *v1 = NULL, *text = NULL;

        if (asprintf(&v2, "%s/cgroup.controllers", root) < 0 ||
            asprintf(&v1, "%s/hugetlb", root) < 0)
                return true; /* unknown: leave the request as it is */
        if (fs_read_file(v2, 4096, &text, NULL) >= 0) {
                for (char *save = NULL, *w = strtok_r(text, " \n", &save); w;
                     w = strtok_r(NULL, " \n", &save))
                        if (strcmp(w, "hugetlb") == 0)
                                return true;
                return false;
        }
        return access(v1, F_OK) == 0;
}

void agent_cgroup_fit_resources(const char *root, json_object *resources)
{
        json_object *hp;

        /* The kubelet asks a limit of 0 for every huge page size the kernel
         * knows, on every container; without the controller the runtime
         * would refuse them all. Dropped, as containerd does by default
         * (tolerate_missing_hugetlb_controller): nothing can be limited
         * where nothing is accounted. */
        if (json_object_object_get_ex(resources, "hugepageLimits", &hp) &&
            !hugetlb_present(root ? root : "/sys/fs/cgroup")) {
                log_debug("no hugetlb cgroup controller: hugepageLimits dropped");
                json_object_object_del(resources, "hugepageLimits");
        }
}
