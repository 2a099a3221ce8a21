#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "network/hcn.h"

/* Bounds on what HCN sends back: a real endpoint document is a few KiB. */
#define HCN_DOC_MAX (1024 * 1024)
#define HCN_JSON_DEPTH 32
#define HCN_LIST_MAX 64
/* The part of an HCN error record that goes into a message. */
#define HCN_RECORD_TEXT_MAX 512

/* HcnQueryEndpointProperties: the schema-2 view, no filter. */
static const char hcn_query[] = "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Flags\":0}";

/* A pod gets its own compartment: "Host". "HostDefault" names the host's
 * default compartment, which pods must not share (containerd's Windows
 * sandbox namespaces are "Host" too). */
static const char hcn_namespace_settings[] =
        "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Type\":\"Host\"}";

/* ---- GUIDs ---------------------------------------------------------- */

static bool hcn_is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool hcn_guid_valid(const char *s)
{
        if (!s)
                return false;
        for (size_t i = 0; i < HCN_GUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !hcn_is_hex(s[i]))
                        return false;
        }
        return s[HCN_GUID_LEN] == '\0';
}

/* ASCII-only and locale-free; strcasecmp is not portable to mingw's strict C11. */
static bool hcn_str_eq_nocase(const char *a, const char *b)
{
        for (; *a && *b; a++, b++) {
                char x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a;
                char y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;

                if (x != y)
                        return false;
        }
        return *a == *b;
}

/* A random (version 4, RFC 4122 variant) GUID in lower case. */
int hcn_new_guid(char ret[HCN_GUID_LEN + 1], struct uvm_error **err)
{
        uint8_t b[16];
        char *p = ret;
        int r;

        if (!ret)
                return uvm_error_set(err, EINVAL, "HCN: no place for the GUID");
        r = plat_random(b, sizeof(b));
        if (r < 0)
                return uvm_error_set(err, -r, "HCN: generate a GUID: %s", strerror(-r));
        b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
        for (size_t i = 0; i < sizeof(b); i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                p += snprintf(p, 3, "%02x", b[i]);
        }
        return 0;
}

/* ---- HCN error records ---------------------------------------------- */

/* Copy src into buf (size > 4) without control characters, cut at a UTF-8
 * character boundary with "..." when it does not fit. */
static void hcn_text_copy(char *buf, size_t size, const char *src)
{
        size_t len = strlen(src), n = len < size ? len : size - 4;

        if (len >= size)
                while (n > 0 && ((unsigned char) src[n] & 0xc0) == 0x80)
                        n--;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) src[i];

                buf[i] = c < 0x20 || c == 0x7f ? ' ' : (char) c;
        }
        strcpy(buf + n, len >= size ? "..." : "");
}

/* What an HCN error record says, for a message: its code and Error text
 * when it is the usual JSON, else the record itself; bounded, printable. */
static void hcn_record_text(const char *record, char *buf, size_t size)
{
        _cleanup_json_ json_object *o = NULL;
        char joined[2 * HCN_RECORD_TEXT_MAX];
        json_object *code = NULL;
        const char *msg = NULL;

        buf[0] = '\0';
        if (STR_EMPTY(record))
                return;
        if (strlen(record) < HCN_DOC_MAX)
                o = json_tokener_parse(record);
        if (json_object_is_type(o, json_type_object)) {
                msg = json_string_of(o, "Error");
                if (json_object_object_get_ex(o, "ErrorCode", &code) &&
                    !json_object_is_type(code, json_type_int))
                        code = NULL;
        }
        if (code) {
                snprintf(joined, sizeof(joined), "HRESULT 0x%08x%s%s",
                         (unsigned) json_object_get_int64(code), msg ? ": " : "", msg ? msg : "");
                hcn_text_copy(buf, size, joined);
        } else {
                hcn_text_copy(buf, size, msg ? msg : record);
        }
}

/* Record "<what>: <strerror>[: <HCN's record>]" and return r. */
static int hcn_call_failed(struct uvm_error **err, int r, const char *record, const char *fmt, ...)
        _printf_(4, 5);
