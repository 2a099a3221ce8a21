/* The uvmd-agent binary end to end with runc: a host connection made with
 * agent_conn directly; containers built from a busybox rootfs; output, exits,
 * exec (output and timeout), signals, delete (no mounts left), reconnect
 * with buffered output, a user resolved in the rootfs, and ShutdownForced. Needs root and runc:
 * skipped otherwise. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "agent/conn.h"
#include "common/fs.h"

#define MAX_STREAMS 32
#define WAIT_MS 15000

extern char **environ;

struct out_buf {
        uint64_t id;
        char *data;
        size_t len;
        bool closed;
};

static struct {
        char dir[32], sock[64], state[64], rootfs[64];
        pid_t agent;
        struct agent_conn *conn;
        bool skip;

        pthread_mutex_t mu; /* guards the fields below */
        pthread_cond_t cond;
        struct out_buf out[MAX_STREAMS];
        size_t n_out;
        char exit_ids[16][64];
        int exit_codes[16];
        size_t n_exits;
} t = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void wait_tick(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t.cond, &t.mu, &ts);
}

/* Host callbacks. */

static struct out_buf *out_get(uint64_t id)
{
        for (size_t i = 0; i < t.n_out; i++)
                if (t.out[i].id == id)
                        return &t.out[i];
        if (t.n_out == MAX_STREAMS)
                return NULL;
        t.out[t.n_out].id = id;
        return &t.out[t.n_out++];
}

static void on_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                    void *userdata)
{
        struct out_buf *b;

        pthread_mutex_lock(&t.mu);
        b = out_get(stream);
        if (b && data) {
                b->data = realloc(b->data, b->len + len + 1);
                memcpy(b->data + b->len, data, len);
                b->len += len;
                b->data[b->len] = '\0';
        } else if (b) {
                b->closed = true;
        }
        pthread_cond_broadcast(&t.cond);
        pthread_mutex_unlock(&t.mu);
        if (data)
                agent_conn_stream_consumed(conn, stream, len, NULL);
}

static void on_notify(struct agent_conn *conn, uint32_t type, json_object *payload, void *userdata)
{
        pthread_mutex_lock(&t.mu);
        if (t.n_exits < 16) {
                snprintf(t.exit_ids[t.n_exits], 64, "%s",
                         json_object_get_string(json_object_object_get(payload, "ContainerId")));
                t.exit_codes[t.n_exits++] =
                        json_object_get_int(json_object_object_get(payload, "ExitCode"));
        }
        pthread_cond_broadcast(&t.cond);
        pthread_mutex_unlock(&t.mu);
}

static const struct agent_conn_ops host_ops = {.notify = on_notify, .data = on_data};

/* Waits. */

/* Until stream id holds want (as a substring); false after WAIT_MS. */
static bool wait_output(uint64_t id, const char *want)
{
        long end = now_ms() + WAIT_MS;
        bool ok = false;

        pthread_mutex_lock(&t.mu);
        while (!ok && now_ms() < end) {
                struct out_buf *b = out_get(id);

                ok = b && b->data && strstr(b->data, want);
                if (!ok)
                        wait_tick();
        }
        pthread_mutex_unlock(&t.mu);
        return ok;
}

/* Until the agent closed stream id; false after WAIT_MS. */
static bool wait_closed(uint64_t id)
{
        long end = now_ms() + WAIT_MS;
        bool ok = false;

        pthread_mutex_lock(&t.mu);
        while (!ok && now_ms() < end) {
                struct out_buf *b = out_get(id);

                ok = b && b->closed;
                if (!ok)
                        wait_tick();
        }
        pthread_mutex_unlock(&t.mu);
        return ok;
}

/* The exit code notified for id, or -1 after WAIT_MS. */
static int wait_exit(const char *id)
{
        long end = now_ms() + WAIT_MS;
        int code = -1;

        pthread_mutex_lock(&t.mu);
        while (code < 0 && now_ms() < end) {
                for (size_t i = 0; i < t.n_exits; i++)
                        if (strcmp(t.exit_ids[i], id) == 0)
                                code = t.exit_codes[i];
                if (code < 0)
                        wait_tick();
        }
        pthread_mutex_unlock(&t.mu);
        return code;
}

/* Calls. */

