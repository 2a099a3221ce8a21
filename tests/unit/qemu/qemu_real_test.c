/* The QMP client and the command line against the real QEMU (skipped when
 * qemu-system-x86_64 is not installed). QEMU runs stopped (-S) under TCG:
 * no guest, no KVM needed. */

#include <errno.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/qmp.h"

extern char **environ;

static pid_t qemu_pid = -1;
static char dir[64];

static const char *qemu_binary(void)
{
        const char *q = getenv("UVMD_TEST_QEMU");

        return q && *q ? q : "/usr/bin/qemu-system-x86_64";
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/uvmd-qemu-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

/* Whatever happened, no QEMU outlives its test. */
static int teardown(void **state)
{
        char cmd[128];

        if (qemu_pid > 0) {
                kill(qemu_pid, SIGKILL);
                waitpid(qemu_pid, NULL, 0);
                qemu_pid = -1;
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void spawn(char **argv)
{
        int r = posix_spawn(&qemu_pid, argv[0], NULL, NULL, argv, environ);

        if (r != 0)
                fail_msg("posix_spawn %s: %s", argv[0], strerror(r));
}

/* QEMU's exit status, within timeout_ms. */
static int wait_exit(int timeout_ms)
{
        for (int waited = 0; waited < timeout_ms; waited += 10) {
                int status;
                pid_t r = waitpid(qemu_pid, &status, WNOHANG);

                if (r == qemu_pid) {
                        qemu_pid = -1;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
                sleep_ms(10);
        }
        fail_msg("QEMU did not exit within %d ms", timeout_ms);
        return -1;
}

static struct qmp *connect_ok(const char *path)
{
        struct uvm_error *err = NULL;
        struct qmp *q = NULL;
        int r = qmp_connect(path, 20000, &q, &err);

        if (r < 0)
                fail_msg("qmp_connect %s: %s", path, err ? err->msg : "?");
        return q;
}

static void check_prelaunch(struct qmp *q)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL, *v;

        if (qmp_execute(q, "query-status", NULL, 10000, &ret, &err) < 0)
                fail_msg("query-status: %s", err->msg);
        assert_true(json_object_object_get_ex(ret, "running", &v));
        assert_false(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(ret, "status", &v));
        assert_string_equal(json_object_get_string(v), "prelaunch");
        json_object_put(ret);
}

/* quit: the reply, SHUTDOWN (QEMU 7.2 sends it before the reply), exit 0. */
static void quit(struct qmp *q)
{
        struct uvm_error *err = NULL;
        json_object *data = NULL, *v;

        if (qmp_execute(q, "quit", NULL, 10000, NULL, &err) < 0)
                fail_msg("quit: %s", err->msg);
        if (qmp_wait_event(q, "SHUTDOWN", 10000, &data, &err) < 0)
                fail_msg("SHUTDOWN: %s", err->msg);
        assert_true(json_object_object_get_ex(data, "reason", &v));
        assert_string_equal(json_object_get_string(v), "host-qmp-quit");
        json_object_put(data);
        assert_int_equal(wait_exit(10000), 0);
        /* QEMU is gone: the socket says so. */
        assert_int_equal(qmp_execute(q, "query-status", NULL, 5000, NULL, &err), -ECONNRESET);
        assert_string_equal(err->msg, "qmp query-status: QEMU closed the QMP socket");
        uvm_error_free(err);
}

static void test_qmp(void **state)
{
        char sock[128], chardev[192];
        char *argv[] = {(char *) qemu_binary(),
                        "-M",
                        "microvm",
                        "-nodefaults",
                        "-no-user-config",
                        "-display",
                        "none",
                        "-S",
                        "-chardev",
                        chardev,
                        "-mon",
                        "chardev=qmp,mode=control",
                        NULL};
        struct uvm_error *err = NULL;
        json_object *args, *ret = NULL;
        struct qmp *q;

        if (access(argv[0], X_OK) < 0)
                skip();
        snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
        snprintf(chardev, sizeof(chardev), "socket,id=qmp,path=%s,server=on,wait=off", sock);
        spawn(argv);
        q = connect_ok(sock);
        check_prelaunch(q);

        /* A QMP error: the message, and the connection stays usable. */
        args = json_object_new_object();
        json_object_object_add(args, "id", json_object_new_string("nosuchdevice"));
        assert_int_equal(qmp_execute(q, "device_del", args, 10000, &ret, &err), -EIO);
        assert_string_equal(err->msg,
                            "qmp device_del: DeviceNotFound: Device 'nosuchdevice' not found");
        err = uvm_error_free(err);
        json_object_put(args);
        assert_int_equal(qmp_execute(q, "no-such-command", NULL, 10000, &ret, &err), -EIO);
        assert_string_equal(err->msg,
                            "qmp no-such-command: CommandNotFound: The command no-such-command "
                            "has not been found");
        err = uvm_error_free(err);
        check_prelaunch(q);
        quit(q);
        qmp_close(q);
}

static char *in_dir(const char *name)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static bool is_socket(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* qemu_argv's options, without -kernel/-initrd/-append (QEMU would load the
 * kernel before QMP answers) and with -S: QEMU must accept all of them. */
static void test_cmdline(void **state)
{
        char *share = in_dir("sh,are"), *pidfile = in_dir("qemu.pid");
        char *agent = in_dir("agent.sock"), *qmp_sock = in_dir("qmp.sock");
        char *console = in_dir("console.sock");
        struct qemu_vm vm = {
                .qemu = qemu_binary(),
                .kernel = "/unused/vmlinux",
                .initrd = "/unused/initrd",
                .agent_sock = agent,
                .qmp_sock = qmp_sock,
                .console_sock = console,
                .share_dir = share,
                .pidfile = pidfile,
                .memory_mb = 128,
                .vcpus = 2,
                .root_ports = 4,
                .tap_fd = -1,
        };
        struct uvm_error *err = NULL;
        char **full = NULL, *argv[128], buf[32];
        json_object *args, *ret = NULL, *bus, *devices;
        const char *qtree;
        struct qmp *q;
        size_t n = 0;
        FILE *f;

        if (access(vm.qemu, X_OK) < 0)
                skip();
        assert_int_equal(mkdir(share, 0700), 0);
        assert_int_equal(qemu_argv(&vm, &full, &err), 0);
        for (size_t i = 0; full[i]; i++) {
                if (!strcmp(full[i], "-kernel") || !strcmp(full[i], "-initrd") ||
                    !strcmp(full[i], "-append")) {
                        i++;
                        continue;
                }
                assert_true(n < 126);
                argv[n++] = full[i];
        }
        argv[n++] = "-S";
        argv[n] = NULL;
        spawn(argv);
        q = connect_ok(qmp_sock);
        check_prelaunch(q);

        /* The pidfile, the console and agent sockets. */
        f = fopen(pidfile, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_int_equal(atoi(buf), qemu_pid);
        assert_true(is_socket(console));
        assert_true(is_socket(agent));

        /* The root ports: rp0..rp3 on pcie.0, after the host bridge. */
        assert_int_equal(qmp_execute(q, "query-pci", NULL, 10000, &ret, &err), 0);
        bus = json_object_array_get_idx(ret, 0);
        assert_true(json_object_object_get_ex(bus, "devices", &devices));
        assert_int_equal(json_object_array_length(devices), 5);
        for (int i = 1; i <= 4; i++) {
                json_object *dev = json_object_array_get_idx(devices, i), *id;
                char want[8];

                snprintf(want, sizeof(want), "rp%d", i - 1);
                assert_true(json_object_object_get_ex(dev, "qdev_id", &id));
                assert_string_equal(json_object_get_string(id), want);
        }
        json_object_put(ret);

        /* The virtio-mmio devices. */
        args = json_object_new_object();
        json_object_object_add(args, "command-line", json_object_new_string("info qtree"));
        assert_int_equal(qmp_execute(q, "human-monitor-command", args, 10000, &ret, &err), 0);
        json_object_put(args);
        qtree = json_object_get_string(ret);
        assert_non_null(strstr(qtree, "mount_tag = \"uvmdshare\""));
        assert_non_null(strstr(qtree, "name = \"agent\""));
        assert_non_null(strstr(qtree, "dev: virtio-rng-device"));
        assert_non_null(strstr(qtree, "dev: virtio-balloon-device"));
        assert_non_null(strstr(qtree, "free-page-reporting = true"));
        assert_non_null(strstr(qtree, "dev: isa-serial"));
        assert_non_null(strstr(qtree, "dev: mc146818rtc"));
        assert_non_null(strstr(qtree, "dev: isa-pit"));
        json_object_put(ret);

        quit(q);
        qmp_close(q);
        qemu_argv_free(full);
        free(share), free(pidfile), free(agent), free(qmp_sock), free(console);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_qmp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
