/* libFuzzer harness for the registry client's decoders of untrusted input:
 * WWW-Authenticate challenges and token server answers. Each must refuse
 * bad input cleanly (an error with a message), never crash or leak. Run with
 * tests/unit/image_registry/fuzz.sh. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry-internal.h"

static void fuzz_challenge(const char *s)
{
        struct reg_challenge ch = {0};
        int r = reg_challenge_parse(s, &ch);

        if (r < 0 && r != -EPROTO && r != -ENOMEM)
                abort();
        if (r == 0 && ch.realm && strlen(ch.realm) > strlen(s))
                abort();
        reg_challenge_clear(&ch);
}

static void fuzz_token(const char *s, size_t len)
{
        struct uvm_error *err = NULL;
        char *authz = NULL;
        long ttl = 0;
        int r = reg_token_parse(s, len, "fuzz.example", &authz, &ttl, &err);

        if ((r < 0) != (err != NULL) || (err && !err->msg))
                abort();
        if (r == 0 && (strncmp(authz, "Bearer ", 7) != 0 || !reg_printable_token(authz + 7, 8192) ||
                       ttl <= 0 || ttl > 24 * 3600))
                abort();
        free(authz);
        uvm_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0'; /* headers reach the parser as C strings */
        fuzz_challenge(s);
        fuzz_token(s, size);
        free(s);
        return 0;
}
