/*
 * Dialling the agent on Linux (ns and qemu pods): its bridge is a unix
 * socket, in the pod's state dir (ns) or QEMU's chardev socket (qemu).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/client.h"
#include "common/macros.h"
#include "common/platform.h"

#define CONNECT_RETRY_MS 20

/* The address of path; a path too long for sun_path is reached through an
 * O_PATH fd of its directory (the fd must stay open until connect). */
static int addr_for(const char *path, struct sockaddr_un *sa, int *ret_dirfd,
                    struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(path, '/');
        int fd;

        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        *ret_dirfd = -1;
        if (strlen(path) < sizeof(sa->sun_path)) {
                memcpy(sa->sun_path, path, strlen(path) + 1);
                return 0;
        }
        if (!slash || strlen(slash + 1) + 32 >= sizeof(sa->sun_path))
                return uvm_error_set(err, ENAMETOOLONG, "agent socket path '%s' is too long", path);
        dir = strndup(path, (size_t) (slash - path) + 1);
        if (!dir)
                return uvm_error_set(err, ENOMEM, "out of memory");
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return uvm_error_set(err, errno, "open %s: %m", dir);
        snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", fd, slash + 1);
        *ret_dirfd = fd;
        return 0;
}

static bool connect_retryable(int e)
{
        return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EINTR;
}

int agent_client_dial_unix(const char *path, unsigned timeout_ms, int *ret_fd,
                           struct uvm_error **err)
{
        uint64_t deadline = plat_now_ns() + (uint64_t) timeout_ms * 1000000u;
        struct sockaddr_un sa;

        if (STR_EMPTY(path) || !ret_fd)
                return uvm_error_set(err, EINVAL, "agent socket path is empty");
        for (;;) {
                _cleanup_close_ int fd = -1, dirfd = -1;
                int r, e;

                r = addr_for(path, &sa, &dirfd, err);
                if (r < 0)
                        return r;
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return uvm_error_set(err, errno, "socket: %m");
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                e = errno;
                if (!connect_retryable(e) || plat_now_ns() >= deadline)
                        return uvm_error_set(err, e, "connect to the agent at %s: %s", path,
                                             strerror(e));
                usleep(CONNECT_RETRY_MS * 1000);
        }
}

int agent_client_connect(const char *socket_path, unsigned timeout_ms,
                         const struct agent_client_events *ev, struct agent_client **ret,
                         struct uvm_error **err)
{
        int fd = -1, r;

        r = agent_client_dial_unix(socket_path, timeout_ms, &fd, err);
        if (r < 0)
                return r;
        return agent_client_connect_fd(fd, socket_path, timeout_ms, ev, ret, err);
}
