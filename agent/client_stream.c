/*
 * Streaming sessions on the host side (agent/client.h): an exec with
 * streamed stdio, an attach, a port-forward connection.
 *
 * The agent sends nothing of a session before its response; but the reader
 * thread hands the response to the waiting caller and goes on with the next
 * frames before that caller could register the session. So a frame for a
 * session id we do not know, while a start is in flight, waits (briefly) for
 * the caller to register it. A freed session stays known until the agent
 * closed its streams and told its end, so late bytes are credited and
 * dropped instead of being taken for a container's.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/client-internal.h"
#include "agent/conn.h"
#include "common/cond.h"
#include "common/log.h"

#define START_WAIT_MS 1000 /* a frame waits this long for its session's start */
#define CLOSE_TIMEOUT_MS 5000
#define MAX_ROWS 65535

enum sess_kind { SESS_EXEC, SESS_ATTACH, SESS_PORT };

struct agent_stream {
        struct agent_client *c;  /* immutable */
        struct agent_conn *conn; /* immutable */
        struct client_sessions *ss;
        enum sess_kind kind;
        char *ctr_id;
        uint64_t id, in, out[2]; /* immutable once registered; 0: none */
        struct agent_stream_ops ops;
        /* Under ss->lock. */
        bool open[2]; /* the agent has not closed out[i] */
        bool done, freed, in_closed;
        struct agent_stream *next;
};

struct client_sessions {
        pthread_mutex_t lock; /* guards everything here and the sessions' fields */
        pthread_cond_t cond;  /* credit came, a start finished, a session ended */
        struct agent_stream *list;
        unsigned starting; /* start calls in flight */
        bool down;         /* the connection went */
};

struct client_sessions *client_sessions_new(void)
{
        struct client_sessions *ss = calloc(1, sizeof(*ss));

        if (!ss)
                return NULL;
        pthread_mutex_init(&ss->lock, NULL);
        if (cond_init(&ss->cond) < 0) {
                pthread_mutex_destroy(&ss->lock);
                free(ss);
                return NULL;
        }
        return ss;
}

static void stream_destroy(struct agent_stream *s)
{
        free(s->ctr_id);
        free(s);
}

void client_sessions_free(struct client_sessions *ss)
{
        if (!ss)
                return;
        while (ss->list) {
                struct agent_stream *s = ss->list;

                ss->list = s->next;
                stream_destroy(s);
        }
        pthread_cond_destroy(&ss->cond);
        pthread_mutex_destroy(&ss->lock);
        free(ss);
}

/* Reader-thread hooks. */

/* The session with id, or whose output stream is `stream` (*ret_which: its
 * index). A start in flight may be about to register it: wait for that
 * (bounded: an agent that talks before answering must not hang us). Lock
 * held. */
static struct agent_stream *lookup(struct client_sessions *ss, uint64_t id, uint64_t stream,
                                   int *ret_which)
{
        uint64_t deadline = cond_deadline(START_WAIT_MS);

        for (;;) {
                for (struct agent_stream *s = ss->list; s; s = s->next) {
                        if (id && s->id == id)
                                return s;
                        for (int i = 0; stream && i < 2; i++)
                                if (s->out[i] == stream) {
                                        *ret_which = i;
                                        return s;
                                }
                }
                if (ss->starting == 0 ||
                    cond_wait_until(&ss->cond, &ss->lock, deadline) == -ETIMEDOUT)
                        return NULL;
        }
}

