/* agent/scratch.c on real devices: a sparse file probed blank, formatted by
 * the host's mke2fs, a loop device of it mounted read-write (root with
 * /dev/loop-control; skipped otherwise), its data kept across a second
 * mount (no reformat), a disk holding something else never formatted. */

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/scratch.h"

extern char **environ;

#define SIZE (64u << 20)

static int runs;

static int run(char *const argv[], struct uvm_error **err)
{
        int status, r;
        pid_t pid;

        runs++;
        r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
        if (r != 0)
                return uvm_error_set(err, r, "spawn %s", argv[0]);
        if (waitpid(pid, &status, 0) < 0)
                return uvm_error_set(err, errno, "wait");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void sparse(const char *path)
{
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, SIZE), 0);
        close(fd);
}

static void scribble(const char *path, off_t at)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "x", 1, at), 1);
        close(fd);
}

static char *tmp(const char *name)
{
        static char buf[4][256];
        static int i;
        const char *d = getenv("TEST_TMPDIR");

        snprintf(buf[i % 4], sizeof(buf[0]), "%s/%s", d ? d : "/tmp", name);
        return buf[i++ % 4];
}

static void probe_file(void **state)
{
        struct uvm_error *err = NULL;
        char *f = tmp("probe.img");

        (void) state;
        sparse(f);
        assert_int_equal(agent_scratch_probe(f, &err), 0);
        scribble(f, (1 << 20) - 1); /* the last byte probed */
        assert_int_equal(agent_scratch_probe(f, &err), -EMEDIUMTYPE);
        assert_non_null(strstr(err->msg, "neither blank"));
        err = uvm_error_free(err);
        sparse(f);
        scribble(f, 1 << 20); /* past the probe: still blank */
        assert_int_equal(agent_scratch_probe(f, &err), 0);
        assert_int_equal(agent_scratch_probe("/nonexistent/x", &err), -ENOENT);
        err = uvm_error_free(err);
        unlink(f);
}

/* A loop device of path, or -1 (skip) without one. */
static int loop_attach(const char *path, char *dev, size_t len)
{
        int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), n, fd, lfd;

        if (ctl < 0)
                return -1;
        n = ioctl(ctl, LOOP_CTL_GET_FREE);
        close(ctl);
        if (n < 0)
                return -1;
        snprintf(dev, len, "/dev/loop%d", n);
        lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0 && errno == ENOENT && mknod(dev, S_IFBLK | 0600, makedev(7, n)) == 0)
                lfd = open(dev, O_RDWR | O_CLOEXEC);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (lfd < 0 || fd < 0 || ioctl(lfd, LOOP_SET_FD, fd) < 0) {
                if (lfd >= 0)
                        close(lfd);
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return lfd;
}

static void loop_detach(int lfd)
{
        ioctl(lfd, LOOP_CLR_FD, 0);
        close(lfd);
}

static void format_mount_keep(void **state)
{
        struct uvm_error *err = NULL;
        char *f = tmp("scratch.img"), *mnt = tmp("mnt"), dev[64], file[300];
        struct stat st;
        int lfd, fd, r;

        (void) state;
        if (access("/usr/sbin/mke2fs", X_OK) != 0 && access("/sbin/mke2fs", X_OK) != 0)
                skip();
        sparse(f);
        lfd = loop_attach(f, dev, sizeof(dev));
        if (lfd < 0)
                skip();
        mkdir(mnt, 0755);
        runs = 0;
        r = agent_scratch_mount(dev, mnt, run, &err);
        if (r == -EPERM || r == -EACCES) { /* a sandbox without mounts */
                print_message("skipped: %s\n", err->msg);
                loop_detach(lfd);
                skip();
        }
        if (r < 0)
                print_error("%s\n", err->msg);
        assert_int_equal(r, 0);
        assert_int_equal(runs, 1);
        snprintf(file, sizeof(file), "%s/upper", mnt);
        assert_int_equal(mkdir(file, 0700), 0);
        snprintf(file, sizeof(file), "%s/upper/kept", mnt);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "data", 4), 4);
        close(fd);
        assert_int_equal(umount(mnt), 0);
        assert_int_equal(agent_scratch_probe(dev, &err), 1);
        /* A second mount (a restarted uvmd's): no format, the data there. */
        assert_int_equal(agent_scratch_mount(dev, mnt, run, &err), 0);
        assert_int_equal(runs, 1);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, 4);
        assert_int_equal(umount(mnt), 0);
        loop_detach(lfd);
        unlink(f);
}

static void foreign_never_formatted(void **state)
{
        struct uvm_error *err = NULL;
        char *f = tmp("foreign.img"), *mnt = tmp("mnt2");

        (void) state;
        sparse(f);
        scribble(f, 4096);
        mkdir(mnt, 0755);
        runs = 0;
        assert_int_equal(agent_scratch_mount(f, mnt, run, &err), -EMEDIUMTYPE);
        assert_int_equal(runs, 0);
        err = uvm_error_free(err);
        assert_int_equal(agent_scratch_probe(f, &err), -EMEDIUMTYPE);
        err = uvm_error_free(err);
        unlink(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(probe_file),
                cmocka_unit_test(format_mount_keep),
                cmocka_unit_test(foreign_never_formatted),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
