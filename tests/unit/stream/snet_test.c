/* The streaming server's sockets (stream/snet.h), on Linux and under Wine:
 * the event (raised from another thread, cleared, raised twice as once),
 * waits with and without a timeout, a frame's two parts in one send, EOF,
 * and the listener's addresses. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/platform.h"
#include "common/sock.h"
#include "stream/snet.h"

static uint64_t ms_since(uint64_t t0)
{
        return (plat_now_ns() - t0) / 1000000u;
}

static void *raise_later(void *arg)
{
        struct timespec ts = {0, 100 * 1000 * 1000};

        nanosleep(&ts, NULL);
        snet_event_raise(arg);
        return NULL;
}

static void test_event(void **state)
{
        struct snet_event *e = NULL;
        bool raised = true;
        int ready = -1;
        uint64_t t0;
        pthread_t th;

        assert_int_equal(snet_event_new(&e), 0);
        t0 = plat_now_ns();
        assert_int_equal(snet_wait(-1, 0, e, 50, &ready, &raised), 0);
        assert_false(raised);
        assert_true(ms_since(t0) >= 40);
        snet_event_raise(e);
        snet_event_raise(e);
        assert_int_equal(snet_wait(-1, 0, e, 1000, &ready, &raised), 0);
        assert_true(raised);
        assert_int_equal(ready, 0);
        snet_event_clear(e);
        assert_int_equal(snet_wait(-1, 0, e, 0, &ready, &raised), 0);
        assert_false(raised);
        /* A wait without a limit ends when another thread raises it. */
        assert_int_equal(pthread_create(&th, NULL, raise_later, e), 0);
        t0 = plat_now_ns();
        assert_int_equal(snet_wait(-1, 0, e, -1, &ready, &raised), 0);
        assert_true(raised);
        assert_true(ms_since(t0) >= 50);
        pthread_join(th, NULL);
        snet_event_clear(e);
        snet_event_raise(e); /* raised again after a clear */
        assert_int_equal(snet_wait(-1, 0, e, 1000, &ready, &raised), 0);
        assert_true(raised);
        snet_event_free(e);
}

static void test_socket_wait_and_write2(void **state)
{
        struct snet_event *e = NULL;
        int fds[2], ready = 0;
        bool raised = true;
        char buf[32];

        assert_int_equal(snet_event_new(&e), 0);
        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_int_equal(sock_set_nonblocking(fds[0]), 0);
        assert_int_equal(sock_set_nonblocking(fds[1]), 0);
        assert_int_equal(snet_wait(fds[1], SNET_IN, e, 0, &ready, &raised), 0);
        assert_int_equal(ready, 0);
        assert_false(raised);
        assert_int_equal(snet_wait(fds[0], SNET_IN | SNET_OUT, e, 1000, &ready, &raised), 0);
        assert_int_equal(ready, SNET_OUT);
        assert_int_equal(snet_write2(fds[0], "head", 4, "body!", 5), 9);
        assert_int_equal(snet_wait(fds[1], SNET_IN, e, 5000, &ready, &raised), 0);
        assert_int_equal(ready & SNET_IN, SNET_IN);
        memset(buf, 0, sizeof(buf));
        for (size_t got = 0; got < 9;) {
                ssize_t n = sock_read(fds[1], buf + got, sizeof(buf) - 1 - got);

                if (n == -EAGAIN) {
                        assert_int_equal(snet_wait(fds[1], SNET_IN, e, 5000, &ready, &raised), 0);
                        continue;
                }
                assert_true(n > 0);
                got += (size_t) n;
        }
        assert_string_equal(buf, "headbody!");
        assert_int_equal(sock_read(fds[1], buf, sizeof(buf)), -EAGAIN);
        /* The peer gone: readable, and the read says EOF. */
        sock_close(fds[0]);
        assert_int_equal(snet_wait(fds[1], SNET_IN, e, 5000, &ready, &raised), 0);
        assert_int_equal(ready & SNET_IN, SNET_IN);
        assert_int_equal(sock_read(fds[1], buf, sizeof(buf)), 0);
        sock_close(fds[1]);
        snet_event_free(e);
}

static void test_listen_names(void **state)
{
        char address[80] = "", url_host[80] = "";
        struct uvm_error *err = NULL;
        unsigned port = 0;
        int fd = -1;

        assert_int_equal(snet_listen("127.0.0.1:0", &fd, NULL), 0);
        snet_names(fd, address, sizeof(address), url_host, sizeof(url_host));
        assert_int_equal(sscanf(address, "127.0.0.1:%u", &port), 1);
        assert_true(port > 0 && port < 65536);
        assert_string_equal(url_host, address);
        sock_close(fd);
        /* A wildcard address is reached on loopback. */
        assert_int_equal(snet_listen("0.0.0.0:0", &fd, NULL), 0);
        snet_names(fd, address, sizeof(address), url_host, sizeof(url_host));
        assert_int_equal(strncmp(address, "0.0.0.0:", 8), 0);
        assert_int_equal(strncmp(url_host, "127.0.0.1:", 10), 0);
        assert_string_equal(address + 8, url_host + 10);
        sock_close(fd);
        assert_int_equal(snet_listen("localhost:80", &fd, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "must be an IP address"));
        err = uvm_error_free(err);
        assert_int_equal(snet_listen("127.0.0.1", &fd, &err), -EINVAL);
        err = uvm_error_free(err);
        assert_int_equal(snet_listen("127.0.0.1:70000", &fd, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "bad port"));
        err = uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event),
                cmocka_unit_test(test_socket_wait_and_write2),
                cmocka_unit_test(test_listen_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
