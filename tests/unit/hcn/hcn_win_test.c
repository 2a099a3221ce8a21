/* The computenetwork.dll binding (network/hcn_win.c) against a fake raw
 * table: UTF-8/UTF-16 conversions, GUIDs, HRESULT mapping, the raw calls
 * each hcn_api entry makes (handles closed, records and properties freed
 * with the API's free), and hcn_api_computenetwork() on a host without HCN
 * (Wine). Windows only: run under Wine by bazel/test-windows.sh. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <windows.h>

#include <cmocka.h>
#include <objbase.h>

#include "common/error.h"
#include "network/hcn.h"
#include "common/utf16.h"
#include "network/hcn_win-internal.h"

#define NS_ID "c9a1a8d0-1234-4abc-8def-0123456789ab"
#define EP_ID "0b9a3c1e-5f2d-4e8a-9c7b-1d2e3f4a5b6c"
#define NS_HANDLE ((HCN_NAMESPACE) (uintptr_t) 0x1001)
#define EP_HANDLE ((HCN_ENDPOINT) (uintptr_t) 0x2001)

static struct {
        char log[16][300];
        int n_log;
        int allocs, frees;
        const char *fail_op; /* the raw call that fails */
        HRESULT fail_hr;
        const wchar_t *fail_record; /* NULL: HCN gives none */
        const wchar_t *props;
} raw;

static wchar_t *co_strdup(const wchar_t *s)
{
        size_t size = (wcslen(s) + 1) * sizeof(wchar_t);
        wchar_t *p = CoTaskMemAlloc(size);

        assert_non_null(p);
        memcpy(p, s, size);
        raw.allocs++;
        return p;
}

static void raw_log(const char *op, const GUID *id, const void *handle, PCWSTR text)
{
        char guid[HCN_GUID_LEN + 1] = "", *utf8 = NULL;

        if (id)
                hcn_win_guid_format(id, guid);
        if (text)
                assert_int_equal(wide_to_utf8(text, 1u << 20, &utf8), 0);
        snprintf(raw.log[raw.n_log++], sizeof(raw.log[0]), "%s%s%s%s%s", op, id ? " " : "", guid,
                 handle ? (handle == NS_HANDLE ? " ns" : " ep") : "", utf8 ? " " : "");
        if (utf8)
                strncat(raw.log[raw.n_log - 1], utf8, 200);
        free(utf8);
}

/* The injected failure of op, its record handed out as HCN does. */
static HRESULT raw_result(const char *op, PWSTR *record)
{
        *record = NULL;
        if (!raw.fail_op || strcmp(raw.fail_op, op) != 0)
                return S_OK;
        if (raw.fail_record)
                *record = co_strdup(raw.fail_record);
        return raw.fail_hr;
}

static HRESULT WINAPI raw_create_namespace(REFGUID id, PCWSTR settings, PHCN_NAMESPACE ns,
                                           PWSTR *record)
{
        raw_log("create", id, NULL, settings);
        *ns = NS_HANDLE;
        return raw_result("create", record);
}

static HRESULT WINAPI raw_open_namespace(REFGUID id, PHCN_NAMESPACE ns, PWSTR *record)
{
        raw_log("open", id, NULL, NULL);
        *ns = NS_HANDLE;
        return raw_result("open", record);
}

static HRESULT WINAPI raw_modify_namespace(HCN_NAMESPACE ns, PCWSTR settings, PWSTR *record)
{
        raw_log("modify", NULL, ns, settings);
        return raw_result("modify", record);
}

static HRESULT WINAPI raw_delete_namespace(REFGUID id, PWSTR *record)
{
        raw_log("delete", id, NULL, NULL);
        return raw_result("delete", record);
}

static HRESULT WINAPI raw_close_namespace(HCN_NAMESPACE ns)
{
        raw_log("close", NULL, ns, NULL);
        return S_OK;
}

