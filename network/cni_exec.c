/* CNI ADD/CHECK/DEL over a config list (see cni_exec.h). Portable: how a
 * plugin is found and started, and the environment it gets besides the
 * request, come from cni-plat.h. */

#ifdef _WIN32
#include <ws2tcpip.h>
/* objbase.h's COM macro; struct cni_result has a field of that name */
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
#include "common/log.h"
#include "common/macros.h"
#include "network/cni-plat.h"
#include "network/cni_exec.h"
#include "network/pod_files.h"

/* The request's five variables; the platform's (cni-plat.h) follow. */
#define CNI_REQUEST_ENV 5
/* Linux's IFNAMSIZ, the limit CNI's interface names keep everywhere. */
#define CNI_IFNAME_SIZE 16
/* Bounds on a result: more than this is not a pod attachment. */
#define CNI_RESULT_MAX_ENTRIES 64
/* A plugin's error message goes to the user; keep it readable. */
#define CNI_MAX_MSG 1024

static const char *const cni_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

/* Runtime config keys a plugin may ask for through "capabilities". */
static const char *const cni_capabilities[] = {"portMappings", "dns", "bandwidth", "ipRanges"};

enum cni_cmd { CNI_CMD_ADD, CNI_CMD_CHECK, CNI_CMD_DEL };

static const char *const cni_cmd_names[] = {"ADD", "CHECK", "DEL"};

bool cni_version_supported(const char *version)
{
        for (size_t i = 0; version && i < ARRAY_SIZE(cni_versions); i++)
                if (STR_EQ(version, cni_versions[i]))
                        return true;
        return false;
}

/* 0.3.x has no CHECK and no prevResult on DEL. */
static bool version_has_check(const char *version)
{
        return strncmp(version, "0.3.", 4) != 0;
}

void cni_result_clear(struct cni_result *r)
{
        if (!r)
                return;
        free(r->json);
        for (size_t i = 0; i < r->n_ips; i++)
                free(r->ips[i]);
        free(r->interface);
        strv_free(r->dns.nameservers);
        free(r->dns.domain);
        strv_free(r->dns.search);
        strv_free(r->dns.options);
        memset(r, 0, sizeof(*r));
}

