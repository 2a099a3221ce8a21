/* A pod's network attachment: its namespace, CNI ADD/DEL, and the record
 * that lets a restarted uvmd find and undo both.
 *
 * The record (<state_dir>/pods/<pod_id>.json) is written before the
 * namespace exists and before ADD runs, so a crash at any point leaves
 * enough to run DEL with the exact config list that ADD used. It is removed
 * last, after DEL succeeded and the namespace is gone. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fault.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/cni_exec.h"
#include "network/net-internal.h"
#include "network/net.h"
#include "network/netns.h"

#define POD_IFNAME "eth0"
#define POD_RECORD_VERSION 1
/* conflist (1 MiB max) + result (1 MiB max) + the rest */
#define POD_RECORD_MAX (3 << 20)
#define POD_ID_MAX 128
#define POD_NAME_MAX 253
#define POD_MAX_LIST 32
/* the kubelet's "no limit" for bursts, in bits */
#define POD_BURST_UNLIMITED 2147483647

static const char *const pod_protocols[] = {"tcp", "udp", "sctp"};

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

/* The id names files: letters, digits, '_', '.', '-', not starting with a
 * dot or dash. */
static bool pod_id_ok(const char *s)
{
        if (STR_EMPTY(s) || strlen(s) > POD_ID_MAX || s[0] == '.' || s[0] == '-')
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               strlen(s);
}

/* A CNI_ARGS value: ';' and '=' would inject other keys. */
static bool arg_ok(const char *s)
{
        if (!s || strlen(s) > POD_NAME_MAX)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f || *s == ';' || *s == '=')
                        return false;
        return true;
}

static bool list_ok(char *const *v)
{
        size_t n = 0;

        for (; v && v[n]; n++)
                if (n >= POD_MAX_LIST || strlen(v[n]) > POD_NAME_MAX)
                        return false;
        return true;
}

static int check_config(const struct net_pod_config *cfg, struct uvm_error **err)
{
        unsigned char buf[sizeof(struct in6_addr)];

        if (!cfg || !pod_id_ok(cfg->pod_id))
                return uvm_error_set(err, EINVAL, "pod network: invalid pod id '%.64s'",
                                     cfg && cfg->pod_id ? cfg->pod_id : "");
        if (!arg_ok(cfg->name) || !arg_ok(cfg->namespace_) || !arg_ok(cfg->uid))
                return uvm_error_set(err, EINVAL,
                                     "pod %s: name, namespace and uid must be set and contain "
                                     "no spaces, ';' or '='",
                                     cfg->pod_id);
        if (cfg->n_ports > 1024 || (cfg->n_ports && !cfg->ports))
                return uvm_error_set(err, EINVAL, "pod %s: too many port mappings", cfg->pod_id);
        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct net_port *p = &cfg->ports[i];
                if (p->protocol < 0 || (size_t) p->protocol >= ARRAY_SIZE(pod_protocols))
                        return uvm_error_set(err, EINVAL, "pod %s: port %zu: unknown protocol %d",
                                             cfg->pod_id, i, p->protocol);
                if (!STR_EMPTY(p->host_ip) && inet_pton(AF_INET, p->host_ip, buf) != 1 &&
                    inet_pton(AF_INET6, p->host_ip, buf) != 1)
                        return uvm_error_set(err, EINVAL,
                                             "pod %s: port %zu: invalid host IP "
                                             "'%.64s'",
                                             cfg->pod_id, i, p->host_ip);
        }
        if (!list_ok(cfg->dns_servers) || !list_ok(cfg->dns_searches) || !list_ok(cfg->dns_options))
                return uvm_error_set(err, EINVAL, "pod %s: DNS lists too long", cfg->pod_id);
        return 0;
}

static json_object *str_array(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static json_object *port_mappings(const struct net_pod_config *cfg)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct net_port *p = &cfg->ports[i];
                json_object *m;
                /* only published ports reach the host */
                if (p->host_port == 0)
                        continue;
                m = json_object_new_object();
                json_object_object_add(m, "hostPort", json_object_new_int(p->host_port));
                json_object_object_add(m, "containerPort", json_object_new_int(p->container_port));
                json_object_object_add(m, "protocol",
                                       json_object_new_string(pod_protocols[p->protocol]));
                if (!STR_EMPTY(p->host_ip))
                        json_object_object_add(m, "hostIP", json_object_new_string(p->host_ip));
                json_object_array_add(a, m);
        }
        return a;
}

