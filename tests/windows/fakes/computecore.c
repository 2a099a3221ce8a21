/*
 * A fake computecore.dll for tests/windows/uvmd_pods_test.sh (mingw-w64,
 * built by that script): the Hcs* functions uvmd.exe's binding resolves
 * (sandbox/drivers/hcs/hcs_win.c), simulating compute systems' lives in
 * files so that they outlive a uvmd.exe that restarts, as HCS's do.
 *
 * UVMD_FAKE_HCS_DIR (a Windows path) holds, per compute system ID:
 *   ID.state     "<Created|Running> {RuntimeId}": the system exists;
 *   ID.doc.json  the document it was created with, for the test to read;
 *   ID.exit      made by the test: the system "exits" (state removed,
 *                SystemExited sent to the handles watching it);
 *   ID.nic-EP    a NIC of the system (HcsModifyComputeSystem adding
 *                VirtualMachine/Devices/NetworkAdapters/EP, lower case);
 *   ID.modify    every modify request, a line each;
 *   ID.scsi-LUN  a SCSI attachment of the system (VirtualMachine/Devices/
 *                Scsi/GUID/Attachments/LUN added; its request inside);
 *   ID.plan9-NAME a Plan9 share of the system (VirtualMachine/Devices/
 *                Plan9/Shares with Settings.Name NAME added; its request
 *                inside); adds refused while fail-plan9 exists;
 *   grants       every HcsGrantVmAccess, "ID PATH" a line (refused for a
 *                file that does not exist);
 *   revokes      every HcsRevokeVmAccess, the same (refused alike: the
 *                ACL to edit is the file's, so a revoke must come before a
 *                scratch's delete);
 * and fail-start: HcsStartComputeSystem's operation fails while it exists;
 * fail-modify: HcsModifyComputeSystem's do; fail-scsi: SCSI adds do.
 * A system whose state file goes away (shut down, terminated, exited) gets
 * one SystemExited per watching handle, from a thread of the DLL, as HCS
 * sends them from its own. Operations finish at once; their result
 * documents are LocalAlloc'd, as computecore's are.
 */

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include <windows.h>

#define API __declspec(dllexport) HRESULT WINAPI

typedef void(CALLBACK *event_cb)(void *event, void *context);

/* computecore.h's HCS_EVENT. */
struct hcs_event {
        int type;
        const wchar_t *data;
        void *operation;
};

#define EVENT_SYSTEM_EXITED 0x00000001
#define E_NOT_FOUND ((HRESULT) 0x8037010EL)     /* HCS_E_SYSTEM_NOT_FOUND */
#define E_EXISTS ((HRESULT) 0x8037010FL)        /* HCS_E_SYSTEM_ALREADY_EXISTS */
#define E_INVALID_STATE ((HRESULT) 0x80370105L) /* HCS_E_INVALID_STATE */

struct op {
        HRESULT hr;
        wchar_t *result;
};

struct sys {
        wchar_t id[512];
        event_cb cb;
        void *context;
        BOOL exit_sent;
        struct sys *next;
};

static CRITICAL_SECTION lock; /* guards systems and every callback run */
static struct sys *systems;
static HANDLE watcher;

static void path_of(const wchar_t *id, const wchar_t *suffix, wchar_t *out, size_t n)
{
        wchar_t dir[MAX_PATH] = L".";

        GetEnvironmentVariableW(L"UVMD_FAKE_HCS_DIR", dir, MAX_PATH);
        _snwprintf(out, n, L"%ls\\%ls%ls", dir, id, suffix);
        out[n - 1] = 0;
}

static BOOL exists(const wchar_t *id, const wchar_t *suffix)
{
        wchar_t p[1024];

        path_of(id, suffix, p, 1024);
        return GetFileAttributesW(p) != INVALID_FILE_ATTRIBUTES;
}

static void remove_file(const wchar_t *id, const wchar_t *suffix)
{
        wchar_t p[1024];

        path_of(id, suffix, p, 1024);
        DeleteFileW(p);
}

