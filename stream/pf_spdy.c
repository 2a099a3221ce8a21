/* Port-forward over SPDY/3.1, as Kubernetes' kubelet serves it
 * (pkg/kubelet/cri/streaming/portforward). Each forwarded connection is a
 * pair of client streams sharing a "requestid" header: "data" carries the
 * bytes both ways, "error" carries our message if forwarding fails. Any
 * number of pairs come and go over one connection, which lasts until the
 * client closes it. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macros.h"
#include "stream/spdy_sess.h"

#define PAIR_TIMEOUT_MS 30000 /* for both streams of a pair: Kubernetes' creation timeout */
#define MAX_PAIRS 128         /* per connection, at once */
#define MAX_REQUEST_ID 64
#define MAX_PORT_TEXT 16

static const char *const versions[] = {"portforward.k8s.io"};

enum pair_state {
        PAIR_WAITING, /* for its second stream */
        PAIR_RUNNING, /* connected to the port */
};

struct pair {
        char request_id[MAX_REQUEST_ID + 1];
        enum pair_state state;
        uint32_t data_id, error_id;        /* 0: not opened yet */
        char port_text[MAX_PORT_TEXT + 1]; /* the data stream's "port" */
        unsigned port;
        long deadline; /* PAIR_WAITING: CLOCK_MONOTONIC ms */
        struct sio *io;
        struct spdy_sess_pending early; /* data before the pair was complete */
        bool data_in_fin;               /* the client ended its side of data */
        bool data_out_fin, error_out_fin;
        struct pair *next;
};

struct pf {
        struct spdy_sess s;
        struct sconn *c;
        const struct token_request *req;
        struct pair *pairs;
        size_t n_pairs;
};

static long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The core has one deadline: the earliest of the waiting pairs'. */
static void arm(struct pf *pf)
{
        long first = 0, now = now_ms();

        if (pf->s.stopping)
                return; /* the linger's deadline */
        for (struct pair *p = pf->pairs; p; p = p->next)
                if (p->state == PAIR_WAITING && (!first || p->deadline < first))
                        first = p->deadline;
        sconn_deadline(pf->c, !first ? 0 : first > now ? (unsigned) (first - now) : 1);
}

static void forget(struct pf *pf, struct pair *pair)
{
        for (struct pair **pp = &pf->pairs; *pp; pp = &(*pp)->next)
                if (*pp == pair) {
                        *pp = pair->next;
                        break;
                }
        if (pair->io)
                sio_close(pair->io);
        spdy_sess_pending_free(&pair->early);
        free(pair);
        pf->n_pairs--;
}

/* The pair is over: message (if any) on the error stream, FIN on both. */
static int end_pair(struct pf *pf, struct pair *pair, const char *message)
{
        int r = 0;

        if (message)
                log_debug("stream: port-forward %s: %s", pair->request_id, message);
        if (pair->data_id && !pair->data_out_fin)
                r = spdy_sess_data(&pf->s, pair->data_id, NULL, 0, true);
        if (r >= 0 && pair->error_id && !pair->error_out_fin)
                r = spdy_sess_data(&pf->s, pair->error_id, message, message ? strlen(message) : 0,
                                   true);
        forget(pf, pair);
        return r;
}

static int end_pairf(struct pf *pf, struct pair *pair, const char *fmt, ...) _printf_(3, 4);
static int end_pairf(struct pf *pf, struct pair *pair, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return end_pair(pf, pair, msg);
}

static void stop(void *p)
{
        struct pf *pf = p;

        while (pf->pairs)
                forget(pf, pf->pairs);
}

/* Decimal 1 to 65535 (Go's strconv.ParseUint(s, 10, 16), then > 0); 0 if not. */
static unsigned parse_port(const char *s)
{
        unsigned long n = 0;

        if (!*s)
                return 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return 0;
                n = n * 10 + (unsigned long) (*s - '0');
                if (n > 65535)
                        return 0;
        }
        return (unsigned) n;
}

static bool port_allowed(const struct token_request *req, unsigned port)
{
        if (req->n_ports == 0)
                return true; /* the request named none: any */
        for (size_t i = 0; i < req->n_ports; i++)
                if (req->ports[i] == (int32_t) port)
                        return true;
        return false;
}

