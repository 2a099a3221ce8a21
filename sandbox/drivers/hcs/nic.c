/*
 * An hcs pod's network: its HCN namespace holding the endpoints the
 * network layer made (the spec's hcn_endpoints), and one NIC in the VM per
 * endpoint. hcsshim's order for changes: add = host first
 * (HCS modify), then the guest (rolled back on the host if the guest
 * fails); remove = guest first, then host.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/driver-internal.h"

bool hcs_guid_valid(const char *s)
{
        for (size_t i = 0; i < HCN_GUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        }
        return s[HCN_GUID_LEN] == '\0';
}

static bool guid_eq(const char *a, const char *b)
{
        for (size_t i = 0; i < HCN_GUID_LEN; i++)
                if (tolower((unsigned char) a[i]) != tolower((unsigned char) b[i]))
                        return false;
        return true;
}

int hcs_net_set_endpoints(struct drv_pod *p, char *const *ids, struct uvm_error **err)
{
        size_t n = 0;

        for (; ids && ids[n]; n++) {
                if (n == HCS_MAX_NICS)
                        return uvm_error_set(err, E2BIG, "hcs pod %s: more than %d HCN endpoints",
                                             p->id, HCS_MAX_NICS);
                if (!hcs_guid_valid(ids[n]))
                        return uvm_error_set(err, EINVAL,
                                             "hcs pod %s: HCN endpoint '%.40s' is not a GUID",
                                             p->id, ids[n]);
                for (size_t i = 0; i < n; i++)
                        if (guid_eq(p->ep_ids[i], ids[n]))
                                return uvm_error_set(err, EINVAL,
                                                     "hcs pod %s: HCN endpoint %s given twice",
                                                     p->id, ids[n]);
                memcpy(p->ep_ids[n], ids[n], HCN_GUID_LEN + 1);
        }
        p->n_eps = n;
        return 0;
}

int hcs_net_set_namespace(struct drv_pod *p, const char *ns_id, struct uvm_error **err)
{
        if (!hcs_guid_valid(ns_id))
                return uvm_error_set(err, EINVAL, "hcs pod %s: HCN namespace '%.40s' is not a GUID",
                                     p->id, ns_id);
        memcpy(p->ns_id, ns_id, HCN_GUID_LEN + 1);
        p->ns_external = true;
        return 0;
}

/* The namespace with the pod's endpoints, under an id written to the
 * record first: a uvmd that dies once HCN made it finds it there (one
 * recorded but never made is -ENOENT to the reattach that deletes it,
 * which is no error). On failure hcn_pod_create has removed what it made:
 * ns_id is "" again. */
static int namespace_create(struct drv_pod *p, struct hcn_endpoint *eps, struct uvm_error **err)
{
        const char *ids[HCS_MAX_NICS];
        int r;

        for (size_t i = 0; i < p->n_eps; i++)
                ids[i] = p->ep_ids[i];
        r = hcn_new_guid(p->ns_id, err);
        if (r >= 0)
                r = hcs_record_write(p, HCS_RECORD_CREATING, err);
        if (r >= 0)
                r = hcn_pod_create(p->b->hcn, p->ns_id, ids, p->n_eps, eps, err);
        if (r < 0) {
                p->ns_id[0] = '\0';
                return uvm_error_wrap(err, "create the HCN namespace of %s", p->system_id);
        }
        return 0;
}

/* The network layer's namespace: its endpoints are in it already (CNI's
 * plugins put them there), only described here. */
static int namespace_describe(struct drv_pod *p, struct hcn_endpoint *eps, struct uvm_error **err)
{
        for (size_t i = 0; i < p->n_eps; i++) {
                int r = hcn_endpoint_query(p->b->hcn, p->ep_ids[i], &eps[i], err);
                if (r < 0)
                        return uvm_error_wrap(err, "the NICs of %s", p->system_id);
        }
        return 0;
}

static int host_nic(struct drv_pod *p, bool add, const struct hcn_endpoint *ep,
                    struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL;
        char *result = NULL;
        char what[80];
        int r;

        snprintf(what, sizeof(what), "%s NIC %s on the host of", add ? "add" : "remove", ep->id);
        r = hcs_doc_nic(add, ep, &doc, err);
        if (r < 0)
                return uvm_error_wrap(err, "%s %s", what, p->system_id);
        r = p->b->hcs->modify(p->sys, doc, p->b->cfg.create_timeout_ms, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, what, p->system_id);
        free(result);
        return 0;
}

