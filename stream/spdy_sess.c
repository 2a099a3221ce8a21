/* The SPDY sessions' shared plumbing: upgrade, read loop, output, the end
 * (spdy_sess.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "stream/spdy_sess.h"

#define VERSION_HEADER "X-Stream-Protocol-Version"
#define ACCEPTED_HEADER "X-Accepted-Stream-Protocol-Versions"
#define MAX_SERVED 8
#define RESPONSE_MAX 8192

/* --- the upgrade --- */

static int respond(struct sconn *c, int status, const struct http_header *extra, size_t n_extra,
                   const char *message, struct uvm_error **err)
{
        struct http_header h[2 + MAX_SERVED] = {
                {"Content-Type", "text/plain; charset=utf-8"},
                {"Connection", "close"},
        };
        _cleanup_free_ char *body = NULL, *buf = malloc(RESPONSE_MAX);
        size_t len = 0;
        int n;

        for (size_t i = 0; i < n_extra && i < MAX_SERVED; i++)
                h[2 + i] = extra[i];
        n = asprintf(&body, "%s\n", message);
        if (!buf || n < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (http_format_response(status, h, 2 + (n_extra < MAX_SERVED ? n_extra : MAX_SERVED), body,
                                 (size_t) n, buf, RESPONSE_MAX, &len, NULL) == 0)
                (void) sconn_send(c, buf, len);
        return uvm_error_set(err, EPROTO, "%s", message);
}

int spdy_sess_refuse(struct sconn *c, int status, const char *message, struct uvm_error **err)
{
        return respond(c, status, NULL, 0, message, err);
}

/* "[a b c]", as Go prints a []string, cut short past size. */
static void list_append(char *out, size_t size, const char *elem, size_t len)
{
        size_t used = strlen(out);

        if (used + 1 >= size)
                return;
        snprintf(out + used, size - used, "%s%.*s", used > 1 ? " " : "", (int) len, elem);
}

static int refuse_versions(struct sconn *c, const char *const *served, size_t n_served,
                           struct uvm_error **err)
{
        const struct http_request *req = sconn_http(c);
        struct http_header extra[MAX_SERVED];
        struct http_list_iter it = {0};
        char offered[1024] = "[", accepted[512] = "[", msg[2048];
        const char *e;
        size_t len;

        while (http_list_next(req, VERSION_HEADER, &it, &e, &len))
                list_append(offered, sizeof(offered) - 1, e, len);
        for (size_t i = 0; i < n_served && i < MAX_SERVED; i++) {
                extra[i] = (struct http_header){ACCEPTED_HEADER, served[i]};
                list_append(accepted, sizeof(accepted) - 1, served[i], strlen(served[i]));
        }
        strcat(offered, "]");
        strcat(accepted, "]");
        snprintf(msg, sizeof(msg),
                 "unable to upgrade: no stream protocol in common: the client offers %s, "
                 "this server accepts %s",
                 offered, accepted);
        return respond(c, 403, extra, n_served, msg, err);
}

int spdy_sess_upgrade(struct sconn *c, const char *const *served, size_t n_served,
                      size_t *ret_index, struct uvm_error **err)
{
        const struct http_request *req = sconn_http(c);
        struct http_list_iter it = {0};
        char buf[512];
        const char *e;
        size_t len, out_len = 0;
        bool offered = false;

        if (!http_list_has_token(req, "Connection", "Upgrade"))
                return spdy_sess_refuse(c, 400, "unable to upgrade: missing Connection: Upgrade",
                                        err);
        while (http_list_next(req, VERSION_HEADER, &it, &e, &len)) {
                offered = true;
                for (size_t i = 0; i < n_served; i++) {
                        struct http_header h[] = {
                                {"Connection", "Upgrade"},
                                {"Upgrade", "SPDY/3.1"},
                                {VERSION_HEADER, served[i]},
                        };

                        if (strlen(served[i]) != len || memcmp(served[i], e, len) != 0)
                                continue;
                        int r = http_format_response(101, h, ARRAY_SIZE(h), NULL, 0, buf,
                                                     sizeof(buf), &out_len, err);

                        if (r < 0)
                                return r;
                        if (sconn_send(c, buf, out_len) < 0)
                                return uvm_error_set(err, ENOMEM, "out of memory");
                        *ret_index = i;
                        return 0;
                }
        }
        if (!offered)
                return spdy_sess_refuse(c, 400, "unable to upgrade: " VERSION_HEADER " is required",
                                        err);
        return refuse_versions(c, served, n_served, err);
}

/* --- the session --- */

int spdy_sess_init(struct spdy_sess *s, struct sconn *c,
                   int (*frame)(void *, const struct spdy_frame *), void (*stop)(void *), void *p)
{
        *s = (struct spdy_sess){.c = c, .frame = frame, .stop = stop, .p = p};
        s->spdy = spdy_session_new(NULL);
        return s->spdy ? 0 : -ENOMEM;
}

void spdy_sess_fini(struct spdy_sess *s)
{
        s->spdy = spdy_session_free(s->spdy);
        spdy_buf_free(&s->out);
}

/* Queue what the encoder appended. */
static int flush_frame(struct spdy_sess *s, int r)
{
        if (r >= 0)
                r = sconn_send(s->c, s->out.data, s->out.len);
        s->out.len = 0;
        return r;
}

int spdy_sess_reply(struct spdy_sess *s, uint32_t id)
{
        /* No headers, as Kubernetes replies; spdystream's CreateStream waits for it. */
        return flush_frame(s, spdy_encode_syn_reply(s->spdy, &s->out, id, 0, NULL, 0, NULL));
}

int spdy_sess_data(struct spdy_sess *s, uint32_t id, const void *buf, size_t len, bool fin)
{
        const uint8_t *p = buf;

        do {
                size_t n = len < SPDY_SESS_MAX_FRAME ? len : SPDY_SESS_MAX_FRAME;
                uint8_t flags = fin && n == len ? SPDY_FLAG_FIN : 0;
                int r = spdy_encode_data(&s->out, id, flags, NULL, 0, NULL);

                /* The frame's head from the encoder (which checks the id and
                 * the flags) with the length patched in, then the payload
                 * from where it is (sconn_send_frame). */
                if (r >= 0) {
                        uint8_t *h = s->out.data + s->out.len - SPDY_HEADER_SIZE;

                        h[5] = (uint8_t) (n >> 16);
                        h[6] = (uint8_t) (n >> 8);
                        h[7] = (uint8_t) n;
                        r = sconn_send_frame(s->c, s->out.data, s->out.len, p, n);
                }
                s->out.len = 0;
                if (r < 0)
                        return r;
                p += n;
                len -= n;
        } while (len > 0);
        return 0;
}

int spdy_sess_rst(struct spdy_sess *s, uint32_t id, uint32_t status)
{
        return flush_frame(s, spdy_encode_rst_stream(&s->out, id, status, NULL));
}

static void stop_once(struct spdy_sess *s)
{
        if (!s->stopped) {
                s->stopped = true;
                s->stop(s->p);
        }
}

int spdy_sess_end(struct spdy_sess *s, uint32_t status)
{
        if (s->stopping)
                return 0;
        s->stopping = true;
        stop_once(s);
        sconn_deadline(s->c, SPDY_SESS_LINGER_MS);
        return flush_frame(
                s, spdy_encode_goaway(&s->out, spdy_session_last_stream(s->spdy), status, NULL));
}

static int dispatch(struct spdy_sess *s, const struct spdy_frame *f)
{
        switch (f->type) {
        case SPDY_SYN_STREAM:
        case SPDY_DATA:
        case SPDY_RST_STREAM:
                return s->frame(s->p, f);
        case SPDY_PING:
                /* The client's pings are odd; even ones would answer ours (none). */
                if (f->ping_id & 1)
                        return flush_frame(s, spdy_encode_ping(&s->out, f->ping_id, NULL));
                return 0;
        case SPDY_GOAWAY:
                return spdy_sess_end(s, SPDY_GOAWAY_OK);
        default:
                /* SETTINGS, WINDOW_UPDATE (no flow control), HEADERS, SYN_REPLY. */
                return 0;
        }
}

/* A decoder fault: a stream error resets that stream, a session error ends it. */
static int fault(struct spdy_sess *s, int r, const struct uvm_error *e)
{
        const struct spdy_fault *f = spdy_session_fault(s->spdy);

        log_debug("stream: spdy: %s", e ? e->msg : strerror(-r));
        if (r == -EBADMSG && !f->session)
                return spdy_sess_rst(s, f->stream_id, f->status);
        return spdy_sess_end(s, f->session ? f->status : SPDY_GOAWAY_PROTOCOL_ERROR);
}

int spdy_sess_input(struct spdy_sess *s, const uint8_t *buf, size_t len, size_t *used)
{
        size_t off = 0;
        int r = 0;

        while (r >= 0 && !s->stopping) {
                _cleanup_error_ struct uvm_error *e = NULL;
                struct spdy_frame f;
                size_t n = 0;

                if (off < len) {
                        r = spdy_feed(s->spdy, buf + off, len - off, &n, &e);
                        if (r < 0) {
                                r = fault(s, r, e);
                                break;
                        }
                        off += n;
                }
                r = spdy_next(s->spdy, &f, &e);
                if (r == 1)
                        r = dispatch(s, &f);
                else if (r < 0)
                        r = fault(s, r, e);
                else if (off == len)
                        break;
        }
        /* Once it ends, what the client sends is read and dropped. */
        *used = s->stopping ? len : off;
        return r;
}

int spdy_sess_eof(struct spdy_sess *s)
{
        if (!s->stopping && spdy_session_partial(s->spdy) > 0)
                log_debug("stream: spdy: the connection ended inside a frame");
        stop_once(s);
        s->stopping = s->over = true;
        return 0;
}

bool spdy_sess_timeout(struct spdy_sess *s)
{
        if (!s->stopping)
                return false;
        s->over = true;
        return true;
}

bool spdy_sess_finished(const struct spdy_sess *s)
{
        return s->over;
}

/* --- input for ios not started yet --- */

int spdy_sess_pending_add(struct spdy_sess_pending *p, const void *buf, size_t len)
{
        uint8_t *n;

        if (len == 0)
                return 0;
        if (len > SPDY_SESS_PENDING_MAX - p->len)
                return -ENOBUFS;
        n = realloc(p->buf, p->len + len);
        if (!n)
                return -ENOMEM;
        memcpy(n + p->len, buf, len);
        p->buf = n;
        p->len += len;
        return 0;
}

int spdy_sess_pending_flush(struct spdy_sess_pending *p, struct sio *io)
{
        int r = p->len > 0 ? sio_write(io, p->buf, p->len) : 0;

        if (r == -EPIPE)
                r = 0; /* the input side is gone already: the io's end tells */
        if (r >= 0 && p->fin)
                r = sio_close_write(io);
        spdy_sess_pending_free(p);
        return r;
}

void spdy_sess_pending_free(struct spdy_sess_pending *p)
{
        free(p->buf);
        *p = (struct spdy_sess_pending){0};
}
