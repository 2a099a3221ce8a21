/* The QMP client against a fake QMP server: a unix socket served by a
 * thread that follows a script per test. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/qmp.h"

#define GREETING                                                                                   \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "         \
        "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"

struct fake;
typedef void (*script_fn)(struct fake *f, int fd);

struct fake {
        char dir[64], path[96];
        int listen_fd;
        pthread_t thread;
        script_fn script;
        int start_delay_ms; /* listen only after this long */
        int failures;       /* checks that failed in the server thread */
        char failure[256];
};

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cmocka's assertions are not for other threads: count and report later. */
static void srv_fail(struct fake *f, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
        va_end(ap);
        f->failures++;
}

static void srv_write(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return; /* the client went away: that is its business */
                data += n;
                len -= (size_t) n;
        }
}

static void srv_printf(int fd, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n >= 0)
                srv_write(fd, s, (size_t) n);
        free(s);
}

/* Read one command line and check it runs want; its id, or -1. *ret_args
 * (may be NULL) gets its arguments. */
static int64_t srv_command(struct fake *f, int fd, const char *want, json_object **ret_args)
{
        char line[4096];
        size_t n = 0;
        json_object *req, *v;
        int64_t id = -1;

        while (n < sizeof(line) - 1) {
                ssize_t r = read(fd, line + n, 1);

                if (r <= 0) {
                        srv_fail(f, "no command %s: EOF", want);
                        return -1;
                }
                if (line[n++] == '\n')
                        break;
        }
        line[n] = '\0';
        req = json_tokener_parse(line);
        if (!req || !json_object_object_get_ex(req, "execute", &v) ||
            strcmp(json_object_get_string(v), want) != 0)
                srv_fail(f, "expected command %s, got %s", want, line);
        else if (!json_object_object_get_ex(req, "id", &v) ||
                 !json_object_is_type(v, json_type_int))
                srv_fail(f, "command without an id: %s", line);
        else
                id = json_object_get_int64(v);
        if (ret_args)
                *ret_args =
                        json_object_object_get_ex(req, "arguments", &v) ? json_object_get(v) : NULL;
        json_object_put(req);
        return id;
}

static void srv_greet(struct fake *f, int fd)
{
        int64_t id;

        srv_printf(fd, GREETING);
        id = srv_command(f, fd, "qmp_capabilities", NULL);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\r\n", (long long) id);
}

/* Wait for the client to hang up. */
static void srv_drain(int fd)
{
        char buf[4096];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

static void *srv_main(void *arg)
{
        struct fake *f = arg;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (f->start_delay_ms > 0) {
                sleep_ms(f->start_delay_ms);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
                if (bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
                    listen(f->listen_fd, 4) < 0) {
                        srv_fail(f, "bind/listen: %m");
                        return NULL;
                }
        }
        fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
                srv_fail(f, "accept: %m");
                return NULL;
        }
        f->script(f, fd);
        close(fd);
        return NULL;
}

static void fake_start(struct fake *f, script_fn script, int start_delay_ms)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        memset(f, 0, sizeof(*f));
        f->script = script;
        f->start_delay_ms = start_delay_ms;
        snprintf(f->dir, sizeof(f->dir), "/tmp/uvmd-qmp-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listen_fd >= 0);
        if (start_delay_ms == 0) {
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
                assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
                assert_int_equal(listen(f->listen_fd, 4), 0);
        }
        assert_int_equal(pthread_create(&f->thread, NULL, srv_main, f), 0);
}

static void fake_stop(struct fake *f)
{
        pthread_join(f->thread, NULL);
        close(f->listen_fd);
        unlink(f->path);
        rmdir(f->dir);
        if (f->failures)
                fail_msg("fake QMP server: %s", f->failure);
}

static struct qmp *connect_ok(struct fake *f)
{
        struct uvm_error *err = NULL;
        struct qmp *q = NULL;
        int r = qmp_connect(f->path, 2000, &q, &err);

        if (r < 0)
                fail_msg("qmp_connect: %d %s", r, err ? err->msg : "");
        assert_non_null(q);
        return q;
}

static void assert_err(struct uvm_error **err, int r, int code, const char *msg)
{
        assert_int_equal(r, -code);
        assert_non_null(*err);
        assert_int_equal((*err)->code, code);
        if (!strstr((*err)->msg, msg))
                fail_msg("error '%s' lacks '%s'", (*err)->msg, msg);
        *err = uvm_error_free(*err);
}

