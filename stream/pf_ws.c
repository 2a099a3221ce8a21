/* Port-forward over WebSocket, as kubelet serves it (ws.h): the ports come
 * with the request; port i has data channel 2i and error channel 2i+1,
 * each opened by a message of the port number. One backend connection per
 * port; once every port's connection ended, the session closes (1000) and
 * waits for the client's close for at most CLOSE_WAIT_MS. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "stream/sconn.h"
#include "stream/ws.h"

#define CLOSE_WAIT_MS 2000 /* for the client's answer to our close frame */
#define ERR_MSG(err) ((err) && *(err) ? (*(err))->msg : "bad WebSocket handshake")

enum pf_state {
        PF_RUNNING, /* some port is open */
        PF_CLOSING, /* our close frame is queued; waiting for the client's */
        PF_DONE,
};

struct pf_port {
        uint16_t port;
        uint8_t index;
        struct sio *io; /* NULL once the connection ended or failed */
};

struct pf_ws {
        struct sconn *c;
        struct ws_decoder *dec;
        struct ws_subprotocol proto;
        enum pf_state state;
        size_t n_ports;
        struct pf_port ports[WS_PORTFORWARD_MAX_PORTS];
};

static void port_end(struct pf_port *p)
{
        if (p->io)
                sio_close(p->io);
        p->io = NULL;
}

static void ports_end(struct pf_ws *pf)
{
        for (size_t i = 0; i < pf->n_ports; i++)
                port_end(&pf->ports[i]);
}

static void pf_free(void *arg)
{
        struct pf_ws *pf = arg;

        if (!pf)
                return;
        ports_end(pf);
        ws_decoder_free(pf->dec);
        free(pf);
}

static void pf_freep(struct pf_ws **pf)
{
        pf_free(*pf);
}

/* --- frames for the client --- */

static int send_channel(struct pf_ws *pf, uint8_t ch, const void *data, size_t len)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r = ws_channel_encode(ch, data, len, pf->proto.base64, &buf, &n, NULL);

        return r < 0 ? r : sconn_send(pf->c, buf, n);
}

/* Our close frame (code 0: empty), after which no frame may go. */
static int send_close(struct pf_ws *pf, uint16_t code)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r = ws_encode_close(code, NULL, &buf, &n, NULL);

        if (r < 0)
                r = ws_encode_close(WS_CLOSE_NORMAL, NULL, &buf, &n, NULL);
        if (pf->state == PF_RUNNING) {
                pf->state = PF_CLOSING;
                sconn_deadline(pf->c, CLOSE_WAIT_MS);
        }
        return r < 0 ? r : sconn_send(pf->c, buf, n);
}

/* A port's error, on its error channel. */
static int port_error(struct pf_ws *pf, struct pf_port *p, const char *error)
{
        char msg[512];
        const char *pod = sconn_request(pf->c)->pod_id;
        int n = snprintf(msg, sizeof(msg), "error forwarding port %u to pod %s: %s", p->port,
                         pod ? pod : "", error);

        n = n < 0 ? 0 : n >= (int) sizeof(msg) ? (int) sizeof(msg) - 1 : n;
        return send_channel(pf, (uint8_t) (2 * p->index + 1), msg, (size_t) n);
}

/* Once no port is open, the session closes. */
static int close_if_idle(struct pf_ws *pf)
{
        for (size_t i = 0; i < pf->n_ports; i++)
                if (pf->ports[i].io)
                        return 0;
        return send_close(pf, WS_CLOSE_NORMAL);
}

/* --- the session --- */

static int on_data(struct pf_ws *pf, struct ws_message *m)
{
        const uint8_t *data = NULL;
        size_t len = 0, index;
        uint8_t ch = 0;
        bool is_error;
        int r = ws_channel_decode(m, pf->proto.base64, &ch, &data, &len, NULL);

        if (r < 0) {
                /* Not this protocol's framing: nothing can be forwarded. */
                ports_end(pf);
                r = send_close(pf, WS_CLOSE_UNSUPPORTED);
                pf->state = PF_DONE;
                return r;
        }
        /* Empty messages, error channels and unknown channels are ignored,
         * as kubelet does; the client's data carries no port prefix. */
        if (r == 0 || ws_portforward_channel(ch, pf->n_ports, &index, &is_error, NULL) < 0 ||
            is_error || !pf->ports[index].io)
                return 0;
        r = sio_write(pf->ports[index].io, data, len);
        return r == -EPIPE ? 0 : r; /* the connection's write side is gone */
}

