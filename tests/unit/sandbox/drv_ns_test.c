/* The ns driver for real: the uvmd-agent binary, runc, a busybox rootfs and a
 * new network namespace. Needs root; skips without it, runc or the agent. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/fs.h"
#include "network/netns.h"
#include "sandbox/driver.h"

#define POD_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
        char tmp[64], state_dir[96], netns[96], rootfs[96];
        char runtime[256];
        const struct drv_ops *ops;
};

/* Everything the driver reported. */
static struct {
        pthread_mutex_t lock;
        char out[4096], errout[4096];
        int exits, last_code, died;
        char last_exit_id[64], died_reason[256];
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_exited(void *data, const char *id, int code, int64_t ns, bool oom)
{
        pthread_mutex_lock(&rec.lock);
        rec.exits++;
        rec.last_code = code;
        snprintf(rec.last_exit_id, sizeof(rec.last_exit_id), "%s", id);
        pthread_mutex_unlock(&rec.lock);
}

static void on_output(void *data, const char *id, enum drv_stream s, const char *buf, size_t n)
{
        char *dst = s == DRV_STDOUT ? rec.out : rec.errout;
        size_t len;

        pthread_mutex_lock(&rec.lock);
        len = strlen(dst);
        snprintf(dst + len, sizeof(rec.out) - len, "%s:%.*s", id, (int) n, buf);
        pthread_mutex_unlock(&rec.lock);
}

static void on_died(void *data, const char *reason)
{
        pthread_mutex_lock(&rec.lock);
        rec.died++;
        snprintf(rec.died_reason, sizeof(rec.died_reason), "%s", reason);
        pthread_mutex_unlock(&rec.lock);
}

static const struct drv_events events = {NULL, on_exited, on_output, on_died};

static void rec_reset(void)
{
        pthread_mutex_lock(&rec.lock);
        rec.out[0] = rec.errout[0] = '\0';
        rec.exits = rec.died = 0;
        pthread_mutex_unlock(&rec.lock);
}

/* Poll up to 20 s for *counter >= n. */
static bool wait_count(const int *counter, int n)
{
        for (int i = 0; i < 2000; i++) {
                int v;

                pthread_mutex_lock(&rec.lock);
                v = *counter;
                pthread_mutex_unlock(&rec.lock);
                if (v >= n)
                        return true;
                usleep(10000);
        }
        return false;
}

static bool find_in_path(const char *name, char *out, size_t size)
{
        const char *dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                              "/usr/bin",        "/sbin",          "/bin"};

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                snprintf(out, size, "%s/%s", dirs[i], name);
                if (access(out, X_OK) == 0)
                        return true;
        }
        return false;
}

static void write_file(const char *path, const char *text)
{
        assert_int_equal(fs_write_atomic(path, text, strlen(text), 0755), 0);
}

/* A rootfs with a static busybox and the mount points runc needs. */
static void make_rootfs(const char *root)
{
        const char *dirs[] = {"bin", "proc", "dev", "tmp", "etc"};
        const char *links[] = {"sh", "echo", "cat", "sleep", "hostname", "ls", "readlink"};
        char path[256], cmd[512];

        for (size_t i = 0; i < 5; i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                assert_int_equal(fs_mkdir_p(path, 0755), 0);
        }
        snprintf(cmd, sizeof(cmd), "cp /usr/bin/busybox %s/bin/busybox", root);
        assert_int_equal(system(cmd), 0);
        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
                snprintf(path, sizeof(path), "%s/bin/%s", root, links[i]);
                assert_int_equal(symlink("busybox", path), 0);
        }
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char busybox[256];
        const char *agent = getenv("UVMD_AGENT");

        if (getuid() != 0 || !agent || access(agent, X_OK) != 0 ||
            !find_in_path("runc", f->runtime, sizeof(f->runtime)) ||
            !find_in_path("busybox", busybox, sizeof(busybox))) {
                free(f);
                return 0; /* each test skips */
        }
        strcpy(f->tmp, "/tmp/drvns-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/pod", f->tmp);
        snprintf(f->netns, sizeof(f->netns), "%s/netns", f->tmp);
        snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs", f->tmp);
        assert_int_equal(mkdir(f->state_dir, 0700), 0);
        make_rootfs(f->rootfs);
        assert_int_equal(netns_create(f->netns, NULL), 0);
        f->ops = drv_lookup("ns");
        assert_non_null(f->ops);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        if (!f)
                return 0;
        netns_remove(f->netns, NULL);
        fs_rm_rf(f->tmp);
        free(f);
        return 0;
}