/* Events seen by the handler. */
struct seen {
        int n;
        char names[8][32];
        char data[8][128];
};

static void record_event(void *userdata, const char *event, json_object *data)
{
        struct seen *s = userdata;

        if (s->n >= 8)
                return;
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", event);
        snprintf(s->data[s->n], sizeof(s->data[0]), "%s",
                 data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "NULL");
        s->n++;
}

/* --- connect, a command, its return --- */

static void script_basic(struct fake *f, int fd)
{
        json_object *args = NULL, *v;
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "query-status", &args);
        if (args)
                srv_fail(f, "query-status got arguments");
        srv_printf(fd,
                   "{\"return\": {\"status\": \"prelaunch\", \"running\": false}, "
                   "\"id\": %lld}\r\n",
                   (long long) id);
        id = srv_command(f, fd, "device_del", &args);
        if (!args || !json_object_object_get_ex(args, "id", &v) ||
            strcmp(json_object_get_string(v), "rp0") != 0)
                srv_fail(f, "device_del without its arguments");
        json_object_put(args);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\n", (long long) id);
        id = srv_command(f, fd, "human-monitor-command", NULL);
        srv_printf(fd, "{\"return\": \"ok\\r\\n\", \"id\": %lld}\n", (long long) id);
        srv_drain(fd);
}

static void test_execute(void **state)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL, *args, *v;
        struct fake f;
        struct qmp *q;

        fake_start(&f, script_basic, 0);
        q = connect_ok(&f);
        assert_int_equal(qmp_execute(q, "query-status", NULL, 1000, &ret, &err), 0);
        assert_null(err);
        assert_true(json_object_object_get_ex(ret, "status", &v));
        assert_string_equal(json_object_get_string(v), "prelaunch");
        json_object_put(ret);

        args = json_object_new_object();
        json_object_object_add(args, "id", json_object_new_string("rp0"));
        assert_int_equal(qmp_execute(q, "device_del", args, 1000, NULL, &err), 0);
        assert_int_equal(json_object_put(args), 1); /* still ours, and only ours */

        ret = NULL;
        assert_int_equal(qmp_execute(q, "human-monitor-command", NULL, 1000, &ret, &err), 0);
        assert_string_equal(json_object_get_string(ret), "ok\r\n");
        json_object_put(ret);
        qmp_close(q);
        fake_stop(&f);
}

/* --- an fd passed with a command (getfd) --- */

static struct stat passed; /* what the fd the server got refers to */

static void script_fd(struct fake *f, int fd)
{
        char line[4096], ctl[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {line, sizeof(line) - 1};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl,
                           .msg_controllen = sizeof(ctl)};
        struct cmsghdr *c;
        json_object *req;
        ssize_t n;
        int got = -1;
        int64_t id;

        srv_greet(f, fd);
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
        c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                memcpy(&got, CMSG_DATA(c), sizeof(int));
        if (got < 0 || fstat(got, &passed) < 0)
                srv_fail(f, "no fd came with the command");
        if (got >= 0)
                close(got);
        line[n > 0 ? n : 0] = '\0';
        req = json_tokener_parse(line);
        if (!req || !strstr(line, "\"getfd\"") || !strstr(line, "\"tap0\""))
                srv_fail(f, "not the getfd line: %s", line);
        id = json_object_get_int64(json_object_object_get(req, "id"));
        json_object_put(req);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\n", (long long) id);
        /* the next command comes without one, on the same stream */
        id = srv_command(f, fd, "netdev_add", NULL);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\n", (long long) id);
        srv_drain(fd);
}

static void test_execute_fd(void **state)
{
        struct uvm_error *err = NULL;
        json_object *args = json_object_new_object();
        struct stat want;
        int p[2];
        struct fake f;
        struct qmp *q;

        (void) state;
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(fstat(p[1], &want), 0);
        json_object_object_add(args, "fdname", json_object_new_string("tap0"));
        fake_start(&f, script_fd, 0);
        q = connect_ok(&f);
        assert_int_equal(qmp_execute_fd(q, "getfd", args, -1, 1000, NULL, &err), -EBADF);
        err = uvm_error_free(err);
        assert_int_equal(qmp_execute_fd(q, "getfd", args, p[1], 1000, NULL, &err), 0);
        assert_null(err);
        assert_int_equal(qmp_execute(q, "netdev_add", NULL, 1000, NULL, &err), 0);
        qmp_close(q);
        fake_stop(&f);
        assert_true(passed.st_ino == want.st_ino && passed.st_dev == want.st_dev);
        json_object_put(args);
        close(p[0]);
        close(p[1]);
}

