/* Remote command (exec, attach) over SPDY/3.1, as Kubernetes' kubelet
 * serves it (pkg/kubelet/cri/streaming/remotecommand). The client opens one
 * stream per channel, named by its "streamtype" header: error, stdin,
 * stdout, stderr, resize. Once the set the token asks for is there, the
 * command starts; its exit goes on the error stream as a Status (v4 on) or
 * an error's text (v1 to v3), then GOAWAY. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/macros.h"
#include "stream/spdy_sess.h"

#define STREAMS_TIMEOUT_MS 30000 /* Kubernetes' DefaultStreamCreationTimeout */
#define RESIZE_MAX 4096          /* bytes of one resize message */
#define RESIZE_DEPTH 4

/* Served, best first; v5 changes nothing on SPDY (its CLOSE signal is WebSocket's). */
static const char *const versions[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
        "v2.channel.k8s.io", "channel.k8s.io",
};

enum rc_stream { RC_ERROR, RC_STDIN, RC_STDOUT, RC_STDERR, RC_RESIZE, RC_N };

static const char *const stream_names[RC_N] = {"error", "stdin", "stdout", "stderr", "resize"};

enum rc_state {
        RC_WAITING, /* for the client's streams */
        RC_RUNNING, /* the command runs */
        RC_ENDED,   /* status sent or the client gone; nothing runs */
};

struct rc {
        struct spdy_sess s;
        struct sconn *c;
        const struct token_request *req;
        unsigned version; /* 1 to 5 */
        enum rc_state state;
        unsigned want;                        /* bit per enum rc_stream: the set to wait for */
        uint32_t id[RC_N];                    /* 0: not opened */
        bool in_fin[RC_N];                    /* the client ended its side */
        bool out_fin[RC_N];                   /* we ended ours, or the client reset the stream */
        struct sio *io;                       /* while RC_RUNNING */
        struct spdy_sess_pending stdin_early; /* stdin before the start */
        json_tokener *tok;                    /* resize messages */
        size_t resize_len;                    /* bytes of the message being parsed */
        unsigned rows, cols;                  /* a size that came before the start */
};

static const char *what_failed(const struct rc *rc)
{
        return rc->req->kind == TOKEN_ATTACH ? "error attaching to container"
                                             : "error executing command in container";
}

/* The end: FIN on the output streams, the status on the error stream,
 * GOAWAY (which stops the io). code and reason as for kstatus_payload. */
static int finish(struct rc *rc, int code, const char *reason)
{
        _cleanup_free_ char *status = NULL;
        size_t len = 0;
        int r = 0;

        if (rc->state == RC_ENDED)
                return 0;
        rc->state = RC_ENDED;
        for (int t = RC_STDOUT; t <= RC_STDERR && r >= 0; t++)
                if (rc->id[t] && !rc->out_fin[t]) {
                        rc->out_fin[t] = true;
                        r = spdy_sess_data(&rc->s, rc->id[t], NULL, 0, true);
                }
        if (r >= 0 && rc->id[RC_ERROR] && !rc->out_fin[RC_ERROR]) {
                status = kstatus_payload(rc->version, code, reason, &len);
                if (!status)
                        return -ENOMEM;
                rc->out_fin[RC_ERROR] = true;
                r = spdy_sess_data(&rc->s, rc->id[RC_ERROR], status, len, true);
        }
        return r < 0 ? r : spdy_sess_end(&rc->s, SPDY_GOAWAY_OK);
}

static int fail(struct rc *rc, int code, const char *fmt, ...) _printf_(3, 4);
static int fail(struct rc *rc, int code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_debug("stream: %s: %s", rc->req->kind == TOKEN_ATTACH ? "attach" : "exec", msg);
        return finish(rc, -code, msg);
}

static void stop(void *p)
{
        struct rc *rc = p;

        if (rc->io)
                sio_close(rc->io);
        rc->io = NULL;
        rc->state = RC_ENDED;
}

/* --- resize: a stream of JSON objects {"Width":N,"Height":N} --- */

