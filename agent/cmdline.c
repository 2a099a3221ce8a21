/* agent_cmdline_u32 (cmdline.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cmdline.h"

int agent_cmdline_u32(const char *cmdline, const char *key, uint32_t *ret)
{
        size_t klen = strlen(key);
        int found = 0;

        for (const char *w = cmdline; *w;) {
                size_t wlen;

                w += strspn(w, " \t\n");
                wlen = strcspn(w, " \t\n");
                if (wlen > klen && !strncmp(w, key, klen) && w[klen] == '=') {
                        char val[16], *end;
                        size_t vlen = wlen - klen - 1;
                        unsigned long long v;

                        /* Longer than any u32 in either base: refused. */
                        if (vlen == 0 || vlen >= sizeof(val) || w[klen + 1] == '-' ||
                            w[klen + 1] == '+')
                                return -EINVAL;
                        memcpy(val, w + klen + 1, vlen);
                        val[vlen] = '\0';
                        errno = 0;
                        /* Not base 0: a leading zero is not octal here. */
                        if (!strncmp(val, "0x", 2))
                                v = strtoull(val + 2, &end, 16);
                        else
                                v = strtoull(val, &end, 10);
                        if (errno || *end || v == 0 || v > UINT32_MAX)
                                return -EINVAL;
                        *ret = (uint32_t) v;
                        found = 1;
                }
                w += wlen;
        }
        return found;
}
