/* Remote command (exec, attach) over WebSocket: Kubernetes' channel.k8s.io
 * protocols v1 to v5 (ws.h), as kubelet serves them. The command starts
 * right after the 101 (WebSocket has no stream-creation phase); it ends
 * with its status on the error channel and a close frame, after which the
 * client's close is awaited (ws_sess.h). */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/macros.h"
#include "stream/ws_sess.h"

#define RESIZE_MAX 4096 /* terminal sizes not yet a whole JSON object */

struct rc_ws {
        struct ws_sess s; /* running: the command may run; channels flow */
        struct sio *io;   /* NULL once the command ended or failed to start */
        bool tty, want_stdin, want_stdout, want_stderr, stdin_closed;
        char resize[RESIZE_MAX];
        size_t resize_len;
};

static void rc_end_io(struct rc_ws *rc)
{
        if (rc->io)
                sio_close(rc->io);
        rc->io = NULL;
}

/* The session ends: an exec is killed, an attach detached. */
static void rc_stop(void *p)
{
        rc_end_io(p);
}

static void rc_free(void *p)
{
        struct rc_ws *rc = p;

        if (!rc)
                return;
        rc_end_io(rc);
        ws_sess_fini(&rc->s);
        free(rc);
}

static void rc_freep(struct rc_ws **rc)
{
        rc_free(*rc);
}

/* The command is over (or never ran): its status, then the close. */
static int finish(struct rc_ws *rc, int code, const char *reason)
{
        size_t len = 0;
        char *status;
        int r;

        rc_end_io(rc);
        if (rc->s.state != WS_SESS_RUNNING)
                return 0;
        if (code < 0 && !reason)
                reason = strerror(-code);
        status = kstatus_payload(rc->s.proto.version, code, reason, &len);
        if (!status)
                return -ENOMEM;
        r = len > 0 ? ws_sess_channel(&rc->s, WS_CH_ERROR, status, len) : 0;
        free(status);
        return r < 0 ? r : ws_sess_close(&rc->s, WS_CLOSE_NORMAL, NULL);
}

/* --- the client's channels --- */

static int on_stdin(struct rc_ws *rc, const uint8_t *data, size_t len)
{
        int r;

        if (!rc->want_stdin || rc->stdin_closed || !rc->io)
                return 0; /* Kubernetes drops input for a channel it does not read */
        r = sio_write(rc->io, data, len);
        return r == -EPIPE ? 0 : r; /* the command closed its input */
}

/* v5: the client closes a channel; for stdin that is EOF. */
static int on_channel_close(struct rc_ws *rc, const uint8_t *data, size_t len)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        uint8_t target;
        int r;

        if (ws_channel_close_target(data, len, &target, &e) < 0)
                return finish(rc, -EBADMSG, e->msg);
        if (target != WS_CH_STDIN || !rc->want_stdin || rc->stdin_closed || !rc->io)
                return 0;
        rc->stdin_closed = true;
        r = sio_close_write(rc->io);
        return r == -EPIPE ? 0 : r;
}

/* {"Width": N, "Height": N}, names matched without case as Go's JSON does. */
static int apply_size(struct rc_ws *rc, json_object *o)
{
        int64_t size[2] = {0, 0}; /* width, height */

        if (!json_object_is_type(o, json_type_object))
                return finish(rc, -EINVAL, "terminal size: not a JSON object");
        json_object_object_foreach (o, key, v) {
                int i = strcasecmp(key, "Width") == 0 ? 0 : strcasecmp(key, "Height") == 0 ? 1 : -1;

                if (i < 0)
                        continue;
                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
                    json_object_get_int64(v) > 65535)
                        return finish(rc, -EINVAL, "terminal size: not an integer of 0 to 65535");
                size[i] = json_object_get_int64(v);
        }
        /* A zero size is skipped, as kubelet does. */
        if (rc->io && size[0] > 0 && size[1] > 0) {
                int r = sio_resize(rc->io, (unsigned) size[1], (unsigned) size[0]);

                if (r < 0)
                        log_debug("stream: resize to %lldx%lld: %s, ignoring", (long long) size[0],
                                  (long long) size[1], strerror(-r));
        }
        return 0;
}

