#pragma once

/* json-c's reference release as a cleanup attribute: a json_object that
 * goes out of scope is put (NULL is fine). */

#include <json-c/json.h>

#include "common/macros.h"

static inline void json_object_putp(json_object **o)
{
        json_object_put(*o);
}

#define _cleanup_json_ _cleanup_(json_object_putp)