/* --- a QMP error reply leaves the connection usable --- */

static void script_error(struct fake *f, int fd)
{
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "device_del", NULL);
        srv_printf(fd,
                   "{\"id\": %lld, \"error\": {\"class\": \"DeviceNotFound\", "
                   "\"desc\": \"Device 'nic9' not found\"}}\r\n",
                   (long long) id);
        id = srv_command(f, fd, "cont", NULL);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\r\n", (long long) id);
        srv_drain(fd);
}

static void test_error_reply(void **state)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        struct fake f;
        struct qmp *q;
        int r;

        fake_start(&f, script_error, 0);
        q = connect_ok(&f);
        r = qmp_execute(q, "device_del", NULL, 1000, &ret, &err);
        assert_null(ret);
        assert_int_equal(r, -EIO);
        assert_string_equal(err->msg, "qmp device_del: DeviceNotFound: Device 'nic9' not found");
        err = uvm_error_free(err);
        assert_int_equal(qmp_execute(q, "cont", NULL, 1000, NULL, &err), 0);
        qmp_close(q);
        fake_stop(&f);
}

/* --- events before the reply: the handler, then qmp_wait_event --- */

static void script_events(struct fake *f, int fd)
{
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "quit", NULL);
        srv_printf(fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
                       "\"STOP\"}\r\n"
                       "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": "
                       "\"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": "
                       "\"host-qmp-quit\"}}\r\n");
        sleep_ms(20);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\r\n", (long long) id);
        /* Later: an event nobody waits for, then the awaited one. */
        sleep_ms(50);
        srv_printf(fd, "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n");
        sleep_ms(50);
        srv_printf(fd, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"rp1\"}, "
                       "\"timestamp\": {}}\r\n");
        srv_drain(fd);
}

static void test_events(void **state)
{
        struct uvm_error *err = NULL;
        json_object *data = NULL, *v;
        struct seen seen = {0};
        struct fake f;
        struct qmp *q;

        fake_start(&f, script_events, 0);
        q = connect_ok(&f);
        qmp_set_event_handler(q, record_event, &seen);
        assert_int_equal(qmp_execute(q, "quit", NULL, 1000, NULL, &err), 0);
        assert_int_equal(seen.n, 2);
        assert_string_equal(seen.names[0], "STOP");
        assert_string_equal(seen.data[0], "NULL");
        assert_string_equal(seen.names[1], "SHUTDOWN");
        assert_string_equal(seen.data[1], "{\"guest\":false,\"reason\":\"host-qmp-quit\"}");

        /* SHUTDOWN came before the reply to quit: the wait still sees it. */
        assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 0, &data, &err), 0);
        assert_true(json_object_object_get_ex(data, "reason", &v));
        assert_string_equal(json_object_get_string(v), "host-qmp-quit");
        json_object_put(data);
        /* Taken once only. */
        assert_err(&err, qmp_wait_event(q, "SHUTDOWN", 0, NULL, &err), ETIMEDOUT,
                   "no QMP event SHUTDOWN within 0 ms");

        data = NULL;
        assert_int_equal(qmp_wait_event(q, "DEVICE_DELETED", 2000, &data, &err), 0);
        assert_true(json_object_object_get_ex(data, "device", &v));
        assert_string_equal(json_object_get_string(v), "rp1");
        json_object_put(data);
        assert_int_equal(seen.n, 4);
        assert_string_equal(seen.names[2], "RESUME");
        assert_string_equal(seen.names[3], "DEVICE_DELETED");
        /* RESUME was read by the wait: it is kept too. */
        assert_int_equal(qmp_wait_event(q, "RESUME", 0, &data, &err), 0);
        assert_null(data);
        qmp_close(q);
        fake_stop(&f);
}

/* --- events kept during one command are gone at the next --- */

static void script_events_cleared(struct fake *f, int fd)
{
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "stop", NULL);
        srv_printf(fd, "{\"event\": \"STOP\"}\n{\"return\": {}, \"id\": %lld}\n", (long long) id);
        id = srv_command(f, fd, "query-status", NULL);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\n", (long long) id);
        srv_drain(fd);
}

