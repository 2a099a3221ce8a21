#pragma once

/*
 * The Host Compute Service calls the hcs driver makes, as a table: on
 * Windows hcs_win.c binds it to computecore.dll; unit tests bind a fake.
 * Strings are UTF-8 here; only the binding converts to UTF-16 (the API
 * edge). Each call that HCS runs as an operation (HcsCreateOperation +
 * HcsWaitForOperationResult) waits up to timeout_ms and returns -ETIMEDOUT
 * past it. On failure *ret_result, when not NULL, receives HCS's result
 * document (JSON, malloc'd) for the error message.
 */

#include <stddef.h>
#include <stdint.h>

struct hcs_system; /* an open compute system handle, owned by the binding */

/* An exit or crash of a compute system, from HcsSetComputeSystemCallback.
 * kind: "SystemExited", "SystemCrashReport", ... (the HCS event name);
 * detail: the event's JSON document, may be NULL. Called from an HCS
 * thread. */
typedef void (*hcs_event_fn)(void *data, const char *kind, const char *detail);

struct hcs_api {
        const char *name; /* "computecore", "fake" */
        /* HcsCreateComputeSystem: create (not start) system id from doc. */
        int (*create)(const char *id, const char *doc_json, uint32_t timeout_ms,
                      struct hcs_system **ret_sys, char **ret_result);
        /* HcsOpenComputeSystem: an existing one (after a uvmd restart);
         * -ENOENT when there is none with that id. */
        int (*open)(const char *id, struct hcs_system **ret_sys, char **ret_result);
        int (*start)(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result);
        /* HcsShutDownComputeSystem: ask the guest to stop. shutdown and
         * terminate return -ESRCH when the system had already stopped. */
        int (*shutdown)(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result);
        /* HcsTerminateComputeSystem: stop it now. */
        int (*terminate)(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result);
        /* HcsModifyComputeSystem: a ModifySettingRequest document (hot add
         * or remove of a NIC, a SCSI attachment, a share). */
        int (*modify)(struct hcs_system *sys, const char *request_json, uint32_t timeout_ms,
                      char **ret_result);
        /* HcsGetComputeSystemProperties with a property query document
         * (NULL: the basic ones); *ret_json is malloc'd. */
        int (*properties)(struct hcs_system *sys, const char *query_json, uint32_t timeout_ms,
                          char **ret_json, char **ret_result);
        /* HcsSetComputeSystemCallback: fn(data, ...) on the system's events
         * until close. */
        int (*set_callback)(struct hcs_system *sys, hcs_event_fn fn, void *data);
        /* HcsGrantVmAccess: let the VM of compute system id open the file
         * at path (a layer VHD) before it is attached: Hyper-V's worker
         * process runs as the VM's own account. Not an operation: HCS
         * answers at once. */
        int (*grant_vm_access)(const char *id, const char *path, char **ret_result);
        /* HcsRevokeVmAccess: take that entry out of the file's ACL again
         * once the VM no longer uses the file. Not an operation either. */
        int (*revoke_vm_access)(const char *id, const char *path, char **ret_result);
        /* HcsCloseComputeSystem: release the handle (the system itself
         * lives on unless ShouldTerminateOnLastHandleClosed). NULL is a no-op. */
        void (*close)(struct hcs_system *sys);
};

/* computecore.dll, loaded on first use (hcs_win.c, Windows only); NULL with
 * a reason when this host has no HCS. */
const struct hcs_api *hcs_api_computecore(char *reason, size_t reason_size);
