/* libFuzzer harness for hcn_endpoint_parse, the decoder of what
 * HcnQueryEndpointProperties returns: any input ends in success with a
 * well-formed struct hcn_endpoint, or -EIO with a message; never a crash,
 * a hang or a leak. Run with tests/unit/hcn/fuzz.sh. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "network/hcn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct uvm_error *err = NULL;
        struct hcn_endpoint ep;
        char *doc = malloc(size + 1);
        int r;

        if (!doc)
                return 0;
        memcpy(doc, data, size);
        doc[size] = '\0';
        r = hcn_endpoint_parse(doc, &ep, &err);
        if (r == 0) {
                /* Every field is terminated and the address is there. */
                if (err || strnlen(ep.mac, sizeof(ep.mac)) != 17 || !ep.ip[0] ||
                    strnlen(ep.ip, sizeof(ep.ip)) == sizeof(ep.ip) ||
                    strnlen(ep.gateway, sizeof(ep.gateway)) == sizeof(ep.gateway) ||
                    strnlen(ep.id, sizeof(ep.id)) == sizeof(ep.id) || ep.prefix_len > 128)
                        abort();
        } else if (r != -EIO || !err || !err->msg || err->code != EIO) {
                abort();
        }
        uvm_error_free(err);
        free(doc);
        return 0;
}
