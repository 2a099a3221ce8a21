/* agent/client.c against a fake agent built on agent_conn over a unix socket:
 * negotiation, stream ids from Create and GetProperties, output routing (also
 * of output that arrives before its owner is known), exit notifications,
 * exec output in base64, malformed responses, and the closed event. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/client.h"
#include "agent/conn.h"
#include "common/fs.h"

/* The fake agent. Responses per rpc are JSON texts set by each test. */
struct fake {
        char dir[64], path[128];
        int listen_fd;
        pthread_t thread;
        pthread_mutex_t lock;
        struct agent_conn *conn; /* lock */
        const char *resp[16];    /* by rpc number (AGENT_RPC(n)) */
        json_object *last_req[16];
        uint64_t pre_stream; /* data sent before answering GetProperties */
        const char *pre_data;
        int n_calls[16];
        unsigned accept_delay_ms;
};

/* What the client reported. */
struct events {
        pthread_mutex_t lock;
        char out[4096];
        int exits, last_code;
        int64_t last_ns;
        bool last_oom;
        char last_exit_id[64];
        int closed;
        char closed_reason[256];
};

static int rpc_index(uint32_t rpc)
{
        return (int) ((rpc >> 8) & 0xf);
}

static int fake_request(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                        void *userdata, struct uvm_error **err)
{
        struct fake *f = userdata;
        int i = rpc_index(rpc);
        const char *text;

        pthread_mutex_lock(&f->lock);
        f->n_calls[i]++;
        json_object_put(f->last_req[i]);
        f->last_req[i] = json_object_get(req);
        text = f->resp[i];
        pthread_mutex_unlock(&f->lock);
        if (rpc == AGENT_RPC_GET_PROPERTIES && f->pre_data)
                agent_conn_write_stream(conn, f->pre_stream, f->pre_data, strlen(f->pre_data), 1000,
                                        NULL);
        if (!text && rpc == AGENT_RPC_NEGOTIATE_PROTOCOL)
                text = "{\"Version\":1,\"Capabilities\":{}}";
        if (!text && rpc == AGENT_RPC_GET_PROPERTIES)
                text = "{\"Containers\":[]}";
        if (!text)
                text = "{}";
        if (STR_EQ(text, "fail"))
                return uvm_error_set(err, ENOENT, "no such container");
        *ret = json_tokener_parse(text);
        assert_non_null(*ret);
        return 0;
}

static void *fake_main(void *arg)
{
        static const struct agent_conn_ops ops = {.request = fake_request};
        struct fake *f = arg;
        struct agent_conn *conn = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        usleep(f->accept_delay_ms * 1000);
        strcpy(sa.sun_path, f->path);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 4), 0);
        fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return NULL;
        assert_int_equal(agent_conn_new(fd, &ops, f, &conn, NULL), 0);
        pthread_mutex_lock(&f->lock);
        f->conn = conn;
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

static struct fake *fake_start(unsigned delay_ms)
{
        struct fake *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/agent-client-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
        pthread_mutex_init(&f->lock, NULL);
        f->accept_delay_ms = delay_ms;
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listen_fd >= 0);
        assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
        return f;
}

static struct agent_conn *fake_conn(struct fake *f)
{
        struct agent_conn *c;

        pthread_mutex_lock(&f->lock);
        c = f->conn;
        pthread_mutex_unlock(&f->lock);
        return c;
}

