/*
 * The host side of the agent protocol (see agent/client.h): typed calls with
 * every response field checked, exit notifications and container output
 * routed to the caller's events.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/client-internal.h"
#include "agent/client.h"
#include "agent/conn.h"
#include "agent/user_db.h"
#include "common/log.h"
#include "common/sock.h"

#define MAX_CONTAINERS 1024    /* GetProperties entries we accept */
#define MAX_PENDING_STREAMS 64 /* streams seen before their container */
#define MAX_PENDING_BYTES (4u << 20)
#define MAX_SIGNAL 64

/* Output that arrived on a stream before we learned whose it is (after a
 * reconnect the agent flushes buffered output while GetProperties is still in
 * flight). Not credited until delivered, so the agent's window bounds it. */
struct pending_output {
        uint64_t stream;
        char *buf;
        size_t len;
        struct pending_output *next;
};

struct stream_map {
        uint64_t stream;
        char *ctr_id;
        enum drv_stream which;
};

struct agent_client {
        struct agent_conn *conn;         /* immutable after connect */
        struct agent_client_events ev;   /* immutable */
        uint64_t next_activity;          /* atomic */
        pthread_mutex_t out_lock;        /* guards the fields below; held while delivering output */
        struct stream_map *streams;      /* out_lock */
        size_t n_streams;                /* out_lock */
        struct pending_output *pending;  /* out_lock */
        size_t n_pending, pending_bytes; /* out_lock */
        struct client_sessions *sessions; /* immutable; its own lock */
        bool streaming;                   /* immutable after negotiate */
};

void agent_ctr_info_clear(struct agent_ctr_info *i)
{
        if (!i)
                return;
        free(i->id);
        memset(i, 0, sizeof(*i));
}

/* out_lock held. */
static const struct stream_map *stream_find(struct agent_client *c, uint64_t stream)
{
        for (size_t i = 0; i < c->n_streams; i++)
                if (c->streams[i].stream == stream)
                        return &c->streams[i];
        return NULL;
}

/* Hand n bytes to the consumer and credit them back. out_lock held. */
static void deliver(struct agent_client *c, const struct stream_map *m, const char *buf, size_t n)
{
        _cleanup_error_ struct uvm_error *e = NULL;

        if (c->ev.output)
                c->ev.output(c->ev.data, m->ctr_id, m->which, buf, n);
        if (agent_conn_stream_consumed(c->conn, m->stream, n, &e) < 0)
                log_debug("agent client: crediting stream %" PRIu64 ": %s, ignoring", m->stream,
                          e->msg);
}

/* Keep output of a stream we cannot place yet; out_lock held. */
static void pending_add(struct agent_client *c, uint64_t stream, const void *buf, size_t n)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct pending_output *p;

        for (p = c->pending; p; p = p->next)
                if (p->stream == stream)
                        break;
        if (c->pending_bytes + n <= MAX_PENDING_BYTES &&
            (p || c->n_pending < MAX_PENDING_STREAMS)) {
                if (!p && (p = calloc(1, sizeof(*p)))) {
                        p->stream = stream;
                        p->next = c->pending;
                        c->pending = p;
                        c->n_pending++;
                }
                char *nb = p ? realloc(p->buf, p->len + n) : NULL;

                if (nb) {
                        memcpy(nb + p->len, buf, n);
                        p->buf = nb;
                        p->len += n;
                        c->pending_bytes += n;
                        return;
                }
        }
        log_warn("agent client: %zu bytes on unknown stream %" PRIu64 " dropped", n, stream);
        if (agent_conn_stream_consumed(c->conn, stream, n, &e) < 0)
                log_debug("agent client: crediting stream %" PRIu64 ": %s, ignoring", stream,
                          e->msg);
}

/* Deliver what was kept for m's stream; out_lock held. */
static void pending_flush(struct agent_client *c, const struct stream_map *m)
{
        for (struct pending_output **link = &c->pending; *link; link = &(*link)->next) {
                struct pending_output *p = *link;

                if (p->stream != m->stream)
                        continue;
                *link = p->next;
                c->n_pending--;
                c->pending_bytes -= p->len;
                deliver(c, m, p->buf, p->len);
                free(p->buf);
                free(p);
                return;
        }
}

/* Learn that stream carries ctr_id's output; out_lock held. */
static int stream_learn(struct agent_client *c, uint64_t stream, const char *ctr_id,
                        enum drv_stream which, struct uvm_error **err)
{
        const struct stream_map *m = stream_find(c, stream);
        struct stream_map *v;
        char *id;

