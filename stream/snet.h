#pragma once

/*
 * The streaming server's sockets (server.c, sconn.c): the listener, its
 * connections and the wait of a connection's thread, with one file per
 * platform (snet_linux.c: poll and an eventfd; snet_win.c: WSAPoll and a
 * loopback socket pair, as WSAPoll waits on sockets only) and snet.c for
 * what both share (addresses, bind). Byte I/O is common/sock.h's. An fd is
 * a socket (a SOCKET held in an int on Windows, as common/sock.h does).
 * Functions that can fail return -errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define SNET_IN 1  /* readable, at EOF or on an error */
#define SNET_OUT 2 /* writable */

/* Raised from any thread, cleared by the one thread that waits on it
 * (unlike common/sock.h's waker, which stays woken). */
struct snet_event;

int snet_event_new(struct snet_event **ret);
void snet_event_raise(struct snet_event *e);
void snet_event_clear(struct snet_event *e);
struct snet_event *snet_event_free(struct snet_event *e);

/* Wait up to timeout_ms (< 0: no limit) for fd (-1: none) to have one of
 * events or for e (NULL: none) to be raised. *ret_ready: the events fd
 * has; *ret_raised: e is raised. 0, or -errno (-EINTR: try again). */
int snet_wait(int fd, int events, struct snet_event *e, int timeout_ms, int *ret_ready,
              bool *ret_raised);

/* A listening TCP socket on "HOST:PORT" or "[V6]:PORT" (HOST an IP
 * address; port 0: ephemeral), not inherited by children. */
int snet_listen(const char *address, int *ret_fd, struct uvm_error **err);
/* Its address as bound, and the HOST:PORT clients use (a wildcard address
 * becomes loopback: the kubelet, on this node, connects). */
void snet_names(int fd, char *address, size_t address_len, char *url_host, size_t url_host_len);
/* A connection, blocking (see snet_conn_setup), not inherited. */
int snet_accept(int lfd);
/* TCP_NODELAY, and blocking reads and writes that give up after
 * timeout_ms (while the request head is read). */
void snet_conn_setup(int fd, unsigned timeout_ms);
/* a then b in one send, without blocking: the count, -EAGAIN or -errno. */
ssize_t snet_write2(int fd, const void *a, size_t alen, const void *b, size_t blen);

/* Platform parts of snet.c. */
int snet_socket(int family);
int snet_errno(void); /* the last socket call's error, as -errno */
