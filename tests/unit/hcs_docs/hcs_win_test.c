/*
 * The computecore binding (hcs_win.c) over a fake raw table, under Wine:
 * UTF-16 at the edge, operation waits and timeouts, HRESULTs as -errno,
 * result documents released with LocalFree, the event trampoline; and
 * hcs_api_computecore() on a Windows without computecore.dll.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>

#include "common/utf16.h"
#include "sandbox/drivers/hcs/hcs_win-internal.h"

/* ---- the fake computecore ---- */

static struct {
        HRESULT issue_hr;      /* what the Hcs*ComputeSystem call returns */
        HRESULT wait_hr;       /* what the wait returns when in time */
        const wchar_t *result; /* the wait's result document, NULL: none */
        DWORD duration_ms;     /* how long the operation takes */
        bool no_operation;     /* HcsCreateOperation fails */
        DWORD last_timeout, first_timeout;
        wchar_t last_id[256];
        wchar_t last_path[256]; /* HcsGrantVmAccess's, HcsRevokeVmAccess's */
        int revokes;
        wchar_t *last_doc; /* configuration, request or query */
        const char *last_call;
        int ops_open, ops_cancelled, systems_open, local_frees;
        HCS_EVENT_CALLBACK callback;
        const void *callback_context;
} fake;

static HLOCAL local_string(const wchar_t *s)
{
        size_t n = (wcslen(s) + 1) * sizeof(wchar_t);
        HLOCAL m = LocalAlloc(LMEM_FIXED, n);

        assert_non_null(m);
        memcpy(m, s, n);
        return m;
}

static HCS_OPERATION WINAPI fake_create_operation(const void *context,
                                                  HCS_OPERATION_COMPLETION callback)
{
        if (fake.no_operation)
                return NULL;
        fake.ops_open++;
        return (HCS_OPERATION) (intptr_t) (0x100 + fake.ops_open);
}

static void WINAPI fake_close_operation(HCS_OPERATION op)
{
        assert_non_null(op);
        fake.ops_open--;
}

static HRESULT WINAPI fake_wait(HCS_OPERATION op, DWORD timeout_ms, PWSTR *result)
{
        if (!fake.first_timeout)
                fake.first_timeout = timeout_ms;
        fake.last_timeout = timeout_ms;
        if (timeout_ms < fake.duration_ms)
                return HCS_E_OPERATION_TIMEOUT;
        *result = fake.result ? local_string(fake.result) : NULL;
        return fake.wait_hr;
}

static HRESULT WINAPI fake_cancel(HCS_OPERATION op)
{
        fake.ops_cancelled++;
        return S_OK;
}

static void record(const char *call, PCWSTR doc)
{
        fake.last_call = call;
        free(fake.last_doc);
        fake.last_doc = doc ? wcsdup(doc) : NULL;
}

static HRESULT WINAPI fake_create(PCWSTR id, PCWSTR config, HCS_OPERATION op,
                                  const SECURITY_DESCRIPTOR *sd, HCS_SYSTEM *system)
{
        assert_non_null(op);
        wcsncpy(fake.last_id, id, 255);
        record("create", config);
        if (FAILED(fake.issue_hr))
                return fake.issue_hr;
        fake.systems_open++;
        *system = (HCS_SYSTEM) (intptr_t) 0x5000;
        return S_OK;
}

static HRESULT WINAPI fake_open(PCWSTR id, DWORD access, HCS_SYSTEM *system)
{
        wcsncpy(fake.last_id, id, 255);
        if (wcscmp(id, L"known@vm") != 0)
                return HCS_E_SYSTEM_NOT_FOUND;
        fake.systems_open++;
        *system = (HCS_SYSTEM) (intptr_t) 0x6000;
        return S_OK;
}

static HRESULT WINAPI fake_start(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR options)
{
        record("start", options);
        return fake.issue_hr;
}

static HRESULT WINAPI fake_shutdown(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR options)
{
        record("shutdown", options);
        return fake.issue_hr;
}

static HRESULT WINAPI fake_terminate(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR options)
{
        record("terminate", options);
        return fake.issue_hr;
}

static HRESULT WINAPI fake_modify(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR config, HANDLE identity)
{
        record("modify", config);
        return fake.issue_hr;
}

static HRESULT WINAPI fake_properties(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR query)
{
        record("properties", query);
        return fake.issue_hr;
}

