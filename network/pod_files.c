/* The pod's /etc/resolv.conf, /etc/hosts and /etc/hostname, written into
 * the pod's directory (their text: pod_files_text.c). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/macros.h"
#include "network/net.h"
#include "network/pod_files.h"

static int write_text(const char *dir, const char *name, const char *text, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        return 0;
}

int net_pod_write_files(const char *dir, const struct net_pod_config *cfg, const char *ip,
                        struct uvm_error **err)
{
        struct net_pod_files f = {0};
        int r;

        if (!dir || !cfg)
                return uvm_error_set(err, EINVAL, "invalid pod hostname ''");
        r = net_pod_files_build(&(struct net_pod_files_in){.hostname = cfg->hostname,
                                                           .ip = ip,
                                                           .dns_servers = cfg->dns_servers,
                                                           .dns_searches = cfg->dns_searches,
                                                           .dns_options = cfg->dns_options},
                                &f, err);
        if (r >= 0)
                r = write_text(dir, "resolv.conf", f.resolv_conf, err);
        if (r >= 0)
                r = write_text(dir, "hosts", f.hosts, err);
        if (r >= 0)
                r = write_text(dir, "hostname", f.hostname, err);
        net_pod_files_clear(&f);
        return r;
}
