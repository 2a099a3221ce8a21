/* Pinned user namespaces (see idmap.h); the mappings themselves are in
 * idmap_map.c. */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/nsfs.h"
#include "sandbox/idmap.h"

/* --- pinned user namespaces --- */

static int userns_child(void *data, const char **step)
{
        (void) data;
        *step = "unshare";
        return unshare(CLONE_NEWUSER) < 0 ? -errno : 0;
}

static int write_map(pid_t pid, const char *file, const struct idmap *m)
{
        char path[64], text[IDMAP_MAX * 36];
        int n = idmap_format(m, text, sizeof(text)), fd, r = 0;

        if (n < 0)
                return n;
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* The kernel takes the whole map in one write, and only once. */
        if (write(fd, text, (size_t) n) != n)
                r = -errno ?: -EIO;
        close(fd);
        return r;
}

static int userns_parent(pid_t child, void *data, const char **step)
{
        const struct userns_map *m = data;
        int r;

        *step = "write uid_map";
        r = write_map(child, "uid_map", &m->uids);
        if (r >= 0) {
                *step = "write gid_map";
                r = write_map(child, "gid_map", &m->gids);
        }
        return r;
}

int userns_pin(const char *path, const struct userns_map *m, struct uvm_error **err)
{
        const char *step = "";
        int r;

        if (!userns_map_enabled(m))
                return uvm_error_set(err, EINVAL, "user namespace '%s': no mappings", path);
        r = nsfs_pin_child(path, "user", userns_child, userns_parent, (void *) m, &step);
        if (r < 0)
                return uvm_error_set(err, -r, "user namespace '%s': %s: %s", path, step,
                                     strerror(-r));
        return 0;
}

int userns_unpin(const char *path, struct uvm_error **err)
{
        const char *step = "";
        int r = nsfs_unpin(path, &step);

        if (r < 0)
                return uvm_error_set(err, -r, "user namespace '%s': %s: %s", path, step,
                                     strerror(-r));
        return 0;
}

/* Mount an overlayfs whose lower layer is an idmapped clone, under dir. */
static int probe_overlay(const char *dir, const char *ns, const char **step)
{
        char opts[8300], path[4][4096];
        const char *names[] = {"l", "u", "w", "m"};
        int nsfd = -1, fd = -1, r = 0;

        for (size_t i = 0; i < 4 && r == 0; i++) {
                *step = "mkdir";
                if (snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]) >=
                    (int) sizeof(path[i]))
                        r = -ENAMETOOLONG;
                else
                        r = mkdir(path[i], 0700) < 0 ? -errno : 0;
        }
        if (r == 0) {
                *step = "open the user namespace";
                nsfd = open(ns, O_RDONLY | O_CLOEXEC);
                r = nsfd < 0 ? -errno : 0;
        }
        if (r == 0) {
                fd = nsfs_idmapped_clone(path[0], nsfd, 0, false, step);
                r = fd < 0 ? fd : 0;
        }
        if (r == 0) {
                *step = "overlayfs over an idmapped layer";
                if (snprintf(opts, sizeof(opts), "lowerdir=/proc/self/fd/%d,upperdir=%s,workdir=%s",
                             fd, path[1], path[2]) >= (int) sizeof(opts))
                        r = -ENAMETOOLONG;
                else
                        r = mount("overlay", path[3], "overlay", 0, opts) < 0 ? -errno : 0;
                if (r == 0)
                        umount2(path[3], MNT_DETACH);
        }
        if (fd >= 0)
                close(fd);
        if (nsfd >= 0)
                close(nsfd);
        return r;
}

bool userns_probe(const char *dir, char *why, size_t len)
{
        /* Any range off host id 0 will do: nothing runs in it. */
        struct userns_map m = {.uids = {1, {{0xFFFE0000u, 0, 65536}}},
                               .gids = {1, {{0xFFFE0000u, 0, 65536}}}};
        char tmp[4096], ns[4200];
        const char *step = "mkdtemp";
        int r;

        if (snprintf(tmp, sizeof(tmp), "%s/.userns-probe-XXXXXX", dir ? dir : "/tmp") >=
                    (int) sizeof(tmp) ||
            !mkdtemp(tmp)) {
                snprintf(why, len, "%s: %m", step);
                return false;
        }
        (void) !snprintf(ns, sizeof(ns), "%s/ns", tmp);
        r = userns_pin(ns, &m, NULL) < 0 ? -EPERM : 0;
        if (r < 0)
                step = "create a user namespace";
        else
                r = probe_overlay(tmp, ns, &step);
        if (r < 0)
                snprintf(why, len, "%s: %s", step, strerror(-r));
        (void) userns_unpin(ns, NULL);
        (void) fs_rm_rf(tmp);
        return r == 0;
}