static HRESULT WINAPI fake_set_callback(HCS_SYSTEM s, HCS_EVENT_OPTIONS options,
                                        const void *context, HCS_EVENT_CALLBACK callback)
{
        fake.callback = callback;
        fake.callback_context = context;
        return fake.issue_hr;
}

static void WINAPI fake_close_system(HCS_SYSTEM s)
{
        assert_non_null(s);
        fake.systems_open--;
}

static HRESULT WINAPI fake_grant(PCWSTR vm_id, PCWSTR path)
{
        wcsncpy(fake.last_id, vm_id, 255);
        wcsncpy(fake.last_path, path, 255);
        return wcscmp(vm_id, L"known@vm") == 0 ? S_OK : HCS_HR_WIN32(ERROR_FILE_NOT_FOUND);
}

/* The revoke answers as HCS would for a file whose ACL it cannot edit. */
static HRESULT WINAPI fake_revoke(PCWSTR vm_id, PCWSTR path)
{
        fake.revokes++;
        wcsncpy(fake.last_id, vm_id, 255);
        wcsncpy(fake.last_path, path, 255);
        return wcscmp(vm_id, L"known@vm") == 0 ? S_OK : HCS_HR_WIN32(ERROR_ACCESS_DENIED);
}

static HLOCAL WINAPI fake_local_free(HLOCAL m)
{
        fake.local_frees++;
        return LocalFree(m);
}

static const struct hcs_raw fake_raw = {
        .create_operation = fake_create_operation,
        .close_operation = fake_close_operation,
        .wait_for_operation_result = fake_wait,
        .cancel_operation = fake_cancel,
        .create_compute_system = fake_create,
        .open_compute_system = fake_open,
        .start_compute_system = fake_start,
        .shut_down_compute_system = fake_shutdown,
        .terminate_compute_system = fake_terminate,
        .modify_compute_system = fake_modify,
        .get_compute_system_properties = fake_properties,
        .set_compute_system_callback = fake_set_callback,
        .close_compute_system = fake_close_system,
        .grant_vm_access = fake_grant,
        .revoke_vm_access = fake_revoke,
        .local_free = fake_local_free,
};

static const struct hcs_api *api;

static int setup(void **state)
{
        free(fake.last_doc);
        memset(&fake, 0, sizeof(fake));
        api = hcs_api_from_raw(&fake_raw);
        return api ? 0 : -1;
}

/* After each test: every operation closed, every system handle too. */
static int teardown(void **state)
{
        assert_int_equal(fake.ops_open, 0);
        assert_int_equal(fake.systems_open, 0);
        return 0;
}

static struct hcs_system *open_known(void)
{
        struct hcs_system *sys = NULL;

        assert_int_equal(api->open("known@vm", &sys, NULL), 0);
        assert_non_null(sys);
        return sys;
}

/* ---- tests ---- */

