/* Port-forward over WebSocket, as kubelet serves it (ws.h): the ports come
 * with the request; port i has data channel 2i and error channel 2i+1,
 * each opened by a message of the port number. One backend connection per
 * port; once every port's connection ended, the session closes (1000) and
 * waits for the client's close (ws_sess.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "stream/ws_sess.h"

struct pf_port {
        uint16_t port;
        uint8_t index;
        struct sio *io; /* NULL once the connection ended or failed */
};

struct pf_ws {
        struct ws_sess s; /* running: some port is open */
        size_t n_ports;
        struct pf_port ports[WS_PORTFORWARD_MAX_PORTS];
};

static void port_end(struct pf_port *p)
{
        if (p->io)
                sio_close(p->io);
        p->io = NULL;
}

static void ports_end(void *arg)
{
        struct pf_ws *pf = arg;

        for (size_t i = 0; i < pf->n_ports; i++)
                port_end(&pf->ports[i]);
}

static void pf_free(void *arg)
{
        struct pf_ws *pf = arg;

        if (!pf)
                return;
        ports_end(pf);
        ws_sess_fini(&pf->s);
        free(pf);
}

static void pf_freep(struct pf_ws **pf)
{
        pf_free(*pf);
}

/* --- frames for the client --- */

/* A port's error, on its error channel. */
static int port_error(struct pf_ws *pf, struct pf_port *p, const char *error)
{
        char msg[512];
        const char *pod = sconn_request(pf->s.c)->pod_id;
        int n = snprintf(msg, sizeof(msg), "error forwarding port %u to pod %s: %s", p->port,
                         pod ? pod : "", error);

        n = n < 0 ? 0 : n >= (int) sizeof(msg) ? (int) sizeof(msg) - 1 : n;
        return ws_sess_channel(&pf->s, (uint8_t) (2 * p->index + 1), msg, (size_t) n);
}

/* Once no port is open, the session closes. */
static int close_if_idle(struct pf_ws *pf)
{
        for (size_t i = 0; i < pf->n_ports; i++)
                if (pf->ports[i].io)
                        return 0;
        return ws_sess_close(&pf->s, WS_CLOSE_NORMAL, NULL);
}

/* --- the session --- */

static int pf_data(void *arg, struct ws_message *m)
{
        struct pf_ws *pf = arg;
        const uint8_t *data = NULL;
        size_t len = 0, index;
        uint8_t ch = 0;
        bool is_error;
        int r = ws_channel_decode(m, pf->s.proto.base64, &ch, &data, &len, NULL);

        /* Not this protocol's framing: nothing can be forwarded. */
        if (r < 0)
                return ws_sess_abort(&pf->s, WS_CLOSE_UNSUPPORTED);
        /* Empty messages, error channels and unknown channels are ignored,
         * as kubelet does; the client's data carries no port prefix. */
        if (r == 0 || ws_portforward_channel(ch, pf->n_ports, &index, &is_error, NULL) < 0 ||
            is_error || !pf->ports[index].io)
                return 0;
        r = sio_write(pf->ports[index].io, data, len);
        return r == -EPIPE ? 0 : r; /* the connection's write side is gone */
}

static int pf_event(void *arg, struct sio *io, const struct sevent *ev)
{
        struct pf_ws *pf = arg;
        struct pf_port *p = sio_tag(io);

        if (p->io != io)
                return 0;
        if (ev->kind == SEV_DONE) {
                const char *reason = ev->reason ? ev->reason : strerror(-ev->code);
                int r = ev->code < 0 ? port_error(pf, p, reason) : 0;

                port_end(p);
                return r < 0 ? r : close_if_idle(pf);
        }
        if (ev->kind != SEV_OUTPUT || ev->stream != STREAM_STDOUT)
                return 0;
        /* The pod's side closed. WebSocket port-forward has no half-close:
         * the port is done, so close ours too and the backend ends it (a
         * backend that waits for both directions would hold it forever). */
        if (ev->len == 0) {
                (void) sio_close_write(io);
                return 0;
        }
        return ws_sess_channel(&pf->s, (uint8_t) (2 * p->index), ev->data, ev->len);
}

/* --- the ports and the upgrade --- */

/* "80,8080" into pf->ports; the HTTP status to refuse with, or 0. */
static int add_ports(struct pf_ws *pf, const char *list, char *msg, size_t size)
{
        const struct token_request *req = sconn_request(pf->s.c);

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
        const struct token_request *req = sconn_request(pf->s.c);
        _cleanup_strv_ char **values = NULL;
        int r = http_query_get_all(sconn_http(pf->s.c)->query, "ports", &values, NULL);

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

/* base64 names a channel by one ASCII character: '0' + 79 at most. */
static int pf_fits(void *arg, const struct ws_subprotocol *proto, struct uvm_error **err)
{
        struct pf_ws *pf = arg;

        if (proto->base64 && pf->n_ports > 40)
                return uvm_error_set(err, EINVAL,
                                     "port-forward: base64 framing has room for 40 ports");
        return 0;
}

/* Check the handshake and the ports, pick the subprotocol, queue the 101
 * and the port prefixes; or queue the refusal and fail. */
static int upgrade(struct pf_ws *pf, struct uvm_error **err)
{
        char msg[256];
        int r, status;

        r = ws_sess_handshake(&pf->s, err);
        if (r < 0)
                return r;
        status = parse_ports(pf, msg, sizeof(msg));
        if (status != 0) {
                ws_sess_refuse(pf->s.c, status, msg);
                return uvm_error_set(err, status == 403 ? EPERM : EINVAL, "port-forward: %s", msg);
        }
        r = ws_sess_accept(&pf->s, WS_PORTFORWARD_PROTOCOLS, err);
        for (size_t i = 0; r >= 0 && i < pf->n_ports; i++) {
                uint8_t prefix[2];

                ws_portforward_port_prefix(pf->ports[i].port, prefix);
                r = ws_sess_channel(&pf->s, (uint8_t) (2 * i), prefix, 2);
                if (r >= 0)
                        r = ws_sess_channel(&pf->s, (uint8_t) (2 * i + 1), prefix, 2);
        }
        return r < 0 ? uvm_error_set(err, -r, "port-forward: %s", strerror(-r)) : 0;
}

/* A connection per port; one that fails is reported and done. */
static int connect_ports(struct pf_ws *pf)
{
        const struct stream_backend *b = sconn_backend(pf->s.c);
        const char *pod = sconn_request(pf->s.c)->pod_id;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < pf->n_ports; i++) {
                _cleanup_error_ struct uvm_error *e = NULL;
                struct pf_port *p = &pf->ports[i];
                struct stream_io *bio = NULL;

                p->io = sio_new(pf->s.c, p);
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

static const struct ws_sess_ops pf_ws_ops = {
        .data = pf_data,
        .event = pf_event,
        .stop = ports_end,
        .free_ = pf_free,
        .fits = pf_fits,
};

int pf_ws_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                struct uvm_error **err)
{
        _cleanup_(pf_freep) struct pf_ws *pf = calloc(1, sizeof(*pf));
        int r;

        if (!pf || ws_sess_init(&pf->s, c, &pf_ws_ops, pf) < 0) {
                ws_sess_refuse(c, 500, "out of memory");
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = upgrade(pf, err);
        if (r < 0)
                return r;
        r = connect_ports(pf);
        if (r < 0)
                return uvm_error_set(err, -r, "port-forward: %s", strerror(-r));
        *ret_proto = &ws_sess_proto;
        *ret_p = &TAKE_PTR(pf)->s;
        return 0;
}
