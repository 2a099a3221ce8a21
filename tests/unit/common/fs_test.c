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
                cmocka_unit_test(test_rm_rf_stops_at_binds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