static const char *to_text(json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

json_object *cni_json_parse(const char *text)
{
        json_tokener *tok = json_tokener_new();
        json_object *o;
        size_t len = strlen(text);

        if (!tok)
                return NULL;
        o = json_tokener_parse_ex(tok, text, (int) len);
        if (o && json_tokener_get_error(tok) == json_tokener_success &&
            strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
                    len - json_tokener_get_parse_end(tok)) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}

/* CNI's container ID and interface name rules. */
static bool container_id_ok(const char *s)
{
        if (STR_EMPTY(s) || strlen(s) > 256 ||
            !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", s[0]))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               strlen(s);
}

static bool ifname_ok(const char *s)
{
        if (STR_EMPTY(s) || strlen(s) >= CNI_IFNAME_SIZE || STR_EQ(s, ".") || STR_EQ(s, ".."))
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == '/' || *s == ':' || *s == 0x7f)
                        return false;
        return true;
}

static bool env_value_ok(const char *s)
{
        for (; s && *s; s++)
                if ((unsigned char) *s < ' ')
                        return false;
        return true;
}

static int check_invocation(const struct cni_exec *x, const struct cni_conf *c,
                            const struct cni_invocation *inv, struct uvm_error **err)
{
        if (!x || !x->ops || !x->ops->run || !c || !inv)
                return uvm_error_set(err, EINVAL, "CNI: executor, config and invocation required");
        if (!cni_version_supported(c->cni_version))
                return uvm_error_set(err, ENOTSUP,
                                     "CNI config '%s': cniVersion '%.32s' is not supported "
                                     "(supported: 0.3.0 to 1.1.0)",
                                     c->name, c->cni_version);
        if (!container_id_ok(inv->container_id))
                return uvm_error_set(err, EINVAL, "CNI: invalid container id '%.64s'",
                                     inv->container_id ? inv->container_id : "");
        if (!ifname_ok(inv->ifname))
                return uvm_error_set(err, EINVAL, "CNI: invalid interface name '%.32s'",
                                     inv->ifname ? inv->ifname : "");
        if (!env_value_ok(inv->netns) || !env_value_ok(inv->args) ||
            strlen(inv->args ? inv->args : "") > 4096)
                return uvm_error_set(err, EINVAL, "CNI: invalid netns path or CNI_ARGS");
        return 0;
}

static int build_env(const struct cni_exec *x, enum cni_cmd cmd, const struct cni_invocation *inv,
                     char ***ret_env)
{
        _cleanup_strv_ char **base = NULL, **env = NULL;
        size_t n = 0, nb = 0;

        if (cni_plat_base_env(x->bin_dirs, &base) < 0)
                return -ENOMEM;
        while (base[nb])
                nb++;
        env = calloc(CNI_REQUEST_ENV + nb + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        if (asprintf(&env[n++], "CNI_COMMAND=%s", cni_cmd_names[cmd]) < 0 ||
            asprintf(&env[n++], "CNI_CONTAINERID=%s", inv->container_id) < 0 ||
            asprintf(&env[n++], "CNI_NETNS=%s", inv->netns ? inv->netns : "") < 0 ||
            asprintf(&env[n++], "CNI_IFNAME=%s", inv->ifname) < 0 ||
            asprintf(&env[n++], "CNI_ARGS=%s", inv->args ? inv->args : "") < 0) {
                /* a failed asprintf leaves its pointer undefined */
                env[n - 1] = NULL;
                return -ENOMEM;
        }
        for (size_t i = 0; i < nb; i++)
                env[n++] = TAKE_PTR(base[i]);
        *ret_env = TAKE_PTR(env);
        return 0;
}

/* The keys of rc the plugin declared as capabilities, or NULL for none. */
static json_object *runtime_config_for(json_object *plugin, json_object *rc)
{
        json_object *caps, *out = NULL;

        if (!rc || !json_object_object_get_ex(plugin, "capabilities", &caps) ||
            !json_object_is_type(caps, json_type_object))
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(cni_capabilities); i++) {
                json_object *on, *v;
                if (!json_object_object_get_ex(caps, cni_capabilities[i], &on) ||
                    !json_object_is_type(on, json_type_boolean) || !json_object_get_boolean(on) ||
                    !json_object_object_get_ex(rc, cni_capabilities[i], &v))
                        continue;
                if (!out && !(out = json_object_new_object()))
                        return NULL;
                json_object_object_add(out, cni_capabilities[i], json_object_get(v));
        }
        return out;
}

/* Plugin i's stdin: its own object with the list's name and cniVersion, the
 * previous result and its share of the runtime config. */
static char *plugin_stdin(json_object *list, size_t i, json_object *prev, json_object *rc)
{
        json_object *plugins = json_object_object_get(list, "plugins");
        json_object *p = json_object_array_get_idx(plugins, i), *pc;
        _cleanup_json_ json_object *copy = NULL;

        if (json_object_deep_copy(p, &copy, NULL) < 0)
                return NULL;
        json_object_object_add(copy, "name", json_object_new_string(json_string_of(list, "name")));
        json_object_object_add(copy, "cniVersion",
                               json_object_new_string(json_string_of(list, "cniVersion")));
        json_object_object_del(copy, "prevResult");
        json_object_object_del(copy, "runtimeConfig");
        if (prev)
                json_object_object_add(copy, "prevResult", json_object_get(prev));
        if ((pc = runtime_config_for(p, rc)))
                json_object_object_add(copy, "runtimeConfig", pc);
        return strdup(to_text(copy));
}

/* A failed plugin's error JSON, passed up as the plugin said it. */
static int plugin_error(const char *type, const char *out, int status, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = out && *out ? cni_json_parse(out) : NULL;
        json_object *code;
        const char *msg, *details;
        int c = 0;

        msg = o && json_object_is_type(o, json_type_object) ? json_string_of(o, "msg") : NULL;
        if (!msg)
                return uvm_error_set(err, EIO, "plugin %s: exited with status %d%s%.200s", type,
                                     status, out && *out ? ", output: " : " and no error output",
                                     out ? out : "");
        if (json_object_object_get_ex(o, "code", &code) && json_object_is_type(code, json_type_int))
                c = json_object_get_int(code);
        details = json_string_of(o, "details");
        /* 11: "try again later" in the spec's table */
        return uvm_error_set(err, c == 11 ? EAGAIN : EIO, "plugin %s: %.*s%s%.*s (code %d)", type,
                             CNI_MAX_MSG, msg, STR_EMPTY(details) ? "" : ": ", CNI_MAX_MSG,
                             details ? details : "", c);
}

/* Run plugin i; on exit 0, *ret_out is its stdout. */
static int run_plugin(const struct cni_exec *x, const struct cni_conf *c, json_object *list,
                      size_t i, char *const *env, json_object *prev, json_object *rc,
                      char **ret_out, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *in = NULL, *out = NULL;
        const char *type = c->types[i];
        int r, status = 0;

        r = cni_find_plugin(x->bin_dirs, type, &path);
        if (r < 0)
                return uvm_error_set(err, -r, "plugin %s: not found in the CNI path", type);
        in = plugin_stdin(list, i, prev, rc);
        if (!in)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = x->ops->run(x->data, path, env, in, x->timeout_ms ? x->timeout_ms : 10000, &out,
                        &status, err);
        if (r < 0)
                return r;
        if (!out)
                return uvm_error_set(err, EIO, "plugin %s: executor returned no output", type);
        if (strlen(out) > CNI_MAX_OUTPUT)
                return uvm_error_set(err, EFBIG, "plugin %s: output too large", type);
        if (status != 0)
                return plugin_error(type, out, status, err);
        *ret_out = TAKE_PTR(out);
        return 0;
}

struct chain {
        json_object *list, *rc, *prev;
        char **env;
};

static void chain_done(struct chain *ch)
{
        json_object_put(ch->list);
        json_object_put(ch->rc);
        json_object_put(ch->prev);
        strv_free(ch->env);
}

static int chain_init(struct chain *ch, const struct cni_exec *x, const struct cni_conf *c,
                      enum cni_cmd cmd, const struct cni_invocation *inv, struct uvm_error **err)
{
        int r = check_invocation(x, c, inv, err);

        if (r < 0)
                return r;
        ch->list = cni_json_parse(c->json);
        if (!ch->list ||
            json_object_array_length(json_object_object_get(ch->list, "plugins")) != c->n_types)
                return uvm_error_set(err, EINVAL, "CNI config '%s': list does not parse", c->name);
        if (inv->runtime_config) {
                ch->rc = cni_json_parse(inv->runtime_config);
                if (!ch->rc || !json_object_is_type(ch->rc, json_type_object))
                        return uvm_error_set(err, EINVAL, "CNI: runtime config is not an object");
        }
        if (cmd != CNI_CMD_ADD && inv->prev_result && version_has_check(c->cni_version)) {
                ch->prev = cni_json_parse(inv->prev_result);
                if (!ch->prev || !json_object_is_type(ch->prev, json_type_object))
                        return uvm_error_set(err, EINVAL, "CNI: previous result is not an object");
        }
        if (build_env(x, cmd, inv, &ch->env) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int cni_add(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
            struct cni_result *ret, struct uvm_error **err)
{
        struct chain ch = {0};
        _cleanup_free_ char *out = NULL;
        int r = chain_init(&ch, x, c, CNI_CMD_ADD, inv, err);

        for (size_t i = 0; r >= 0 && i < c->n_types; i++) {
                free(out);
                out = NULL;
                r = run_plugin(x, c, ch.list, i, ch.env, ch.prev, ch.rc, &out, err);
                if (r < 0)
                        break;
                json_object_put(ch.prev);
                ch.prev = cni_json_parse(out);
                if (!ch.prev || !json_object_is_type(ch.prev, json_type_object))
                        r = uvm_error_set(err, EIO, "plugin %s: ADD result is not a JSON object",
                                          c->types[i]);
        }
        if (r >= 0)
                r = cni_result_parse(c->types[c->n_types - 1], out, ret, err);
        chain_done(&ch);
        if (r < 0) {
                uvm_error_wrap(err, "CNI ADD on network '%s'", c ? c->name : "");
                return r;
        }
        return 0;
}

int cni_check(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
              struct uvm_error **err)
{
        struct chain ch = {0};
        int r = chain_init(&ch, x, c, CNI_CMD_CHECK, inv, err);

        if (r >= 0 && !version_has_check(c->cni_version))
                r = uvm_error_set(err, EOPNOTSUPP, "CNI CHECK needs cniVersion 0.4.0 or later");
        else if (r >= 0 && !ch.prev)
                r = uvm_error_set(err, EINVAL, "CNI CHECK needs the ADD result");
        for (size_t i = 0; r >= 0 && i < c->n_types; i++) {
                _cleanup_free_ char *out = NULL;
                r = run_plugin(x, c, ch.list, i, ch.env, ch.prev, ch.rc, &out, err);
        }
        chain_done(&ch);
        if (r < 0) {
                uvm_error_wrap(err, "CNI CHECK on network '%s'", c ? c->name : "");
                return r;
        }
        return 0;
}

int cni_del(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
            struct uvm_error **err)
{
        struct chain ch = {0};
        int r = chain_init(&ch, x, c, CNI_CMD_DEL, inv, err), first = 0;

        for (size_t i = c ? c->n_types : 0; r >= 0 && i > 0; i--) {
                _cleanup_free_ char *out = NULL;
                /* the first error is kept in err; later ones only logged */
                struct uvm_error *e = NULL;
                int k = run_plugin(x, c, ch.list, i - 1, ch.env, ch.prev, ch.rc, &out, &e);
                if (k < 0) {
                        log_debug("CNI DEL: %s%s", e ? e->msg : "error",
                                  first < 0 ? ", ignoring" : "");
                        if (first == 0) {
                                first = uvm_error_set(err, -k, "%s",
                                                      e && e->msg ? e->msg : "error");
                        }
                }
                uvm_error_free(e);
        }
        chain_done(&ch);
        if (r >= 0)
                r = first;
        if (r < 0) {
                uvm_error_wrap(err, "CNI DEL on network '%s'", c ? c->name : "");
                return r;
        }
        return 0;
}

/* "10.1.2.3/24" -> "10.1.2.3", checked; NULL when malformed. */
static char *bare_address(const char *cidr)
{
        unsigned char buf[sizeof(struct in6_addr)];
        const char *slash = cidr ? strchr(cidr, '/') : NULL;
        char ip[INET6_ADDRSTRLEN];
        size_t len;
        char *end;
        long prefix;

        if (!slash || (len = (size_t) (slash - cidr)) == 0 || len >= sizeof(ip))
                return NULL;
        memcpy(ip, cidr, len);
        ip[len] = '\0';
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix < 0)
                return NULL;
        if (inet_pton(AF_INET, ip, buf) == 1 && prefix <= 32)
                return strdup(ip);
        if (inet_pton(AF_INET6, ip, buf) == 1 && prefix <= 128)
                return strdup(ip);
        return NULL;
}

/* Interface idx of the result, if it is inside the sandbox: its name. */
static int sandbox_interface(const char *plugin, json_object *ifaces, int64_t idx,
                             const char **ret_name, struct uvm_error **err)
{
        json_object *iface;
        const char *name;

        if (!ifaces || idx < 0 || (size_t) idx >= json_object_array_length(ifaces))
                return uvm_error_set(err, EIO,
                                     "plugin %s: result IP names interface %lld, "
                                     "which is not in the result",
                                     plugin, (long long) idx);
        iface = json_object_array_get_idx(ifaces, (size_t) idx);
        name = json_object_is_type(iface, json_type_object) ? json_string_of(iface, "name") : NULL;
        if (!name || !ifname_ok(name))
                return uvm_error_set(err, EIO, "plugin %s: result interface %lld has no valid name",
                                     plugin, (long long) idx);
        *ret_name = STR_EMPTY(json_string_of(iface, "sandbox")) ? NULL : name;
        return 0;
}

static json_object *array_of(json_object *o, const char *key, bool *ret_bad)
{
        json_object *v;

        *ret_bad = false;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        if (!json_object_is_type(v, json_type_array) ||
            json_object_array_length(v) > CNI_RESULT_MAX_ENTRIES)
                *ret_bad = true;
        return v;
}

/* One entry of "ips": kept when on a sandbox interface (or unattributed). */
static int take_ip(const char *plugin, json_object *ip, json_object *ifaces, struct cni_result *res,
                   struct uvm_error **err)
{
        const char *ifname = NULL;
        json_object *idx;
        char *addr;
        int r;

        if (!json_object_is_type(ip, json_type_object) ||
            !(addr = bare_address(json_string_of(ip, "address"))))
                return uvm_error_set(err, EIO, "plugin %s: result has an invalid IP address",
                                     plugin);
        if (json_object_object_get_ex(ip, "interface", &idx)) {
                if (!json_object_is_type(idx, json_type_int))
                        r = uvm_error_set(err, EIO, "plugin %s: IP interface is not an index",
                                          plugin);
                else
                        r = sandbox_interface(plugin, ifaces, json_object_get_int64(idx), &ifname,
                                              err);
                if (r < 0 || !ifname) {
                        free(addr);
                        return r < 0 ? r : 0;
                }
        }
        if (res->n_ips == CNI_RESULT_MAX_IPS) {
                free(addr);
                return 0;
        }
        res->ips[res->n_ips++] = addr;
        if (ifname && !res->interface && !(res->interface = strdup(ifname)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* One list of "dns": absent, null or empty is none (*ret NULL); else an
 * array of at most the pod files' entries, each one they accept, or
 * -EINVAL with *ret_why the key. */
static int dns_list(json_object *dns, const char *key, enum net_pod_dns_kind kind, char ***ret,
                    const char **ret_why)
{
        _cleanup_strv_ char **v = NULL;
        json_object *a;
        size_t n;

        *ret = NULL;
        if (!json_object_object_get_ex(dns, key, &a) || json_object_is_type(a, json_type_null))
                return 0;
        if (!json_object_is_type(a, json_type_array) ||
            (n = json_object_array_length(a)) > NET_POD_FILES_MAX_ENTRIES) {
                *ret_why = key;
                return -EINVAL;
        }
        if (n == 0)
                return 0;
        if (!(v = calloc(n + 1, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *s =
                        json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
                if (!s || strlen(s) != (size_t) json_object_get_string_len(e) ||
                    !net_pod_files_dns_ok(kind, s)) {
                        *ret_why = key;
                        return -EINVAL;
                }
                if (!(v[i] = strdup(s)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* The result's advised DNS into ret (empty on -EINVAL, with why). */
static int dns_parse(json_object *o, struct cni_dns *ret, const char **ret_why)
{
        struct cni_dns d = {0};
        json_object *dns, *dom;
        int r;

        if (!json_object_object_get_ex(o, "dns", &dns) || json_object_is_type(dns, json_type_null))
                return 0;
        if (!json_object_is_type(dns, json_type_object)) {
                *ret_why = "dns";
                return -EINVAL;
        }
        r = dns_list(dns, "nameservers", NET_POD_DNS_SERVER, &d.nameservers, ret_why);
        if (r >= 0)
                r = dns_list(dns, "search", NET_POD_DNS_SEARCH, &d.search, ret_why);
        if (r >= 0)
                r = dns_list(dns, "options", NET_POD_DNS_OPTION, &d.options, ret_why);
        if (r >= 0 && json_object_object_get_ex(dns, "domain", &dom) &&
            !json_object_is_type(dom, json_type_null)) {
                const char *s = json_object_is_type(dom, json_type_string)
                                        ? json_object_get_string(dom)
                                        : NULL;
                if (!s || strlen(s) != (size_t) json_object_get_string_len(dom) ||
                    !net_pod_files_dns_ok(NET_POD_DNS_SEARCH, s)) {
                        *ret_why = "domain";
                        r = -EINVAL;
                } else if (!(d.domain = strdup(s)))
                        r = -ENOMEM;
        }
        if (r < 0) {
                struct cni_result tmp = {.dns = d};
                cni_result_clear(&tmp);
                return r;
        }
        *ret = d;
        return 0;
}

int cni_result_parse(const char *plugin, const char *json, struct cni_result *ret,
                     struct uvm_error **err)
{
        _cleanup_json_ json_object *o = json ? cni_json_parse(json) : NULL;
        struct cni_result res = {0};
        json_object *ips, *ifaces;
        bool bad_ips, bad_ifaces;
        int r = 0;

        if (!o || !json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EIO, "plugin %s: result is not a JSON object", plugin);
        ips = array_of(o, "ips", &bad_ips);
        ifaces = array_of(o, "interfaces", &bad_ifaces);
        if (bad_ips || bad_ifaces)
                return uvm_error_set(err, EIO,
                                     "plugin %s: result \"ips\"/\"interfaces\" must be "
                                     "arrays of at most %d entries",
                                     plugin, CNI_RESULT_MAX_ENTRIES);
        for (size_t i = 0; ips && r >= 0 && i < json_object_array_length(ips); i++)
                r = take_ip(plugin, json_object_array_get_idx(ips, i), ifaces, &res, err);
        /* no IP names it: still say which interface is the pod's */
        for (size_t i = 0;
             ifaces && r >= 0 && !res.interface && i < json_object_array_length(ifaces); i++) {
                const char *name = NULL;
                r = sandbox_interface(plugin, ifaces, (int64_t) i, &name, err);
                if (r >= 0 && name && !(res.interface = strdup(name)))
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r >= 0 && !(res.json = strdup(to_text(o))))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                const char *why = NULL;
                int k = dns_parse(o, &res.dns, &why);
                /* advice only: a bad one costs the pod its use, not the ADD */
                if (k == -EINVAL)
                        log_warn("plugin %s: result's DNS ignored: \"%s\" is not valid", plugin,
                                 why);
                else if (k < 0)
                        r = uvm_error_set(err, -k, "out of memory");
        }
        if (r < 0) {
                cni_result_clear(&res);
                return r;
        }
        *ret = res;
        return 0;
}
