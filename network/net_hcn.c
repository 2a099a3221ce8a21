/* A Windows pod's network from CNI plugins over HCN (see net_hcn.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "network/cni-plat.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/net_hcn.h"

#define NET_HCN_RECORD_VERSION 1
#define NET_HCN_RECORD_MAX (3 << 20) /* conflist + result, 1 MiB each at most */
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

/* What DEL needs, as recorded. */
struct attachment {
        char *pod_id, *ns_id, *args, *runtime_config;
        struct cni_conf *conf;
        char *result; /* ADD's, NULL until it succeeded */
};

static void attachment_clear(struct attachment *a)
{
        free(a->pod_id);
        free(a->ns_id);
        free(a->args);
        free(a->runtime_config);
        cni_conf_free(a->conf);
        free(a->result);
        memset(a, 0, sizeof(*a));
}

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
        memset(r, 0, sizeof(*r));
}

static const char *to_text(json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *parse_object(const char *text)
{
        json_object *o = text ? json_tokener_parse(text) : NULL;

        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static char *record_path(const char *pod_dir)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", pod_dir, NET_HCN_RECORD) < 0 ? NULL : p;
}

static int record_write(const char *path, const struct attachment *a, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *list = parse_object(a->conf->json), *rc = parse_object(a->runtime_config);
        json_object *res = parse_object(a->result);
        const char *text;
        int r;

        json_object_object_add(o, "version", json_object_new_int(NET_HCN_RECORD_VERSION));
        json_object_object_add(o, "podId", json_object_new_string(a->pod_id));
        json_object_object_add(o, "namespace", json_object_new_string(a->ns_id));
        json_object_object_add(o, "args", json_object_new_string(a->args));
        json_object_object_add(o, "confFile", json_object_new_string(a->conf->file));
        json_object_object_add(o, "conflist", list);
        json_object_object_add(o, "runtimeConfig", rc);
        if (res)
                json_object_object_add(o, "result", res);
        if (!list || !rc || (a->result && !res))
                return uvm_error_set(err, EINVAL, "pod %s: cannot encode network record",
                                     a->pod_id);
        text = to_text(o);
        r = plat_write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: write network record '%s': %s", a->pod_id,
                                     path, strerror(-r));
        return 0;
}

static int record_decode(json_object *o, const char *pod_id, struct attachment *a,
                         struct uvm_error **err)
{
        json_object *list, *rc, *res, *ver;
        const char *ns = json_string_of(o, "namespace"), *args = json_string_of(o, "args");
        const char *file = json_string_of(o, "confFile"), *id = json_string_of(o, "podId");

        if (!json_object_object_get_ex(o, "version", &ver) ||
            json_object_get_int(ver) != NET_HCN_RECORD_VERSION || !ns ||
            strlen(ns) != HCN_GUID_LEN || !args || !file || !id || !STR_EQ(id, pod_id) ||
            !json_object_object_get_ex(o, "conflist", &list) ||
            !json_object_object_get_ex(o, "runtimeConfig", &rc) ||
            !json_object_is_type(rc, json_type_object))
                return -EINVAL;
        if (cni_conf_parse(file, to_text(list), &a->conf, err) < 0)
                return -EINVAL;
        a->pod_id = strdup(pod_id);
        a->ns_id = strdup(ns);
        a->args = strdup(args);
        a->runtime_config = strdup(to_text(rc));
        if (json_object_object_get_ex(o, "result", &res)) {
                if (!json_object_is_type(res, json_type_object))
                        return -EINVAL;
                if (!(a->result = strdup(to_text(res))))
                        return -ENOMEM;
        }
        return a->pod_id && a->ns_id && a->args && a->runtime_config ? 0 : -ENOMEM;
}

