/* The streaming server (stream.h): listener, a thread per connection, the
 * request line and its token, then the protocol session (sconn.h). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/macros.h"
#include "stream/sconn-internal.h"
#include "stream/ws.h"

#define HEAD_TIMEOUT_MS 10000
#define DEFAULT_TTL_MS 60000
#define DEFAULT_MAX_CONNS 128
#define MAX_TOKENS 4096

struct conn;

struct stream_server {
        int fd;
        int stop_pipe[2];
        char address[80]; /* as bound */
        char url_host[80];
        SSL_CTX *tls;
        struct token_table *tokens;
        struct stream_backend backend;
        unsigned max_conns;
        pthread_t acceptor;
        pthread_mutex_t lock; /* guards what follows */
        pthread_cond_t idle;
        struct conn *conns;
        unsigned n_conns, sessions;
        bool stopping;
};

struct conn {
        struct stream_server *s;
        struct sconn_io io;
        SSL *ssl;
        bool want_write;
        struct sconn c;
        struct conn *next;
};

/* --- transports --- */

#define CONN_OF(p) ((struct conn *) ((char *) (p) -offsetof(struct conn, io)))

static ssize_t plain_read(struct sconn_io *io, void *buf, size_t len)
{
        ssize_t n = recv(io->fd, buf, len, 0);

        return n < 0 ? (errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno) : n;
}

static ssize_t plain_write(struct sconn_io *io, const void *buf, size_t len)
{
        ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);

        return n < 0 ? (errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno) : n;
}

static ssize_t plain_write2(struct sconn_io *io, const void *a, size_t alen, const void *b,
                            size_t blen)
{
        struct iovec iov[2] = {{(void *) a, alen}, {(void *) b, blen}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n = sendmsg(io->fd, &m, MSG_NOSIGNAL);

        return n < 0 ? (errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno) : n;
}

static size_t plain_pending(struct sconn_io *io)
{
        return 0;
}

static bool plain_wants_write(struct sconn_io *io)
{
        return false;
}

static ssize_t tls_result(struct conn *k, int n)
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
        struct conn *k = CONN_OF(io);
        int n;

        k->want_write = false;
        n = SSL_read(k->ssl, buf, (int) (len > INT32_MAX ? INT32_MAX : len));
        return n > 0 ? n : tls_result(k, n);
}

static ssize_t tls_write(struct sconn_io *io, const void *buf, size_t len)
{
        struct conn *k = CONN_OF(io);
        int n;

        k->want_write = false;
        n = SSL_write(k->ssl, buf, (int) (len > INT32_MAX ? INT32_MAX : len));
        return n > 0 ? n : tls_result(k, n);
}

static size_t tls_pending(struct sconn_io *io)
{
        return (size_t) SSL_pending(CONN_OF(io)->ssl);
}

static bool tls_wants_write(struct sconn_io *io)
{
        return CONN_OF(io)->want_write;
}

/* --- the request --- */

static void send_all(struct conn *k, const char *buf, size_t len)
{
        for (size_t off = 0; off < len;) {
                ssize_t n = k->io.write(&k->io, buf + off, len - off);

                if (n <= 0)
                        return;
                off += (size_t) n;
        }
}

static void respond_error(struct conn *k, int status, const char *msg)
{
        char buf[1024];
        size_t len = 0;

        if (http_format_error(status, msg, buf, sizeof(buf), &len, NULL) == 0)
                send_all(k, buf, len);
}

/* Read the request head (blocking, within HEAD_TIMEOUT_MS); what follows
 * it stays in k->c.in for the protocol. */
static int read_head(struct conn *k, struct http_parser *hp, struct uvm_error **err)
{
        uint8_t buf[4096];

        for (;;) {
                size_t used = 0;
                ssize_t n = k->io.read(&k->io, buf, sizeof(buf));
                int r;

                if (n <= 0)
                        return uvm_error_set(err, n == 0 ? ECONNRESET : (int) -n,
                                             "the client sent no request");
                r = http_parser_feed(hp, buf, (size_t) n, &used, err);
                if (r < 0)
                        return r;
                if (r == 1) {
                        if ((size_t) n > used) {
                                k->c.in = malloc((size_t) n - used);
                                if (!k->c.in)
                                        return uvm_error_set(err, ENOMEM, "out of memory");
                                memcpy(k->c.in, buf + used, (size_t) n - used);
                                k->c.in_len = k->c.in_cap = (size_t) n - used;
                        }
                        return 0;
                }
        }
}

