/* The holder of a pod's shared PID namespace, PID 1 of every container in
 * it; for a pod in a user namespace also the owner of the pod's IPC and UTS
 * namespaces, which must be made inside that user namespace (the agent
 * itself stays the host's root, to run the OCI runtime). Whatever a
 * container can reach through /proc/1/ must show nothing of the host, so the
 * holder gets:
 *   - its own mount namespace whose root is an empty, read-only tmpfs
 *     (/proc/1/root, cwd and mountinfo show only that);
 *   - no capabilities (bounding set emptied), uid and gid nobody, no
 *     supplementary groups, no_new_privs;
 *   - no open files, an empty environment;
 *   - uvmd-pause (agent/pause.c), a freestanding program run from a sealed
 *     memfd, so /proc/1/exe and maps lead to no host file; it makes itself
 *     non-dumpable and blocks every signal;
 *   - a tracer: the agent's reaper seizes it (agent_proc.c), so no container
 *     can ptrace it, even with CAP_SYS_PTRACE. */

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/fs.h"

#define NOBODY 65534

extern const unsigned char agent_pause_bin[];
extern const size_t agent_pause_bin_len;

static pid_t holder_pid; /* atomic: the reaper thread reads it */

/* uvmd-pause in a sealed memfd (CLOEXEC: execveat needs only the fd). */
static int pause_memfd(struct uvm_error **err)
{
        int fd = memfd_create("uvmd-pause", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        size_t off = 0;

        if (fd < 0)
                return uvm_error_set(err, errno, "memfd_create: %m");
        while (off < agent_pause_bin_len) {
                ssize_t n = write(fd, agent_pause_bin + off, agent_pause_bin_len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        close(fd);
                        return uvm_error_set(err, errno, "writing uvmd-pause: %m");
                }
                off += (size_t) n;
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                close(fd);
                return uvm_error_set(err, errno, "sealing uvmd-pause: %m");
        }
        return fd;
}

/* No capability left, for a holder whose user namespace does not map nobody. */
static int drop_all_caps(void)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {0};

        return (int) syscall(SYS_capset, &h, d);
}

/* What the holder's root is: an empty tmpfs, read-only from the start. */
static int empty_root(const char *dir)
{
        return mount("tmpfs", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "size=4k,mode=0555");
}

/* An empty read-only tmpfs of this mount namespace stacked on the cwd, which
 * becomes the cwd. Mounts copied from a more privileged namespace are locked
 * and pivot_root refuses them, so the parent's tmpfs cannot be the root. */
static int enter_own_tmpfs(void)
{
        int fs = (int) syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC), m;

        if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
            syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
            syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -1;
        m = (int) syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                  MOUNT_ATTR_NOEXEC);
        if (m < 0 || syscall(SYS_move_mount, m, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -1;
        return fchdir(m);
}

/* The child after a raw clone (in a VM guest the agent has threads by
 * then): an empty root, nothing held, then uvmd-pause. Exit codes 120.. say
 * which step failed.
 * have_root: the cwd is already an empty read-only tmpfs, made by a parent
 * that could still reach dir (see userns_parent). */
static void __attribute__((noreturn)) holder_child(int memfd, const char *dir, bool have_root)
{
        char *argv[] = {"uvmd-pause", NULL}, *envp[] = {NULL};

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                _exit(120);
        if (have_root ? enter_own_tmpfs() < 0 : empty_root(dir) < 0 || chdir(dir) < 0)
                _exit(121);
        /* A VM guest's root is its initramfs, which pivot_root cannot leave
         * (EINVAL): the tmpfs is moved over / instead, as crun --no-pivot
         * does; without CAP_SYS_CHROOT the holder cannot climb out. */
        if (agent_cfg.guest ? mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0
                            : syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0)
                _exit(122);
        if (chdir("/") < 0)
                _exit(122);
        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        _exit(124);
        /* Without KEEPCAPS, leaving uid 0 clears the permitted and effective sets.
         * Raw system calls: after a raw clone of a multi-threaded agent (a VM
         * guest's, when the pod's settings come), glibc's wrappers would wait
         * forever for the parent's threads to change their ids too. */
        if (syscall(SYS_setgroups, 0, NULL) < 0)
                _exit(125);
        if (syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) < 0 ||
            syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) < 0) {
                if (errno != EINVAL || drop_all_caps() < 0)
                        _exit(125);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(125);
        for (int fd = 0; fd < 3; fd++)
                close(fd); /* the rest are CLOEXEC */
        syscall(SYS_execveat, memfd, "", argv, envp, AT_EMPTY_PATH);
        _exit(126);
}

