/* The per-pod parent cgroup: the OCI runtime creates it (as the parent of
 * each container's cgroup) but removes only the containers' own; the pod's
 * goes when the pod is removed. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/cgroup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PARENT_MAX 1024
#define MAX_HIERARCHIES 32 /* v1 controllers, named ones and unified */

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
        if (parent[0] != '/' || strstr(parent, "/../") ||
            (n >= 3 && strcmp(parent + n - 3, "/..") == 0) ||
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

/* Each hierarchy's root: /sys/fs/cgroup itself on cgroup v2, else its
 * directories (links to combined ones, like cpu -> cpu,cpuacct, skipped). */
static size_t hierarchies(char roots[][256], size_t max)
{
        struct stat st;
        struct dirent *e;
        size_t n = 0;
        DIR *d;

        if (stat(CGROUP_ROOT "/cgroup.controllers", &st) == 0) {
                snprintf(roots[n++], 256, CGROUP_ROOT);
                return n;
        }
        d = opendir(CGROUP_ROOT);
        while (d && (e = readdir(d)) && n < max) {
                char path[256];

                if (e->d_name[0] == '.' ||
                    snprintf(path, sizeof(path), CGROUP_ROOT "/%s", e->d_name) >=
                            (int) sizeof(path) ||
                    lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                snprintf(roots[n++], 256, "%s", path);
        }
        if (d)
                closedir(d);
        return n;
}

/* rmdir <hierarchy root><rel> in each hierarchy; gone already is fine. */
static void rmdir_everywhere(const char *rel)
{
        char roots[MAX_HIERARCHIES][256], dir[1024];
        size_t n = hierarchies(roots, ARRAY_SIZE(roots));

        for (size_t i = 0; i < n; i++)
                if (snprintf(dir, sizeof(dir), "%s%s", roots[i], rel) < (int) sizeof(dir) &&
                    rmdir(dir) < 0 && errno != ENOENT && errno != ENOTDIR)
                        log_debug("rmdir %s: %m, ignoring", dir);
}

void sbx_cgroup_remove_own(const char *kubelet_parent, const char *pod_id, bool systemd)
{
        char rel[128];

        if (systemd || !STR_EMPTY(kubelet_parent))
                return;
        snprintf(rel, sizeof(rel), "/uvmd/%s", pod_id);
        rmdir_everywhere(rel);
}

/* Write value to <dir>/<file>. */
static int put(const char *dir, const char *file, const char *value, struct uvm_error **err)
{
        char path[1100];
        int r;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        r = fs_write_string(path, value);
        return r < 0 ? uvm_error_set(err, -r, "cgroup %s = %s: %s", path, value, strerror(-r)) : 0;
}

static int own_dir(const char *hierarchy, const char *pod_id, char *ret, size_t len,
                   struct uvm_error **err)
{
        int r;

        snprintf(ret, len, "%s%s%s/uvmd/%s", CGROUP_ROOT, hierarchy ? "/" : "", hierarchy ?: "",
                 pod_id);
        r = fs_mkdir_p(ret, 0755);
        return r < 0 ? uvm_error_set(err, -r, "create cgroup %s: %s", ret, strerror(-r)) : 0;
}

static int64_t period_of(const struct sbx_pod_limits *l)
{
        return l->cpu_period > 0 ? l->cpu_period : 100000;
}

/* cgroup v1 (alone or with an empty unified hierarchy beside it). */
static int apply_v1(const char *pod_id, const struct sbx_pod_limits *l, struct uvm_error **err)
{
        char dir[512], v[64];
        int r;

        r = own_dir("memory", pod_id, dir, sizeof(dir), err);
        snprintf(v, sizeof(v), "%" PRId64, l->memory_bytes > 0 ? l->memory_bytes : -1);
        if (r >= 0)
                r = put(dir, "memory.limit_in_bytes", v, err);
        if (r >= 0)
                r = own_dir("cpu", pod_id, dir, sizeof(dir), err);
        snprintf(v, sizeof(v), "%" PRId64, period_of(l));
        if (r >= 0)
                r = put(dir, "cpu.cfs_period_us", v, err);
        snprintf(v, sizeof(v), "%" PRId64, l->cpu_quota > 0 ? l->cpu_quota : -1);
        if (r >= 0)
                r = put(dir, "cpu.cfs_quota_us", v, err);
        snprintf(v, sizeof(v), "%" PRId64, l->cpu_shares > 0 ? l->cpu_shares : 1024);
        if (r >= 0)
                r = put(dir, "cpu.shares", v, err);
        return r;
}

/* cgroup v2: the controllers must be enabled down to the pod's cgroup. */
static int apply_v2(const char *pod_id, const struct sbx_pod_limits *l, struct uvm_error **err)
{
        char dir[512], v[64];
        int64_t shares = l->cpu_shares > 0 ? l->cpu_shares : 1024;
        int r;

        r = put(CGROUP_ROOT, "cgroup.subtree_control", "+cpu +memory", err);
        if (r >= 0)
                r = own_dir(NULL, pod_id, dir, sizeof(dir), err);
        if (r >= 0)
                r = put(CGROUP_ROOT "/uvmd", "cgroup.subtree_control", "+cpu +memory", err);
        if (l->memory_bytes > 0)
                snprintf(v, sizeof(v), "%" PRId64, l->memory_bytes);
        else
                snprintf(v, sizeof(v), "max");
        if (r >= 0)
                r = put(dir, "memory.max", v, err);
        if (l->cpu_quota > 0)
                snprintf(v, sizeof(v), "%" PRId64 " %" PRId64, l->cpu_quota, period_of(l));
        else
                snprintf(v, sizeof(v), "max %" PRId64, period_of(l));
        if (r >= 0)
                r = put(dir, "cpu.max", v, err);
        /* The kernel's shares-to-weight mapping, as runc makes it. */
        snprintf(v, sizeof(v), "%" PRId64, 1 + ((shares - 2) * 9999) / 262142);
        if (r >= 0)
                r = put(dir, "cpu.weight", v, err);
        return r;
}

int sbx_cgroup_apply_own(const char *kubelet_parent, const char *pod_id, bool systemd,
                         const struct sbx_pod_limits *l, bool *applied, struct uvm_error **err)
{
        struct stat st;
        int r;

        *applied = false;
        if (systemd || !STR_EMPTY(kubelet_parent))
                return 0;
        r = stat(CGROUP_ROOT "/cgroup.controllers", &st) == 0 ? apply_v2(pod_id, l, err)
                                                              : apply_v1(pod_id, l, err);
        if (r < 0)
                return uvm_error_wrap(err, "pod %s: its own cgroup's limits", pod_id);
        *applied = true;
        return 0;
}

/* cgroup v1's cpuset takes no process ("No space left on device") until
 * its cpus and mems are set: each directory from the hierarchy's root down
 * to dir that has none gets its parent's. */
static void cpuset_inherit(const char *root, char *dir)
{
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

        for (char *p = dir + strlen(root) + 1;; p++) {
                char c = *p;

                if (c != '/' && c != '\0')
                        continue;
                *p = '\0';
                for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                        char path[1200];
                        _cleanup_free_ char *mine = NULL, *up = NULL;
                        size_t len;
                        char *slash = strrchr(dir, '/');

                        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                        if (fs_read_file(path, 256, &mine, &len) < 0 ||
                            (len > 0 && mine[0] != '\n'))
                                continue;
                        *slash = '\0';
                        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                        *slash = '/';
                        if (fs_read_file(path, 256, &up, &len) == 0 && len > 0)
                                put(dir, files[i], up, NULL);
                }
                *p = c;
                if (c == '\0')
                        return;
        }
}

int sbx_cgroup_place(const char *parent, const char *name, pid_t pid, struct uvm_error **err)
{
        char roots[MAX_HIERARCHIES][256], dir[1024], text[32];
        size_t n;
        int r;

        if (STR_EMPTY(parent) || strstr(parent, ".slice") || parent[0] != '/')
                return 0;
        n = hierarchies(roots, ARRAY_SIZE(roots));
        snprintf(text, sizeof(text), "%d", (int) pid);
        for (size_t i = 0; i < n; i++) {
                if (snprintf(dir, sizeof(dir), "%s%s/%s", roots[i], parent, name) >=
                    (int) sizeof(dir))
                        return uvm_error_set(err, ENAMETOOLONG, "cgroup path too long");
                r = fs_mkdir_p(dir, 0755);
                if (r >= 0 && strstr(strrchr(roots[i], '/'), "cpuset"))
                        cpuset_inherit(roots[i], dir);
                if (r >= 0)
                        r = put(dir, "cgroup.procs", text, NULL);
                /* A named hierarchy (name=systemd) takes processes too; one
                 * that refuses is logged, not fatal: the memory one matters. */
                if (r < 0)
                        log_debug("cgroup %s: cannot place %d: %s, ignoring", dir, (int) pid,
                                  strerror(-r));
        }
        return 0;
}

void sbx_cgroup_unplace(const char *parent, const char *name)
{
        char rel[1024];

        if (STR_EMPTY(parent) || strstr(parent, ".slice") || parent[0] != '/')
                return;
        if (snprintf(rel, sizeof(rel), "%s/%s", parent, name) < (int) sizeof(rel))
                rmdir_everywhere(rel);
}
