#pragma once

/* Compare two JSON documents field by field for the golden tests. */

#include <stddef.h>

#include <json-c/json.h>

/* 0 when want and got are the same JSON value, whatever the order of
 * object keys; else 1 with the JSON path of the first difference and why
 * ("$.VirtualMachine.Devices.Scsi: key \"x\" missing") in where. */
int json_diff(json_object *want, json_object *got, char *where, size_t size);

/* Parse text (len bytes, not NUL-terminated) into one JSON value; NULL if
 * it is not exactly one. */
json_object *json_parse_exact(const char *text, size_t len);
