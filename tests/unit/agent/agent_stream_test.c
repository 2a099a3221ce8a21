/* Interactive exec through the uvmd-agent end to end, with the host-side
 * client (agent/client.h) and real runc: output, stdin, exit code, a
 * terminal and its size, a signal, kill on free, a leftover child, flow
 * control; and bad requests on a raw connection. Needs root and runc:
 * skipped otherwise. */

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

/* Interactive exec. */

static void test_exec_echo(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"echo", "hello", NULL}, false, false, true, false, &r,
                       false);
        assert_int_equal(wait_rec_done(&r), 0);
        assert_true(wait_rec_output(&r, 1, "hello\n"));
        assert_true(r.ended[0]); /* the stream ended before the exit was told */
        assert_string_equal(r.out[0].data, "hello\n");
        agent_stream_free(s);
        rec_clear(&r);
}

static void test_exec_cat_stdin(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"cat", NULL}, false, true, true, false, &r, false);
        write_all(s, "abc\n");
        assert_true(wait_rec_output(&r, 1, "abc\n"));
        write_all(s, "def");
        assert_int_equal(agent_stream_close_write(s, NULL), 0);
        assert_int_equal(wait_rec_done(&r), 0);
        assert_string_equal(r.out[0].data, "abc\ndef");
        assert_int_equal(agent_stream_write(s, "x", 1, 0, NULL), -EPIPE);
        agent_stream_free(s);
        rec_clear(&r);
}

static void test_exec_exit_code(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"sh", "-c", "echo out; echo err >&2; exit 3", NULL}, false,
                       false, true, true, &r, false);
        assert_int_equal(wait_rec_done(&r), 3);
        assert_string_equal(r.out[0].data, "out\n");
        assert_string_equal(r.out[1].data, "err\n");
        assert_true(r.ended[0] && r.ended[1]);
        agent_stream_free(s);
        rec_clear(&r);
}

static void test_exec_tty_resize(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"sh", "-i", NULL}, true, true, true, true, &r, false);
        write_all(s, "stty size\n");
        assert_true(wait_rec_output(&r, 1, "10 20")); /* the size asked at the start */
        assert_int_equal(agent_stream_resize(s, 33, 77, NULL), 0);
        write_all(s, "stty size; echo 2>&1 x-$((40+2))\n");
        assert_true(wait_rec_output(&r, 1, "33 77"));
        assert_true(wait_rec_output(&r, 1, "x-42")); /* stderr is the terminal too */
        write_all(s, "exit 5\n");
        assert_int_equal(wait_rec_done(&r), 5);
        assert_null(r.out[1].data);
        agent_stream_free(s);
        rec_clear(&r);
}

static void test_exec_signal(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"sleep", "4320", NULL}, false, false, true, false, &r,
                       false);
        assert_true(wait_procs("sleep", "4320", 1));
        assert_int_equal(agent_stream_signal(s, SIGTERM, NULL), 0);
        assert_int_equal(wait_rec_done(&r), 128 + SIGTERM);
        assert_int_equal(agent_stream_signal(s, 0, NULL), -EINVAL);
        agent_stream_free(s);
        rec_clear(&r);
}

static void test_exec_free_kills(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        /* sh forks sleep: the whole process group must go. */
        s = exec_start("c1", (char *[]){"sh", "-c", "sleep 4321; echo never", NULL}, false, true,
                       true, false, &r, false);
        assert_true(wait_procs("sleep", "4321", 1));
        agent_stream_free(s);
        assert_true(wait_procs("sleep", "4321", 0));
        rec_clear(&r);
}

/* A background child keeps the pipes: the exec still ends, its output all
 * there, once the exit hold (2 s) passed. */