static HRESULT WINAPI raw_open_endpoint(REFGUID id, PHCN_ENDPOINT ep, PWSTR *record)
{
        raw_log("open-ep", id, NULL, NULL);
        *ep = EP_HANDLE;
        return raw_result("open-ep", record);
}

static HRESULT WINAPI raw_query_endpoint(HCN_ENDPOINT ep, PCWSTR query, PWSTR *props, PWSTR *record)
{
        HRESULT hr;

        raw_log("query", NULL, ep, query);
        hr = raw_result("query", record);
        *props = SUCCEEDED(hr) && raw.props ? co_strdup(raw.props) : NULL;
        return hr;
}

static HRESULT WINAPI raw_close_endpoint(HCN_ENDPOINT ep)
{
        raw_log("close", NULL, ep, NULL);
        return S_OK;
}

static void WINAPI raw_free(LPVOID p)
{
        raw.frees++;
        CoTaskMemFree(p);
}

static const struct hcn_raw_api fake_raw = {
        .create_namespace = raw_create_namespace,
        .open_namespace = raw_open_namespace,
        .modify_namespace = raw_modify_namespace,
        .delete_namespace = raw_delete_namespace,
        .close_namespace = raw_close_namespace,
        .open_endpoint = raw_open_endpoint,
        .query_endpoint_properties = raw_query_endpoint,
        .close_endpoint = raw_close_endpoint,
        .free_memory = raw_free,
};

static const struct hcn_api *api;

static int setup(void **state)
{
        memset(&raw, 0, sizeof(raw));
        api = hcn_win_bind(&fake_raw);
        return api ? 0 : -1;
}

/* Every string HCN handed out was given back. */
static int teardown(void **state)
{
        assert_int_equal(raw.allocs, raw.frees);
        return 0;
}

static void assert_log(const char *const *want)
{
        int n = 0;

        for (; want[n]; n++) {
                if (n >= raw.n_log || strcmp(raw.log[n], want[n]) != 0)
                        fail_msg("raw call %d: '%s', want '%s'", n + 1,
                                 n < raw.n_log ? raw.log[n] : "(none)", want[n]);
        }
        assert_int_equal(raw.n_log, n);
}

