/* The holder of a pod's shared PID namespace, PID 1 of every container in
 * it. Whatever a container can reach through /proc/1/ must show nothing of
 * the host, so the holder gets:
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

static pid_t holder_pid;

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

/* The child after clone (the agent is still single-threaded): an empty root,
 * nothing held, then uvmd-pause. Exit codes 120.. say which step failed. */
static void __attribute__((noreturn)) holder_child(int memfd, const char *dir)
{
        char *argv[] = {"uvmd-pause", NULL}, *envp[] = {NULL};

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                _exit(120);
        if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") <
                    0 ||
            chdir(dir) < 0)
                _exit(121);
        if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                _exit(122);
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0)
                _exit(123);
        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        _exit(124);
        /* Without KEEPCAPS, leaving uid 0 clears the permitted and effective sets. */
        if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(125);
        for (int fd = 0; fd < 3; fd++)
                close(fd); /* the rest are CLOEXEC */
        syscall(SYS_execveat, memfd, "", argv, envp, AT_EMPTY_PATH);
        _exit(126);
}

int agent_pidns_start(struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int memfd = pause_memfd(err);
        pid_t pid;
        int r;

        if (memfd < 0)
                return memfd;
        pid = (pid_t) syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL,
                              NULL);
        if (pid < 0)
                return uvm_error_set(err, errno, "clone a PID namespace: %m");
        if (pid == 0)
                holder_child(memfd, agent_cfg.state_dir);
        holder_pid = pid;
        if (asprintf(&path, "%s/pidns.pid", agent_cfg.state_dir) < 0 ||
            asprintf(&text, "%d\n", (int) pid) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, text, strlen(text), 0600);
        return r < 0 ? uvm_error_set(err, -r, "write %s: %s", path, strerror(-r)) : 0;
}

pid_t agent_pidns_holder(void)
{
        return holder_pid;
}

void agent_pidns_stop(void)
{
        if (holder_pid > 0) {
                kill(holder_pid, SIGKILL);
                (void) waitpid(holder_pid, NULL, __WALL);
        }
}