static void test_exec_leftover_child(void **state)
{
        struct rec r = {0};
        struct agent_stream *s;
        long start = now_ms();

        if (fx.skip)
                skip();
        s = exec_start("c1", (char *[]){"sh", "-c", "sleep 4324 & echo bg", NULL}, false, false,
                       true, false, &r, false);
        assert_int_equal(wait_rec_done(&r), 0);
        assert_true(now_ms() - start < 6000);
        assert_string_equal(r.out[0].data, "bg\n");
        assert_true(r.ended[0]);
        agent_stream_free(s);
        rec_clear(&r);
}

/* A consumer that stops: the agent stops reading, seq blocks, the agent
 * does not grow; then everything arrives, in order. */
static void test_exec_flow_control(void **state)
{
        struct buf want = {0};
        size_t got, before;
        long rss0, rss1;
        bool done;
        char num[16];
        struct rec r = {0};
        struct agent_stream *s;

        if (fx.skip)
                skip();
        for (int i = 1; i <= 2000000; i++) {
                int n = snprintf(num, sizeof(num), "%d\n", i);

                buf_append(&want, num, (size_t) n);
        }
        rss0 = agent_rss_kb();
        s = exec_start("c1", (char *[]){"seq", "1", "2000000", NULL}, false, false, true, false, &r,
                       true);
        usleep(1500000);
        pthread_mutex_lock(&fx.mu);
        before = r.out[0].len;
        pthread_mutex_unlock(&fx.mu);
        usleep(500000);
        rss1 = agent_rss_kb();
        pthread_mutex_lock(&fx.mu);
        got = r.out[0].len;
        done = r.done;
        pthread_mutex_unlock(&fx.mu);
        assert_false(done);
        print_message("held: %zu bytes received, agent RSS %ld -> %ld KiB\n", got, rss0, rss1);
        assert_int_equal(got, before);
        /* The client and this agent agreed on the bulk window (conn.h). */
        assert_true(got > 0 && got <= AGENT_BULK_WINDOW);
        assert_true(rss1 - rss0 < 3 * 1024); /* 15 MB of output did not pile up */
        assert_int_equal(count_procs("seq", "1"), 1);
        rec_release(&r);
        assert_int_equal(wait_rec_done(&r), 0); /* done is the last callback */
        assert_int_equal(r.out[0].len, want.len);
        assert_memory_equal(r.out[0].data, want.data, want.len);
        agent_stream_free(s);
        rec_clear(&r);
        free(want.data);
}

/* Bad requests, on a raw connection (it replaces the client's). */

static struct agent_conn *raw;

static json_object *raw_req(const char *id)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(id));
        json_object_object_add(o, "ActivityId", json_object_new_string("test"));
        return o;
}

static int raw_call(uint32_t rpc, json_object *req, json_object **ret)
{
        struct uvm_error *err = NULL;
        json_object *resp = NULL;
        int r = agent_conn_call(raw, rpc, req, 30000, &resp, &err);

        if (r < 0)
                print_message("%s: %s\n", agent_rpc_name(rpc), err->msg);
        uvm_error_free(err);
        json_object_put(req);
        if (ret)
                *ret = resp;
        else
                json_object_put(resp);
        return r;
}

static json_object *exec_req(const char *id, const char *key, json_object *v)
{
        json_object *req = raw_req(id), *args = json_object_new_array();

        json_object_array_add(args, json_object_new_string("sleep"));
        json_object_array_add(args, json_object_new_string("4323"));
        json_object_object_add(req, "Interactive", json_object_new_boolean(true));
        json_object_object_add(req, "Args", args);
        json_object_object_add(req, "Stdout", json_object_new_boolean(true));
        if (key)
                json_object_object_add(req, key, v);
        return req;
}

static json_object *port_req(int port)
{
        json_object *req = raw_req("");

        json_object_object_add(req, "PortForward", json_object_new_boolean(true));
        json_object_object_add(req, "Port", json_object_new_int(port));
        return req;
}

