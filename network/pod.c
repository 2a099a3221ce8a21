/* A pod's network attachment: its namespace, CNI ADD/DEL, and the record
 * that lets a restarted uvmd find and undo both.
 *
 * The record (<state_dir>/pods/<pod_id>.json) is written before the
 * namespace exists and before ADD runs, so a crash at any point leaves
 * enough to run DEL with the exact config list that ADD used. It is removed
 * last, after DEL succeeded and the namespace is gone. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/cni_exec.h"
#include "network/cni_pod.h"
#include "network/cni_record.h"
#include "network/net-internal.h"
#include "network/net.h"
#include "network/netns.h"

#define POD_IFNAME "eth0"

/* The record's Linux fields (cni_record.h): the namespace's path and the
 * interface name. */
enum { POD_NETNS, POD_IFNAME_FIELD };
static const char *const pod_record_keys[] = {"netns", "ifname", NULL};

void net_pod_result_clear(struct net_pod_result *r)
{
        if (!r)
                return;
        free(r->netns_path);
        for (size_t i = 0; i < r->n_ips && i < ARRAY_SIZE(r->ips); i++)
                free(r->ips[i]);
        free(r->interface);
        memset(r, 0, sizeof(*r));
}

static int paths_of(struct net *n, const char *pod_id, char **ret_netns, char **ret_record)
{
        if (asprintf(ret_netns, "%s/netns/%s", net_state_dir(n), pod_id) < 0)
                return -ENOMEM;
        if (asprintf(ret_record, "%s/pods/%s.json", net_state_dir(n), pod_id) < 0) {
                free(*ret_netns);
                return -ENOMEM;
        }
        return 0;
}

/* The recorded namespace must be the one this pod id maps to: teardown
 * unmounts and unlinks it. -ENOENT, nothing in err, without a record. */
static int record_read(const char *path, const char *pod_id, const char *netns_path,
                       struct cni_record *ret, struct uvm_error **err)
{
        int r = cni_record_read(path, pod_id, pod_record_keys, ret, err);

        if (r < 0)
                return r;
        if (!STR_EQ(ret->fields[POD_NETNS], netns_path)) {
                cni_record_clear(ret);
                return uvm_error_set(err, EINVAL,
                                     "pod %s: network record '%s' is corrupt: it names another "
                                     "namespace",
                                     pod_id, path);
        }
        return 0;
}

static void invocation_of(const struct cni_record *rec, bool alive, struct cni_invocation *ret)
{
        /* DEL of a namespace that is gone: the spec's empty CNI_NETNS */
        cni_record_invocation(rec, alive ? rec->fields[POD_NETNS] : "",
                              rec->fields[POD_IFNAME_FIELD], ret);
}

static int result_fill(const struct cni_record *rec, const struct cni_result *cr,
                       struct net_pod_result *ret, struct uvm_error **err)
{
        struct net_pod_result r = {0};

        r.netns_path = strdup(rec->fields[POD_NETNS]);
        r.interface = strdup(cr->interface ? cr->interface : rec->fields[POD_IFNAME_FIELD]);
        for (size_t i = 0; i < cr->n_ips && i < ARRAY_SIZE(r.ips); i++)
                if ((r.ips[r.n_ips] = strdup(cr->ips[i])))
                        r.n_ips++;
        if (!r.netns_path || !r.interface || r.n_ips != cr->n_ips) {
                net_pod_result_clear(&r);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = r;
        return 0;
}

static int netns_drop(void *data, struct uvm_error **err)
{
        return netns_remove(data, err);
}

/* A teardown's namespace step, between DEL and the record's removal. */
static int netns_drop_stopping(void *data, struct uvm_error **err)
{
        int r;

        fault_point("stop_pod.cni_deleted");
        r = netns_remove(data, err);
        if (r >= 0)
                fault_point("stop_pod.netns_removed"); /* the record is still there */
        return r;
}

/* DEL (when ADD may have run), the namespace, the record (cni_record.h):
 * best effort for a setup's rollback, else stopping at the first failure. */
static int undo(struct net *n, const struct cni_record *rec, const char *record_path, bool added,
                bool rollback, struct uvm_error **err)
{
        const char *netns = rec->fields[POD_NETNS];
        struct cni_exec x;

        net_exec(n, &x);
        return cni_record_undo(rec, record_path,
                               &(struct cni_undo){
                                       .exec = &x,
                                       .netns = netns_is_valid(netns) ? netns : "",
                                       .ifname = rec->fields[POD_IFNAME_FIELD],
                                       .del = added,
                                       .best_effort = rollback,
                                       .ns_remove = rollback ? netns_drop : netns_drop_stopping,
                                       .data = (void *) netns,
                               },
                               err);
}

static int record_new(struct net *n, const struct net_pod_config *cfg, const char *netns,
                      struct cni_record *rec, struct uvm_error **err)
{
        int r = cni_record_init(rec, cfg, err);