static const struct {
        const char *prefix;
        enum token_kind kind;
} routes[] = {
        {"/exec/", TOKEN_EXEC},
        {"/attach/", TOKEN_ATTACH},
        {"/portforward/", TOKEN_PORT_FORWARD},
};

/* The token's request, if path names one of the right kind. */
static int redeem(struct stream_server *s, const char *path, struct token_request **ret)
{
        for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
                size_t n = strlen(routes[i].prefix);

                if (strncmp(path, routes[i].prefix, n) != 0 || strlen(path + n) != TOKEN_LEN)
                        continue;
                if (token_redeem(s->tokens, path + n, ret, NULL) < 0)
                        return -ENOENT;
                if ((*ret)->kind != routes[i].kind) {
                        *ret = token_request_free(*ret);
                        return -ENOENT;
                }
                return 0;
        }
        return -ENOENT;
}

static int start_protocol(struct conn *k, const struct http_request *req, struct uvm_error **err)
{
        bool ws = ws_is_upgrade(req), spdy = http_list_has_token(req, "Upgrade", "SPDY/3.1");
        bool pf = k->c.req->kind == TOKEN_PORT_FORWARD;

        if (ws)
                return (pf ? pf_ws_start : rc_ws_start)(&k->c, &k->c.proto, &k->c.p, err);
        if (spdy)
                return (pf ? pf_spdy_start : rc_spdy_start)(&k->c, &k->c.proto, &k->c.p, err);
        respond_error(k, 400, "this URL needs an upgrade to SPDY/3.1 or websocket");
        return uvm_error_set(err, EPROTO, "no upgrade asked for");
}

/* The request, its token, then the session until it ends. */
static void serve_request(struct conn *k, struct http_parser *hp, struct token_request **req)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        const struct http_request *hr;
        int r;

        if (k->ssl && SSL_accept(k->ssl) != 1) {
                ERR_clear_error();
                return;
        }
        r = read_head(k, hp, &e);
        if (r < 0) {
                if (r != -ECONNRESET && r != -EAGAIN)
                        respond_error(k, http_status_of_error(r), e ? e->msg : "bad request");
                return;
        }
        hr = http_parser_request(hp);
        if (!STR_EQ(hr->method, "GET") && !STR_EQ(hr->method, "POST")) {
                respond_error(k, 405, "GET or POST");
                return;
        }
        /* Unknown, used, expired or of another kind: nothing runs. */
        if (redeem(k->s, hr->path, req) < 0) {
                respond_error(k, 404, "unknown or expired streaming token");
                return;
        }
        k->c.req = *req;
        k->c.http = hr;
        k->c.backend = &k->s->backend;
        if (fcntl(k->io.fd, F_SETFL, fcntl(k->io.fd, F_GETFL) | O_NONBLOCK) < 0 ||
            start_protocol(k, hr, &e) < 0) {
                if (e)
                        log_debug("stream: %s", e->msg);
                sconn_flush(&k->c);
                return;
        }
        pthread_mutex_lock(&k->s->lock);
        k->s->sessions++;
        pthread_mutex_unlock(&k->s->lock);
        (void) sconn_run(&k->c);
        pthread_mutex_lock(&k->s->lock);
        k->s->sessions--;
        pthread_mutex_unlock(&k->s->lock);
}

