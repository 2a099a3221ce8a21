/* A pod's CNI_ARGS and runtime config (cni_pod.h). Portable. */

#ifdef _WIN32
#include <ws2tcpip.h>
/* objbase.h's COM macro; net.h has a field of that name */
#undef interface
#else
#include <arpa/inet.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/macros.h"
#include "network/cni_pod.h"

#define CNI_POD_ID_MAX 128
/* the kubelet's "no limit" for bursts, in bits */
#define CNI_POD_BURST_UNLIMITED 2147483647

static const char *const pod_protocols[] = {"tcp", "udp", "sctp"};

bool cni_pod_id_ok(const char *s)
{
        if (STR_EMPTY(s) || strlen(s) > CNI_POD_ID_MAX || s[0] == '.' || s[0] == '-')
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               strlen(s);
}

/* A CNI_ARGS value: ';' and '=' would inject other keys. */
static bool arg_ok(const char *s)
{
        if (!s || strlen(s) > CNI_POD_MAX_NAME)
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
                if (n >= CNI_POD_MAX_LIST || strlen(v[n]) > CNI_POD_MAX_NAME)
                        return false;
        return true;
}

static bool address_ok(const char *s)
{
        unsigned char buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int check_ports(const struct net_pod_config *cfg, struct uvm_error **err)
{
        if (cfg->n_ports > CNI_POD_MAX_PORTS || (cfg->n_ports && !cfg->ports))
                return uvm_error_set(err, EINVAL, "pod %s: too many port mappings", cfg->pod_id);
        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct net_port *p = &cfg->ports[i];
                if (p->protocol < 0 || (size_t) p->protocol >= ARRAY_SIZE(pod_protocols))
                        return uvm_error_set(err, EINVAL, "pod %s: port %zu: unknown protocol %d",
                                             cfg->pod_id, i, p->protocol);
                if (p->container_port == 0)
                        return uvm_error_set(err, EINVAL, "pod %s: port %zu: no container port",
                                             cfg->pod_id, i);
                if (!STR_EMPTY(p->host_ip) && !address_ok(p->host_ip))
                        return uvm_error_set(err, EINVAL,
                                             "pod %s: port %zu: invalid host IP '%.64s'",
                                             cfg->pod_id, i, p->host_ip);
        }
        return 0;
}

int cni_pod_check(const struct net_pod_config *cfg, struct uvm_error **err)
{
        if (!cfg || !cni_pod_id_ok(cfg->pod_id))
                return uvm_error_set(err, EINVAL, "pod network: invalid pod id '%.64s'",
                                     cfg && cfg->pod_id ? cfg->pod_id : "");
        if (!arg_ok(cfg->name) || !arg_ok(cfg->namespace_) || !arg_ok(cfg->uid))
                return uvm_error_set(err, EINVAL,
                                     "pod %s: name, namespace and uid must be set and contain "
                                     "no spaces, ';' or '='",
                                     cfg->pod_id);
        if (!list_ok(cfg->dns_servers) || !list_ok(cfg->dns_searches) || !list_ok(cfg->dns_options))
                return uvm_error_set(err, EINVAL, "pod %s: DNS lists too long", cfg->pod_id);
        return check_ports(cfg, err);
}

static json_object *str_array(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

/* Published ports only: the others never reach the host. */
static json_object *port_mappings(const struct net_pod_config *cfg)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < cfg->n_ports; i++) {
                const struct net_port *p = &cfg->ports[i];
                json_object *m;
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
        json_object_object_add(bw, burst, json_object_new_int64(CNI_POD_BURST_UNLIMITED));
}

static json_object *runtime_config(const struct net_pod_config *cfg)
{
        json_object *rc = json_object_new_object(), *pm = port_mappings(cfg);

        if (pm && json_object_array_length(pm) > 0)
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

int cni_pod_args(const struct net_pod_config *cfg, char **ret_args, char **ret_runtime_config,
                 struct uvm_error **err)
{
        _cleanup_json_ json_object *rc = NULL;
        _cleanup_free_ char *args = NULL, *text = NULL;
        int r = cni_pod_check(cfg, err);

        if (r < 0)
                return r;
        rc = runtime_config(cfg);
        if (rc)
                text = strdup(json_object_to_json_string_ext(
                        rc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (asprintf(&args,
                     "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                     cfg->namespace_, cfg->name, cfg->pod_id, cfg->uid) < 0)
                args = NULL;
        if (!text || !args)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_args = TAKE_PTR(args);
        *ret_runtime_config = TAKE_PTR(text);
        return 0;
}