static struct drv_pod_spec pod_spec(struct fixture *f)
{
        return (struct drv_pod_spec){
                .id = POD_ID,
                .hostname = "testpod",
                .state_dir = f->state_dir,
                .netns_path = f->netns,
                .oci_runtime = f->runtime,
                .events = &events,
        };
}

static char *oci_spec(const char *script)
{
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,"
                             "\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\",\"-c\",\"%s\"],"
                             "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
                             "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
                             "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\","
                             "\"source\":\"proc\"},{\"destination\":\"/dev\",\"type\":\"tmpfs\","
                             "\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\"]}],"
                             "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},"
                             "{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"}]}}",
                             script) > 0);
        return s;
}

static void ctr_create(struct fixture *f, struct drv_pod *pod, const char *id, const char *script,
                       bool readonly)
{
        char *layers[] = {f->rootfs, NULL};
        char *json = oci_spec(script);
        struct drv_ctr_spec spec = {
                .id = id, .layers = layers, .readonly_rootfs = readonly, .oci_spec_json = json};
        struct uvm_error *err = NULL;
        int r = f->ops->ctr_create(pod, &spec, &err);

        if (r < 0)
                fail_msg("create %s: %s", id, err ? err->msg : "?");
        free(json);
}

static pid_t agent_pid(struct fixture *f)
{
        char path[128], *buf = NULL;
        pid_t pid;

        snprintf(path, sizeof(path), "%s/agent.pid", f->state_dir);
        assert_int_equal(fs_read_file(path, 32, &buf, NULL), 0);
        pid = (pid_t) atoi(buf);
        free(buf);
        assert_true(pid > 0);
        return pid;
}

/* No mount point at or under dir. */
static void assert_no_mounts_under(const char *dir)
{
        char *buf = NULL, *save = NULL;
        size_t len;

        assert_int_equal(fs_read_file("/proc/self/mountinfo", 4 << 20, &buf, &len), 0);
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[1024];

                if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
                    strncmp(mnt, dir, strlen(dir)) == 0)
                        fail_msg("mount left behind: %s", line);
        }
        free(buf);
}

static bool same_ns(const char *a, const char *b)
{
        struct stat sa, sb;

        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
}

static void test_pod_lifecycle(void **state)
{
        struct fixture *f = *state;
        struct drv_pod_spec spec;
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;
        char *argv[] = {"sh", "-c", "echo in-exec; hostname; readlink /proc/self/ns/net; exit 4",
                        NULL};
        struct drv_exec_spec ex = {argv, 10000, 0};
        struct drv_exec_result res = {0};
        enum drv_ctr_state st;
        struct stat nst;
        char path[128], want[128];
        int code;
        pid_t pid;

        if (!f)
                skip();
        rec_reset();
        spec = pod_spec(f);
        if (f->ops->pod_create(&spec, &pod, &err) < 0)
                fail_msg("pod_create: %s", err->msg);
        assert_true(f->ops->pod_alive(pod));
        pid = agent_pid(f);
        snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
        assert_true(same_ns(path, f->netns));
        snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
        assert_false(same_ns(path, "/proc/self/ns/ipc"));

        /* A container that prints, joins the pod's namespaces and exits 3. */
        ctr_create(f, pod, "c1", "echo hello; echo oops >&2; hostname; exit 3", true);
        assert_int_equal(f->ops->ctr_start(pod, "c1", NULL), 0);
        assert_true(wait_count(&rec.exits, 1));
        pthread_mutex_lock(&rec.lock);
        assert_string_equal(rec.last_exit_id, "c1");
        assert_int_equal(rec.last_code, 3);
        pthread_mutex_unlock(&rec.lock);
        assert_int_equal(f->ops->ctr_state(pod, "c1", &st, &code, NULL), 0);
        assert_int_equal(st, DRV_CTR_EXITED);
        assert_int_equal(code, 3);
        /* Output is flushed before the exit is noted; allow the last frame a moment. */
        for (int i = 0; i < 100 && !strstr(rec.out, "testpod"); i++)
                usleep(10000);
        pthread_mutex_lock(&rec.lock);
        assert_non_null(strstr(rec.out, "hello"));
        assert_non_null(strstr(rec.out, "testpod")); /* the pod's UTS namespace */
        assert_string_equal(rec.errout, "c1:oops\n");
        pthread_mutex_unlock(&rec.lock);
        assert_int_equal(f->ops->ctr_delete(pod, "c1", NULL), 0);

        /* A long-running one (overlay rootfs) to exec in and to stop with the pod. */
        ctr_create(f, pod, "c2", "sleep 1000", false);
        assert_int_equal(f->ops->ctr_start(pod, "c2", NULL), 0);
        if (f->ops->ctr_exec_sync(pod, "c2", &ex, &res, &err) < 0)
                fail_msg("exec: %s", err->msg);
        assert_int_equal(res.exit_code, 4);
        /* The spec named the host's netns (/proc/1/ns/net): the driver put the pod's. */
        assert_true(stat(f->netns, &nst) == 0);
        snprintf(want, sizeof(want), "in-exec\ntestpod\nnet:[%lu]\n", (unsigned long) nst.st_ino);
        assert_int_equal(res.out_len, strlen(want));
        assert_memory_equal(res.out, want, res.out_len);
        drv_exec_result_clear(&res);
        assert_int_equal(f->ops->ctr_state(pod, "c2", &st, &code, NULL), 0);
        assert_int_equal(st, DRV_CTR_RUNNING);

        /* Stop: SIGTERM is ignored by sleep as PID 1, so ShutdownForced kills it. */
        if (f->ops->pod_stop(pod, 500, &err) < 0)
                fail_msg("pod_stop: %s", err->msg);
        assert_true(wait_count(&rec.exits, 2));
        assert_false(f->ops->pod_alive(pod));
        assert_int_equal(f->ops->pod_stop(pod, 500, NULL), 0); /* idempotent */
        f->ops->pod_free(pod);
        assert_int_equal(kill(pid, 0), -1); /* gone and reaped */
        assert_int_equal(rec.died, 0);      /* a stop is no death */
        assert_no_mounts_under(f->state_dir);
}

