/* posix_spawn of iproute2's ip: stdin and stdout on /dev/null, a bounded
 * tail of stderr kept for the error message, a deadline, always reaped. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/nic_ip.h"

#define IP_TIMEOUT_MS 10000
#define IP_STDERR_MAX 512
#define IP_CMDLINE_MAX 256

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_ip(const char *bin, char *const *argv, int errfd, pid_t *ret_pid)
{
        static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        sigemptyset(&none);
        sigfillset(&all);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, errfd, 2);
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        posix_spawnattr_init(&attr);
        /* the daemon blocks its termination signals in every thread */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        r = -posix_spawn(ret_pid, bin, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

/* Read stderr until EOF or the deadline; keep the first IP_STDERR_MAX bytes
 * (ip says what went wrong first). -ETIMEDOUT when the deadline passed. */
static int collect_stderr(int fd, char *buf, size_t *len)
{
        long long deadline = now_ms() + IP_TIMEOUT_MS;
        char chunk[512];

        for (;;) {
                struct pollfd p = {fd, POLLIN, 0};
                long long left = deadline - now_ms();
                ssize_t n;
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return 0;
                if (*len < IP_STDERR_MAX) {
                        size_t take = (size_t) n < IP_STDERR_MAX - *len ? (size_t) n
                                                                        : IP_STDERR_MAX - *len;
                        memcpy(buf + *len, chunk, take);
                        *len += take;
                }
        }
}

static int errno_of(const char *msg)
{
        if (strstr(msg, "Cannot find device") || strstr(msg, "No such device"))
                return ENOENT;
        if (strstr(msg, "File exists"))
                return EEXIST;
        if (strstr(msg, "Device or resource busy"))
                return EBUSY;
        if (strstr(msg, "Invalid argument") || strstr(msg, "Error: ") ||
            strstr(msg, "unreachable") || strstr(msg, "invalid"))
                return EINVAL;
        return EIO;
}

static void cmdline(const char *const *args, char *buf, size_t size)
{
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; args[i] && off + 1 < size; i++) {
                int n = snprintf(buf + off, size - off, "%s%s", i ? " " : "", args[i]);
                if (n < 0)
                        break;
                off += (size_t) n;
        }
}

int nic_ip_run(const char *const *args, struct uvm_error **err)
{
        char bin[64];
        char *argv[NIC_IP_MAX_ARGS + 2];
        char msg[IP_STDERR_MAX + 1], cmd[IP_CMDLINE_MAX];
        int fds[2] = {-1, -1}, status = 0, r;
        size_t n = 0, len = 0;
        pid_t pid = 0;

        if (fs_find_tool("ip", bin, sizeof(bin)) < 0)
                return uvm_error_set(err, ENOENT, "the ip command (iproute2) is not installed");
        argv[n++] = "ip";
        for (; args[n - 1]; n++) {
                if (n > NIC_IP_MAX_ARGS)
                        return uvm_error_set(err, E2BIG, "ip: too many arguments");
                argv[n] = (char *) args[n - 1];
        }
        argv[n] = NULL;
        cmdline(args, cmd, sizeof(cmd));
        if (pipe2(fds, O_CLOEXEC) < 0)
                return uvm_error_set(err, errno, "pipe: %s", strerror(errno));
        r = spawn_ip(bin, argv, fds[1], &pid);
        close(fds[1]);
        if (r < 0) {
                close(fds[0]);
                return uvm_error_set(err, -r, "cannot start %s: %s", bin, strerror(-r));
        }
        r = collect_stderr(fds[0], msg, &len);
        close(fds[0]);
        if (r < 0)
                kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r == -ETIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT, "ip %s: timed out after %d ms, killed", cmd,
                                     IP_TIMEOUT_MS);
        if (r < 0)
                return uvm_error_set(err, -r, "ip %s: %s", cmd, strerror(-r));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        msg[len] = '\0';
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
                msg[--len] = '\0';
        for (size_t i = 0; i < len; i++)
                if (msg[i] == '\n')
                        msg[i] = ' ';
        log_debug("ip %s failed: %s", cmd, msg);
        return uvm_error_set(err, errno_of(msg), "ip %s: %s", cmd,
                             len ? msg : "failed without a message");
}
