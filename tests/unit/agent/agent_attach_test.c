/* Attach and port-forward through the uvmd-agent end to end, with the
 * host-side client (agent/client.h) and real runc: a ticking container's
 * output to two attaches while the log keeps every line, a slow attach
 * ending, stdin with and without StdinOnce, a terminal container; concurrent
 * connections with half-close, a refused port, the bound. Needs root and
 * runc: skipped otherwise. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/client.h"
#include "tests/unit/agent/stream_fixture.h"
#include "agent/conn.h"
#include "common/fs.h"

#define NC_PORT 39217
#define MAX_PORTS 256 /* AGENT_MAX_PORTS of agent-internal.h */

/* Attach. */

/* The lines "lineN\n" of text are consecutive; the first N, or -1. */
static int consecutive_lines(const char *text, int *ret_last)
{
        int first = -1, prev = -1, n;

        for (const char *p = text; p && (p = strstr(p, "line")); p++) {
                if (sscanf(p, "line%d", &n) != 1)
                        return -2;
                if (prev >= 0 && n != prev + 1)
                        return -2;
                if (first < 0)
                        first = n;
                prev = n;
        }
        *ret_last = prev;
        return first;
}

static void test_attach_tick(void **state)
{
        struct agent_attach_start out_only = {.use_stdout = true};
        struct agent_attach_start both = {.use_stdout = true, .use_stderr = true};
        struct rec a = {0}, b = {0};
        struct agent_stream_ops oa = rec_ops(&a), ob = rec_ops(&b);
        struct agent_stream *sa = NULL, *sb = NULL;
        char *log;
        int first, last, lfirst, llast;

        if (fx.skip)
                skip();
        ctr_run("tick",
                "i=0; while [ $i -lt 100000 ]; do echo line$i; i=$((i+1)); sleep 0.1; done");
        assert_true(wait_log("tick", 1, "line3\n"));
        assert_int_equal(agent_client_attach(fx.client, "tick", &out_only, &oa, &sa, NULL), 0);
        rec_started(&a, sa, false);
        assert_int_equal(agent_client_attach(fx.client, "tick", &both, &ob, &sb, NULL), 0);
        rec_started(&b, sb, false);
        usleep(1000000);
        agent_stream_free(sa);
        usleep(500000);
        agent_stream_free(sb);
        /* Freed: their callbacks are over, nothing else writes a and b. */
        first = consecutive_lines(a.out[0].data, &last);
        print_message("attach a: line%d..line%d\n", first, last);
        assert_true(first >= 3 && last >= first + 5);
        first = consecutive_lines(b.out[0].data, &last);
        assert_true(first >= 3 && last >= first + 5);
        assert_null(b.out[1].data); /* nothing on stderr */
        assert_true(wait_log("tick", 1, "line25\n"));
        log = log_copy("tick", 1);
        lfirst = consecutive_lines(log, &llast);
        assert_int_equal(lfirst, 0); /* the log kept every line */
        assert_true(llast >= 25);
        free(log);
        rec_clear(&a);
        rec_clear(&b);
}

/* An attach that does not consume falls behind and ends; the log does not. */
static void test_attach_slow_ends(void **state)
{
        struct agent_attach_start out_only = {.use_stdout = true};
        struct rec a = {0};
        struct agent_stream_ops oa = rec_ops(&a);
        struct agent_stream *sa = NULL;
        struct agent_ctr_info info;

        if (fx.skip)
                skip();
        /* 3 MiB, paced so that the log's own consumer keeps up. */
        ctr_run("burst", "sleep 1; i=0; while [ $i -lt 48 ]; do yes | head -c 65536; "
                         "sleep 0.02; i=$((i+1)); done; echo burst-done; sleep 1000");
        assert_int_equal(agent_client_attach(fx.client, "burst", &out_only, &oa, &sa, NULL), 0);
        rec_started(&a, sa, true);
        assert_int_equal(wait_rec_done(&a), -ENOBUFS);
        print_message("slow attach ended: %s\n", a.reason);
        assert_true(wait_log("burst", 1, "burst-done\n"));
        assert_int_equal(log_len("burst", 1), 48 * 65536 + strlen("burst-done\n"));
        assert_int_equal(agent_client_state(fx.client, "burst", &info, NULL), 0);
        assert_int_equal(info.dropped_bytes, 0);
        agent_ctr_info_clear(&info);
        agent_stream_free(sa);
        ctr_delete("burst");
        rec_clear(&a);
}