        if (r >= 0)
                r = net_conf_snapshot(n, &rec->conf, err);
        if (r < 0)
                return r;
        rec->fields[POD_NETNS] = strdup(netns);
        rec->fields[POD_IFNAME_FIELD] = strdup(POD_IFNAME);
        if (!rec->fields[POD_NETNS] || !rec->fields[POD_IFNAME_FIELD])
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static int make_dirs(struct net *n, struct uvm_error **err)
{
        const char *subs[] = {"netns", "pods"};

        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *d = NULL;
                int r;
                if (asprintf(&d, "%s/%s", net_state_dir(n), subs[i]) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                r = fs_mkdir_p(d, 0700);
                if (r < 0)
                        return uvm_error_set(err, -r, "create '%s': %s", d, strerror(-r));
        }
        return 0;
}

/* A setup between its two halves (net.h): the attachment as recorded. */
struct net_pod_attach {
        struct net *n;
        struct cni_record rec;
        char *record_path;
};

void net_pod_attach_free(struct net_pod_attach *a)
{
        if (!a)
                return;
        cni_record_clear(&a->rec);
        free(a->record_path);
        free(a);
}

const char *net_pod_attach_netns(const struct net_pod_attach *a)
{
        return a->rec.fields[POD_NETNS];
}

int net_pod_netns(struct net *n, const struct net_pod_config *cfg, struct net_pod_attach **ret,
                  struct uvm_error **err)
{
        _cleanup_free_ char *netns = NULL;
        struct net_pod_attach *a;
        int r = cni_pod_check(cfg, err);

        if (r < 0)
                return r;
        a = calloc(1, sizeof(*a));
        if (!a || paths_of(n, cfg->pod_id, &netns, &a->record_path) < 0) {
                free(a);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        a->n = n;
        if (access(a->record_path, F_OK) == 0) {
                net_pod_attach_free(a);
                return uvm_error_set(err, EEXIST, "pod %s: network already set up", cfg->pod_id);
        }
        r = make_dirs(n, err);
        if (r >= 0)
                r = record_new(n, cfg, netns, &a->rec, err);
        /* no record: a namespace left at this path belongs to no pod */
        if (r >= 0)
                r = netns_remove(netns, err);
        if (r >= 0)
                r = cni_record_write(a->record_path, &a->rec, pod_record_keys, err);
        if (r >= 0) {
                r = netns_create_owned(netns, cfg->userns_path, err);
                if (r < 0)
                        undo(n, &a->rec, a->record_path, false, true, err);
                else
                        fault_point("run_pod.netns_created");
        }
        if (r < 0) {
                net_pod_attach_free(a);
                return uvm_error_wrap(err, "set up network of pod %s", cfg->pod_id);
        }
        *ret = a;
        return 0;
}

int net_pod_add(struct net_pod_attach *a, struct net_pod_result *ret, struct uvm_error **err)
{
        struct cni_record *rec = &a->rec;
        struct cni_result cr = {0};
        struct cni_invocation inv;
        struct cni_exec x;
        int r;

        net_exec(a->n, &x);
        invocation_of(rec, true, &inv);
        r = cni_add(&x, rec->conf, &inv, &cr, err);
        if (r >= 0)
                fault_point("run_pod.cni_added"); /* ADD done, its result not recorded */
        if (r >= 0 && !(rec->result = strdup(cr.json)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = cni_record_write(a->record_path, rec, pod_record_keys, err);
        if (r >= 0)
                r = result_fill(rec, &cr, ret, err);
        cni_result_clear(&cr);
        if (r < 0) {
                undo(a->n, rec, a->record_path, true, true, err);
                return uvm_error_wrap(err, "set up network of pod %s", rec->pod_id);
        }
        log_pod(LOG_LEVEL_DEBUG, rec->pod_id, "network attached: %s",
                ret->n_ips ? ret->ips[0] : "no IP");
        return 0;
}

int net_pod_setup(struct net *n, const struct net_pod_config *cfg, struct net_pod_result *ret,
                  struct uvm_error **err)
{
        struct net_pod_attach *a = NULL;
        int r = net_pod_netns(n, cfg, &a, err);

        if (r >= 0)
                r = net_pod_add(a, ret, err);
        net_pod_attach_free(a);
        return r;
}

int net_pod_load(struct net *n, const char *pod_id, struct net_pod_result *ret,
                 struct uvm_error **err)
{
        _cleanup_free_ char *netns = NULL, *record = NULL;
        struct cni_record rec = {0};
        struct cni_result cr = {0};
        int r;

        if (!cni_pod_id_ok(pod_id))
                return uvm_error_set(err, EINVAL, "pod network: invalid pod id '%.64s'",
                                     pod_id ? pod_id : "");
        if (paths_of(n, pod_id, &netns, &record) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = record_read(record, pod_id, netns, &rec, err);
        if (r == -ENOENT)
                return uvm_error_set(err, ENOENT, "pod %s: no network record", pod_id);
        if (r < 0)
                return r;
        if (!rec.result)
                r = uvm_error_set(err, ENOENT, "pod %s: network setup did not complete", pod_id);
        else if (!netns_is_valid(netns))
                r = uvm_error_set(err, ENOENT, "pod %s: network namespace '%s' is gone", pod_id,
                                  netns);
        else
                r = cni_result_parse("record", rec.result, &cr, err);
        if (r >= 0)
                r = result_fill(&rec, &cr, ret, err);
        cni_result_clear(&cr);
        cni_record_clear(&rec);
        return r;
}

int net_pod_teardown(struct net *n, const char *pod_id, struct uvm_error **err)
{
        _cleanup_free_ char *netns = NULL, *record = NULL;
        struct cni_record rec = {0};
        int r;

        if (!cni_pod_id_ok(pod_id))
                return uvm_error_set(err, EINVAL, "pod network: invalid pod id '%.64s'",
                                     pod_id ? pod_id : "");
        if (paths_of(n, pod_id, &netns, &record) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = record_read(record, pod_id, netns, &rec, err);
        if (r == -ENOENT)
                /* nothing recorded: at most a stray namespace from a crash */
                return netns_remove(netns, err);
        if (r >= 0)
                r = undo(n, &rec, record, true, false, err);
        cni_record_clear(&rec);
        if (r < 0) {
                uvm_error_wrap(err, "tear down network of pod %s", pod_id);
                return r;
        }
        return 0;
}