static int hcn_call_failed(struct uvm_error **err, int r, const char *record, const char *fmt, ...)
{
        char what[256], text[HCN_RECORD_TEXT_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        hcn_record_text(record, text, sizeof(text));
        return uvm_error_set(err, r, "%s: %s%s%s", what, strerror(-r), *text ? ": " : "", text);
}

/* ---- Endpoint documents --------------------------------------------- */

/* o[key], the key matched without regard to case: HCN's own output and its
 * documentation disagree on the case of some names ("IpAddress"/"IPAddress"). */
static json_object *hcn_get(json_object *o, const char *key)
{
        json_object *v = NULL;

        if (!json_object_is_type(o, json_type_object))
                return NULL;
        if (json_object_object_get_ex(o, key, &v))
                return v;
        json_object_object_foreach (o, k, val) {
                if (hcn_str_eq_nocase(k, key))
                        return val;
        }
        return NULL;
}

static const char *hcn_get_string(json_object *o, const char *key)
{
        json_object *v = hcn_get(o, key);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool hcn_mac_valid(const char *s)
{
        char sep = s[2];

        if (strlen(s) != 17 || (sep != '-' && sep != ':'))
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != sep : !hcn_is_hex(s[i]))
                        return false;
        return true;
}

static bool hcn_ipv4_valid(const char *s)
{
        for (int part = 0; part < 4; part++) {
                size_t n = strspn(s, "0123456789");

                if (n == 0 || n > 3 || (n > 1 && s[0] == '0') || atoi(s) > 255)
                        return false;
                s += n;
                if (*s != (part < 3 ? '.' : '\0'))
                        return false;
                s++;
        }
        return true;
}

static bool hcn_ipv6_valid(const char *s)
{
        int groups = 0;
        bool gap = false;

        if (strlen(s) < 2 || strlen(s) > 45)
                return false;
        if (s[0] == ':') {
                if (s[1] != ':')
                        return false;
                gap = true;
                s += 2;
        }
        while (*s) {
                size_t n = strspn(s, "0123456789abcdefABCDEF");

                if (s[n] == '.') { /* a trailing dotted IPv4 address: two groups */
                        if (!hcn_ipv4_valid(s))
                                return false;
                        groups += 2;
                        break;
                }
                if (n == 0 || n > 4)
                        return false;
                groups++;
                s += n;
                if (*s == '\0')
                        break;
                if (*s++ != ':' || *s == '\0')
                        return false;
                if (*s == ':') {
                        if (gap)
                                return false;
                        gap = true;
                        s++;
                }
        }
        return gap ? groups <= 7 : groups == 8;
}

/* 4 or 6 for a valid address in text form, 0 otherwise. */
static int hcn_ip_family(const char *s)
{
        if (!s)
                return 0;
        if (strchr(s, ':'))
                return hcn_ipv6_valid(s) ? 6 : 0;
        return hcn_ipv4_valid(s) ? 4 : 0;
}

/* One IpConfigurations entry: address and prefix length, checked. */
static int hcn_parse_ipconfig(json_object *cfg, unsigned i, const char **ret_ip, int *ret_prefix,
                              struct uvm_error **err)
{
        const char *ip = hcn_get_string(cfg, "IpAddress");
        json_object *prefix = hcn_get(cfg, "PrefixLength");
        int family = hcn_ip_family(ip);
        int64_t len;

        if (!family)
                return uvm_error_set(err, EIO, "IpConfigurations[%u]: no valid IpAddress", i);
        if (!json_object_is_type(prefix, json_type_int))
                return uvm_error_set(err, EIO, "IpConfigurations[%u]: PrefixLength is not a number",
                                     i);
        len = json_object_get_int64(prefix);
        if (len < 0 || len > (family == 4 ? 32 : 128))
                return uvm_error_set(err, EIO,
                                     "IpConfigurations[%u]: PrefixLength %lld out of range", i,
                                     (long long) len);
        *ret_ip = ip;
        *ret_prefix = (int) len;
        return 0;
}

/* The first IPv4 configuration, else the first one; every entry checked. */
static int hcn_parse_ip(json_object *doc, struct hcn_endpoint *ep, struct uvm_error **err)
{
        json_object *list = hcn_get(doc, "IpConfigurations");
        const char *chosen = NULL;
        int chosen_prefix = 0;
        size_t n;

        if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
                return uvm_error_set(err, EIO, "no IpConfigurations");
        n = json_object_array_length(list);
        if (n > HCN_LIST_MAX)
                return uvm_error_set(err, EIO, "%llu IpConfigurations, at most %d",
                                     (unsigned long long) n, HCN_LIST_MAX);
        for (size_t i = 0; i < n; i++) {
                const char *ip = NULL;
                int prefix = 0, r;

                r = hcn_parse_ipconfig(json_object_array_get_idx(list, i), (unsigned) i, &ip,
                                       &prefix, err);
                if (r < 0)
                        return r;
                if (!chosen || (hcn_ip_family(chosen) != 4 && hcn_ip_family(ip) == 4)) {
                        chosen = ip;
                        chosen_prefix = prefix;
                }
        }
        if (strlen(chosen) >= sizeof(ep->ip))
                return uvm_error_set(err, EIO, "IpAddress too long");
        strcpy(ep->ip, chosen);
        ep->prefix_len = (uint8_t) chosen_prefix;
        return 0;
}

/* The next hop of the default route of the endpoint address's family. */
static int hcn_parse_gateway(json_object *doc, struct hcn_endpoint *ep, struct uvm_error **err)
{
        json_object *routes = hcn_get(doc, "Routes");
        int family = hcn_ip_family(ep->ip);
        const char *any = family == 4 ? "0.0.0.0/0" : "::/0";
        size_t n;

        if (!routes)
                return 0;
        if (!json_object_is_type(routes, json_type_array))
                return uvm_error_set(err, EIO, "Routes is not a list");
        n = json_object_array_length(routes);
        if (n > HCN_LIST_MAX)
                return uvm_error_set(err, EIO, "%llu Routes, at most %d", (unsigned long long) n,
                                     HCN_LIST_MAX);
        for (size_t i = 0; i < n; i++) {
                json_object *route = json_object_array_get_idx(routes, i);
                const char *dest = hcn_get_string(route, "DestinationPrefix");
                const char *hop = hcn_get_string(route, "NextHop");

                if (!json_object_is_type(route, json_type_object))
                        return uvm_error_set(err, EIO, "Routes[%u] is not an object", (unsigned) i);
                if (!dest || !STR_EQ(dest, any))
                        continue;
                if (hcn_ip_family(hop) != family)
                        return uvm_error_set(err, EIO, "Routes[%u]: no valid IPv%d NextHop",
                                             (unsigned) i, family);
                strcpy(ep->gateway, hop); /* a valid address fits */
                return 0;
        }
        return 0;
}

static int hcn_parse_json(const char *doc, json_object **ret, struct uvm_error **err)
{
        json_tokener *tok = NULL;
        json_object *o;
        size_t len;

        if (!doc)
                return uvm_error_set(err, EIO, "no document");
        len = strlen(doc);
        if (len > HCN_DOC_MAX)
                return uvm_error_set(err, EIO, "document of %llu bytes, at most %d",
                                     (unsigned long long) len, HCN_DOC_MAX);
        tok = json_tokener_new_ex(HCN_JSON_DEPTH);
        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT); /* HCN writes strict JSON */
        o = json_tokener_parse_ex(tok, doc, (int) len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            strspn(doc + json_tokener_get_parse_end(tok), " \t\r\n") !=
                    len - json_tokener_get_parse_end(tok)) {
                json_object_put(o);
                json_tokener_free(tok);
                return uvm_error_set(err, EIO, "not a JSON document");
        }
        json_tokener_free(tok);
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return uvm_error_set(err, EIO, "not a JSON object");
        }
        *ret = o;
        return 0;
}

