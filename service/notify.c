/* sd_notify's datagram, written out (notify.h). */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "service/notify.h"

static char address[sizeof(((struct sockaddr_un *) 0)->sun_path) + 1];
static bool enabled;

void notify_set_socket(const char *addr)
{
        enabled = addr && *addr && strlen(addr) < sizeof(address);
        if (enabled)
                strcpy(address, addr);
        else if (addr && *addr)
                log_warn("NOTIFY_SOCKET \"%.64s...\" is too long, ignoring", addr);
}

void notify_init(void)
{
        notify_set_socket(getenv("NOTIFY_SOCKET"));
        unsetenv("NOTIFY_SOCKET");
}

bool notify_enabled(void)
{
        return enabled;
}

/* The socket's address: a path ("/run/systemd/notify"), or an abstract
 * name ("@name": the '@' becomes the leading NUL). */
static int notify_addr(struct sockaddr_un *sa, socklen_t *ret_len)
{
        size_t n = strlen(address);

        if (address[0] != '/' && address[0] != '@')
                return -EAFNOSUPPORT; /* vsock: not for uvmd */
        if (n < 2 || n >= sizeof(sa->sun_path))
                return -EINVAL;
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path, address, n);
        if (address[0] == '@')
                sa->sun_path[0] = '\0';
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n +
                                (address[0] == '/' ? 1 : 0));
        return 0;
}

int notify_send(const char *state)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        if (!enabled)
                return 0;
        r = notify_addr(&sa, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &sa, len) < 0)
                return -errno;
        return 1;
}

int notify_sendf(const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        int n, r;

        if (!enabled)
                return 0;
        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        r = notify_send(buf); /* a longer STATUS= is cut, still one message */
        if (r < 0)
                log_debug("sd_notify: %s, ignoring", strerror(-r));
        else
                log_debug("sd_notify: sent \"%.*s\"", (int) strcspn(buf, "\n"), buf);
        return r;
}
