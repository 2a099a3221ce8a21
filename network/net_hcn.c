/* A Windows pod's network from CNI plugins over HCN (see net_hcn.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "network/cni-plat.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/cni_record.h"
#include "network/net.h"
#include "network/net_hcn.h"
#include "network/pod_files.h"

/* The name the plugins give the pod's interface (containerd's too). */
#define NET_HCN_IFNAME "eth0"

struct net {
        char *conf_dir;
        char **bin_dirs;
        unsigned timeout_ms;
        const struct hcn_api *hcn;
        char *hcn_why;
        const struct cni_exec_ops *ops;
        void *ops_data;
};

/* The record's Windows field (cni_record.h): the namespace's GUID. */
enum { HCN_NAMESPACE };
static const char *const hcn_record_keys[] = {"namespace", NULL};

static char **strv_copy(char *const *v)
{
        size_t n = 0;
        char **c;

        while (v && v[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        strv_free(c);
                        return NULL;
                }
        return c;
}

struct net *net_hcn_free(struct net *n)
{
        if (!n)
                return NULL;
        free(n->conf_dir);
        strv_free(n->bin_dirs);
        free(n->hcn_why);
        free(n);
        return NULL;
}

int net_hcn_new(const struct net_hcn_options *o, struct net **ret, struct uvm_error **err)
{
        struct net *n;

        if (!o || STR_EMPTY(o->conf_dir) || !o->bin_dirs || !o->bin_dirs[0])
                return uvm_error_set(err, EINVAL,
                                     "pod network: a CNI config dir and bin dirs "
                                     "are required");
        n = calloc(1, sizeof(*n));
        if (!n)
                return uvm_error_set(err, ENOMEM, "out of memory");
        n->conf_dir = strdup(o->conf_dir);
        n->bin_dirs = strv_copy(o->bin_dirs);
        n->hcn_why = strdup(o->hcn_why ? o->hcn_why : "HCN is not available");
        n->timeout_ms = o->plugin_timeout_ms ? o->plugin_timeout_ms : 10000;
        n->hcn = o->hcn;
        n->ops = &cni_exec_spawn;
        if (!n->conf_dir || !n->bin_dirs || !n->hcn_why) {
                net_hcn_free(n);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = n;
        return 0;
}

void net_hcn_set_exec(struct net *n, const struct cni_exec_ops *ops, void *data)
{
        n->ops = ops ? ops : &cni_exec_spawn;
        n->ops_data = ops ? data : NULL;
}

bool net_hcn_in_use(struct net *n)
{
        _cleanup_strv_ char **names = NULL;

        return n && cni_plat_dir_names(n->conf_dir, &names, NULL) >= 0;
}

bool net_hcn_ready(struct net *n, char **ret_message)
{
        struct cni_conf *c = NULL;
        struct uvm_error *e = NULL;
        bool ok;

        *ret_message = NULL;
        if (!n->hcn) {
                *ret_message = strdup(n->hcn_why);
                return false;
        }
        /* read each time: a config a DaemonSet installs later counts */
        ok = cni_conf_load_dir(n->conf_dir, n->bin_dirs, &c, &e) >= 0;
        if (!ok)
                *ret_message = strdup(e && e->msg ? e->msg : "no CNI config");
        cni_conf_free(c);
        uvm_error_free(e);
        return ok;
}

void net_hcn_result_clear(struct net_hcn_result *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_ips && i < ARRAY_SIZE(r->ips); i++)
                free(r->ips[i]);
        strv_free(r->dns_servers);
        strv_free(r->dns_searches);
        strv_free(r->dns_options);
        memset(r, 0, sizeof(*r));
}

static bool strv_empty(char *const *v)
{
        return !v || !v[0];
}

void net_hcn_pod_dns(const struct net_pod_config *cfg, const struct net_hcn_result *res,
                     struct net_pod_files_in *in)
{
        if (cfg && (!strv_empty(cfg->dns_servers) || !strv_empty(cfg->dns_searches) ||
                    !strv_empty(cfg->dns_options))) {
                in->dns_servers = cfg->dns_servers;
                in->dns_searches = cfg->dns_searches;
                in->dns_options = cfg->dns_options;
        } else if (res) {
                in->dns_servers = res->dns_servers;
                in->dns_searches = res->dns_searches;
                in->dns_options = res->dns_options;
        }
}

static char *record_path(const char *pod_dir)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", pod_dir, NET_HCN_RECORD) < 0 ? NULL : p;
}