static void test_utf8_utf16(void **state)
{
        static const char utf8[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
        static const wchar_t utf16[] = L"h\x00e9llo \x20ac \xd83d\xde00";
        static const char *const bad8[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80"};
        static const wchar_t *const bad16[] = {L"\xd800", L"a\xdc00z", L"\xd83dx"};
        wchar_t *w = NULL;
        char *u = NULL;

        assert_int_equal(utf8_to_wide(utf8, 1u << 20, &w), 0);
        assert_int_equal(wcscmp(w, utf16), 0);
        assert_int_equal(wide_to_utf8(w, 1u << 20, &u), 0);
        assert_string_equal(u, utf8);
        free(w);
        free(u);
        assert_int_equal(utf8_to_wide("", 1u << 20, &w), 0);
        assert_int_equal(w[0], 0);
        free(w);

        for (size_t i = 0; i < ARRAY_SIZE(bad8); i++)
                if (utf8_to_wide(bad8[i], 1u << 20, &w) != -EINVAL)
                        fail_msg("bad UTF-8 %zu accepted", i);
        for (size_t i = 0; i < ARRAY_SIZE(bad16); i++)
                if (wide_to_utf8(bad16[i], 1u << 20, &u) != -EINVAL)
                        fail_msg("bad UTF-16 %zu accepted", i);
        assert_int_equal(utf8_to_wide(NULL, 1u << 20, &w), -EINVAL);
        assert_int_equal(wide_to_utf8(NULL, 1u << 20, &u), -EINVAL);
}

static void test_guid_round_trip(void **state)
{
        static const char *const bad[] = {
                "",
                "c9a1a8d0-1234-4abc-8def-0123456789a",
                "c9a1a8d0-1234-4abc-8def-0123456789abc",
                "{c9a1a8d0-1234-4abc-8def-0123456789ab}",
                "c9a1a8d0x1234-4abc-8def-0123456789ab",
                "c9a1a8d0-1234-4abc-8def-0123456789ag",
                "c9a1a8d-01234-4abc-8def-0123456789ab",
        };
        char text[HCN_GUID_LEN + 1], *ole8 = NULL;
        wchar_t ole[64];
        GUID g, upper;

        assert_int_equal(hcn_win_guid_parse(NS_ID, &g), 0);
        assert_true(g.Data1 == 0xc9a1a8d0UL);
        assert_int_equal(g.Data2, 0x1234);
        assert_int_equal(g.Data3, 0x4abc);
        assert_int_equal(g.Data4[0], 0x8d);
        assert_int_equal(g.Data4[1], 0xef);
        assert_int_equal(g.Data4[7], 0xab);
        hcn_win_guid_format(&g, text);
        assert_string_equal(text, NS_ID);

        /* Windows' own formatter agrees (upper case, in braces). */
        assert_int_equal(StringFromGUID2(&g, ole, ARRAY_SIZE(ole)), 39);
        assert_int_equal(wide_to_utf8(ole, 1u << 20, &ole8), 0);
        assert_string_equal(ole8, "{C9A1A8D0-1234-4ABC-8DEF-0123456789AB}");
        free(ole8);

        assert_int_equal(hcn_win_guid_parse("C9A1A8D0-1234-4ABC-8DEF-0123456789AB", &upper), 0);
        assert_true(IsEqualGUID(&g, &upper));
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (hcn_win_guid_parse(bad[i], &g) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(hcn_win_guid_parse(NULL, &g), -EINVAL);
}

static void test_hresult_mapping(void **state)
{
        static const struct {
                unsigned long hr;
                int r;
        } cases[] = {
                {0x00000000, 0},       {0x00000001, 0},           {0x803B0001, -ENOENT},
                {0x803B0002, -ENOENT}, {0x80070490, -ENOENT},     {0x803B0034, -ENOENT},
                {0x803B0010, -EEXIST}, {0x803B0014, -EEXIST},     {0x800700B7, -EEXIST},
                {0x80070057, -EINVAL}, {0x803B001B, -EINVAL},     {0x80070005, -EPERM},
                {0x8007000E, -ENOMEM}, {0x80004001, -EOPNOTSUPP}, {0x800705B4, -ETIMEDOUT},
                {0x80004005, -EIO},    {0x803B00FF, -EIO},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                if (hcn_win_errno((HRESULT) cases[i].hr) != cases[i].r)
                        fail_msg("0x%08lx: %d, want %d", cases[i].hr,
                                 hcn_win_errno((HRESULT) cases[i].hr), cases[i].r);
}

static void test_namespace_calls(void **state)
{
        static const char *const want[] = {
                "create " NS_ID " {\"Type\":\"Host\"}",
                "close ns",
                "open " NS_ID,
                "modify ns {\"EndpointId\":\"" EP_ID "\",\"Name\":\"\xc3\xa9\"}",
                "close ns",
                "delete " NS_ID,
                NULL,
        };
        char *rec = NULL;

        assert_int_equal(api->namespace_create(NS_ID, "{\"Type\":\"Host\"}", &rec), 0);
        assert_int_equal(
                api->namespace_modify(NS_ID, "{\"EndpointId\":\"" EP_ID "\",\"Name\":\"\xc3\xa9\"}",
                                      &rec),
                0);
        assert_int_equal(api->namespace_delete(NS_ID, &rec), 0);
        assert_null(rec);
        assert_log(want);
}

/* A failed call: -errno, HCN's record in UTF-8, the record freed, the
 * handle of a failed create not closed. */
static void test_failed_create(void **state)
{
        static const char *const want[] = {"create " NS_ID " {}", NULL};
        char *rec = NULL;

        raw.fail_op = "create";
        raw.fail_hr = (HRESULT) 0x803B0010;
        raw.fail_record = L"{\"Error\":\"d\x00e9j\x00e0 l\x00e0\",\"ErrorCode\":2151350288}";
        assert_int_equal(api->namespace_create(NS_ID, "{}", &rec), -EEXIST);
        assert_string_equal(
                rec, "{\"Error\":\"d\xc3\xa9j\xc3\xa0 l\xc3\xa0\",\"ErrorCode\":2151350288}");
        assert_int_equal(raw.frees, 1);
        assert_log(want);
        free(rec);
}

/* No record from HCN: one is made up with the HRESULT. */
static void test_failure_without_record(void **state)
{
        char *rec = NULL;

        raw.fail_op = "delete";
        raw.fail_hr = (HRESULT) 0x80070490;
        assert_int_equal(api->namespace_delete(NS_ID, &rec), -ENOENT);
        assert_string_equal(rec, "{\"ErrorCode\":2147943568,\"Success\":false}");
        free(rec);
}

static void test_modify_failures(void **state)
{
        static const char *const open_failed[] = {"open " NS_ID, NULL};
        static const char *const modify_failed[] = {"open " NS_ID, "modify ns {}", "close ns",
                                                    NULL};
        char *rec = NULL;

        raw.fail_op = "open";
        raw.fail_hr = (HRESULT) 0x80070490;
        raw.fail_record = L"{\"Error\":\"not found\"}";
        assert_int_equal(api->namespace_modify(NS_ID, "{}", &rec), -ENOENT);
        assert_string_equal(rec, "{\"Error\":\"not found\"}");
        assert_log(open_failed);
        free(rec);
        rec = NULL;

        raw.n_log = 0;
        raw.fail_op = "modify";
        raw.fail_hr = (HRESULT) 0x80070005;
        assert_int_equal(api->namespace_modify(NS_ID, "{}", &rec), -EPERM);
        assert_non_null(rec);
        assert_log(modify_failed);
        free(rec);
}

static void test_endpoint_query(void **state)
{
        static const char *const want[] = {"open-ep " EP_ID, "query ep {\"Flags\":0}", "close ep",
                                           NULL};
        char *json = NULL, *rec = NULL;

        raw.props = L"{\"MacAddress\":\"00-15-5D-8A-01-05\",\"Name\":\"\x00e9\"}";
        assert_int_equal(api->endpoint_query(EP_ID, "{\"Flags\":0}", &json, &rec), 0);
        assert_string_equal(json, "{\"MacAddress\":\"00-15-5D-8A-01-05\",\"Name\":\"\xc3\xa9\"}");
        assert_int_equal(raw.frees, 1);
        assert_log(want);
        free(json);

        /* A failed query still closes the endpoint; no properties to free. */
        raw.n_log = 0;
        raw.fail_op = "query";
        raw.fail_hr = (HRESULT) 0x80004005;
        raw.fail_record = L"{\"Error\":\"boom\"}";
        json = NULL;
        assert_int_equal(api->endpoint_query(EP_ID, "{\"Flags\":0}", &json, &rec), -EIO);
        assert_null(json);
        assert_string_equal(rec, "{\"Error\":\"boom\"}");
        assert_log(want);
        free(rec);
}

static void test_bad_input_makes_no_call(void **state)
{
        char *rec = NULL, *json = NULL;

        assert_int_equal(api->namespace_create("pod-1", "{}", &rec), -EINVAL);
        assert_int_equal(api->namespace_create(NS_ID, "\xff", &rec), -EINVAL);
        assert_int_equal(api->namespace_modify("{" NS_ID "}", "{}", &rec), -EINVAL);
        assert_int_equal(api->namespace_delete("", &rec), -EINVAL);
        assert_int_equal(api->endpoint_query(EP_ID "0", "{}", &json, &rec), -EINVAL);
        assert_int_equal(raw.n_log, 0);
        assert_null(rec);
}

/* hcn.c over the binding: the raw calls of a pod with one endpoint. */
static void test_pod_through_binding(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        static const char *const ids[] = {EP_ID};
        struct hcn_endpoint ep;
        char ns[HCN_GUID_LEN + 1];

        assert_int_equal(hcn_new_guid(ns, NULL), 0);
        raw.props = L"{\"ID\":\"0B9A3C1E-5F2D-4E8A-9C7B-1D2E3F4A5B6C\",\"MacAddress\":"
                    L"\"00-15-5D-8A-01-05\",\"IpConfigurations\":[{\"IpAddress\":\"10.1.2.3\","
                    L"\"PrefixLength\":24}],\"Routes\":[{\"NextHop\":\"10.1.2.1\","
                    L"\"DestinationPrefix\":\"0.0.0.0/0\"}]}";
        assert_int_equal(hcn_pod_create(api, ns, ids, 1, &ep, &err), 0);
        assert_int_equal(raw.n_log, 8);
        assert_int_equal(strncmp(raw.log[0], "create ", 7), 0);
        assert_int_equal(strncmp(raw.log[0] + 7, ns, HCN_GUID_LEN), 0);
        assert_string_equal(raw.log[1], "close ns");
        assert_string_equal(raw.log[2], "open-ep " EP_ID);
        assert_string_equal(raw.log[4], "close ep");
        assert_non_null(strstr(raw.log[6], "\"RequestType\":\"Add\""));
        assert_string_equal(ep.gateway, "10.1.2.1");

        /* A failed add: HCN's error reaches the message; all rolled back. */
        memset(&raw, 0, sizeof(raw));
        raw.props = L"{\"MacAddress\":\"00-15-5D-8A-01-05\",\"IpConfigurations\":[{\"IpAddress\":"
                    L"\"10.1.2.3\",\"PrefixLength\":24}]}";
        raw.fail_op = "modify";
        raw.fail_hr = (HRESULT) 0x803B0014;
        assert_int_equal(hcn_pod_create(api, ns, ids, 1, &ep, &err), -EEXIST);
        assert_non_null(strstr(err->msg, "HRESULT 0x803b0014"));
        assert_string_equal(raw.log[raw.n_log - 2], "close ns");
        assert_int_equal(strncmp(raw.log[raw.n_log - 1], "delete ", 7), 0);
}

static void test_bind_refuses_incomplete(void **state)
{
        struct hcn_raw_api partial = fake_raw;

        partial.free_memory = NULL;
        assert_null(hcn_win_bind(&partial));
        assert_null(hcn_win_bind(NULL));
}

/* Wine has no computenetwork.dll: NULL, and a reason that says so. */
static void test_computenetwork_missing_on_wine(void **state)
{
        HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
        char reason[256] = "";

        if (!ntdll || !GetProcAddress(ntdll, "wine_get_version"))
                skip();
        assert_null(hcn_api_computenetwork(reason, sizeof(reason)));
        assert_non_null(strstr(reason, "computenetwork.dll cannot be loaded"));
        assert_non_null(strstr(reason, "no Host Compute Network service"));
        /* Asked again: the same answer, without loading again. */
        reason[0] = '\0';
        assert_null(hcn_api_computenetwork(reason, sizeof(reason)));
        assert_non_null(strstr(reason, "computenetwork.dll"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8_utf16),
                cmocka_unit_test(test_guid_round_trip),
                cmocka_unit_test(test_hresult_mapping),
                cmocka_unit_test_setup_teardown(test_namespace_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_without_record, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modify_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_endpoint_query, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input_makes_no_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_through_binding, setup, teardown),
                cmocka_unit_test(test_bind_refuses_incomplete),
                cmocka_unit_test(test_computenetwork_missing_on_wine),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