static void fake_stop(struct fake *f)
{
        shutdown(f->listen_fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
        agent_conn_free(f->conn);
        close(f->listen_fd);
        for (int i = 0; i < 16; i++)
                json_object_put(f->last_req[i]);
        fs_rm_rf(f->dir);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

static void on_exited(void *data, const char *id, int code, int64_t ns, bool oom)
{
        struct events *e = data;

        pthread_mutex_lock(&e->lock);
        e->exits++;
        e->last_code = code;
        e->last_ns = ns;
        e->last_oom = oom;
        snprintf(e->last_exit_id, sizeof(e->last_exit_id), "%s", id);
        pthread_mutex_unlock(&e->lock);
}

static void on_output(void *data, const char *id, enum drv_stream s, const char *buf, size_t n)
{
        struct events *e = data;
        size_t len;

        pthread_mutex_lock(&e->lock);
        len = strlen(e->out);
        snprintf(e->out + len, sizeof(e->out) - len, "%s/%d:%.*s|", id, (int) s, (int) n, buf);
        pthread_mutex_unlock(&e->lock);
}

static void on_closed(void *data, const char *reason)
{
        struct events *e = data;

        pthread_mutex_lock(&e->lock);
        e->closed++;
        snprintf(e->closed_reason, sizeof(e->closed_reason), "%s", reason);
        pthread_mutex_unlock(&e->lock);
}

static struct events ev_state;
static const struct agent_client_events events = {&ev_state, on_exited, on_output, on_closed};

static void events_reset(void)
{
        pthread_mutex_lock(&ev_state.lock);
        memset(ev_state.out, 0, sizeof(ev_state.out));
        ev_state.exits = ev_state.closed = 0;
        pthread_mutex_unlock(&ev_state.lock);
}

/* Poll (up to 5 s) until cond(ev_state) holds, under its lock. */
static bool wait_for(bool (*cond)(const void *), const void *arg)
{
        for (int i = 0; i < 5000; i++) {
                bool ok;

                pthread_mutex_lock(&ev_state.lock);
                ok = cond(arg);
                pthread_mutex_unlock(&ev_state.lock);
                if (ok)
                        return true;
                usleep(1000);
        }
        return false;
}

static bool out_is(const void *want)
{
        return STR_EQ(ev_state.out, (const char *) want);
}

static bool exits_are(const void *n)
{
        return ev_state.exits == *(const int *) n;
}

static bool closed_once(const void *unused)
{
        return ev_state.closed == 1;
}

static struct agent_client *connect_ok(struct fake *f)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;

        events_reset();
        assert_int_equal(agent_client_connect(f->path, 5000, &events, &c, &err), 0);
        assert_null(err);
        return c;
}

/* Expect rc -code with a message containing want. */
static void expect_error(int rc, struct uvm_error **errp, int code, const char *want)
{
        struct uvm_error *err = *errp;

        *errp = NULL;
        assert_int_equal(rc, -code);
        assert_non_null(err);
        if (!strstr(err->msg, want)) {
                fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err->msg, want);
                fail();
        }
        uvm_error_free(err);
}

static void test_negotiate(void **state)
{
        struct fake *f = fake_start(200); /* the client must retry until it listens */
        struct agent_client *c = connect_ok(f);
        json_object *req = f->last_req[rpc_index(AGENT_RPC_NEGOTIATE_PROTOCOL)];

        assert_non_null(req);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "MinimumVersion")), 1);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "MaximumVersion")), 1);
        assert_string_equal(json_object_get_string(json_object_object_get(req, "ContainerId")), "");
        /* Connect learned existing containers' streams once. */
        assert_int_equal(f->n_calls[rpc_index(AGENT_RPC_GET_PROPERTIES)], 1);
        agent_client_free(c);
        fake_stop(f);
}

static void test_negotiate_bad(void **state)
{
        const char *bad[] = {"{\"Version\":2}", "{\"Capabilities\":{}}", "{\"Version\":\"1\"}",
                             "{\"Version\":1,\"Capabilities\":[]}"};
        const int codes[] = {EPROTONOSUPPORT, EBADMSG, EBADMSG, EBADMSG};
        const char *msgs[] = {"version 2", "\"Version\" is missing", "not an int",
                              "\"Capabilities\" is not an object"};

        for (size_t i = 0; i < 4; i++) {
                struct fake *f = fake_start(0);
                struct agent_client *c = NULL;
                struct uvm_error *err = NULL;

                f->resp[rpc_index(AGENT_RPC_NEGOTIATE_PROTOCOL)] = bad[i];
                expect_error(agent_client_connect(f->path, 5000, &events, &c, &err), &err, codes[i],
                             msgs[i]);
                assert_null(c);
                fake_stop(f);
        }
}

