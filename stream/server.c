/* The streaming server (stream.h): listener, a thread per connection, the
 * request line and its token, then the protocol session (sconn.h). */

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/sock.h"
#include "stream/sconn-internal.h"
#include "stream/snet.h"
#include "stream/stls.h"
#include "stream/ws.h"

#define HEAD_TIMEOUT_MS 10000
#define DEFAULT_TTL_MS 60000
#define DEFAULT_MAX_CONNS 128
#define MAX_TOKENS 4096

struct conn;

struct stream_server {
        int fd;
        struct snet_event *stop_ev; /* wakes the acceptor */
        char address[80];           /* as bound */
        char url_host[80];
        struct stls_ctx *tls;
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
        struct sconn c;
        struct conn *next;
};

/* --- the plain transport (stls.h makes the TLS one) --- */

static ssize_t plain_read(struct sconn_io *io, void *buf, size_t len)
{
        ssize_t n = sock_read(io->fd, buf, len);

        return n == -EINTR ? -EAGAIN : n;
}

static ssize_t plain_write(struct sconn_io *io, const void *buf, size_t len)
{
        ssize_t n = sock_write(io->fd, true, buf, len);

        return n == -EINTR ? -EAGAIN : n;
}

static ssize_t plain_write2(struct sconn_io *io, const void *a, size_t alen, const void *b,
                            size_t blen)
{
        return snet_write2(io->fd, a, alen, b, blen);
}

static size_t plain_pending(struct sconn_io *io)
{
        return 0;
}

static bool plain_wants_write(struct sconn_io *io)
{
        return false;
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

        if (stls_handshake(&k->io) < 0)
                return;
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
        if (sock_set_nonblocking(k->io.fd) < 0 || start_protocol(k, hr, &e) < 0) {
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

/* Out of the server's list: stream_server_stop no longer wakes it (its
 * event and socket are about to go). */
static void unlink_conn(struct conn *k)
{
        struct stream_server *s = k->s;

        pthread_mutex_lock(&s->lock);
        for (struct conn **p = &s->conns; *p; p = &(*p)->next)
                if (*p == k) {
                        *p = k->next;
                        break;
                }
        pthread_mutex_unlock(&s->lock);
}

static void serve(struct conn *k)
{
        struct token_request *req = NULL;
        struct http_parser *hp = http_parser_new();

        if (hp)
                serve_request(k, hp, &req);
        unlink_conn(k);
        sconn_fini(&k->c); /* before the request and head it points at go */
        token_request_free(req);
        http_parser_free(hp);
}

static void *conn_main(void *arg)
{
        struct conn *k = arg;
        struct stream_server *s = k->s;

        serve(k);
        stls_end(&k->io);
        sock_close(k->io.fd);
        pthread_mutex_lock(&s->lock);
        if (--s->n_conns == 0)
                pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        free(k);
        return NULL;
}

static void drop(struct conn *k, int fd)
{
        if (k) {
                sconn_fini(&k->c);
                stls_end(&k->io);
                free(k);
        }
        sock_close(fd);
}

static void accept_one(struct stream_server *s, int fd)
{
        struct conn *k = calloc(1, sizeof(*k));
        pthread_attr_t at;
        pthread_t t;

        if (!k || sconn_init(&k->c) < 0) {
                free(k);
                sock_close(fd);
                return;
        }
        k->s = s;
        k->c.io = &k->io;
        k->io = (struct sconn_io){.fd = fd,
                                  .read = plain_read,
                                  .write = plain_write,
                                  .write2 = plain_write2,
                                  .pending = plain_pending,
                                  .wants_write = plain_wants_write};
        if (s->tls && stls_wrap(s->tls, &k->io) < 0) {
                drop(k, fd);
                return;
        }
        pthread_mutex_lock(&s->lock);
        if (s->stopping || s->n_conns >= s->max_conns) {
                pthread_mutex_unlock(&s->lock);
                log_warn("stream: %u connections already, refusing one", s->max_conns);
                drop(k, fd);
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
                drop(k, fd);
        } else {
                pthread_mutex_unlock(&s->lock);
        }
        pthread_attr_destroy(&at);
}

static void *acceptor_main(void *arg)
{
        struct stream_server *s = arg;

        for (;;) {
                bool stop = false;
                int ready = 0, fd;
                int r = snet_wait(s->fd, SNET_IN, s->stop_ev, -1, &ready, &stop);

                if (stop || (r < 0 && r != -EINTR))
                        break;
                if (!(ready & SNET_IN))
                        continue;
                fd = snet_accept(s->fd);
                if (fd >= 0) {
                        snet_conn_setup(fd, HEAD_TIMEOUT_MS);
                        accept_one(s, fd);
                }
        }
        return NULL;
}

/* --- start, stop, URLs --- */

int stream_server_start(const struct stream_config *cfg, const struct stream_backend *backend,
                        struct stream_server **ret, struct uvm_error **err)
{
        struct stream_server *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        s->fd = -1;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        s->backend = *backend;
        s->max_conns = cfg->max_conns ? cfg->max_conns : DEFAULT_MAX_CONNS;
        s->tokens = token_table_new(MAX_TOKENS,
                                    cfg->token_ttl_ms ? cfg->token_ttl_ms : DEFAULT_TTL_MS, NULL);
        r = s->tokens ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = stls_ctx_new(cfg->tls_cert, cfg->tls_key, &s->tls, err);
        if (r >= 0)
                r = snet_listen(cfg->address ? cfg->address : "127.0.0.1:0", &s->fd, err);
        if (r >= 0 && (r = snet_event_new(&s->stop_ev)) < 0)
                r = uvm_error_set(err, -r, "stream server: no wake-up: %s", sock_strerror(-r));
        if (r >= 0) {
                snet_names(s->fd, s->address, sizeof(s->address), s->url_host, sizeof(s->url_host));
                if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0)
                        r = uvm_error_set(err, EAGAIN, "stream server: no thread");
        }
        if (r < 0) {
                s->stop_ev = snet_event_free(s->stop_ev); /* no acceptor to join */
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
        if (s->stop_ev) {
                snet_event_raise(s->stop_ev);
                pthread_join(s->acceptor, NULL);
        }
        /* End every session: their threads see stop, close and leave (a
         * shutdown alone does not wake a WSAPoll: the event does). */
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        for (struct conn *k = s->conns; k; k = k->next) {
                k->c.stop = true;
                sock_shutdown(k->io.fd);
                sconn_wake(&k->c);
        }
        while (s->n_conns > 0)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
        snet_event_free(s->stop_ev);
        sock_close(s->fd);
        token_table_free(s->tokens);
        stls_ctx_free(s->tls);
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
        size_t len = sizeof("https:///portforward/") + strlen(s->url_host) + TOKEN_LEN + 1;

        *ret_url = malloc(len);
        if (!*ret_url)
                return uvm_error_set(err, ENOMEM, "out of memory");
        snprintf(*ret_url, len, "%s://%s/%s/%s", s->tls ? "https" : "http", s->url_host,
                 kinds[req->kind], token);
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