/* Both streams are there: connect to the port. */
static int start(struct pf *pf, struct pair *pair)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        const struct stream_backend *b = sconn_backend(pf->c);
        struct stream_io *bio = NULL;
        int r;

        pair->port = parse_port(pair->port_text);
        if (!pair->port)
                return end_pairf(pf, pair, "invalid port \"%s\": not a number from 1 to 65535",
                                 pair->port_text);
        if (!port_allowed(pf->req, pair->port))
                return end_pairf(pf, pair, "port %u is not among the ports forwarded to pod %s",
                                 pair->port, pf->req->pod_id);
        pair->io = sio_new(pf->c, pair);
        if (!pair->io)
                return -ENOMEM;
        r = b->port_forward ? b->port_forward(b->data, pf->req->pod_id, (uint16_t) pair->port,
                                              sio_sink(pair->io), &bio, &e)
                            : uvm_error_set(&e, ENOTSUP, "port forwarding is not supported");
        if (r < 0) {
                sio_close(pair->io);
                pair->io = NULL;
                return end_pairf(pf, pair, "error forwarding port %u to pod %s: %s", pair->port,
                                 pf->req->pod_id, e ? e->msg : strerror(-r));
        }
        sio_attach(pair->io, bio);
        pair->state = PAIR_RUNNING;
        r = spdy_sess_pending_flush(&pair->early, pair->io);
        return r < 0 ? end_pairf(pf, pair, "port %u: %s", pair->port, strerror(-r)) : 0;
}

static struct pair *find_request(struct pf *pf, const char *request_id)
{
        for (struct pair *p = pf->pairs; p; p = p->next)
                if (STR_EQ(p->request_id, request_id))
                        return p;
        return NULL;
}

static struct pair *find_stream(struct pf *pf, uint32_t id, bool *ret_data)
{
        for (struct pair *p = pf->pairs; p && id; p = p->next)
                if (p->data_id == id || p->error_id == id) {
                        *ret_data = p->data_id == id;
                        return p;
                }
        return NULL;
}

static const char *header(const struct spdy_frame *f, const char *name)
{
        const struct spdy_header *h = spdy_header_find(f->headers, f->n_headers, name);

        return h && strlen(h->value) == h->value_len ? h->value : NULL;
}

/* The pair a new stream belongs to, created if it is the first. Clients
 * too old to send "requestid" get Kubernetes' guess: an error stream's id,
 * or a data stream's id minus 2 (they open error, then data). */
static struct pair *pair_of(struct pf *pf, const struct spdy_frame *f, bool data)
{
        const char *id = header(f, "requestid");
        char guess[16];
        struct pair *p;

        if (!id || !*id) {
                snprintf(guess, sizeof(guess), "%ld", (long) f->stream_id - (data ? 2 : 0));
                id = guess;
        }
        if (strlen(id) > MAX_REQUEST_ID)
                return NULL;
        p = find_request(pf, id);
        if (p || pf->n_pairs >= MAX_PAIRS)
                return p;
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        strcpy(p->request_id, id);
        p->deadline = now_ms() + PAIR_TIMEOUT_MS;
        p->next = pf->pairs;
        pf->pairs = p;
        pf->n_pairs++;
        return p;
}

static int syn_stream(struct pf *pf, const struct spdy_frame *f)
{
        const char *type = header(f, "streamtype"), *port = header(f, "port");
        bool data = type && STR_EQ(type, "data");
        struct pair *p;
        int r;

        if (!type || (!data && !STR_EQ(type, "error")))
                return spdy_sess_rst(&pf->s, f->stream_id, SPDY_PROTOCOL_ERROR);
        p = pair_of(pf, f, data);
        if (!p)
                return spdy_sess_rst(&pf->s, f->stream_id, SPDY_REFUSED_STREAM);
        if (data ? p->data_id : p->error_id)
                return spdy_sess_rst(&pf->s, f->stream_id, SPDY_PROTOCOL_ERROR); /* a second one */
        if (data) {
                p->data_id = f->stream_id;
                snprintf(p->port_text, sizeof(p->port_text), "%s", port ? port : "");
                p->data_in_fin = f->flags & SPDY_FLAG_FIN;
                p->early.fin = p->data_in_fin;
        } else {
                p->error_id = f->stream_id;
        }
        r = spdy_sess_reply(&pf->s, f->stream_id);
        if (r >= 0 && p->data_id && p->error_id)
                r = start(pf, p);
        arm(pf);
        return r;
}

static int data(struct pf *pf, const struct spdy_frame *f)
{
        bool is_data = false;
        struct pair *p = find_stream(pf, f->stream_id, &is_data);
        int r = 0;

        if (!p) {
                /* An empty FIN may trail a pair we ended: the client's close. */
                return f->len == 0 ? 0 : spdy_sess_rst(&pf->s, f->stream_id, SPDY_INVALID_STREAM);
        }
        if (!is_data)
                return 0; /* the client says nothing on the error stream */
        if (p->data_in_fin)
                return spdy_sess_rst(&pf->s, f->stream_id, SPDY_STREAM_ALREADY_CLOSED);
        if (p->state == PAIR_WAITING) {
                r = spdy_sess_pending_add(&p->early, f->data, f->len);
                p->early.fin = f->flags & SPDY_FLAG_FIN;
        } else {
                r = sio_write(p->io, f->data, f->len);
                if (r == -EPIPE)
                        r = 0; /* the connection is ending: its end tells */
                if (r >= 0 && (f->flags & SPDY_FLAG_FIN))
                        r = sio_close_write(p->io); /* half-close */
        }
        p->data_in_fin = f->flags & SPDY_FLAG_FIN;
        if (r == -ENOBUFS)
                return end_pairf(pf, p, "more than %u bytes before the error stream came",
                                 SPDY_SESS_PENDING_MAX);
        return r < 0 ? end_pairf(pf, p, "port %u: %s", p->port, strerror(-r)) : 0;
}