/* Go's encoding/json, which Kubernetes decodes them with, matches field
 * names case-insensitively and ignores others. */
static int size_field(json_object *o, const char *name, unsigned *ret)
{
        json_object_object_foreach (o, key, v) {
                int64_t n;

                if (strcasecmp(key, name) != 0)
                        continue;
                if (!json_object_is_type(v, json_type_int))
                        return -EINVAL;
                n = json_object_get_int64(v);
                if (n < 0 || n > UINT16_MAX)
                        return -EINVAL;
                *ret = (unsigned) n;
        }
        return 0;
}

static int apply_size(struct rc *rc, json_object *o)
{
        unsigned width = 0, height = 0;
        int r;

        if (!json_object_is_type(o, json_type_object) || size_field(o, "width", &width) < 0 ||
            size_field(o, "height", &height) < 0)
                return fail(rc, EINVAL, "resize: not a terminal size: %.128s",
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        if (width == 0 || height == 0)
                return 0; /* the kubelet skips those too */
        if (rc->state == RC_WAITING) {
                rc->rows = height;
                rc->cols = width;
                return 0;
        }
        r = rc->io ? sio_resize(rc->io, height, width) : 0;
        if (r < 0)
                log_debug("stream: resize to %ux%u: %s, ignoring", width, height, strerror(-r));
        return 0;
}

static int resize_input(struct rc *rc, const uint8_t *buf, size_t len)
{
        while (len > 0 && rc->state != RC_ENDED) {
                json_object *o = json_tokener_parse_ex(rc->tok, (const char *) buf, (int) len);
                enum json_tokener_error je = json_tokener_get_error(rc->tok);
                size_t used =
                        je == json_tokener_continue ? len : json_tokener_get_parse_end(rc->tok);
                int r;

                rc->resize_len += used;
                if (je != json_tokener_continue && je != json_tokener_success)
                        return fail(rc, EINVAL, "resize: not JSON: %s",
                                    json_tokener_error_desc(je));
                if (rc->resize_len > RESIZE_MAX) {
                        json_object_put(o);
                        return fail(rc, EMSGSIZE, "resize: a message over %u bytes", RESIZE_MAX);
                }
                if (je == json_tokener_continue)
                        return 0;
                r = apply_size(rc, o);
                json_object_put(o);
                json_tokener_reset(rc->tok);
                rc->resize_len = 0;
                if (r < 0)
                        return r;
                buf += used;
                len -= used;
        }
        return 0;
}

/* --- the streams --- */

static int start(struct rc *rc)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        const struct stream_backend *b = sconn_backend(rc->c);
        struct stream_io *bio = NULL;
        struct sio *io;
        int r;

        sconn_deadline(rc->c, 0);
        io = sio_new(rc->c, rc);
        if (!io)
                return -ENOMEM;
        if (rc->req->kind == TOKEN_ATTACH)
                r = b->attach ? b->attach(b->data, rc->req, sio_sink(io), &bio, &e)
                              : uvm_error_set(&e, ENOTSUP, "attach is not supported");
        else
                r = b->exec ? b->exec(b->data, rc->req, rc->rows, rc->cols, sio_sink(io), &bio, &e)
                            : uvm_error_set(&e, ENOTSUP, "exec is not supported");
        if (r < 0) {
                sio_close(io);
                return fail(rc, -r, "%s: %s", what_failed(rc), e ? e->msg : strerror(-r));
        }
        sio_attach(io, bio);
        rc->io = io;
        rc->state = RC_RUNNING;
        if (rc->req->kind == TOKEN_ATTACH && rc->rows > 0)
                (void) sio_resize(io, rc->rows, rc->cols);
        r = spdy_sess_pending_flush(&rc->stdin_early, io);
        return r < 0 ? fail(rc, -r, "stdin: %s", strerror(-r)) : 0;
}

static int find(const struct rc *rc, uint32_t id)
{
        for (int t = 0; t < RC_N && id; t++)
                if (rc->id[t] == id)
                        return t;
        return -1;
}

