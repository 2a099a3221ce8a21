/* Containers and mounts a dead agent left (leftovers.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/run.h"
#include "sandbox/drivers/ns/leftovers.h"

#define RUNTIME_TIMEOUT_MS 10000
#define MAX_MOUNTS 256

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* The agent names container dirs by CRI id: lowercase hex. */
static bool is_id(const char *s)
{
        size_t n = strspn(s, "0123456789abcdef");

        return n > 0 && n <= 64 && s[n] == '\0';
}

static void runtime_delete(const char *pod_id, const char *runtime, const char *runc_root,
                           const char *id)
{
        char *argv[] = {(char *) runtime, "--root", (char *) runc_root, "delete", "--force",
                        (char *) id,      NULL};
        _cleanup_free_ char *out = NULL;
        int status = 0, r;

        r = run_capture(argv, RUNTIME_TIMEOUT_MS, 4096, &out, &status);
        if (r < 0 || status != 0)
                log_pod(LOG_LEVEL_DEBUG, pod_id, "pod %s: %s delete --force %s: %s, ignoring",
                        pod_id, runtime, id, r < 0 ? strerror(-r) : "failed");
}

int ns_leftovers_remove(const char *pod_id, const char *state_dir, const char *runtime)
{
        _cleanup_free_ char *ctr_root = NULL, *runc_root = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *e;
        int n = 0, r;

        if (asprintf(&ctr_root, "%s/ctr", state_dir) < 0 ||
            asprintf(&runc_root, "%s/runc", state_dir) < 0)
                return -ENOMEM;
        d = opendir(ctr_root);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d))) {
                if (!is_id(e->d_name))
                        continue;
                log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: removing container %s left by its agent",
                        pod_id, e->d_name);
                runtime_delete(pod_id, runtime, runc_root, e->d_name);
                n++;
        }
        if (n > 0 && (r = fs_unmount_below(ctr_root, MAX_MOUNTS)) < 0)
                log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: unmount below %s: %s, ignoring", pod_id,
                        ctr_root, strerror(-r));
        return n;
}
