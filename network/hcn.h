#pragma once

/*
 * Host Compute Network (computenetwork.dll) for Windows pods: a pod's HCN
 * namespace and the endpoints in it. The HCN calls go through a table
 * (struct hcn_api): hcn_win.c binds it to computenetwork.dll, unit tests to
 * a fake. Strings are UTF-8; GUIDs are the canonical 36-character form
 * without braces ("c9a1a8d0-....", either case).
 *
 * Every call of the table returns 0 or -errno (-ENOENT: no such namespace or
 * endpoint, or the endpoint is not in the namespace; -EEXIST: already there;
 * -EINVAL: HCN refused the request; -EPERM: access denied; -EIO: anything
 * else). On failure *ret_error may receive HCN's error record (malloc'd
 * UTF-8, usually JSON {"ErrorCode":..,"Error":"..","Success":false}); the
 * caller frees it whatever the outcome.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HCN_GUID_LEN 36
/* More endpoints than this in one pod is refused (-EINVAL). */
#define HCN_MAX_ENDPOINTS 64

struct hcn_api {
        const char *name; /* "computenetwork", "fake" */
        /* HcnCreateNamespace(id, settings) then close the handle. */
        int (*namespace_create)(const char *ns_id, const char *settings_json, char **ret_error);
        /* HcnDeleteNamespace; -ENOENT when it is already gone. */
        int (*namespace_delete)(const char *ns_id, char **ret_error);
        /* HcnModifyNamespace (HcnOpenNamespace first) with a
         * ModifyNamespaceSettingRequest, e.g. add or remove an endpoint. */
        int (*namespace_modify)(const char *ns_id, const char *request_json, char **ret_error);
        /* HcnQueryEndpointProperties (HcnOpenEndpoint first): the
         * endpoint's document (MAC, IP configurations, routes), malloc'd,
         * written only on success; -ENOENT when there is no such endpoint. */
        int (*endpoint_query)(const char *ep_id, const char *query_json, char **ret_json,
                              char **ret_error);
        /* HcnQueryNamespaceProperties (HcnOpenNamespace first): the
         * namespace's document, whose "Resources" list its endpoints;
         * -ENOENT when there is no such namespace. May be NULL (-ENOSYS). */
        int (*namespace_query)(const char *ns_id, const char *query_json, char **ret_json,
                               char **ret_error);
};

/* computenetwork.dll, loaded on first use (hcn_win.c, Windows only); NULL
 * with a reason when this host has no HCN. */
const struct hcn_api *hcn_api_computenetwork(char *reason, size_t reason_size);

/* One endpoint of a pod as the guest needs it (from endpoint_query). */
struct hcn_endpoint {
        char id[HCN_GUID_LEN + 1];
        char mac[18]; /* "00-15-5D-..." as HCN writes it, or ':' form */
        char ip[64];  /* address, no prefix: the first IPv4 one, else the first */
        uint8_t prefix_len;
        char gateway[64]; /* next hop of the default route of ip's family; "" when none */
};

/* Decode an endpoint document from HcnQueryEndpointProperties into *ret
 * (id is "" when the document has no "ID"). Field names are matched without
 * regard to case ("IpConfigurations" and "IPConfigurations" both occur).
 * A malformed document, or one without MacAddress or a valid IP
 * configuration, is -EIO with a message naming the field; *ret is written
 * only on success. */
int hcn_endpoint_parse(const char *doc, struct hcn_endpoint *ret, struct uvm_error **err);

/* A new random (version 4) GUID in lower case, for a namespace id. */
int hcn_new_guid(char ret[HCN_GUID_LEN + 1], struct uvm_error **err);

/* The pod's namespace (a new "Host" compartment) with id ns_id, chosen by
 * the caller (hcn_new_guid) so it can write the id down before HCN makes
 * it, and each of endpoint_ids (n) added to it, described in ret_eps
 * (caller's array of n). On failure everything added is removed and the
 * namespace deleted; a namespace that already existed (-EEXIST) is left
 * alone: it is not this call's. */
int hcn_pod_create(const struct hcn_api *api, const char *ns_id, const char *const *endpoint_ids,
                   size_t n, struct hcn_endpoint *ret_eps, struct uvm_error **err);
/* Remove the endpoints from the namespace and delete it. Idempotent: what is
 * already gone is not an error. The endpoints themselves belong to the CNI
 * plugin that made them and are left alone. */
int hcn_pod_delete(const struct hcn_api *api, const char *ns_id, const char *const *endpoint_ids,
                   size_t n, struct uvm_error **err);

/* The endpoints in a namespace (namespace_query: its "Resources" of type
 * "Endpoint"), as a CNI plugin attached them: GUIDs in the namespace's
 * order, at most max (more is -E2BIG); -ENOENT when HCN knows no such
 * namespace. */
int hcn_ns_endpoints(const struct hcn_api *api, const char *ns_id, char ret_ids[][HCN_GUID_LEN + 1],
                     size_t max, size_t *ret_n, struct uvm_error **err);

/* One endpoint described (endpoint_query + hcn_endpoint_parse): -ENOENT
 * when HCN knows no such endpoint. */
int hcn_endpoint_query(const struct hcn_api *api, const char *ep_id, struct hcn_endpoint *ret,
                       struct uvm_error **err);
/* Add one endpoint to a namespace (-EEXIST: it is in one already), or
 * remove it (what is not there is no error): NICs added to a running pod. */
int hcn_ns_attach(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                  struct uvm_error **err);
int hcn_ns_detach(const struct hcn_api *api, const char *ns_id, const char *ep_id,
                  struct uvm_error **err);