static int on_message(struct pf_ws *pf, struct ws_message *m)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r = 0;

        switch (m->opcode) {
        case WS_OP_CLOSE:
                ports_end(pf);
                /* Echo the client's code (RFC 6455 5.5.1). */
                if (pf->state == PF_RUNNING)
                        r = send_close(pf, m->close_code == WS_CLOSE_NO_STATUS ? 0 : m->close_code);
                pf->state = PF_DONE;
                return r;
        case WS_OP_PING:
                if (pf->state != PF_RUNNING)
                        return 0;
                r = ws_encode_frame(WS_OP_PONG, m->data, m->len, &buf, &n, NULL);
                return r < 0 ? r : sconn_send(pf->c, buf, n);
        case WS_OP_PONG:
                return 0;
        default:
                return pf->state == PF_RUNNING ? on_data(pf, m) : 0;
        }
}

static int pf_input(void *arg, const uint8_t *buf, size_t len, size_t *used)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct pf_ws *pf = arg;
        struct ws_message m = {0};
        int r;

        if (pf->state == PF_DONE) {
                *used = len;
                return 0;
        }
        r = ws_decoder_feed(pf->dec, buf, len, used, &m, &e);
        if (r < 0) {
                /* The stream cannot be read on: fail the connection. */
                *used = len;
                ports_end(pf);
                if (pf->state == PF_RUNNING)
                        r = send_close(pf, ws_close_code_of_error(r));
                pf->state = PF_DONE;
                return r < 0 ? r : 0;
        }
        if (r == 0)
                return 0;
        r = on_message(pf, &m);
        ws_message_clear(&m);
        return r;
}

static int pf_eof(void *arg)
{
        struct pf_ws *pf = arg;

        ports_end(pf);
        pf->state = PF_DONE;
        return 0;
}

static int pf_event(void *arg, struct sio *io, const struct sevent *ev)
{
        struct pf_ws *pf = arg;
        struct pf_port *p = sio_tag(io);

        if (pf->state != PF_RUNNING || p->io != io)
                return 0;
        if (ev->kind == SEV_DONE) {
                const char *reason = ev->reason ? ev->reason : strerror(-ev->code);
                int r = ev->code < 0 ? port_error(pf, p, reason) : 0;

                port_end(p);
                return r < 0 ? r : close_if_idle(pf);
        }
        if (ev->kind != SEV_OUTPUT || ev->stream != STREAM_STDOUT || ev->len == 0)
                return 0;
        return send_channel(pf, (uint8_t) (2 * p->index), ev->data, ev->len);
}

static int pf_timeout(void *arg)
{
        ((struct pf_ws *) arg)->state = PF_DONE; /* the client did not answer our close */
        return 0;
}

static bool pf_finished(void *arg)
{
        return ((struct pf_ws *) arg)->state == PF_DONE;
}

static const struct sproto pf_ws_proto = {
        .input = pf_input,
        .eof = pf_eof,
        .event = pf_event,
        .timeout = pf_timeout,
        .finished = pf_finished,
        .free_ = pf_free,
};

/* --- the ports and the upgrade --- */

/* "80,8080" into pf->ports; the HTTP status to refuse with, or 0. */
static int add_ports(struct pf_ws *pf, const char *list, char *msg, size_t size)
{
        const struct token_request *req = sconn_request(pf->c);

        do {
                size_t n = strcspn(list, ",");
                unsigned long port = 0;
                bool listed = req->n_ports == 0;

                for (size_t i = 0; i < n && port <= 65535; i++)
                        port = list[i] >= '0' && list[i] <= '9' ? port * 10 + (list[i] - '0')
                                                                : 65536;
                if (n == 0 || port < 1 || port > 65535) {
                        snprintf(msg, size, "\"%.*s\" is not a port (1 to 65535)", (int) n, list);
                        return 400;
                }
                for (size_t i = 0; i < req->n_ports; i++)
                        listed = listed || req->ports[i] == (int32_t) port;
                if (!listed) {
                        snprintf(msg, size, "port %lu was not asked for", port);
                        return 403;
                }
                if (pf->n_ports == WS_PORTFORWARD_MAX_PORTS) {
                        snprintf(msg, size, "more than %u ports", WS_PORTFORWARD_MAX_PORTS);
                        return 400;
                }
                pf->ports[pf->n_ports] = (struct pf_port){(uint16_t) port, (uint8_t) pf->n_ports};
                pf->n_ports++;
                list += n;
        } while (*list++ == ',');
        return 0;
}

/* The query's "ports" (repeated or comma-separated, as Kubernetes reads
 * them), else the token's; the HTTP status to refuse with, or 0. */
static int parse_ports(struct pf_ws *pf, char *msg, size_t size)
{
        const struct token_request *req = sconn_request(pf->c);
        _cleanup_strv_ char **values = NULL;
        int r = http_query_get_all(sconn_http(pf->c)->query, "ports", &values, NULL);

        if (r < 0) {
                snprintf(msg, size, "the query is not well-formed");
                return r == -ENOMEM ? 500 : 400;
        }
        for (size_t i = 0; values[i]; i++)
                if ((r = add_ports(pf, values[i], msg, size)) != 0)
                        return r;
        for (size_t i = 0; !values[0] && i < req->n_ports; i++) {
                char port[16];

                snprintf(port, sizeof(port), "%d", req->ports[i]);
                if ((r = add_ports(pf, port, msg, size)) != 0)
                        return r;
        }
        if (pf->n_ports == 0) {
                snprintf(msg, size, "query parameter \"ports\" is required");
                return 400;
        }
        return 0;
}

