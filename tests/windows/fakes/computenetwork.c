/*
 * A fake computenetwork.dll for tests/windows/uvmd_pods_test.sh (mingw-w64,
 * built by that script): the Hcn* functions uvmd.exe's binding resolves
 * (network/hcn_win.c). Namespaces are files "ns-{GUID}" in
 * UVMD_FAKE_HCS_DIR; there are no endpoints (no network plugin makes any
 * on this rig), so opening one fails as HCN does for an unknown id. Error
 * records are CoTaskMemAlloc'd, as HCN's are.
 */

#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <objbase.h>

#define API __declspec(dllexport) HRESULT WINAPI
#define E_NS_NOT_FOUND ((HRESULT) 0x803B0002L) /* HCN_E_NAMESPACE_NOT_FOUND */
#define E_EP_NOT_FOUND ((HRESULT) 0x803B0001L) /* HCN_E_ENDPOINT_NOT_FOUND */

static void ns_path(const GUID *g, wchar_t *out, size_t n)
{
        wchar_t dir[MAX_PATH] = L".";

        GetEnvironmentVariableW(L"UVMD_FAKE_HCS_DIR", dir, MAX_PATH);
        _snwprintf(out, n, L"%ls\\ns-%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", dir,
                   g->Data1, g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3],
                   g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
        out[n - 1] = 0;
}

static void record(wchar_t **ret, const wchar_t *why)
{
        size_t n;

        if (!ret)
                return;
        n = (wcslen(why) + 64) * sizeof(wchar_t);
        *ret = CoTaskMemAlloc(n);
        if (*ret)
                _snwprintf(*ret, n / sizeof(wchar_t),
                           L"{\"Success\":false,\"Error\":\"fake HCN: %ls\"}", why);
}

API HcnCreateNamespace(const GUID *id, const wchar_t *settings, void **ns, wchar_t **rec)
{
        wchar_t p[1024];
        FILE *f;

        ns_path(id, p, 1024);
        f = _wfopen(p, L"wx");
        if (!f) {
                record(rec, L"namespace exists");
                return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        }
        fprintf(f, "%ls", settings ? settings : L"");
        fclose(f);
        *ns = (void *) 1;
        return S_OK;
}

API HcnOpenNamespace(const GUID *id, void **ns, wchar_t **rec)
{
        wchar_t p[1024];

        ns_path(id, p, 1024);
        if (GetFileAttributesW(p) == INVALID_FILE_ATTRIBUTES) {
                record(rec, L"no such namespace");
                return E_NS_NOT_FOUND;
        }
        *ns = (void *) 1;
        return S_OK;
}

API HcnModifyNamespace(void *ns, const wchar_t *settings, wchar_t **rec)
{
        return S_OK;
}

API HcnDeleteNamespace(const GUID *id, wchar_t **rec)
{
        wchar_t p[1024];

        ns_path(id, p, 1024);
        if (!DeleteFileW(p)) {
                record(rec, L"no such namespace");
                return E_NS_NOT_FOUND;
        }
        return S_OK;
}

API HcnCloseNamespace(void *ns)
{
        return S_OK;
}

API HcnOpenEndpoint(const GUID *id, void **ep, wchar_t **rec)
{
        record(rec, L"no such endpoint");
        return E_EP_NOT_FOUND;
}

API HcnQueryEndpointProperties(void *ep, const wchar_t *query, wchar_t **props, wchar_t **rec)
{
        record(rec, L"no such endpoint");
        return E_EP_NOT_FOUND;
}

API HcnCloseEndpoint(void *ep)
{
        return S_OK;
}