static void test_attach_stdin_once(void **state)
{
        struct agent_attach_start io = {.use_stdin = true, .use_stdout = true};
        struct rec a = {0};
        struct agent_stream_ops oa = rec_ops(&a);
        struct agent_stream *sa = NULL;

        if (fx.skip)
                skip();
        ctr_run_full("once", "cat", false, true, true);
        assert_int_equal(agent_client_attach(fx.client, "once", &io, &oa, &sa, NULL), 0);
        rec_started(&a, sa, false);
        write_all(sa, "ping\n");
        assert_true(wait_rec_output(&a, 1, "ping\n"));
        assert_true(wait_log("once", 1, "ping\n"));
        assert_int_equal(agent_stream_close_write(sa, NULL), 0);
        assert_int_equal(wait_exit("once"), 0); /* cat saw EOF */
        assert_int_equal(wait_rec_done(&a), 0);
        agent_stream_free(sa);
        ctr_delete("once");
        rec_clear(&a);

        /* An attach that just goes away ends the container's stdin too. */
        ctr_run_full("once2", "cat; echo cat-done", false, true, true);
        assert_int_equal(agent_client_attach(fx.client, "once2", &io, &oa, &sa, NULL), 0);
        rec_started(&a, sa, false);
        write_all(sa, "pong\n");
        assert_true(wait_log("once2", 1, "pong\n"));
        agent_stream_free(sa);
        assert_true(wait_log("once2", 1, "pong\ncat-done\n"));
        assert_int_equal(wait_exit("once2"), 0);
        ctr_delete("once2");
        rec_clear(&a);
}

static void test_attach_stdin_many(void **state)
{
        struct agent_attach_start in_only = {.use_stdin = true};
        struct rec a = {0}, b = {0};
        struct agent_stream_ops oa = rec_ops(&a), ob = rec_ops(&b);
        struct agent_stream *sa = NULL, *sb = NULL;
        struct uvm_error *err = NULL;

        if (fx.skip)
                skip();
        ctr_run_full("many", "cat", false, true, false);
        assert_int_equal(agent_client_attach(fx.client, "many", &in_only, &oa, &sa, NULL), 0);
        assert_int_equal(agent_client_attach(fx.client, "many", &in_only, &ob, &sb, NULL), 0);
        write_all(sa, "from-a\n");
        assert_true(wait_log("many", 1, "from-a\n"));
        assert_int_equal(agent_stream_close_write(sa, NULL), 0); /* detaches only */
        assert_int_equal(wait_rec_done(&a), 0);
        write_all(sb, "from-b\n");
        assert_true(wait_log("many", 1, "from-a\nfrom-b\n"));
        agent_stream_free(sa);
        agent_stream_free(sb);
        /* c1 was made without Stdin. */
        assert_true(agent_client_attach(fx.client, "c1", &in_only, &oa, &sa, &err) < 0);
        print_message("attach stdin of c1: %s\n", err->msg);
        uvm_error_free(err);
        ctr_delete("many");
        rec_clear(&a);
        rec_clear(&b);
}

static void test_tty_container(void **state)
{
        struct agent_attach_start io = {.use_stdin = true, .use_stdout = true, .use_stderr = true};
        struct rec a = {0};
        struct agent_stream_ops oa = rec_ops(&a);
        struct agent_stream *sa = NULL;

        if (fx.skip)
                skip();
        /* StdinOnce with a terminal: a detach leaves the shell its input. */
        ctr_run_full("ttyc", "echo tty-up; exec sh -i", true, true, true);
        assert_true(wait_log("ttyc", 1, "tty-up"));
        assert_int_equal(agent_client_attach(fx.client, "ttyc", &io, &oa, &sa, NULL), 0);
        rec_started(&a, sa, false);
        assert_int_equal(agent_stream_resize(sa, 40, 100, NULL), 0);
        write_all(sa, "stty size; echo t-$((40+2)) >&2\n");
        assert_true(wait_rec_output(&a, 1, "40 100"));
        assert_true(wait_rec_output(&a, 1, "t-42"));
        assert_true(wait_log("ttyc", 1, "t-42")); /* the log has it as stdout */
        agent_stream_free(sa);
        rec_clear(&a);
        assert_int_equal(agent_client_attach(fx.client, "ttyc", &io, &oa, &sa, NULL), 0);
        rec_started(&a, sa, false);
        write_all(sa, "exit 7\n");
        assert_int_equal(wait_exit("ttyc"), 7);
        assert_int_equal(wait_rec_done(&a), 0);
        assert_null(a.out[1].data);
        agent_stream_free(sa);
        ctr_delete("ttyc");
        rec_clear(&a);
}

