/* The WebSocket sessions' shared plumbing: upgrade, read loop, output, the
 * end (ws_sess.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/macros.h"
#include "stream/ws_sess.h"

#define CLOSE_REASON_MAX 96 /* of the 123 bytes a close frame allows */

/* --- the upgrade --- */

void ws_sess_refuse(struct sconn *c, int status, const char *msg)
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

/* Queue the refusal for r, an upgrade step's failure; r. */
static int refuse_error(struct sconn *c, int r, struct uvm_error **err)
{
        int status = r == -EPROTONOSUPPORT ? 426 : r == -ENOMEM ? 500 : 400;

        ws_sess_refuse(c, status, err && *err ? (*err)->msg : "bad WebSocket handshake");
        return r;
}

int ws_sess_handshake(struct ws_sess *s, struct uvm_error **err)
{
        int r = ws_handshake_check(sconn_http(s->c), s->accept, err);

        return r < 0 ? refuse_error(s->c, r, err) : r;
}

int ws_sess_accept(struct ws_sess *s, const char *const *ours, struct uvm_error **err)
{
        char buf[512];
        size_t len = 0;
        int r;

        r = ws_select_subprotocol(sconn_http(s->c), ours, &s->proto, err);
        if (r >= 0 && s->ops->fits)
                r = s->ops->fits(s->p, &s->proto, err);
        if (r >= 0)
                r = ws_handshake_response(s->accept, s->proto.name, buf, sizeof(buf), &len, err);
        if (r >= 0)
                r = sconn_send(s->c, buf, len);
        return r < 0 ? refuse_error(s->c, r, err) : r;
}

/* --- frames for the client --- */

int ws_sess_channel(struct ws_sess *s, uint8_t ch, const void *data, size_t len)
{
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t head[WS_MAX_HEADER + 1];
        size_t n = 0;
        int r;

        /* Binary: the frame's head, then the data from where it is
         * (sconn_send_frame: straight to the socket when nothing waits, else
         * into the client's buffer). */
        if (!s->proto.base64) {
                n = ws_frame_header(head, WS_OP_BINARY, true, (uint64_t) len + 1);
                head[n++] = ch;
                return sconn_send_frame(s->c, head, n, data, len);
        }
        r = ws_channel_encode(ch, data, len, true, &buf, &n, NULL);
        return r < 0 ? r : sconn_send(s->c, buf, n);
}

int ws_sess_close(struct ws_sess *s, uint16_t code, const char *reason)
{
        _cleanup_free_ uint8_t *buf = NULL;
        char cut[CLOSE_REASON_MAX + 1];
        size_t n = 0;
        int r;

        snprintf(cut, sizeof(cut), "%s", code && reason ? reason : "");
        r = ws_encode_close(code, cut, &buf, &n, NULL);
        if (r < 0) /* cut inside a character, or not UTF-8 */
                r = ws_encode_close(code, NULL, &buf, &n, NULL);
        if (r < 0)
                r = ws_encode_close(WS_CLOSE_NORMAL, NULL, &buf, &n, NULL);
        if (s->state == WS_SESS_RUNNING) {
                s->state = WS_SESS_CLOSING;
                sconn_deadline(s->c, WS_SESS_CLOSE_WAIT_MS);
        }
        return r < 0 ? r : sconn_send(s->c, buf, n);
}

/* Stop, close with code unless closed already (r is returned then), done. */
static int end(struct ws_sess *s, uint16_t code, const char *reason, int r)
{
        s->ops->stop(s->p);
        if (s->state == WS_SESS_RUNNING)
                r = ws_sess_close(s, code, reason);
        s->state = WS_SESS_DONE;
        return r;
}

int ws_sess_abort(struct ws_sess *s, uint16_t code)
{
        return end(s, code, NULL, 0);
}

/* --- the session --- */

int ws_sess_init(struct ws_sess *s, struct sconn *c, const struct ws_sess_ops *ops, void *p)
{
        *s = (struct ws_sess){.c = c, .ops = ops, .p = p};
        s->dec = ws_decoder_new(0);
        return s->dec ? 0 : -ENOMEM;
}

void ws_sess_fini(struct ws_sess *s)
{
        s->dec = ws_decoder_free(s->dec);
}

static int on_message(struct ws_sess *s, struct ws_message *m)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r;

        switch (m->opcode) {
        case WS_OP_CLOSE:
                /* Echo the client's code (RFC 6455 5.5.1). */
                return end(s, m->close_code == WS_CLOSE_NO_STATUS ? 0 : m->close_code, NULL, 0);
        case WS_OP_PING:
                if (s->state != WS_SESS_RUNNING)
                        return 0;
                r = ws_encode_frame(WS_OP_PONG, m->data, m->len, &buf, &n, NULL);
                return r < 0 ? r : sconn_send(s->c, buf, n);
        case WS_OP_PONG:
                return 0;
        default:
                return s->state == WS_SESS_RUNNING ? s->ops->data(s->p, m) : 0;
        }
}

static int sess_input(void *p, const uint8_t *buf, size_t len, size_t *used)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct ws_sess *s = p;
        struct ws_message m = {0};
        int r;

        if (s->state == WS_SESS_DONE) {
                *used = len;
                return 0;
        }
        r = ws_decoder_feed(s->dec, buf, len, used, &m, &e);
        if (r < 0) {
                /* The stream cannot be read on: fail the connection. */
                const char *reason = s->ops->close_reason && e ? e->msg : NULL;

                *used = len;
                r = end(s, ws_close_code_of_error(r), reason, r);
                return r < 0 ? r : 0;
        }
        if (r == 0)
                return 0;
        r = on_message(s, &m);
        ws_message_clear(&m);
        return r;
}

static int sess_eof(void *p)
{
        struct ws_sess *s = p;

        s->ops->stop(s->p);
        s->state = WS_SESS_DONE;
        return 0;
}

static int sess_event(void *p, struct sio *io, const struct sevent *ev)
{
        struct ws_sess *s = p;

        return s->state == WS_SESS_RUNNING ? s->ops->event(s->p, io, ev) : 0;
}

static int sess_timeout(void *p)
{
        ((struct ws_sess *) p)->state = WS_SESS_DONE; /* the client did not answer our close */
        return 0;
}

static bool sess_finished(void *p)
{
        return ((struct ws_sess *) p)->state == WS_SESS_DONE;
}

static void sess_free(void *p)
{
        struct ws_sess *s = p;

        if (s)
                s->ops->free_(s->p);
}

const struct sproto ws_sess_proto = {
        .input = sess_input,
        .eof = sess_eof,
        .event = sess_event,
        .timeout = sess_timeout,
        .finished = sess_finished,
        .free_ = sess_free,
};
