/*
 * The hcn_api table bound to computenetwork.dll. The DLL is loaded at run
 * time (LoadLibraryExW from system32), so uvmd.exe starts on a host without
 * HCN and says why HCN is missing instead of failing to load. Strings are
 * converted to UTF-16 only here; what HCN returns (error records,
 * properties) is freed with CoTaskMemFree as the API requires.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <computenetwork.h>
#include <objbase.h>

#include "common/macros.h"
#include "common/utf16.h"
#include "network/hcn_win-internal.h"

/* Longer strings than this are refused before the conversion's int sizes. */
#define HCN_WIN_STR_MAX (16 * 1024 * 1024)

/* The raw calls in use: the DLL's, or a test's fake (hcn_win_bind). */
static const struct hcn_raw_api *hcn_raw;

#define HR(x) ((HRESULT) (x))

/* HRESULTs with a meaning of their own; the HCN_E_* values are the Windows
 * SDK's winerror.h ones (mingw-w64's winerror.h lacks them). */
static const struct {
        HRESULT hr;
        int err;
} hcn_win_errors[] = {
        {HR(0x803B0001), ENOENT},     /* HCN_E_NETWORK_NOT_FOUND */
        {HR(0x803B0002), ENOENT},     /* HCN_E_ENDPOINT_NOT_FOUND */
        {HR(0x803B0034), ENOENT},     /* HCN_E_ENDPOINT_NOT_ATTACHED */
        {HR(0x80070490), ENOENT},     /* ERROR_NOT_FOUND: no such namespace */
        {HR(0x80070002), ENOENT},     /* ERROR_FILE_NOT_FOUND */
        {HR(0x80070003), ENOENT},     /* ERROR_PATH_NOT_FOUND */
        {HR(0x803B0010), EEXIST},     /* HCN_E_NETWORK_ALREADY_EXISTS */
        {HR(0x803B0014), EEXIST},     /* HCN_E_ENDPOINT_ALREADY_ATTACHED */
        {HR(0x803B002B), EEXIST},     /* HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS */
        {HR(0x800700B7), EEXIST},     /* ERROR_ALREADY_EXISTS */
        {HR(0x80070050), EEXIST},     /* ERROR_FILE_EXISTS */
        {HR(0x80071392), EEXIST},     /* ERROR_OBJECT_ALREADY_EXISTS */
        {HR(0x80070057), EINVAL},     /* E_INVALIDARG */
        {HR(0x80004003), EINVAL},     /* E_POINTER */
        {HR(0x803B000C), EINVAL},     /* HCN_E_INVALID_ENDPOINT */
        {HR(0x803B0019), EINVAL},     /* HCN_E_GUID_CONVERSION_FAILURE */
        {HR(0x803B001B), EINVAL},     /* HCN_E_INVALID_JSON */
        {HR(0x803B001C), EINVAL},     /* HCN_E_INVALID_JSON_REFERENCE */
        {HR(0x803B001E), EINVAL},     /* HCN_E_INVALID_IP */
        {HR(0x80070005), EPERM},      /* E_ACCESSDENIED */
        {HR(0x8007000E), ENOMEM},     /* E_OUTOFMEMORY */
        {HR(0x80004001), EOPNOTSUPP}, /* E_NOTIMPL */
        {HR(0x803B0015), EOPNOTSUPP}, /* HCN_E_REQUEST_UNSUPPORTED */
        {HR(0x800705B4), ETIMEDOUT},  /* ERROR_TIMEOUT */
        {HR(0x803B002C), EBUSY},      /* HCN_E_ENTITY_HAS_REFERENCES */
        {HR(0x803B0020), EAGAIN},     /* HCN_E_MANAGER_STOPPED */
};

int hcn_win_errno(HRESULT hr)
{
        if (SUCCEEDED(hr))
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(hcn_win_errors); i++)
                if (hcn_win_errors[i].hr == hr)
                        return -hcn_win_errors[i].err;
        return -EIO;
}

int hcn_win_guid_parse(const char *s, GUID *ret)
{
        static const uint8_t group_bytes[] = {4, 2, 2, 2, 6};
        uint8_t b[16];
        size_t k = 0;
        GUID g;

        if (!s || strlen(s) != HCN_GUID_LEN)
                return -EINVAL;
        for (size_t grp = 0; grp < ARRAY_SIZE(group_bytes); grp++) {
                if (grp > 0 && *s++ != '-')
                        return -EINVAL;
                for (size_t i = 0; i < group_bytes[grp]; i++, s += 2) {
                        int hi = hex_digit_value(s[0]), lo = hex_digit_value(s[1]);

                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        b[k++] = (uint8_t) (hi << 4 | lo);
                }
        }
        g.Data1 = (unsigned long) b[0] << 24 | (unsigned long) b[1] << 16 |
                  (unsigned long) b[2] << 8 | b[3];
        g.Data2 = (unsigned short) (b[4] << 8 | b[5]);
        g.Data3 = (unsigned short) (b[6] << 8 | b[7]);
        memcpy(g.Data4, b + 8, sizeof(g.Data4));
        *ret = g;
        return 0;
}

