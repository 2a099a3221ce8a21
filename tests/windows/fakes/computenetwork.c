/*
 * A fake computenetwork.dll for tests/windows/uvmd_pods_test.sh (mingw-w64,
 * built by that script): the Hcn* functions uvmd.exe's binding resolves
 * (network/hcn_win.c). Namespaces are files "ns-{GUID}" in
 * UVMD_FAKE_HCS_DIR. An endpoint exists when the test made its document,
 * "ep-{GUID}.json" (lower case; no network plugin runs on this rig);
 * opening any other fails as HCN does for an unknown id. An endpoint in a
 * namespace is the file "ns-{NS}.ep-{EP}" (in one namespace at most, as
 * HCN keeps it); each namespace change is a line
 * "add|remove NS EP" of "hcn.log", and while "fail-ns-add" exists adding
 * one fails. Error records are CoTaskMemAlloc'd, as HCN's are.
 *
 * A network plugin (fakes/cni_plugin.c) makes endpoints too:
 * HcnCreateEndpoint writes its settings as "ep-{GUID}.json" (any network
 * id opens) and HcnDeleteEndpoint removes it, each a line
 * "create-ep|delete-ep NETWORK EP" of "hcn.log"; HcnQueryNamespaceProperties
 * lists a namespace's endpoints as HCN's "Resources".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <objbase.h>

#define API __declspec(dllexport) HRESULT WINAPI
#define E_NS_NOT_FOUND ((HRESULT) 0x803B0002L) /* HCN_E_NAMESPACE_NOT_FOUND */
#define E_EP_NOT_FOUND ((HRESULT) 0x803B0001L) /* HCN_E_ENDPOINT_NOT_FOUND */
#define E_ATTACHED ((HRESULT) 0x803B0014L)     /* HCN_E_ENDPOINT_ALREADY_ATTACHED */

/* A namespace's or endpoint's handle: its id, as text. */
struct handle {
        wchar_t id[40];
};

static void guid_text(const GUID *g, wchar_t *out)
{
        _snwprintf(out, 37, L"%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->Data1,
                   g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3],
                   g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
        out[36] = 0;
}

/* <UVMD_FAKE_HCS_DIR>\<name> */
static void in_dir(const wchar_t *name, wchar_t *out, size_t n)
{
        wchar_t dir[MAX_PATH] = L".";

        GetEnvironmentVariableW(L"UVMD_FAKE_HCS_DIR", dir, MAX_PATH);
        _snwprintf(out, n, L"%ls\\%ls", dir, name);
        out[n - 1] = 0;
}

static void ns_path(const GUID *g, wchar_t *out, size_t n)
{
        wchar_t name[64] = L"ns-";

        guid_text(g, name + 3);
        in_dir(name, out, n);
}

static BOOL exists(const wchar_t *path)
{
        return GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES;
}

static struct handle *handle_new(const GUID *g)
{
        struct handle *h = calloc(1, sizeof(*h));

        if (h)
                guid_text(g, h->id);
        return h;
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
        *ns = handle_new(id);
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
        *ns = handle_new(id);
        return S_OK;
}

/* The string value of "key" in a JSON request, lower-cased into out. */
static BOOL json_value(const wchar_t *json, const wchar_t *key, wchar_t *out, size_t n)
{
        const wchar_t *p = wcsstr(json, key), *end;
        size_t i;

        if (!p || !(p = wcschr(p + wcslen(key), L':')) || !(p = wcschr(p, L'"')) ||
            !(end = wcschr(++p, L'"')) || (size_t) (end - p) >= n)
                return FALSE;
        for (i = 0; p + i < end; i++)
                out[i] = towlower(p[i]);
        out[i] = 0;
        return TRUE;
}

static void log_line(const char *op, const wchar_t *ns, const wchar_t *ep)
{
        wchar_t p[1024];
        FILE *f;

        in_dir(L"hcn.log", p, 1024);
        f = _wfopen(p, L"a");
        if (f) {
                fprintf(f, "%s %ls %ls\n", op, ns, ep);
                fclose(f);
        }
}

static BOOL attached_anywhere(const wchar_t *ep)
{
        wchar_t name[64], p[1024];
        WIN32_FIND_DATAW d;
        HANDLE h;

        _snwprintf(name, 64, L"ns-*.ep-%ls", ep);
        in_dir(name, p, 1024);
        h = FindFirstFileW(p, &d);
        if (h == INVALID_HANDLE_VALUE)
                return FALSE;
        FindClose(h);
        return TRUE;
}

/* Add or remove one endpoint: "ns-{NS}.ep-{EP}" made or removed. */
API HcnModifyNamespace(void *ns, const wchar_t *settings, wchar_t **rec)
{
        struct handle *h = ns;
        wchar_t type[16], ep[40], name[128], p[1024], guard[1024];
        BOOL add;
        FILE *f;

        if (!json_value(settings, L"\"RequestType\"", type, 16) ||
            !json_value(settings, L"\"EndpointId\"", ep, 40)) {
                record(rec, L"bad request");
                return E_INVALIDARG;
        }
        add = wcscmp(type, L"add") == 0;
        log_line(add ? "add" : "remove", h->id, ep);
        _snwprintf(name, 128, L"ns-%ls.ep-%ls", h->id, ep);
        in_dir(name, p, 1024);
        in_dir(L"fail-ns-add", guard, 1024);
        if (add && exists(guard)) {
                record(rec, L"add refused (fail-ns-add)");
                return E_FAIL;
        }
        if (add && attached_anywhere(ep)) {
                record(rec, L"endpoint already attached");
                return E_ATTACHED;
        }
        if (add) {
                f = _wfopen(p, L"wx");
                if (!f) {
                        record(rec, L"endpoint already attached");
                        return E_ATTACHED;
                }
                fclose(f);
                return S_OK;
        }
        if (!DeleteFileW(p)) {
                record(rec, L"endpoint not attached");
                return E_EP_NOT_FOUND;
        }
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
        free(ns);
        return S_OK;
}

