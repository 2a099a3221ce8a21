#pragma once

/* Checks for request fields; each returns 0 or -EINVAL with a message. */

#include <stddef.h>

#include "common/error.h"

/* A non-empty string of at most max bytes without control characters. */
int validate_string(const char *field, const char *s, size_t max, struct uvm_error **err);

/* One CIDR or a comma-separated dual-stack pair ("10.88.0.0/16,fd00::/64"). */
int validate_cidrs(const char *field, const char *s, struct uvm_error **err);

/* A relative path that stays inside its root: no "..", no leading "/". */
int validate_relative_path(const char *field, const char *s, struct uvm_error **err);

/* An absolute path with no ".." component. */
int validate_absolute_path(const char *field, const char *s, struct uvm_error **err);

/* A hostname the kernel takes (at most 64 bytes) and resolv/hosts files can
 * hold: letters, digits, '-' and '.', not starting with '-' or '.'. */
int validate_hostname(const char *field, const char *s, struct uvm_error **err);

/* A sysctl name ("net.ipv4.ip_forward", "/" accepted for ".") and value. */
int validate_sysctl(const char *name, const char *value, struct uvm_error **err);