static void test_agent_dies(void **state)
{
        struct fixture *f = *state;
        struct drv_pod_spec spec;
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;

        if (!f)
                skip();
        rec_reset();
        spec = pod_spec(f);
        if (f->ops->pod_create(&spec, &pod, &err) < 0)
                fail_msg("pod_create: %s", err->msg);
        assert_int_equal(kill(agent_pid(f), SIGKILL), 0);
        assert_true(wait_count(&rec.died, 1));
        assert_false(f->ops->pod_alive(pod));
        assert_int_equal(f->ops->pod_stop(pod, 0, NULL), 0);
        f->ops->pod_free(pod);
        assert_int_equal(rec.died, 1);
}

static void test_reattach(void **state)
{
        struct fixture *f = *state;
        struct drv_pod_spec spec;
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;
        char path[128];
        pid_t pid;

        if (!f)
                skip();
        rec_reset();
        spec = pod_spec(f);
        /* No agent.pid, then one naming a process that is not our agent. */
        assert_int_equal(f->ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        uvm_error_free(err);
        err = NULL;
        snprintf(path, sizeof(path), "%s/agent.pid", f->state_dir);
        {
                char text[32];

                snprintf(text, sizeof(text), "%d\n", getpid());
                write_file(path, text);
        }
        assert_int_equal(f->ops->pod_reattach(&spec, &pod, &err), -ESRCH);
        uvm_error_free(err);
        err = NULL;

        /* uvmd "restarts": the driver state goes, the agent stays. */
        if (f->ops->pod_create(&spec, &pod, &err) < 0)
                fail_msg("pod_create: %s", err->msg);
        pid = agent_pid(f);
        f->ops->pod_free(pod);
        pod = NULL;
        assert_int_equal(kill(pid, 0), 0);
        if (f->ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("pod_reattach: %s", err->msg);
        assert_true(f->ops->pod_alive(pod));
        assert_int_equal(f->ops->pod_stop(pod, 0, NULL), 0);
        f->ops->pod_free(pod);
        /* The adopted agent is still our child here: collect it. */
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_int_equal(rec.died, 0);
        assert_no_mounts_under(f->state_dir);
}

/* An agent that is missing or dies at once: clear errors, nothing left. */
static void test_spawn_failures(void **state)
{
        struct fixture *f = *state;
        char *saved, path[128];
        struct drv_pod_spec spec;
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;

        if (!f)
                skip();
        spec = pod_spec(f);
        saved = strdup(getenv("UVMD_AGENT"));
        setenv("UVMD_AGENT", "/nonexistent/uvmd-agent", 1);
        assert_int_equal(f->ops->pod_create(&spec, &pod, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "/nonexistent/uvmd-agent"));
        err = uvm_error_free(err);
        setenv("UVMD_AGENT", "/bin/false", 1);
        assert_int_equal(f->ops->pod_create(&spec, &pod, &err), -ECHILD);
        assert_non_null(strstr(err->msg, "exited with status 1 before it was ready"));
        err = uvm_error_free(err);
        assert_null(pod);
        setenv("UVMD_AGENT", saved, 1);
        free(saved);
        snprintf(path, sizeof(path), "%s/agent.sock", f->state_dir);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left unreaped */
        assert_no_mounts_under(f->state_dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pod_lifecycle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent_dies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reattach, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_failures, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
