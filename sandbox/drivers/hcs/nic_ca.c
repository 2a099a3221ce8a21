/*
 * NICs added to a running hcs pod through the ComputeAgent (the driver
 * table's nic_add, nic_modify, nic_remove). The endpoint, by its HCN id,
 * is described by HCN, added to the pod's namespace (made now when the pod
 * has none), then added as a NIC host first and guest second (nic.c, as at
 * create); a delete goes the other way: guest, host, the namespace entry.
 *
 * Every step that makes something is recorded before it runs (record.c:
 * "added_nics", each with what may exist and whether it is ready), so a
 * uvmd that dies midway leaves a record that says what to undo, and one
 * that dies after an add knows the NIC after its restart.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/driver-internal.h"

static int check_nic_id(const char *id, struct uvm_error **err)
{
        size_t n = id ? strlen(id) : 0;

        if (n == 0 || n > HCS_NIC_ID_MAX)
                return uvm_error_set(err, EINVAL, "nic_id must be 1 to %d characters",
                                     HCS_NIC_ID_MAX);
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]) && !strchr("_.-", id[i]))
                        return uvm_error_set(err, EINVAL,
                                             "nic_id '%s': only letters, digits, '_', '.', '-'",
                                             id);
        return 0;
}

static bool same_text(const char *a, const char *b)
{
        for (; *a && *b; a++, b++)
                if (tolower((unsigned char) *a) != tolower((unsigned char) *b) &&
                    !(strchr("-:", *a) && strchr("-:", *b)))
                        return false;
        return *a == *b;
}

static struct hcs_added_nic *find(struct drv_pod *p, const char *nic_id)
{
        for (size_t i = 0; i < p->n_added; i++)
                if (STR_EQ(p->added[i].nic_id, nic_id))
                        return &p->added[i];
        return NULL;
}

static bool endpoint_used(struct drv_pod *p, const char *ep_id)
{
        for (size_t i = 0; i < p->n_eps; i++)
                if (same_text(p->ep_ids[i], ep_id))
                        return true;
        for (size_t i = 0; i < p->n_added; i++)
                if (same_text(p->added[i].nic.ep.id, ep_id))
                        return true;
        return false;
}

static int running(struct drv_pod *p, struct uvm_error **err)
{
        if (!p->guest || !p->started || hcs_pod_exited(p))
                return uvm_error_set(err, ENOTCONN, "hcs pod %s: its VM is not running", p->id);
        return 0;
}

static int record(struct drv_pod *p, struct uvm_error **err)
{
        return hcs_record_write(p, HCS_RECORD_READY, err);
}

static void record_or_log(struct drv_pod *p)
{
        struct uvm_error *e = NULL;

        if (record(p, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
        }
}

/* A namespace made for added NICs goes with the last of them. */
static void namespace_release(struct drv_pod *p)
{
        struct uvm_error *e = NULL;

        if (p->n_eps || p->n_added || !p->ns_id[0] || p->ns_external)
                return;
        if (hcs_net_delete_namespace(p, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id,
                        "hcs pod %s: %s, ignoring (the pod's stop tries again)", p->id, e->msg);
                uvm_error_free(e);
        }
}

/* The pod's namespace, made now when it has none: its id recorded first,
 * as at create. */
static int namespace_ensure(struct drv_pod *p, struct uvm_error **err)
{
        int r;

        if (p->ns_id[0])
                return 0;
        r = hcn_new_guid(p->ns_id, err);
        if (r >= 0)
                r = record(p, err);
        if (r >= 0)
                r = hcn_pod_create(p->b->hcn, p->ns_id, NULL, 0, NULL, err);
        if (r < 0) {
                p->ns_id[0] = '\0';
                record_or_log(p);
                return uvm_error_wrap(err, "create the HCN namespace of %s", p->system_id);
        }
        return 0;
}

/* Undo what a is flagged with, guest to namespace, stopping at the first
 * failure (its flag kept); forget it when nothing is left. */
static int undo(struct drv_pod *p, struct hcs_added_nic *a, struct uvm_error **err)
{
        int r = hcs_nic_remove(p, &a->nic, err);

        if (r >= 0 && a->in_ns) {
                r = hcn_ns_detach(p->b->hcn, p->ns_id, a->nic.ep.id, err);
                if (r >= 0)
                        a->in_ns = false;
        }
        if (r < 0)
                return r;
        *a = p->added[--p->n_added];
        p->added[p->n_added] = (struct hcs_added_nic){0};
        namespace_release(p);
        return 0;
}

/* After a failed add: undo it (failures logged, its flags kept for the
 * pod's stop), then the record. */
static void rollback(struct drv_pod *p, struct hcs_added_nic *a)
{
        struct uvm_error *e = NULL;

        if (undo(p, a, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: undo NIC %s: %s, ignoring", p->id,
                        a->nic_id, e->msg);
                uvm_error_free(e);
        }
        record_or_log(p);
}