void hcn_win_guid_format(const GUID *g, char ret[HCN_GUID_LEN + 1])
{
        snprintf(ret, HCN_GUID_LEN + 1, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 (unsigned long) g->Data1, g->Data2, g->Data3, g->Data4[0], g->Data4[1],
                 g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
}

/* The outcome of one raw call: 0, or -errno with HCN's error record in
 * UTF-8 in *ret_error (a made-up one with the HRESULT when HCN gave none).
 * The record is freed either way. */
static int hcn_win_result(HRESULT hr, PWSTR record, char **ret_error)
{
        int r = hcn_win_errno(hr);

        if (r < 0 && ret_error) {
                char *text = NULL;

                if (!record || !*record || wide_to_utf8(record, HCN_WIN_STR_MAX, &text) < 0) {
                        text = malloc(64);
                        if (text)
                                snprintf(text, 64, "{\"ErrorCode\":%lu,\"Success\":false}",
                                         (unsigned long) (ULONG) hr);
                }
                *ret_error = text;
        }
        if (record)
                hcn_raw->free_memory(record);
        return r;
}

/* The GUID and the UTF-16 document every call below starts from. */
static int hcn_win_args(const char *id, const char *json, GUID *ret_id, wchar_t **ret_json)
{
        if (hcn_win_guid_parse(id, ret_id) < 0)
                return -EINVAL;
        return utf8_to_wide(json, HCN_WIN_STR_MAX, ret_json);
}

static int hcn_win_namespace_create(const char *ns_id, const char *settings_json, char **ret_error)
{
        _cleanup_free_ wchar_t *settings = NULL;
        HCN_NAMESPACE ns = NULL;
        PWSTR record = NULL;
        HRESULT hr;
        GUID id;
        int r;

        r = hcn_win_args(ns_id, settings_json, &id, &settings);
        if (r < 0)
                return r;
        hr = hcn_raw->create_namespace(&id, settings, &ns, &record);
        r = hcn_win_result(hr, record, ret_error);
        if (r < 0)
                return r;
        hcn_raw->close_namespace(ns);
        return 0;
}

static int hcn_win_namespace_delete(const char *ns_id, char **ret_error)
{
        PWSTR record = NULL;
        HRESULT hr;
        GUID id;

        if (hcn_win_guid_parse(ns_id, &id) < 0)
                return -EINVAL;
        hr = hcn_raw->delete_namespace(&id, &record);
        return hcn_win_result(hr, record, ret_error);
}

/* A query's answer (r: the query's result so far) as UTF-8 into *ret_json;
 * props, HCN's memory, is freed either way. */
static int props_to_json(int r, PWSTR props, char **ret_json)
{
        char *json = NULL;

        if (r == 0)
                r = props ? wide_to_utf8(props, HCN_WIN_STR_MAX, &json) : -EIO;
        if (props)
                hcn_raw->free_memory(props);
        if (r < 0)
                return r;
        *ret_json = json;
        return 0;
}
static int hcn_win_namespace_modify(const char *ns_id, const char *request_json, char **ret_error)
{
        _cleanup_free_ wchar_t *request = NULL;
        HCN_NAMESPACE ns = NULL;
        PWSTR record = NULL;
        HRESULT hr;
        GUID id;
        int r;

        r = hcn_win_args(ns_id, request_json, &id, &request);
        if (r < 0)
                return r;
        hr = hcn_raw->open_namespace(&id, &ns, &record);
        r = hcn_win_result(hr, record, ret_error);
        if (r < 0)
                return r;
        record = NULL;
        hr = hcn_raw->modify_namespace(ns, request, &record);
        r = hcn_win_result(hr, record, ret_error);
        hcn_raw->close_namespace(ns);
        return r;
}

static int hcn_win_endpoint_query(const char *ep_id, const char *query_json, char **ret_json,
                                  char **ret_error)
{
        _cleanup_free_ wchar_t *query = NULL;
        PWSTR record = NULL, props = NULL;
        HCN_ENDPOINT ep = NULL;
        HRESULT hr;
        GUID id;
        int r;

        r = hcn_win_args(ep_id, query_json, &id, &query);
        if (r < 0)
                return r;
        hr = hcn_raw->open_endpoint(&id, &ep, &record);
        r = hcn_win_result(hr, record, ret_error);
        if (r < 0)
                return r;
        record = NULL;
        hr = hcn_raw->query_endpoint_properties(ep, query, &props, &record);
        r = hcn_win_result(hr, record, ret_error);
        hcn_raw->close_endpoint(ep);
        return props_to_json(r, props, ret_json);
}

static int hcn_win_namespace_query(const char *ns_id, const char *query_json, char **ret_json,
                                   char **ret_error)
{
        _cleanup_free_ wchar_t *query = NULL;
        PWSTR record = NULL, props = NULL;
        HCN_NAMESPACE ns = NULL;
        HRESULT hr;
        GUID id;
        int r;

        if (!hcn_raw->query_namespace_properties)
                return -ENOSYS;
        r = hcn_win_args(ns_id, query_json, &id, &query);
        if (r < 0)
                return r;
        hr = hcn_raw->open_namespace(&id, &ns, &record);
        r = hcn_win_result(hr, record, ret_error);
        if (r < 0)
                return r;
        record = NULL;
        hr = hcn_raw->query_namespace_properties(ns, query, &props, &record);
        r = hcn_win_result(hr, record, ret_error);
        hcn_raw->close_namespace(ns);
        return props_to_json(r, props, ret_json);
}

static const struct hcn_api hcn_win_api = {
        .name = "computenetwork",
        .namespace_create = hcn_win_namespace_create,
        .namespace_delete = hcn_win_namespace_delete,
        .namespace_modify = hcn_win_namespace_modify,
        .endpoint_query = hcn_win_endpoint_query,
        .namespace_query = hcn_win_namespace_query,
};

const struct hcn_api *hcn_win_bind(const struct hcn_raw_api *raw)
{
        if (!raw || !raw->create_namespace || !raw->open_namespace || !raw->modify_namespace ||
            !raw->delete_namespace || !raw->close_namespace || !raw->open_endpoint ||
            !raw->query_endpoint_properties || !raw->close_endpoint || !raw->free_memory)
                return NULL;
        hcn_raw = raw;
        return &hcn_win_api;
}

/* ---- computenetwork.dll --------------------------------------------- */

static const struct {
        const char *name;
        size_t offset;
} hcn_win_symbols[] = {
        {"HcnCreateNamespace", offsetof(struct hcn_raw_api, create_namespace)},
        {"HcnOpenNamespace", offsetof(struct hcn_raw_api, open_namespace)},
        {"HcnModifyNamespace", offsetof(struct hcn_raw_api, modify_namespace)},
        {"HcnDeleteNamespace", offsetof(struct hcn_raw_api, delete_namespace)},
        {"HcnCloseNamespace", offsetof(struct hcn_raw_api, close_namespace)},
        {"HcnOpenEndpoint", offsetof(struct hcn_raw_api, open_endpoint)},
        {"HcnQueryEndpointProperties", offsetof(struct hcn_raw_api, query_endpoint_properties)},
        {"HcnCloseEndpoint", offsetof(struct hcn_raw_api, close_endpoint)},
        {"HcnQueryNamespaceProperties", offsetof(struct hcn_raw_api, query_namespace_properties)},
};

static struct hcn_raw_api hcn_dll_raw;
static const struct hcn_api *hcn_dll_api;
static char hcn_dll_reason[256];
static INIT_ONCE hcn_dll_once = INIT_ONCE_STATIC_INIT;

/* Once per process: load the DLL and bind every entry point, or record
 * why not. The DLL stays loaded for the life of the process. */
static BOOL CALLBACK hcn_win_load(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
        HMODULE dll = LoadLibraryExW(L"computenetwork.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

        if (!dll) {
                snprintf(hcn_dll_reason, sizeof(hcn_dll_reason),
                         "computenetwork.dll cannot be loaded from system32 (error %lu): this "
                         "host has no Host Compute Network service",
                         (unsigned long) GetLastError());
                return TRUE;
        }
        for (size_t i = 0; i < ARRAY_SIZE(hcn_win_symbols); i++) {
                FARPROC p = GetProcAddress(dll, hcn_win_symbols[i].name);

                if (!p) {
                        snprintf(hcn_dll_reason, sizeof(hcn_dll_reason),
                                 "computenetwork.dll has no %s (Windows too old for HCN v2?)",
                                 hcn_win_symbols[i].name);
                        FreeLibrary(dll);
                        return TRUE;
                }
                memcpy((char *) &hcn_dll_raw + hcn_win_symbols[i].offset, &p, sizeof(p));
        }
        hcn_dll_raw.free_memory = CoTaskMemFree;
        hcn_dll_api = hcn_win_bind(&hcn_dll_raw);
        return TRUE;
}

const struct hcn_api *hcn_api_computenetwork(char *reason, size_t reason_size)
{
        if (!InitOnceExecuteOnce(&hcn_dll_once, hcn_win_load, NULL, NULL)) {
                if (reason && reason_size > 0)
                        snprintf(reason, reason_size, "loading computenetwork.dll failed");
                return NULL;
        }
        if (!hcn_dll_api && reason && reason_size > 0)
                snprintf(reason, reason_size, "%s", hcn_dll_reason);
        return hcn_dll_api;
}
