/* The Windows side of common/sock.h (mingw-w64): Winsock 2, WSAPoll() and a
 * loopback TCP pair as the waker. WSAStartup() runs once and is never
 * undone: sockets live as long as the process. */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include "common/macros.h"
#include "common/sock.h"

struct sock_waker {
        int rd, wr; /* a loopback pair: rd is readable once a byte was sent on wr */
        LONG woken; /* one byte is sent, the first time */
};

static INIT_ONCE init_once = INIT_ONCE_STATIC_INIT;
static int init_rc;

int sock_errno_from_wsa(int code)
{
        switch (code) {
        case WSAEWOULDBLOCK:
        case WSAEINPROGRESS:
                return EAGAIN;
        case WSAEINTR:
                return EINTR;
        case WSAEBADF:
        case WSAENOTSOCK:
                return ENOTSOCK;
        case WSAEACCES:
                return EACCES;
        case WSAEFAULT:
        case WSAEINVAL:
                return EINVAL;
        case WSAEMFILE:
                return EMFILE;
        case WSAENOBUFS:
                return ENOBUFS;
        case WSAEAFNOSUPPORT:
        case WSAEPFNOSUPPORT:
        case WSAEPROTONOSUPPORT:
        case WSAESOCKTNOSUPPORT:
                return EAFNOSUPPORT;
        case WSAEADDRINUSE:
                return EADDRINUSE;
        case WSAEADDRNOTAVAIL:
                return EADDRNOTAVAIL;
        case WSAENETDOWN:
                return ENETDOWN;
        case WSAENETUNREACH:
                return ENETUNREACH;
        case WSAEHOSTUNREACH:
                return EHOSTUNREACH;
        case WSAECONNABORTED:
                return ECONNABORTED;
        case WSAECONNRESET:
        case WSAENETRESET:
                return ECONNRESET;
        case WSAECONNREFUSED:
                return ECONNREFUSED;
        case WSAETIMEDOUT:
                return ETIMEDOUT;
        case WSAENOTCONN:
                return ENOTCONN;
        case WSAESHUTDOWN:
                return EPIPE;
        case WSAEISCONN:
                return EISCONN;
        case WSAEMSGSIZE:
                return EMSGSIZE;
        case WSAEOPNOTSUPP:
                return EOPNOTSUPP;
        case WSASYSNOTREADY:
        case WSAVERNOTSUPPORTED:
        case WSANOTINITIALISED:
                return ENOSYS;
        default:
                return EIO;
        }
}