static BOOL write_file(const wchar_t *id, const wchar_t *suffix, const wchar_t *text)
{
        wchar_t p[1024];
        FILE *f;

        path_of(id, suffix, p, 1024);
        f = _wfopen(p, L"w");
        if (!f)
                return FALSE;
        fprintf(f, "%ls", text);
        return fclose(f) == 0;
}

/* "<state> {RuntimeId}" of a system; FALSE when it does not exist. */
static BOOL read_state(const wchar_t *id, wchar_t *state, wchar_t *runtime_id)
{
        wchar_t p[1024];
        FILE *f;
        int n;

        path_of(id, L".state", p, 1024);
        f = _wfopen(p, L"r");
        if (!f)
                return FALSE;
        n = fwscanf(f, L"%31ls %63ls", state, runtime_id);
        fclose(f);
        return n == 2;
}

static wchar_t *local_dup(const wchar_t *s)
{
        size_t n = (wcslen(s) + 1) * sizeof(wchar_t);
        wchar_t *d = LocalAlloc(LMEM_FIXED, n);

        if (d)
                memcpy(d, s, n);
        return d;
}

static void op_set(void *o, HRESULT hr, const wchar_t *result)
{
        struct op *op = o;

        op->hr = hr;
        free(op->result);
        op->result = result ? _wcsdup(result) : NULL;
}

static void op_fail(void *o, HRESULT hr, const wchar_t *why)
{
        wchar_t doc[512];

        _snwprintf(doc, 512, L"{\"Error\":%ld,\"ErrorMessage\":\"fake HCS: %ls\"}", (long) hr, why);
        doc[511] = 0;
        op_set(o, hr, doc);
}

/* Each 50 ms: systems that exited (ID.exit) or went away are reported to
 * every handle watching them, once. */
static DWORD WINAPI watch(void *unused)
{
        for (;;) {
                Sleep(50);
                EnterCriticalSection(&lock);
                for (struct sys *s = systems; s; s = s->next) {
                        if (!s->cb || s->exit_sent)
                                continue;
                        if (exists(s->id, L".exit")) {
                                remove_file(s->id, L".state");
                                remove_file(s->id, L".exit");
                        }
                        if (!exists(s->id, L".state")) {
                                struct hcs_event ev = {EVENT_SYSTEM_EXITED,
                                                       L"{\"ExitType\":\"UnexpectedExit\"}", NULL};

                                s->exit_sent = TRUE;
                                s->cb(&ev, s->context);
                        }
                }
                LeaveCriticalSection(&lock);
        }
        return 0;
}

BOOL WINAPI DllMain(HINSTANCE h, DWORD reason, void *reserved)
{
        if (reason == DLL_PROCESS_ATTACH)
                InitializeCriticalSection(&lock);
        return TRUE;
}

static struct sys *sys_new(const wchar_t *id)
{
        struct sys *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        wcsncpy(s->id, id, 511);
        EnterCriticalSection(&lock);
        s->next = systems;
        systems = s;
        if (!watcher)
                watcher = CreateThread(NULL, 0, watch, NULL, 0, NULL);
        LeaveCriticalSection(&lock);
        return s;
}

__declspec(dllexport) void *WINAPI HcsCreateOperation(const void *context, void *callback)
{
        return calloc(1, sizeof(struct op));
}

__declspec(dllexport) void WINAPI HcsCloseOperation(void *o)
{
        struct op *op = o;

        if (op)
                free(op->result);
        free(op);
}

API HcsWaitForOperationResult(void *o, DWORD timeout_ms, wchar_t **result)
{
        struct op *op = o;

        if (result)
                *result = op->result ? local_dup(op->result) : NULL;
        return op->hr;
}

API HcsCancelOperation(void *o)
{
        return S_OK;
}

API HcsCreateComputeSystem(const wchar_t *id, const wchar_t *config, void *op, const void *security,
                           void **ret)
{
        wchar_t state[96];
        GUID g;

        if (exists(id, L".state")) {
                op_fail(op, E_EXISTS, L"the system exists");
                return S_OK;
        }
        CoCreateGuid(&g);
        _snwprintf(state, 96, L"Created {%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
                   g.Data1, g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3],
                   g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7]);
        if (!write_file(id, L".doc.json", config) || !write_file(id, L".state", state)) {
                op_fail(op, E_FAIL, L"cannot write the state");
                return S_OK;
        }
        *ret = sys_new(id);
        op_set(op, S_OK, NULL);
        return S_OK;
}

