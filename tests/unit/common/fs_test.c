/* rm -rf must never reach into a mount, also a bind mount of a directory or
 * file of the same filesystem (the pod share and image volumes hold such
 * binds of host data). Needs root for mount(2): skips without it. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"

static void touch(const char *path)
{
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        close(fd);
}

/* Executables: a path as it is, a name on PATH (PATH unset: the default),
 * system tools in the sbin/bin directories whatever PATH says. */
static void test_find_exec_and_tool(void **state)
{
        char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL, *p = NULL, tool[64];

        assert_int_equal(fs_find_exec("/bin/sh", &p), 0);
        assert_string_equal(p, "/bin/sh");
        free(p);
        assert_int_equal(fs_find_exec("/nonexistent/x", &p), -ENOENT);
        setenv("PATH", "/nonexistent:/bin", 1);
        assert_int_equal(fs_find_exec("sh", &p), 0);
        assert_string_equal(p, "/bin/sh");
        free(p);
        assert_int_equal(fs_find_exec("no-such-tool-here", &p), -ENOENT);
        unsetenv("PATH");
        assert_int_equal(fs_find_exec("sh", &p), 0);
        assert_non_null(strstr(p, "/sh"));
        free(p);
        setenv("PATH", "/nonexistent", 1);
        assert_int_equal(fs_find_tool("sh", tool, sizeof(tool)), 0);
        assert_non_null(strstr(tool, "bin/sh"));
        assert_int_equal(fs_find_tool("no-such-tool-here", tool, sizeof(tool)), -ENOENT);
        assert_int_equal(fs_find_tool("sh", tool, 5), -ENOENT); /* no room for the path */
        if (saved)
                setenv("PATH", saved, 1);
        free(saved);
}

static void test_rm_rf_stops_at_binds(void **state)
{
        char base[] = "/tmp/fs-test-XXXXXX", p[256], q[256];

        if (geteuid() != 0)
                skip();
        assert_non_null(mkdtemp(base));
        /* data/: host content; victim/: what is removed, with binds of data. */
        snprintf(p, sizeof(p), "%s/data", base);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/data/keep", base);
        touch(p);
        snprintf(p, sizeof(p), "%s/victim", base);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/victim/dir", base);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(q, sizeof(q), "%s/data", base);
        assert_int_equal(mount(q, p, NULL, MS_BIND, NULL), 0);
        snprintf(p, sizeof(p), "%s/victim/file", base);
        touch(p);
        snprintf(q, sizeof(q), "%s/data/keep", base);
        assert_int_equal(mount(q, p, NULL, MS_BIND, NULL), 0);
        snprintf(p, sizeof(p), "%s/victim/plain", base);
        touch(p);

        snprintf(p, sizeof(p), "%s/victim", base);
        assert_int_equal(fs_rm_rf(p), -EXDEV);
        snprintf(q, sizeof(q), "%s/data/keep", base);
        assert_int_equal(access(q, F_OK), 0); /* nothing of data went */
        snprintf(q, sizeof(q), "%s/victim/plain", base);
        assert_int_equal(access(q, F_OK), -1); /* the rest did */

        snprintf(p, sizeof(p), "%s/victim/dir", base);
        assert_int_equal(umount2(p, MNT_DETACH), 0);
        snprintf(p, sizeof(p), "%s/victim/file", base);
        assert_int_equal(umount2(p, MNT_DETACH), 0);
        assert_int_equal(fs_rm_rf(base), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find_exec_and_tool),
                cmocka_unit_test(test_rm_rf_stops_at_binds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
