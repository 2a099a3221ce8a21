/* The fixture of the streaming-session tests (stream_fixture.h). */

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

extern char **environ;

void buf_append(struct buf *b, const void *data, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->data = realloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
}

struct fixture fx = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void wait_tick(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&fx.cond, &fx.mu, &ts);
}

/* Container events. */

static struct log *log_get(const char *id, int which)
{
        for (size_t i = 0; i < fx.n_logs; i++)
                if (strcmp(fx.logs[i].id, id) == 0 && fx.logs[i].which == which)
                        return &fx.logs[i];
        if (fx.n_logs == MAX_LOGS)
                return NULL;
        snprintf(fx.logs[fx.n_logs].id, sizeof(fx.logs[0].id), "%s", id);
        fx.logs[fx.n_logs].which = which;
        return &fx.logs[fx.n_logs++];
}

static void ev_output(void *data, const char *ctr_id, enum drv_stream stream, const char *buf,
                      size_t len)
{
        struct log *l;

        pthread_mutex_lock(&fx.mu);
        l = log_get(ctr_id, stream);
        if (l)
                buf_append(&l->b, buf, len);
        pthread_cond_broadcast(&fx.cond);
        pthread_mutex_unlock(&fx.mu);
}

static void ev_exited(void *data, const char *ctr_id, int code, int64_t ns, bool oom)
{
        pthread_mutex_lock(&fx.mu);
        if (fx.n_exits < 16) {
                snprintf(fx.exit_ids[fx.n_exits], 32, "%s", ctr_id);
                fx.exit_codes[fx.n_exits++] = code;
        }
        pthread_cond_broadcast(&fx.cond);
        pthread_mutex_unlock(&fx.mu);
}

static const struct agent_client_events events = {
        .exited = ev_exited, .output = ev_output, .data = NULL};

/* The container's log of stream which holds want; false after WAIT_MS. */
bool wait_log(const char *id, int which, const char *want)
{
        long end = now_ms() + WAIT_MS;
        bool ok = false;

        pthread_mutex_lock(&fx.mu);
        while (!ok && now_ms() < end) {
                struct log *l = log_get(id, which);

                ok = l && l->b.data && strstr(l->b.data, want);
                if (!ok)
                        wait_tick();
        }
        pthread_mutex_unlock(&fx.mu);
        return ok;
}

size_t log_len(const char *id, int which)
{
        struct log *l;
        size_t n;

        pthread_mutex_lock(&fx.mu);
        l = log_get(id, which);
        n = l ? l->b.len : 0;
        pthread_mutex_unlock(&fx.mu);
        return n;
}

char *log_copy(const char *id, int which)
{
        struct log *l;
        char *copy;

        pthread_mutex_lock(&fx.mu);
        l = log_get(id, which);
        copy = strdup(l && l->b.data ? l->b.data : "");
        pthread_mutex_unlock(&fx.mu);
        return copy;
}

int wait_exit(const char *id)
{
        long end = now_ms() + WAIT_MS;
        int code = -1;

        pthread_mutex_lock(&fx.mu);
        while (code < 0 && now_ms() < end) {
                for (size_t i = 0; i < fx.n_exits; i++)
                        if (strcmp(fx.exit_ids[i], id) == 0)
                                code = fx.exit_codes[i];
                if (code < 0)
                        wait_tick();
        }
        pthread_mutex_unlock(&fx.mu);
        return code;
}

/* A session's recorder. */

static void rec_output(void *data, int stream, const void *buf, size_t len)
{
        struct rec *r = data;

        pthread_mutex_lock(&fx.mu);
        if (len == 0) {
                r->ended[stream - 1] = true;
        } else {
                buf_append(&r->out[stream - 1], buf, len);
                if (r->s && !r->hold)
                        agent_stream_consumed(r->s, stream, len);
                else
                        r->unconsumed[stream - 1] += len;
        }
        pthread_cond_broadcast(&fx.cond);
        pthread_mutex_unlock(&fx.mu);
}

static void rec_done(void *data, int code, const char *reason)
{
        struct rec *r = data;

        pthread_mutex_lock(&fx.mu);
        r->done = true;
        r->code = code;
        snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
        pthread_cond_broadcast(&fx.cond);
        pthread_mutex_unlock(&fx.mu);
}

struct agent_stream_ops rec_ops(struct rec *r)
{
        return (struct agent_stream_ops){.data = r, .output = rec_output, .done = rec_done};
}

/* Started: consume from now on (unless held), what came meanwhile too. */
void rec_started(struct rec *r, struct agent_stream *s, bool hold)
{
        pthread_mutex_lock(&fx.mu);
        r->s = s;
        r->hold = hold;
        pthread_mutex_unlock(&fx.mu);
}