API HcsOpenComputeSystem(const wchar_t *id, DWORD access, void **ret)
{
        if (!exists(id, L".state"))
                return E_NOT_FOUND;
        *ret = sys_new(id);
        return *ret ? S_OK : E_OUTOFMEMORY;
}

API HcsStartComputeSystem(void *h, void *op, const wchar_t *options)
{
        struct sys *s = h;
        wchar_t state[32], rid[64], line[128];

        if (!read_state(s->id, state, rid)) {
                op_fail(op, E_NOT_FOUND, L"no such system");
                return S_OK;
        }
        if (exists(L"fail-start", L"")) {
                op_fail(op, E_INVALID_STATE, L"start refused (fail-start)");
                return S_OK;
        }
        _snwprintf(line, 128, L"Running %ls", rid);
        write_file(s->id, L".state", line);
        op_set(op, S_OK, NULL);
        return S_OK;
}

/* Shut down and terminate alike: the system is gone (the watcher tells
 * its handles). */
static HRESULT down(void *h, void *op)
{
        struct sys *s = h;

        if (!exists(s->id, L".state")) {
                op_fail(op, E_NOT_FOUND, L"no such system");
                return S_OK;
        }
        remove_file(s->id, L".state");
        op_set(op, S_OK, NULL);
        return S_OK;
}

API HcsShutDownComputeSystem(void *h, void *op, const wchar_t *options)
{
        return down(h, op);
}

API HcsTerminateComputeSystem(void *h, void *op, const wchar_t *options)
{
        return down(h, op);
}

static void append(const wchar_t *id, const wchar_t *suffix, const wchar_t *text)
{
        wchar_t p[1024];
        FILE *f;

        path_of(id, suffix, p, 1024);
        f = _wfopen(p, L"a");
        if (f) {
                fprintf(f, "%ls\n", text);
                fclose(f);
        }
}

/* A SCSI attachment added (ID.scsi-LUN made) or removed. */
static void scsi_modify(struct sys *s, void *op, const wchar_t *config, const wchar_t *at, BOOL add)
{
        wchar_t suffix[32];
        unsigned lun = (unsigned) wcstoul(at + wcslen(L"/Attachments/"), NULL, 10);

        _snwprintf(suffix, 32, L".scsi-%u", lun);
        suffix[31] = 0;
        if (add && exists(L"fail-scsi", L"")) {
                op_fail(op, E_INVALID_STATE, L"SCSI add refused (fail-scsi)");
                return;
        }
        if (add == exists(s->id, suffix)) {
                op_fail(op, add ? E_EXISTS : HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
                        add ? L"the LUN is in use" : L"no disk at that LUN");
                return;
        }
        if (add)
                write_file(s->id, suffix, config);
        else
                remove_file(s->id, suffix);
        op_set(op, S_OK, NULL);
}

/* A Plan9 share added (ID.plan9-NAME made) or removed. */
static void plan9_modify(struct sys *s, void *op, const wchar_t *config, BOOL add)
{
        const wchar_t *name = wcsstr(config, L"\"Name\":\"");
        wchar_t suffix[80] = L".plan9-";
        size_t i;

        if (!name) {
                op_fail(op, E_INVALIDARG, L"a Plan9 share without a Name");
                return;
        }
        name += wcslen(L"\"Name\":\"");
        for (i = 0; i < 64 && name[i] && name[i] != L'"'; i++)
                suffix[7 + i] = name[i];
        suffix[7 + i] = 0;
        if (add && exists(L"fail-plan9", L"")) {
                op_fail(op, E_INVALID_STATE, L"Plan9 share add refused (fail-plan9)");
                return;
        }
        if (add == exists(s->id, suffix)) {
                op_fail(op, add ? E_EXISTS : HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
                        add ? L"the share exists" : L"no such share");
                return;
        }
        if (add)
                write_file(s->id, suffix, config);
        else
                remove_file(s->id, suffix);
        op_set(op, S_OK, NULL);
}