int hcn_endpoint_parse(const char *doc, struct hcn_endpoint *ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = NULL;
        struct hcn_endpoint ep = {0};
        const char *id, *mac;
        int r;

        r = hcn_parse_json(doc, &o, err);
        if (r < 0)
                return r;
        id = hcn_get_string(o, "ID");
        if (hcn_get(o, "ID") && !hcn_guid_valid(id))
                return uvm_error_set(err, EIO, "ID is not a GUID");
        if (id)
                strcpy(ep.id, id);
        mac = hcn_get_string(o, "MacAddress");
        if (!mac || !hcn_mac_valid(mac))
                return uvm_error_set(err, EIO, "no valid MacAddress");
        strcpy(ep.mac, mac);
        r = hcn_parse_ip(o, &ep, err);
        if (r < 0)
                return r;
        r = hcn_parse_gateway(o, &ep, err);
        if (r < 0)
                return r;
        *ret = ep;
        return 0;
}

/* ---- Namespaces ----------------------------------------------------- */

/* A ModifyNamespaceSettingRequest for one endpoint. The id is a checked
 * GUID (hex digits and dashes), so it needs no JSON escaping. */
static int hcn_ns_endpoint(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                           const char *request_type, char **ret_error)
{
        char req[160];

        snprintf(req, sizeof(req),
                 "{\"ResourceType\":\"Endpoint\",\"RequestType\":\"%s\","
                 "\"Settings\":{\"EndpointId\":\"%s\"}}",
                 request_type, ep_id);
        return api->namespace_modify(ns_id, req, ret_error);
}