static void serve(struct conn *k)
{
        struct token_request *req = NULL;
        struct http_parser *hp = http_parser_new();
        struct timeval tv = {HEAD_TIMEOUT_MS / 1000, 0};

        (void) setsockopt(k->io.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(k->io.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (hp)
                serve_request(k, hp, &req);
        sconn_fini(&k->c); /* before the request and head it points at go */
        token_request_free(req);
        http_parser_free(hp);
}

static void *conn_main(void *arg)
{
        struct conn *k = arg;
        struct stream_server *s = k->s;

        serve(k);
        if (k->ssl) {
                (void) SSL_shutdown(k->ssl);
                SSL_free(k->ssl);
        }
        close(k->io.fd);
        pthread_mutex_lock(&s->lock);
        for (struct conn **p = &s->conns; *p; p = &(*p)->next)
                if (*p == k) {
                        *p = k->next;
                        break;
                }
        if (--s->n_conns == 0)
                pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        free(k);
        return NULL;
}

static void accept_one(struct stream_server *s, int fd)
{
        struct conn *k = calloc(1, sizeof(*k));
        pthread_attr_t at;
        pthread_t t;
        int one = 1;

        if (!k || sconn_init(&k->c) < 0) {
                free(k);
                close(fd);
                return;
        }
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        k->s = s;
        k->c.io = &k->io;
        k->io = (struct sconn_io){.fd = fd,
                                  .read = plain_read,
                                  .write = plain_write,
                                  .write2 = plain_write2,
                                  .pending = plain_pending,
                                  .wants_write = plain_wants_write};
        if (s->tls) {
                k->ssl = SSL_new(s->tls);
                if (!k->ssl || SSL_set_fd(k->ssl, fd) != 1) {
                        sconn_fini(&k->c);
                        SSL_free(k->ssl);
                        free(k);
                        close(fd);
                        return;
                }
                SSL_set_mode(k->ssl,
                             SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
                k->io.read = tls_read;
                k->io.write = tls_write;
                k->io.write2 = NULL;
                k->io.pending = tls_pending;
                k->io.wants_write = tls_wants_write;
        }
        pthread_mutex_lock(&s->lock);
        if (s->stopping || s->n_conns >= s->max_conns) {
                pthread_mutex_unlock(&s->lock);
                log_warn("stream: %u connections already, refusing one", s->max_conns);
                sconn_fini(&k->c);
                SSL_free(k->ssl);
                free(k);
                close(fd);
                return;
        }
        k->next = s->conns;
        s->conns = k;
        s->n_conns++;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 << 10);
        if (pthread_create(&t, &at, conn_main, k) != 0) {
                s->conns = k->next;
                s->n_conns--;
                pthread_mutex_unlock(&s->lock);
                sconn_fini(&k->c);
                SSL_free(k->ssl);
                free(k);
                close(fd);
        } else {
                pthread_mutex_unlock(&s->lock);
        }
        pthread_attr_destroy(&at);
}

static void *acceptor_main(void *arg)
{
        struct stream_server *s = arg;

        for (;;) {
                struct pollfd pf[2] = {{s->fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
                int fd;

                if (poll(pf, 2, -1) < 0 && errno != EINTR)
                        break;
                if (pf[1].revents)
                        break;
                fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                        accept_one(s, fd);
        }
        return NULL;
}

/* --- start, stop, URLs --- */

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_address(const char *a, struct sockaddr_storage *ss, socklen_t *len,
                         struct uvm_error **err)
{
        char host[64];
        const char *colon = strrchr(a, ':');
        char *end;
        long port;

        if (!colon || (size_t) (colon - a) >= sizeof(host))
                return uvm_error_set(err, EINVAL, "stream address '%s': HOST:PORT", a);
        port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535 || end == colon + 1)
                return uvm_error_set(err, EINVAL, "stream address '%s': bad port", a);
        if (a[0] == '[' && colon > a && colon[-1] == ']') {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;

                snprintf(host, sizeof(host), "%.*s", (int) (colon - a - 2), a + 1);
                memset(s6, 0, sizeof(*s6));
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t) port);
                *len = sizeof(*s6);
                if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
                        return 0;
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) ss;

                snprintf(host, sizeof(host), "%.*s", (int) (colon - a), a);
                memset(s4, 0, sizeof(*s4));
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t) port);
                *len = sizeof(*s4);
                if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
                        return 0;
        }
        return uvm_error_set(err, EINVAL, "stream address '%s': the host must be an IP address", a);
}

/* The address as bound, and the host part of URLs (a wildcard address is
 * reached on loopback: the kubelet, on this node, connects). */
static void name_address(struct stream_server *s)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[64];

        if (getsockname(s->fd, (struct sockaddr *) &ss, &len) < 0)
                return;
        if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

                inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
                snprintf(s->address, sizeof(s->address), "[%s]:%u", host, ntohs(s6->sin6_port));
                snprintf(s->url_host, sizeof(s->url_host), "[%s]:%u",
                         IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? "::1" : host,
                         ntohs(s6->sin6_port));
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

                inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
                snprintf(s->address, sizeof(s->address), "%s:%u", host, ntohs(s4->sin_port));
                snprintf(s->url_host, sizeof(s->url_host), "%s:%u",
                         s4->sin_addr.s_addr == htonl(INADDR_ANY) ? "127.0.0.1" : host,
                         ntohs(s4->sin_port));
        }
}

