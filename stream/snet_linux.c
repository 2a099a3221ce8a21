/* stream/snet.h on Linux: poll(2), an eventfd as the event. */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stream/snet.h"

struct snet_event {
        int fd;
};

int snet_event_new(struct snet_event **ret)
{
        struct snet_event *e = malloc(sizeof(*e));

        if (!e)
                return -ENOMEM;
        e->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (e->fd < 0) {
                int r = -errno;

                free(e);
                return r;
        }
        *ret = e;
        return 0;
}

void snet_event_raise(struct snet_event *e)
{
        uint64_t one = 1;

        (void) !write(e->fd, &one, sizeof(one));
}

void snet_event_clear(struct snet_event *e)
{
        uint64_t n;

        (void) !read(e->fd, &n, sizeof(n));
}

struct snet_event *snet_event_free(struct snet_event *e)
{
        if (e) {
                close(e->fd);
                free(e);
        }
        return NULL;
}

int snet_wait(int fd, int events, struct snet_event *e, int timeout_ms, int *ret_ready,
              bool *ret_raised)
{
        struct pollfd pf[2] = {{fd, 0, 0}, {e ? e->fd : -1, POLLIN, 0}};

        if (events & SNET_IN)
                pf[0].events |= POLLIN;
        if (events & SNET_OUT)
                pf[0].events |= POLLOUT;
        *ret_ready = 0;
        *ret_raised = false;
        if (poll(pf, 2, timeout_ms) < 0)
                return -errno;
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
                *ret_ready |= SNET_IN;
        if (pf[0].revents & (POLLOUT | POLLERR))
                *ret_ready |= SNET_OUT;
        *ret_raised = pf[1].revents & POLLIN;
        return 0;
}

int snet_socket(int family)
{
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        return fd < 0 ? -errno : fd;
}

int snet_errno(void)
{
        return -errno;
}

int snet_accept(int lfd)
{
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

void snet_conn_setup(int fd, unsigned timeout_ms)
{
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        int one = 1;

        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

ssize_t snet_write2(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
        struct iovec iov[2] = {{(void *) a, alen}, {(void *) b, blen}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

        return n < 0 ? (errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno) : n;
}
