#pragma once

/*
 * The string checks behind documents.c (documents_check.c). Each returns
 * 0 or -EINVAL with a message that names the field (what) and quotes the
 * value.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Bounds on what we put in a document: generous for real use, small enough
 * that a bad input is refused rather than sent to HCS. */
#define HCS_ID_MAX 255
#define HCS_PATH_MAX 4096    /* HCS takes long paths; we never make longer ones */
#define HCS_CMDLINE_MAX 2048 /* the x86 kernel's COMMAND_LINE_SIZE */
#define HCS_SDDL_MAX 4096
#define HCS_SHARE_NAME_MAX 64

/* s: non-NULL (and non-empty unless allow_empty), at most max bytes, valid
 * UTF-8 without control characters. */
int hcs_check_text(const char *what, const char *s, size_t max, bool allow_empty,
                   struct uvm_error **err);
/* An absolute host path: "C:\..." (or "C:/...") or a UNC / device path. */
int hcs_check_host_path(const char *what, const char *s, struct uvm_error **err);
/* An absolute POSIX path in the guest. */
int hcs_check_guest_path(const char *what, const char *s, struct uvm_error **err);
int hcs_check_guid(const char *what, const char *s, struct uvm_error **err);
/* Case-insensitive; both must be valid GUIDs. */
bool hcs_guid_equal(const char *a, const char *b);
/* Six hex pairs separated by '-' or ':' throughout, written to out as HCS
 * shows MACs: "00-15-5D-0A-0B-0C". err may be NULL. */
int hcs_mac_normalize(const char *what, const char *s, char out[18], struct uvm_error **err);
/* A Plan9 share name: [A-Za-z0-9._-]{1,64}. */
int hcs_check_share_name(const char *what, const char *s, struct uvm_error **err);