static void test_utf16_round_trip(void **state)
{
        struct hcs_system *sys = NULL;
        char *result = NULL, *props = NULL;

        assert_int_equal(api->create("pod-\xc3\xa9-\xf0\x9f\x98\x80@vm",
                                     "{\"Owner\":\"Jos\xc3\xa9 \xe2\x82\xac\"}", 1000, &sys,
                                     &result),
                         0);
        assert_null(result);
        assert_true(wcscmp(fake.last_id, L"pod-\u00e9-\U0001F600@vm") == 0);
        assert_true(wcscmp(fake.last_doc, L"{\"Owner\":\"Jos\u00e9 \u20ac\"}") == 0);
        assert_int_equal(fake.last_timeout, 1000);

        fake.result = L"{\"Name\":\"caf\u00e9 \U0001F600\"}";
        assert_int_equal(api->properties(sys, NULL, 500, &props, &result), 0);
        assert_null(fake.last_doc); /* no query: NULL, not "" */
        assert_string_equal(props, "{\"Name\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
        assert_int_equal(fake.local_frees, 1);
        free(props);

        assert_int_equal(api->modify(sys, "{\"ResourcePath\":\"\xc3\xa9\"}", 500, NULL), 0);
        assert_string_equal(fake.last_call, "modify");
        assert_true(wcscmp(fake.last_doc, L"{\"ResourcePath\":\"\u00e9\"}") == 0);
        api->close(sys);
        api->close(NULL);
}

static void test_utf_conversion_refusals(void **state)
{
        static const wchar_t lone[] = {L'a', 0xd800, L'b', 0};
        struct hcs_system *sys = NULL;
        char *result = NULL, *s = NULL, id[HCS_WIN_ID_MAX + 2];
        wchar_t *w = NULL;

        assert_int_equal(api->create("bad\xc3(@vm", "{}", 1000, &sys, &result), -EINVAL);
        assert_null(sys);
        assert_non_null(strstr(result, "id is not UTF-8"));
        assert_non_null(strstr(result, "E_INVALIDARG"));
        free(result);
        result = NULL;
        memset(id, 'x', sizeof(id) - 1);
        id[sizeof(id) - 1] = '\0';
        assert_int_equal(api->create(id, "{}", 1000, &sys, &result), -EINVAL);
        free(result);
        assert_null(fake.last_call); /* HCS never called */

        assert_int_equal(wide_to_utf8(lone, 100, &s), -EINVAL);
        assert_int_equal(wide_to_utf8(L"abcdef", 5, &s), -EINVAL);
        assert_int_equal(wide_to_utf8(L"abcde", 5, &s), 0);
        assert_string_equal(s, "abcde");
        free(s);
        /* Three bytes each: 6 bytes are more than 5, though 2 units. */
        assert_int_equal(wide_to_utf8(L"\u20ac\u20ac", 5, &s), -EINVAL);
        assert_int_equal(utf8_to_wide("\xed\xa0\x80", 100, &w), -EINVAL);
        assert_int_equal(utf8_to_wide("abc", 2, &w), -EINVAL);
        assert_int_equal(utf8_to_wide("", 2, &w), 0);
        assert_true(w[0] == 0);
        free(w);
}

static void test_timeout(void **state)
{
        struct hcs_system *sys = NULL;
        char *result = NULL;

        fake.duration_ms = 1000;
        assert_int_equal(api->create("slow@vm", "{}", 50, &sys, &result), -ETIMEDOUT);
        assert_null(sys);
        assert_int_equal(fake.first_timeout, 50);
        assert_int_equal(fake.ops_cancelled, 1);
        /* The half-made system was terminated (it would outlive its
         * handle), then closed. */
        assert_string_equal(fake.last_call, "terminate");
        assert_int_equal(fake.systems_open, 0);
        assert_non_null(strstr(result, "HcsCreateComputeSystem: timed out"));
        assert_non_null(strstr(result, "HCS_E_OPERATION_TIMEOUT"));
        free(result);

        fake.duration_ms = 0;
        sys = open_known();
        fake.duration_ms = 30000;
        assert_int_equal(api->shutdown(sys, 29999, NULL), -ETIMEDOUT);
        assert_int_equal(fake.ops_cancelled, 2);
        assert_int_equal(api->shutdown(sys, 30000, NULL), 0);
        api->close(sys);
}

static void test_hresult_mapping(void **state)
{
        static const struct {
                uint32_t hr;
                int err;
        } cases[] = {
                {0x00000000, 0},          {0x00000001, 0}, /* S_FALSE */
                {0x80070057, -EINVAL},    {0x8037010D, -EINVAL},    {0x80070005, -EPERM},
                {0x8037011B, -EPERM},     {0x8037010E, -ENOENT},    {0xC037010E, -ENOENT},
                {0x80070490, -ENOENT},    {0x8037010F, -EEXIST},    {0x800700B7, -EEXIST},
                {0x80370110, -ESRCH},     {0xC0370110, -ESRCH},     {0x80370118, -ETIMEDOUT},
                {0x80070102, -ETIMEDOUT}, {0x800705B4, -ETIMEDOUT}, {0x80370105, -EBUSY},
                {0x80370121, -ECANCELED}, {0x80370114, -EAGAIN},    {0x80370102, -ENOTSUP},
                {0x8007000E, -ENOMEM},    {0x80004005, -EIO},       {0x80370106, -EIO},
        };
        struct hcs_system *sys = open_known();

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                HRESULT hr = (HRESULT) cases[i].hr;
                char *result = NULL;

                assert_int_equal(hcs_hresult_to_errno(hr), cases[i].err);
                if (cases[i].err == 0 || cases[i].err == -ETIMEDOUT)
                        continue;
                /* From the operation's result... */
                fake.wait_hr = hr;
                assert_int_equal(api->start(sys, 1000, &result), cases[i].err);
                assert_non_null(strstr(result, "HcsStartComputeSystem"));
                free(result);
                result = NULL;
                /* ...and from the call itself. */
                fake.wait_hr = S_OK;
                fake.issue_hr = hr;
                assert_int_equal(api->terminate(sys, 1000, &result), cases[i].err);
                assert_non_null(strstr(result, "HcsTerminateComputeSystem: the call failed"));
                free(result);
                fake.issue_hr = S_OK;
        }
        assert_string_equal(hcs_hresult_name((HRESULT) 0xC037010E), "HCS_E_SYSTEM_NOT_FOUND");
        assert_null(hcs_hresult_name(E_FAIL));
        api->close(sys);
}