        if (m) {
                if (STR_EQ(m->ctr_id, ctr_id) && m->which == which)
                        return 0;
                return uvm_error_set(err, EBADMSG,
                                     "agent gave stream %" PRIu64 " to container %s, already %s's",
                                     stream, ctr_id, m->ctr_id);
        }
        if (c->n_streams >= AGENT_CONN_MAX_STREAMS)
                return uvm_error_set(err, ENOSPC, "agent streams exceed %d",
                                     AGENT_CONN_MAX_STREAMS);
        id = strdup(ctr_id);
        v = realloc(c->streams, (c->n_streams + 1) * sizeof(*v)); /* n_streams is bounded */
        if (!id || !v) {
                free(id);
                if (v)
                        c->streams = v;
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        c->streams = v;
        v[c->n_streams] = (struct stream_map){stream, id, which};
        pending_flush(c, &v[c->n_streams++]);
        return 0;
}

static int streams_learn(struct agent_client *c, const char *ctr_id, uint64_t out, uint64_t errs,
                         struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&c->out_lock);
        r = stream_learn(c, out, ctr_id, DRV_STDOUT, err);
        if (r >= 0)
                r = stream_learn(c, errs, ctr_id, DRV_STDERR, err);
        pthread_mutex_unlock(&c->out_lock);
        return r;
}

static void streams_forget(struct agent_client *c, const char *ctr_id)
{
        pthread_mutex_lock(&c->out_lock);
        for (size_t i = 0; i < c->n_streams;)
                if (STR_EQ(c->streams[i].ctr_id, ctr_id)) {
                        free(c->streams[i].ctr_id);
                        c->streams[i] = c->streams[--c->n_streams];
                } else {
                        i++;
                }
        pthread_mutex_unlock(&c->out_lock);
}

static void on_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                    void *userdata)
{
        struct agent_client *c = userdata;
        const struct stream_map *m;

        if (client_sessions_data(c->sessions, conn, stream, data, len))
                return;
        if (!data)
                return; /* end of stream: the exit notification tells the rest */
        pthread_mutex_lock(&c->out_lock);
        m = stream_find(c, stream);
        if (m)
                deliver(c, m, data, len);
        else
                pending_add(c, stream, data, len);
        pthread_mutex_unlock(&c->out_lock);
}

/* Exit notifications. */

static int parse_exit(json_object *o, const char **ret_id, int *ret_code, int64_t *ret_ns,
                      bool *ret_oom, struct uvm_error **err)
{
        const char *what = "exit notification";
        int64_t code, ns;
        int r;

        r = cfield_str(o, what, "ContainerId", AGENT_MAX_ID_LEN, ret_id, err);
        if (r >= 0 && !**ret_id)
                r = uvm_error_set(err, EBADMSG, "agent %s: empty ContainerId", what);
        if (r >= 0)
                r = cfield_int(o, what, "ExitCode", 0, MAX_EXIT_CODE, true, 0, &code, err);
        if (r >= 0)
                r = cfield_int(o, what, "FinishedNs", 0, INT64_MAX, true, 0, &ns, err);
        if (r >= 0)
                r = cfield_bool(o, what, "OomKilled", ret_oom, err);
        if (r < 0)
                return r;
        *ret_code = (int) code;
        *ret_ns = ns;
        return 0;
}

static void on_notify(struct agent_conn *conn, uint32_t type, json_object *payload, void *userdata)
{
        struct agent_client *c = userdata;
        _cleanup_error_ struct uvm_error *e = NULL;
        const char *id;
        int code;
        int64_t ns;
        bool oom;

        if ((type & AGENT_RPC_MASK) == AGENT_NOTIFY_CONTAINER &&
            json_object_object_get_ex(payload, "ProcessId", NULL)) {
                client_sessions_notify(c->sessions, payload); /* a session, not a container */
                return;
        }
        if ((type & AGENT_RPC_MASK) != AGENT_NOTIFY_CONTAINER ||
            parse_exit(payload, &id, &code, &ns, &oom, &e) < 0) {
                log_warn("agent client: bad notification 0x%08" PRIx32 ": %s, ignoring", type,
                         e ? e->msg : "unknown type");
                return;
        }
        if (c->ev.exited)
                c->ev.exited(c->ev.data, id, code, ns, oom);
}

