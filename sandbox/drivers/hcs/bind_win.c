/*
 * drv_hcs_system() (bind_win.h): the hcs driver bound to this host's HCS
 * and HCN, and by default to the agent's bridge over HvSocket. A host without them (an older
 * Windows, no Hyper-V, Wine) gets a reason naming each DLL that is missing, which the probe
 * reports.
 */

#include <errno.h>
#include <stdio.h>

#include "common/error.h"
#include "common/platform.h"
#include "network/hcn.h"
#include "sandbox/drivers/hcs/bind_win.h"
#include "sandbox/drivers/hcs/guest_hv_win.h"
#include "sandbox/drivers/hcs/hcs_api.h"

#define WHY_MAX 320 /* hcs_win.c's and hcn_win.c's reasons fit */

/* reason := "hcs driver unavailable: <why>", also kept for the probe. */
static const struct drv_ops *unavailable(char *reason, size_t size, const char *why)
{
        char msg[2 * WHY_MAX + 128];

        snprintf(msg, sizeof(msg), "hcs driver unavailable: %s", why);
        drv_hcs_set_unavailable(msg);
        if (reason && size)
                snprintf(reason, size, "%s", msg);
        return NULL;
}

const struct drv_ops *drv_hcs_system(const struct hcs_guest_ops *guest,
                                     const struct drv_hcs_config *cfg, char *reason, size_t size)
{
        char hcs_why[WHY_MAX] = "", hcn_why[WHY_MAX] = "", why[2 * WHY_MAX + 96];
        const struct hcs_api *hcs = hcs_api_computecore(hcs_why, sizeof(hcs_why));
        const struct hcn_api *hcn = hcn_api_computenetwork(hcn_why, sizeof(hcn_why));
        const struct drv_ops *ops = NULL;
        struct uvm_error *err = NULL;
        struct drv_hcs_config c;

        if (!cfg)
                return unavailable(reason, size, "no driver config");
        if (!guest) {
                guest = hcs_guest_hv(cfg->bridge_vsock_port, why, sizeof(why));
                if (!guest)
                        return unavailable(reason, size, why);
        }
        if (!hcs || !hcn) {
                /* Which DLL first (the probe's reason is short), then each
                 * one's why: the fixes differ. */
                snprintf(why, sizeof(why), "%s%s%s do%s not load: %s%s%s",
                         hcs ? "" : "computecore.dll (HCS)", !hcs && !hcn ? " and " : "",
                         hcn ? "" : "computenetwork.dll (HCN)", !hcs && !hcn ? "" : "es",
                         hcs ? "" : hcs_why, !hcs && !hcn ? "; " : "", hcn ? "" : hcn_why);
                return unavailable(reason, size, why);
        }
        c = *cfg;
        if (!c.host_cpus)
                c.host_cpus = plat_host_cpus();
        if (drv_hcs_new(hcs, hcn, guest, &c, &ops, &err) < 0) {
                snprintf(why, sizeof(why), "%s", err ? err->msg : "binding failed");
                uvm_error_free(err);
                return unavailable(reason, size, why);
        }
        if (reason && size)
                reason[0] = '\0';
        return ops;
}
