#pragma once

/* Shared by the Windows service wrapper's files. */

#include <windows.h>

#include "common/error.h"

/* Records a failed Win32 call: the errno that matches code (ERROR_*), and
 * "<context>: <the system's text> (error N)". Returns -errno. */
int winsvc_win_error(struct uvm_error **err, DWORD code, const char *fmt, ...) _printf_(3, 4);

/* The Win32 error code as an errno value (EIO when none fits). */
int winsvc_errno(DWORD code);

/* Registers (or removes) name as an Application event log source whose
 * messages are the record text itself. */
int winsvc_event_source_install(const char *name, struct uvm_error **err);
int winsvc_event_source_remove(const char *name, struct uvm_error **err);

static inline void wfreep(wchar_t **p)
{
        free(*p);
}

static inline void sc_handle_closep(SC_HANDLE *h)
{
        if (*h)
                CloseServiceHandle(*h);
}

#define _cleanup_wfree_ _cleanup_(wfreep)
#define _cleanup_sc_ _cleanup_(sc_handle_closep)