/* The client ended its side of stream t. */
static int in_fin(struct rc *rc, int t)
{
        rc->in_fin[t] = true;
        if (t != RC_STDIN)
                return 0;
        if (rc->state == RC_WAITING) {
                rc->stdin_early.fin = true;
                return 0;
        }
        return rc->io ? sio_close_write(rc->io) : 0;
}

static int stream_type(const struct spdy_header *h)
{
        if (h && strlen(h->value) == h->value_len)
                for (int t = 0; t < RC_N; t++)
                        if (STR_EQ(h->value, stream_names[t]))
                                return t;
        return -1;
}

static int syn_stream(struct rc *rc, const struct spdy_frame *f)
{
        const struct spdy_header *h = spdy_header_find(f->headers, f->n_headers, "streamtype");
        int t = stream_type(h), r;

        if (rc->state == RC_ENDED)
                return spdy_sess_rst(&rc->s, f->stream_id, SPDY_REFUSED_STREAM);
        if (t < 0 || rc->id[t] || !(rc->want & 1u << t)) {
                /* Reset it, so that a client waiting for its reply hears. */
                r = spdy_sess_rst(&rc->s, f->stream_id, SPDY_PROTOCOL_ERROR);
                if (r < 0)
                        return r;
                if (t < 0)
                        return fail(rc, EPROTO, "unexpected stream type \"%.64s\"",
                                    h ? h->value : "");
                return fail(rc, EPROTO, "%s stream %s", stream_names[t],
                            rc->id[t] ? "opened twice" : "not asked for");
        }
        rc->id[t] = f->stream_id;
        r = spdy_sess_reply(&rc->s, f->stream_id);
        if (r >= 0 && (f->flags & SPDY_FLAG_FIN))
                r = in_fin(rc, t);
        for (int i = 0; i < RC_N; i++)
                if ((rc->want & 1u << i) && !rc->id[i])
                        return r;
        return r < 0 ? r : start(rc);
}

static int stdin_input(struct rc *rc, const uint8_t *buf, size_t len)
{
        int r;

        if (rc->state == RC_WAITING) {
                r = spdy_sess_pending_add(&rc->stdin_early, buf, len);
                return r < 0 ? fail(rc, -r, "stdin before the streams were set up: %s",
                                    strerror(-r))
                             : 0;
        }
        r = rc->io ? sio_write(rc->io, buf, len) : 0;
        if (r == -EPIPE)
                return 0; /* the command closed its stdin: the rest is dropped */
        return r < 0 ? fail(rc, -r, "stdin: %s", strerror(-r)) : 0;
}

static int data(struct rc *rc, const struct spdy_frame *f)
{
        int t = find(rc, f->stream_id), r = 0;

        if (t < 0)
                return spdy_sess_rst(&rc->s, f->stream_id, SPDY_INVALID_STREAM);
        if (rc->in_fin[t])
                return spdy_sess_rst(&rc->s, f->stream_id, SPDY_STREAM_ALREADY_CLOSED);
        if (rc->state == RC_ENDED)
                return 0;
        /* Nothing is read from the error, stdout and stderr streams. */
        if (t == RC_STDIN)
                r = stdin_input(rc, f->data, f->len);
        else if (t == RC_RESIZE)
                r = resize_input(rc, f->data, f->len);
        if (r >= 0 && (f->flags & SPDY_FLAG_FIN) && rc->state != RC_ENDED)
                r = in_fin(rc, t);
        return r;
}

static int rst_stream(struct rc *rc, const struct spdy_frame *f)
{
        int t = find(rc, f->stream_id);

        if (t < 0)
                return 0;
        rc->out_fin[t] = true; /* no more DATA on it */
        return rc->in_fin[t] || rc->state == RC_ENDED ? 0 : in_fin(rc, t);
}

static int frame(void *p, const struct spdy_frame *f)
{
        struct rc *rc = p;

        switch (f->type) {
        case SPDY_SYN_STREAM:
                return syn_stream(rc, f);
        case SPDY_DATA:
                return data(rc, f);
        case SPDY_RST_STREAM:
                return rst_stream(rc, f);
        default:
                return 0;
        }
}