static int tls_setup(struct stream_server *s, const struct stream_config *cfg,
                     struct uvm_error **err)
{
        if (!cfg->tls_cert && !cfg->tls_key)
                return 0;
        if (!cfg->tls_cert || !cfg->tls_key)
                return uvm_error_set(err, EINVAL,
                                     "stream TLS needs both a certificate and a key file");
        s->tls = SSL_CTX_new(TLS_server_method());
        if (!s->tls)
                return uvm_error_set(err, ENOMEM, "TLS: no context");
        SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION);
        if (SSL_CTX_use_certificate_chain_file(s->tls, cfg->tls_cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(s->tls, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(s->tls) != 1) {
                char msg[256];

                ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
                ERR_clear_error();
                return uvm_error_set(err, EINVAL, "stream TLS certificate %s / key %s: %s",
                                     cfg->tls_cert, cfg->tls_key, msg);
        }
        return 0;
}

int stream_server_start(const struct stream_config *cfg, const struct stream_backend *backend,
                        struct stream_server **ret, struct uvm_error **err)
{
        struct stream_server *s = calloc(1, sizeof(*s));
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int r, one = 1;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        s->fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        s->backend = *backend;
        s->max_conns = cfg->max_conns ? cfg->max_conns : DEFAULT_MAX_CONNS;
        s->tokens = token_table_new(MAX_TOKENS,
                                    cfg->token_ttl_ms ? cfg->token_ttl_ms : DEFAULT_TTL_MS, NULL);
        r = s->tokens ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = parse_address(cfg->address ? cfg->address : "127.0.0.1:0", &ss, &len, err);
        if (r >= 0)
                r = tls_setup(s, cfg, err);
        if (r >= 0 && (s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
                r = uvm_error_set(err, errno, "stream socket: %m");
        if (r >= 0) {
                (void) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(s->fd, (struct sockaddr *) &ss, len) < 0 || listen(s->fd, 128) < 0)
                        r = uvm_error_set(err, errno, "stream server on %s: %m", cfg->address);
        }
        if (r >= 0 && pipe2(s->stop_pipe, O_CLOEXEC) < 0)
                r = uvm_error_set(err, errno, "pipe: %m");
        if (r >= 0) {
                name_address(s);
                if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0)
                        r = uvm_error_set(err, EAGAIN, "stream server: no thread");
        }
        if (r < 0) {
                if (s->stop_pipe[1] >= 0)
                        close(s->stop_pipe[1]);
                s->stop_pipe[1] = -1;
                s->acceptor = 0;
                stream_server_stop(s);
                return r;
        }
        log_info("streaming server on %s%s", s->address, s->tls ? " (TLS)" : "");
        *ret = s;
        return 0;
}

struct stream_server *stream_server_stop(struct stream_server *s)
{
        if (!s)
                return NULL;
        if (s->stop_pipe[1] >= 0) {
                (void) !write(s->stop_pipe[1], "x", 1);
                pthread_join(s->acceptor, NULL);
        }
        /* End every session: their threads see stop, close and leave. */
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        for (struct conn *k = s->conns; k; k = k->next) {
                k->c.stop = true;
                (void) shutdown(k->io.fd, SHUT_RDWR);
        }
        while (s->n_conns > 0)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < 2; i++)
                if (s->stop_pipe[i] >= 0)
                        close(s->stop_pipe[i]);
        if (s->fd >= 0)
                close(s->fd);
        token_table_free(s->tokens);
        SSL_CTX_free(s->tls);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        free(s);
        return NULL;
}

int stream_server_url(struct stream_server *s, const struct token_request *req, char **ret_url,
                      struct uvm_error **err)
{
        static const char *const kinds[] = {"exec", "attach", "portforward"};
        char token[TOKEN_LEN + 1];
        int r = token_issue(s->tokens, req, token, err);

        if (r < 0)
                return r;
        if (asprintf(ret_url, "%s://%s/%s/%s", s->tls ? "https" : "http", s->url_host,
                     kinds[req->kind], token) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

const char *stream_server_address(const struct stream_server *s)
{
        return s->address;
}

unsigned stream_server_sessions(struct stream_server *s)
{
        unsigned n;

        pthread_mutex_lock(&s->lock);
        n = s->sessions;
        pthread_mutex_unlock(&s->lock);
        return n;
}
