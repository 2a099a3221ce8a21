/* VM templates: making one (template-internal.h). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/console.h"
#include "sandbox/drivers/qemu/template-internal.h"
#include "sandbox/drivers/qemu/tpl.h"

#define QMP_TIMEOUT_MS 10000
#define SAVE_TIMEOUT_MS 60000
#define SETTLE_MS 500 /* the agent sees its host go before the save */
#define COPY_CHUNK (1 << 20)

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- making one --- */

struct build {
        char key[QTPL_KEY_LEN + 1];
        char *dir, *run, *share, *mem, *state, *meta, *mig;
        struct qemu_vm vm;
        pid_t pid;
        struct qconsole *console;
};

static void build_clear(struct build *j)
{
        if (j->pid > 0) {
                kill(j->pid, SIGKILL);
                waitpid(j->pid, NULL, 0);
        }
        qconsole_free(j->console);
        free(j->dir);
        free(j->run);
        free(j->share);
        free(j->mem);
        free(j->state);
        free(j->meta);
        free(j->mig);
        free((char *) j->vm.agent_sock);
        free((char *) j->vm.qmp_sock);
        free((char *) j->vm.console_sock);
        free((char *) j->vm.log_sock);
        free((char *) j->vm.pidfile);
}

static int build_paths(struct build *j, const char *root, const char *key)
{
        memcpy(j->key, key, sizeof(j->key));
        j->dir = fs_path_join(root, key);
        j->run = j->dir ? fs_path_join(j->dir, "run") : NULL;
        j->share = j->dir ? fs_path_join(j->dir, "share") : NULL;
        j->mem = j->dir ? fs_path_join(j->dir, "mem") : NULL;
        j->state = j->dir ? fs_path_join(j->dir, "state") : NULL;
        j->meta = j->dir ? fs_path_join(j->dir, "meta.json") : NULL;
        if (!j->run)
                return -ENOMEM;
        j->mig = fs_path_join(j->run, "mig.sock");
        j->vm.agent_sock = fs_path_join(j->run, "agent.sock");
        j->vm.qmp_sock = fs_path_join(j->run, "qmp.sock");
        j->vm.console_sock = fs_path_join(j->run, "console.sock");
        j->vm.log_sock = fs_path_join(j->run, "log.sock");
        j->vm.pidfile = fs_path_join(j->run, "qemu.pid");
        return j->share && j->mem && j->state && j->meta && j->mig && j->vm.agent_sock &&
                               j->vm.qmp_sock && j->vm.console_sock && j->vm.log_sock &&
                               j->vm.pidfile
                       ? 0
                       : -ENOMEM;
}

/* QEMU as a child that dies with this thread (it outlives nothing), niced:
 * a template is never more urgent than a pod. */
static int spawn(struct build *j, struct uvm_error **err)
{
        _cleanup_free_ char *log = fs_path_join(j->dir, "qemu.log");
        char **argv = NULL;
        int r = qemu_argv(&j->vm, &argv, err);

        if (r < 0)
                return r;
        if (!log) {
                qemu_argv_free(argv);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = qemu_spawn_logged(argv, log, true, &j->pid, err);
        qemu_argv_free(argv);
        return r;
}

/* Boot until the agent answers; then let it see its host go. */
static int boot(struct build *j, unsigned timeout_ms, struct uvm_error **err)
{
        _cleanup_free_ char *log = NULL;
        struct agent_client *c = NULL;
        int r;

        for (unsigned waited = 0; access(j->vm.agent_sock, F_OK) < 0; waited += 20) {
                if (waitpid(j->pid, NULL, WNOHANG) == j->pid) {
                        j->pid = 0;
                        return uvm_error_set(err, ECHILD, "QEMU exited (see %s/qemu.log)", j->dir);
                }
                if (waited >= timeout_ms)
                        return uvm_error_set(err, ETIMEDOUT, "QEMU did not start");
                usleep(20000);
        }
        log = fs_path_join(j->dir, "console.log");
        if (!log ||
            qconsole_start("template", j->vm.console_sock, log, 1000, &j->console, NULL) < 0)
                log_debug("qemu: template console not kept, ignoring");
        r = agent_client_connect(j->vm.agent_sock, timeout_ms, NULL, &c, err);
        if (r < 0)
                return uvm_error_wrap(err, "the template's agent");
        agent_client_free(c);
        usleep(SETTLE_MS * 1000);
        return 0;
}

static int listen_unix(const char *path, struct uvm_error **err)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (strlen(path) >= sizeof(a.sun_path))
                return uvm_error_set(err, ENAMETOOLONG, "%s: too long for a socket", path);
        memcpy(a.sun_path, path, strlen(path) + 1);
        unlink(path);
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 1) < 0)
                return uvm_error_set(err, errno, "listen on %s: %m", path);
        return TAKE_FD(fd);
}