static void test_open_not_found(void **state)
{
        struct hcs_system *sys = NULL;
        char *result = NULL;

        assert_int_equal(api->open("gone@vm", &sys, &result), -ENOENT);
        assert_null(sys);
        assert_non_null(strstr(result, "HCS_E_SYSTEM_NOT_FOUND"));
        free(result);
}

/* HcsGrantVmAccess: UTF-16 arguments, answered at once (no operation),
 * a refusal as errno with HCS's reason. */
static void test_grant_vm_access(void **state)
{
        char *result = NULL;

        assert_int_equal(api->grant_vm_access("known@vm", "C:\\d\\l\u00e4yer.vhd", &result), 0);
        assert_null(result);
        assert_int_equal(wcscmp(fake.last_id, L"known@vm"), 0);
        assert_int_equal(wcscmp(fake.last_path, L"C:\\d\\l\u00e4yer.vhd"), 0);
        assert_int_equal(fake.ops_open, 0);
        assert_int_equal(api->grant_vm_access("other@vm", "C:\\x.vhd", &result), -ENOENT);
        assert_non_null(result);
        free(result);
}

/* HcsRevokeVmAccess: the same arguments, its own name in a refusal. */
static void test_revoke_vm_access(void **state)
{
        char *result = NULL;

        assert_int_equal(api->revoke_vm_access("known@vm", "C:\\d\\l\u00e4yer.vhd", &result), 0);
        assert_null(result);
        assert_int_equal(fake.revokes, 1);
        assert_int_equal(wcscmp(fake.last_path, L"C:\\d\\l\u00e4yer.vhd"), 0);
        assert_int_equal(api->revoke_vm_access("other@vm", "C:\\x.vhd", &result), -EPERM);
        assert_non_null(result);
        assert_non_null(strstr(result, "HcsRevokeVmAccess"));
        free(result);
        assert_int_equal(fake.ops_open, 0);
}

static void test_result_documents_freed(void **state)
{
        struct hcs_system *sys = open_known();
        char *result = NULL, *props = (char *) "untouched";

        /* A failure's document comes back to the caller, in UTF-8. */
        fake.wait_hr = HCS_E_INVALID_JSON;
        fake.result = L"{\"Error\":-2143878899,\"ErrorMessage\":\"bad \u00e9\"}";
        assert_int_equal(api->modify(sys, "{}", 1000, &result), -EINVAL);
        assert_string_equal(result, "{\"Error\":-2143878899,\"ErrorMessage\":\"bad \xc3\xa9\"}");
        assert_int_equal(fake.local_frees, 1);
        free(result);
        /* Without a place for it, still released. */
        assert_int_equal(api->modify(sys, "{}", 1000, NULL), -EINVAL);
        assert_int_equal(fake.local_frees, 2);
        /* A success's document is released too, ret_result left alone. */
        fake.wait_hr = S_OK;
        result = NULL;
        assert_int_equal(api->start(sys, 1000, &result), 0);
        assert_null(result);
        assert_int_equal(fake.local_frees, 3);
        /* Properties without a document: an error, not an empty string. */
        fake.result = NULL;
        assert_int_equal(api->properties(sys, "{\"PropertyTypes\":[]}", 1000, &props, &result),
                         -EIO);
        assert_string_equal(props, "untouched");
        assert_non_null(strstr(result, "no usable result document"));
        free(result);
        /* No operation to be had. */
        fake.no_operation = true;
        result = NULL;
        assert_int_equal(api->start(sys, 1000, &result), -ENOMEM);
        assert_non_null(strstr(result, "HcsCreateOperation failed"));
        free(result);
        api->close(sys);
}

