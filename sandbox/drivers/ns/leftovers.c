/* Containers and mounts a dead agent left (leftovers.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

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

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
        char *w = s;

        for (; *s; s++, w++)
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *w = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *w = *s;
        *w = '\0';
}

static int longer_first(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);

        return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Detach every mount below dir, deepest first. */
static void unmount_below(const char *pod_id, const char *dir)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *points[MAX_MOUNTS], *line = NULL;
        size_t cap = 0, n = 0, len = strlen(dir);

        if (!f)
                return;
        while (n < MAX_MOUNTS && getline(&line, &cap, f) > 0) {
                char point[4096];

                if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
                        continue;
                unescape(point);
                if (strncmp(point, dir, len) == 0 && point[len] == '/' &&
                    (points[n] = strdup(point)))
                        n++;
        }
        free(line);
        fclose(f);
        qsort(points, n, sizeof(points[0]), longer_first);
        for (size_t i = 0; i < n; i++) {
                if (umount2(points[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: unmount %s: %m, ignoring", pod_id,
                                points[i]);
                free(points[i]);
        }
}

int ns_leftovers_remove(const char *pod_id, const char *state_dir, const char *runtime)
{
        _cleanup_free_ char *ctr_root = NULL, *runc_root = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *e;
        int n = 0;

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
        if (n > 0)
                unmount_below(pod_id, ctr_root);
        return n;
}