static json_object *req_new(const char *id)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(id));
        json_object_object_add(o, "ActivityId", json_object_new_string("test"));
        return o;
}

/* Call rpc; returns the response (caller puts it) or NULL, printing the error. */
static json_object *call(uint32_t rpc, json_object *req)
{
        struct uvm_error *err = NULL;
        json_object *resp = NULL;

        if (agent_conn_call(t.conn, rpc, req, 30000, &resp, &err) < 0) {
                print_message("%s failed: %s\n", agent_rpc_name(rpc), err->msg);
                uvm_error_free(err);
                resp = NULL;
        }
        json_object_put(req);
        return resp;
}

/* Call rpc expecting failure; returns the negative errno and the message. */
static int call_err(uint32_t rpc, json_object *req, char *msg, size_t msg_len)
{
        struct uvm_error *err = NULL;
        json_object *resp = NULL;
        int r = agent_conn_call(t.conn, rpc, req, 30000, &resp, &err);

        if (r < 0)
                snprintf(msg, msg_len, "%s", err->msg);
        uvm_error_free(err);
        json_object_put(resp);
        json_object_put(req);
        return r;
}

static void call_ok(uint32_t rpc, json_object *req)
{
        json_object *resp = call(rpc, req);

        assert_non_null(resp);
        json_object_put(resp);
}

static void host_connect(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        json_object *req = req_new("");
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.sock);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(agent_conn_new(fd, &host_ops, NULL, &t.conn, NULL), 0);
        json_object_object_add(req, "MinimumVersion", json_object_new_int(1));
        json_object_object_add(req, "MaximumVersion", json_object_new_int(1));
        call_ok(AGENT_RPC_NEGOTIATE_PROTOCOL, req);
}

static const char *spec_fmt =
        "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,"
        "\"gid\":0},\"args\":[\"sh\",\"-c\",\"%s\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
        "\"root\":{\"path\":\"rootfs\",\"readonly\":false},\"hostname\":\"t\","
        "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":"
        "[\"nosuid\",\"mode=755\",\"size=1024k\"]}],"
        "\"linux\":{\"cgroupsPath\":\"/uvmd-test/%s\",\"namespaces\":[{\"type\":\"pid\"},"
        "{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}],"
        /* as the kubelet asks of every container, hugetlb mounted or not */
        "\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}]}}}";

static json_object *create_req(const char *id, const char *script, bool readonly)
{
        json_object *req = req_new(id), *layers = json_object_new_array();
        char spec[2048];

        snprintf(spec, sizeof(spec), spec_fmt, script, id);
        json_object_array_add(layers, json_object_new_string(t.rootfs));
        json_object_object_add(req, "Spec", json_object_new_string(spec));
        json_object_object_add(req, "Layers", layers);
        json_object_object_add(req, "ReadonlyRootfs", json_object_new_boolean(readonly));
        return req;
}

/* Create (and start) a container running sh -c script; returns its streams. */
static void ctr_run_ro(const char *id, const char *script, bool readonly, uint64_t *ret_out,
                       uint64_t *ret_err)
{
        json_object *resp = call(AGENT_RPC_CREATE, create_req(id, script, readonly));

        assert_non_null(resp);
        *ret_out = json_object_get_uint64(json_object_object_get(resp, "StdoutStream"));
        *ret_err = json_object_get_uint64(json_object_object_get(resp, "StderrStream"));
        assert_true(*ret_out > 0 && *ret_err > 0 && *ret_out != *ret_err);
        json_object_put(resp);
        call_ok(AGENT_RPC_START, req_new(id));
}

static void ctr_run(const char *id, const char *script, uint64_t *ret_out, uint64_t *ret_err)
{
        ctr_run_ro(id, script, false, ret_out, ret_err);
}

/* The GetProperties entry of id (caller puts the returned response). */
static json_object *props(const char *id, json_object **ret_entry)
{
        json_object *resp = call(AGENT_RPC_GET_PROPERTIES, req_new(id));

        assert_non_null(resp);
        *ret_entry = json_object_array_get_idx(json_object_object_get(resp, "Containers"), 0);
        assert_non_null(*ret_entry);
        return resp;
}

static bool mounted_under(const char *dir)
{
        char line[4096];
        bool found = false;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, dir))
                        found = true;
        if (f)
                fclose(f);
        return found;
}