int hcs_nic_add(struct drv_pod *p, struct hcs_nic *nic, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        int r;

        r = host_nic(p, true, &nic->ep, err);
        if (r < 0)
                return r;
        nic->on_host = true;
        r = p->b->guest->add_nic(p->guest, p->ns_id, nic->ep.id, &nic->ep, err);
        if (r < 0) {
                uvm_error_wrap(err, "add NIC %s in the guest of %s", nic->ep.id, p->system_id);
                if (host_nic(p, false, &nic->ep, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                        uvm_error_free(e);
                }
                nic->on_host = false;
                return r;
        }
        nic->in_guest = true;
        return 0;
}

/* force: go on past a failure and forget the side that failed (teardown:
 * the VM's end drops it); otherwise stop there, its flag kept. A side that
 * is not there (-ENOENT) is gone. */
static int nic_remove(struct drv_pod *p, struct hcs_nic *nic, bool force, struct uvm_error **err)
{
        bool running = p->created && !hcs_pod_exited(p);
        struct uvm_error *e = NULL;
        int r = 0, q;

        if (nic->in_guest && running && p->guest) {
                q = p->b->guest->remove_nic(p->guest, p->ns_id, nic->ep.id, &e);
                if (q < 0 && q != -ENOENT)
                        r = uvm_error_set(err, -q, "remove NIC %s in the guest of %s: %s",
                                          nic->ep.id, p->system_id, e ? e->msg : strerror(-q));
                e = uvm_error_free(e);
                if (r < 0 && !force)
                        return r;
        }
        nic->in_guest = false;
        if (nic->on_host && running) {
                q = host_nic(p, false, &nic->ep, &e);
                if (q < 0 && q != -ENOENT && r >= 0)
                        r = uvm_error_set(err, -q, "%s", e ? e->msg : strerror(-q));
                e = uvm_error_free(e);
                if (q < 0 && q != -ENOENT && !force)
                        return r;
        }
        nic->on_host = false;
        return r;
}

int hcs_nic_remove(struct drv_pod *p, struct hcs_nic *nic, struct uvm_error **err)
{
        return nic_remove(p, nic, false, err);
}

int hcs_net_setup(struct drv_pod *p, struct uvm_error **err)
{
        struct hcn_endpoint eps[HCS_MAX_NICS];
        int r;

        if (!p->n_eps)
                return 0;
        r = p->ns_external ? namespace_describe(p, eps, err) : namespace_create(p, eps, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_eps; i++)
                p->nics[i] = (struct hcs_nic){.ep = eps[i]};
        for (size_t i = 0; i < p->n_eps; i++) {
                r = hcs_nic_add(p, &p->nics[i], err);
                if (r >= 0)
                        r = hcs_record_write(p, HCS_RECORD_CREATING, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void hcs_nics_remove(struct drv_pod *p)
{
        struct uvm_error *e = NULL;

        for (size_t i = p->n_added + p->n_eps; i-- > 0;) {
                struct hcs_nic *nic = i >= p->n_eps ? &p->added[i - p->n_eps].nic : &p->nics[i];

                if (nic_remove(p, nic, true, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: remove NIC %s: %s, ignoring",
                                p->id, nic->ep.id, e ? e->msg : "failed");
                        e = uvm_error_free(e);
                }
        }
}

int hcs_net_delete_namespace(struct drv_pod *p, struct uvm_error **err)
{
        const char *ids[HCS_MAX_NICS + HCS_MAX_ADDED_NICS];
        size_t n = 0;
        int r;

        if (p->ns_external) {
                /* the network layer's: only what the ComputeAgent put in */
                for (size_t i = 0; i < p->n_added; i++) {
                        if (!p->added[i].in_ns)
                                continue;
                        r = hcn_ns_detach(p->b->hcn, p->ns_id, p->added[i].nic.ep.id, err);
                        if (r < 0)
                                return r;
                        p->added[i].in_ns = false;
                }
                p->ns_id[0] = '\0';
                return 0;
        }
        for (size_t i = 0; i < p->n_eps; i++)
                ids[n++] = p->ep_ids[i];
        for (size_t i = 0; i < p->n_added; i++)
                if (p->added[i].in_ns)
                        ids[n++] = p->added[i].nic.ep.id;
        r = hcn_pod_delete(p->b->hcn, p->ns_id, ids, n, err);
        if (r < 0)
                return uvm_error_wrap(err, "delete the HCN namespace %s of %s", p->ns_id,
                                      p->system_id);
        p->ns_id[0] = '\0';
        for (size_t i = 0; i < p->n_added; i++)
                p->added[i].in_ns = false;
        return 0;
}
