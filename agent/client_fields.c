/* Checks of the agent's response fields (client-internal.h). */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/client-internal.h"
#include "agent/frame.h"
#include "common/macros.h"

/* Response field checks. what names the message, for errors. */

int cfield_get(json_object *o, const char *what, const char *name, json_type type, bool required,
               json_object **ret, struct uvm_error **err)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, name, &v) || !v) {
                *ret = NULL;
                if (required)
                        return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is missing",
                                             what, name);
                return 0;
        }
        if (!json_object_is_type(v, type))
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is not %s %s", what,
                                     name, strchr("aeiou", json_type_to_name(type)[0]) ? "an" : "a",
                                     json_type_to_name(type));
        *ret = v;
        return 0;
}

/* An integer in [min, max]; def when absent and not required. */
int cfield_int(json_object *o, const char *what, const char *name, int64_t min, int64_t max,
               bool required, int64_t def, int64_t *ret, struct uvm_error **err)
{
        json_object *v;
        int64_t n;
        int r;

        r = cfield_get(o, what, name, json_type_int, required, &v, err);
        if (r < 0)
                return r;
        if (!v) {
                *ret = def;
                return 0;
        }
        errno = 0;
        n = json_object_get_int64(v);
        if (errno != 0 || n < min || n > max)
                return uvm_error_set(err, EBADMSG,
                                     "agent %s: field \"%s\" = %s is out of range [%" PRId64
                                     ", %" PRId64 "]",
                                     what, name, json_object_to_json_string(v), min, max);
        *ret = n;
        return 0;
}

/* A non-negative integer up to UINT64_MAX (counters). */
int cfield_u64_req(json_object *o, const char *what, const char *name, bool required, uint64_t *ret,
                   struct uvm_error **err)
{
        json_object *v;
        int r;

        r = cfield_get(o, what, name, json_type_int, required, &v, err);
        if (r < 0 || !v)
                return r;
        if (json_object_get_int64(v) < 0)
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is negative", what,
                                     name);
        *ret = json_object_get_uint64(v);
        return 0;
}

int cfield_u64(json_object *o, const char *what, const char *name, uint64_t *ret,
               struct uvm_error **err)
{
        return cfield_u64_req(o, what, name, true, ret, err);
}

/* Absent: *ret untouched. */
int cfield_u64_opt(json_object *o, const char *what, const char *name, uint64_t *ret,
                   struct uvm_error **err)
{
        return cfield_u64_req(o, what, name, false, ret, err);
}

int cfield_bool(json_object *o, const char *what, const char *name, bool *ret,
                struct uvm_error **err)
{
        json_object *v;
        int r;

        r = cfield_get(o, what, name, json_type_boolean, false, &v, err);
        if (r < 0)
                return r;
        *ret = v ? json_object_get_boolean(v) : false;
        return 0;
}

int cfield_str(json_object *o, const char *what, const char *name, size_t max_len, const char **ret,
               struct uvm_error **err)
{
        json_object *v;
        int r;

        r = cfield_get(o, what, name, json_type_string, true, &v, err);
        if (r < 0)
                return r;
        if ((size_t) json_object_get_string_len(v) > max_len ||
            strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return uvm_error_set(err, EBADMSG,
                                     "agent %s: field \"%s\" is longer than %zu bytes or holds NUL",
                                     what, name, max_len);
        *ret = json_object_get_string(v);
        return 0;
}

/* Base64 (RFC 4648, padded). At most max decoded bytes. */

static int b64_value(unsigned char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

static int b64_decode(const char *in, size_t in_len, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *out = NULL;
        size_t pad = 0, n = 0;

        if (in_len % 4 != 0)
                return -EBADMSG;
        if (in_len == 0) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if (in[in_len - 1] == '=')
                pad = in[in_len - 2] == '=' ? 2 : 1;
        if (in_len / 4 * 3 - pad > max)
                return -EFBIG;
        out = malloc(in_len / 4 * 3);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < in_len; i += 4) {
                int v[4];
                bool last = i + 4 == in_len;

                for (int k = 0; k < 4; k++) {
                        bool is_pad = last && (size_t) k >= 4 - pad;

                        v[k] = is_pad ? 0 : b64_value((unsigned char) in[i + k]);
                        if (v[k] < 0)
                                return -EBADMSG;
                }
                out[n++] = (char) (v[0] << 2 | v[1] >> 4);
                if (!last || pad < 2)
                        out[n++] = (char) ((v[1] & 0xf) << 4 | v[2] >> 2);
                if (!last || pad < 1)
                        out[n++] = (char) ((v[2] & 0x3) << 6 | v[3]);
        }
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

int cfield_b64(json_object *o, const char *what, const char *name, size_t max, char **ret,
               size_t *ret_len, struct uvm_error **err)
{
        json_object *v;
        int r;

        r = cfield_get(o, what, name, json_type_string, false, &v, err);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        r = b64_decode(json_object_get_string(v), (size_t) json_object_get_string_len(v), max, ret,
                       ret_len);
        if (r == -EBADMSG)
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is not valid base64",
                                     what, name);
        if (r == -EFBIG)
                return uvm_error_set(
                        err, EBADMSG,
                        "agent %s: field \"%s\" holds more than the %zu bytes asked for", what,
                        name, max);
        if (r < 0)
                return uvm_error_set(err, -r, "out of memory");
        return 0;
}

/* Output routing. */
