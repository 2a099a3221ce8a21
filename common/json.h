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

/* o[key] when it is a string, else NULL (o may be NULL or no object). */
static inline const char *json_string_of(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}
