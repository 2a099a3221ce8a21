/* sd_notify's datagram against a real socket: a path and an abstract
 * name, what is sent, and nothing without $NOTIFY_SOCKET. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "service/notify.h"

/* A datagram socket bound at addr (notify syntax: a path or "@name"). */
static int listener(const char *addr)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strlen(addr);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        memcpy(sa.sun_path, addr, n);
        if (addr[0] == '@')
                sa.sun_path[0] = '\0';
        assert_int_equal(bind(fd, (struct sockaddr *) &sa,
                              offsetof(struct sockaddr_un, sun_path) + n + (addr[0] == '/')),
                         0);
        return fd;
}

static void recv_expect(int fd, const char *want)
{
        char buf[2048];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, want);
}

static void test_path(void **state)
{
        char dir[] = "/tmp/notify-test-XXXXXX", path[128];
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/notify", dir);
        fd = listener(path);
        setenv("NOTIFY_SOCKET", path, 1);
        notify_init();
        /* Taken out of the environment: children must not inherit it. */
        assert_null(getenv("NOTIFY_SOCKET"));
        assert_true(notify_enabled());
        assert_int_equal(notify_send("READY=1\nSTATUS=serving"), 1);
        recv_expect(fd, "READY=1\nSTATUS=serving");
        assert_int_equal(notify_sendf("STATUS=%d pods", 3), 1);
        recv_expect(fd, "STATUS=3 pods");
        close(fd);
        unlink(path);
        rmdir(dir);
        /* The socket is gone: an error, not a crash. */
        assert_int_equal(notify_send("STOPPING=1"), -ENOENT);
        notify_set_socket(NULL);
}

static void test_abstract(void **state)
{
        char name[64];
        int fd;

        snprintf(name, sizeof(name), "@uvmd-notify-test-%d", (int) getpid());
        fd = listener(name);
        notify_set_socket(name);
        assert_int_equal(notify_send("STOPPING=1"), 1);
        recv_expect(fd, "STOPPING=1");
        close(fd);
        notify_set_socket(NULL);
}

static void test_disabled_and_bad(void **state)
{
        unsetenv("NOTIFY_SOCKET");
        notify_init();
        assert_false(notify_enabled());
        assert_int_equal(notify_send("READY=1"), 0);
        assert_int_equal(notify_sendf("READY=%d", 1), 0);
        notify_set_socket("vsock:2:1234");
        assert_int_equal(notify_send("READY=1"), -EAFNOSUPPORT);
        notify_set_socket("@");
        assert_int_equal(notify_send("READY=1"), -EINVAL);
        notify_set_socket(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path),
                cmocka_unit_test(test_abstract),
                cmocka_unit_test(test_disabled_and_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
