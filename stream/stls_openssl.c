/* stream/stls.h over OpenSSL. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "stream/stls.h"

struct stls_conn {
        SSL *ssl;
        bool want_write;
};

int stls_ctx_new(const char *cert, const char *key, struct stls_ctx **ret, struct uvm_error **err)
{
        SSL_CTX *tls;

        *ret = NULL;
        if (!cert && !key)
                return 0;
        if (!cert || !key)
                return uvm_error_set(err, EINVAL,
                                     "stream TLS needs both a certificate and a key file");
        tls = SSL_CTX_new(TLS_server_method());
        if (!tls)
                return uvm_error_set(err, ENOMEM, "TLS: no context");
        SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
        if (SSL_CTX_use_certificate_chain_file(tls, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(tls, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(tls) != 1) {
                char msg[256];

                ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
                ERR_clear_error();
                SSL_CTX_free(tls);
                return uvm_error_set(err, EINVAL, "stream TLS certificate %s / key %s: %s", cert,
                                     key, msg);
        }
        *ret = (struct stls_ctx *) tls;
        return 0;
}

struct stls_ctx *stls_ctx_free(struct stls_ctx *ctx)
{
        SSL_CTX_free((SSL_CTX *) ctx);
        return NULL;
}

static ssize_t tls_result(struct stls_conn *k, int n)
{
        switch (SSL_get_error(k->ssl, n)) {
        case SSL_ERROR_WANT_READ:
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                k->want_write = true;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        default:
                ERR_clear_error();
                return -ECONNRESET;
        }
}

static ssize_t tls_read(struct sconn_io *io, void *buf, size_t len)
{
        struct stls_conn *k = io->tls;
        int n;

        k->want_write = false;
        n = SSL_read(k->ssl, buf, (int) (len > INT32_MAX ? INT32_MAX : len));
        return n > 0 ? n : tls_result(k, n);
}

static ssize_t tls_write(struct sconn_io *io, const void *buf, size_t len)
{
        struct stls_conn *k = io->tls;
        int n;

        k->want_write = false;
        n = SSL_write(k->ssl, buf, (int) (len > INT32_MAX ? INT32_MAX : len));
        return n > 0 ? n : tls_result(k, n);
}

static size_t tls_pending(struct sconn_io *io)
{
        return (size_t) SSL_pending(((struct stls_conn *) io->tls)->ssl);
}

static bool tls_wants_write(struct sconn_io *io)
{
        return ((struct stls_conn *) io->tls)->want_write;
}

int stls_wrap(struct stls_ctx *ctx, struct sconn_io *io)
{
        struct stls_conn *k = calloc(1, sizeof(*k));

        if (!k)
                return -ENOMEM;
        k->ssl = SSL_new((SSL_CTX *) ctx);
        if (!k->ssl || SSL_set_fd(k->ssl, io->fd) != 1) {
                SSL_free(k->ssl);
                free(k);
                return -ENOMEM;
        }
        SSL_set_mode(k->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        io->tls = k;
        io->read = tls_read;
        io->write = tls_write;
        io->write2 = NULL;
        io->pending = tls_pending;
        io->wants_write = tls_wants_write;
        return 0;
}

int stls_handshake(struct sconn_io *io)
{
        struct stls_conn *k = io->tls;

        if (!k || SSL_accept(k->ssl) == 1)
                return 0;
        ERR_clear_error();
        return -EPROTO;
}

void stls_end(struct sconn_io *io)
{
        struct stls_conn *k = io->tls;

        if (!k)
                return;
        (void) SSL_shutdown(k->ssl);
        SSL_free(k->ssl);
        free(k);
        io->tls = NULL;
}
