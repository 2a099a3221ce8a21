#pragma once

/*
 * Connected byte streams for the agent bridge (agent/conn.c), one
 * implementation per platform: sock_linux.c and sock_win.c, picked by
 * //common:sock.
 *
 * An fd is a connected stream socket: on Linux also a pipe or character
 * device (the guest end of a virtio-serial port); on Windows a SOCKET
 * (TCP, AF_HYPERV), held in an int: kernel handles have 32 significant
 * bits on 64-bit Windows too. A thread blocked in sock_wait() is woken by
 * its waker, not by shutting the fd down: a local shutdown() does not wake
 * a WSAPoll() (Wine 8), and closing an fd another thread waits on races
 * with the reuse of its number. Linux wakers are an eventfd; Windows ones a
 * loopback TCP pair, as WSAPoll() waits on sockets only.
 *
 * Functions that can fail return >= 0 on success and -errno on failure;
 * Winsock error codes are mapped to the nearest errno value.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macros.h"

/* Start the socket library once per process (WSAStartup; nothing on Linux).
 * Every function below calls it; a module that makes its own sockets calls
 * it first. Thread-safe. */
int sock_init(void);

/* Whether fd is a socket (send/shutdown apply) rather than another stream. */
bool sock_is_socket(int fd);

int sock_set_nonblocking(int fd);

/* Let a socket hold at least bytes unsent (SO_SNDBUF, beyond the system's
 * cap where privileged): a writer of that much in one go is not left with
 * a rest to wait on. Best effort: 0, or -errno if nothing could be set. */
int sock_set_sndbuf(int fd, int bytes);

/* Read or write up to len bytes without blocking: the count (0 from
 * sock_read: end of stream), -EAGAIN when it would block, or -errno.
 * sock_write never raises SIGPIPE; is_socket is sock_is_socket(fd). */
ssize_t sock_read(int fd, void *buf, size_t len);
ssize_t sock_write(int fd, bool is_socket, const void *buf, size_t len);

/* Shut both directions of a socket down (the peer sees EOF); errors are
 * ignored: the connection is going anyway. */
void sock_shutdown(int fd);

/* Close fd (closesocket on Windows); -1 is ignored. */
void sock_close(int fd);

static inline void sock_closep(int *fd)
{
        if (*fd >= 0)
                sock_close(*fd);
}
#define _cleanup_sock_ _cleanup_(sock_closep)

/* Two connected TCP sockets over 127.0.0.1 (blocking, TCP_NODELAY, not
 * inherited by children): Windows wakers, and tests on both platforms. The
 * accepted end is checked to be the one connected, not a stranger's. */
int sock_loopback_pair(int ret_fds[2]);

/* Wakes threads blocked in sock_wait(). Once woken it stays woken. */
struct sock_waker;

int sock_waker_new(struct sock_waker **ret_waker);
/* Safe from any thread, more than once. */
void sock_waker_wake(struct sock_waker *w);
struct sock_waker *sock_waker_free(struct sock_waker *w);

enum sock_wait_for {
        SOCK_READABLE,
        SOCK_WRITABLE,
};

/* Block until fd is readable or writable (also at EOF or on an error: the
 * next read or write tells which) or w is woken: 1 when fd is ready, 0 when
 * woken (even if fd is ready too), -errno when waiting failed. */
int sock_wait(int fd, enum sock_wait_for what, struct sock_waker *w);

/* strerror() that also knows the network codes: msvcrt says "Unknown
 * error" for every code above ERANGE's neighbours (ECONNRESET,
 * ETIMEDOUT, ...). e is positive. */
const char *sock_strerror(int e);

#ifdef _WIN32
/* The errno value (positive) nearest to a Winsock error code
 * (WSAGetLastError()), EIO when there is none. */
int sock_errno_from_wsa(int code);

/* The int fd of a SOCKET; -EMFILE (after closing it) for a value beyond
 * an int, which no kernel handle is. */
int sock_fd_from_handle(uintptr_t s);
#endif
