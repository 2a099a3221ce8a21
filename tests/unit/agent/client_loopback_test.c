/* The host-side client (agent/client.h) against the scripted agent of
 * fake_agent.h over a loopback TCP pair: the same code on Linux and under
 * Wine. Negotiation, a request and its response (an error code crossing the
 * wire as a Linux errno), a malformed response, container output and an
 * exit notification, a call timing out, the peer going away mid-call (the
 * call fails at once, with a reason), and a close from another thread
 * waking a reader blocked on the socket. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/client.h"
#include "agent/conn.h"
#include "agent/user_db.h"
#include "common/platform.h"
#include "common/sock.h"
#include "tests/unit/agent/fake_agent.h"

#define PROMPT_MS 3000 /* what "at once" may take on a loaded machine */

/* What the client reported, under lock. */
static struct {
        pthread_mutex_t lock;
        char out[256];
        int exits, exit_code, closed;
        char exit_id[64], closed_reason[256];
} ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_exited(void *data, const char *id, int code, int64_t ns, bool oom)
{
        pthread_mutex_lock(&ev.lock);
        ev.exits++;
        ev.exit_code = code;
        snprintf(ev.exit_id, sizeof(ev.exit_id), "%s", id);
        pthread_mutex_unlock(&ev.lock);
}

static void on_output(void *data, const char *id, enum drv_stream s, const char *buf, size_t n)
{
        size_t len;

        pthread_mutex_lock(&ev.lock);
        len = strlen(ev.out);
        snprintf(ev.out + len, sizeof(ev.out) - len, "%s/%d:%.*s|", id, (int) s, (int) n, buf);
        pthread_mutex_unlock(&ev.lock);
}

static void on_closed(void *data, const char *reason)
{
        pthread_mutex_lock(&ev.lock);
        ev.closed++;
        snprintf(ev.closed_reason, sizeof(ev.closed_reason), "%s", reason);
        pthread_mutex_unlock(&ev.lock);
}

static const struct agent_client_events events = {NULL, on_exited, on_output, on_closed};

static uint64_t ms_since(uint64_t t0)
{
        return (plat_now_ns() - t0) / 1000000u;
}

/* Poll (up to 5 s) until check() holds under ev.lock. */
static bool wait_for(bool (*check)(const void *), const void *arg)
{
        for (int i = 0; i < 5000; i++) {
                bool ok;

                pthread_mutex_lock(&ev.lock);
                ok = check(arg);
                pthread_mutex_unlock(&ev.lock);
                if (ok)
                        return true;
                usleep(1000);
        }
        return false;
}

static bool out_is(const void *want)
{
        return strcmp(ev.out, want) == 0;
}

static bool exited(const void *unused)
{
        return ev.exits == 1;
}

static bool closed(const void *unused)
{
        return ev.closed == 1;
}

static void expect_error(int rc, struct uvm_error **errp, int code, const char *want)
{
        struct uvm_error *err = *errp;

        *errp = NULL;
        assert_int_equal(rc, -code);
        assert_non_null(err);
        if (!strstr(err->msg, want))
                fail_msg("error \"%s\" lacks \"%s\"", err->msg, want);
        uvm_error_free(err);
}

/* A client connected to a fresh fake agent. */
static struct agent_client *connect_pair(struct fake_agent **ret_fake)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;
        int fds[2];

        pthread_mutex_lock(&ev.lock);
        memset(ev.out, 0, sizeof(ev.out));
        ev.exits = ev.closed = 0;
        pthread_mutex_unlock(&ev.lock);
        assert_int_equal(sock_loopback_pair(fds), 0);
        *ret_fake = fake_agent_start(fds[1]);
        if (agent_client_connect_fd(fds[0], "loopback", 5000, &events, &c, &err) < 0)
                fail_msg("connect: %s", err->msg);
        return c;
}

