/*
 * A pod's Windows parts (sandbox-plat.h): only its directory. An hcs pod's
 * network is an HCN namespace its driver makes and deletes with the VM;
 * there are no cgroups, user namespaces or layer disks to add.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>

#include "common/log.h"
#include "common/platform.h"
#include "common/utf16.h"
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

/* The driver does it all: the VM, the HCN namespace with the endpoints
 * the network plugin made (none yet: no Windows network plugin is run),
 * the NICs. */
int sbx_plat_pod_start(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                       bool host_network, struct phase_clock *pc, struct drv_pod **ret_drv,
                       struct uvm_error **err)
{
        struct drv_pod_spec spec;
        int r;

        *ret_drv = NULL;
        sbx_pod_fill_spec(s, p, &spec);
        r = p->ops->pod_create(&spec, ret_drv, err);
        phase_mark(pc, "driver");
        return r < 0 ? uvm_error_wrap(err, "create the %s sandbox", p->ops->name) : 0;
}

/* The namespace goes with the VM (the driver's pod_stop). */
int sbx_plat_pod_net_stop(struct sbx_pod *p, struct phase_clock *pc, struct uvm_error **err)
{
        return 0;
}

void sbx_plat_pod_release(struct sbx *s, const char *pod_id, const char *kubelet_parent,
                          bool network)
{
}