static void add_rate(json_object *bw, const char *rate, const char *burst, uint64_t bps)
{
        if (bps == 0)
                return;
        json_object_object_add(bw, rate,
                               json_object_new_int64(bps > INT64_MAX ? INT64_MAX : (int64_t) bps));
        json_object_object_add(bw, burst, json_object_new_int64(POD_BURST_UNLIMITED));
}

/* The capability arguments; each plugin gets the keys it declares. */
static json_object *runtime_config(const struct net_pod_config *cfg)
{
        json_object *rc = json_object_new_object(), *pm = port_mappings(cfg);

        if (json_object_array_length(pm) > 0)
                json_object_object_add(rc, "portMappings", pm);
        else
                json_object_put(pm);
        if ((cfg->dns_servers && cfg->dns_servers[0]) ||
            (cfg->dns_searches && cfg->dns_searches[0]) ||
            (cfg->dns_options && cfg->dns_options[0])) {
                json_object *dns = json_object_new_object();
                json_object_object_add(dns, "servers", str_array(cfg->dns_servers));
                json_object_object_add(dns, "searches", str_array(cfg->dns_searches));
                json_object_object_add(dns, "options", str_array(cfg->dns_options));
                json_object_object_add(rc, "dns", dns);
        }
        if (cfg->ingress_bps || cfg->egress_bps) {
                json_object *bw = json_object_new_object();
                add_rate(bw, "ingressRate", "ingressBurst", cfg->ingress_bps);
                add_rate(bw, "egressRate", "egressBurst", cfg->egress_bps);
                json_object_object_add(rc, "bandwidth", bw);
        }
        return rc;
}