static void on_credit(struct agent_conn *conn, uint64_t stream, void *userdata)
{
        struct agent_client *c = userdata;

        client_sessions_credit(c->sessions, stream);
}

static void on_closed(struct agent_conn *conn, int code, const char *msg, void *userdata)
{
        struct agent_client *c = userdata;

        client_sessions_closed(c->sessions, msg ? msg : sock_strerror(-code));
        if (c->ev.closed)
                c->ev.closed(c->ev.data, msg ? msg : sock_strerror(-code));
}

/* Requests. */

int client_check_ctr_id(const char *id, bool allow_empty, struct uvm_error **err)
{
        if (!id || (!allow_empty && !*id))
                return uvm_error_set(err, EINVAL, "container id is empty");
        if (strlen(id) > AGENT_MAX_ID_LEN)
                return uvm_error_set(err, EINVAL, "container id is longer than %u bytes",
                                     AGENT_MAX_ID_LEN);
        return 0;
}

struct agent_conn *client_conn(struct agent_client *c)
{
        return c->conn;
}

struct client_sessions *client_sessions_of(struct agent_client *c)
{
        return c->sessions;
}

bool agent_client_streaming(struct agent_client *c)
{
        return c->streaming;
}

/* A request object carrying ContainerId and a fresh ActivityId. */
json_object *client_req_new(struct agent_client *c, const char *ctr_id)
{
        uint64_t n = __atomic_add_fetch(&c->next_activity, 1, __ATOMIC_RELAXED);
        json_object *o = json_object_new_object();
        char act[40];

        if (!o)
                return NULL;
        snprintf(act, sizeof(act), "uvmd-%" PRIu64, n);
        if (json_object_object_add(o, "ContainerId", json_object_new_string(ctr_id)) < 0 ||
            json_object_object_add(o, "ActivityId", json_object_new_string(act)) < 0)
                return json_object_put(o), NULL;
        return o;
}