static void negotiate_and_calls(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_client *c = connect_pair(&f);
        struct uvm_error *err = NULL;
        json_object *req = fake_agent_last(f, AGENT_RPC_NEGOTIATE_PROTOCOL);

        assert_non_null(req);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "MinimumVersion")), 1);
        assert_int_equal(json_object_get_int(json_object_object_get(req, "MaximumVersion")), 1);
        /* The offer of larger frames, which this (older) agent leaves unanswered. */
        assert_int_equal(json_object_get_int64(json_object_object_get(
                                 json_object_object_get(req, "BridgeLimits"), "MaxData")),
                         AGENT_BULK_MAX_DATA);
        json_object_put(req);
        assert_int_equal(agent_conn_limits(fake_agent_conn(f)).max_data, AGENT_MAX_DATA);
        assert_true(agent_client_streaming(c));
        assert_int_equal(fake_agent_calls(f, AGENT_RPC_GET_PROPERTIES), 1);

        fake_agent_set(f, AGENT_RPC_START, "{\"Pid\":42}");
        assert_int_equal(agent_client_start(c, "ctr1", &err), 0);
        req = fake_agent_last(f, AGENT_RPC_START);
        assert_string_equal(json_object_get_string(json_object_object_get(req, "ContainerId")),
                            "ctr1");
        json_object_put(req);

        /* The agent's -ETIMEDOUT is a Linux number on the wire. */
        fake_agent_set(f, AGENT_RPC_START, FAKE_FAIL);
        expect_error(agent_client_start(c, "ctr1", &err), &err, ETIMEDOUT, "handler gave up");
        fake_agent_set(f, AGENT_RPC_START, "{\"Pid\":\"x\"}");
        expect_error(agent_client_start(c, "ctr1", &err), &err, EBADMSG, "Pid");
        agent_client_free(c);
        fake_agent_stop(f);
}

static void output_and_exit_notification(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_client *c = connect_pair(&f);
        struct drv_ctr_spec spec = {.id = "ctr1", .oci_spec_json = "{}"};
        struct uvm_error *err = NULL;
        json_object *exit;

        fake_agent_set(f, AGENT_RPC_CREATE, "{\"StdoutStream\":5,\"StderrStream\":6}");
        assert_int_equal(agent_client_create(c, &spec, &err), 0);
        assert_int_equal(agent_conn_write_stream(fake_agent_conn(f), 5, "hello", 5, 1000, NULL), 0);
        assert_int_equal(agent_conn_write_stream(fake_agent_conn(f), 6, "oops", 4, 1000, NULL), 0);
        assert_true(wait_for(out_is, "ctr1/1:hello|ctr1/2:oops|"));

        exit = json_tokener_parse("{\"ContainerId\":\"ctr1\",\"ExitCode\":3,"
                                  "\"FinishedNs\":123,\"OomKilled\":false}");
        assert_int_equal(agent_conn_notify(fake_agent_conn(f), exit, NULL), 0);
        json_object_put(exit);
        assert_true(wait_for(exited, NULL));
        assert_string_equal(ev.exit_id, "ctr1");
        assert_int_equal(ev.exit_code, 3);
        agent_client_free(c);
        fake_agent_stop(f);
}

/* A user left to the agent (hcs pods): sent with the create, the ids
 * answered read back; an agent that ignores it (older) fails the create
 * and its container is deleted. */
static void create_with_user(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_client *c = connect_pair(&f);
        const unsigned groups[] = {7};
        struct user_db_req q = {
                .username = "app", .supplemental = groups, .n_supplemental = 1, .image = "busybox"};
        struct user_db_ids ids = {0};
        struct drv_ctr_spec spec = {
                .id = "ctr1", .oci_spec_json = "{}", .user = &q, .user_out = &ids};
        struct uvm_error *err = NULL;
        json_object *req, *u;

        fake_agent_set(f, AGENT_RPC_CREATE,
                       "{\"StdoutStream\":5,\"StderrStream\":6,"
                       "\"User\":{\"Uid\":1000,\"Gid\":100,\"Groups\":[100,7]}}");
        assert_int_equal(agent_client_create(c, &spec, &err), 0);
        assert_int_equal(ids.uid, 1000);
        assert_int_equal(ids.gid, 100);
        assert_int_equal(ids.n_groups, 2);
        assert_int_equal(ids.groups[1], 7);
        req = fake_agent_last(f, AGENT_RPC_CREATE);
        u = json_object_object_get(req, "User");
        assert_string_equal(json_object_get_string(json_object_object_get(u, "Username")), "app");
        assert_string_equal(json_object_get_string(json_object_object_get(u, "Image")), "busybox");
        assert_int_equal(json_object_array_length(json_object_object_get(u, "Groups")), 1);
        json_object_put(req);

        spec.id = "ctr2";
        fake_agent_set(f, AGENT_RPC_CREATE, "{\"StdoutStream\":7,\"StderrStream\":8}");
        fake_agent_set(f, AGENT_RPC_DELETE_CONTAINER_STATE, "{}");
        expect_error(agent_client_create(c, &spec, &err), &err, EPROTO,
                     "did not resolve the container's user");
        assert_int_equal(fake_agent_calls(f, AGENT_RPC_DELETE_CONTAINER_STATE), 1);
        spec.id = "ctr3";
        fake_agent_set(f, AGENT_RPC_CREATE,
                       "{\"StdoutStream\":9,\"StderrStream\":10,\"User\":{\"Uid\":-1}}");
        expect_error(agent_client_create(c, &spec, &err), &err, EBADMSG, "User.Uid");
        /* Without a user to resolve nothing is sent. */
        spec = (struct drv_ctr_spec){.id = "ctr4", .oci_spec_json = "{}"};
        fake_agent_set(f, AGENT_RPC_CREATE, "{\"StdoutStream\":11,\"StderrStream\":12}");
        assert_int_equal(agent_client_create(c, &spec, &err), 0);
        req = fake_agent_last(f, AGENT_RPC_CREATE);
        assert_null(json_object_object_get(req, "User"));
        json_object_put(req);
        agent_client_free(c);
        fake_agent_stop(f);
}