static int check_add(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                     struct uvm_error **err)
{
        int r = check_nic_id(nic_id, err);

        if (r < 0)
                return r;
        if (!nic || !nic->hcn_endpoint || !hcs_guid_valid(nic->hcn_endpoint))
                return uvm_error_set(err, EINVAL,
                                     "hcs pod %s: NIC %s: the HCN endpoint id '%.40s' is not a "
                                     "GUID",
                                     p->id, nic_id,
                                     nic && nic->hcn_endpoint ? nic->hcn_endpoint : "");
        if (!STR_EMPTY(nic->mac) || nic->mtu || nic->n_addrs || nic->n_routes ||
            !STR_EMPTY(nic->ifname))
                return uvm_error_set(err, EINVAL,
                                     "hcs pod %s: NIC %s: its name, MAC, MTU, addresses and routes "
                                     "come from its HCN endpoint",
                                     p->id, nic_id);
        if (find(p, nic_id))
                return uvm_error_set(err, EEXIST, "hcs pod %s: NIC %s exists", p->id, nic_id);
        if (endpoint_used(p, nic->hcn_endpoint))
                return uvm_error_set(err, EEXIST, "hcs pod %s: HCN endpoint %s is a NIC already",
                                     p->id, nic->hcn_endpoint);
        if (p->n_added == HCS_MAX_ADDED_NICS)
                return uvm_error_set(err, ENOSPC, "hcs pod %s: at most %d added NICs", p->id,
                                     HCS_MAX_ADDED_NICS);
        return running(p, err);
}

/* Namespace entry, then the NIC: each recorded as possible before it is
 * tried. */
static int add_steps(struct drv_pod *p, struct hcs_added_nic *a, struct uvm_error **err)
{
        int r = record(p, err);

        if (r < 0)
                return r;
        r = hcn_ns_attach(p->b->hcn, p->ns_id, a->nic.ep.id, err);
        if (r < 0) {
                a->in_ns = false;
                return r;
        }
        a->nic.on_host = a->nic.in_guest = true;
        r = record(p, err);
        a->nic.on_host = a->nic.in_guest = false;
        if (r >= 0)
                r = hcs_nic_add(p, &a->nic, err);
        if (r < 0)
                return r;
        a->ready = true;
        return record(p, err);
}

int hcs_ca_nic_add(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                   struct uvm_error **err)
{
        struct hcn_endpoint ep;
        struct hcs_added_nic *a;
        int r;

        r = check_add(p, nic_id, nic, err);
        if (r >= 0)
                r = hcn_endpoint_query(p->b->hcn, nic->hcn_endpoint, &ep, err);
        if (r >= 0)
                r = namespace_ensure(p, err);
        if (r < 0)
                return uvm_error_wrap(err, "add NIC %s to hcs pod %s", nic_id ? nic_id : "", p->id);
        a = &p->added[p->n_added++];
        *a = (struct hcs_added_nic){.nic.ep = ep, .in_ns = true};
        snprintf(a->nic_id, sizeof(a->nic_id), "%s", nic_id);
        r = add_steps(p, a, err);
        if (r < 0) {
                a->ready = false;
                rollback(p, a);
                return uvm_error_wrap(err, "add NIC %s to hcs pod %s", nic_id, p->id);
        }
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: NIC %s (endpoint %s, %s) added", p->id, nic_id,
                ep.id, ep.mac);
        return 0;
}

int hcs_ca_nic_remove(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                      struct uvm_error **err)
{
        struct hcs_added_nic *a = nic_id ? find(p, nic_id) : NULL;
        int r;

        if (!a)
                return uvm_error_set(err, ENOENT, "hcs pod %s: no NIC '%.64s'", p->id,
                                     nic_id ? nic_id : "");
        /* From now on a restarted uvmd finishes the removal. */
        a->ready = false;
        r = record(p, err);
        if (r >= 0)
                r = undo(p, a, err);
        if (r < 0) {
                record_or_log(p); /* what is left, for a retry or the pod's stop */
                return uvm_error_wrap(err, "delete NIC %s of hcs pod %s", nic_id, p->id);
        }
        r = record(p, err);
        if (r < 0)
                return r;
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: NIC %s deleted", p->id, nic_id);
        return 0;
}

/* "a/p" into ep's ip and prefix_len. */
static int set_address(struct hcn_endpoint *ep, const char *cidr, struct uvm_error **err)
{
        const char *slash = cidr ? strchr(cidr, '/') : NULL;
        size_t n = slash ? (size_t) (slash - cidr) : 0;
        char *end = NULL;
        long prefix = slash ? strtol(slash + 1, &end, 10) : -1;
        bool v6 = cidr && memchr(cidr, ':', n);

        if (!n || n >= sizeof(ep->ip) || strspn(cidr, "0123456789abcdefABCDEF.:") != n || !end ||
            *end || end == slash + 1 || prefix < 0 || prefix > (v6 ? 128 : 32))
                return uvm_error_set(err, EINVAL, "address '%.64s' is not a/prefix",
                                     cidr ? cidr : "");
        memcpy(ep->ip, cidr, n);
        ep->ip[n] = '\0';
        ep->prefix_len = (uint8_t) prefix;
        return 0;
}