/* QEMU's migration stream, from the socket into the state file. */
static int receive_state(int lfd, const char *path, uint64_t *ret_bytes, struct uvm_error **err)
{
        struct pollfd p = {lfd, POLLIN, 0};
        _cleanup_close_ int c = -1, out = -1;
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        uint64_t total = 0;
        ssize_t n;

        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (poll(&p, 1, SAVE_TIMEOUT_MS) <= 0 || (c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
                return uvm_error_set(err, ETIMEDOUT, "QEMU did not connect to send its state");
        out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0)
                return uvm_error_set(err, errno, "create %s: %m", path);
        for (;;) {
                p = (struct pollfd){c, POLLIN, 0};
                if (poll(&p, 1, SAVE_TIMEOUT_MS) <= 0)
                        return uvm_error_set(err, ETIMEDOUT, "QEMU's state stopped coming");
                n = read(c, buf, COPY_CHUNK);
                if (n == 0)
                        break;
                if (n < 0 || (total += (uint64_t) n) > QTPL_MAX_STATE ||
                    write(out, buf, (size_t) n) != n)
                        return uvm_error_set(err, n < 0 ? errno : EFBIG, "receive the state: %s",
                                             n < 0 ? strerror(errno) : "too large or short write");
        }
        if (fsync(out) < 0)
                return uvm_error_set(err, errno, "fsync %s: %m", path);
        *ret_bytes = total;
        return 0;
}

static int save(struct build *j, uint64_t *ret_bytes, struct uvm_error **err)
{
        _cleanup_qmp_ struct qmp *q = NULL;
        _cleanup_close_ int lfd = -1, mem = -1;
        _cleanup_free_ char *uri = NULL;
        int r = qmp_connect(j->vm.qmp_sock, QMP_TIMEOUT_MS, &q, err);

        if (r >= 0 && (lfd = r = listen_unix(j->mig, err)) >= 0 &&
            asprintf(&uri, "unix:%s", j->mig) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = qtpl_qmp_save_start(q, uri, QMP_TIMEOUT_MS, err);
        if (r >= 0)
                r = receive_state(lfd, j->state, ret_bytes, err);
        if (r >= 0)
                r = qtpl_qmp_wait_done(q, QMP_TIMEOUT_MS, err);
        if (r >= 0)
                (void) qmp_execute(q, "quit", NULL, QMP_TIMEOUT_MS, NULL, NULL);
        if (r < 0)
                return uvm_error_wrap(err, "save the template VM");
        for (int i = 0; i < 250 && waitpid(j->pid, NULL, WNOHANG) != j->pid; i++)
                usleep(20000);
        if (kill(j->pid, 0) == 0)
                return uvm_error_set(err, EBUSY, "QEMU did not quit");
        j->pid = 0;
        /* What the guest wrote through MAP_SHARED is on disk before meta.json says so. */
        mem = open(j->mem, O_RDONLY | O_CLOEXEC);
        if (mem < 0 || fsync(mem) < 0)
                return uvm_error_set(err, errno, "fsync %s: %m", j->mem);
        return 0;
}

int qtpl_build(const struct qtpl_node *node, const char *root, const char *key,
               struct uvm_error **err)
{
        struct build j = {.vm = {.tap_fd = -1}};
        struct qtpl_meta m = {.memory_mb = node->memory_mb, .vcpus = node->vcpus};
        _cleanup_free_ char *text = NULL;
        int64_t t0 = mono_ms();
        _cleanup_close_ int mem = -1;
        int r = build_paths(&j, root, key);

        if (r < 0) {
                build_clear(&j);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        (void) fs_rm_rf(j.dir);
        j.vm = (struct qemu_vm){.qemu = node->qemu,
                                .kernel = node->kernel,
                                .initrd = node->initrd,
                                .append = node->append,
                                .agent_sock = j.vm.agent_sock,
                                .qmp_sock = j.vm.qmp_sock,
                                .console_sock = j.vm.console_sock,
                                .log_sock = j.vm.log_sock,
                                .pidfile = j.vm.pidfile,
                                .share_dir = j.share,
                                .memory_mb = node->memory_mb,
                                .vcpus = node->vcpus,
                                .kvm = node->kvm,
                                .root_ports = QEMU_POD_ROOT_PORTS,
                                .scsi = true,
                                .mac = QTPL_MAC,
                                .nic_unplugged = true,
                                .tap_fd = -1,
                                .mem_path = j.mem,
                                .mem_shared = true};
        r = fs_mkdir_p(j.run, 0700);
        if (r >= 0)
                r = fs_mkdir_p(j.share, 0755);
        if (r >= 0 && ((mem = open(j.mem, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
                       ftruncate(mem, (off_t) node->memory_mb << 20) < 0))
                r = -errno;
        if (r < 0)
                r = uvm_error_set(err, -r, "prepare %s: %s", j.dir, strerror(-r));
        if (r >= 0)
                r = spawn(&j, err);
        if (r >= 0)
                r = boot(&j, node->boot_timeout_ms, err);
        m.boot_ms = mono_ms() - t0;
        if (r >= 0)
                r = save(&j, &m.state_bytes, err);
        memcpy(m.key, key, sizeof(m.key));
        memcpy(m.mac, QTPL_MAC, sizeof(m.mac));
        if (r >= 0 && !(text = qtpl_meta_format(&m)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0 && (r = fs_write_atomic(j.meta, text, strlen(text), 0644)) < 0)
                r = uvm_error_set(err, -r, "write %s: %s", j.meta, strerror(-r));
        if (r >= 0) {
                (void) fs_rm_rf(j.run);
                (void) fs_rm_rf(j.share);
                log_info("qemu: template %s made (boot %lld ms, state %llu bytes)", key,
                         (long long) m.boot_ms, (unsigned long long) m.state_bytes);
        }
        build_clear(&j);
        return r;
}
