/* stream/stls.h without TLS (Windows: no OpenSSL in that build). */

#include <errno.h>

#include "stream/stls.h"

int stls_ctx_new(const char *cert, const char *key, struct stls_ctx **ret, struct uvm_error **err)
{
        *ret = NULL;
        if (!cert && !key)
                return 0;
        return uvm_error_set(err, ENOTSUP,
                             "stream TLS is not in this build: leave "
                             "stream_tls_cert and stream_tls_key unset");
}

struct stls_ctx *stls_ctx_free(struct stls_ctx *ctx)
{
        return NULL;
}

int stls_wrap(struct stls_ctx *ctx, struct sconn_io *io)
{
        return -ENOTSUP;
}

int stls_handshake(struct sconn_io *io)
{
        return 0;
}

void stls_end(struct sconn_io *io)
{
}
