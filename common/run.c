/* One helper command run to its end, its stdout captured. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/run.h"

extern char **environ;

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_piped(char *const *argv, int out_fd, pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, all;
        int r;

        sigemptyset(&none);
        sigfillset(&all);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_init(&at);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &all);
        r = -posix_spawn(ret_pid, argv[0], &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        return r;
}

/* Read until EOF, the bound or the deadline; what is beyond max is drained. */
static int collect(int fd, long long deadline, size_t max, char *buf, size_t *len)
{
        for (;;) {
                struct pollfd p = {fd, POLLIN, 0};
                long long left = deadline - now_ms();
                char sink[4096];
                ssize_t n;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                        return -errno;
                if (!p.revents)
                        continue;
                n = *len < max ? read(fd, buf + *len, max - *len) : read(fd, sink, sizeof(sink));
                if (n < 0 && errno != EINTR && errno != EAGAIN)
                        return -errno;
                if (n == 0)
                        return 0;
                if (n > 0 && *len < max)
                        *len += (size_t) n;
        }
}

int run_capture(char *const *argv, unsigned timeout_ms, size_t max_out, char **ret_out,
                int *ret_status)
{
        _cleanup_free_ char *buf = malloc(max_out + 1);
        int fds[2], r, status = 0;
        size_t len = 0;
        pid_t pid = 0;

        if (!buf)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        r = spawn_piped(argv, fds[1], &pid);
        if (r < 0)
                pid = 0;
        close(fds[1]);
        if (r == 0)
                r = collect(fds[0], now_ms() + timeout_ms, max_out, buf, &len);
        close(fds[0]);
        if (r < 0 && pid > 0)
                kill(pid, SIGKILL);
        if (pid > 0)
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
        if (r < 0)
                return r;
        buf[len] = '\0';
        *ret_out = TAKE_PTR(buf);
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 0;
}
