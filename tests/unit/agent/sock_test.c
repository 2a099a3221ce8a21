/* common/sock.h and common/cond.h, portable (Linux and Wine): a loopback
 * pair carries bytes both ways and reports EOF, a non-blocking read says
 * -EAGAIN, a waker wakes a thread blocked in sock_wait() from another
 * thread, and condvar deadlines count on the monotonic clock (winpthreads
 * reads them on the wall clock). Also the wire errno table of agent/conn.h
 * and the words for network error codes. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/conn.h"
#include "common/cond.h"
#include "common/platform.h"
#include "common/sock.h"

static uint64_t ms_since(uint64_t t0)
{
        return (plat_now_ns() - t0) / 1000000u;
}

static void pair_carries_bytes_and_eof(void **state)
{
        int fds[2];
        char buf[16] = {0};

        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_true(sock_is_socket(fds[0]) && sock_is_socket(fds[1]));
        assert_int_equal(sock_write(fds[0], true, "ping", 4), 4);
        assert_int_equal(sock_read(fds[1], buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "ping", 4);
        assert_int_equal(sock_write(fds[1], true, "pong!", 5), 5);
        assert_int_equal(sock_read(fds[0], buf, sizeof(buf)), 5);
        assert_memory_equal(buf, "pong!", 5);
        /* Nothing to read: -EAGAIN once non-blocking, never a hang. */
        assert_int_equal(sock_set_nonblocking(fds[1]), 0);
        assert_int_equal(sock_read(fds[1], buf, sizeof(buf)), -EAGAIN);
        /* The peer's shutdown is EOF here. */
        sock_shutdown(fds[0]);
        assert_int_equal(sock_set_nonblocking(fds[0]), 0);
        for (int i = 0; i < 1000; i++) {
                ssize_t n = sock_read(fds[1], buf, sizeof(buf));

                if (n != -EAGAIN) {
                        assert_int_equal(n, 0);
                        break;
                }
                usleep(1000);
                assert_true(i < 999);
        }
        sock_close(fds[0]);
        sock_close(fds[1]);
}

static void wait_reports_ready(void **state)
{
        struct sock_waker *w = NULL;
        int fds[2];
        char c;

        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_int_equal(sock_waker_new(&w), 0);
        assert_int_equal(sock_wait(fds[0], SOCK_WRITABLE, w), 1);
        assert_int_equal(sock_write(fds[1], true, "x", 1), 1);
        assert_int_equal(sock_wait(fds[0], SOCK_READABLE, w), 1);
        assert_int_equal(sock_read(fds[0], &c, 1), 1);
        /* Woken beats ready. */
        sock_waker_wake(w);
        assert_int_equal(sock_wait(fds[0], SOCK_WRITABLE, w), 0);
        sock_waker_free(w);
        sock_close(fds[0]);
        sock_close(fds[1]);
}

struct blocked {
        int fd;
        struct sock_waker *w;
        int rc;
};

static void *wait_readable(void *arg)
{
        struct blocked *b = arg;

        b->rc = sock_wait(b->fd, SOCK_READABLE, b->w);
        return NULL;
}

/* What agent_conn_close() relies on: a local shutdown does not wake a
 * WSAPoll() under Wine; the waker does, on both platforms. */
static void waker_wakes_blocked_thread(void **state)
{
        struct blocked b = {.rc = 99};
        pthread_t t;
        uint64_t t0;
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_int_equal(sock_waker_new(&b.w), 0);
        b.fd = fds[0];
        assert_int_equal(pthread_create(&t, NULL, wait_readable, &b), 0);
        usleep(100 * 1000);
        t0 = plat_now_ns();
        sock_waker_wake(b.w);
        sock_waker_wake(b.w); /* twice is fine */
        pthread_join(t, NULL);
        assert_int_equal(b.rc, 0);
        assert_true(ms_since(t0) < 2000);
        sock_waker_free(b.w);
        sock_close(fds[0]);
        sock_close(fds[1]);
}

static void cond_deadline_is_monotonic(void **state)
{
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t c;
        uint64_t t0, waited;
        int r, wakeups = 0;

        assert_int_equal(cond_init(&c), 0);
        pthread_mutex_lock(&m);
        t0 = plat_now_ns();
        do
                wakeups++;
        while ((r = cond_wait_until(&c, &m, t0 + 200 * 1000000ull)) == 0);
        waited = ms_since(t0);
        assert_int_equal(r, -ETIMEDOUT);
        /* Neither at once nor forever, and by sleeping: a monotonic deadline
         * read as a wall-clock one is decades ago, and each wait would
         * return at once (a busy loop until the deadline). */
        assert_true(waited >= 190);
        assert_true(waited < 5000);
        if (wakeups > 10)
                fail_msg("%d wake-ups in %d ms: the wait spins", wakeups, (int) waited);
        /* A passed deadline times out without waiting. */
        assert_int_equal(cond_wait_until(&c, &m, plat_now_ns() - 1), -ETIMEDOUT);
        assert_int_equal(cond_deadline(-1), COND_FOREVER);
        assert_true(cond_deadline(0) <= plat_now_ns());
        pthread_mutex_unlock(&m);
        pthread_cond_destroy(&c);
}

static void wire_errno_round_trip(void **state)
{
        const int local[] = {ENOENT,  EINVAL, ECONNRESET, ETIMEDOUT, ENOSYS,
                             EBADMSG, EPROTO, ENOBUFS,    EAGAIN,    EPIPE};
        /* The same codes as Linux numbers them on the wire. */
        const int wire[] = {2, 22, 104, 110, 38, 74, 71, 105, 11, 32};

        for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
                assert_int_equal(agent_errno_to_wire(local[i]), wire[i]);
                assert_int_equal(agent_errno_from_wire(wire[i]), local[i]);
        }
        assert_int_equal(agent_errno_from_wire(95), EOPNOTSUPP);
        assert_int_equal(agent_errno_to_wire(EWOULDBLOCK), 11);
}

/* Network codes have words on Windows too (msvcrt: "Unknown error"). */
static void network_errors_have_text(void **state)
{
        assert_string_equal(sock_strerror(ECONNRESET), "Connection reset by peer");
        assert_string_equal(sock_strerror(ETIMEDOUT), "Connection timed out");
        assert_string_equal(sock_strerror(ENOENT), "No such file or directory");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(pair_carries_bytes_and_eof),
                cmocka_unit_test(wait_reports_ready),
                cmocka_unit_test(waker_wakes_blocked_thread),
                cmocka_unit_test(cond_deadline_is_monotonic),
                cmocka_unit_test(wire_errno_round_trip),
                cmocka_unit_test(network_errors_have_text),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
