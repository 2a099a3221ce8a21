/*
 * A pod's Linux parts (sandbox-plat.h): its user namespace pinned in its
 * directory, its network namespace and CNI (pod_net.h), its own cgroup,
 * and image layers as disks for a VM driver.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "network/net.h"
#include "sandbox/cgroup.h"
#include "sandbox/pod_net.h"
#include "sandbox/sandbox-plat.h"

int sbx_plat_pods_root(const char *path, struct uvm_error **err)
{
        /* o+x (search, no listing): a pod's root in a user namespace passes
         * through; chmod for a state root made by an older uvmd. */
        int r = fs_mkdir_p(path, 0711);

        if (r >= 0 && chmod(path, 0711) < 0)
                r = -errno;
        return r < 0 ? uvm_error_set(err, -r, "create %s: %s", path, strerror(-r)) : 0;
}

int sbx_plat_pod_dir_create(const char *dir, struct uvm_error **err)
{
        /* o+x: a pod's root in a user namespace passes through to its rootfs. */
        if (mkdir(dir, 0711) < 0)
                return uvm_error_set(err, errno, "create %s: %s", dir, strerror(errno));
        return 0;
}

/* The directory and the user namespace pinned in it (a mount point that
 * rm -rf would not cross). Idempotent. */
int sbx_plat_pod_dir_remove(const char *dir, struct uvm_error **err)
{
        _cleanup_free_ char *userns = NULL;
        int r;

        if (asprintf(&userns, "%s/userns", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = userns_unpin(userns, err);
        if (r < 0)
                return r;
        r = fs_rm_rf(dir);
        return r < 0 ? uvm_error_set(err, -r, "remove %s: %s", dir, strerror(-r)) : 0;
}

static int layer_disk(void *data, const char *layer_dir, char **ret_path, struct uvm_error **err)
{
        return img_layer_disk(data, layer_dir, ret_path, err);
}

int sbx_plat_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec, char **ret_owned,
                  struct uvm_error **err)
{
        char *cg = sbx_cgroup_parent(p->rec.cgroup_parent, p->rec.id, s->systemd_cgroups);

        if (!cg)
                return uvm_error_set(err, ENOMEM, "out of memory");
        spec->cgroup_parent = cg;
        if (s->images) {
                spec->layer_disk = layer_disk;
                spec->layer_disk_data = s->images;
                spec->layer_disk_dir = img_layer_disk_dir(s->images);
        }
        *ret_owned = cg;
        return 0;
}

/* The pod's own cgroup bounds the pod as a whole (the kubelet's parent, when
 * given, already does). */
static int own_cgroup_limits(struct sbx *s, struct sbx_pod *p, const struct sbx_pod_limits *l,
                             struct uvm_error **err)
{
        bool applied = false;
        int r;

        if (!sbx_pod_limits_set(l) && !sbx_pod_limits_set(&p->rec.limits))
                return 0;
        r = sbx_cgroup_apply_own(p->rec.cgroup_parent, p->rec.id, s->systemd_cgroups, l, &applied,
                                 err);
        if (r >= 0 && !applied)
                log_pod(LOG_LEVEL_DEBUG, p->rec.id, "pod %s: limits left to the %s", p->rec.id,
                        p->rec.cgroup_parent ? "kubelet's parent cgroup" : "systemd slice");
        return r;
}

/* A net.* sysctl may name the pod's interface, and must win over what CNI
 * set: the agent (which sets them) starts after ADD then. */
static bool has_net_sysctls(char *const *v)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strncmp(v[i], "net.", 4) == 0)
                        return true;
        return false;
}

/* The pod's own cgroup and its driver's sandbox. */
static int pod_sandbox_start(struct sbx *s, struct sbx_pod *p, struct phase_clock *pc,
                             struct drv_pod **ret, struct uvm_error **err)
{
        _cleanup_free_ char *cg = NULL;
        struct drv_pod_spec spec;
        int r;

        r = own_cgroup_limits(s, p, &p->rec.limits, err);
        phase_mark(pc, "cgroup");
        if (r < 0)
                return r;
        sbx_pod_fill_spec(s, p, &spec);
        r = sbx_plat_spec(s, p, &spec, &cg, err);
        if (r < 0)
                return r;
        r = p->ops->pod_create(&spec, ret, err);
        phase_mark(pc, "driver");
        return r < 0 ? uvm_error_wrap(err, "create the %s sandbox", p->ops->name) : 0;
}

/* The user namespace, the network namespace, then CNI ADD and the pod's
 * files alongside the driver's start when the driver allows it. */
int sbx_plat_pod_start(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                       bool host_network, struct phase_clock *pc, struct drv_pod **ret_drv,
                       struct uvm_error **err)
{
        struct pod_net_job nj = {0};
        bool userns = userns_map_enabled(&p->rec.userns), bg;
        int r = 0, rn;

        *ret_drv = NULL;
        /* Before the network: the pod's user namespace owns its netns. */
        if (userns)
                r = userns_pin(p->userns_path, &p->rec.userns, err);
        phase_mark(pc, "prepare");
        if (r >= 0)
                r = pod_net_begin(&nj, host_network ? NULL : s->net, net, p->rec.id,
                                  userns ? p->userns_path : NULL, p->dir, err);
        if (r >= 0 && pod_net_netns(&nj)) {
                phase_mark(pc, "netns");
                pthread_mutex_lock(&p->lock);
                p->rec.netns_path = strdup(pod_net_netns(&nj));
                pthread_mutex_unlock(&p->lock);
                if (!p->rec.netns_path)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        bg = nj.net && p->ops->cni_concurrent && !has_net_sysctls(p->rec.sysctls);
        if (r >= 0)
                r = pod_net_run(&nj, bg, pc, err);
        if (r >= 0)
                r = pod_sandbox_start(s, p, pc, ret_drv, err);
        rn = pod_net_join(&nj, err);
        if (bg)
                phase_mark(pc, "net_wait");
        if (r >= 0 && rn >= 0) {
                /* The IPs ADD gave, into the record made READY next. */
                pthread_mutex_lock(&p->lock);
                for (size_t i = 0; i < nj.res.n_ips && i < 2; i++)
                        p->rec.ips[p->rec.n_ips++] = TAKE_PTR(nj.res.ips[i]);
                pthread_mutex_unlock(&p->lock);
        }
        pod_net_job_clear(&nj);
        return r < 0 ? r : rn;
}

int sbx_plat_pod_net_stop(struct sbx_pod *p, struct phase_clock *pc, struct uvm_error **err)
{
        int r;

        if (!p->net || !p->rec.netns_path)
                return 0;
        r = net_pod_teardown(p->net, p->rec.id, err);
        phase_mark(pc, "network");
        return r;
}

void sbx_plat_pod_release(struct sbx *s, const char *pod_id, const char *kubelet_parent,
                          bool network)
{
        if (network && s->net && net_pod_teardown(s->net, pod_id, NULL) < 0)
                log_pod(LOG_LEVEL_WARN, pod_id, "pod %s: network teardown failed, ignoring",
                        pod_id);
        sbx_cgroup_remove_own(kubelet_parent, pod_id, s->systemd_cgroups);
}

int sbx_plat_pod_limits(struct sbx *s, struct sbx_pod *p, const struct sbx_pod_limits *l,
                        struct uvm_error **err)
{
        return own_cgroup_limits(s, p, l, err);
}