/* The new configuration: the given fields over the NIC's. One address and
 * one default route at most: an hcs NIC has one of each (nic.c). */
static int modified(const struct hcs_added_nic *a, const struct drv_nic *nic,
                    struct hcn_endpoint *ret, unsigned *ret_mtu, struct uvm_error **err)
{
        struct hcn_endpoint ep = a->nic.ep;
        int r;

        if (!STR_EMPTY(nic->mac) && !same_text(nic->mac, ep.mac))
                return uvm_error_set(err, EINVAL,
                                     "the MAC of an hcs NIC is its HCN endpoint's (%s)", ep.mac);
        if (nic->n_addrs > 1 || nic->n_routes > 1)
                return uvm_error_set(err, EINVAL,
                                     "an hcs NIC has one address and one default route");
        if (nic->n_addrs && (r = set_address(&ep, nic->addrs[0], err)) < 0)
                return r;
        if (nic->n_routes) {
                const char *dst = nic->route_dst[0], *gw = nic->route_gw ? nic->route_gw[0] : NULL;

                if (!dst || (!STR_EQ(dst, "0.0.0.0/0") && !STR_EQ(dst, "::/0")))
                        return uvm_error_set(err, EINVAL,
                                             "an hcs NIC takes a default route only, not '%.64s'",
                                             dst ? dst : "");
                if (gw && strlen(gw) >= sizeof(ep.gateway))
                        return uvm_error_set(err, EINVAL, "gateway '%.64s' is too long", gw);
                snprintf(ep.gateway, sizeof(ep.gateway), "%s", gw ? gw : "");
        }
        if (nic->mtu && (nic->mtu < 68 || nic->mtu > 65535))
                return uvm_error_set(err, EINVAL, "MTU %u is not 68..65535", nic->mtu);
        *ret = ep;
        *ret_mtu = nic->mtu ? nic->mtu : a->mtu;
        return 0;
}

/* The guest back to what it had; a failure is logged (the error that
 * counts is the one already reported). */
static void guest_restore(struct drv_pod *p, struct hcs_added_nic *a,
                          const struct hcn_endpoint *now)
{
        struct uvm_error *e = NULL;

        if (p->b->guest->modify_nic(p->guest, p->ns_id, a->nic.ep.id, now, &a->nic.ep, a->mtu, &e) <
            0) {
                log_pod(LOG_LEVEL_WARN, p->id,
                        "hcs pod %s: restore NIC %s in the guest: %s, ignoring", p->id, a->nic_id,
                        e->msg);
                uvm_error_free(e);
        }
}

/* Only the guest changes: the host's adapter and the namespace entry are
 * the endpoint's, which stays. */
int hcs_ca_nic_modify(struct drv_pod *p, const char *nic_id, const struct drv_nic *old,
                      const struct drv_nic *nic, struct uvm_error **err)
{
        struct hcs_added_nic *a = nic_id ? find(p, nic_id) : NULL;
        struct hcn_endpoint ep, before;
        unsigned mtu = 0, mtu_before;
        int r;

        if (!a || !a->ready)
                return uvm_error_set(err, ENOENT, "hcs pod %s: no NIC '%.64s'", p->id,
                                     nic_id ? nic_id : "");
        if (!p->b->guest->modify_nic)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "hcs pod %s: the %s guest cannot change a NIC", p->id,
                                     p->b->guest->name);
        r = nic ? modified(a, nic, &ep, &mtu, err) : uvm_error_set(err, EINVAL, "no NIC settings");
        if (r >= 0)
                r = running(p, err);
        if (r >= 0) {
                r = p->b->guest->modify_nic(p->guest, p->ns_id, a->nic.ep.id, &a->nic.ep, &ep, mtu,
                                            err);
                if (r < 0)
                        guest_restore(p, a, &ep); /* it may have done part of it */
        }
        if (r < 0)
                return uvm_error_wrap(err, "modify NIC %s of hcs pod %s", nic_id, p->id);
        before = a->nic.ep;
        mtu_before = a->mtu;
        a->nic.ep = ep;
        a->mtu = mtu;
        r = record(p, err);
        if (r < 0) {
                a->nic.ep = before;
                a->mtu = mtu_before;
                guest_restore(p, a, &ep);
                return uvm_error_wrap(err, "modify NIC %s of hcs pod %s", nic_id, p->id);
        }
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: NIC %s now %s/%u", p->id, nic_id, ep.ip,
                (unsigned) ep.prefix_len);
        return 0;
}

void hcs_ca_nics_settle(struct drv_pod *p)
{
        size_t before = p->n_added;
        bool had_ns = p->ns_id[0];

        for (size_t i = p->n_added; i-- > 0;)
                if (!p->added[i].ready) {
                        log_pod(LOG_LEVEL_INFO, p->id,
                                "hcs pod %s: NIC %s was left unfinished by uvmd: undoing it", p->id,
                                p->added[i].nic_id);
                        rollback(p, &p->added[i]);
                }
        namespace_release(p); /* one made for an add that never got in */
        if (before != p->n_added || had_ns != (p->ns_id[0] != '\0'))
                record_or_log(p);
}