/* Fixture: a busybox rootfs and a running agent. */

static const char *find_runc(void)
{
        static const char *const paths[] = {"/usr/sbin/runc", "/usr/bin/runc",
                                            "/usr/local/sbin/runc", "/usr/local/bin/runc"};

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

static void make_rootfs(void)
{
        const char *links[] = {"sh", "echo", "sleep", "cat", "head"};
        const char *dirs[] = {"", "/bin", "/proc", "/dev", "/sys", "/tmp"};
        char p[256], cmd[512];

        for (size_t i = 0; i < 6; i++) {
                snprintf(p, sizeof(p), "%s%s", t.rootfs, dirs[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        snprintf(cmd, sizeof(cmd), "cp /bin/busybox %s/bin/busybox", t.rootfs);
        assert_int_equal(system(cmd), 0);
        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
                snprintf(p, sizeof(p), "%s/bin/%s", t.rootfs, links[i]);
                assert_int_equal(symlink("busybox", p), 0);
        }
}

static void spawn_agent(const char *runc)
{
        const char *bin = getenv("AGENT_BIN");
        char log[128], pidfile[128];
        char *argv[] = {(char *) bin, "--socket",    t.sock,      "--state-dir", t.state,
                        "--runtime",  (char *) runc, "--new-ipc", "--new-uts",   "--hostname",
                        "agent-test", "--log-level", "debug",     NULL};
        posix_spawn_file_actions_t fa;

        snprintf(log, sizeof(log), "%s/agent.log", t.dir);
        snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", t.state);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(posix_spawn(&t.agent, bin, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 500 && access(pidfile, F_OK) < 0; i++)
                usleep(10000);
        assert_int_equal(access(pidfile, F_OK), 0);
}

static int setup(void **state)
{
        const char *runc = find_runc();

        if (getuid() != 0 || !runc || !getenv("AGENT_BIN") || access("/bin/busybox", X_OK) < 0) {
                t.skip = true;
                return 0;
        }
        snprintf(t.dir, sizeof(t.dir), "/tmp/agent-test-XXXXXX");
        assert_non_null(mkdtemp(t.dir));
        snprintf(t.sock, sizeof(t.sock), "%s/agent.sock", t.dir);
        snprintf(t.state, sizeof(t.state), "%s/state", t.dir);
        snprintf(t.rootfs, sizeof(t.rootfs), "%s/rootfs", t.dir);
        assert_int_equal(mkdir(t.state, 0700), 0);
        make_rootfs();
        spawn_agent(runc);
        host_connect();
        return 0;
}

static void dump_log(void)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "tail -n 40 %s/agent.log >&2", t.dir);
        if (system(cmd) != 0)
                fprintf(stderr, "no agent log\n");
}

static void unmount_leftovers(void)
{
        char line[4096], mnt[1024];

        for (int pass = 0; pass < 8 && mounted_under(t.dir); pass++) {
                FILE *f = fopen("/proc/self/mountinfo", "re");

                while (f && fgets(line, sizeof(line), f))
                        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
                            strncmp(mnt, t.dir, strlen(t.dir)) == 0)
                                umount2(mnt, MNT_DETACH);
                if (f)
                        fclose(f);
        }
}

static int teardown(void **state)
{
        DIR *d;
        struct dirent *e;

        if (t.skip)
                return 0;
        if (t.agent > 0) {
                /* A failed test may leave containers: SIGTERM deletes them. */
                kill(t.agent, SIGTERM);
                for (int i = 0; i < 1000 && waitpid(t.agent, NULL, WNOHANG) == 0; i++)
                        usleep(10000);
                dump_log();
                if (kill(t.agent, SIGKILL) == 0)
                        waitpid(t.agent, NULL, 0);
        }
        unmount_leftovers();
        agent_conn_free(t.conn);
        d = opendir("/sys/fs/cgroup");
        while (d && (e = readdir(d))) {
                char p[300];

                snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/uvmd-test", e->d_name);
                rmdir(p);
        }
        if (d)
                closedir(d);
        fs_rm_rf(t.dir);
        return 0;
}

/* Tests, in order, sharing the agent. */

