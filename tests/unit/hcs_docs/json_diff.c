#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/hcs_docs/json_diff.h"

static int differ(char *where, size_t size, const char *path, const char *why)
{
        snprintf(where, size, "%s: %s", path, why);
        return 1;
}

static int diff_at(json_object *want, json_object *got, const char *path, char *where, size_t size);

static int diff_objects(json_object *want, json_object *got, const char *path, char *where,
                        size_t size)
{
        char sub[1024], why[512];

        json_object_object_foreach (want, key, wv) {
                json_object *gv;

                if (!json_object_object_get_ex(got, key, &gv)) {
                        snprintf(why, sizeof(why), "key \"%s\" missing", key);
                        return differ(where, size, path, why);
                }
                snprintf(sub, sizeof(sub), "%s.%s", path, key);
                if (diff_at(wv, gv, sub, where, size))
                        return 1;
        }
        json_object_object_foreach (got, gkey, gval) {
                (void) gval;
                if (!json_object_object_get_ex(want, gkey, NULL)) {
                        snprintf(why, sizeof(why), "unexpected key \"%s\"", gkey);
                        return differ(where, size, path, why);
                }
        }
        return 0;
}

static int diff_arrays(json_object *want, json_object *got, const char *path, char *where,
                       size_t size)
{
        size_t n = json_object_array_length(want), m = json_object_array_length(got);
        char sub[1024], why[128];

        if (n != m) {
                snprintf(why, sizeof(why), "%zu elements, want %zu", m, n);
                return differ(where, size, path, why);
        }
        for (size_t i = 0; i < n; i++) {
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                if (diff_at(json_object_array_get_idx(want, i), json_object_array_get_idx(got, i),
                            sub, where, size))
                        return 1;
        }
        return 0;
}

static int diff_scalars(json_object *want, json_object *got, const char *path, char *where,
                        size_t size)
{
        char why[1024];
        bool same;

        switch (json_object_get_type(want)) {
        case json_type_null:
                return 0;
        case json_type_boolean:
                same = json_object_get_boolean(want) == json_object_get_boolean(got);
                break;
        case json_type_int:
                same = json_object_get_int64(want) == json_object_get_int64(got);
                break;
        case json_type_double:
                same = json_object_get_double(want) == json_object_get_double(got);
                break;
        default:
                same = strcmp(json_object_get_string(want), json_object_get_string(got)) == 0;
                break;
        }
        if (same)
                return 0;
        snprintf(why, sizeof(why), "%.480s, want %.480s", json_object_to_json_string(got),
                 json_object_to_json_string(want));
        return differ(where, size, path, why);
}

static int diff_at(json_object *want, json_object *got, const char *path, char *where, size_t size)
{
        json_type wt = json_object_get_type(want), gt = json_object_get_type(got);
        char why[128];

        if (wt != gt) {
                snprintf(why, sizeof(why), "a %s, want a %s", json_type_to_name(gt),
                         json_type_to_name(wt));
                return differ(where, size, path, why);
        }
        if (wt == json_type_object)
                return diff_objects(want, got, path, where, size);
        if (wt == json_type_array)
                return diff_arrays(want, got, path, where, size);
        return diff_scalars(want, got, path, where, size);
}

int json_diff(json_object *want, json_object *got, char *where, size_t size)
{
        if (size)
                where[0] = '\0';
        return diff_at(want, got, "$", where, size);
}

json_object *json_parse_exact(const char *text, size_t len)
{
        json_tokener *tok = json_tokener_new();
        json_object *o;

        if (!tok)
                return NULL;
        /* Golden files end with a newline: trailing whitespace is fine. */
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
                len--;
        o = json_tokener_parse_ex(tok, text, (int) len);
        if (json_tokener_get_error(tok) != json_tokener_success ||
            (size_t) tok->char_offset != len) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}