const char *sock_strerror(int e)
{
        static const struct {
                int code;
                const char *text;
        } texts[] = {
                {EADDRINUSE, "Address already in use"},
                {EADDRNOTAVAIL, "Cannot assign requested address"},
                {EAFNOSUPPORT, "Address family not supported by protocol"},
                {EALREADY, "Operation already in progress"},
                {EBADMSG, "Bad message"},
                {ECANCELED, "Operation canceled"},
                {ECONNABORTED, "Software caused connection abort"},
                {ECONNREFUSED, "Connection refused"},
                {ECONNRESET, "Connection reset by peer"},
                {EHOSTUNREACH, "No route to host"},
                {EINPROGRESS, "Operation now in progress"},
                {EISCONN, "Transport endpoint is already connected"},
                {EMSGSIZE, "Message too long"},
                {ENETDOWN, "Network is down"},
                {ENETRESET, "Network dropped connection on reset"},
                {ENETUNREACH, "Network is unreachable"},
                {ENOBUFS, "No buffer space available"},
                {ENOTCONN, "Transport endpoint is not connected"},
                {ENOTSOCK, "Socket operation on non-socket"},
                {EOPNOTSUPP, "Operation not supported"},
                {EPROTO, "Protocol error"},
                {ETIMEDOUT, "Connection timed out"},
                {EWOULDBLOCK, "Resource temporarily unavailable"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
                if (texts[i].code == e)
                        return texts[i].text;
        return strerror(e);
}

static int wsa_error(void)
{
        return -sock_errno_from_wsa(WSAGetLastError());
}

static SOCKET handle(int fd)
{
        /* -1 becomes INVALID_SOCKET (all ones), as it should. */
        return (SOCKET) (intptr_t) fd;
}

int sock_fd_from_handle(uintptr_t s)
{
        if (s > INT_MAX) {
                closesocket((SOCKET) s);
                return -EMFILE;
        }
        return (int) s;
}

static BOOL CALLBACK startup(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
        WSADATA data;
        int r = WSAStartup(MAKEWORD(2, 2), &data);

        init_rc = r ? -sock_errno_from_wsa(r) : 0;
        return TRUE;
}

int sock_init(void)
{
        InitOnceExecuteOnce(&init_once, startup, NULL, NULL);
        return init_rc;
}

bool sock_is_socket(int fd)
{
        int type, len = sizeof(type);

        if (sock_init() < 0)
                return false;
        return getsockopt(handle(fd), SOL_SOCKET, SO_TYPE, (char *) &type, &len) == 0;
}

int sock_set_nonblocking(int fd)
{
        u_long one = 1;

        return ioctlsocket(handle(fd), FIONBIO, &one) == 0 ? 0 : wsa_error();
}

int sock_set_sndbuf(int fd, int bytes)
{
        return setsockopt(handle(fd), SOL_SOCKET, SO_SNDBUF, (const char *) &bytes,
                          sizeof(bytes)) == 0
                       ? 0
                       : wsa_error();
}

ssize_t sock_read(int fd, void *buf, size_t len)
{
        int n = recv(handle(fd), buf, len > INT_MAX ? INT_MAX : (int) len, 0);

        return n == SOCKET_ERROR ? wsa_error() : n;
}

ssize_t sock_write(int fd, bool is_socket, const void *buf, size_t len)
{
        /* Windows has no SIGPIPE; a gone peer is WSAECONNRESET/WSAESHUTDOWN. */
        int n = send(handle(fd), buf, len > INT_MAX ? INT_MAX : (int) len, 0);

        return n == SOCKET_ERROR ? wsa_error() : n;
}

void sock_shutdown(int fd)
{
        (void) shutdown(handle(fd), SD_BOTH);
}

void sock_close(int fd)
{
        if (fd >= 0)
                closesocket(handle(fd));
}

/* A TCP/IPv4 socket children do not inherit (SOCK_CLOEXEC's equivalent). */
static int tcp_socket(void)
{
        SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                              WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);

        return s == INVALID_SOCKET ? wsa_error() : sock_fd_from_handle(s);
}

static int set_nodelay(int fd)
{
        BOOL one = TRUE;

        return setsockopt(handle(fd), IPPROTO_TCP, TCP_NODELAY, (const char *) &one, sizeof(one)) ==
                               0
                       ? 0
                       : wsa_error();
}

/* Accept the connection of a (connected, not yet accepted); 0 or -errno. */
static int accept_peer(int lfd, int a, int *ret_b)
{
        struct sockaddr_in mine, peer;
        int len = sizeof(peer);
        SOCKET s;
        int b;

        s = accept(handle(lfd), (struct sockaddr *) &peer, &len);
        if (s == INVALID_SOCKET)
                return wsa_error();
        b = sock_fd_from_handle(s);
        if (b < 0)
                return b;
        /* An accepted socket copies the listener's flags; make sure. */
        SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
        len = sizeof(mine);
        if (getsockname(handle(a), (struct sockaddr *) &mine, &len) != 0) {
                int r = wsa_error();

                sock_close(b);
                return r;
        }
        if (mine.sin_port != peer.sin_port || mine.sin_addr.s_addr != peer.sin_addr.s_addr) {
                sock_close(b);
                return -ECONNREFUSED; /* someone else got in first */
        }
        *ret_b = b;
        return 0;
}

int sock_loopback_pair(int ret_fds[2])
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        _cleanup_sock_ int lfd = -1, a = -1, b = -1;
        int len = sizeof(sa), r;

        r = sock_init();
        if (r < 0)
                return r;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lfd = tcp_socket();
        if (lfd < 0)
                return lfd;
        if (bind(handle(lfd), (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
            listen(handle(lfd), 1) != 0 ||
            getsockname(handle(lfd), (struct sockaddr *) &sa, &len) != 0)
                return wsa_error();
        a = tcp_socket();
        if (a < 0)
                return a;
        if (connect(handle(a), (struct sockaddr *) &sa, sizeof(sa)) != 0)
                return wsa_error();
        r = accept_peer(lfd, a, &b);
        if (r >= 0)
                r = set_nodelay(a);
        if (r >= 0)
                r = set_nodelay(b);
        if (r < 0)
                return r;
        ret_fds[0] = TAKE_FD(a);
        ret_fds[1] = TAKE_FD(b);
        return 0;
}

int sock_waker_new(struct sock_waker **ret_waker)
{
        struct sock_waker *w = calloc(1, sizeof(*w));
        int fds[2], r;

        if (!w)
                return -ENOMEM;
        r = sock_loopback_pair(fds);
        if (r < 0) {
                free(w);
                return r;
        }
        w->rd = fds[0];
        w->wr = fds[1];
        *ret_waker = w;
        return 0;
}

void sock_waker_wake(struct sock_waker *w)
{
        /* One byte, once: it is never read, so rd stays readable. */
        if (InterlockedExchange(&w->woken, 1) == 0)
                (void) send(handle(w->wr), "w", 1, 0);
}

struct sock_waker *sock_waker_free(struct sock_waker *w)
{
        if (!w)
                return NULL;
        sock_close(w->rd);
        sock_close(w->wr);
        free(w);
        return NULL;
}

int sock_wait(int fd, enum sock_wait_for what, struct sock_waker *w)
{
        /* POLLRDNORM/POLLWRNORM: WSAPoll refuses flags a provider lacks
         * (POLLPRI, POLLRDBAND on some). */
        WSAPOLLFD p[2] = {
                {handle(fd), what == SOCK_WRITABLE ? POLLWRNORM : POLLRDNORM, 0},
                {handle(w->rd), POLLRDNORM, 0},
        };

        if (WSAPoll(p, 2, -1) == SOCKET_ERROR)
                return wsa_error();
        return p[1].revents ? 0 : 1;
}