/* endpoint_query + hcn_endpoint_parse, the answer checked against ep_id. */
static int hcn_endpoint_describe(const struct hcn_api *api, const char *ep_id,
                                 struct hcn_endpoint *ret, struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL, *record = NULL;
        struct hcn_endpoint ep;
        int r;

        r = api->endpoint_query(ep_id, hcn_query, &doc, &record);
        if (r < 0)
                return hcn_call_failed(err, r, record, "query HCN endpoint %s", ep_id);
        r = hcn_endpoint_parse(doc, &ep, err);
        if (r < 0)
                return uvm_error_wrap(err, "HCN endpoint %s", ep_id);
        if (ep.id[0] && !hcn_str_eq_nocase(ep.id, ep_id))
                return uvm_error_set(err, EIO, "HCN endpoint %s: the document is of endpoint %s",
                                     ep_id, ep.id);
        strcpy(ep.id, ep_id);
        *ret = ep;
        return 0;
}

/* Undo a partial hcn_pod_create: remove the first n endpoints (last added
 * first), delete the namespace. Failures are logged: the first error is
 * what the caller reports. */
static void hcn_rollback(const struct hcn_api *api, const char *ns_id,
                         const char *const *endpoint_ids, size_t n)
{
        while (n-- > 0) {
                _cleanup_free_ char *record = NULL;
                char text[HCN_RECORD_TEXT_MAX];
                int r = hcn_ns_endpoint(api, ns_id, endpoint_ids[n], "Remove", &record);

                if (r < 0 && r != -ENOENT) {
                        hcn_record_text(record, text, sizeof(text));
                        log_warn("hcn: remove endpoint %s from namespace %s: %s%s%s, ignoring",
                                 endpoint_ids[n], ns_id, strerror(-r), *text ? ": " : "", text);
                }
        }
        _cleanup_free_ char *record = NULL;
        char text[HCN_RECORD_TEXT_MAX];
        int r = api->namespace_delete(ns_id, &record);

        if (r < 0 && r != -ENOENT) {
                hcn_record_text(record, text, sizeof(text));
                log_warn("hcn: delete namespace %s: %s%s%s, ignoring", ns_id, strerror(-r),
                         *text ? ": " : "", text);
        }
}

static int hcn_check(const struct hcn_api *api, const char *const *endpoint_ids, size_t n,
                     struct uvm_error **err)
{
        if (!api || !api->namespace_create || !api->namespace_delete || !api->namespace_modify ||
            !api->endpoint_query)
                return uvm_error_set(err, EINVAL, "HCN: incomplete API table");
        if (n > HCN_MAX_ENDPOINTS)
                return uvm_error_set(err, EINVAL, "HCN: %llu endpoints, at most %d",
                                     (unsigned long long) n, HCN_MAX_ENDPOINTS);
        if (n > 0 && !endpoint_ids)
                return uvm_error_set(err, EINVAL, "HCN: no endpoint ids");
        for (size_t i = 0; i < n; i++) {
                if (!hcn_guid_valid(endpoint_ids[i]))
                        return uvm_error_set(err, EINVAL, "HCN: endpoint id '%s' is not a GUID",
                                             endpoint_ids[i] ? endpoint_ids[i] : "(null)");
                for (size_t j = 0; j < i; j++)
                        if (hcn_str_eq_nocase(endpoint_ids[i], endpoint_ids[j]))
                                return uvm_error_set(err, EINVAL, "HCN: endpoint %s given twice",
                                                     endpoint_ids[i]);
        }
        return 0;
}