/* --- the sproto callbacks --- */

static int rc_input(void *p, const uint8_t *buf, size_t len, size_t *used)
{
        return spdy_sess_input(&((struct rc *) p)->s, buf, len, used);
}

static int rc_eof(void *p)
{
        return spdy_sess_eof(&((struct rc *) p)->s);
}

static int rc_event(void *p, struct sio *io, const struct sevent *ev)
{
        struct rc *rc = p;
        int t = ev->stream == STREAM_STDERR ? RC_STDERR : RC_STDOUT;

        if (ev->kind == SEV_DONE) {
                char reason[512];

                if (ev->code >= 0)
                        return finish(rc, ev->code, NULL);
                snprintf(reason, sizeof(reason), "%s: %s", what_failed(rc),
                         ev->reason ? ev->reason : strerror(-ev->code));
                return finish(rc, ev->code, reason);
        }
        if (ev->kind != SEV_OUTPUT || !rc->id[t] || rc->out_fin[t])
                return 0; /* not asked for, or reset by the client */
        if (ev->len == 0)
                rc->out_fin[t] = true;
        return spdy_sess_data(&rc->s, rc->id[t], ev->data, ev->len, ev->len == 0);
}

static int rc_timeout(void *p)
{
        struct rc *rc = p;

        if (spdy_sess_timeout(&rc->s) || rc->state != RC_WAITING)
                return 0;
        return fail(rc, ETIMEDOUT, "timed out waiting for the client to create streams");
}

static bool rc_finished(void *p)
{
        return spdy_sess_finished(&((struct rc *) p)->s);
}

static void rc_free(void *p)
{
        struct rc *rc = p;

        if (!rc)
                return;
        stop(rc);
        spdy_sess_fini(&rc->s);
        spdy_sess_pending_free(&rc->stdin_early);
        if (rc->tok)
                json_tokener_free(rc->tok);
        free(rc);
}

static const struct sproto rc_proto = {
        .input = rc_input,
        .eof = rc_eof,
        .event = rc_event,
        .timeout = rc_timeout,
        .finished = rc_finished,
        .free_ = rc_free,
};

static unsigned wanted(const struct token_request *req, unsigned version)
{
        unsigned want = 1u << RC_ERROR;

        if (req->want_stdin)
                want |= 1u << RC_STDIN;
        if (req->want_stdout)
                want |= 1u << RC_STDOUT;
        if (req->want_stderr && !req->tty) /* a terminal has no separate stderr */
                want |= 1u << RC_STDERR;
        if (req->tty && version >= 3)
                want |= 1u << RC_RESIZE;
        return want;
}

int rc_spdy_start(struct sconn *c, const struct sproto **ret_proto, void **ret_p,
                  struct uvm_error **err)
{
        const struct token_request *req = sconn_request(c);
        struct rc *rc;
        size_t i = 0;
        int r;

        if (!req->want_stdin && !req->want_stdout && !req->want_stderr)
                return spdy_sess_refuse(
                        c, 400, "you must specify at least 1 of stdin, stdout, stderr", err);
        rc = calloc(1, sizeof(*rc));
        if (!rc || spdy_sess_init(&rc->s, c, frame, stop, rc) < 0 ||
            !(rc->tok = json_tokener_new_ex(RESIZE_DEPTH))) {
                rc_free(rc);
                spdy_sess_refuse(c, 500, "out of memory", NULL);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        json_tokener_set_flags(rc->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        rc->c = c;
        rc->req = req;
        r = spdy_sess_upgrade(c, versions, ARRAY_SIZE(versions), &i, err);
        if (r < 0) {
                rc_free(rc);
                return r;
        }
        rc->version = (unsigned) (ARRAY_SIZE(versions) - i);
        rc->want = wanted(req, rc->version);
        sconn_deadline(c, STREAMS_TIMEOUT_MS);
        *ret_proto = &rc_proto;
        *ret_p = rc;
        return 0;
}
