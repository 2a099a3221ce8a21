#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/macros.h"
#include "tests/unit/hcn/fake_hcn.h"

struct fake_hcn fake;

void fake_hcn_reset(void)
{
        memset(&fake, 0, sizeof(fake));
}

void fake_hcn_endpoint(const char *id, const char *doc)
{
        fake.endpoints[fake.n_endpoints].id = id;
        fake.endpoints[fake.n_endpoints].doc = doc;
        fake.n_endpoints++;
}

void fake_hcn_fail(size_t call, const char *op, int r, const char *record)
{
        for (size_t i = 0; i < ARRAY_SIZE(fake.rules); i++) {
                if (fake.rules[i].r == 0) {
                        fake.rules[i] = (struct fake_rule){call, op, r, record};
                        return;
                }
        }
        abort();
}

/* Log the call; the injected failure for it, or 0. */
static int fake_call(char **ret_error, const char *fmt, const char *op, const char *a,
                     const char *b)
{
        size_t call = ++fake.calls;

        if (fake.n_log < FAKE_MAX_LOG)
                snprintf(fake.log[fake.n_log++], sizeof(fake.log[0]), fmt, op, a, b);
        for (size_t i = 0; i < ARRAY_SIZE(fake.rules); i++) {
                struct fake_rule *f = &fake.rules[i];

                if (f->r == 0 || (f->call && f->call != call) || (f->op && strcmp(f->op, op)))
                        continue;
                if (f->record)
                        *ret_error = strdup(f->record);
                return f->r;
        }
        return 0;
}

static int fake_ns_find(const char *ns_id)
{
        for (size_t i = 0; i < fake.n_ns; i++)
                if (STR_EQ(fake.namespaces[i], ns_id))
                        return (int) i;
        return -1;
}

static int fake_attached_find(const char *ns_id, const char *ep_id)
{
        for (size_t i = 0; i < fake.n_attached; i++)
                if ((!ns_id || STR_EQ(fake.attached[i].ns, ns_id)) &&
                    STR_EQ(fake.attached[i].ep, ep_id))
                        return (int) i;
        return -1;
}

static int fake_namespace_create(const char *ns_id, const char *settings, char **ret_error)
{
        int r = fake_call(ret_error, "%s %s", "create", ns_id, "");

        snprintf(fake.last_settings, sizeof(fake.last_settings), "%s", settings);
        if (r < 0)
                return r;
        if (fake_ns_find(ns_id) >= 0)
                return -EEXIST;
        if (fake.n_ns == FAKE_MAX_NS)
                return -ENOSPC;
        strcpy(fake.namespaces[fake.n_ns++], ns_id);
        return 0;
}

static int fake_namespace_delete(const char *ns_id, char **ret_error)
{
        int r = fake_call(ret_error, "%s %s", "delete", ns_id, ""), i;

        if (r < 0)
                return r;
        i = fake_ns_find(ns_id);
        if (i < 0)
                return -ENOENT;
        for (size_t k = 0; k < fake.n_attached; k++)
                if (STR_EQ(fake.attached[k].ns, ns_id))
                        return -EBUSY;
        memmove(fake.namespaces[i], fake.namespaces[i + 1],
                (fake.n_ns - (size_t) i - 1) * sizeof(fake.namespaces[0]));
        fake.n_ns--;
        return 0;
}

static int fake_attach(const char *ns_id, const char *ep_id, bool add)
{
        int i;
        bool known = false;

        if (fake_ns_find(ns_id) < 0)
                return -ENOENT;
        for (size_t k = 0; k < fake.n_endpoints; k++)
                known |= STR_EQ(fake.endpoints[k].id, ep_id);
        if (!known)
                return -ENOENT;
        i = fake_attached_find(add ? NULL : ns_id, ep_id);
        if (add) {
                if (i >= 0)
                        return -EEXIST;
                strcpy(fake.attached[fake.n_attached].ns, ns_id);
                strcpy(fake.attached[fake.n_attached++].ep, ep_id);
                return 0;
        }
        if (i < 0)
                return -ENOENT;
        fake.attached[i] = fake.attached[--fake.n_attached];
        return 0;
}