/* Describe and attach each endpoint; *ret_added counts those attached. */
static int hcn_attach_all(const struct hcn_api *api, const char *ns_id,
                          const char *const *endpoint_ids, size_t n, struct hcn_endpoint *eps,
                          size_t *ret_added, struct uvm_error **err)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *record = NULL;
                int r;

                r = hcn_endpoint_describe(api, endpoint_ids[i], &eps[i], err);
                if (r < 0)
                        return r;
                r = hcn_ns_endpoint(api, ns_id, endpoint_ids[i], "Add", &record);
                if (r < 0)
                        return hcn_call_failed(err, r, record,
                                               "add HCN endpoint %s to namespace %s",
                                               endpoint_ids[i], ns_id);
                *ret_added = i + 1;
        }
        return 0;
}

int hcn_pod_create(const struct hcn_api *api, const char *ns_id, const char *const *endpoint_ids,
                   size_t n, struct hcn_endpoint *ret_eps, struct uvm_error **err)
{
        _cleanup_free_ struct hcn_endpoint *eps = NULL;
        _cleanup_free_ char *record = NULL;
        size_t added = 0;
        int r;

        r = hcn_check(api, endpoint_ids, n, err);
        if (r < 0)
                return r;
        if (!hcn_guid_valid(ns_id))
                return uvm_error_set(err, EINVAL, "HCN: namespace id '%.64s' is not a GUID",
                                     ns_id ? ns_id : "(null)");
        if (n > 0 && !ret_eps)
                return uvm_error_set(err, EINVAL, "HCN: no place for the result");
        eps = calloc(n ? n : 1, sizeof(*eps));
        if (!eps)
                return uvm_error_set(err, ENOMEM, "out of memory");

        /* Not rolled back when it fails: an -EEXIST namespace is someone
         * else's (or an earlier try's, which its owner deletes). */
        r = api->namespace_create(ns_id, hcn_namespace_settings, &record);
        if (r < 0)
                return hcn_call_failed(err, r, record, "create HCN namespace %s", ns_id);
        log_debug("hcn: created namespace %s", ns_id);

        r = hcn_attach_all(api, ns_id, endpoint_ids, n, eps, &added, err);
        if (r < 0) {
                hcn_rollback(api, ns_id, endpoint_ids, added);
                return r;
        }
        if (n > 0)
                memcpy(ret_eps, eps, n * sizeof(*eps));
        return 0;
}

/* One "Resources" entry: the endpoint's id, or "" for another type. */
static int hcn_resource_endpoint(json_object *res, size_t i, const char **ret_id,
                                 struct uvm_error **err)
{
        const char *type = hcn_get_string(res, "Type"), *id;

        *ret_id = "";
        if (!json_object_is_type(res, json_type_object) || !type)
                return uvm_error_set(err, EIO, "Resources[%llu] has no Type",
                                     (unsigned long long) i);
        if (!hcn_str_eq_nocase(type, "Endpoint"))
                return 0;
        id = hcn_get_string(hcn_get(res, "Data"), "ID");
        if (!id || !hcn_guid_valid(id))
                return uvm_error_set(err, EIO, "Resources[%llu]: the endpoint's ID is not a GUID",
                                     (unsigned long long) i);
        *ret_id = id;
        return 0;
}

int hcn_ns_endpoints(const struct hcn_api *api, const char *ns_id, char ret_ids[][HCN_GUID_LEN + 1],
                     size_t max, size_t *ret_n, struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL, *record = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *list;
        size_t n = 0, len;
        int r;

        if (!api || !api->namespace_query)
                return uvm_error_set(err, ENOSYS, "HCN: namespaces cannot be queried here");
        if (!hcn_guid_valid(ns_id))
                return uvm_error_set(err, EINVAL, "HCN: namespace id '%.64s' is not a GUID",
                                     ns_id ? ns_id : "(null)");
        r = api->namespace_query(ns_id, hcn_query, &doc, &record);
        if (r < 0)
                return hcn_call_failed(err, r, record, "query HCN namespace %s", ns_id);
        r = hcn_parse_json(doc, &o, err);
        list = r < 0 ? NULL : hcn_get(o, "Resources");
        len = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
        if (r >= 0 && list && !json_object_is_type(list, json_type_array))
                r = uvm_error_set(err, EIO, "Resources is not a list");
        if (r >= 0 && len > HCN_LIST_MAX)
                r = uvm_error_set(err, EIO, "%llu Resources, at most %d", (unsigned long long) len,
                                  HCN_LIST_MAX);
        for (size_t i = 0; r >= 0 && i < len; i++) {
                const char *id;
                r = hcn_resource_endpoint(json_object_array_get_idx(list, i), i, &id, err);
                if (r < 0 || !*id)
                        continue;
                if (n == max)
                        r = uvm_error_set(err, E2BIG, "more than %llu endpoints",
                                          (unsigned long long) max);
                else
                        snprintf(ret_ids[n++], HCN_GUID_LEN + 1, "%s", id);
        }
        if (r < 0)
                return uvm_error_wrap(err, "HCN namespace %s", ns_id);
        *ret_n = n;
        return 0;
}