static void test_connect_timeout(void **state)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        expect_error(agent_client_connect("/nonexistent/agent.sock", 300, &events, &c, &err), &err,
                     ENOENT, "/nonexistent/agent.sock");
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 250);
        assert_null(c);
}

static void create(struct agent_client *c, const char *id, struct uvm_error **err, int want)
{
        char *layers[] = {"/l/0", "/l/1", NULL};
        struct drv_ctr_spec spec = {.id = id,
                                    .layers = layers,
                                    .readonly_rootfs = true,
                                    .oci_spec_json = "{\"ociVersion\":\"1.0.2\"}"};

        assert_int_equal(agent_client_create(c, &spec, err), want);
}

static void test_create_output_exit(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);
        json_object *req, *v;
        int one = 1, two = 2;

        f->resp[rpc_index(AGENT_RPC_CREATE)] = "{\"StdoutStream\":5,\"StderrStream\":6}";
        create(c, "ctr1", NULL, 0);
        req = f->last_req[rpc_index(AGENT_RPC_CREATE)];
        assert_string_equal(json_object_get_string(json_object_object_get(req, "ContainerId")),
                            "ctr1");
        assert_string_equal(json_object_get_string(json_object_object_get(req, "Spec")),
                            "{\"ociVersion\":\"1.0.2\"}");
        v = json_object_object_get(req, "Layers");
        assert_int_equal(json_object_array_length(v), 2);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), "/l/1");
        assert_true(json_object_get_boolean(json_object_object_get(req, "ReadonlyRootfs")));

        assert_int_equal(agent_conn_write_stream(fake_conn(f), 5, "hello", 5, 1000, NULL), 0);
        assert_true(wait_for(out_is, "ctr1/1:hello|"));
        assert_int_equal(agent_conn_write_stream(fake_conn(f), 6, "oops", 4, 1000, NULL), 0);
        assert_true(wait_for(out_is, "ctr1/1:hello|ctr1/2:oops|"));

        /* A bad notification is dropped, a good one reported. */
        v = json_tokener_parse("{\"ContainerId\":\"ctr1\",\"ExitCode\":999,\"FinishedNs\":1}");
        assert_int_equal(agent_conn_notify(fake_conn(f), v, NULL), 0);
        json_object_put(v);
        v = json_tokener_parse("{\"ContainerId\":\"ctr1\",\"ExitCode\":137,"
                               "\"FinishedNs\":1700000000123456789,\"OomKilled\":true}");
        assert_int_equal(agent_conn_notify(fake_conn(f), v, NULL), 0);
        json_object_put(v);
        assert_true(wait_for(exits_are, &one));
        pthread_mutex_lock(&ev_state.lock);
        assert_string_equal(ev_state.last_exit_id, "ctr1");
        assert_int_equal(ev_state.last_code, 137);
        assert_true(ev_state.last_ns == 1700000000123456789LL);
        assert_true(ev_state.last_oom);
        pthread_mutex_unlock(&ev_state.lock);
        v = json_tokener_parse("{\"ContainerId\":\"ctr1\",\"ExitCode\":0,\"FinishedNs\":5}");
        assert_int_equal(agent_conn_notify(fake_conn(f), v, NULL), 0);
        json_object_put(v);
        assert_true(wait_for(exits_are, &two));
        assert_false(ev_state.last_oom);

        /* Deleting forgets the streams: later bytes there belong to nobody. */
        assert_int_equal(agent_client_delete(c, "ctr1", NULL), 0);
        agent_client_free(c);
        fake_stop(f);
}

