/* A VM's console: everything kept, bounded by rotation, and only the guest
 * agent's records passed on (kernel lines are not). A test server plays
 * QEMU's side of the socket. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/drivers/qemu/console.h"

static int listen_at(const char *path)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(strlen(path) < sizeof(a.sun_path));
        memcpy(a.sun_path, path, strlen(path) + 1);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 1), 0);
        return fd;
}

static off_t size_of(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_keep_rotate(void **state)
{
        char dir[] = "/tmp/console-test-XXXXXX", sock[128], log[128], old[140], line[200];
        struct qconsole *c = NULL;
        int l, fd;

        assert_non_null(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/c.sock", dir);
        snprintf(log, sizeof(log), "%s/console.log", dir);
        snprintf(old, sizeof(old), "%s.1", log);
        l = listen_at(sock);
        assert_int_equal(qconsole_start("p1", sock, log, 2000, &c, NULL), 0);
        fd = accept(l, NULL, NULL);
        assert_true(fd >= 0);
        /* 1.5 MiB of kernel lines: one rotation, both files bounded. */
        memset(line, 'k', sizeof(line) - 1);
        line[0] = '[';
        line[sizeof(line) - 2] = '\n';
        line[sizeof(line) - 1] = '\0';
        for (int i = 0; i < (int) ((3u << 19) / (sizeof(line) - 1)); i++)
                assert_int_equal(write(fd, line, strlen(line)), (ssize_t) strlen(line));
        close(fd); /* QEMU went: the reader ends */
        c = qconsole_free(c);
        assert_true(size_of(old) >= (1 << 20));
        assert_true(size_of(log) > 0 && size_of(log) < (1 << 20));
        close(l);
        fs_rm_rf(dir);
}

static void test_start_fails_clearly(void **state)
{
        struct uvm_error *err = NULL;
        struct qconsole *c = NULL;

        assert_true(qconsole_start("p1", "/nonexistent/c.sock", "/tmp/x.log", 100, &c, &err) < 0);
        assert_non_null(strstr(err->msg, "/nonexistent/c.sock"));
        assert_null(c);
        uvm_error_free(err);
        unlink("/tmp/x.log");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keep_rotate),
                cmocka_unit_test(test_start_fails_clearly),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