/* Port-forward. */

static bool port_open(int port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;

        close(fd);
        return ok;
}

static void test_port_forward(void **state)
{
        struct rec r[4] = {0};
        struct agent_stream *s[4];
        char msg[32];

        if (fx.skip)
                skip();
        ctr_run("ncsrv", "nc -ll -p 39217 -e cat");
        for (long end = now_ms() + WAIT_MS; !port_open(NC_PORT) && now_ms() < end;)
                usleep(20000);
        for (int i = 0; i < 4; i++) {
                struct agent_stream_ops ops = rec_ops(&r[i]);

                assert_int_equal(agent_client_port_forward(fx.client, NC_PORT, &ops, &s[i], NULL),
                                 0);
                rec_started(&r[i], s[i], false);
        }
        for (int i = 0; i < 4; i++) {
                snprintf(msg, sizeof(msg), "hello-%d\n", i);
                write_all(s[i], msg);
        }
        for (int i = 0; i < 4; i++) {
                snprintf(msg, sizeof(msg), "hello-%d\n", i);
                assert_true(wait_rec_output(&r[i], 1, msg));
        }
        /* Half-close: cat sees EOF, exits, the connection ends. */
        for (int i = 0; i < 4; i++)
                assert_int_equal(agent_stream_close_write(s[i], NULL), 0);
        for (int i = 0; i < 4; i++) {
                snprintf(msg, sizeof(msg), "hello-%d\n", i);
                assert_int_equal(wait_rec_done(&r[i]), 0);
                assert_true(r[i].ended[0]);
                assert_string_equal(r[i].out[0].data, msg);
                agent_stream_free(s[i]);
                rec_clear(&r[i]);
        }
        ctr_delete("ncsrv");
}

static void test_port_refused_and_bound(void **state)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        struct agent_stream *s[MAX_PORTS + 1];
        struct uvm_error *err = NULL;
        struct rec r = {0};
        struct agent_stream_ops ops = rec_ops(&r);
        char port_s[16];
        int lfd, i;

        if (fx.skip)
                skip();
        /* A port nobody listens on: bound, then closed. */
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(lfd, (struct sockaddr *) &sa, &len), 0);
        close(lfd);
        assert_int_equal(
                agent_client_port_forward(fx.client, ntohs(sa.sin_port), &ops, &s[0], &err),
                -ECONNREFUSED);
        snprintf(port_s, sizeof(port_s), "%u", ntohs(sa.sin_port));
        print_message("refused: %s\n", err->msg);
        assert_non_null(strstr(err->msg, port_s));
        err = uvm_error_free(err);

        /* The bound: a listener that never accepts holds the connections. */
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sa.sin_port = 0;
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(lfd, (struct sockaddr *) &sa, &len), 0);
        assert_int_equal(listen(lfd, 1024), 0);
        for (i = 0; i < MAX_PORTS; i++)
                if (agent_client_port_forward(fx.client, ntohs(sa.sin_port), &ops, &s[i], &err) < 0)
                        break;
        assert_int_equal(i, MAX_PORTS);
        assert_int_equal(
                agent_client_port_forward(fx.client, ntohs(sa.sin_port), &ops, &s[i], &err),
                -EAGAIN);
        print_message("bound: %s\n", err->msg);
        err = uvm_error_free(err);
        for (i = 0; i < MAX_PORTS; i++)
                agent_stream_free(s[i]);
        close(lfd);
        rec_clear(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_attach_tick),
                cmocka_unit_test(test_attach_slow_ends),
                cmocka_unit_test(test_attach_stdin_once),
                cmocka_unit_test(test_attach_stdin_many),
                cmocka_unit_test(test_tty_container),
                cmocka_unit_test(test_port_forward),
                cmocka_unit_test(test_port_refused_and_bound),
        };

        return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