static void test_create_bad(void **state)
{
        const char *bad[] = {
                "{\"StdoutStream\":5}",
                "{\"StdoutStream\":\"5\",\"StderrStream\":6}",
                "{\"StdoutStream\":-3,\"StderrStream\":6}",
                "{\"StdoutStream\":7,\"StderrStream\":7}",
        };
        const char *msgs[] = {"\"StderrStream\" is missing", "\"StdoutStream\" is not an int",
                              "out of range", "share stream 7"};
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);

        for (size_t i = 0; i < 4; i++) {
                struct uvm_error *err = NULL;

                f->resp[rpc_index(AGENT_RPC_CREATE)] = bad[i];
                create(c, "ctr1", &err, -EBADMSG);
                assert_non_null(strstr(err->msg, "create container ctr1"));
                expect_error(-EBADMSG, &err, EBADMSG, msgs[i]);
        }
        /* The agent's own error comes through with its code and message. */
        {
                struct uvm_error *err = NULL;

                f->resp[rpc_index(AGENT_RPC_CREATE)] = "fail";
                create(c, "ctr1", &err, -ENOENT);
                expect_error(-ENOENT, &err, ENOENT, "no such container");
        }
        agent_client_free(c);
        fake_stop(f);
}

/* Output buffered by the agent while uvmd was away arrives before the
 * GetProperties answer that says whose it is. */
static void test_reconnect_pending_output(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c;

        f->pre_stream = 8;
        f->pre_data = "missed you";
        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] =
                "{\"Containers\":[{\"Id\":\"old\",\"State\":\"running\",\"Pid\":42,"
                "\"StdoutStream\":7,\"StderrStream\":8,\"DroppedBytes\":10}]}";
        c = connect_ok(f);
        assert_true(wait_for(out_is, "old/2:missed you|"));
        agent_client_free(c);
        fake_stop(f);
}

static void test_state_list(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);
        struct agent_ctr_info info = {0}, *list = NULL;
        struct uvm_error *err = NULL;
        size_t n = 0;

        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] =
                "{\"Containers\":[{\"Id\":\"a\",\"State\":\"exited\",\"ExitCode\":3,"
                "\"FinishedNs\":99,\"OomKilled\":false,\"DroppedBytes\":12},"
                "{\"Id\":\"b\",\"State\":\"created\"}]}";
        assert_int_equal(agent_client_list(c, &list, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].id, "a");
        assert_int_equal(list[0].state, DRV_CTR_EXITED);
        assert_int_equal(list[0].exit_code, 3);
        assert_int_equal(list[0].finished_ns, 99);
        assert_int_equal(list[0].dropped_bytes, 12);
        assert_int_equal(list[1].state, DRV_CTR_CREATED);
        for (size_t i = 0; i < n; i++)
                agent_ctr_info_clear(&list[i]);
        free(list);

        assert_int_equal(agent_client_state(c, "b", &info, NULL), 0);
        assert_string_equal(info.id, "b");
        agent_ctr_info_clear(&info);
        expect_error(agent_client_state(c, "zz", &info, &err), &err, ENOENT, "zz");

        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] =
                "{\"Containers\":[{\"Id\":\"a\",\"State\":\"zombie\"}]}";
        err = NULL;
        expect_error(agent_client_state(c, "a", &info, &err), &err, EBADMSG, "unknown State");
        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] =
                "{\"Containers\":[{\"Id\":\"a\",\"State\":\"exited\"}]}";
        err = NULL;
        expect_error(agent_client_state(c, "a", &info, &err), &err, EBADMSG,
                     "\"ExitCode\" is missing");
        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] = "{\"Containers\":{}}";
        err = NULL;
        expect_error(agent_client_list(c, &list, &n, &err), &err, EBADMSG, "not an array");
        f->resp[rpc_index(AGENT_RPC_GET_PROPERTIES)] = "{\"Containers\":[7]}";
        err = NULL;
        expect_error(agent_client_list(c, &list, &n, &err), &err, EBADMSG, "not an object");
        agent_client_free(c);
        fake_stop(f);
}