static const char *to_text(json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A pod's CNI attachment: everything DEL needs, in memory and on disk
 * (not to be confused with the sandbox layer's pod record). */
struct cni_attachment {
        char *pod_id, *netns, *ifname, *args;
        char *runtime_config; /* JSON object text */
        struct cni_conf *conf;
        char *result; /* JSON text of the ADD result, NULL until ADD succeeded */
};

static void cni_attachment_clear(struct cni_attachment *r)
{
        free(r->pod_id);
        free(r->netns);
        free(r->ifname);
        free(r->args);
        free(r->runtime_config);
        cni_conf_free(r->conf);
        free(r->result);
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

static json_object *parse_object(const char *text)
{
        json_object *o = text ? json_tokener_parse(text) : NULL;

        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int record_write(const char *path, const struct cni_attachment *rec, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *list = parse_object(rec->conf->json);
        json_object *rc = parse_object(rec->runtime_config);
        json_object *res = parse_object(rec->result);
        const char *text;
        int r;

        json_object_object_add(o, "version", json_object_new_int(POD_RECORD_VERSION));
        json_object_object_add(o, "podId", json_object_new_string(rec->pod_id));
        json_object_object_add(o, "netns", json_object_new_string(rec->netns));
        json_object_object_add(o, "ifname", json_object_new_string(rec->ifname));
        json_object_object_add(o, "args", json_object_new_string(rec->args));
        json_object_object_add(o, "confFile", json_object_new_string(rec->conf->file));
        json_object_object_add(o, "conflist", list);
        json_object_object_add(o, "runtimeConfig", rc);
        if (res)
                json_object_object_add(o, "result", res);
        if (!list || !rc || (rec->result && !res))
                return uvm_error_set(err, EINVAL, "pod %s: cannot encode network record",
                                     rec->pod_id);
        text = to_text(o);
        r = fs_write_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: write network record '%s': %s", rec->pod_id,
                                     path, strerror(-r));
        return 0;
}

/* The fields of a parsed record; every one is checked, and the namespace
 * must be the one this pod id maps to (teardown unmounts and unlinks it). */
static int record_decode(json_object *o, const char *pod_id, const char *netns_path,
                         struct cni_attachment *rec, struct uvm_error **err)
{
        json_object *list, *rc, *res, *ver;
        const char *netns = json_string_of(o, "netns"), *ifname = json_string_of(o, "ifname");
        const char *args = json_string_of(o, "args"), *file = json_string_of(o, "confFile");

        if (!json_object_object_get_ex(o, "version", &ver) ||
            json_object_get_int(ver) != POD_RECORD_VERSION || !netns || !ifname || !args || !file ||
            !json_object_object_get_ex(o, "conflist", &list) ||
            !json_object_object_get_ex(o, "runtimeConfig", &rc) ||
            !json_object_is_type(rc, json_type_object) || !json_string_of(o, "podId") ||
            !STR_EQ(json_string_of(o, "podId"), pod_id) || !STR_EQ(netns, netns_path))
                return -EINVAL;
        if (cni_conf_parse(file, to_text(list), &rec->conf, err) < 0)
                return -EINVAL;
        rec->pod_id = strdup(pod_id);
        rec->netns = strdup(netns);
        rec->ifname = strdup(ifname);
        rec->args = strdup(args);
        rec->runtime_config = strdup(to_text(rc));
        if (json_object_object_get_ex(o, "result", &res)) {
                if (!json_object_is_type(res, json_type_object))
                        return -EINVAL;
                rec->result = strdup(to_text(res));
                if (!rec->result)
                        return -ENOMEM;
        }
        if (!rec->pod_id || !rec->netns || !rec->ifname || !rec->args || !rec->runtime_config)
                return -ENOMEM;
        return 0;
}

/* -ENOENT without recording an error when there is no record. */
static int record_read(const char *path, const char *pod_id, const char *netns_path,
                       struct cni_attachment *ret, struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        struct cni_attachment rec = {0};
        struct uvm_error *e = NULL;
        int r = fs_read_file(path, POD_RECORD_MAX, &text, NULL);

        if (r == -ENOENT)
                return r;
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: read network record '%s': %s", pod_id, path,
                                     strerror(-r));
        o = parse_object(text);
        r = o ? record_decode(o, pod_id, netns_path, &rec, &e) : -EINVAL;
        if (r < 0) {
                cni_attachment_clear(&rec);
                uvm_error_set(err, -r, "pod %s: network record '%s' is corrupt%s%s", pod_id, path,
                              e ? ": " : "", e && e->msg ? e->msg : "");
                uvm_error_free(e);
                return r;
        }
        *ret = rec;
        return 0;
}

static void invocation_of(const struct cni_attachment *rec, bool alive, struct cni_invocation *ret)
{
        *ret = (struct cni_invocation){
                .container_id = rec->pod_id,
                /* DEL of a namespace that is gone: the spec's empty CNI_NETNS */
                .netns = alive ? rec->netns : "",
                .ifname = rec->ifname,
                .args = rec->args,
                .runtime_config = rec->runtime_config,
                .prev_result = rec->result,
        };
}

static int result_fill(const struct cni_attachment *rec, const struct cni_result *cr,
                       struct net_pod_result *ret, struct uvm_error **err)
{
        struct net_pod_result r = {0};

        r.netns_path = strdup(rec->netns);
        r.interface = strdup(cr->interface ? cr->interface : rec->ifname);
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

/* Undo a partial setup; the caller's first error stays the one reported. */
static void setup_rollback(struct net *n, const struct cni_attachment *rec, const char *record_path,
                           bool added)
{
        struct uvm_error *e = NULL;
        struct cni_invocation inv;
        struct cni_exec x;

        if (added) {
                net_exec(n, &x);
                invocation_of(rec, netns_is_valid(rec->netns), &inv);
                if (cni_del(&x, rec->conf, &inv, &e) < 0)
                        log_pod(LOG_LEVEL_DEBUG, rec->pod_id, "rollback: %s, ignoring", e->msg);
                e = uvm_error_free(e);
        }
        if (netns_remove(rec->netns, &e) < 0)
                log_pod(LOG_LEVEL_WARN, rec->pod_id, "rollback: %s, ignoring", e->msg);
        uvm_error_free(e);
        if (unlink(record_path) < 0 && errno != ENOENT)
                log_pod(LOG_LEVEL_WARN, rec->pod_id, "rollback: unlink '%s': %m, ignoring",
                        record_path);
}

static int record_new(struct net *n, const struct net_pod_config *cfg, const char *netns,
                      struct cni_attachment *rec, struct uvm_error **err)
{
        _cleanup_json_ json_object *rc = runtime_config(cfg);
        int r = net_conf_snapshot(n, &rec->conf, err);

        if (r < 0)
                return r;
        rec->pod_id = strdup(cfg->pod_id);
        rec->netns = strdup(netns);
        rec->ifname = strdup(POD_IFNAME);
        rec->runtime_config = strdup(to_text(rc));
        if (asprintf(&rec->args,
                     "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                     cfg->namespace_, cfg->name, cfg->pod_id, cfg->uid) < 0)
                rec->args = NULL;
        if (!rec->pod_id || !rec->netns || !rec->ifname || !rec->runtime_config || !rec->args)
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
        struct cni_attachment rec;
        char *record_path;
};

void net_pod_attach_free(struct net_pod_attach *a)
{
        if (!a)
                return;
        cni_attachment_clear(&a->rec);
        free(a->record_path);
        free(a);
}

const char *net_pod_attach_netns(const struct net_pod_attach *a)
{
        return a->rec.netns;
}

int net_pod_netns(struct net *n, const struct net_pod_config *cfg, struct net_pod_attach **ret,
                  struct uvm_error **err)
{
        _cleanup_free_ char *netns = NULL;
        struct net_pod_attach *a;
        int r = check_config(cfg, err);

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
                r = record_write(a->record_path, &a->rec, err);
        if (r >= 0) {
                r = netns_create_owned(netns, cfg->userns_path, err);
                if (r < 0)
                        setup_rollback(n, &a->rec, a->record_path, false);
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
        struct cni_attachment *rec = &a->rec;
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
                r = record_write(a->record_path, rec, err);
        if (r >= 0)
                r = result_fill(rec, &cr, ret, err);
        cni_result_clear(&cr);
        if (r < 0) {
                setup_rollback(a->n, rec, a->record_path, true);
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
        struct cni_attachment rec = {0};
        struct cni_result cr = {0};
        int r;

        if (!pod_id_ok(pod_id))
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
        else if (!netns_is_valid(rec.netns))
                r = uvm_error_set(err, ENOENT, "pod %s: network namespace '%s' is gone", pod_id,
                                  rec.netns);
        else
                r = cni_result_parse("record", rec.result, &cr, err);
        if (r >= 0)
                r = result_fill(&rec, &cr, ret, err);
        cni_result_clear(&cr);
        cni_attachment_clear(&rec);
        return r;
}

int net_pod_teardown(struct net *n, const char *pod_id, struct uvm_error **err)
{
        _cleanup_free_ char *netns = NULL, *record = NULL;
        struct cni_attachment rec = {0};
        struct cni_invocation inv;
        struct cni_exec x;
        int r;

        if (!pod_id_ok(pod_id))
                return uvm_error_set(err, EINVAL, "pod network: invalid pod id '%.64s'",
                                     pod_id ? pod_id : "");
        if (paths_of(n, pod_id, &netns, &record) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = record_read(record, pod_id, netns, &rec, err);
        if (r == -ENOENT)
                /* nothing recorded: at most a stray namespace from a crash */
                return netns_remove(netns, err);
        if (r < 0)
                return r;
        net_exec(n, &x);
        invocation_of(&rec, netns_is_valid(rec.netns), &inv);
        /* the recorded list, not the dir's current one: DEL must undo ADD */
        r = cni_del(&x, rec.conf, &inv, err);
        if (r >= 0) {
                fault_point("stop_pod.cni_deleted");
                r = netns_remove(rec.netns, err);
        }
        if (r >= 0)
                fault_point("stop_pod.netns_removed"); /* the record is still there */
        if (r >= 0 && unlink(record) < 0 && errno != ENOENT)
                r = uvm_error_set(err, errno, "pod %s: remove network record: %s", pod_id,
                                  strerror(errno));
        cni_attachment_clear(&rec);
        if (r < 0) {
                uvm_error_wrap(err, "tear down network of pod %s", pod_id);
                return r;
        }
        return 0;
}