/* Forget a freed session once the agent has nothing more to say of it. */
static void reap(struct client_sessions *ss, struct agent_stream *s)
{
        if (!s->freed || !s->done || s->open[0] || s->open[1])
                return;
        for (struct agent_stream **p = &ss->list; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        stream_destroy(s);
}

static void credit(struct agent_conn *conn, uint64_t stream, size_t n)
{
        _cleanup_error_ struct uvm_error *e = NULL;

        if (agent_conn_stream_consumed(conn, stream, n, &e) < 0)
                log_debug("agent client: crediting stream %" PRIu64 ": %s, ignoring", stream,
                          e->msg);
}

bool client_sessions_data(struct client_sessions *ss, struct agent_conn *conn, uint64_t stream,
                          const void *data, size_t len)
{
        struct agent_stream *s;
        int which = 0;
        bool take;

        if (stream < AGENT_SESSION_ID_BASE)
                return false;
        pthread_mutex_lock(&ss->lock);
        s = lookup(ss, 0, stream, &which);
        take = s && !s->freed && s->ops.output;
        if (s && !data) {
                s->open[which] = false;
                if (take)
                        s->ops.output(s->ops.data, which + 1, NULL, 0);
                reap(ss, s);
        } else if (take) {
                s->ops.output(s->ops.data, which + 1, data, len);
        }
        pthread_mutex_unlock(&ss->lock);
        if (data && !take) {
                if (!s)
                        log_debug("agent client: %zu bytes on unknown stream %" PRIu64 " dropped",
                                  len, stream);
                credit(conn, stream, len);
        }
        return true;
}

void client_sessions_notify(struct client_sessions *ss, json_object *payload)
{
        const char *what = "session end notification", *msg = NULL;
        _cleanup_error_ struct uvm_error *e = NULL;
        int64_t id, code = 0, result = 0;
        struct agent_stream *s;
        int r;

        r = cfield_int(payload, what, "ProcessId", (int64_t) AGENT_SESSION_ID_BASE, INT64_MAX, true,
                       0, &id, &e);
        if (r >= 0)
                r = cfield_int(payload, what, "ExitCode", -1, MAX_EXIT_CODE, false, 0, &code, &e);
        if (r >= 0)
                r = cfield_int(payload, what, "Result", -AGENT_MAX_ERRNO, 0, false, 0, &result, &e);
        if (r >= 0)
                r = cfield_str(payload, what, "ErrorMessage", 4096, &msg, &e);
        if (r < 0) {
                log_warn("agent client: %s, ignoring", e->msg);
                return;
        }
        pthread_mutex_lock(&ss->lock);
        s = lookup(ss, (uint64_t) id, 0, NULL);
        if (s && !s->done) {
                s->done = true;
                if (!s->freed && s->ops.done)
                        s->ops.done(s->ops.data,
                                    result < 0             ? -agent_errno_from_wire((int) -result)
                                    : s->kind == SESS_EXEC ? (int) code
                                                           : 0,
                                    msg && *msg ? msg : NULL);
                pthread_cond_broadcast(&ss->cond);
                reap(ss, s);
        }
        pthread_mutex_unlock(&ss->lock);
}

void client_sessions_credit(struct client_sessions *ss, uint64_t stream)
{
        if (stream < AGENT_SESSION_ID_BASE)
                return;
        pthread_mutex_lock(&ss->lock);
        for (struct agent_stream *s = ss->list; s; s = s->next)
                if (s->in == stream && !s->freed && s->ops.writable)
                        s->ops.writable(s->ops.data);
        pthread_cond_broadcast(&ss->cond);
        pthread_mutex_unlock(&ss->lock);
}

void client_sessions_closed(struct client_sessions *ss, const char *reason)
{
        pthread_mutex_lock(&ss->lock);
        ss->down = true;
        for (struct agent_stream *s = ss->list, *next; s; s = next) {
                next = s->next;
                s->open[0] = s->open[1] = false;
                if (!s->done) {
                        s->done = true;
                        if (!s->freed && s->ops.done)
                                s->ops.done(s->ops.data, -ECONNRESET, reason);
                }
                reap(ss, s);
        }
        pthread_cond_broadcast(&ss->cond);
        pthread_mutex_unlock(&ss->lock);
}

/* Starting a session. */

static int check_streaming(struct agent_client *c, struct uvm_error **err)
{
        if (!agent_client_streaming(c))
                return uvm_error_set(err, EOPNOTSUPP,
                                     "the pod's agent is too old for exec, attach and "
                                     "port-forward streams");
        return 0;
}

static int stream_new(struct agent_client *c, enum sess_kind kind, const char *ctr_id,
                      const struct agent_stream_ops *ops, struct agent_stream **ret,
                      struct uvm_error **err)
{
        struct agent_stream *s = calloc(1, sizeof(*s));

        if (!s || !(s->ctr_id = strdup(ctr_id))) {
                free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s->c = c;
        s->conn = client_conn(c);
        s->ss = client_sessions_of(c);
        s->kind = kind;
        if (ops)
                s->ops = *ops;
        *ret = s;
        return 0;
}

/* A stream id of the response: 0 when not wanted, else a session id. */
static int parse_stream(json_object *resp, const char *what, const char *name, bool want,
                        uint64_t *ret, struct uvm_error **err)
{
        int64_t v;
        int r;

        r = cfield_int(resp, what, name, 0, INT64_MAX, true, 0, &v, err);
        if (r >= 0 && v != 0 && (uint64_t) v < AGENT_SESSION_ID_BASE)
                r = uvm_error_set(err, EBADMSG, "agent %s: %s %" PRId64 " is no session stream",
                                  what, name, v);
        if (r >= 0 && v != 0 && !want)
                r = uvm_error_set(err, EBADMSG, "agent %s: %s given but not asked for", what, name);
        if (r >= 0)
                *ret = (uint64_t) v;
        return r;
}

/* The ids of the response; want[0..2]: stdin, stdout, stderr asked for. */
static int parse_ids(struct agent_stream *s, json_object *resp, const bool want[3],
                     struct uvm_error **err)
{
        static const char *const id_key[] = {"ProcessId", "AttachId", "StreamId"};
        const char *what = "ExecuteProcess (streaming) response";
        int64_t id;
        int r;

        r = cfield_int(resp, what, id_key[s->kind], (int64_t) AGENT_SESSION_ID_BASE, INT64_MAX,
                       true, 0, &id, err);
        if (r < 0)
                return r;
        s->id = (uint64_t) id;
        if (s->kind == SESS_PORT) {
                s->in = s->out[0] = s->id;
                return 0;
        }
        r = parse_stream(resp, what, "StdinStream", want[0], &s->in, err);
        if (r >= 0)
                r = parse_stream(resp, what, "StdoutStream", want[1], &s->out[0], err);
        if (r >= 0)
                r = parse_stream(resp, what, "StderrStream", want[2], &s->out[1], err);
        if (r >= 0 && want[0] && !s->in)
                r = uvm_error_set(err, EBADMSG, "agent %s: no StdinStream", what);
        if (r >= 0 && ((s->in && (s->in == s->out[0] || s->in == s->out[1])) ||
                       (s->out[0] && s->out[0] == s->out[1])))
                r = uvm_error_set(err, EBADMSG, "agent %s: streams share an id", what);
        return r;
}

/* Ask the agent to end s (best effort: the session may be gone). */
static void close_remote(struct agent_stream *s)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        json_object *req = client_req_new(s->c, s->ctr_id);

        if (req && (client_req_add(req, "ProcessId", json_object_new_uint64(s->id), &e) < 0 ||
                    client_req_add(req, "Close", json_object_new_boolean(true), &e) < 0)) {
                json_object_put(req);
                return;
        }
        if (client_call(s->c, AGENT_RPC_SIGNAL_PROCESS, req, CLOSE_TIMEOUT_MS, NULL, &e) < 0)
                log_debug("agent client: closing session %" PRIu64 ": %s, ignoring", s->id, e->msg);
}

/* Send the start request (consumed) and register s under the ids answered. */
static int start(struct agent_stream *s, json_object *req, const bool want[3],
                 struct uvm_error **err)
{
        struct client_sessions *ss = s->ss;
        _cleanup_json_ json_object *resp = NULL;
        int r;

        pthread_mutex_lock(&ss->lock);
        ss->starting++;
        pthread_mutex_unlock(&ss->lock);
        r = client_call(s->c, AGENT_RPC_EXECUTE_PROCESS, req, CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = parse_ids(s, resp, want, err);
        pthread_mutex_lock(&ss->lock);
        if (r >= 0) {
                s->open[0] = s->out[0] != 0;
                s->open[1] = s->out[1] != 0;
                s->done = ss->down;
                s->next = ss->list;
                ss->list = s;
        }
        ss->starting--;
        pthread_cond_broadcast(&ss->cond);
        pthread_mutex_unlock(&ss->lock);
        if (r < 0 && s->id)
                close_remote(s);
        return r;
}

static json_object *argv_json(char *const *argv, size_t *ret_n)
{
        json_object *a = json_object_new_array();
        size_t n = 0;

        for (; a && argv[n]; n++)
                if (json_object_array_add(a, json_object_new_string(argv[n])) < 0)
                        return json_object_put(a), NULL;
        *ret_n = n;
        return a;
}

static int exec_check(const char *ctr_id, const struct agent_exec_start *spec,
                      struct uvm_error **err)
{
        size_t n = 0;

        if (!spec->argv || !spec->argv[0])
                return uvm_error_set(err, EINVAL, "exec in %s: no command given", ctr_id);
        while (spec->argv[n])
                n++;
        if (n > MAX_EXEC_ARGS)
                return uvm_error_set(err, E2BIG, "exec in %s: more than %d arguments", ctr_id,
                                     MAX_EXEC_ARGS);
        if (spec->rows > MAX_ROWS || spec->cols > MAX_ROWS)
                return uvm_error_set(err, EINVAL, "exec in %s: terminal size %ux%u", ctr_id,
                                     spec->rows, spec->cols);
        if (!spec->use_stdin && !spec->use_stdout && !spec->use_stderr)
                return uvm_error_set(err, EINVAL, "exec in %s: no stdin, stdout nor stderr",
                                     ctr_id);
        return 0;
}

static int add_bools(json_object *req, bool in, bool out, bool errs, struct uvm_error **err)
{
        if (client_req_add(req, "Stdin", json_object_new_boolean(in), err) < 0 ||
            client_req_add(req, "Stdout", json_object_new_boolean(out), err) < 0 ||
            client_req_add(req, "Stderr", json_object_new_boolean(errs), err) < 0)
                return -ENOMEM;
        return 0;
}

int agent_client_exec_start(struct agent_client *c, const char *ctr_id,
                            const struct agent_exec_start *spec, const struct agent_stream_ops *ops,
                            struct agent_stream **ret, struct uvm_error **err)
{
        /* A terminal is one output: the stdout stream, whichever was asked. */
        bool want[3] = {spec->use_stdin, spec->use_stdout || (spec->tty && spec->use_stderr),
                        spec->use_stderr && !spec->tty};
        struct agent_stream *s = NULL;
        json_object *req;
        size_t argc;
        int r;

        r = check_streaming(c, err);
        if (r >= 0)
                r = client_check_ctr_id(ctr_id, false, err);
        if (r >= 0)
                r = exec_check(ctr_id, spec, err);
        if (r >= 0)
                r = stream_new(c, SESS_EXEC, ctr_id, ops, &s, err);
        if (r < 0)
                return r;
        req = client_req_new(c, ctr_id);
        if (!req || client_req_add(req, "Interactive", json_object_new_boolean(true), err) < 0 ||
            client_req_add(req, "Args", argv_json(spec->argv, &argc), err) < 0 ||
            client_req_add(req, "Tty", json_object_new_boolean(spec->tty), err) < 0 ||
            add_bools(req, spec->use_stdin, spec->use_stdout, spec->use_stderr, err) < 0 ||
            client_req_add(req, "Rows", json_object_new_int((int) spec->rows), err) < 0 ||
            client_req_add(req, "Cols", json_object_new_int((int) spec->cols), err) < 0) {
                json_object_put(req);
                stream_destroy(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = start(s, req, want, err);
        if (r < 0) {
                stream_destroy(s);
                return uvm_error_wrap(err, "exec in container %s", ctr_id);
        }
        *ret = s;
        return 0;
}

int agent_client_attach(struct agent_client *c, const char *ctr_id,
                        const struct agent_attach_start *spec, const struct agent_stream_ops *ops,
                        struct agent_stream **ret, struct uvm_error **err)
{
        bool want[3] = {spec->use_stdin, spec->use_stdout, spec->use_stderr};
        struct agent_stream *s = NULL;
        json_object *req;
        int r;

        r = check_streaming(c, err);
        if (r >= 0)
                r = client_check_ctr_id(ctr_id, false, err);
        if (r >= 0 && !want[0] && !want[1] && !want[2])
                r = uvm_error_set(err, EINVAL, "attach to %s: no stdin, stdout nor stderr", ctr_id);
        if (r >= 0)
                r = stream_new(c, SESS_ATTACH, ctr_id, ops, &s, err);
        if (r < 0)
                return r;
        req = client_req_new(c, ctr_id);
        if (!req || client_req_add(req, "Attach", json_object_new_boolean(true), err) < 0 ||
            add_bools(req, want[0], want[1], want[2], err) < 0) {
                json_object_put(req);
                stream_destroy(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = start(s, req, want, err);
        if (r < 0) {
                stream_destroy(s);
                return uvm_error_wrap(err, "attach to container %s", ctr_id);
        }
        *ret = s;
        return 0;
}

int agent_client_port_forward(struct agent_client *c, uint16_t port,
                              const struct agent_stream_ops *ops, struct agent_stream **ret,
                              struct uvm_error **err)
{
        static const bool want[3] = {true, true, false};
        struct agent_stream *s = NULL;
        json_object *req;
        int r;

        r = check_streaming(c, err);
        if (r >= 0 && port == 0)
                r = uvm_error_set(err, EINVAL, "port-forward: port 0");
        if (r >= 0)
                r = stream_new(c, SESS_PORT, "", ops, &s, err);
        if (r < 0)
                return r;
        req = client_req_new(c, "");
        if (!req || client_req_add(req, "PortForward", json_object_new_boolean(true), err) < 0 ||
            client_req_add(req, "Port", json_object_new_int(port), err) < 0) {
                json_object_put(req);
                stream_destroy(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = start(s, req, want, err);
        if (r < 0) {
                stream_destroy(s);
                return uvm_error_wrap(err, "port-forward to port %u", (unsigned) port);
        }
        *ret = s;
        return 0;
}

/* Using a session. */

/* Wait up to timeout_ms for room in the stdin window; its size, 0 if none
 * came, or -EPIPE. */
static int wait_window(struct agent_stream *s, int timeout_ms, struct uvm_error **err)
{
        struct client_sessions *ss = s->ss;
        uint64_t deadline = cond_deadline(timeout_ms);
        size_t room;
        int r;

        pthread_mutex_lock(&ss->lock);
        for (;;) {
                if (s->done || s->in_closed || ss->down) {
                        r = uvm_error_set(err, EPIPE, "session %" PRIu64 " takes no more input",
                                          s->id);
                        break;
                }
                room = agent_conn_stream_room(s->conn, s->in);
                if (room > 0) {
                        r = (int) room;
                        break;
                }
                if (cond_wait_until(&ss->cond, &ss->lock, deadline) == -ETIMEDOUT) {
                        r = 0;
                        break;
                }
        }
        pthread_mutex_unlock(&ss->lock);
        return r;
}

int agent_stream_write(struct agent_stream *s, const void *buf, size_t len, int timeout_ms,
                       struct uvm_error **err)
{
        int room, r;

        if (!s->in)
                return uvm_error_set(err, EBADF, "session %" PRIu64 " has no stdin", s->id);
        if (len == 0)
                return 0;
        room = wait_window(s, timeout_ms, err);
        if (room <= 0)
                return room;
        len = len < (size_t) room ? len : (size_t) room;
        /* It fits the window: queued at once, never waiting. */
        r = agent_conn_write_stream(s->conn, s->in, buf, len, 0, err);
        return r < 0 ? r : (int) len;
}

int agent_stream_close_write(struct agent_stream *s, struct uvm_error **err)
{
        bool closed;

        if (!s->in)
                return uvm_error_set(err, EBADF, "session %" PRIu64 " has no stdin", s->id);
        pthread_mutex_lock(&s->ss->lock);
        closed = s->in_closed;
        s->in_closed = true;
        pthread_cond_broadcast(&s->ss->cond);
        pthread_mutex_unlock(&s->ss->lock);
        return closed ? 0 : agent_conn_close_stream(s->conn, s->in, err);
}

/* A request naming s by ProcessId. */
static json_object *sess_req(struct agent_stream *s, struct uvm_error **err)
{
        json_object *req = client_req_new(s->c, s->ctr_id);

        if (!req || client_req_add(req, "ProcessId", json_object_new_uint64(s->id), err) < 0) {
                json_object_put(req);
                uvm_error_set(err, ENOMEM, "out of memory");
                return NULL;
        }
        return req;
}

int agent_stream_resize(struct agent_stream *s, unsigned rows, unsigned cols,
                        struct uvm_error **err)
{
        json_object *req;

        if (s->kind == SESS_PORT)
                return uvm_error_set(err, EINVAL, "a port-forward has no terminal");
        if (rows > MAX_ROWS || cols > MAX_ROWS)
                return uvm_error_set(err, EINVAL, "terminal size %ux%u", rows, cols);
        req = sess_req(s, err);
        if (!req)
                return -ENOMEM;
        if (client_req_add(req, "Height", json_object_new_int((int) rows), err) < 0 ||
            client_req_add(req, "Width", json_object_new_int((int) cols), err) < 0) {
                json_object_put(req);
                return -ENOMEM;
        }
        return client_call_simple(s->c, AGENT_RPC_RESIZE_CONSOLE, req, err);
}

int agent_stream_signal(struct agent_stream *s, int sig, struct uvm_error **err)
{
        json_object *req;

        if (s->kind != SESS_EXEC)
                return uvm_error_set(err, EINVAL, "only an exec's process takes signals");
        if (sig < 1 || sig > 64)
                return uvm_error_set(err, EINVAL, "signal %d is out of range", sig);
        req = sess_req(s, err);
        if (!req)
                return -ENOMEM;
        if (client_req_add(req, "Signal", json_object_new_int(sig), err) < 0) {
                json_object_put(req);
                return -ENOMEM;
        }
        return client_call_simple(s->c, AGENT_RPC_SIGNAL_PROCESS, req, err);
}

void agent_stream_consumed(struct agent_stream *s, int stream, size_t n)
{
        if (stream >= 1 && stream <= 2 && s->out[stream - 1] && n > 0)
                credit(s->conn, s->out[stream - 1], n);
}

struct agent_stream *agent_stream_free(struct agent_stream *s)
{
        struct client_sessions *ss;
        bool live;

        if (!s)
                return NULL;
        ss = s->ss;
        pthread_mutex_lock(&ss->lock);
        live = !s->done && !ss->down;
        pthread_mutex_unlock(&ss->lock);
        if (live)
                close_remote(s);
        /* The agent's connection forgets a stream only once we closed it. */
        if (s->in)
                agent_stream_close_write(s, NULL);
        pthread_mutex_lock(&ss->lock);
        s->freed = true;
        reap(ss, s);
        pthread_mutex_unlock(&ss->lock);
        return NULL;
}
