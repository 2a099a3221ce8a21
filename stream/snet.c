/* What both platforms share of stream/snet.h: addresses, bind, listen. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "common/sock.h"
#include "stream/snet.h"

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_address(const char *a, struct sockaddr_storage *ss, socklen_t *len,
                         struct uvm_error **err)
{
        char host[64];
        const char *colon = strrchr(a, ':');
        char *end;
        long port;

        if (!colon || (size_t) (colon - a) >= sizeof(host))
                return uvm_error_set(err, EINVAL, "stream address '%s': HOST:PORT", a);
        port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535 || end == colon + 1)
                return uvm_error_set(err, EINVAL, "stream address '%s': bad port", a);
        if (a[0] == '[' && colon > a && colon[-1] == ']') {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;

                snprintf(host, sizeof(host), "%.*s", (int) (colon - a - 2), a + 1);
                memset(s6, 0, sizeof(*s6));
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t) port);
                *len = sizeof(*s6);
                if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
                        return 0;
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) ss;

                snprintf(host, sizeof(host), "%.*s", (int) (colon - a), a);
                memset(s4, 0, sizeof(*s4));
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t) port);
                *len = sizeof(*s4);
                if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
                        return 0;
        }
        return uvm_error_set(err, EINVAL, "stream address '%s': the host must be an IP address", a);
}

int snet_listen(const char *address, int *ret_fd, struct uvm_error **err)
{
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int one = 1, fd, r = sock_init();

        if (r < 0)
                return uvm_error_set(err, -r, "sockets: %s", sock_strerror(-r));
        r = parse_address(address, &ss, &len, err);
        if (r < 0)
                return r;
        fd = snet_socket(ss.ss_family);
        if (fd < 0)
                return uvm_error_set(err, -fd, "stream socket: %s", sock_strerror(-fd));
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (const void *) &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, len) != 0 || listen(fd, 128) != 0) {
                r = snet_errno();
                sock_close(fd);
                return uvm_error_set(err, -r, "stream server on %s: %s", address,
                                     sock_strerror(-r));
        }
        *ret_fd = fd;
        return 0;
}

void snet_names(int fd, char *address, size_t address_len, char *url_host, size_t url_host_len)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[64];

        if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
                return;
        if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

                inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
                snprintf(address, address_len, "[%s]:%u", host, ntohs(s6->sin6_port));
                snprintf(url_host, url_host_len, "[%s]:%u",
                         IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? "::1" : host,
                         ntohs(s6->sin6_port));
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

                inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
                snprintf(address, address_len, "%s:%u", host, ntohs(s4->sin_port));
                snprintf(url_host, url_host_len, "%s:%u",
                         s4->sin_addr.s_addr == htonl(INADDR_ANY) ? "127.0.0.1" : host,
                         ntohs(s4->sin_port));
        }
}
