#pragma once

/*
 * The computenetwork.dll binding behind hcn_api_computenetwork(), open to
 * its tests: the raw entry points (the real signatures of computenetwork.h)
 * in a table that a test replaces by a fake, and the conversions done at
 * the API edge. Windows only.
 */

#include <windows.h>

#include <computenetwork.h>

#include "network/hcn.h"

struct hcn_raw_api {
        HRESULT(WINAPI *create_namespace)
        (REFGUID id, PCWSTR settings, PHCN_NAMESPACE ns, PWSTR *record);
        HRESULT(WINAPI *open_namespace)(REFGUID id, PHCN_NAMESPACE ns, PWSTR *record);
        HRESULT(WINAPI *modify_namespace)(HCN_NAMESPACE ns, PCWSTR settings, PWSTR *record);
        HRESULT(WINAPI *delete_namespace)(REFGUID id, PWSTR *record);
        HRESULT(WINAPI *close_namespace)(HCN_NAMESPACE ns);
        HRESULT(WINAPI *open_endpoint)(REFGUID id, PHCN_ENDPOINT ep, PWSTR *record);
        HRESULT(WINAPI *query_endpoint_properties)
        (HCN_ENDPOINT ep, PCWSTR query, PWSTR *properties, PWSTR *record);
        HRESULT(WINAPI *close_endpoint)(HCN_ENDPOINT ep);
        /* May be NULL: the table's namespace_query then says -ENOSYS. */
        HRESULT(WINAPI *query_namespace_properties)
        (HCN_NAMESPACE ns, PCWSTR query, PWSTR *properties, PWSTR *record);
        /* Frees what HCN returns (records, properties): CoTaskMemFree. */
        void(WINAPI *free_memory)(LPVOID p);
};

/* The hcn_api table, calling raw from now on (tests: a fake). Not thread
 * safe: bind before any call. hcn_api_computenetwork() binds the DLL. */
const struct hcn_api *hcn_win_bind(const struct hcn_raw_api *raw);

/* "c9a1a8d0-1234-4abc-8def-0123456789ab" (either case, no braces) <-> GUID;
 * the text form written is lower case. */
int hcn_win_guid_parse(const char *s, GUID *ret);
void hcn_win_guid_format(const GUID *g, char ret[HCN_GUID_LEN + 1]);

/* A failed HRESULT as -errno (see hcn.h); 0 when it succeeded. */
int hcn_win_errno(HRESULT hr);