/* -ENOENT, nothing in err, when there is no record. */
static int record_read(const char *path, const char *pod_id, struct attachment *ret,
                       struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        struct attachment a = {0};
        struct uvm_error *e = NULL;
        int r = plat_read_file(path, NET_HCN_RECORD_MAX, &text, NULL);

        if (r == -ENOENT)
                return r;
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: read network record '%s': %s", pod_id, path,
                                     strerror(-r));
        o = parse_object(text);
        r = o ? record_decode(o, pod_id, &a, &e) : -EINVAL;
        if (r < 0) {
                attachment_clear(&a);
                uvm_error_set(err, -r, "pod %s: network record '%s' is corrupt%s%s", pod_id, path,
                              e ? ": " : "", e && e->msg ? e->msg : "");
                uvm_error_free(e);
                return r;
        }
        *ret = a;
        return 0;
}

static void exec_of(struct net *n, struct cni_exec *x)
{
        *x = (struct cni_exec){n->ops, n->ops_data, n->bin_dirs, n->timeout_ms};
}

static void invocation_of(const struct attachment *a, struct cni_invocation *ret)
{
        *ret = (struct cni_invocation){
                .container_id = a->pod_id,
                /* Windows plugins take the namespace's GUID here */
                .netns = a->ns_id,
                .ifname = NET_HCN_IFNAME,
                .args = a->args,
                .runtime_config = a->runtime_config,
                .prev_result = a->result,
        };
}

static json_object *str_array(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

/* The "dns" capability: the pod's DNS config, for plugins that declare it. */
static char *runtime_config(const struct net_hcn_pod *cfg)
{
        _cleanup_json_ json_object *rc = json_object_new_object();

        if ((cfg->dns_servers && cfg->dns_servers[0]) ||
            (cfg->dns_searches && cfg->dns_searches[0]) ||
            (cfg->dns_options && cfg->dns_options[0])) {
                json_object *dns = json_object_new_object();
                json_object_object_add(dns, "servers", str_array(cfg->dns_servers));
                json_object_object_add(dns, "searches", str_array(cfg->dns_searches));
                json_object_object_add(dns, "options", str_array(cfg->dns_options));
                json_object_object_add(rc, "dns", dns);
        }
        return rc ? strdup(to_text(rc)) : NULL;
}

/* A CNI_ARGS value: ';' and '=' would inject other keys. */
static bool arg_ok(const char *s)
{
        if (!s || strlen(s) > 253)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f || *s == ';' || *s == '=')
                        return false;
        return true;
}

static int attachment_new(struct net *n, const struct net_hcn_pod *cfg, struct attachment *a,
                          struct uvm_error **err)
{
        char ns[HCN_GUID_LEN + 1];
        int r;

