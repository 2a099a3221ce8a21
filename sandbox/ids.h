#pragma once

/* Pod and container ids: 64 random hex digits, found by unique prefix. */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define SBX_ID_LEN 64

/* Fill ret (SBX_ID_LEN + 1 bytes) with a new random id. */
int sbx_id_new(char ret[SBX_ID_LEN + 1]);
bool sbx_id_valid(const char *id);

/* Index of the one id in ids[0..n) that starts with prefix: -ENOENT when
 * none, -EINVAL (message names the prefix) when several match or the prefix
 * is empty or not hex. */
int sbx_id_match(const char *const *ids, size_t n, const char *prefix, const char *what,
                 struct uvm_error **err);
