#include <string.h>

#include "common/macros.h"
#include "common/platform.h"
#include "sandbox/ids.h"

static bool is_hex(const char *s, size_t max)
{
        size_t n = 0;

        for (; s[n]; n++)
                if (n >= max || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n > 0;
}

int sbx_id_new(char ret[SBX_ID_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char raw[SBX_ID_LEN / 2];
        int r = plat_random(raw, sizeof(raw));

        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(raw); i++) {
                ret[2 * i] = hex[raw[i] >> 4];
                ret[2 * i + 1] = hex[raw[i] & 15];
        }
        ret[SBX_ID_LEN] = '\0';
        return 0;
}

bool sbx_id_valid(const char *id)
{
        return id && strlen(id) == SBX_ID_LEN && is_hex(id, SBX_ID_LEN);
}

int sbx_id_match(const char *const *ids, size_t n, const char *prefix, const char *what,
                 struct uvm_error **err)
{
        size_t len;
        int found = -1;

        if (STR_EMPTY(prefix))
                return uvm_error_set(err, EINVAL, "%s id is required", what);
        /* Not an id uvmd could have made: nothing has it (and the CRI's
         * idempotent stop/remove calls then succeed). */
        if (!is_hex(prefix, SBX_ID_LEN))
                return uvm_error_set(err, ENOENT, "%s '%.80s' not found", what, prefix);
        len = strlen(prefix);
        for (size_t i = 0; i < n; i++) {
                if (strncmp(ids[i], prefix, len) != 0)
                        continue;
                if (found >= 0)
                        return uvm_error_set(err, EINVAL, "%s id prefix '%s' is ambiguous", what,
                                             prefix);
                found = (int) i;
        }
        if (found < 0)
                return uvm_error_set(err, ENOENT, "%s '%s' not found", what, prefix);
        return found;
}
