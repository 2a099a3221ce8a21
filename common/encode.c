#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/encode.h"

static const char hex[] = "0123456789ABCDEF";

static int unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
}

char *enc_url_escape(const char *s)
{
        size_t n = strlen(s);
        char *out, *o;

        if (n > (SIZE_MAX - 1) / 3)
                return NULL;
        out = malloc(3 * n + 1);
        if (!out)
                return NULL;
        o = out;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (unreserved(*p)) {
                        *o++ = (char) *p;
                        continue;
                }
                *o++ = '%';
                *o++ = hex[*p >> 4];
                *o++ = hex[*p & 15];
        }
        *o = '\0';
        return out;
}

char *enc_base64(const void *data, size_t n)
{
        static const char abc[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *p = data;
        char *out, *o;

        if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
                return NULL;
        out = malloc(4 * ((n + 2) / 3) + 1);
        if (!out)
                return NULL;
        o = out;
        for (; n >= 3; p += 3, n -= 3) {
                uint32_t v = (uint32_t) p[0] << 16 | (uint32_t) p[1] << 8 | p[2];

                *o++ = abc[v >> 18];
                *o++ = abc[(v >> 12) & 63];
                *o++ = abc[(v >> 6) & 63];
                *o++ = abc[v & 63];
        }
        if (n > 0) { /* one or two bytes left: pad to four characters */
                uint32_t v = (uint32_t) p[0] << 16 | (n == 2 ? (uint32_t) p[1] << 8 : 0);

                *o++ = abc[v >> 18];
                *o++ = abc[(v >> 12) & 63];
                *o++ = n == 2 ? abc[(v >> 6) & 63] : '=';
                *o++ = '=';
        }
        *o = '\0';
        return out;
}