static void test_output_and_exit(void **state)
{
        uint64_t out, err;
        json_object *resp, *c;

        if (t.skip)
                skip();
        ctr_run("c1", "echo hello; echo err >&2; sleep 1; exit 3", &out, &err);
        assert_true(wait_output(out, "hello\n"));
        assert_true(wait_output(err, "err\n"));
        assert_int_equal(wait_exit("c1"), 3);
        resp = call(AGENT_RPC_GET_PROPERTIES, req_new("c1"));
        assert_non_null(resp);
        c = json_object_array_get_idx(json_object_object_get(resp, "Containers"), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(c, "State")), "exited");
        assert_int_equal(json_object_get_int(json_object_object_get(c, "ExitCode")), 3);
        assert_true(json_object_get_int64(json_object_object_get(c, "FinishedNs")) > 0);
        assert_false(json_object_get_boolean(json_object_object_get(c, "OomKilled")));
        json_object_put(resp);
}

static json_object *exec(const char *id, const char *const *args, int timeout_ms)
{
        json_object *req = req_new(id), *a = json_object_new_array();

        for (; *args; args++)
                json_object_array_add(a, json_object_new_string(*args));
        json_object_object_add(req, "Args", a);
        json_object_object_add(req, "TimeoutMs", json_object_new_int(timeout_ms));
        json_object_object_add(req, "MaxOutput", json_object_new_int(1024));
        return call(AGENT_RPC_EXECUTE_PROCESS, req);
}

static void print_rss(void)
{
        char path[64], line[256];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) t.agent);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0)
                        print_message("agent with 2 containers: %s", line);
        if (f)
                fclose(f);
}

static void test_exec_and_signal(void **state)
{
        uint64_t out, err;
        json_object *resp, *stats, *sig;

        if (t.skip)
                skip();
        ctr_run("c2", "trap 'exit 143' TERM; sleep 30 & wait", &out, &err);
        resp = exec("c2", (const char *const[]){"echo", "hi", NULL}, 10000);
        assert_non_null(resp);
        assert_int_equal(json_object_get_int(json_object_object_get(resp, "ExitCode")), 0);
        assert_false(json_object_get_boolean(json_object_object_get(resp, "TimedOut")));
        assert_string_equal(json_object_get_string(json_object_object_get(resp, "Stdout")),
                            "aGkK"); /* "hi\n" */
        json_object_put(resp);

        long start = now_ms();
        resp = exec("c2", (const char *const[]){"sleep", "10", NULL}, 500);
        assert_non_null(resp);
        assert_true(json_object_get_boolean(json_object_object_get(resp, "TimedOut")));
        assert_true(now_ms() - start < 5000);
        json_object_put(resp);

        stats = req_new("c2");
        json_object_object_add(stats, "Stats", json_object_new_boolean(true));
        resp = call(AGENT_RPC_MODIFY_SETTINGS, stats);
        assert_non_null(resp);
        assert_true(json_object_get_int64(json_object_object_get(resp, "MemoryUsageBytes")) > 0);
        json_object_put(resp);
        print_rss();

        sig = req_new("c2");
        json_object_object_add(sig, "Signal", json_object_new_int(SIGTERM));
        json_object_object_add(sig, "All", json_object_new_boolean(false));
        call_ok(AGENT_RPC_SIGNAL_PROCESS, sig);
        assert_int_equal(wait_exit("c2"), 143);
}

static void test_delete(void **state)
{
        char dir[160], msg[256];

        if (t.skip)
                skip();
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c1"));
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c2"));
        assert_false(mounted_under(t.state));
        snprintf(dir, sizeof(dir), "%s/ctr/c1", t.state);
        assert_int_equal(access(dir, F_OK), -1);
        snprintf(dir, sizeof(dir), "%s/ctr/c2", t.state);
        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(
                call_err(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c1"), msg, sizeof(msg)),
                -ENOENT); /* gone */
}

static void test_reconnect_keeps_output(void **state)
{
        char want[512] = "", *got;
        uint64_t out, err;
        struct out_buf *b;

        if (t.skip)
                skip();
        for (int i = 0; i < 30; i++)
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "line%d\n", i);
        ctr_run("c3", "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); sleep 0.1; done", &out,
                &err);
        assert_true(wait_output(out, "line3\n"));
        /* Leave right after a line, so the credit for it is not in flight. */
        usleep(20000);
        t.conn = agent_conn_free(t.conn);
        usleep(500000);
        host_connect();
        assert_int_equal(wait_exit("c3"), 0);
        assert_true(wait_output(out, "line29\n"));
        assert_true(wait_closed(out));
        pthread_mutex_lock(&t.mu);
        b = out_get(out);
        got = strdup(b->data ? b->data : "");
        pthread_mutex_unlock(&t.mu);
        assert_string_equal(got, want);
        free(got);
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c3"));
}