struct seen {
        int calls;
        char kind[64];
        char detail[128];
        bool detail_null;
};

static void on_event(void *data, const char *kind, const char *detail)
{
        struct seen *s = data;

        s->calls++;
        snprintf(s->kind, sizeof(s->kind), "%s", kind);
        s->detail_null = !detail;
        snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
}

static void test_callback_trampoline(void **state)
{
        static wchar_t lone[] = {L'{', 0xdc00, L'}', 0};
        struct hcs_system *sys = open_known();
        struct seen seen = {0};
        HCS_EVENT ev = {HcsEventSystemExited, L"{\"ExitCode\":0,\"Why\":\"\u00e9\"}", NULL};

        assert_int_equal(api->set_callback(sys, on_event, &seen), 0);
        assert_non_null(fake.callback);
        assert_int_equal(api->set_callback(sys, on_event, &seen), -EBUSY);
        fake.callback(&ev, (void *) fake.callback_context);
        assert_int_equal(seen.calls, 1);
        assert_string_equal(seen.kind, "SystemExited");
        assert_string_equal(seen.detail, "{\"ExitCode\":0,\"Why\":\"\xc3\xa9\"}");
        ev = (HCS_EVENT){HcsEventSystemCrashReport, NULL, NULL};
        fake.callback(&ev, (void *) fake.callback_context);
        assert_string_equal(seen.kind, "SystemCrashReport");
        assert_true(seen.detail_null);
        /* A detail that does not convert still delivers the event. */
        ev = (HCS_EVENT){(HCS_EVENT_TYPE) 0x42, lone, NULL};
        fake.callback(&ev, (void *) fake.callback_context);
        assert_int_equal(seen.calls, 3);
        assert_string_equal(seen.kind, "Unknown");
        assert_true(seen.detail_null);
        api->close(sys);

        /* HCS refusing the callback leaves the handle free for another. */
        sys = open_known();
        fake.issue_hr = HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
        assert_int_equal(api->set_callback(sys, on_event, &seen), -EBUSY);
        fake.issue_hr = S_OK;
        assert_int_equal(api->set_callback(sys, on_event, &seen), 0);
        api->close(sys);
}

static void test_from_raw_needs_every_entry(void **state)
{
        struct hcs_raw raw = fake_raw;

        raw.cancel_operation = NULL; /* optional */
        assert_non_null(hcs_api_from_raw(&raw));
        raw.local_free = NULL;
        assert_null(hcs_api_from_raw(&raw));
        raw = fake_raw;
        raw.close_compute_system = NULL;
        assert_null(hcs_api_from_raw(&raw));
        raw = fake_raw;
        raw.grant_vm_access = NULL;
        assert_null(hcs_api_from_raw(&raw));
        raw = fake_raw;
        raw.revoke_vm_access = NULL;
        assert_null(hcs_api_from_raw(&raw));
        assert_null(hcs_api_from_raw(NULL));
}

/* On this host: with computecore.dll a table, without it NULL and why. */
static void test_computecore(void **state)
{
        HMODULE dll = LoadLibraryExW(L"computecore.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
        char reason[512] = "stale";
        const struct hcs_api *cc = hcs_api_computecore(reason, sizeof(reason));

        if (dll) {
                FreeLibrary(dll);
                assert_non_null(cc);
                assert_string_equal(cc->name, "computecore");
                return;
        }
        print_message("hcs_api_computecore: %s\n", reason);
        assert_null(cc);
        assert_non_null(strstr(reason, "computecore.dll is not in the system directory"));
        assert_non_null(strstr(reason, "no Host Compute Service"));
        /* Asked again: the same answer, without loading again. */
        assert_null(hcs_api_computecore(reason, 16));
        assert_int_equal(strlen(reason), 15);
        assert_null(hcs_api_computecore(NULL, 0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_utf16_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_utf_conversion_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hresult_mapping, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grant_vm_access, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revoke_vm_access, setup, teardown),
                cmocka_unit_test_setup_teardown(test_result_documents_freed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_callback_trampoline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_from_raw_needs_every_entry, setup, teardown),
                cmocka_unit_test(test_computecore),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