static void test_exec(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);
        char *argv[] = {"sh", "-c", "echo hello", NULL};
        struct drv_exec_spec spec = {argv, 2000, 0};
        struct drv_exec_result res = {0};
        struct uvm_error *err = NULL;
        json_object *req;

        f->resp[rpc_index(AGENT_RPC_EXECUTE_PROCESS)] =
                "{\"ExitCode\":7,\"TimedOut\":false,\"Stdout\":\"aGVsbG8K\",\"Stderr\":\"\"}";
        assert_int_equal(agent_client_exec_sync(c, "ctr1", &spec, &res, NULL), 0);
        assert_int_equal(res.exit_code, 7);
        assert_false(res.timed_out);
        assert_int_equal(res.out_len, 6);
        assert_memory_equal(res.out, "hello\n", 6);
        assert_null(res.errout);
        assert_int_equal(res.err_len, 0);
        free(res.out);
        req = f->last_req[rpc_index(AGENT_RPC_EXECUTE_PROCESS)];
        assert_int_equal(json_object_array_length(json_object_object_get(req, "Args")), 3);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "TimeoutMs")), 2000);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "MaxOutput")),
                         AGENT_EXEC_MAX_OUTPUT);

        f->resp[rpc_index(AGENT_RPC_EXECUTE_PROCESS)] =
                "{\"ExitCode\":0,\"TimedOut\":true,\"Stdout\":\"YQ==\",\"Stderr\":\"YWI=\"}";
        assert_int_equal(agent_client_exec_sync(c, "ctr1", &spec, &res, NULL), 0);
        assert_true(res.timed_out);
        assert_int_equal(res.out_len, 1);
        assert_memory_equal(res.out, "a", 1);
        assert_int_equal(res.err_len, 2);
        assert_memory_equal(res.errout, "ab", 2);
        free(res.out);
        free(res.errout);

        const char *bad[] = {
                "{\"ExitCode\":0,\"Stdout\":\"aGVsbG8\"}",  /* length not a multiple of 4 */
                "{\"ExitCode\":0,\"Stdout\":\"aGV$bG8K\"}", /* bad character */
                "{\"ExitCode\":0,\"Stdout\":\"YQ==YQ==\"}", /* padding in the middle */
                "{\"ExitCode\":0,\"Stdout\":5}",            /* wrong type */
                "{\"Stdout\":\"\"}",                        /* no exit code */
                "{\"ExitCode\":300}",                       /* out of range */
                "{\"ExitCode\":0,\"TimedOut\":\"no\"}",     /* wrong type */
        };
        const char *msgs[] = {"not valid base64", "not valid base64",        "not valid base64",
                              "not a string",     "\"ExitCode\" is missing", "out of range",
                              "not a boolean"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                err = NULL;
                f->resp[rpc_index(AGENT_RPC_EXECUTE_PROCESS)] = bad[i];
                expect_error(agent_client_exec_sync(c, "ctr1", &spec, &res, &err), &err, EBADMSG,
                             msgs[i]);
        }
        /* More output than asked for is refused. */
        spec.max_output = 3;
        f->resp[rpc_index(AGENT_RPC_EXECUTE_PROCESS)] = "{\"ExitCode\":0,\"Stdout\":\"aGVsbG8K\"}";
        err = NULL;
        expect_error(agent_client_exec_sync(c, "ctr1", &spec, &res, &err), &err, EBADMSG,
                     "more than the 3 bytes");
        /* No command at all never reaches the agent. */
        argv[0] = NULL;
        err = NULL;
        expect_error(agent_client_exec_sync(c, "ctr1", &spec, &res, &err), &err, EINVAL,
                     "no command");
        agent_client_free(c);
        fake_stop(f);
}