        if (!arg_ok(cfg->pod_id) || !arg_ok(cfg->name) || !arg_ok(cfg->namespace_) ||
            !arg_ok(cfg->uid))
                return uvm_error_set(err, EINVAL,
                                     "pod network: id, name, namespace and uid must be set and "
                                     "contain no spaces, ';' or '='");
        r = cni_conf_load_dir(n->conf_dir, n->bin_dirs, &a->conf, err);
        if (r >= 0)
                r = hcn_new_guid(ns, err);
        if (r < 0)
                return r;
        a->pod_id = strdup(cfg->pod_id);
        a->ns_id = strdup(ns);
        a->runtime_config = runtime_config(cfg);
        if (asprintf(&a->args,
                     "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                     cfg->namespace_, cfg->name, cfg->pod_id, cfg->uid) < 0)
                a->args = NULL;
        if (!a->pod_id || !a->ns_id || !a->runtime_config || !a->args)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* DEL (when ADD may have run), the namespace, the record; the first
 * failure, the record kept then. */
static int undo(struct net *n, const struct attachment *a, const char *path, bool del,
                struct uvm_error **err)
{
        struct cni_invocation inv;
        struct cni_exec x;
        int r = 0;

        if (del) {
                exec_of(n, &x);
                invocation_of(a, &inv);
                /* the recorded list, not the dir's current one */
                r = cni_del(&x, a->conf, &inv, err);
        }
        if (r >= 0)
                r = hcn_pod_delete(n->hcn, a->ns_id, NULL, 0, err);
        if (r >= 0) {
                r = plat_rm_rf(path);
                if (r < 0)
                        uvm_error_set(err, -r, "pod %s: remove network record: %s", a->pod_id,
                                      strerror(-r));
        }
        return r;
}

static int result_fill(struct net *n, const struct attachment *a, const struct cni_result *cr,
                       struct net_hcn_result *ret, struct uvm_error **err)
{
        struct net_hcn_result res = {0};
        int r;

        memcpy(res.ns_id, a->ns_id, HCN_GUID_LEN + 1);
        r = hcn_ns_endpoints(n->hcn, a->ns_id, res.endpoints, NET_HCN_MAX_ENDPOINTS,
                             &res.n_endpoints, err);
        if (r < 0)
                return r;
        if (res.n_endpoints == 0)
                return uvm_error_set(err, EIO,
                                     "CNI ADD on network '%s' put no HCN endpoint in the pod's "
                                     "namespace %s",
                                     a->conf->name, a->ns_id);
        for (size_t i = 0; i < cr->n_ips && i < ARRAY_SIZE(res.ips); i++) {
                if (!(res.ips[i] = strdup(cr->ips[i]))) {
                        net_hcn_result_clear(&res);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
                res.n_ips++;
        }
        *ret = res;
        return 0;
}

/* Namespace, ADD, the result recorded, the endpoints: ret_added says
 * whether ADD may have run. */
static int setup_steps(struct net *n, struct attachment *a, const char *path,
                       struct net_hcn_result *ret, bool *ret_added, struct uvm_error **err)
{
        struct cni_result cr = {0};
        struct cni_invocation inv;
        struct cni_exec x;
        int r;

        r = hcn_pod_create(n->hcn, a->ns_id, NULL, 0, NULL, err);
        if (r < 0)
                return r;
        exec_of(n, &x);
        invocation_of(a, &inv);
        *ret_added = true;
        r = cni_add(&x, a->conf, &inv, &cr, err);
        if (r >= 0 && !(a->result = strdup(cr.json)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = record_write(path, a, err);
        if (r >= 0)
                r = result_fill(n, a, &cr, ret, err);
        cni_result_clear(&cr);
        return r;
}

int net_hcn_pod_setup(struct net *n, const char *pod_dir, const struct net_hcn_pod *cfg,
                      struct net_hcn_result *ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(pod_dir);
        _cleanup_free_ char *old = NULL;
        struct attachment a = {0};
        struct uvm_error *e = NULL;
        bool added = false;
        int r;

        if (!n->hcn)
                return uvm_error_set(err, ENODEV, "pod network: %s", n->hcn_why);
        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (plat_read_file(path, 1, &old, NULL) != -ENOENT)
                return uvm_error_set(err, EEXIST, "pod %s: network already set up", cfg->pod_id);
        r = attachment_new(n, cfg, &a, err);
        /* before HCN makes anything: a restart finds the namespace */
        if (r >= 0)
                r = record_write(path, &a, err);
        if (r < 0) {
                attachment_clear(&a);
                return uvm_error_wrap(err, "set up network of pod %s", cfg->pod_id);
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
                log_pod(LOG_LEVEL_DEBUG, a.pod_id, "network attached: namespace %s, %s", a.ns_id,
                        ret->n_ips ? ret->ips[0] : "no IP");
        attachment_clear(&a);
        return r < 0 ? uvm_error_wrap(err, "set up network of pod %s", cfg->pod_id) : 0;
}

int net_hcn_pod_teardown(struct net *n, const char *pod_dir, const char *pod_id,
                         struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(pod_dir);
        struct attachment a = {0};
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
        attachment_clear(&a);
        return r < 0 ? uvm_error_wrap(err, "tear down network of pod %s", pod_id) : 0;
}
