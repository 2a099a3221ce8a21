/* The agent as a VM's PID 1 (`-kernel ... -initrd` with /init = uvmd-agent):
 * the mounts a container runtime needs, the kernel modules listed by the
 * image build (/etc/uvmd/modules, in load order; /etc/uvmd/modules.hyperv
 * too in a Hyper-V VM), and the virtio-serial ports the host talks and
 * listens on (or the vsock port of a Hyper-V VM). See docs/guest.md. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/cmdline.h"
#include "common/fs.h"
#include "common/log.h"

#define MODULES_LIST "/etc/uvmd/modules"
#define HYPERV_MODULES_LIST "/etc/uvmd/modules.hyperv"
/* Set by the hcs driver (sandbox/drivers/hcs/docs.c): the host reaches the
 * agent over HvSocket, which is vsock in the guest, instead of a
 * virtio-serial port. */
#define BRIDGE_VSOCK_KEY "uvmd.bridge_vsock"
#define PORTS_DIR "/sys/class/virtio-ports"

struct guest_mount {
        const char *src, *target, *type;
        unsigned long flags;
        const char *data;
};

static const struct guest_mount mounts[] = {
        {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
        {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=620"},
        {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
        {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
        {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
        /* cgroup v2 alone: what crun in the guest manages containers with. */
        {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
};

static int mount_all(struct uvm_error **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
                const struct guest_mount *m = &mounts[i];

                if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
                        return uvm_error_set(err, errno, "mkdir %s: %m", m->target);
                if (mount(m->src, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY)
                        return uvm_error_set(err, errno, "mount %s on %s: %m", m->type, m->target);
        }
        /* Let containers' cgroups use every controller the kernel has. */
        if (fs_write_string("/sys/fs/cgroup/cgroup.subtree_control",
                            "+cpu +cpuset +io +memory +pids") < 0)
                log_warn("guest: enabling cgroup controllers: %m, ignoring");
        return 0;
}

/* finit_module for each line of the list; a module already there is fine.
 * strict: the first failure is the error; else each is a warning (the
 * Hyper-V list on a hypervisor that is not Hyper-V: the bridge's listener
 * still comes up, and the host's connect says the rest). */
static int load_modules(const char *path, bool strict, struct uvm_error **err)
{
        _cleanup_free_ char *list = NULL;
        char *save = NULL;
        int r = fs_read_file(path, 64 << 10, &list, NULL), n = 0;

        if (r == -ENOENT && strict)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        for (char *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                _cleanup_close_ int fd = -1;
                const char *what = "open";

                if (l[0] != '/')
                        continue;
                fd = open(l, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        what = "load";
                        if (syscall(SYS_finit_module, fd, "", 0) == 0 || errno == EEXIST) {
                                n++;
                                continue;
                        }
                }
                if (strict)
                        return uvm_error_set(err, errno, "%s module %s: %m", what, l);
                log_warn("guest: %s module %s: %m, going on", what, l);
        }
        log_debug("guest: %d modules loaded from %s", n, path);
        return 0;
}

/* uvmd.bridge_vsock=PORT from the kernel command line into agent_cfg. */
static int read_cmdline(struct uvm_error **err)
{
        _cleanup_free_ char *cmdline = NULL;
        int r = fs_read_file("/proc/cmdline", 4096, &cmdline, NULL);

        if (r < 0)
                return uvm_error_set(err, -r, "read /proc/cmdline: %s", strerror(-r));
        r = agent_cmdline_u32(cmdline, BRIDGE_VSOCK_KEY, &agent_cfg.bridge_vsock_port);
        if (r < 0)
                return uvm_error_set(err, EINVAL, "kernel command line: %s is not a port number",
                                     BRIDGE_VSOCK_KEY);
        return 0;
}

int agent_guest_port(const char *name, char *ret, size_t len)
{
        DIR *d = opendir(PORTS_DIR);
        struct dirent *e;
        int r = -ENOENT;

        while (d && (e = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL;

                if (e->d_name[0] == '.' || asprintf(&path, PORTS_DIR "/%s/name", e->d_name) < 0 ||
                    fs_read_file(path, 256, &text, NULL) < 0)
                        continue;
                text[strcspn(text, "\n")] = '\0';
                if (STR_EQ(text, name)) {
                        snprintf(ret, len, "/dev/%s", e->d_name);
                        r = 0;
                        break;
                }
        }
        if (d)
                closedir(d);
        return r;
}

/* The agent's records go to the "log" port when the host gave one (else they
 * stay on the console). Never blocking: a line the host cannot take now is
 * lost, not the agent. */
static void log_to_port(void)
{
        char port[64];
        int fd;

        if (agent_guest_port("log", port, sizeof(port)) < 0)
                return;
        fd = open(port, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                log_warn("guest: log port %s: %m, logging to the console", port);
        if (fd > STDERR_FILENO)
                close(fd);
}

int agent_guest_boot(struct uvm_error **err)
{
        int r = mount_all(err);

        if (r >= 0)
                r = read_cmdline(err);
        if (r >= 0)
                r = load_modules(MODULES_LIST, true, err);
        if (r >= 0 && agent_cfg.bridge_vsock_port)
                r = load_modules(HYPERV_MODULES_LIST, false, err);
        if (r < 0)
                return r;
        log_to_port();
        agent_cfg.state_dir = "/run/uvmd-agent";
        /* Not runc: see guest/build.sh. */
        agent_cfg.runtime = "/usr/bin/crun";
        agent_cfg.own_netns = true; /* the VM's one network namespace is the pod's */
        agent_cfg.userns_fd = -1;
        agent_cfg.guest = true;
        return 0;
}