int hcn_endpoint_query(const struct hcn_api *api, const char *ep_id, struct hcn_endpoint *ret,
                       struct uvm_error **err)
{
        if (!api || !api->endpoint_query)
                return uvm_error_set(err, EINVAL, "HCN: incomplete API table");
        if (!hcn_guid_valid(ep_id))
                return uvm_error_set(err, EINVAL, "HCN: endpoint id '%.64s' is not a GUID",
                                     ep_id ? ep_id : "(null)");
        return hcn_endpoint_describe(api, ep_id, ret, err);
}

/* Both ids checked: they go into the request unescaped. */
static int hcn_check_pair(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                          struct uvm_error **err)
{
        if (!api || !api->namespace_modify)
                return uvm_error_set(err, EINVAL, "HCN: incomplete API table");
        if (!hcn_guid_valid(ns_id) || !hcn_guid_valid(ep_id))
                return uvm_error_set(err, EINVAL,
                                     "HCN: namespace '%.64s' or endpoint '%.64s' is "
                                     "not a GUID",
                                     ns_id ? ns_id : "(null)", ep_id ? ep_id : "(null)");
        return 0;
}

int hcn_ns_attach(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                  struct uvm_error **err)
{
        _cleanup_free_ char *record = NULL;
        int r = hcn_check_pair(api, ns_id, ep_id, err);

        if (r < 0)
                return r;
        r = hcn_ns_endpoint(api, ns_id, ep_id, "Add", &record);
        if (r < 0)
                return hcn_call_failed(err, r, record, "add HCN endpoint %s to namespace %s", ep_id,
                                       ns_id);
        return 0;
}

int hcn_ns_detach(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                  struct uvm_error **err)
{
        _cleanup_free_ char *record = NULL;
        int r = hcn_check_pair(api, ns_id, ep_id, err);

        if (r < 0)
                return r;
        r = hcn_ns_endpoint(api, ns_id, ep_id, "Remove", &record);
        if (r < 0 && r != -ENOENT)
                return hcn_call_failed(err, r, record, "remove HCN endpoint %s from namespace %s",
                                       ep_id, ns_id);
        return 0;
}

int hcn_pod_delete(const struct hcn_api *api, const char *ns_id, const char *const *endpoint_ids,
                   size_t n, struct uvm_error **err)
{
        _cleanup_free_ char *record = NULL;
        int r, first = 0;

        r = hcn_check(api, endpoint_ids, n, err);
        if (r < 0)
                return r;
        if (!hcn_guid_valid(ns_id))
                return uvm_error_set(err, EINVAL, "HCN: namespace id '%s' is not a GUID",
                                     ns_id ? ns_id : "(null)");
        /* Go on after a failure: what can be released is, and a retry
         * finds the rest (what is gone is -ENOENT, not an error). */
        for (size_t i = n; i-- > 0;) {
                _cleanup_free_ char *rec = NULL;

                r = hcn_ns_endpoint(api, ns_id, endpoint_ids[i], "Remove", &rec);
                if (r < 0 && r != -ENOENT && first == 0)
                        first = hcn_call_failed(err, r, rec,
                                                "remove HCN endpoint %s from namespace %s",
                                                endpoint_ids[i], ns_id);
        }
        r = api->namespace_delete(ns_id, &record);
        if (r < 0 && r != -ENOENT && first == 0)
                first = hcn_call_failed(err, r, record, "delete HCN namespace %s", ns_id);
        if (first == 0)
                log_debug("hcn: deleted namespace %s", ns_id);
        return first;
}