static json_object *request(void)
{
        return json_tokener_parse("{\"ContainerId\":\"ctr1\",\"ActivityId\":\"t\"}");
}

/* A bare host connection to a fake agent (the client's calls wait 30 s). */
static struct agent_conn *host_pair(struct fake_agent **ret_fake)
{
        struct agent_conn *host = NULL;
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        *ret_fake = fake_agent_start(fds[1]);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &host, NULL), 0);
        return host;
}

static void call_times_out(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_conn *host = host_pair(&f);
        struct uvm_error *err = NULL;
        json_object *req = request(), *resp = NULL;
        uint64_t t0, waited;

        fake_agent_set(f, AGENT_RPC_START, FAKE_HANG);
        t0 = plat_now_ns();
        expect_error(agent_conn_call(host, AGENT_RPC_START, req, 300, &resp, &err), &err, ETIMEDOUT,
                     "timed out after 300 ms");
        waited = ms_since(t0);
        assert_true(waited >= 290 && waited < PROMPT_MS);
        /* The connection outlives a timed-out call; the late answer is dropped. */
        fake_agent_release(f);
        fake_agent_set(f, AGENT_RPC_START, "{\"Pid\":7}");
        assert_int_equal(agent_conn_call(host, AGENT_RPC_START, req, 5000, &resp, NULL), 0);
        assert_int_equal(json_object_get_int(json_object_object_get(resp, "Pid")), 7);
        json_object_put(resp);
        json_object_put(req);
        agent_conn_free(host);
        fake_agent_stop(f);
}

static void peer_closes_mid_call(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_client *c = connect_pair(&f);
        struct uvm_error *err = NULL;
        uint64_t t0 = plat_now_ns();

        fake_agent_set(f, AGENT_RPC_START, FAKE_CLOSE);
        expect_error(agent_client_start(c, "ctr1", &err), &err, ECONNRESET,
                     "peer closed the connection");
        assert_true(ms_since(t0) < PROMPT_MS);
        assert_true(wait_for(closed, NULL));
        assert_non_null(strstr(ev.closed_reason, "peer closed"));
        /* Later calls fail at once, saying why. */
        t0 = plat_now_ns();
        expect_error(agent_client_start(c, "ctr1", &err), &err, ECONNRESET,
                     "agent connection is closed");
        assert_true(ms_since(t0) < PROMPT_MS);
        agent_client_free(c);
        fake_agent_stop(f);
}

struct waiting_call {
        struct agent_conn *host;
        int rc;
        char msg[256];
};

static void *call_forever(void *arg)
{
        struct waiting_call *w = arg;
        struct uvm_error *err = NULL;
        json_object *req = request(), *resp = NULL;

        w->rc = agent_conn_call(w->host, AGENT_RPC_START, req, -1, &resp, &err);
        snprintf(w->msg, sizeof(w->msg), "%s", err ? err->msg : "");
        uvm_error_free(err);
        json_object_put(resp);
        json_object_put(req);
        return NULL;
}

/* The raw peer's socket closes with a call waiting and nothing else
 * happening: the reader sees EOF, the call fails. */
static void raw_peer_vanishes(void **state)
{
        struct waiting_call w = {.rc = 1};
        char buf[4096];
        pthread_t t;
        uint64_t t0;
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &w.host, NULL), 0);
        assert_int_equal(pthread_create(&t, NULL, call_forever, &w), 0);
        /* Take the request (the blocking peer waits for it): closing with
         * unread bytes would be a reset rather than EOF. */
        assert_true(sock_read(fds[1], buf, sizeof(buf)) > 0);
        usleep(100 * 1000);
        t0 = plat_now_ns();
        sock_close(fds[1]);
        pthread_join(t, NULL);
        assert_true(ms_since(t0) < PROMPT_MS);
        assert_int_equal(w.rc, -ECONNRESET);
        if (!strstr(w.msg, "agent connection is closed: peer closed the connection"))
                fail_msg("unexpected reason \"%s\"", w.msg);
        agent_conn_free(w.host);
}

struct freeing {
        struct agent_conn *host;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done; /* lock */
};