static int rst_stream(struct pf *pf, const struct spdy_frame *f)
{
        bool is_data = false;
        struct pair *p = find_stream(pf, f->stream_id, &is_data);

        if (!p)
                return 0;
        if (!is_data) {
                p->error_out_fin = true; /* it hears no more from us */
                return 0;
        }
        /* The client gave up on this connection. */
        p->data_out_fin = true;
        return end_pair(pf, p, NULL);
}

static int frame(void *p, const struct spdy_frame *f)
{
        struct pf *pf = p;

        switch (f->type) {
        case SPDY_SYN_STREAM:
                return syn_stream(pf, f);
        case SPDY_DATA:
                return data(pf, f);
        case SPDY_RST_STREAM:
                return rst_stream(pf, f);
        default:
                return 0;
        }
}

/* --- the sproto callbacks --- */

static int pf_input(void *p, const uint8_t *buf, size_t len, size_t *used)
{
        return spdy_sess_input(&((struct pf *) p)->s, buf, len, used);
}

static int pf_eof(void *p)
{
        return spdy_sess_eof(&((struct pf *) p)->s);
}

static int pf_event(void *p, struct sio *io, const struct sevent *ev)
{
        struct pf *pf = p;
        struct pair *pair = sio_tag(io);

        if (ev->kind == SEV_DONE) {
                if (ev->code >= 0)
                        return end_pair(pf, pair, NULL);
                return end_pairf(pf, pair, "error forwarding port %u to pod %s: %s", pair->port,
                                 pf->req->pod_id, ev->reason ? ev->reason : strerror(-ev->code));
        }
        if (ev->kind != SEV_OUTPUT || pair->data_out_fin)
                return 0;
        if (ev->len == 0)
                pair->data_out_fin = true; /* the port's side is done sending */
        return spdy_sess_data(&pf->s, pair->data_id, ev->data, ev->len, ev->len == 0);
}

/* Pairs still missing a stream after PAIR_TIMEOUT_MS are reset. */
static int pf_timeout(void *p)
{
        struct pf *pf = p;
        long now = now_ms();
        struct pair *next;
        int r = 0;

        if (spdy_sess_timeout(&pf->s))
                return 0;
        for (struct pair *pair = pf->pairs; pair && r >= 0; pair = next) {
                next = pair->next;
                if (pair->state != PAIR_WAITING || pair->deadline > now)
                        continue;
                log_debug("stream: port-forward %s: timed out waiting for its streams",
                          pair->request_id);
                if (pair->data_id)
                        r = spdy_sess_rst(&pf->s, pair->data_id, SPDY_CANCEL);
                if (r >= 0 && pair->error_id)
                        r = spdy_sess_rst(&pf->s, pair->error_id, SPDY_CANCEL);
                forget(pf, pair);
        }
        arm(pf);
        return r;
}

static bool pf_finished(void *p)
{
        return spdy_sess_finished(&((struct pf *) p)->s);
}

static void pf_free(void *p)
{
        struct pf *pf = p;

        if (!pf)
                return;
        stop(pf);
        spdy_sess_fini(&pf->s);
        free(pf);
}

static const struct sproto pf_proto = {
        .input = pf_input,
        .eof = pf_eof,
        .event = pf_event,
        .timeout = pf_timeout,
        .finished = pf_finished,
        .free_ = pf_free,
};

int pf_spdy_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                  struct uvm_error **err)
{
        struct pf *pf = calloc(1, sizeof(*pf));
        size_t i = 0;
        int r;

        if (!pf || spdy_sess_init(&pf->s, c, frame, stop, pf) < 0) {
                pf_free(pf);
                spdy_sess_refuse(c, 500, "out of memory", NULL);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pf->c = c;
        pf->req = sconn_request(c);
        r = spdy_sess_upgrade(c, versions, ARRAY_SIZE(versions), &i, err);
        if (r < 0) {
                pf_free(pf);
                return r;
        }
        *ret_proto = &pf_proto;
        *ret_p = pf;
        return 0;
}