/* Every whole JSON object at the start of rc->resize; a partial one stays. */
static int parse_sizes(struct rc_ws *rc)
{
        while (rc->s.state == WS_SESS_RUNNING) {
                size_t skip = 0, end;
                enum json_tokener_error jerr;
                json_tokener *tok;
                json_object *o;
                int r;

                while (skip < rc->resize_len && isspace((unsigned char) rc->resize[skip]))
                        skip++;
                memmove(rc->resize, rc->resize + skip, rc->resize_len - skip);
                rc->resize_len -= skip;
                if (rc->resize_len == 0)
                        return 0;
                tok = json_tokener_new();
                if (!tok)
                        return -ENOMEM;
                json_tokener_set_flags(tok,
                                       JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
                o = json_tokener_parse_ex(tok, rc->resize, (int) rc->resize_len);
                jerr = json_tokener_get_error(tok);
                end = json_tokener_get_parse_end(tok);
                json_tokener_free(tok);
                if (jerr == json_tokener_continue)
                        return rc->resize_len < RESIZE_MAX
                                       ? 0
                                       : finish(rc, -EMSGSIZE, "terminal size: over 4 KiB of JSON");
                if (jerr != json_tokener_success) {
                        char msg[160];

                        snprintf(msg, sizeof(msg), "terminal size is not JSON: %s",
                                 json_tokener_error_desc(jerr));
                        return finish(rc, -EINVAL, msg);
                }
                r = apply_size(rc, o);
                json_object_put(o);
                if (r < 0)
                        return r;
                end = end < rc->resize_len ? end : rc->resize_len;
                memmove(rc->resize, rc->resize + end, rc->resize_len - end);
                rc->resize_len -= end;
        }
        return 0;
}

static int on_resize(struct rc_ws *rc, const uint8_t *data, size_t len)
{
        if (!rc->tty)
                return 0; /* only a terminal has a size */
        if (len > RESIZE_MAX - rc->resize_len)
                return finish(rc, -EMSGSIZE, "terminal size: over 4 KiB of JSON");
        memcpy(rc->resize + rc->resize_len, data, len);
        rc->resize_len += len;
        return parse_sizes(rc);
}

static int rc_data(void *p, struct ws_message *m)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct rc_ws *rc = p;
        const uint8_t *data = NULL;
        size_t len = 0;
        uint8_t ch = 0;
        int r = ws_channel_decode(m, rc->s.proto.base64, &ch, &data, &len, &e);

        if (r < 0)
                return finish(rc, r, e->msg);
        if (r == 0)
                return 0; /* empty: Kubernetes skips those */
        switch (ch) {
        case WS_CH_STDIN:
                return on_stdin(rc, data, len);
        case WS_CH_RESIZE:
                return on_resize(rc, data, len);
        case WS_CH_CLOSE:
                return rc->s.proto.version >= 5 ? on_channel_close(rc, data, len) : 0;
        default:
                return 0; /* a channel the server does not read: ignored, as kubelet does */
        }
}

/* --- the command --- */

static int rc_event(void *p, struct sio *io, const struct sevent *ev)
{
        struct rc_ws *rc = p;
        bool want = ev->stream == STREAM_STDERR ? rc->want_stderr : rc->want_stdout;

        if (io != rc->io)
                return 0;
        if (ev->kind == SEV_DONE)
                return finish(rc, ev->code, ev->reason);
        if (ev->kind != SEV_OUTPUT || ev->len == 0 || !want)
                return 0; /* an output that ended needs no message */
        return ws_sess_channel(&rc->s, ev->stream == STREAM_STDERR ? WS_CH_STDERR : WS_CH_STDOUT,
                               ev->data, ev->len);
}

static int start_command(struct rc_ws *rc)
{
        const struct stream_backend *b = sconn_backend(rc->s.c);
        const struct token_request *req = sconn_request(rc->s.c);
        _cleanup_error_ struct uvm_error *e = NULL;
        struct stream_io *bio = NULL;
        int r;

        rc->io = sio_new(rc->s.c, rc);
        if (!rc->io)
                return -ENOMEM;
        if (req->kind == TOKEN_EXEC && b->exec)
                r = b->exec(b->data, req, 0, 0, sio_sink(rc->io), &bio, &e);
        else if (req->kind == TOKEN_ATTACH && b->attach)
                r = b->attach(b->data, req, sio_sink(rc->io), &bio, &e);
        else
                r = uvm_error_set(&e, ENOTSUP, "this runtime cannot %s",
                                  req->kind == TOKEN_ATTACH ? "attach" : "exec");
        if (r < 0)
                return finish(rc, r, e ? e->msg : NULL);
        sio_attach(rc->io, bio);
        return 0;
}

static const struct ws_sess_ops rc_ws_ops = {
        .data = rc_data,
        .event = rc_event,
        .stop = rc_stop,
        .free_ = rc_free,
        .close_reason = true,
};

int rc_ws_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                struct uvm_error **err)
{
        const struct token_request *req = sconn_request(c);
        _cleanup_(rc_freep) struct rc_ws *rc = calloc(1, sizeof(*rc));
        uint8_t ch;
        int r;

        if (!rc || ws_sess_init(&rc->s, c, &rc_ws_ops, rc) < 0) {
                ws_sess_refuse(c, 500, "out of memory");
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = ws_sess_handshake(&rc->s, err);
        if (r >= 0)
                r = ws_sess_accept(&rc->s, WS_REMOTECOMMAND_PROTOCOLS, err);
        if (r < 0)
                return r;
        rc->tty = req->tty;
        rc->want_stdin = req->want_stdin;
        rc->want_stdout = req->want_stdout;
        /* With a terminal, stderr is in stdout. */
        rc->want_stderr = req->want_stderr && !req->tty;
        /* An empty message on the first channel the client reads says the
         * session is up, as kubelet sends. */
        ch = rc->want_stdout ? WS_CH_STDOUT : rc->want_stderr ? WS_CH_STDERR : WS_CH_ERROR;
        r = ws_sess_channel(&rc->s, ch, NULL, 0);
        if (r >= 0)
                r = start_command(rc);
        if (r < 0)
                return uvm_error_set(err, -r, "remote command session: %s", strerror(-r));
        *ret_proto = &ws_sess_proto;
        *ret_p = &TAKE_PTR(rc)->s;
        return 0;
}