static void test_bad_requests(void **state)
{
        json_object *req;
        char msg[512], dir[160];

        if (t.skip)
                skip();
        assert_int_equal(call_err(AGENT_RPC_START, req_new("nope"), msg, sizeof(msg)), -ENOENT);
        assert_int_equal(call_err(AGENT_RPC_START, req_new("../x"), msg, sizeof(msg)), -EINVAL);
        req = create_req("bad", "true", false);
        json_object_object_add(req, "Spec", json_object_new_string("{not json"));
        assert_int_equal(call_err(AGENT_RPC_CREATE, req, msg, sizeof(msg)), -EINVAL);
        req = create_req("bad", "true", false); /* no mount namespace */
        json_object_object_add(req, "Spec",
                               json_object_new_string("{\"process\":{\"args\":[\"sh\"]},"
                                                      "\"linux\":{}}"));
        assert_int_equal(call_err(AGENT_RPC_CREATE, req, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "mount"));
        req = create_req("bad", "true", false);
        json_object_object_add(req, "Layers", json_object_new_array());
        assert_int_equal(call_err(AGENT_RPC_CREATE, req, msg, sizeof(msg)), -EINVAL);
        req = create_req("bad", "true", false);
        json_object_array_put_idx(json_object_object_get(req, "Layers"), 0,
                                  json_object_new_string("/no/such/layer"));
        assert_int_equal(call_err(AGENT_RPC_CREATE, req, msg, sizeof(msg)), -ENOENT);
        /* runc itself refuses: its log message comes back, and nothing is left. */
        req = create_req("bad", "true", false);
        json_object_object_add(req, "Spec",
                               json_object_new_string("{\"ociVersion\":\"1.0.2\",\"process\":"
                                                      "{\"args\":[\"/no/such/binary\"],"
                                                      "\"cwd\":\"/\"},\"linux\":{\"namespaces\":"
                                                      "[{\"type\":\"mount\"}]}}"));
        assert_true(call_err(AGENT_RPC_CREATE, req, msg, sizeof(msg)) < 0);
        print_message("runc create failure: %s\n", msg);
        assert_non_null(strstr(msg, "runc create failed"));
        assert_null(strstr(msg, "no message"));
        snprintf(dir, sizeof(dir), "%s/ctr/bad", t.state);
        assert_int_equal(access(dir, F_OK), -1);
        assert_false(mounted_under(t.state));
        req = req_new("nope");
        json_object_object_add(req, "Signal", json_object_new_int(99));
        assert_int_equal(call_err(AGENT_RPC_SIGNAL_PROCESS, req, msg, sizeof(msg)), -EINVAL);
}

/* Where the image exists only in the agent's VM (hcs pods) the host names
 * the user ("User") and the agent resolves it in the container's rootfs:
 * the process runs as it and the ids are answered; an unknown user is
 * refused with nothing left; an /etc/passwd leading out of the rootfs is
 * not followed there (the host's has "daemon"). */