int client_req_add(json_object *req, const char *key, json_object *v, struct uvm_error **err)
{
        if (!v || json_object_object_add(req, key, v) < 0) {
                json_object_put(v);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

/* Send req (consumed) and wait for the response. */
int client_call(struct agent_client *c, uint32_t rpc, json_object *req, int timeout_ms,
                json_object **ret_resp, struct uvm_error **err)
{
        json_object *resp = NULL;
        int r;

        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_conn_call(c->conn, rpc, req, timeout_ms, &resp, err);
        json_object_put(req);
        if (r < 0)
                return r;
        if (ret_resp)
                *ret_resp = resp;
        else
                json_object_put(resp);
        return 0;
}

/* A call whose response carries nothing but Result. */
int client_call_simple(struct agent_client *c, uint32_t rpc, json_object *req,
                       struct uvm_error **err)
{
        return client_call(c, rpc, req, CALL_TIMEOUT_MS, NULL, err);
}

static int negotiate(struct agent_client *c, int timeout_ms, struct uvm_error **err)
{
        _cleanup_json_ json_object *req = client_req_new(c, "");
        _cleanup_json_ json_object *resp = NULL;
        const char *what = "NegotiateProtocol response";
        json_object *caps;
        int64_t v;
        int r;

        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if ((client_req_add(req, "MinimumVersion", json_object_new_int(AGENT_PROTOCOL_VERSION),
                            err) < 0 ||
             client_req_add(req, "MaximumVersion", json_object_new_int(AGENT_PROTOCOL_VERSION),
                            err) < 0))
                return -ENOMEM;
        /* Larger frames and windows if the agent knows them (conn.h); an
         * older one ignores the offer. */
        r = agent_conn_offer_limits(c->conn, req, err);
        if (r < 0)
                return r;
        r = client_call(c, AGENT_RPC_NEGOTIATE_PROTOCOL, TAKE_PTR(req),
                        timeout_ms > CALL_TIMEOUT_MS ? timeout_ms : CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = cfield_int(resp, what, "Version", INT32_MIN, INT32_MAX, true, 0, &v, err);
        if (r >= 0 && v != AGENT_PROTOCOL_VERSION)
                r = uvm_error_set(err, EPROTONOSUPPORT,
                                  "agent chose protocol version %" PRId64 ", we speak %d", v,
                                  AGENT_PROTOCOL_VERSION);
        if (r >= 0)
                r = cfield_get(resp, what, "Capabilities", json_type_object, false, &caps, err);
        if (r >= 0 && caps) /* absent from an older agent: no streaming */
                r = cfield_bool(caps, what, "Streaming", &c->streaming, err);
        return r;
}

/* Connecting. */

int agent_client_connect_fd(int fd, const char *peer, unsigned timeout_ms,
                            const struct agent_client_events *ev, struct agent_client **ret,
                            struct uvm_error **err)
{
        static const struct agent_conn_ops ops = {
                .notify = on_notify,
                .data = on_data,
                .closed = on_closed,
                .credit = on_credit,
        };
        struct agent_client *c;
        int r;

        if (fd < 0 || STR_EMPTY(peer) || !ret) {
                sock_close(fd);
                return uvm_error_set(err, EINVAL, "agent connection: bad arguments");
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                sock_close(fd);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (ev)
                c->ev = *ev;
        pthread_mutex_init(&c->out_lock, NULL);
        c->sessions = client_sessions_new();
        if (!c->sessions) {
                sock_close(fd);
                pthread_mutex_destroy(&c->out_lock);
                free(c);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = agent_conn_new(fd, &ops, c, &c->conn, err);
        if (r >= 0)
                r = negotiate(c, timeout_ms > INT32_MAX ? INT32_MAX : (int) timeout_ms, err);
        /* Learn every container's streams, so buffered output finds its owner. */
        if (r >= 0) {
                struct agent_ctr_info *list = NULL;
                size_t n = 0;

                r = agent_client_list(c, &list, &n, err);
                for (size_t i = 0; i < n; i++)
                        agent_ctr_info_clear(&list[i]);
                free(list);
        }
        if (r < 0) {
                uvm_error_wrap(err, "agent at %s", peer);
                agent_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct agent_client *agent_client_free(struct agent_client *c)
{
        if (!c)
                return NULL;
        agent_conn_free(c->conn); /* joins the reader: no callback runs after this */
        client_sessions_free(c->sessions);
        for (size_t i = 0; i < c->n_streams; i++)
                free(c->streams[i].ctr_id);
        free(c->streams);
        while (c->pending) {
                struct pending_output *p = c->pending;

                c->pending = p->next;
                free(p->buf);
                free(p);
        }
        pthread_mutex_destroy(&c->out_lock);
        free(c);
        return NULL;
}

/* Typed calls. */

static json_object *strings_json(char *const *v)
{
        json_object *a = json_object_new_array();

        for (; a && v && *v; v++)
                json_object_array_add(a, json_object_new_string(*v));
        return a;
}

/* [{Destination, Layers, SubPath}]: the agent mounts each image read-only
 * and makes it the source of the spec's mount at Destination. */
static json_object *image_volumes_json(const struct drv_ctr_spec *spec)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < spec->n_image_volumes; i++) {
                const struct drv_image_volume *v = &spec->image_volumes[i];
                json_object *o = json_object_new_object();

                json_object_object_add(o, "Destination", json_object_new_string(v->destination));
                json_object_object_add(o, "Layers", strings_json(v->layers));
                json_object_object_add(o, "SubPath", json_object_new_string(v->sub_path ?: ""));
                json_object_array_add(a, o);
        }
        return a;
}

/* The user the agent resolved: an agent that ignored the request (older
 * than the host) would run the container as someone else. */
static int created_user(json_object *resp, struct user_db_ids *ret, struct uvm_error **err)
{
        json_object *u;
        struct user_db_ids ids;
        int r;

        if (!json_object_object_get_ex(resp, "User", &u))
                return uvm_error_set(err, EPROTO,
                                     "the agent did not resolve the container's user (an "
                                     "agent older than uvmd?)");
        r = user_db_ids_from_json(u, &ids, err);
        if (r < 0)
                return uvm_error_wrap(err, "agent Create response");
        if (ret)
                *ret = ids;
        return 0;
}

int agent_client_create(struct agent_client *c, const struct drv_ctr_spec *spec,
                        struct uvm_error **err)
{
        const char *what = "Create response";
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        json_object *layers;
        int64_t out, errs;
        int r;

        r = client_check_ctr_id(spec->id, false, err);
        if (r < 0)
                return r;
        if (!spec->oci_spec_json)
                return uvm_error_set(err, EINVAL, "container %s has no OCI spec", spec->id);
        req = client_req_new(c, spec->id);
        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        layers = strings_json(spec->layers);
        if (client_req_add(req, "Layers", layers, err) < 0 ||
            client_req_add(req, "ImageVolumes", image_volumes_json(spec), err) < 0 ||
            client_req_add(req, "Spec", json_object_new_string(spec->oci_spec_json), err) < 0 ||
            client_req_add(req, "ReadonlyRootfs", json_object_new_boolean(spec->readonly_rootfs),
                           err) < 0 ||
            client_req_add(req, "Stdin", json_object_new_boolean(spec->stdin_open), err) < 0 ||
            client_req_add(req, "StdinOnce", json_object_new_boolean(spec->stdin_once), err) < 0 ||
            (spec->user && client_req_add(req, "User", user_db_req_to_json(spec->user), err) < 0))
                return -ENOMEM;
        r = client_call(c, AGENT_RPC_CREATE, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = cfield_int(resp, what, "StdoutStream", 0, INT64_MAX, true, 0, &out, err);
        if (r >= 0)
                r = cfield_int(resp, what, "StderrStream", 0, INT64_MAX, true, 0, &errs, err);
        if (r >= 0 && out == errs)
                r = uvm_error_set(err, EBADMSG, "agent %s: stdout and stderr share stream %" PRId64,
                                  what, out);
        if (r >= 0 && spec->user && (r = created_user(resp, spec->user_out, err)) < 0)
                (void) agent_client_delete(c, spec->id, NULL); /* made, as someone else */
        if (r >= 0)
                r = streams_learn(c, spec->id, (uint64_t) out, (uint64_t) errs, err);
        return r < 0 ? uvm_error_wrap(err, "create container %s", spec->id) : 0;
}

int agent_client_start(struct agent_client *c, const char *ctr_id, struct uvm_error **err)
{
        _cleanup_json_ json_object *resp = NULL;
        int64_t pid;
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r >= 0)
                r = client_call(c, AGENT_RPC_START, client_req_new(c, ctr_id), CALL_TIMEOUT_MS,
                                &resp, err);
        if (r >= 0)
                r = cfield_int(resp, "Start response", "Pid", 1, INT_MAX, true, 0, &pid, err);
        return r < 0 ? uvm_error_wrap(err, "start container %s", ctr_id) : 0;
}

int agent_client_signal(struct agent_client *c, const char *ctr_id, int sig, bool all,
                        struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL;
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        if (sig < 1 || sig > MAX_SIGNAL)
                return uvm_error_set(err, EINVAL, "signal %d is out of range", sig);
        req = client_req_new(c, ctr_id);
        if (!req || client_req_add(req, "Signal", json_object_new_int(sig), err) < 0 ||
            client_req_add(req, "All", json_object_new_boolean(all), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = client_call_simple(c, AGENT_RPC_SIGNAL_PROCESS, TAKE_PTR(req), err);
        return r < 0 ? uvm_error_wrap(err, "signal container %s", ctr_id) : 0;
}

int agent_client_delete(struct agent_client *c, const char *ctr_id, struct uvm_error **err)
{
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        r = client_call_simple(c, AGENT_RPC_DELETE_CONTAINER_STATE, client_req_new(c, ctr_id), err);
        if (r < 0)
                return uvm_error_wrap(err, "delete container %s", ctr_id);
        streams_forget(c, ctr_id);
        return 0;
}

static const char *const state_names[] = {
        [DRV_CTR_CREATED] = "created",
        [DRV_CTR_RUNNING] = "running",
        [DRV_CTR_EXITED] = "exited",
};

static int parse_state(const char *s, enum drv_ctr_state *ret)
{
        for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
                if (state_names[i] && STR_EQ(state_names[i], s)) {
                        *ret = (enum drv_ctr_state) i;
                        return 0;
                }
        return -EBADMSG;
}

/* One GetProperties entry; also learns its streams. */
static int parse_ctr(struct agent_client *c, json_object *o, struct agent_ctr_info *ret,
                     struct uvm_error **err)
{
        const char *what = "GetProperties container";
        struct agent_ctr_info i = {0};
        const char *id, *state;
        int64_t pid, code, ns, out, errs, dropped;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EBADMSG, "agent %s is not an object", what);
        r = cfield_str(o, what, "Id", AGENT_MAX_ID_LEN, &id, err);
        if (r >= 0 && !*id)
                r = uvm_error_set(err, EBADMSG, "agent %s: empty Id", what);
        if (r >= 0)
                r = cfield_str(o, what, "State", 16, &state, err);
        if (r >= 0 && parse_state(state, &i.state) < 0)
                r = uvm_error_set(err, EBADMSG, "agent %s %s: unknown State \"%s\"", what, id,
                                  state);
        if (r >= 0)
                r = cfield_int(o, what, "Pid", 0, INT_MAX, false, 0, &pid, err);
        if (r >= 0)
                r = cfield_int(o, what, "ExitCode", -1, MAX_EXIT_CODE, i.state == DRV_CTR_EXITED, 0,
                               &code, err);
        if (r >= 0)
                r = cfield_int(o, what, "FinishedNs", 0, INT64_MAX, false, 0, &ns, err);
        if (r >= 0)
                r = cfield_bool(o, what, "OomKilled", &i.oom_killed, err);
        if (r >= 0)
                r = cfield_int(o, what, "DroppedBytes", 0, INT64_MAX, false, 0, &dropped, err);
        if (r >= 0)
                r = cfield_int(o, what, "StdoutStream", -1, INT64_MAX, false, -1, &out, err);
        if (r >= 0)
                r = cfield_int(o, what, "StderrStream", -1, INT64_MAX, false, -1, &errs, err);
        if (r >= 0 && out >= 0 && out == errs)
                r = uvm_error_set(err, EBADMSG, "agent %s %s: stdout and stderr share a stream",
                                  what, id);
        if (r >= 0 && out >= 0 && errs >= 0)
                r = streams_learn(c, id, (uint64_t) out, (uint64_t) errs, err);
        if (r < 0)
                return r;
        i.id = strdup(id);
        if (!i.id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        i.pid = (int) pid;
        i.exit_code = (int) code;
        i.finished_ns = ns;
        i.dropped_bytes = (uint64_t) dropped;
        *ret = i;
        return 0;
}

static int get_properties(struct agent_client *c, const char *ctr_id, struct agent_ctr_info **ret,
                          size_t *ret_n, struct uvm_error **err)
{
        _cleanup_json_ json_object *resp = NULL;
        struct agent_ctr_info *v = NULL;
        json_object *arr;
        size_t n;
        int r;

        r = client_call(c, AGENT_RPC_GET_PROPERTIES, client_req_new(c, ctr_id), CALL_TIMEOUT_MS,
                        &resp, err);
        if (r >= 0)
                r = cfield_get(resp, "GetProperties response", "Containers", json_type_array, true,
                               &arr, err);
        if (r < 0)
                return r;
        n = json_object_array_length(arr);
        if (n > MAX_CONTAINERS)
                return uvm_error_set(err, EBADMSG, "agent listed %zu containers, more than %d", n,
                                     MAX_CONTAINERS);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n && r >= 0; i++)
                r = parse_ctr(c, json_object_array_get_idx(arr, i), &v[i], err);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        agent_ctr_info_clear(&v[i]);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int agent_client_list(struct agent_client *c, struct agent_ctr_info **ret, size_t *ret_n,
                      struct uvm_error **err)
{
        int r = get_properties(c, "", ret, ret_n, err);

        return r < 0 ? uvm_error_wrap(err, "list containers") : 0;
}

int agent_client_state(struct agent_client *c, const char *ctr_id, struct agent_ctr_info *ret,
                       struct uvm_error **err)
{
        struct agent_ctr_info *v = NULL;
        size_t n = 0, found = SIZE_MAX;
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r >= 0)
                r = get_properties(c, ctr_id, &v, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (STR_EQ(v[i].id, ctr_id))
                        found = i;
        if (r >= 0 && found == SIZE_MAX)
                r = uvm_error_set(err, ENOENT, "agent does not know container %s", ctr_id);
        if (r >= 0)
                *ret = v[found], v[found].id = NULL;
        for (size_t i = 0; i < n; i++)
                agent_ctr_info_clear(&v[i]);
        free(v);
        return r < 0 ? uvm_error_wrap(err, "state of container %s", ctr_id) : 0;
}

int agent_client_shutdown(struct agent_client *c, struct uvm_error **err)
{
        int r = client_call_simple(c, AGENT_RPC_SHUTDOWN_FORCED, client_req_new(c, ""), err);

        /* The agent lingers until the host hangs up (so its answer is not
         * lost): hang up now rather than make it wait. */
        agent_conn_close(c->conn);
        return r < 0 ? uvm_error_wrap(err, "shut the agent down") : 0;
}