static void *free_conn(void *arg)
{
        struct freeing *fr = arg;

        agent_conn_free(fr->host);
        pthread_mutex_lock(&fr->lock);
        fr->done = true;
        pthread_cond_signal(&fr->cond);
        pthread_mutex_unlock(&fr->lock);
        return NULL;
}

/* agent_conn_free(host) returns within PROMPT_MS: its reader was woken. A
 * reader left blocked fails the test instead of hanging it (the stuck
 * thread is left behind). */
static void free_promptly(struct agent_conn *host)
{
        struct freeing fr = {.host = host};
        uint64_t deadline = plat_now_ns() + PROMPT_MS * 1000000ull;
        pthread_t t;
        bool done;

        pthread_mutex_init(&fr.lock, NULL);
        pthread_cond_init(&fr.cond, NULL);
        assert_int_equal(pthread_create(&t, NULL, free_conn, &fr), 0);
        pthread_mutex_lock(&fr.lock);
        while (!fr.done && plat_now_ns() < deadline) {
                pthread_mutex_unlock(&fr.lock);
                usleep(1000);
                pthread_mutex_lock(&fr.lock);
        }
        done = fr.done;
        pthread_mutex_unlock(&fr.lock);
        if (!done)
                fail_msg("agent_conn_free blocked: the reader was not woken");
        pthread_join(t, NULL);
        pthread_cond_destroy(&fr.cond);
        pthread_mutex_destroy(&fr.lock);
}

/* agent_conn_close() from another thread while a call waits and the peer
 * stays open and silent (so its EOF cannot wake us): the call fails and
 * the reader, blocked on the socket, is woken by the close itself. A local
 * shutdown alone does not wake a WSAPoll (Wine). */
static void close_wakes_blocked_reader(void **state)
{
        struct waiting_call w = {.rc = 1};
        char buf[4096];
        pthread_t t;
        uint64_t t0;
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        assert_int_equal(agent_conn_new(fds[0], NULL, NULL, &w.host, NULL), 0);
        assert_int_equal(pthread_create(&t, NULL, call_forever, &w), 0);
        assert_true(sock_read(fds[1], buf, sizeof(buf)) > 0); /* the request is out */
        usleep(100 * 1000);
        t0 = plat_now_ns();
        agent_conn_close(w.host);
        pthread_join(t, NULL);
        assert_true(ms_since(t0) < PROMPT_MS);
        assert_int_equal(w.rc, -ECONNRESET);
        assert_non_null(strstr(w.msg, "closed locally"));
        free_promptly(w.host);
        sock_close(fds[1]);
}

/* Freeing an idle client returns at once. */
static void free_idle_client_is_prompt(void **state)
{
        struct fake_agent *f = NULL;
        struct agent_client *c = connect_pair(&f);
        uint64_t t0;

        usleep(100 * 1000); /* the reader is waiting on the socket */
        t0 = plat_now_ns();
        agent_client_free(c);
        assert_true(ms_since(t0) < PROMPT_MS);
        fake_agent_stop(f);
}

static void connect_fd_refuses_bad_arguments(void **state)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        sock_close(fds[1]);
        /* fd is closed on failure too: the fake peer sees nothing. */
        expect_error(agent_client_connect_fd(fds[0], "", 1000, &events, &c, &err), &err, EINVAL,
                     "bad arguments");
        expect_error(agent_client_connect_fd(-1, "x", 1000, &events, &c, &err), &err, EINVAL,
                     "bad arguments");
        assert_null(c);
}

/* The peer hangs up before answering Negotiate: a clear error, no wait. */
static void connect_fd_peer_gone(void **state)
{
        struct agent_client *c = NULL;
        struct uvm_error *err = NULL;
        uint64_t t0 = plat_now_ns();
        int fds[2];

        assert_int_equal(sock_loopback_pair(fds), 0);
        sock_close(fds[1]);
        expect_error(agent_client_connect_fd(fds[0], "loopback", 5000, &events, &c, &err), &err,
                     ECONNRESET, "agent at loopback");
        assert_true(ms_since(t0) < PROMPT_MS);
        assert_null(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(negotiate_and_calls),
                cmocka_unit_test(output_and_exit_notification),
                cmocka_unit_test(create_with_user),
                cmocka_unit_test(call_times_out),
                cmocka_unit_test(peer_closes_mid_call),
                cmocka_unit_test(raw_peer_vanishes),
                cmocka_unit_test(close_wakes_blocked_reader),
                cmocka_unit_test(free_idle_client_is_prompt),
                cmocka_unit_test(connect_fd_refuses_bad_arguments),
                cmocka_unit_test(connect_fd_peer_gone),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