static void put_file(const char *dir, const char *rel, const char *text)
{
        char p[256];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        f = fopen(p, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static json_object *user_req(const char *id, const char *script, const char *username)
{
        json_object *req = create_req(id, script, false), *u = json_object_new_object();
        json_object *groups = json_object_new_array();

        json_object_array_add(groups, json_object_new_int(7));
        json_object_object_add(u, "Username", json_object_new_string(username));
        json_object_object_add(u, "Image", json_object_new_string("test-image"));
        json_object_object_add(u, "Groups", groups);
        json_object_object_add(req, "User", u);
        return req;
}

static void test_user_in_rootfs(void **state)
{
        char p[256], msg[512];
        json_object *resp, *u, *g;
        uint64_t out;

        if (t.skip)
                skip();
        snprintf(p, sizeof(p), "%s/etc", t.rootfs);
        assert_int_equal(mkdir(p, 0755), 0);
        put_file(t.rootfs, "etc/passwd",
                 "root:x:0:0::/root:/bin/sh\nnot a line\napp:x:1000:1000::/:/bin/sh\n");
        put_file(t.rootfs, "etc/group", "root:x:0:\nwheel:x:10:root,app\naudio:x:63:app\n");
        resp = call(AGENT_RPC_CREATE, user_req("u1", "cat /proc/self/status; sleep 2", "app"));
        assert_non_null(resp);
        u = json_object_object_get(resp, "User");
        assert_non_null(u);
        assert_int_equal(json_object_get_int(json_object_object_get(u, "Uid")), 1000);
        assert_int_equal(json_object_get_int(json_object_object_get(u, "Gid")), 1000);
        g = json_object_object_get(u, "Groups");
        assert_int_equal(json_object_array_length(g), 4);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(g, 0)), 1000);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(g, 1)), 10);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(g, 2)), 63);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(g, 3)), 7);
        out = json_object_get_uint64(json_object_object_get(resp, "StdoutStream"));
        json_object_put(resp);
        call_ok(AGENT_RPC_START, req_new("u1"));
        assert_true(wait_output(out, "Uid:\t1000\t1000\t1000"));
        assert_true(wait_output(out, "Gid:\t1000\t1000\t1000"));
        assert_true(wait_output(out, "Groups:\t7 10 63 \n")); /* the kernel sorts them */
        assert_int_equal(wait_exit("u1"), 0);
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("u1"));

        assert_int_equal(
                call_err(AGENT_RPC_CREATE, user_req("u2", "true", "ghost"), msg, sizeof(msg)),
                -EINVAL);
        print_message("unknown user: %s\n", msg);
        assert_non_null(strstr(msg, "run_as_username \"ghost\": not in the image's /etc/passwd "
                                    "(image \"test-image\")"));
        snprintf(p, sizeof(p), "%s/ctr/u2", t.state);
        assert_int_equal(access(p, F_OK), -1);
        assert_false(mounted_under(t.state));

        /* The rootfs's /etc/passwd leads to the host's: resolved in the
         * rootfs, it leads to itself. */
        snprintf(p, sizeof(p), "%s/etc/passwd", t.rootfs);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink("../../../../../../../../etc/passwd", p), 0);
        assert_true(call_err(AGENT_RPC_CREATE, user_req("u3", "true", "daemon"), msg, sizeof(msg)) <
                    0);
        print_message("escaping /etc/passwd: %s\n", msg);
        assert_null(strstr(msg, "uid"));
        assert_false(mounted_under(t.state));
        /* A FIFO would block the reader: refused. */
        assert_int_equal(unlink(p), 0);
        put_file(t.rootfs, "etc/passwd", "app:x:1000:1000::/:/bin/sh\n");
        snprintf(p, sizeof(p), "%s/etc/group", t.rootfs);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkfifo(p, 0644), 0);
        assert_int_equal(
                call_err(AGENT_RPC_CREATE, user_req("u4", "true", "app"), msg, sizeof(msg)),
                -EINVAL);
        assert_non_null(strstr(msg, "/etc/group is not a regular file"));
        assert_int_equal(unlink(p), 0);
        assert_false(mounted_under(t.state));
}

static void test_readonly_rootfs_and_update(void **state)
{
        uint64_t out, err;
        json_object *req, *res, *resp, *c;

        if (t.skip)
                skip();
        ctr_run_ro("c5", "echo x > /f 2>/dev/null && echo rw || echo ro; sleep 30", true, &out,
                   &err);
        assert_true(wait_output(out, "ro\n"));
        req = req_new("c5");
        res = json_object_new_object();
        json_object_object_add(res, "pids", json_object_new_object());
        json_object_object_add(json_object_object_get(res, "pids"), "limit",
                               json_object_new_int(100));
        /* What the kubelet sends on every update: a 0 limit per huge page
         * size, whether or not this host mounts hugetlb (this one doesn't). */
        {
                json_object *hp = json_object_new_array(), *e = json_object_new_object();

                json_object_object_add(e, "pageSize", json_object_new_string("2MB"));
                json_object_object_add(e, "limit", json_object_new_int(0));
                json_object_array_add(hp, e);
                json_object_object_add(res, "hugepageLimits", hp);
        }
        json_object_object_add(req, "Resources", res);
        call_ok(AGENT_RPC_UPDATE_CONTAINER, req);
        resp = props("c5", &c);
        assert_string_equal(json_object_get_string(json_object_object_get(c, "State")), "running");
        json_object_put(resp);
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c5"));
        assert_false(mounted_under(t.state));
}