/* A NIC added (ID.nic-EP made) or removed, a SCSI disk likewise;
 * anything else only logged. */
API HcsModifyComputeSystem(void *h, void *op, const wchar_t *config, HANDLE identity)
{
        static const wchar_t adapters[] = L"VirtualMachine/Devices/NetworkAdapters/";
        struct sys *s = h;
        const wchar_t *res = config ? wcsstr(config, adapters) : NULL;
        wchar_t suffix[64] = L".nic-";
        BOOL add = config && wcsstr(config, L"\"RequestType\":\"Add\"");
        size_t i;

        append(s->id, L".modify", config ? config : L"");
        if (!exists(s->id, L".state")) {
                op_fail(op, E_NOT_FOUND, L"no such system");
                return S_OK;
        }
        if (exists(L"fail-modify", L"")) {
                op_fail(op, E_INVALID_STATE, L"modify refused (fail-modify)");
                return S_OK;
        }
        if (config && wcsstr(config, L"VirtualMachine/Devices/Scsi/") &&
            wcsstr(config, L"/Attachments/")) {
                scsi_modify(s, op, config, wcsstr(config, L"/Attachments/"), add);
                return S_OK;
        }
        if (config && wcsstr(config, L"VirtualMachine/Devices/Plan9/Shares")) {
                plan9_modify(s, op, config, add);
                return S_OK;
        }
        if (!res) {
                op_set(op, S_OK, NULL);
                return S_OK;
        }
        res += wcslen(adapters);
        for (i = 0; i < 40 && res[i] && res[i] != L'"'; i++)
                suffix[5 + i] = towlower(res[i]);
        suffix[5 + i] = 0;
        if (add == exists(s->id, suffix)) {
                op_fail(op, add ? E_EXISTS : HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
                        add ? L"the NIC exists" : L"no such NIC");
                return S_OK;
        }
        if (add)
                write_file(s->id, suffix, L"");
        else
                remove_file(s->id, suffix);
        op_set(op, S_OK, NULL);
        return S_OK;
}

API HcsGetComputeSystemProperties(void *h, void *op, const wchar_t *query)
{
        struct sys *s = h;
        wchar_t state[32], rid[64], doc[1024];

        if (!read_state(s->id, state, rid)) {
                op_fail(op, E_NOT_FOUND, L"no such system");
                return S_OK;
        }
        _snwprintf(doc, 1024,
                   L"{\"Id\":\"%ls\",\"SystemType\":\"VirtualMachine\",\"State\":\"%ls\","
                   L"\"RuntimeId\":\"%ls\"}",
                   s->id, state, rid);
        doc[1023] = 0;
        op_set(op, S_OK, doc);
        return S_OK;
}

API HcsSetComputeSystemCallback(void *h, int options, const void *context, event_cb cb)
{
        struct sys *s = h;

        EnterCriticalSection(&lock);
        s->cb = cb;
        s->context = (void *) context;
        LeaveCriticalSection(&lock);
        return S_OK;
}

/* Synchronous, as HCS's: the file must exist; noted in file "to". */
static HRESULT vm_access(const wchar_t *to, const wchar_t *vm_id, const wchar_t *path)
{
        wchar_t line[1200];

        if (!vm_id || !path)
                return E_INVALIDARG;
        if (GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES)
                return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
        _snwprintf(line, 1200, L"%ls %ls", vm_id, path);
        line[1199] = 0;
        append(to, L"", line);
        return S_OK;
}

API HcsGrantVmAccess(const wchar_t *vm_id, const wchar_t *path)
{
        return vm_access(L"grants", vm_id, path);
}

API HcsRevokeVmAccess(const wchar_t *vm_id, const wchar_t *path)
{
        return vm_access(L"revokes", vm_id, path);
}

/* Returns once no callback runs for it (the lock), as HCS's does. */
__declspec(dllexport) void WINAPI HcsCloseComputeSystem(void *h)
{
        EnterCriticalSection(&lock);
        for (struct sys **p = &systems; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = ((struct sys *) h)->next;
                        break;
                }
        LeaveCriticalSection(&lock);
        free(h);
}