static void test_events_cleared(void **state)
{
        struct uvm_error *err = NULL;
        struct fake f;
        struct qmp *q;

        fake_start(&f, script_events_cleared, 0);
        q = connect_ok(&f);
        assert_int_equal(qmp_execute(q, "stop", NULL, 1000, NULL, &err), 0);
        assert_int_equal(qmp_execute(q, "query-status", NULL, 1000, NULL, &err), 0);
        assert_err(&err, qmp_wait_event(q, "STOP", 50, NULL, &err), ETIMEDOUT,
                   "no QMP event STOP within 50 ms");
        qmp_close(q);
        fake_stop(&f);
}

/* --- protocol errors: the connection is unusable afterwards --- */

static const char *bad_reply; /* what script_bad answers (%lld, if there: the id) */

static void script_bad(struct fake *f, int fd)
{
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "query-status", NULL);
        srv_printf(fd, bad_reply, (long long) id);
        /* and hang up: after the bad message, EOF must change nothing */
}

static void expect_bad_reply(const char *reply, int code, const char *msg)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        struct fake f;
        struct qmp *q;

        bad_reply = reply;
        fake_start(&f, script_bad, 0);
        q = connect_ok(&f);
        assert_err(&err, qmp_execute(q, "query-status", NULL, 2000, &ret, &err), code, msg);
        assert_null(ret);
        assert_err(&err, qmp_execute(q, "query-status", NULL, 1000, &ret, &err), ENOTCONN,
                   "the QMP connection is unusable after an earlier error");
        assert_err(&err, qmp_wait_event(q, "STOP", 0, NULL, &err), ENOTCONN, "unusable");
        qmp_close(q);
        fake_stop(&f);
}

static void test_wrong_id(void **state)
{
        expect_bad_reply("{\"return\": {}, \"id\": 99}\r\n", EPROTO,
                         "qmp query-status: QEMU replied with id 99, expected 2");
}

static void test_not_json(void **state)
{
        expect_bad_reply("hello, I am not JSON\r\n", EPROTO,
                         "qmp query-status: QEMU sent invalid JSON on the QMP socket");
}

static void test_not_object(void **state)
{
        expect_bad_reply("[1, 2, %lld]\r\n", EPROTO,
                         "QEMU sent a QMP message that is not an object");
        expect_bad_reply("null\r\n", EPROTO, "not an object");
}

static void test_neither_reply_nor_event(void **state)
{
        expect_bad_reply("{\"id\": %lld}\r\n", EPROTO,
                         "qmp query-status: QEMU sent a QMP message that is neither a reply nor an "
                         "event: {");
        expect_bad_reply("{\"return\": {}}\r\n", EPROTO,
                         "qmp query-status: QEMU sent a reply without an id");
        expect_bad_reply("{\"return\": {}, \"id\": \"%lld\"}\r\n", EPROTO, "without an id");
        expect_bad_reply("{\"error\": {\"desc\": \"no class\"}, \"id\": %lld}\r\n", EPROTO,
                         "qmp query-status: QEMU sent a malformed error reply");
        expect_bad_reply("{\"event\": 7}\r\n", EPROTO,
                         "QEMU sent a QMP event without a valid name");
        expect_bad_reply("{\"event\": \"SHUT\\u0000DOWN\"}\r\n", EPROTO,
                         "QEMU sent a QMP event without a valid name");
        expect_bad_reply("{\"event\": \"\\u001b[2J\"}\r\n", EPROTO,
                         "QEMU sent a QMP event without a valid name");
        expect_bad_reply("{\"event\": \"X\", \"data\": [1]}\r\n", EPROTO,
                         "QEMU sent QMP event X with non-object data");
}

static void test_eof_mid_reply(void **state)
{
        expect_bad_reply("{\"return\": {\"status\": \"runn", ECONNRESET,
                         "qmp query-status: QEMU closed the QMP socket");
}

/* --- size bound: 1 MiB per message --- */

static size_t big_size;

static void script_big(struct fake *f, int fd)
{
        char *s = malloc(big_size + 1);
        int64_t id;

        srv_greet(f, fd);
        id = srv_command(f, fd, "query-status", NULL);
        memset(s, 'x', big_size);
        s[big_size] = '\0';
        srv_printf(fd, "{\"return\": \"%s\", \"id\": %lld}\r\n", s, (long long) id);
        free(s);
        srv_drain(fd);
}

