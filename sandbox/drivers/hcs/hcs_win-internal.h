#pragma once

/*
 * The computecore.dll binding's seam (hcs_win.c, Windows only): the raw
 * functions it calls, with computecore.h's signatures, as a table that
 * hcs_api_computecore() fills from the DLL and unit tests fill with fakes.
 */

#include <stdint.h>
#include <wchar.h>

#include <windows.h>

#include <computecore.h>

#include "sandbox/drivers/hcs/hcs_api.h"

/* The HCS HRESULTs we act on (winerror.h of the Windows SDK; mingw-w64's
 * lacks them). vmcompute.dll reported the same codes with bit 30 set
 * (0xC037010E): hcs_hresult_to_errno takes both. */
#define HCS_E_INVALID_STATE ((HRESULT) 0x80370105L)
#define HCS_E_UNEXPECTED_EXIT ((HRESULT) 0x80370106L)
#define HCS_E_TERMINATED ((HRESULT) 0x80370107L)
#define HCS_E_CONNECTION_TIMEOUT ((HRESULT) 0x80370109L)
#define HCS_E_INVALID_JSON ((HRESULT) 0x8037010DL)
#define HCS_E_SYSTEM_NOT_FOUND ((HRESULT) 0x8037010EL)
#define HCS_E_SYSTEM_ALREADY_EXISTS ((HRESULT) 0x8037010FL)
#define HCS_E_SYSTEM_ALREADY_STOPPED ((HRESULT) 0x80370110L)
#define HCS_E_HYPERV_NOT_INSTALLED ((HRESULT) 0x80370102L)
#define HCS_E_SERVICE_NOT_AVAILABLE ((HRESULT) 0x80370114L)
#define HCS_E_OPERATION_PENDING ((HRESULT) 0x80370117L)
#define HCS_E_OPERATION_TIMEOUT ((HRESULT) 0x80370118L)
#define HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET ((HRESULT) 0x80370119L)
#define HCS_E_ACCESS_DENIED ((HRESULT) 0x8037011BL)
#define HCS_E_SERVICE_DISCONNECT ((HRESULT) 0x8037011EL)
#define HCS_E_OPERATION_ALREADY_CANCELLED ((HRESULT) 0x80370121L)

/* A Win32 error code as an HRESULT, usable in constant expressions
 * (mingw's HRESULT_FROM_WIN32 is an inline function). */
#define HCS_HR_WIN32(x) ((HRESULT) (((x) &0xffffu) | (FACILITY_WIN32 << 16) | 0x80000000u))

/* What we convert at most across the API edge: ids and documents (a
 * hosted container's document carries its whole OCI spec). */
#define HCS_WIN_ID_MAX 1024u
#define HCS_WIN_DOC_MAX (16u << 20)

struct hcs_raw {
        HCS_OPERATION(WINAPI *create_operation)
        (const void *context, HCS_OPERATION_COMPLETION callback);
        void(WINAPI *close_operation)(HCS_OPERATION operation);
        HRESULT(WINAPI *wait_for_operation_result)
        (HCS_OPERATION operation, DWORD timeout_ms, PWSTR *result_document);
        /* May be NULL: a timed-out operation is then only closed. */
        HRESULT(WINAPI *cancel_operation)(HCS_OPERATION operation);
        HRESULT(WINAPI *create_compute_system)
        (PCWSTR id, PCWSTR configuration, HCS_OPERATION operation,
         const SECURITY_DESCRIPTOR *security_descriptor, HCS_SYSTEM *compute_system);
        HRESULT(WINAPI *open_compute_system)
        (PCWSTR id, DWORD requested_access, HCS_SYSTEM *compute_system);
        HRESULT(WINAPI *start_compute_system)
        (HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options);
        HRESULT(WINAPI *shut_down_compute_system)
        (HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options);
        HRESULT(WINAPI *terminate_compute_system)
        (HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options);
        HRESULT(WINAPI *modify_compute_system)
        (HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR configuration, HANDLE identity);
        HRESULT(WINAPI *get_compute_system_properties)
        (HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR property_query);
        HRESULT(WINAPI *set_compute_system_callback)
        (HCS_SYSTEM system, HCS_EVENT_OPTIONS options, const void *context,
         HCS_EVENT_CALLBACK callback);
        void(WINAPI *close_compute_system)(HCS_SYSTEM system);
        HRESULT(WINAPI *grant_vm_access)(PCWSTR vm_id, PCWSTR file_path);
        HRESULT(WINAPI *revoke_vm_access)(PCWSTR vm_id, PCWSTR file_path);
        /* Releases the result documents the calls hand out: LocalFree, as
         * computecore requires. */
        HLOCAL(WINAPI *local_free)(HLOCAL mem);
};

/* The hcs_api table over raw (borrowed: it must outlive every handle made
 * through the table). There is one table per process (struct hcs_api has
 * no context): this rebinds it, which only tests do; an open system keeps
 * the raw table it was made with. NULL when raw lacks a required entry. */
const struct hcs_api *hcs_api_from_raw(const struct hcs_raw *raw);

/* An HRESULT as a negative errno (0 for success); unknown failures -EIO. */
int hcs_hresult_to_errno(HRESULT hr);
/* "HCS_E_SYSTEM_NOT_FOUND", ...; NULL when we have no name for it. */
const char *hcs_hresult_name(HRESULT hr);