static void ep_path(const wchar_t *id, wchar_t *out, size_t n)
{
        wchar_t name[64];

        _snwprintf(name, 64, L"ep-%ls.json", id);
        in_dir(name, out, n);
}

API HcnOpenEndpoint(const GUID *id, void **ep, wchar_t **rec)
{
        struct handle *h = handle_new(id);
        wchar_t p[1024];

        if (h)
                ep_path(h->id, p, 1024);
        if (!h || !exists(p)) {
                free(h);
                record(rec, L"no such endpoint");
                return E_EP_NOT_FOUND;
        }
        *ep = h;
        return S_OK;
}

/* The test's document, ASCII, as the endpoint's properties. */
API HcnQueryEndpointProperties(void *ep, const wchar_t *query, wchar_t **props, wchar_t **rec)
{
        struct handle *h = ep;
        char doc[4096];
        wchar_t p[1024];
        size_t n;
        FILE *f;

        ep_path(h->id, p, 1024);
        f = _wfopen(p, L"rb");
        if (!f) {
                record(rec, L"no such endpoint");
                return E_EP_NOT_FOUND;
        }
        n = fread(doc, 1, sizeof(doc) - 1, f);
        fclose(f);
        doc[n] = 0;
        *props = CoTaskMemAlloc((n + 1) * sizeof(wchar_t));
        if (!*props)
                return E_OUTOFMEMORY;
        for (size_t i = 0; i <= n; i++)
                (*props)[i] = (unsigned char) doc[i];
        return S_OK;
}

API HcnCloseEndpoint(void *ep)
{
        free(ep);
        return S_OK;
}

/* The namespace's endpoints ("ns-{NS}.ep-{EP}" files) as HCN's
 * "Resources" of type Endpoint: what uvmd.exe reads after CNI ADD. */
API HcnQueryNamespaceProperties(void *ns, const wchar_t *query, wchar_t **props, wchar_t **rec)
{
        struct handle *h = ns;
        wchar_t name[64], p[1024], doc[4096];
        WIN32_FIND_DATAW d;
        HANDLE f;
        size_t n;

        _snwprintf(doc, 4096, L"{\"ID\":\"%ls\",\"Resources\":[", h->id);
        _snwprintf(name, 64, L"ns-%ls.ep-*", h->id);
        in_dir(name, p, 1024);
        f = FindFirstFileW(p, &d);
        for (BOOL more = f != INVALID_HANDLE_VALUE, first = TRUE; more;
             more = FindNextFileW(f, &d), first = FALSE) {
                const wchar_t *ep = wcsstr(d.cFileName, L".ep-");
                n = wcslen(doc);
                if (ep && n + 128 < 4096)
                        _snwprintf(doc + n, 4096 - n,
                                   L"%ls{\"Type\":\"Endpoint\",\"Data\":{\"ID\":\"%ls\"}}",
                                   first ? L"" : L",", ep + 4);
        }
        if (f != INVALID_HANDLE_VALUE)
                FindClose(f);
        wcscat(doc, L"]}");
        n = wcslen(doc);
        *props = CoTaskMemAlloc((n + 1) * sizeof(wchar_t));
        if (!*props)
                return E_OUTOFMEMORY;
        memcpy(*props, doc, (n + 1) * sizeof(wchar_t));
        return S_OK;
}

/* Any network opens: the plugin's config names it. */
API HcnOpenNetwork(const GUID *id, void **net, wchar_t **rec)
{
        *net = handle_new(id);
        return *net ? S_OK : E_OUTOFMEMORY;
}

API HcnCloseNetwork(void *net)
{
        free(net);
        return S_OK;
}

/* The settings (ASCII) become the endpoint's document. */
API HcnCreateEndpoint(void *net, const GUID *id, const wchar_t *settings, void **ep, wchar_t **rec)
{
        struct handle *h = handle_new(id), *n = net;
        wchar_t p[1024];
        FILE *f;

        if (!h)
                return E_OUTOFMEMORY;
        ep_path(h->id, p, 1024);
        f = _wfopen(p, L"wx");
        if (!f) {
                free(h);
                record(rec, L"endpoint exists");
                return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        }
        fprintf(f, "%ls", settings ? settings : L"{}");
        fclose(f);
        log_line("create-ep", n ? n->id : L"-", h->id);
        *ep = h;
        return S_OK;
}

API HcnDeleteEndpoint(const GUID *id, wchar_t **rec)
{
        wchar_t text[40], p[1024];

        guid_text(id, text);
        ep_path(text, p, 1024);
        if (!DeleteFileW(p)) {
                record(rec, L"no such endpoint");
                return E_EP_NOT_FOUND;
        }
        log_line("delete-ep", L"-", text);
        return S_OK;
}
