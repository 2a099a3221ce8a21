/* stream/snet.h on Windows: WSAPoll, and a loopback socket pair as the
 * event (WSAPoll waits on sockets only). */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include "common/sock.h"
#include "stream/snet.h"

struct snet_event {
        int rd, wr; /* rd is readable while a byte sent on wr is unread */
        LONG raised;
};

static SOCKET handle(int fd)
{
        return (SOCKET) (intptr_t) fd;
}

int snet_errno(void)
{
        return -sock_errno_from_wsa(WSAGetLastError());
}

int snet_event_new(struct snet_event **ret)
{
        struct snet_event *e = calloc(1, sizeof(*e));
        int fds[2] = {-1, -1}, r;

        if (!e)
                return -ENOMEM;
        r = sock_loopback_pair(fds);
        if (r >= 0)
                r = sock_set_nonblocking(fds[0]);
        if (r >= 0)
                r = sock_set_nonblocking(fds[1]);
        if (r < 0) {
                sock_close(fds[0]);
                sock_close(fds[1]);
                free(e);
                return r;
        }
        e->rd = fds[0];
        e->wr = fds[1];
        *ret = e;
        return 0;
}

void snet_event_raise(struct snet_event *e)
{
        /* One byte while raised: the pair's buffer never fills. */
        if (InterlockedExchange(&e->raised, 1) == 0)
                (void) send(handle(e->wr), "e", 1, 0);
}

void snet_event_clear(struct snet_event *e)
{
        char buf[16];

        if (InterlockedExchange(&e->raised, 0) == 1)
                while (recv(handle(e->rd), buf, sizeof(buf), 0) > 0)
                        ;
}

struct snet_event *snet_event_free(struct snet_event *e)
{
        if (e) {
                sock_close(e->rd);
                sock_close(e->wr);
                free(e);
        }
        return NULL;
}

int snet_wait(int fd, int events, struct snet_event *e, int timeout_ms, int *ret_ready,
              bool *ret_raised)
{
        /* POLLRDNORM/POLLWRNORM: WSAPoll refuses flags a provider lacks. */
        WSAPOLLFD p[2];
        ULONG n = 0;
        int fd_at = -1, e_at = -1;

        *ret_ready = 0;
        *ret_raised = false;
        if (fd >= 0 && events) {
                p[n] = (WSAPOLLFD){handle(fd), 0, 0};
                if (events & SNET_IN)
                        p[n].events |= POLLRDNORM;
                if (events & SNET_OUT)
                        p[n].events |= POLLWRNORM;
                fd_at = (int) n++;
        }
        if (e) {
                p[n] = (WSAPOLLFD){handle(e->rd), POLLRDNORM, 0};
                e_at = (int) n++;
        }
        if (n == 0) {
                Sleep(timeout_ms < 0 ? INFINITE : (DWORD) timeout_ms);
                return 0;
        }
        if (WSAPoll(p, n, timeout_ms) == SOCKET_ERROR)
                return snet_errno();
        if (fd_at >= 0) {
                SHORT rv = p[fd_at].revents;

                if (rv & (POLLRDNORM | POLLHUP | POLLERR | POLLNVAL))
                        *ret_ready |= SNET_IN;
                if (rv & (POLLWRNORM | POLLERR))
                        *ret_ready |= SNET_OUT;
        }
        *ret_raised = e_at >= 0 && p[e_at].revents;
        return 0;
}

int snet_socket(int family)
{
        SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                              WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);

        return s == INVALID_SOCKET ? snet_errno() : sock_fd_from_handle(s);
}

int snet_accept(int lfd)
{
        SOCKET s = accept(handle(lfd), NULL, NULL);

        if (s == INVALID_SOCKET)
                return snet_errno();
        SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
        return sock_fd_from_handle(s);
}

void snet_conn_setup(int fd, unsigned timeout_ms)
{
        DWORD ms = timeout_ms;
        BOOL one = TRUE;

        (void) setsockopt(handle(fd), IPPROTO_TCP, TCP_NODELAY, (const char *) &one, sizeof(one));
        (void) setsockopt(handle(fd), SOL_SOCKET, SO_RCVTIMEO, (const char *) &ms, sizeof(ms));
        (void) setsockopt(handle(fd), SOL_SOCKET, SO_SNDTIMEO, (const char *) &ms, sizeof(ms));
}

ssize_t snet_write2(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
        WSABUF bufs[2] = {{alen > INT_MAX ? INT_MAX : (ULONG) alen, (char *) a},
                          {blen > INT_MAX - alen ? 0 : (ULONG) blen, (char *) b}};
        DWORD sent = 0;

        if (WSASend(handle(fd), bufs, 2, &sent, 0, NULL, NULL) == SOCKET_ERROR)
                return snet_errno();
        return (ssize_t) sent;
}
