/* Port-forward: the agent lives in the pod's network namespace (it setns'd
 * at start, or it is the VM's guest), so it connects to 127.0.0.1:<port>
 * itself, then [::1]:<port>, and a session streams the connection both ways
 * on one stream id. The host's close half-closes (SHUT_WR); the peer's EOF
 * closes the stream toward the host. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/log.h"

#define CONNECT_TIMEOUT_MS 5000

/* A non-blocking connected socket to the loopback address of family, or
 * -errno. */
static int connect_loopback(int family, uint16_t port)
{
        struct sockaddr_in v4 = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct sockaddr_in6 v6 = {.sin6_family = AF_INET6,
                                  .sin6_port = htons(port),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct pollfd p = {fd, POLLOUT, 0};
        socklen_t len = sizeof(int);
        int e = 0, one = 1;

        if (fd < 0)
                return -errno;
        if (connect(fd, family == AF_INET ? (struct sockaddr *) &v4 : (struct sockaddr *) &v6,
                    family == AF_INET ? sizeof(v4) : sizeof(v6)) < 0) {
                if (errno != EINPROGRESS)
                        return -errno;
                if (poll(&p, 1, CONNECT_TIMEOUT_MS) <= 0)
                        return -ETIMEDOUT;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0)
                        return e ? -e : -errno;
        }
        /* Frames carry whole reads already: do not delay small writes too. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return TAKE_FD(fd);
}

static int port_connect(uint16_t port, int *ret_fd, struct uvm_error **err)
{
        int v4 = connect_loopback(AF_INET, port), v6;

        if (v4 >= 0) {
                *ret_fd = v4;
                return 0;
        }
        v6 = connect_loopback(AF_INET6, port);
        if (v6 >= 0) {
                *ret_fd = v6;
                return 0;
        }
        return uvm_error_set(err, -v4, "port %u in the pod: 127.0.0.1: %s; [::1]: %s",
                             (unsigned) port, strerror(-v4), strerror(-v6));
}

int agent_portfwd(struct agent_conn *conn, json_object *req, json_object **ret,
                  struct uvm_error **err)
{
        const char *id = json_string_of(req, "ContainerId");
        _cleanup_(agent_sess_freep) struct agent_sess *s = NULL;
        _cleanup_close_ int fd = -1, wfd = -1;
        int64_t port;
        int r;

        r = agent_json_int(req, "Port", 1, UINT16_MAX, 0, &port, err);
        if (r >= 0 && !STR_EMPTY(id))
                r = uvm_error_set(err, EINVAL, "PortForward is pod-wide: ContainerId must be \"\"");
        if (r >= 0)
                r = agent_sess_new(AGENT_SESS_PORT, "", &s, err);
        if (r >= 0)
                r = port_connect((uint16_t) port, &fd, err);
        if (r >= 0 && (wfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
                r = uvm_error_set(err, errno, "dup: %m");
        if (r < 0)
                return uvm_error_wrap(err, "port-forward");
        /* Separate fds for reading and writing: each has its own epoll interest. */
        agent_sess_out(s, 0, TAKE_FD(fd), 0, true);
        agent_sess_in(s, TAKE_FD(wfd));
        r = agent_pump_add(TAKE_PTR(s), conn, ret, err);
        return r < 0 ? uvm_error_wrap(err, "port-forward to port %u", (unsigned) port) : 0;
}
