/*
 * A fake Windows CNI plugin for tests/windows/uvmd_cni_test.sh (mingw-w64,
 * built by that script as "winfake.exe" into the rig's CNI bin dir). It
 * does what win-bridge does with HCN, through the (fake) computenetwork.dll:
 *
 *   ADD  an endpoint made (HcnCreateEndpoint on the network the config's
 *        "networkId" names, the address 10.99.0.N/24, N counted in
 *        "next-ip") and added to the namespace CNI_NETNS names
 *        (HcnModifyNamespace); its id kept in "ep-CONTAINERID"; a CNI
 *        1.0.0 result printed with that address and advised DNS
 *        (nameserver 10.99.0.53, search svc.winfake.local, ndots:3)
 *   DEL  the endpoint taken out of the namespace and deleted, when there is
 *        one; nothing there is no error
 *
 * The fake DLL finds its files through UVMD_FAKE_HCS_DIR, which uvmd.exe
 * does not pass on: the config's "fakeHcsDir" sets it.
 *
 * Each call is a line "COMMAND CONTAINERID NETNS PID" of "cni.log", and
 * its stdin (the config with runtimeConfig) is kept as
 * "stdin-COMMAND-CONTAINERID.json". Files in
 * its own directory steer it: "fail" makes ADD print a CNI error and exit 1;
 * "hang" makes ADD start a copy of itself that sleeps (its pid in
 * "child.pid") and then sleep itself; "slow" makes ADD sleep 30 s after the
 * endpoint is in the namespace, before it answers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <objbase.h>

#include <computenetwork.h>

static wchar_t dir[MAX_PATH];

static void in_dir(const wchar_t *name, wchar_t *out, size_t n)
{
        _snwprintf(out, n, L"%ls\\%ls", dir, name);
        out[n - 1] = 0;
}

static BOOL present(const wchar_t *name)
{
        wchar_t p[MAX_PATH + 64];

        in_dir(name, p, MAX_PATH + 64);
        return GetFileAttributesW(p) != INVALID_FILE_ATTRIBUTES;
}

static void env(const char *name, char *out, size_t n)
{
        DWORD r = GetEnvironmentVariableA(name, out, (DWORD) n);

        if (r == 0 || r >= n)
                out[0] = 0;
}

static void log_call(const char *cmd, const char *id, const char *netns)
{
        wchar_t p[MAX_PATH + 64];
        FILE *f;

        in_dir(L"cni.log", p, MAX_PATH + 64);
        f = _wfopen(p, L"a");
        if (f) {
                fprintf(f, "%s %s %s %lu\n", cmd, id, netns[0] ? netns : "-",
                        (unsigned long) GetCurrentProcessId());
                fclose(f);
        }
}

static void keep_stdin(const char *cmd, const char *id, const char *conf)
{
        wchar_t name[300], p[MAX_PATH + 300];
        FILE *f;

        _snwprintf(name, 300, L"stdin-%hs-%hs.json", cmd, id);
        name[299] = 0;
        in_dir(name, p, MAX_PATH + 300);
        f = _wfopen(p, L"wb");
        if (f) {
                fputs(conf, f);
                fclose(f);
        }
}

static int fail(int code, const char *msg)
{
        printf("{\"cniVersion\":\"1.0.0\",\"code\":%d,\"msg\":\"%s\"}\n", code, msg);
        return 1;
}

static void guid_text(const GUID *g, char *out)
{
        snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->Data1, g->Data2,
                 g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
                 g->Data4[5], g->Data4[6], g->Data4[7]);
}

static BOOL guid_parse(const char *s, GUID *g)
{
        wchar_t w[48];

        if (strlen(s) != 36)
                return FALSE;
        _snwprintf(w, 48, L"{%hs}", s);
        w[47] = 0;
        return CLSIDFromString(w, g) == S_OK;
}

/* The config's "fakeHcsDir" (no escapes in it but "\\") as the fake DLL's
 * UVMD_FAKE_HCS_DIR. */
static void fake_dir_of(const char *conf)
{
        const char *p = strstr(conf, "\"fakeHcsDir\"");
        char v[MAX_PATH];
        size_t n = 0;

        if (!p || !(p = strchr(p + 12, '"')))
                return;
        for (p++; *p && *p != '"' && n + 1 < sizeof(v); p++) {
                if (*p == '\\' && p[1])
                        p++;
                v[n++] = *p;
        }
        v[n] = 0;
        SetEnvironmentVariableA("UVMD_FAKE_HCS_DIR", v);
}

/* "networkId" of the config on stdin, or a fixed one. */
static void network_of(const char *conf, GUID *g)
{
        const char *p = strstr(conf, "\"networkId\"");
        char id[40] = "";

        if (p && (p = strchr(p + 11, '"')) && strlen(p) > 37) {
                memcpy(id, p + 1, 36);
                id[36] = 0;
        }
        if (!guid_parse(id, g))
                guid_parse("5e5e5e5e-0000-4000-8000-00000000cafe", g);
}

static int next_ip(void)
{
        wchar_t p[MAX_PATH + 64];
        int n = 10;
        FILE *f;

        in_dir(L"next-ip", p, MAX_PATH + 64);
        f = _wfopen(p, L"r");
        if (f) {
                if (fscanf(f, "%d", &n) != 1)
                        n = 10;
                fclose(f);
        }
        f = _wfopen(p, L"w");
        if (f) {
                fprintf(f, "%d\n", n + 1);
                fclose(f);
        }
        return n;
}

static void state_path(const char *id, wchar_t *out)
{
        wchar_t name[300];

        _snwprintf(name, 300, L"ep-%hs", id);
        name[299] = 0;
        in_dir(name, out, MAX_PATH + 300);
}