void rec_release(struct rec *r)
{
        pthread_mutex_lock(&fx.mu);
        r->hold = false;
        for (int i = 0; i < 2; i++) {
                agent_stream_consumed(r->s, i + 1, r->unconsumed[i]);
                r->unconsumed[i] = 0;
        }
        pthread_mutex_unlock(&fx.mu);
}

void rec_clear(struct rec *r)
{
        free(r->out[0].data);
        free(r->out[1].data);
        memset(r, 0, sizeof(*r));
}

bool wait_rec_output(struct rec *r, int stream, const char *want)
{
        long end = now_ms() + WAIT_MS;
        bool ok = false;

        pthread_mutex_lock(&fx.mu);
        while (!ok && now_ms() < end) {
                ok = r->out[stream - 1].data && strstr(r->out[stream - 1].data, want);
                if (!ok)
                        wait_tick();
        }
        pthread_mutex_unlock(&fx.mu);
        if (!ok)
                print_message("stream %d has: '%s'\n", stream,
                              r->out[stream - 1].data ? r->out[stream - 1].data : "");
        return ok;
}

/* The session's done code; INT_MIN after WAIT_MS. */
int wait_rec_done(struct rec *r)
{
        long end = now_ms() + WAIT_MS;
        bool done;

        pthread_mutex_lock(&fx.mu);
        while (!r->done && now_ms() < end)
                wait_tick();
        done = r->done;
        pthread_mutex_unlock(&fx.mu);
        return done ? r->code : -100000;
}

/* Fixture. */

static const char *spec_fmt =
        "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":%s,\"user\":{\"uid\":0,"
        "\"gid\":0},\"args\":[\"sh\",\"-c\",\"%s\"],\"env\":[\"PATH=/bin\",\"TERM=dumb\"],"
        "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\",\"readonly\":false},\"hostname\":\"t\","
        "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":"
        "[\"nosuid\",\"mode=755\",\"size=1024k\"]},{\"destination\":\"/dev/pts\",\"type\":"
        "\"devpts\",\"source\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\","
        "\"ptmxmode=0666\",\"mode=0620\"]}],"
        "\"linux\":{\"cgroupsPath\":\"/uvmd-stream-test/%s\",\"namespaces\":[{\"type\":\"pid\"},"
        "{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}";

void ctr_run_full(const char *id, const char *script, bool tty, bool in, bool once)
{
        char spec[4096];
        char *layers[] = {fx.rootfs, NULL};
        struct drv_ctr_spec ds = {.id = id,
                                  .layers = layers,
                                  .oci_spec_json = spec,
                                  .stdin_open = in,
                                  .stdin_once = once};
        struct uvm_error *err = NULL;

        snprintf(spec, sizeof(spec), spec_fmt, tty ? "true" : "false", script, id);
        if (agent_client_create(fx.client, &ds, &err) < 0 ||
            agent_client_start(fx.client, id, &err) < 0) {
                print_message("container %s: %s\n", id, err->msg);
                uvm_error_free(err);
                fail();
        }
}

void ctr_run(const char *id, const char *script)
{
        ctr_run_full(id, script, false, false, false);
}

void ctr_delete(const char *id)
{
        struct uvm_error *err = NULL;

        agent_client_signal(fx.client, id, SIGKILL, true, NULL);
        wait_exit(id);
        if (agent_client_delete(fx.client, id, &err) < 0) {
                print_message("delete %s: %s\n", id, err->msg);
                uvm_error_free(err);
        }
}

void client_connect(void)
{
        struct uvm_error *err = NULL;

        if (agent_client_connect(fx.sock, 10000, &events, &fx.client, &err) < 0) {
                print_message("connect: %s\n", err->msg);
                uvm_error_free(err);
                fail();
        }
        assert_true(agent_client_streaming(fx.client));
}

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
        const char *links[] = {"sh",  "echo", "sleep", "cat",  "head", "stty",
                               "seq", "nc",   "true",  "kill", "yes"};
        const char *dirs[] = {"", "/bin", "/proc", "/dev", "/sys", "/tmp"};
        char p[256], cmd[512];

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                snprintf(p, sizeof(p), "%s%s", fx.rootfs, dirs[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        snprintf(cmd, sizeof(cmd), "cp /bin/busybox %s/bin/busybox", fx.rootfs);
        assert_int_equal(system(cmd), 0);
        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
                snprintf(p, sizeof(p), "%s/bin/%s", fx.rootfs, links[i]);
                assert_int_equal(symlink("busybox", p), 0);
        }
}

/* The agent runs without --netns: containers without a network namespace
 * share its (here the host's) loopback, as a pod's do. */
static void spawn_agent(const char *runc)
{
        const char *bin = getenv("AGENT_BIN");
        char log[128], pidfile[128];
        char *argv[] = {(char *) bin, "--socket",    fx.sock,       "--state-dir", fx.state,
                        "--runtime",  (char *) runc, "--log-level", "debug",       NULL};
        posix_spawn_file_actions_t fa;

        snprintf(log, sizeof(log), "%s/agent.log", fx.dir);
        snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", fx.state);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(posix_spawn(&fx.agent, bin, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 500 && access(pidfile, F_OK) < 0; i++)
                usleep(10000);
        assert_int_equal(access(pidfile, F_OK), 0);
}