static void refuse(struct sconn *c, int status, const char *msg)
{
        static const struct http_header h426[] = {
                {"Content-Type", "text/plain; charset=utf-8"},
                {"Connection", "close"},
                {"Sec-WebSocket-Version", "13"},
        };
        char buf[1024], body[512];
        size_t len = 0;
        int n = snprintf(body, sizeof(body), "%s\n", msg), r;

        n = n < 0 ? 0 : n >= (int) sizeof(body) ? (int) sizeof(body) - 1 : n;
        if (status == 426)
                r = http_format_response(426, h426, 3, body, (size_t) n, buf, sizeof(buf), &len,
                                         NULL);
        else
                r = http_format_error(status, msg, buf, sizeof(buf), &len, NULL);
        if (r >= 0)
                (void) sconn_send(c, buf, len);
}

/* Check the handshake and the ports, pick the subprotocol, queue the 101
 * and the port prefixes; or queue the refusal and fail. */
static int upgrade(struct pf_ws *pf, struct uvm_error **err)
{
        char accept[WS_ACCEPT_LEN + 1], buf[512], msg[256];
        size_t len = 0;
        int r, status;

        r = ws_handshake_check(sconn_http(pf->c), accept, err);
        if (r < 0) {
                refuse(pf->c, r == -EPROTONOSUPPORT ? 426 : 400, ERR_MSG(err));
                return r;
        }
        status = parse_ports(pf, msg, sizeof(msg));
        if (status != 0) {
                refuse(pf->c, status, msg);
                return uvm_error_set(err, status == 403 ? EPERM : EINVAL, "port-forward: %s", msg);
        }
        r = ws_select_subprotocol(sconn_http(pf->c), WS_PORTFORWARD_PROTOCOLS, &pf->proto, err);
        /* base64 names a channel by one ASCII character: '0' + 79 at most. */
        if (r >= 0 && pf->proto.base64 && pf->n_ports > 40)
                r = uvm_error_set(err, EINVAL,
                                  "port-forward: base64 framing has room for 40 ports");
        if (r >= 0)
                r = ws_handshake_response(accept, pf->proto.name, buf, sizeof(buf), &len, err);
        if (r < 0) {
                refuse(pf->c, r == -ENOMEM ? 500 : 400, ERR_MSG(err));
                return r;
        }
        r = sconn_send(pf->c, buf, len);
        for (size_t i = 0; r >= 0 && i < pf->n_ports; i++) {
                uint8_t prefix[2];

                ws_portforward_port_prefix(pf->ports[i].port, prefix);
                r = send_channel(pf, (uint8_t) (2 * i), prefix, 2);
                if (r >= 0)
                        r = send_channel(pf, (uint8_t) (2 * i + 1), prefix, 2);
        }
        return r < 0 ? uvm_error_set(err, -r, "port-forward: %s", strerror(-r)) : 0;
}

/* A connection per port; one that fails is reported and done. */
static int connect_ports(struct pf_ws *pf)
{
        const struct stream_backend *b = sconn_backend(pf->c);
        const char *pod = sconn_request(pf->c)->pod_id;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < pf->n_ports; i++) {
                _cleanup_error_ struct uvm_error *e = NULL;
                struct pf_port *p = &pf->ports[i];
                struct stream_io *bio = NULL;

                p->io = sio_new(pf->c, p);
                if (!p->io)
                        return -ENOMEM;
                r = b->port_forward
                            ? b->port_forward(b->data, pod, p->port, sio_sink(p->io), &bio, &e)
                            : uvm_error_set(&e, ENOTSUP, "this runtime cannot forward ports");
                if (r >= 0) {
                        sio_attach(p->io, bio);
                } else {
                        port_end(p);
                        r = port_error(pf, p, e ? e->msg : strerror(-r));
                }
        }
        return r < 0 ? r : close_if_idle(pf);
}

int pf_ws_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                struct uvm_error **err)
{
        _cleanup_(pf_freep) struct pf_ws *pf = calloc(1, sizeof(*pf));
        int r;

        if (pf) {
                pf->c = c;
                pf->dec = ws_decoder_new(0);
        }
        if (!pf || !pf->dec) {
                refuse(c, 500, "out of memory");
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = upgrade(pf, err);
        if (r < 0)
                return r;
        r = connect_ports(pf);
        if (r < 0)
                return uvm_error_set(err, -r, "port-forward: %s", strerror(-r));
        *ret_proto = &pf_ws_proto;
        *ret_p = TAKE_PTR(pf);
        return 0;
}
