/* The server's address on Windows: TCP on the loopback interface. gRPC's
 * C core has no named pipe transport and no AF_UNIX on Windows, and the
 * kubelet there speaks tcp:// or npipe:// only (deploy/windows/README.md). */

#include <stdlib.h>
#include <string.h>

#include "service/server-internal.h"

#define LOOPBACK "127.0.0.1:"

/* "127.0.0.1:PORT", PORT 1..65535 in decimal: what the daemon derives from
 * its config; checked again here, since listening on another address would
 * open the CRI to the network. */
static bool loopback_port(const char *address, unsigned *ret_port)
{
        const char *p = address + strlen(LOOPBACK);
        unsigned long port;
        char *end;

        if (strncmp(address, LOOPBACK, strlen(LOOPBACK)) != 0 || *p < '1' || *p > '9' ||
            strlen(p) > 5)
                return false;
        port = strtoul(p, &end, 10);
        if (*end || port > 65535)
                return false;
        *ret_port = (unsigned) port;
        return true;
}

int srv_bind(struct srv *s, struct uvm_error **err)
{
        unsigned port;

        if (!loopback_port(s->address, &port))
                return uvm_error_set(err, EINVAL,
                                     "address '%s': only 127.0.0.1:PORT is served on Windows",
                                     s->address);
        if (srv_listen(s, s->address) != (int) port)
                return uvm_error_set(err, EADDRINUSE, "cannot listen on '%s' (port in use?)",
                                     s->address);
        return 0;
}

/* Nothing to remove: the listener closes with the server's shutdown, which
 * the drain starts right after this. */
void srv_unbind(struct srv *s)
{
}

void srv_bind_release(struct srv *s)
{
}