static void test_start_signal_stats_update(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);
        struct drv_ctr_stats st = {0};
        struct uvm_error *err = NULL;
        json_object *req;

        f->resp[rpc_index(AGENT_RPC_START)] = "{\"Pid\":1234}";
        assert_int_equal(agent_client_start(c, "ctr1", NULL), 0);
        f->resp[rpc_index(AGENT_RPC_START)] = "{\"Pid\":-1}";
        expect_error(agent_client_start(c, "ctr1", &err), &err, EBADMSG, "out of range");

        assert_int_equal(agent_client_signal(c, "ctr1", 15, true, NULL), 0);
        req = f->last_req[rpc_index(AGENT_RPC_SIGNAL_PROCESS)];
        assert_int_equal(json_object_get_int(json_object_object_get(req, "Signal")), 15);
        assert_true(json_object_get_boolean(json_object_object_get(req, "All")));
        err = NULL;
        expect_error(agent_client_signal(c, "ctr1", 0, false, &err), &err, EINVAL, "signal 0");

        f->resp[rpc_index(AGENT_RPC_MODIFY_SETTINGS)] =
                "{\"CpuUsageNs\":10,\"MemoryUsageBytes\":20,\"MemoryWorkingSetBytes\":30,"
                "\"MemoryRssBytes\":40,\"PageFaults\":50,\"MajorPageFaults\":18446744073709551615}";
        assert_int_equal(agent_client_stats(c, "ctr1", &st, NULL), 0);
        assert_int_equal(st.cpu_usage_ns, 10);
        assert_int_equal(st.memory_rss_bytes, 40);
        assert_true(st.major_page_faults == UINT64_MAX);
        assert_true(st.timestamp_ns > 0);
        f->resp[rpc_index(AGENT_RPC_MODIFY_SETTINGS)] = "{\"CpuUsageNs\":-1}";
        err = NULL;
        expect_error(agent_client_stats(c, "ctr1", &st, &err), &err, EBADMSG, "negative");

        assert_int_equal(agent_client_update(c, "ctr1", "{\"cpu\":{\"shares\":512}}", NULL), 0);
        req = f->last_req[rpc_index(AGENT_RPC_UPDATE_CONTAINER)];
        assert_int_equal(
                json_object_get_int(json_object_object_get(
                        json_object_object_get(json_object_object_get(req, "Resources"), "cpu"),
                        "shares")),
                512);
        err = NULL;
        expect_error(agent_client_update(c, "ctr1", "[1]", &err), &err, EINVAL,
                     "not a JSON object");
        assert_int_equal(agent_client_shutdown(c, NULL), 0);
        assert_int_equal(f->n_calls[rpc_index(AGENT_RPC_SHUTDOWN_FORCED)], 1);
        agent_client_free(c);
        fake_stop(f);
}

static void test_closed(void **state)
{
        struct fake *f = fake_start(0);
        struct agent_client *c = connect_ok(f);
        struct uvm_error *err = NULL;

        agent_conn_close(fake_conn(f));
        assert_true(wait_for(closed_once, NULL));
        expect_error(agent_client_start(c, "ctr1", &err), &err, ECONNRESET, "closed");
        agent_client_free(c);
        pthread_mutex_lock(&ev_state.lock);
        assert_int_equal(ev_state.closed, 1);
        pthread_mutex_unlock(&ev_state.lock);
        fake_stop(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_negotiate),
                cmocka_unit_test(test_negotiate_bad),
                cmocka_unit_test(test_connect_timeout),
                cmocka_unit_test(test_create_output_exit),
                cmocka_unit_test(test_create_bad),
                cmocka_unit_test(test_reconnect_pending_output),
                cmocka_unit_test(test_state_list),
                cmocka_unit_test(test_exec),
                cmocka_unit_test(test_start_signal_stats_update),
                cmocka_unit_test(test_closed),
        };

        pthread_mutex_init(&ev_state.lock, NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