static json_object *sess_req(const char *id, uint64_t pid, const char *key, int v)
{
        json_object *req = raw_req(id);

        json_object_object_add(req, "ProcessId", json_object_new_uint64(pid));
        json_object_object_add(req, key, json_object_new_int(v));
        if (strcmp(key, "Height") == 0)
                json_object_object_add(req, "Width", json_object_new_int(v));
        return req;
}

static void raw_connect(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        json_object *req = raw_req("");
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx.sock);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(agent_conn_new(fd, NULL, NULL, &raw, NULL), 0);
        json_object_object_add(req, "MinimumVersion", json_object_new_int(1));
        json_object_object_add(req, "MaximumVersion", json_object_new_int(1));
        assert_int_equal(raw_call(AGENT_RPC_NEGOTIATE_PROTOCOL, req, NULL), 0);
}

static void test_bad_requests(void **state)
{
        const uint64_t nope = AGENT_SESSION_ID_BASE + 999999;
        json_object *resp = NULL, *req;
        struct rec r = {0};
        struct agent_stream *s;
        uint64_t pid;

        if (fx.skip)
                skip();
        fx.client = agent_client_free(fx.client);
        raw_connect();
        assert_int_equal(
                raw_call(AGENT_RPC_SIGNAL_PROCESS, sess_req("c1", nope, "Signal", 15), NULL),
                -ENOENT);
        assert_int_equal(
                raw_call(AGENT_RPC_RESIZE_CONSOLE, sess_req("c1", nope, "Height", 5), NULL),
                -ENOENT);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS,
                                  exec_req("c1", "Rows", json_object_new_string("abc")), NULL),
                         -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS,
                                  exec_req("c1", "Interactive", json_object_new_string("yes")),
                                  NULL),
                         -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS,
                                  exec_req("c1", "Stdout", json_object_new_boolean(false)), NULL),
                         -EINVAL);
        req = exec_req("c1", NULL, NULL);
        json_object_object_del(req, "Args");
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS, req, NULL), -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS, port_req(0), NULL), -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS, port_req(70000), NULL), -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS, exec_req("nope", NULL, NULL), NULL),
                         -ENOENT);

        /* A live exec without a terminal: no resize; its host leaving kills it. */
        assert_int_equal(raw_call(AGENT_RPC_EXECUTE_PROCESS, exec_req("c1", NULL, NULL), &resp), 0);
        pid = json_object_get_uint64(json_object_object_get(resp, "ProcessId"));
        json_object_put(resp);
        assert_true(pid >= AGENT_SESSION_ID_BASE);
        assert_true(wait_procs("sleep", "4323", 1));
        assert_int_equal(raw_call(AGENT_RPC_RESIZE_CONSOLE, sess_req("c1", pid, "Height", 5), NULL),
                         -ENOTTY);
        assert_int_equal(
                raw_call(AGENT_RPC_SIGNAL_PROCESS, sess_req("c1", pid, "Signal", 99), NULL),
                -EINVAL);
        assert_int_equal(raw_call(AGENT_RPC_SIGNAL_PROCESS, sess_req("x", pid, "Signal", 15), NULL),
                         -ENOENT); /* not that container's */
        raw = agent_conn_free(raw);
        assert_true(wait_procs("sleep", "4323", 0));

        /* Still healthy. */
        client_connect();
        s = exec_start("c1", (char *[]){"echo", "alive", NULL}, false, false, true, false, &r,
                       false);
        assert_int_equal(wait_rec_done(&r), 0);
        assert_string_equal(r.out[0].data, "alive\n");
        agent_stream_free(s);
        rec_clear(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec_echo),
                cmocka_unit_test(test_exec_cat_stdin),
                cmocka_unit_test(test_exec_exit_code),
                cmocka_unit_test(test_exec_tty_resize),
                cmocka_unit_test(test_exec_signal),
                cmocka_unit_test(test_exec_free_kills),
                cmocka_unit_test(test_exec_leftover_child),
                cmocka_unit_test(test_exec_flow_control),
                cmocka_unit_test(test_bad_requests),
        };

        return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