int fixture_setup(void **state)
{
        const char *runc = find_runc();

        if (getuid() != 0 || !runc || !getenv("AGENT_BIN") || access("/bin/busybox", X_OK) < 0) {
                fx.skip = true;
                return 0;
        }
        snprintf(fx.dir, sizeof(fx.dir), "/tmp/agent-stream-XXXXXX");
        assert_non_null(mkdtemp(fx.dir));
        snprintf(fx.sock, sizeof(fx.sock), "%s/agent.sock", fx.dir);
        snprintf(fx.state, sizeof(fx.state), "%s/state", fx.dir);
        snprintf(fx.rootfs, sizeof(fx.rootfs), "%s/rootfs", fx.dir);
        assert_int_equal(mkdir(fx.state, 0700), 0);
        make_rootfs();
        spawn_agent(runc);
        client_connect();
        ctr_run("c1", "sleep 1000");
        return 0;
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

static void unmount_leftovers(void)
{
        char line[4096], mnt[1024];

        for (int pass = 0; pass < 8 && mounted_under(fx.dir); pass++) {
                FILE *f = fopen("/proc/self/mountinfo", "re");

                while (f && fgets(line, sizeof(line), f))
                        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
                            strncmp(mnt, fx.dir, strlen(fx.dir)) == 0)
                                umount2(mnt, MNT_DETACH);
                if (f)
                        fclose(f);
        }
}

int fixture_teardown(void **state)
{
        char cmd[256];
        DIR *d;
        struct dirent *e;

        if (fx.skip)
                return 0;
        fx.client = agent_client_free(fx.client);
        if (fx.agent > 0) {
                kill(fx.agent, SIGTERM); /* deletes the containers */
                for (int i = 0; i < 1000 && waitpid(fx.agent, NULL, WNOHANG) == 0; i++)
                        usleep(10000);
                snprintf(cmd, sizeof(cmd), "grep -iE 'warn|error' %s/agent.log | tail -n 20 >&2",
                         fx.dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "no warnings in the agent log\n");
                if (kill(fx.agent, SIGKILL) == 0)
                        waitpid(fx.agent, NULL, 0);
        }
        unmount_leftovers();
        d = opendir("/sys/fs/cgroup");
        while (d && (e = readdir(d))) {
                char p[300];

                snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/uvmd-stream-test", e->d_name);
                rmdir(p);
        }
        if (d)
                closedir(d);
        fs_rm_rf(fx.dir);
        return 0;
}

/* Helpers of the tests. */

struct agent_stream *exec_start(const char *id, char *const *argv, bool tty, bool in, bool out,
                                bool errs, struct rec *r, bool hold)
{
        struct agent_exec_start spec = {.argv = argv,
                                        .tty = tty,
                                        .use_stdin = in,
                                        .use_stdout = out,
                                        .use_stderr = errs,
                                        .rows = tty ? 10 : 0,
                                        .cols = tty ? 20 : 0};
        struct agent_stream_ops ops = rec_ops(r);
        struct agent_stream *s = NULL;
        struct uvm_error *err = NULL;

        if (agent_client_exec_start(fx.client, id, &spec, &ops, &s, &err) < 0) {
                print_message("exec: %s\n", err->msg);
                uvm_error_free(err);
                fail();
        }
        rec_started(r, s, hold);
        return s;
}

void write_all(struct agent_stream *s, const char *text)
{
        size_t len = strlen(text), off = 0;

        while (off < len) {
                int n = agent_stream_write(s, text + off, len - off, WAIT_MS, NULL);

                assert_true(n > 0);
                off += (size_t) n;
        }
}

/* Processes on the host whose command line is argv0 arg (NUL-separated). */
int count_procs(const char *argv0, const char *arg)
{
        DIR *d = opendir("/proc");
        struct dirent *e;
        int n = 0;

        while (d && (e = readdir(d))) {
                char path[300], buf[256] = "";
                int fd;
                ssize_t len;

                snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                len = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (len > 0 && strcmp(buf, argv0) == 0 && (size_t) len > strlen(argv0) + 1 &&
                    strcmp(buf + strlen(argv0) + 1, arg) == 0)
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

bool wait_procs(const char *argv0, const char *arg, int want)
{
        for (long end = now_ms() + WAIT_MS; now_ms() < end; usleep(20000))
                if (count_procs(argv0, arg) == want)
                        return true;
        return false;
}

long agent_rss_kb(void)
{
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) fx.agent);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0)
                        kb = strtol(line + 6, NULL, 10);
        if (f)
                fclose(f);
        return kb;
}