/* A pod in a user namespace: this forked child makes the holder's root while
 * it is still the host's root (the pod's root cannot reach the agent's state
 * dir), joins the pod's user namespace as its root, makes the pod's
 * namespaces there (in_userns), then clones the holder and reports its pid
 * ("<pid>") or what failed ("!<message>") on fd. */
static void __attribute__((noreturn))
userns_parent(int memfd, int fd, bool new_pid, int (*in_userns)(struct uvm_error **err))
{
        _cleanup_error_ struct uvm_error *e = NULL;
        const char *dir = agent_cfg.state_dir;
        char msg[512];
        pid_t pid;

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            empty_root(dir) < 0 || chdir(dir) < 0)
                snprintf(msg, sizeof(msg), "!the holder's root: %m");
        else if (setns(agent_cfg.userns_fd, CLONE_NEWUSER) < 0)
                snprintf(msg, sizeof(msg), "!join the user namespace: %m");
        else if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
                snprintf(msg, sizeof(msg), "!become root of the user namespace: %m");
        else if (in_userns(&e) < 0)
                snprintf(msg, sizeof(msg), "!%s", e->msg);
        else {
                pid = (pid_t) syscall(SYS_clone,
                                      CLONE_NEWNS | (new_pid ? CLONE_NEWPID : 0) | SIGCHLD, NULL,
                                      NULL, NULL, NULL);
                if (pid == 0)
                        holder_child(memfd, dir, true);
                if (pid < 0)
                        snprintf(msg, sizeof(msg), "!clone the holder: %m");
                else
                        snprintf(msg, sizeof(msg), "%d", (int) pid);
        }
        (void) !write(fd, msg, strlen(msg));
        _exit(0);
}

/* The holder's pid from userns_parent, which is reaped here. */
static pid_t holder_in_userns(int memfd, bool new_pid, int (*in_userns)(struct uvm_error **err),
                              struct uvm_error **err)
{
        char msg[512];
        int p[2], status;
        ssize_t n;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return uvm_error_set(err, errno, "pipe: %m");
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                userns_parent(memfd, p[1], new_pid, in_userns);
        }
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return uvm_error_set(err, errno, "fork: %m");
        }
        do
                n = read(p[0], msg, sizeof(msg) - 1);
        while (n < 0 && errno == EINTR);
        close(p[0]);
        (void) waitpid(pid, &status, 0);
        if (n <= 0)
                return uvm_error_set(err, ECHILD, "the holder's parent died");
        msg[n] = '\0';
        if (msg[0] == '!')
                return uvm_error_set(err, EPERM, "pod user namespace: %s", msg + 1);
        return (pid_t) atoi(msg);
}

int agent_pidns_start(bool new_pid, int (*in_userns)(struct uvm_error **err),
                      struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int memfd = pause_memfd(err);
        pid_t pid;
        int r;

        if (memfd < 0)
                return memfd;
        if (in_userns) {
                pid = holder_in_userns(memfd, new_pid, in_userns, err);
                if (pid < 0)
                        return pid;
        } else {
                pid = (pid_t) syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, NULL, NULL,
                                      NULL, NULL);
                if (pid < 0)
                        return uvm_error_set(err, errno, "clone a PID namespace: %m");
                if (pid == 0)
                        holder_child(memfd, agent_cfg.state_dir, false);
        }
        __atomic_store_n(&holder_pid, pid, __ATOMIC_RELEASE);
        /* Wakes the reaper (SIGCHLD goes to its signalfd), which seizes the
         * holder: in a guest it was started before the holder existed. */
        kill(getpid(), SIGCHLD);
        if (asprintf(&path, "%s/pidns.pid", agent_cfg.state_dir) < 0 ||
            asprintf(&text, "%d\n", (int) pid) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, text, strlen(text), 0600);
        return r < 0 ? uvm_error_set(err, -r, "write %s: %s", path, strerror(-r)) : 0;
}

pid_t agent_pidns_holder(void)
{
        return __atomic_load_n(&holder_pid, __ATOMIC_ACQUIRE);
}

void agent_pidns_stop(void)
{
        if (holder_pid > 0) {
                kill(holder_pid, SIGKILL);
                (void) waitpid(holder_pid, NULL, __WALL);
        }
}