/* A GUID, which names what the undo deletes. -ENOENT, nothing in err,
 * without a record. */
static int record_read(const char *path, const char *pod_id, struct cni_record *ret,
                       struct uvm_error **err)
{
        int r = cni_record_read(path, pod_id, hcn_record_keys, ret, err);

        if (r < 0)
                return r;
        if (strlen(ret->fields[HCN_NAMESPACE]) != HCN_GUID_LEN) {
                cni_record_clear(ret);
                return uvm_error_set(err, EINVAL,
                                     "pod %s: network record '%s' is corrupt: no namespace GUID",
                                     pod_id, path);
        }
        return 0;
}

static void exec_of(struct net *n, struct cni_exec *x)
{
        *x = (struct cni_exec){n->ops, n->ops_data, n->bin_dirs, n->timeout_ms};
}

static int attachment_new(struct net *n, const struct net_pod_config *cfg, struct cni_record *a,
                          struct uvm_error **err)
{
        char ns[HCN_GUID_LEN + 1];
        int r = cni_record_init(a, cfg, err);

        if (r >= 0)
                r = cni_conf_load_dir(n->conf_dir, n->bin_dirs, &a->conf, err);
        if (r >= 0)
                r = hcn_new_guid(ns, err);
        if (r < 0)
                return r;
        if (!(a->fields[HCN_NAMESPACE] = strdup(ns)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

struct ns_drop {
        struct net *n;
        const char *ns_id;
};

static int ns_drop(void *data, struct uvm_error **err)
{
        struct ns_drop *d = data;

        return hcn_pod_delete(d->n->hcn, d->ns_id, NULL, 0, err);
}

/* DEL (when ADD may have run), the namespace, the record; the first
 * failure, the record kept then. */
static int undo(struct net *n, const struct cni_record *a, const char *path, bool del,
                struct uvm_error **err)
{
        struct ns_drop d = {n, a->fields[HCN_NAMESPACE]};
        struct cni_exec x;

        exec_of(n, &x);
        /* Windows plugins take the namespace's GUID as CNI_NETNS, on DEL too */
        return cni_record_undo(a, path,
                               &(struct cni_undo){.exec = &x,
                                                  .netns = a->fields[HCN_NAMESPACE],
                                                  .ifname = NET_HCN_IFNAME,
                                                  .del = del,
                                                  .ns_remove = ns_drop,
                                                  .data = &d},
                               err);
}

static int strv_dup(char *const *v, char ***ret)
{
        *ret = NULL;
        if (strv_empty(v))
                return 0;
        *ret = strv_copy(v);
        return *ret ? 0 : -ENOMEM;
}

/* The result's advised DNS: nameservers, search (else its domain), options. */
static int result_dns(const struct cni_dns *d, struct net_hcn_result *res)
{
        char *domain[2] = {d->domain, NULL};

        if (strv_dup(d->nameservers, &res->dns_servers) < 0 ||
            strv_dup(!strv_empty(d->search) ? d->search : domain, &res->dns_searches) < 0 ||
            strv_dup(d->options, &res->dns_options) < 0)
                return -ENOMEM;
        return 0;
}

static int result_fill(struct net *n, const struct cni_record *a, const struct cni_result *cr,
                       struct net_hcn_result *ret, struct uvm_error **err)
{
        const char *ns = a->fields[HCN_NAMESPACE];
        struct net_hcn_result res = {0};
        int r;

        memcpy(res.ns_id, ns, HCN_GUID_LEN + 1);
        r = hcn_ns_endpoints(n->hcn, ns, res.endpoints, NET_HCN_MAX_ENDPOINTS, &res.n_endpoints,
                             err);
        if (r < 0)
                return r;
        if (res.n_endpoints == 0)
                return uvm_error_set(err, EIO,
                                     "CNI ADD on network '%s' put no HCN endpoint in the pod's "
                                     "namespace %s",
                                     a->conf->name, ns);
        for (size_t i = 0; r >= 0 && i < cr->n_ips && i < ARRAY_SIZE(res.ips); i++) {
                if (!(res.ips[i] = strdup(cr->ips[i])))
                        r = -ENOMEM;
                else
                        res.n_ips++;
        }
        if (r >= 0)
                r = result_dns(&cr->dns, &res);
        if (r < 0) {
                net_hcn_result_clear(&res);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = res;
        return 0;
}

/* Namespace, ADD, the result recorded, the endpoints: ret_added says
 * whether ADD may have run. */
static int setup_steps(struct net *n, struct cni_record *a, const char *path,
                       struct net_hcn_result *ret, bool *ret_added, struct uvm_error **err)
{
        const char *ns = a->fields[HCN_NAMESPACE];
        struct cni_result cr = {0};
        struct cni_invocation inv;
        struct cni_exec x;
        int r;

        r = hcn_pod_create(n->hcn, ns, NULL, 0, NULL, err);
        if (r < 0)
                return r;
        exec_of(n, &x);
        /* Windows plugins take the namespace's GUID as CNI_NETNS */
        cni_record_invocation(a, ns, NET_HCN_IFNAME, &inv);
        *ret_added = true;
        r = cni_add(&x, a->conf, &inv, &cr, err);
        if (r >= 0 && !(a->result = strdup(cr.json)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = cni_record_write(path, a, hcn_record_keys, err);
        if (r >= 0)
                r = result_fill(n, a, &cr, ret, err);
        cni_result_clear(&cr);
        return r;
}

int net_hcn_pod_setup(struct net *n, const char *pod_dir, const struct net_pod_config *cfg,
                      struct net_hcn_result *ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(pod_dir);
        _cleanup_free_ char *old = NULL;
        struct cni_record a = {0};
        struct uvm_error *e = NULL;
        const char *id = cfg && cfg->pod_id ? cfg->pod_id : "";
        bool added = false;
        int r;

        if (!n->hcn)
                return uvm_error_set(err, ENODEV, "pod network: %s", n->hcn_why);
        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (plat_read_file(path, 1, &old, NULL) != -ENOENT)
                return uvm_error_set(err, EEXIST, "pod %s: network already set up", id);
        r = attachment_new(n, cfg, &a, err);
        /* before HCN makes anything: a restart finds the namespace */
        if (r >= 0)
                r = cni_record_write(path, &a, hcn_record_keys, err);
        if (r < 0) {
                cni_record_clear(&a);
                return uvm_error_wrap(err, "set up network of pod %s", id);
        }
        r = setup_steps(n, &a, path, ret, &added, err);
        if (r < 0 && undo(n, &a, path, added, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, a.pod_id,
                        "pod %s: undo network: %s, ignoring (kept for "
                        "the pod's removal)",
                        a.pod_id, e ? e->msg : "failed");
        }
        uvm_error_free(e);
        if (r >= 0)
                log_pod(LOG_LEVEL_DEBUG, a.pod_id, "network attached: namespace %s, %s",
                        a.fields[HCN_NAMESPACE], ret->n_ips ? ret->ips[0] : "no IP");
        cni_record_clear(&a);
        return r < 0 ? uvm_error_wrap(err, "set up network of pod %s", id) : 0;
}

int net_hcn_pod_teardown(struct net *n, const char *pod_dir, const char *pod_id,
                         struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(pod_dir);
        struct cni_record a = {0};
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = record_read(path, pod_id, &a, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!n->hcn)
                r = uvm_error_set(err, ENODEV, "%s", n->hcn_why);
        else
                r = undo(n, &a, path, true, err);
        cni_record_clear(&a);
        return r < 0 ? uvm_error_wrap(err, "tear down network of pod %s", pod_id) : 0;
}