static void test_message_size(void **state)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        struct fake f;
        struct qmp *q;

        /* Just under the bound: fine. */
        big_size = QMP_MAX_MESSAGE - 100;
        fake_start(&f, script_big, 0);
        q = connect_ok(&f);
        assert_int_equal(qmp_execute(q, "query-status", NULL, 5000, &ret, &err), 0);
        assert_int_equal(json_object_get_string_len(ret), big_size);
        json_object_put(ret);
        qmp_close(q);
        fake_stop(&f);

        /* Just over, and far over. */
        for (int i = 0; i < 2; i++) {
                big_size = i == 0 ? QMP_MAX_MESSAGE : 4 * QMP_MAX_MESSAGE;
                fake_start(&f, script_big, 0);
                q = connect_ok(&f);
                assert_err(&err, qmp_execute(q, "query-status", NULL, 5000, &ret, &err), EMSGSIZE,
                           "qmp query-status: QEMU sent a QMP message larger than 1 MiB");
                assert_err(&err, qmp_execute(q, "query-status", NULL, 1000, &ret, &err), ENOTCONN,
                           "unusable");
                qmp_close(q);
                fake_stop(&f);
        }
}

/* --- a server that never answers; a late reply is dropped --- */

static void script_slow(struct fake *f, int fd)
{
        int64_t id1, id2;

        srv_greet(f, fd);
        id1 = srv_command(f, fd, "query-status", NULL);
        id2 = srv_command(f, fd, "cont", NULL);
        srv_printf(fd, "{\"return\": {\"late\": true}, \"id\": %lld}\r\n", (long long) id1);
        srv_printf(fd, "{\"return\": {}, \"id\": %lld}\r\n", (long long) id2);
        id1 = srv_command(f, fd, "stop", NULL); /* never answered */
        srv_drain(fd);
}

static void test_timeout(void **state)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        struct fake f;
        struct qmp *q;
        int64_t t0;

        fake_start(&f, script_slow, 0);
        q = connect_ok(&f);
        t0 = now_ms();
        assert_err(&err, qmp_execute(q, "query-status", NULL, 200, &ret, &err), ETIMEDOUT,
                   "qmp query-status: no reply within 200 ms");
        assert_true(now_ms() - t0 >= 200);
        assert_true(now_ms() - t0 < 1500);
        assert_null(ret);
        /* Still usable: the late reply to query-status is dropped. */
        assert_int_equal(qmp_execute(q, "cont", NULL, 2000, &ret, &err), 0);
        assert_int_equal(json_object_object_length(ret), 0);
        json_object_put(ret);
        assert_err(&err, qmp_execute(q, "stop", NULL, 0, NULL, &err), ETIMEDOUT,
                   "qmp stop: no reply within 0 ms");
        t0 = now_ms();
        assert_err(&err, qmp_wait_event(q, "STOP", 100, NULL, &err), ETIMEDOUT,
                   "no QMP event STOP within 100 ms");
        assert_true(now_ms() - t0 >= 100);
        qmp_close(q);
        fake_stop(&f);
}

/* --- connecting --- */

static void script_no_greeting(struct fake *f, int fd)
{
        srv_drain(fd);
}

static void script_bad_greeting(struct fake *f, int fd)
{
        srv_printf(fd, "{\"return\": {}}\r\n");
        srv_drain(fd);
}

static void script_caps_refused(struct fake *f, int fd)
{
        int64_t id;

        srv_printf(fd, GREETING);
        id = srv_command(f, fd, "qmp_capabilities", NULL);
        srv_printf(fd,
                   "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
                   "negotiation is already complete\"}, \"id\": %lld}\r\n",
                   (long long) id);
        srv_drain(fd);
}

/* Greeting and reply a byte at a time, pretty-printed, CRLF. */
static void script_trickle(struct fake *f, int fd)
{
        const char *greeting = "\r\n{\r\n  \"QMP\": {\r\n    \"capabilities\": []\r\n  }\r\n}\r\n";
        char reply[128];
        int64_t id;

        for (const char *p = greeting; *p; p++) {
                srv_write(fd, p, 1);
                sleep_ms(1);
        }
        id = srv_command(f, fd, "qmp_capabilities", NULL);
        snprintf(reply, sizeof(reply), "{\r\n  \"return\": {\r\n  },\r\n  \"id\": %lld\r\n}\r\n",
                 (long long) id);
        for (const char *p = reply; *p; p++) {
                srv_write(fd, p, 1);
                sleep_ms(1);
        }
        srv_drain(fd);
}