/* A host that connects and never negotiates replaces us: output is buffered
 * up to the bound, the rest counted as dropped. */
static void test_buffer_bound_and_replace(void **state)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint64_t out, err;
        json_object *resp, *c;
        struct out_buf *b;
        size_t len;
        int raw;

        if (t.skip)
                skip();
        ctr_run("c6", "sleep 1; head -c 1500000 /dev/zero; echo done >&2", &out, &err);
        raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.sock);
        assert_int_equal(connect(raw, (struct sockaddr *) &sa, sizeof(sa)), 0);
        usleep(2500000);
        t.conn = agent_conn_free(t.conn); /* the agent closed it already */
        host_connect();
        close(raw);
        assert_true(wait_output(err, "done\n"));
        assert_int_equal(wait_exit("c6"), 0);
        resp = props("c6", &c);
        assert_int_equal(json_object_get_int64(json_object_object_get(c, "DroppedBytes")),
                         1500000 - (1 << 20));
        json_object_put(resp);
        assert_true(wait_closed(out));
        pthread_mutex_lock(&t.mu);
        b = out_get(out);
        len = b->len;
        pthread_mutex_unlock(&t.mu);
        assert_int_equal(len, 1 << 20);
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c6"));
}

/* A container over its memory limit: the OOM kill is reported with the exit. */
static void test_oom_killed(void **state)
{
        json_object *req, *spec, *linux_, *res, *resp, *c;
        char spec_s[2048];
        uint64_t out, err;

        if (t.skip)
                skip();
        req = create_req("c7", "x=$(head -c 200000000 /dev/urandom); echo survived", false);
        spec = json_tokener_parse(json_object_get_string(json_object_object_get(req, "Spec")));
        linux_ = json_object_object_get(spec, "linux");
        res = json_tokener_parse("{\"memory\":{\"limit\":33554432}}");
        json_object_object_add(linux_, "resources", res);
        snprintf(spec_s, sizeof(spec_s), "%s", json_object_to_json_string(spec));
        json_object_object_add(req, "Spec", json_object_new_string(spec_s));
        json_object_put(spec);
        resp = call(AGENT_RPC_CREATE, req);
        assert_non_null(resp);
        out = json_object_get_uint64(json_object_object_get(resp, "StdoutStream"));
        err = json_object_get_uint64(json_object_object_get(resp, "StderrStream"));
        json_object_put(resp);
        call_ok(AGENT_RPC_START, req_new("c7"));
        assert_int_equal(wait_exit("c7"), 137);
        assert_true(wait_closed(out) && wait_closed(err));
        resp = props("c7", &c);
        assert_true(json_object_get_boolean(json_object_object_get(c, "OomKilled")));
        json_object_put(resp);
        call_ok(AGENT_RPC_DELETE_CONTAINER_STATE, req_new("c7"));
}

static void test_shutdown_forced(void **state)
{
        uint64_t out, err;
        int status = -1;
        char path[160];

        if (t.skip)
                skip();
        ctr_run("c4", "sleep 30", &out, &err);
        call_ok(AGENT_RPC_SHUTDOWN_FORCED, req_new(""));
        for (int i = 0; i < 1500 && waitpid(t.agent, &status, WNOHANG) == 0; i++)
                usleep(10000);
        assert_int_equal(kill(t.agent, 0), -1); /* exited and reaped within 15 s */
        dump_log();
        t.agent = 0;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_false(mounted_under(t.state));
        snprintf(path, sizeof(path), "%s/ctr", t.state);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(access(t.sock, F_OK), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_output_and_exit),
                cmocka_unit_test(test_exec_and_signal),
                cmocka_unit_test(test_delete),
                cmocka_unit_test(test_reconnect_keeps_output),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_user_in_rootfs),
                cmocka_unit_test(test_readonly_rootfs_and_update),
                cmocka_unit_test(test_buffer_bound_and_replace),
                cmocka_unit_test(test_oom_killed),
                cmocka_unit_test(test_shutdown_forced),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
