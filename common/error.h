#pragma once

/*
 * Error records for module entry points (crun's libcrun_error_t): a function
 * that fails records an errno code and a message, and returns -code. Callers
 * add context on the way up; only the gRPC layer turns the record into a
 * status.
 */

#include "common/macros.h"

struct uvm_error {
        int code;  /* positive errno value */
        char *msg; /* what went wrong, for the user */
};

/* Record code/message in *err (unless one is already recorded: the first
 * error wins) and return -code. err may be NULL. */
int uvm_error_set(struct uvm_error **err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prefix the recorded message with "<context>: " and return -code. */
int uvm_error_wrap(struct uvm_error **err, const char *fmt, ...) _printf_(2, 3);

/* The recorded code as a negative errno, or -EIO if nothing was recorded. */
int uvm_error_code(const struct uvm_error *err);

struct uvm_error *uvm_error_free(struct uvm_error *err);

static inline void uvm_error_freep(struct uvm_error **err)
{
        uvm_error_free(*err);
}

#define _cleanup_error_ _cleanup_(uvm_error_freep)
