/* QEMU's own mount namespace (jail.h): run as `uvmd vmm-jail SPEC... --
 * ARGV...` in the new process, single-threaded, before QEMU is exec'd. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/jail.h"

/* What QEMU and setpriv need of the host, read-only: programs, libraries,
 * firmware (under /usr), the loader's cache. Merged-/usr links (/lib ->
 * usr/lib) are copied as links. */
static const char *const system_paths[] = {"/usr", "/bin",   "/sbin",
                                           "/lib", "/lib64", "/etc/ld.so.cache"};
static const char *const dev_nodes[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                        "/dev/random", "/dev/urandom", "/dev/kvm"};

extern char **environ;

static int die(const char *what, const char *path)
{
        fprintf(stderr, "uvmd vmm-jail: %s %s: %s\n", what, path ? path : "", strerror(errno));
        return 125;
}

/* root + path, made as a directory (or an empty file for a file source). */
static int target_of(const char *root, const char *path, bool file, char *ret, size_t len)
{
        int fd;

        if ((size_t) snprintf(ret, len, "%s%s", root, path) >= len) {
                errno = ENAMETOOLONG;
                return -1;
        }
        if (!file)
                return fs_mkdir_p(ret, 0755) < 0 ? -1 : 0;
        {
                char dir[PATH_MAX], *slash;

                snprintf(dir, sizeof(dir), "%s", ret);
                slash = strrchr(dir, '/');
                *slash = '\0';
                if (fs_mkdir_p(dir, 0755) < 0)
                        return -1;
        }
        fd = open(ret, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        close(fd);
        return 0;
}

/* Bind src at the same path under root; rec takes its submounts along
 * (slaves of the host's, so later host mounts there show up). */
static int bind(const char *root, const char *src, bool ro, bool rec, bool optional)
{
        char dst[PATH_MAX], link[PATH_MAX];
        struct stat st;
        ssize_t n;

        if (lstat(src, &st) < 0)
                return optional && errno == ENOENT ? 0 : die("stat", src);
        if (S_ISLNK(st.st_mode)) {
                n = readlink(src, link, sizeof(link) - 1);
                if (n < 0)
                        return die("readlink", src);
                link[n] = '\0';
                if (target_of(root, "", false, dst, sizeof(dst)) < 0 ||
                    (size_t) snprintf(dst, sizeof(dst), "%s%s", root, src) >= sizeof(dst) ||
                    symlink(link, dst) < 0)
                        return die("symlink", dst);
                return 0;
        }
        if (target_of(root, src, !S_ISDIR(st.st_mode), dst, sizeof(dst)) < 0)
                return die("create", dst);
        if (mount(src, dst, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
                return die("bind", src);
        if (ro && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                        NULL) < 0)
                return die("make read-only", dst);
        return 0;
}

static int mount_fs(const char *root, const char *path, const char *type, unsigned long flags,
                    const char *data)
{
        char dst[PATH_MAX];

        if (target_of(root, path, false, dst, sizeof(dst)) < 0)
                return die("create", dst);
        if (mount(type, dst, type, flags, data) < 0)
                return die("mount", dst);
        return 0;
}

/* The new root: a tmpfs at root holding only what is kept. */
static int build_root(const char *root, int n, char **spec)
{
        int r = 0;

        if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
                return die("mount tmpfs on", root);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(system_paths); i++)
                r = bind(root, system_paths[i], true, false, true);
        if (r == 0)
                r = mount_fs(root, "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dev_nodes); i++)
                r = bind(root, dev_nodes[i], false, false, true);
        if (r == 0)
                r = mount_fs(root, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r == 0)
                r = mount_fs(root, "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=01777,size=1m");
        /* The pod's paths, in the order given: "ro:", "rw:" or "rrw:". */
        for (int i = 0; r == 0 && i < n; i++) {
                const char *s = spec[i];

                if (strncmp(s, "ro:/", 4) == 0)
                        r = bind(root, s + 3, true, false, false);
                else if (strncmp(s, "rw:/", 4) == 0)
                        r = bind(root, s + 3, false, false, false);
                else if (strncmp(s, "rrw:/", 5) == 0)
                        r = bind(root, s + 4, false, true, false);
                else {
                        fprintf(stderr, "uvmd vmm-jail: bad path spec '%s'\n", s);
                        r = 2;
                }
        }
        return r;
}

int qemu_jail_main(int argc, char **argv)
{
        const char *root;
        int sep = -1, r;

        for (int i = 0; i < argc; i++)
                if (STR_EQ(argv[i], "--")) {
                        sep = i;
                        break;
                }
        if (sep < 1 || sep + 1 >= argc || argv[0][0] != '/') {
                fprintf(stderr, "usage: uvmd vmm-jail ROOT [ro:|rw:|rrw:PATH]... -- ARGV...\n");
                return 2;
        }
        root = argv[0];
        /* Our own mounts, which host mounts still reach (slave), not the
         * other way. */
        if (unshare(CLONE_NEWNS) < 0)
                return die("unshare", "mount namespace");
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return die("make slave", "/");
        r = build_root(root, sep - 1, argv + 1);
        if (r != 0)
                return r;
        if (mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
                    0 &&
            errno != EINVAL)
                return die("make read-only", root);
        if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
                return die("pivot_root", root);
        /* The old root is stacked under the new one: drop it. */
        if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                return die("detach", "the old root");
        /* No transparent huge pages (docs/guest.md, "Host memory"): QEMU
         * madvises its RAM and TCG's cache MADV_HUGEPAGE and has no option
         * against it; the flag is kept across exec. */
        if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
                return die("prctl", "PR_SET_THP_DISABLE");
        execve(argv[sep + 1], argv + sep + 1, environ);
        return die("exec", argv[sep + 1]);
}