/* A ModifyNamespaceSettingRequest for an endpoint, or -EINVAL as HCN would. */
static int fake_namespace_modify(const char *ns_id, const char *request, char **ret_error)
{
        _cleanup_json_ json_object *o = json_tokener_parse(request);
        json_object *settings = NULL;
        const char *type = json_string_of(o, "RequestType"), *ep = NULL;
        const char *res = json_string_of(o, "ResourceType");
        bool add = type && STR_EQ(type, "Add");
        int r;

        if (json_object_object_get_ex(o, "Settings", &settings))
                ep = json_string_of(settings, "EndpointId");
        if (!res || !STR_EQ(res, "Endpoint") || !type || (!add && !STR_EQ(type, "Remove")) || !ep ||
            json_object_object_length(o) != 3 || json_object_object_length(settings) != 1) {
                r = fake_call(ret_error, "%s %s %s", "bad-request", ns_id, request);
                return r < 0 ? r : -EINVAL;
        }
        r = fake_call(ret_error, "%s %s %s", add ? "add" : "remove", ns_id, ep);
        if (r < 0)
                return r;
        return fake_attach(ns_id, ep, add);
}

static int fake_endpoint_query(const char *ep_id, const char *query, char **ret_json,
                               char **ret_error)
{
        int r = fake_call(ret_error, "%s %s%s", "query", ep_id, "");

        snprintf(fake.last_query, sizeof(fake.last_query), "%s", query);
        if (r < 0)
                return r;
        for (size_t k = 0; k < fake.n_endpoints; k++) {
                if (!STR_EQ(fake.endpoints[k].id, ep_id))
                        continue;
                *ret_json = strdup(fake.endpoints[k].doc);
                return *ret_json ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

const struct hcn_api fake_hcn_api = {
        .name = "fake",
        .namespace_create = fake_namespace_create,
        .namespace_delete = fake_namespace_delete,
        .namespace_modify = fake_namespace_modify,
        .endpoint_query = fake_endpoint_query,
};

int fake_hcn_log_is(const char *ns_id, const char *const *expected)
{
        size_t n = 0;
        int ok = 1;

        for (; expected[n]; n++) {
                char want[200];

                snprintf(want, sizeof(want), expected[n], ns_id);
                if (n >= fake.n_log || !STR_EQ(fake.log[n], want)) {
                        fprintf(stderr, "call %zu: want '%s', got '%s'\n", n + 1, want,
                                n < fake.n_log ? fake.log[n] : "(none)");
                        ok = 0;
                }
        }
        if (fake.n_log != n) {
                fprintf(stderr, "%zu calls, want %zu\n", fake.n_log, n);
                ok = 0;
        }
        return ok;
}

const char *fake_hcn_doc(char *buf, size_t size, const char *id, const char *mac, const char *ip,
                         int prefix, const char *gateway)
{
        snprintf(buf, size,
                 "{\"ID\":\"%s\",\"Name\":\"cni-pod\",\"HostComputeNetwork\":"
                 "\"7A3B3A6F-1A2B-4C5D-8E9F-0A1B2C3D4E5F\",\"HostComputeNamespace\":\"\","
                 "\"Policies\":[{\"Type\":\"OutBoundNAT\",\"Settings\":{\"Exceptions\":"
                 "[\"10.244.0.0/16\"]}}],"
                 "\"IpConfigurations\":[{\"IpAddress\":\"%s\",\"PrefixLength\":%d}],"
                 "\"Dns\":{\"Domain\":\"svc.cluster.local\",\"ServerList\":[\"10.96.0.10\"]},"
                 "\"Routes\":[{\"NextHop\":\"%s\",\"DestinationPrefix\":\"0.0.0.0/0\","
                 "\"Metric\":0}],\"MacAddress\":\"%s\",\"Flags\":0,"
                 "\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}",
                 id, ip, prefix, gateway, mac);
        return buf;
}
