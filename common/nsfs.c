/* Namespaces pinned on files (see nsfs.h). */

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/nsfs.h"

/* What the child reports through the pipe. */
struct report {
        int r;
        const char *step; /* a constant: the same address in both processes */
};

static void __attribute__((noreturn)) child_main(int ready, int go, nsfs_child_fn fn, void *data)
{
        struct report rep = {0};
        char c;

        rep.r = fn(data, &rep.step);
        (void) !write(ready, &rep, sizeof(rep));
        /* Hold the namespace until the parent has pinned it (or gave up). */
        while (read(go, &c, 1) < 0 && errno == EINTR)
                ;
        _exit(0);
}

static int read_report(int fd, struct report *rep)
{
        ssize_t n;

        do
                n = read(fd, rep, sizeof(*rep));
        while (n < 0 && errno == EINTR);
        return n == (ssize_t) sizeof(*rep) ? 0 : -ECHILD;
}

int nsfs_pin_child(const char *path, const char *ns, nsfs_child_fn child_fn,
                   nsfs_parent_fn parent_fn, void *data, const char **step)
{
        int ready[2] = {-1, -1}, go[2] = {-1, -1}, fd, r;
        struct report rep = {0};
        char src[64];
        pid_t pid;

        *step = "create the mount point";
        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return -errno;
        close(fd);
        *step = "pipe";
        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
                r = -errno;
                goto out;
        }
        /* A raw clone: no atfork handlers of libraries we link run. */
        *step = "clone";
        pid = (pid_t) syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                r = -errno;
                goto out;
        }
        if (pid == 0) {
                /* Only the parent may hold the write end: its close is the signal. */
                close(go[1]);
                close(ready[0]);
                child_main(ready[1], go[0], child_fn, data);
        }
        close(TAKE_FD(ready[1]));
        r = read_report(ready[0], &rep);
        if (r < 0)
                *step = "child died";
        else if (rep.r < 0) {
                r = rep.r;
                *step = rep.step ? rep.step : "child";
        }
        if (r >= 0 && parent_fn)
                r = parent_fn(pid, data, step);
        if (r >= 0) {
                snprintf(src, sizeof(src), "/proc/%d/ns/%s", (int) pid, ns);
                if (mount(src, path, NULL, MS_BIND, NULL) < 0) {
                        r = -errno;
                        *step = "bind mount";
                }
        }
        close(TAKE_FD(go[1])); /* the child exits */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
out:
        for (int i = 0; i < 2; i++) {
                if (ready[i] >= 0)
                        close(ready[i]);
                if (go[i] >= 0)
                        close(go[i]);
        }
        if (r < 0)
                unlink(path); /* the mount is the last step: only the file is left */
        return r;
}

int nsfs_unpin(const char *path, const char **step)
{
        /* Stacked mounts (a crash between two pins) are undone too. */
        int r = fs_unmount_all(path, 16);

        *step = "unmount";
        if (r < 0)
                return r;
        *step = "unlink";
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int nsfs_idmapped_clone(const char *path, int userns_fd, uint64_t attr, bool recursive,
                        const char **step)
{
        struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | attr,
                               .userns_fd = (uint64_t) userns_fd};
        unsigned rec = recursive ? AT_RECURSIVE : 0;
        int fd, e;

        *step = "open_tree";
        fd = (int) syscall(SYS_open_tree, AT_FDCWD, path,
                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
        if (fd < 0)
                return -errno;
        *step = "idmap";
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | rec, &a, sizeof(a)) < 0) {
                e = errno;
                close(fd);
                return -e;
        }
        return fd;
}
