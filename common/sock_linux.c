/* The Linux side of common/sock.h: poll(2) and an eventfd waker. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/sock.h"

struct sock_waker {
        int fd; /* eventfd, readable once woken (never drained) */
};

const char *sock_strerror(int e)
{
        return strerror(e);
}

int sock_init(void)
{
        return 0;
}

bool sock_is_socket(int fd)
{
        socklen_t len;
        int type;

        len = sizeof(type);
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

int sock_set_nonblocking(int fd)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int sock_set_sndbuf(int fd, int bytes)
{
        int got = 0;
        socklen_t len = sizeof(got);

        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) < 0)
                return -errno;
        /* The kernel doubles what it is given, up to net.core.wmem_max. */
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 && got / 2 >= bytes)
                return 0;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes));
        return 0;
}

ssize_t sock_read(int fd, void *buf, size_t len)
{
        ssize_t n = read(fd, buf, len);

        return n < 0 ? -errno : n;
}

ssize_t sock_write(int fd, bool is_socket, const void *buf, size_t len)
{
        /* MSG_NOSIGNAL: a peer gone must be -EPIPE here, not a SIGPIPE for
         * the whole daemon. A character device raises none. */
        ssize_t n = is_socket ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len);

        return n < 0 ? -errno : n;
}

void sock_shutdown(int fd)
{
        (void) shutdown(fd, SHUT_RDWR);
}

void sock_close(int fd)
{
        if (fd >= 0)
                close(fd);
}

static int set_nodelay(int fd)
{
        int one = 1;

        return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

int sock_loopback_pair(int ret_fds[2])
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct sockaddr_in mine, peer;
        socklen_t len = sizeof(sa);
        _cleanup_close_ int lfd = -1, a = -1, b = -1;

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (a < 0 || connect(a, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (b < 0)
                return -errno;
        len = sizeof(mine);
        if (getsockname(a, (struct sockaddr *) &mine, &len) < 0)
                return -errno;
        len = sizeof(peer);
        if (getpeername(b, (struct sockaddr *) &peer, &len) < 0)
                return -errno;
        if (mine.sin_port != peer.sin_port || mine.sin_addr.s_addr != peer.sin_addr.s_addr)
                return -ECONNREFUSED; /* someone else got in first */
        if (set_nodelay(a) < 0 || set_nodelay(b) < 0)
                return -errno;
        ret_fds[0] = TAKE_FD(a);
        ret_fds[1] = TAKE_FD(b);
        return 0;
}

int sock_waker_new(struct sock_waker **ret_waker)
{
        struct sock_waker *w = malloc(sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->fd < 0) {
                int r = -errno;

                free(w);
                return r;
        }
        *ret_waker = w;
        return 0;
}

void sock_waker_wake(struct sock_waker *w)
{
        uint64_t one = 1;

        /* Only fails when the counter would overflow: it is readable then. */
        (void) !write(w->fd, &one, sizeof(one));
}

struct sock_waker *sock_waker_free(struct sock_waker *w)
{
        if (!w)
                return NULL;
        close(w->fd);
        free(w);
        return NULL;
}

int sock_wait(int fd, enum sock_wait_for what, struct sock_waker *w)
{
        for (;;) {
                struct pollfd p[2] = {
                        {fd, what == SOCK_WRITABLE ? POLLOUT : POLLIN, 0},
                        {w->fd, POLLIN, 0},
                };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                return p[1].revents ? 0 : 1;
        }
}