static void script_greet_only(struct fake *f, int fd)
{
        srv_greet(f, fd);
        srv_drain(fd);
}

static void test_connect(void **state)
{
        struct uvm_error *err = NULL;
        struct qmp *q = NULL;
        struct fake f;
        int64_t t0;

        fake_start(&f, script_no_greeting, 0);
        assert_err(&err, qmp_connect(f.path, 200, &q, &err), ETIMEDOUT,
                   "no QMP greeting within 200 ms");
        assert_null(q);
        fake_stop(&f);

        fake_start(&f, script_bad_greeting, 0);
        assert_err(&err, qmp_connect(f.path, 2000, &q, &err), EPROTO, "QEMU sent no QMP greeting");
        fake_stop(&f);

        fake_start(&f, script_caps_refused, 0);
        assert_err(&err, qmp_connect(f.path, 2000, &q, &err), EIO,
                   "qmp qmp_capabilities: CommandNotFound: Capabilities negotiation is already "
                   "complete");
        assert_null(q);
        fake_stop(&f);

        fake_start(&f, script_trickle, 0);
        assert_int_equal(qmp_connect(f.path, 5000, &q, &err), 0);
        q = qmp_close(q);
        fake_stop(&f);

        /* The socket appears late (QEMU starting): connect retries. */
        fake_start(&f, script_greet_only, 300);
        t0 = now_ms();
        assert_int_equal(qmp_connect(f.path, 5000, &q, &err), 0);
        assert_true(now_ms() - t0 >= 250);
        q = qmp_close(q);
        fake_stop(&f);

        t0 = now_ms();
        assert_err(&err, qmp_connect("/nonexistent/qmp.sock", 100, &q, &err), ETIMEDOUT,
                   "QMP socket '/nonexistent/qmp.sock' not accepting within 100 ms");
        assert_true(now_ms() - t0 >= 100);
        assert_err(&err, qmp_connect("relative/qmp.sock", 0, &q, &err), ETIMEDOUT, "not accepting");
        assert_err(&err, qmp_connect("/tmp/x.sock", -1, &q, &err), EINVAL, "negative timeout");
        {
                char longpath[200];

                memset(longpath, 'a', sizeof(longpath) - 1);
                longpath[0] = '/';
                longpath[sizeof(longpath) - 1] = '\0';
                assert_err(&err, qmp_connect(longpath, 100, &q, &err), EINVAL, "too long");
        }
        assert_null(qmp_close(NULL));
}

static void test_bad_calls(void **state)
{
        struct uvm_error *err = NULL;
        json_object *args = json_object_new_array();
        struct fake f;
        struct qmp *q;

        fake_start(&f, script_greet_only, 0);
        q = connect_ok(&f);
        assert_err(&err, qmp_execute(q, "x", args, 100, NULL, &err), EINVAL,
                   "qmp x: the arguments must be a JSON object");
        assert_err(&err, qmp_execute(q, "", NULL, 100, NULL, &err), EINVAL, "no command");
        assert_err(&err, qmp_execute(q, "x", NULL, -1, NULL, &err), EINVAL, "negative timeout");
        assert_err(&err, qmp_wait_event(q, "", 100, NULL, &err), EINVAL, "event name");
        assert_err(&err, qmp_wait_event(q, "X", -5, NULL, &err), EINVAL, "timeout");
        /* None of that broke the connection; NULL err is fine too. */
        assert_int_equal(qmp_wait_event(q, "X", 0, NULL, NULL), -ETIMEDOUT);
        json_object_put(args);
        qmp_close(q);
        fake_stop(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_execute),
                cmocka_unit_test(test_execute_fd),
                cmocka_unit_test(test_error_reply),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_events_cleared),
                cmocka_unit_test(test_wrong_id),
                cmocka_unit_test(test_not_json),
                cmocka_unit_test(test_not_object),
                cmocka_unit_test(test_neither_reply_nor_event),
                cmocka_unit_test(test_eof_mid_reply),
                cmocka_unit_test(test_message_size),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_connect),
                cmocka_unit_test(test_bad_calls),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