static void hang(void)
{
        wchar_t self[MAX_PATH], cmd[MAX_PATH + 16], p[MAX_PATH + 64];
        STARTUPINFOW si = {sizeof(si)};
        PROCESS_INFORMATION pi;
        FILE *f;

        GetModuleFileNameW(NULL, self, MAX_PATH);
        _snwprintf(cmd, MAX_PATH + 16, L"\"%ls\"", self);
        SetEnvironmentVariableW(L"CNI_COMMAND", L"SLEEP");
        if (CreateProcessW(self, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
                in_dir(L"child.pid", p, MAX_PATH + 64);
                f = _wfopen(p, L"w");
                if (f) {
                        fprintf(f, "%lu\n", (unsigned long) pi.dwProcessId);
                        fclose(f);
                }
        }
        Sleep(INFINITE);
}

static int ns_change(const char *netns, const char *ep, const char *type)
{
        wchar_t req[256];
        HCN_NAMESPACE ns = NULL;
        PWSTR rec = NULL;
        GUID g;
        HRESULT hr;

        if (!guid_parse(netns, &g))
                return -1;
        hr = HcnOpenNamespace(&g, &ns, &rec);
        if (FAILED(hr))
                return -1;
        _snwprintf(req, 256,
                   L"{\"ResourceType\":\"Endpoint\",\"RequestType\":\"%hs\","
                   L"\"Settings\":{\"EndpointId\":\"%hs\"}}",
                   type, ep);
        hr = HcnModifyNamespace(ns, req, &rec);
        HcnCloseNamespace(ns);
        return FAILED(hr) ? -1 : 0;
}

static int add(const char *id, const char *netns, const char *conf)
{
        wchar_t settings[1024], sp[MAX_PATH + 300];
        char ep[40];
        HCN_NETWORK net = NULL;
        HCN_ENDPOINT h = NULL;
        PWSTR rec = NULL;
        GUID nid, eid;
        FILE *f;
        int n;

        if (present(L"fail"))
                return fail(7, "fake plugin: told to fail (no subnet left)");
        if (present(L"hang"))
                hang();
        network_of(conf, &nid);
        if (FAILED(HcnOpenNetwork(&nid, &net, &rec)))
                return fail(11, "fake plugin: no network");
        CoCreateGuid(&eid);
        guid_text(&eid, ep);
        n = next_ip();
        _snwprintf(settings, 1024,
                   L"{\"ID\":\"%hs\",\"MacAddress\":\"00-15-5D-99-00-%02X\","
                   L"\"IpConfigurations\":[{\"IpAddress\":\"10.99.0.%d\",\"PrefixLength\":24}],"
                   L"\"Routes\":[{\"NextHop\":\"10.99.0.1\",\"DestinationPrefix\":\"0.0.0.0/0\"}]}",
                   ep, n & 0xff, n);
        if (FAILED(HcnCreateEndpoint(net, &eid, settings, &h, &rec))) {
                HcnCloseNetwork(net);
                return fail(11, "fake plugin: endpoint not made");
        }
        HcnCloseEndpoint(h);
        HcnCloseNetwork(net);
        if (ns_change(netns, ep, "Add") < 0) {
                HcnDeleteEndpoint(&eid, &rec);
                return fail(11, "fake plugin: namespace refused the endpoint");
        }
        state_path(id, sp);
        f = _wfopen(sp, L"w");
        if (f) {
                fprintf(f, "%s\n", ep);
                fclose(f);
        }
        if (present(L"slow"))
                Sleep(30000);
        printf("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":"
               "\"00-15-5D-99-00-%02X\",\"sandbox\":\"%s\"}],\"ips\":[{\"address\":"
               "\"10.99.0.%d/24\",\"gateway\":\"10.99.0.1\",\"interface\":0}],"
               "\"dns\":{\"nameservers\":[\"10.99.0.53\"],\"domain\":\"winfake.local\","
               "\"search\":[\"svc.winfake.local\"],\"options\":[\"ndots:3\"]}}\n",
               n & 0xff, netns, n);
        return 0;
}

static int del(const char *id, const char *netns)
{
        wchar_t sp[MAX_PATH + 300];
        char ep[64] = "";
        PWSTR rec = NULL;
        GUID eid;
        FILE *f;

        state_path(id, sp);
        f = _wfopen(sp, L"r");
        if (!f)
                return 0; /* nothing of it left: DEL succeeds */
        if (fscanf(f, "%63s", ep) != 1)
                ep[0] = 0;
        fclose(f);
        if (netns[0])
                ns_change(netns, ep, "Remove");
        if (guid_parse(ep, &eid))
                HcnDeleteEndpoint(&eid, &rec);
        DeleteFileW(sp);
        return 0;
}

int main(void)
{
        char cmd[16], id[256], netns[64], conf[65536];
        size_t n;
        wchar_t *slash;

        GetModuleFileNameW(NULL, dir, MAX_PATH);
        slash = wcsrchr(dir, L'\\');
        if (slash)
                *slash = 0;
        env("CNI_COMMAND", cmd, sizeof(cmd));
        if (strcmp(cmd, "SLEEP") == 0)
                Sleep(INFINITE);
        env("CNI_CONTAINERID", id, sizeof(id));
        env("CNI_NETNS", netns, sizeof(netns));
        n = fread(conf, 1, sizeof(conf) - 1, stdin);
        conf[n] = 0;
        fake_dir_of(conf);
        log_call(cmd, id, netns);
        keep_stdin(cmd, id, conf);
        if (strcmp(cmd, "ADD") == 0)
                return add(id, netns, conf);
        if (strcmp(cmd, "DEL") == 0)
                return del(id, netns);
        if (strcmp(cmd, "CHECK") == 0)
                return 0;
        return fail(4, "fake plugin: unknown CNI_COMMAND");
}
