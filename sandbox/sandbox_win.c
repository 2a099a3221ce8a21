/*
 * A pod's Windows parts (sandbox-plat.h): its directory and its network.
 * The network is containerd's order on Windows (net_hcn.h): the pod's HCN
 * namespace, CNI ADD with its GUID, then the driver hot-adds the
 * endpoints the plugins put in it as NICs; at the stop CNI DEL, then the
 * namespace goes. There are no cgroups or user namespaces.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* Before windows.h: objbase.h makes "interface" a macro, and net.h has a
 * field of that name. */
#include "network/net.h"

#include <windows.h>

#include "common/log.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "network/net_hcn.h"
#include "network/pod_files.h"
#include "sandbox/sandbox-plat.h"

int sbx_plat_pods_root(const char *path, struct uvm_error **err)
{
        int r = plat_mkdir_p(path, 0711);

        return r < 0 ? uvm_error_set(err, -r, "create %s: %s", path, strerror(-r)) : 0;
}

int sbx_plat_pod_dir_create(const char *dir, struct uvm_error **err)
{
        _cleanup_free_ wchar_t *w = NULL;
        int r = utf8_to_wide(dir, UTF16_PATH_MAX, &w);

        if (r < 0)
                return uvm_error_set(err, -r, "create %s: not a usable path", dir);
        /* A new one: ids are random, an existing directory is a bug. */
        if (!CreateDirectoryW(w, NULL)) {
                r = plat_errno_from_win32(GetLastError());
                return uvm_error_set(err, r, "create %s: %s", dir, strerror(r));
        }
        return 0;
}

int sbx_plat_pod_dir_remove(const char *dir, struct uvm_error **err)
{
        int r = plat_rm_rf(dir);

        return r < 0 ? uvm_error_set(err, -r, "remove %s: %s", dir, strerror(-r)) : 0;
}

int sbx_plat_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec, char **ret_owned,
                  struct uvm_error **err)
{
        *ret_owned = NULL;
        return 0;
}

/* The pod's network (when it has one) before the driver: the namespace
 * must exist when the plugins run, the VM gets their endpoints after. */
static int net_setup(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                     struct net_hcn_result *res, struct uvm_error **err)
{
        struct net_pod_config cfg = *net;

        cfg.pod_id = p->rec.id;
        return net_hcn_pod_setup(s->net, p->dir, &cfg, res, err);
}

/* The pod's resolv.conf, hosts and hostname (pod_files.h) in its
 * directory, where the hcs driver takes them into the VM from, at the
 * create and again at a reattach (hcs/pod_files.c). */
static int pod_files_write(struct sbx_pod *p, const struct net_pod_config *net,
                           const struct net_hcn_result *res, struct uvm_error **err)
{
        static const char *const names[] = {"resolv.conf", "hosts", "hostname"};
        struct net_pod_files_in in = {.hostname = p->rec.hostname,
                                      .ip = res->n_ips > 0 ? res->ips[0] : NULL};
        struct net_pod_files f = {0};
        int r;

        if (STR_EMPTY(in.hostname))
                in.hostname = net && !STR_EMPTY(net->name) ? net->name : "localhost";
        /* the pod's DNS config, else what CNI advised */
        net_hcn_pod_dns(net, res, &in);
        r = net_pod_files_build(&in, &f, err);
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(names); i++) {
                const char *text = i == 0 ? f.resolv_conf : i == 1 ? f.hosts : f.hostname;
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", p->dir, names[i]) < 0)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                else if ((r = plat_write_file_atomic(path, text, strlen(text), 0644)) < 0)
                        r = uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        }
        net_pod_files_clear(&f);
        return r;
}

int sbx_plat_pod_start(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                       bool host_network, struct phase_clock *pc, struct drv_pod **ret_drv,
                       struct uvm_error **err)
{
        struct net_hcn_result res = {0};
        char *eps[NET_HCN_MAX_ENDPOINTS + 1] = {NULL};
        struct drv_pod_spec spec;
        int r = 0;

        *ret_drv = NULL;
        sbx_pod_fill_spec(s, p, &spec);
        if (s->net && net && !host_network && net_hcn_in_use(s->net)) {
                r = net_setup(s, p, net, &res, err);
                phase_mark(pc, "network");
                if (r < 0)
                        return r;
                for (size_t i = 0; i < res.n_endpoints; i++)
                        eps[i] = res.endpoints[i];
                spec.hcn_endpoints = eps;
                spec.hcn_namespace = res.ns_id;
        }
        r = pod_files_write(p, net, &res, err);
        if (r >= 0)
                r = p->ops->pod_create(&spec, ret_drv, err);
        phase_mark(pc, "driver");
        if (r >= 0) {
                /* ADD's IPs, into the record made READY next */
                pthread_mutex_lock(&p->lock);
                for (size_t i = 0; i < res.n_ips && i < 2; i++)
                        p->rec.ips[p->rec.n_ips++] = TAKE_PTR(res.ips[i]);
                pthread_mutex_unlock(&p->lock);
        }
        net_hcn_result_clear(&res);
        /* the network goes in sbx_plat_pod_release, as the caller undoes */
        return r < 0 ? uvm_error_wrap(err, "create the %s sandbox", p->ops->name) : 0;
}

/* CNI DEL, then the namespace: the driver's stop has taken the NICs out
 * of the VM and left the namespace, which is the network layer's. */
int sbx_plat_pod_net_stop(struct sbx_pod *p, struct phase_clock *pc, struct uvm_error **err)
{
        int r;

        if (!p->net)
                return 0;
        r = net_hcn_pod_teardown(p->net, p->dir, p->rec.id, err);
        phase_mark(pc, "network");
        return r;
}

void sbx_plat_pod_release(struct sbx *s, const char *pod_id, const char *kubelet_parent,
                          bool network)
{
        _cleanup_free_ char *dir = NULL;
        struct uvm_error *e = NULL;

        if (!network || !s->net)
                return;
        if (asprintf(&dir, "%s/pods/%s", s->state_root, pod_id) < 0) {
                dir = NULL;
                return;
        }
        if (net_hcn_pod_teardown(s->net, dir, pod_id, &e) < 0)
                log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: %s, ignoring", pod_id,
                        e && e->msg ? e->msg : "network teardown failed");
        uvm_error_free(e);
}

/* An hcs pod has no cgroup of uvmd's on the host: its bound is the VM's
 * own size (memory and processors, fixed when it was made from the pod's
 * resources and overhead). The new limits are only kept, as Linux keeps
 * them where the pod's cgroup is the kubelet's
 * (docs/windows.md "UpdatePodSandboxResources"). */
int sbx_plat_pod_limits(struct sbx *s, struct sbx_pod *p, const struct sbx_pod_limits *l,
                        struct uvm_error **err)
{
        log_pod(LOG_LEVEL_DEBUG, p->rec.id, "pod %s: limits kept, the VM's size bounds the pod",
                p->rec.id);
        return 0;
}
