/*
 * The host side of the agent protocol (see agent/client.h): typed calls with
 * every response field checked, exit notifications and container output
 * routed to the caller's events.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "agent/conn.h"
#include "common/log.h"

#define CALL_TIMEOUT_MS 30000
#define EXEC_GRACE_MS 10000
#define CONNECT_RETRY_MS 20
#define MAX_CONTAINERS 1024    /* GetProperties entries we accept */
#define MAX_EXEC_ARGS 4096     /* ExecuteProcess argv entries */
#define MAX_PENDING_STREAMS 64 /* streams seen before their container */
#define MAX_PENDING_BYTES (4u << 20)
#define MAX_EXIT_CODE 255
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
};

static void json_putp(json_object **o)
{
        json_object_put(*o);
}

#define _cleanup_json_ _cleanup_(json_putp)

void agent_ctr_info_clear(struct agent_ctr_info *i)
{
        if (!i)
                return;
        free(i->id);
        memset(i, 0, sizeof(*i));
}

/* Response field checks. what names the message, for errors. */

static int field_get(json_object *o, const char *what, const char *name, json_type type,
                     bool required, json_object **ret, struct uvm_error **err)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, name, &v) || !v) {
                *ret = NULL;
                if (required)
                        return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is missing",
                                             what, name);
                return 0;
        }
        if (!json_object_is_type(v, type))
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is not %s %s", what,
                                     name, strchr("aeiou", json_type_to_name(type)[0]) ? "an" : "a",
                                     json_type_to_name(type));
        *ret = v;
        return 0;
}

/* An integer in [min, max]; def when absent and not required. */
static int field_int(json_object *o, const char *what, const char *name, int64_t min, int64_t max,
                     bool required, int64_t def, int64_t *ret, struct uvm_error **err)
{
        json_object *v;
        int64_t n;
        int r;

        r = field_get(o, what, name, json_type_int, required, &v, err);
        if (r < 0)
                return r;
        if (!v) {
                *ret = def;
                return 0;
        }
        errno = 0;
        n = json_object_get_int64(v);
        if (errno != 0 || n < min || n > max)
                return uvm_error_set(err, EBADMSG,
                                     "agent %s: field \"%s\" = %s is out of range [%" PRId64
                                     ", %" PRId64 "]",
                                     what, name, json_object_to_json_string(v), min, max);
        *ret = n;
        return 0;
}

/* A non-negative integer up to UINT64_MAX (counters). */
static int field_u64_req(json_object *o, const char *what, const char *name, bool required,
                         uint64_t *ret, struct uvm_error **err)
{
        json_object *v;
        int r;

        r = field_get(o, what, name, json_type_int, required, &v, err);
        if (r < 0 || !v)
                return r;
        if (json_object_get_int64(v) < 0)
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is negative", what,
                                     name);
        *ret = json_object_get_uint64(v);
        return 0;
}

static int field_u64(json_object *o, const char *what, const char *name, uint64_t *ret,
                     struct uvm_error **err)
{
        return field_u64_req(o, what, name, true, ret, err);
}

/* Absent: *ret untouched. */
static int field_u64_opt(json_object *o, const char *what, const char *name, uint64_t *ret,
                         struct uvm_error **err)
{
        return field_u64_req(o, what, name, false, ret, err);
}

static int field_bool(json_object *o, const char *what, const char *name, bool *ret,
                      struct uvm_error **err)
{
        json_object *v;
        int r;

        r = field_get(o, what, name, json_type_boolean, false, &v, err);
        if (r < 0)
                return r;
        *ret = v ? json_object_get_boolean(v) : false;
        return 0;
}

static int field_str(json_object *o, const char *what, const char *name, size_t max_len,
                     const char **ret, struct uvm_error **err)
{
        json_object *v;
        int r;

        r = field_get(o, what, name, json_type_string, true, &v, err);
        if (r < 0)
                return r;
        if ((size_t) json_object_get_string_len(v) > max_len ||
            strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return uvm_error_set(err, EBADMSG,
                                     "agent %s: field \"%s\" is longer than %zu bytes or holds NUL",
                                     what, name, max_len);
        *ret = json_object_get_string(v);
        return 0;
}

/* Base64 (RFC 4648, padded). At most max decoded bytes. */

static int b64_value(unsigned char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

static int b64_decode(const char *in, size_t in_len, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *out = NULL;
        size_t pad = 0, n = 0;

        if (in_len % 4 != 0)
                return -EBADMSG;
        if (in_len == 0) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if (in[in_len - 1] == '=')
                pad = in[in_len - 2] == '=' ? 2 : 1;
        if (in_len / 4 * 3 - pad > max)
                return -EFBIG;
        out = malloc(in_len / 4 * 3);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < in_len; i += 4) {
                int v[4];
                bool last = i + 4 == in_len;

                for (int k = 0; k < 4; k++) {
                        bool is_pad = last && (size_t) k >= 4 - pad;

                        v[k] = is_pad ? 0 : b64_value((unsigned char) in[i + k]);
                        if (v[k] < 0)
                                return -EBADMSG;
                }
                out[n++] = (char) (v[0] << 2 | v[1] >> 4);
                if (!last || pad < 2)
                        out[n++] = (char) ((v[1] & 0xf) << 4 | v[2] >> 2);
                if (!last || pad < 1)
                        out[n++] = (char) ((v[2] & 0x3) << 6 | v[3]);
        }
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

static int field_b64(json_object *o, const char *what, const char *name, size_t max, char **ret,
                     size_t *ret_len, struct uvm_error **err)
{
        json_object *v;
        int r;

        r = field_get(o, what, name, json_type_string, false, &v, err);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        r = b64_decode(json_object_get_string(v), (size_t) json_object_get_string_len(v), max, ret,
                       ret_len);
        if (r == -EBADMSG)
                return uvm_error_set(err, EBADMSG, "agent %s: field \"%s\" is not valid base64",
                                     what, name);
        if (r == -EFBIG)
                return uvm_error_set(
                        err, EBADMSG,
                        "agent %s: field \"%s\" holds more than the %zu bytes asked for", what,
                        name, max);
        if (r < 0)
                return uvm_error_set(err, -r, "out of memory");
        return 0;
}

/* Output routing. */

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
        v = reallocarray(c->streams, c->n_streams + 1, sizeof(*v));
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

        r = field_str(o, what, "ContainerId", AGENT_MAX_ID_LEN, ret_id, err);
        if (r >= 0 && !**ret_id)
                r = uvm_error_set(err, EBADMSG, "agent %s: empty ContainerId", what);
        if (r >= 0)
                r = field_int(o, what, "ExitCode", 0, MAX_EXIT_CODE, true, 0, &code, err);
        if (r >= 0)
                r = field_int(o, what, "FinishedNs", 0, INT64_MAX, true, 0, &ns, err);
        if (r >= 0)
                r = field_bool(o, what, "OomKilled", ret_oom, err);
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

        if ((type & AGENT_RPC_MASK) != AGENT_NOTIFY_CONTAINER ||
            parse_exit(payload, &id, &code, &ns, &oom, &e) < 0) {
                log_warn("agent client: bad notification 0x%08" PRIx32 ": %s, ignoring", type,
                         e ? e->msg : "unknown type");
                return;
        }
        if (c->ev.exited)
                c->ev.exited(c->ev.data, id, code, ns, oom);
}

static void on_closed(struct agent_conn *conn, int code, const char *msg, void *userdata)
{
        struct agent_client *c = userdata;

        if (c->ev.closed)
                c->ev.closed(c->ev.data, msg ? msg : strerror(-code));
}

/* Requests. */

static int check_ctr_id(const char *id, bool allow_empty, struct uvm_error **err)
{
        if (!id || (!allow_empty && !*id))
                return uvm_error_set(err, EINVAL, "container id is empty");
        if (strlen(id) > AGENT_MAX_ID_LEN)
                return uvm_error_set(err, EINVAL, "container id is longer than %u bytes",
                                     AGENT_MAX_ID_LEN);
        return 0;
}

/* A request object carrying ContainerId and a fresh ActivityId. */
static json_object *req_new(struct agent_client *c, const char *ctr_id)
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

static int req_add(json_object *req, const char *key, json_object *v, struct uvm_error **err)
{
        if (!v || json_object_object_add(req, key, v) < 0) {
                json_object_put(v);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

/* Send req (consumed) and wait for the response. */
static int call(struct agent_client *c, uint32_t rpc, json_object *req, int timeout_ms,
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
static int call_simple(struct agent_client *c, uint32_t rpc, json_object *req,
                       struct uvm_error **err)
{
        return call(c, rpc, req, CALL_TIMEOUT_MS, NULL, err);
}

static int negotiate(struct agent_client *c, int timeout_ms, struct uvm_error **err)
{
        _cleanup_json_ json_object *req = req_new(c, "");
        _cleanup_json_ json_object *resp = NULL;
        const char *what = "NegotiateProtocol response";
        json_object *caps;
        int64_t v;
        int r;

        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if ((req_add(req, "MinimumVersion", json_object_new_int(AGENT_PROTOCOL_VERSION), err) < 0 ||
             req_add(req, "MaximumVersion", json_object_new_int(AGENT_PROTOCOL_VERSION), err) < 0))
                return -ENOMEM;
        r = call(c, AGENT_RPC_NEGOTIATE_PROTOCOL, TAKE_PTR(req),
                 timeout_ms > CALL_TIMEOUT_MS ? timeout_ms : CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = field_int(resp, what, "Version", INT32_MIN, INT32_MAX, true, 0, &v, err);
        if (r >= 0 && v != AGENT_PROTOCOL_VERSION)
                r = uvm_error_set(err, EPROTONOSUPPORT,
                                  "agent chose protocol version %" PRId64 ", we speak %d", v,
                                  AGENT_PROTOCOL_VERSION);
        if (r >= 0)
                r = field_get(resp, what, "Capabilities", json_type_object, false, &caps, err);
        return r;
}

/* Connecting. */

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The address of path; a path too long for sun_path is reached through an
 * O_PATH fd of its directory (the fd must stay open until connect). */
static int addr_for(const char *path, struct sockaddr_un *sa, int *ret_dirfd,
                    struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(path, '/');
        int fd;

        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        *ret_dirfd = -1;
        if (strlen(path) < sizeof(sa->sun_path)) {
                memcpy(sa->sun_path, path, strlen(path) + 1);
                return 0;
        }
        if (!slash || strlen(slash + 1) + 32 >= sizeof(sa->sun_path))
                return uvm_error_set(err, ENAMETOOLONG, "agent socket path '%s' is too long", path);
        dir = strndup(path, (size_t) (slash - path) + 1);
        if (!dir)
                return uvm_error_set(err, ENOMEM, "out of memory");
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return uvm_error_set(err, errno, "open %s: %m", dir);
        snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", fd, slash + 1);
        *ret_dirfd = fd;
        return 0;
}

static bool connect_retryable(int e)
{
        return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EINTR;
}

static int connect_socket(const char *path, unsigned timeout_ms, int *ret_fd,
                          struct uvm_error **err)
{
        int64_t deadline = now_ms() + timeout_ms;
        struct sockaddr_un sa;

        for (;;) {
                _cleanup_close_ int fd = -1, dirfd = -1;
                int r, e;

                r = addr_for(path, &sa, &dirfd, err);
                if (r < 0)
                        return r;
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return uvm_error_set(err, errno, "socket: %m");
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                e = errno;
                if (!connect_retryable(e) || now_ms() >= deadline)
                        return uvm_error_set(err, e, "connect to the agent at %s: %s", path,
                                             strerror(e));
                usleep(CONNECT_RETRY_MS * 1000);
        }
}

int agent_client_connect(const char *socket_path, unsigned timeout_ms,
                         const struct agent_client_events *ev, struct agent_client **ret,
                         struct uvm_error **err)
{
        static const struct agent_conn_ops ops = {
                .notify = on_notify,
                .data = on_data,
                .closed = on_closed,
        };
        struct agent_client *c;
        int fd = -1, r;

        r = connect_socket(socket_path, timeout_ms, &fd, err);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (ev)
                c->ev = *ev;
        pthread_mutex_init(&c->out_lock, NULL);
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
                uvm_error_wrap(err, "agent at %s", socket_path);
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

int agent_client_create(struct agent_client *c, const struct drv_ctr_spec *spec,
                        struct uvm_error **err)
{
        const char *what = "Create response";
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        json_object *layers;
        int64_t out, errs;
        int r;

        r = check_ctr_id(spec->id, false, err);
        if (r < 0)
                return r;
        if (!spec->oci_spec_json)
                return uvm_error_set(err, EINVAL, "container %s has no OCI spec", spec->id);
        req = req_new(c, spec->id);
        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        layers = strings_json(spec->layers);
        if (req_add(req, "Layers", layers, err) < 0 ||
            req_add(req, "ImageVolumes", image_volumes_json(spec), err) < 0 ||
            req_add(req, "Spec", json_object_new_string(spec->oci_spec_json), err) < 0 ||
            req_add(req, "ReadonlyRootfs", json_object_new_boolean(spec->readonly_rootfs), err) < 0)
                return -ENOMEM;
        r = call(c, AGENT_RPC_CREATE, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = field_int(resp, what, "StdoutStream", 0, INT64_MAX, true, 0, &out, err);
        if (r >= 0)
                r = field_int(resp, what, "StderrStream", 0, INT64_MAX, true, 0, &errs, err);
        if (r >= 0 && out == errs)
                r = uvm_error_set(err, EBADMSG, "agent %s: stdout and stderr share stream %" PRId64,
                                  what, out);
        if (r >= 0)
                r = streams_learn(c, spec->id, (uint64_t) out, (uint64_t) errs, err);
        return r < 0 ? uvm_error_wrap(err, "create container %s", spec->id) : 0;
}

int agent_client_start(struct agent_client *c, const char *ctr_id, struct uvm_error **err)
{
        _cleanup_json_ json_object *resp = NULL;
        int64_t pid;
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r >= 0)
                r = call(c, AGENT_RPC_START, req_new(c, ctr_id), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = field_int(resp, "Start response", "Pid", 1, INT_MAX, true, 0, &pid, err);
        return r < 0 ? uvm_error_wrap(err, "start container %s", ctr_id) : 0;
}

int agent_client_signal(struct agent_client *c, const char *ctr_id, int sig, bool all,
                        struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL;
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        if (sig < 1 || sig > MAX_SIGNAL)
                return uvm_error_set(err, EINVAL, "signal %d is out of range", sig);
        req = req_new(c, ctr_id);
        if (!req || req_add(req, "Signal", json_object_new_int(sig), err) < 0 ||
            req_add(req, "All", json_object_new_boolean(all), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = call_simple(c, AGENT_RPC_SIGNAL_PROCESS, TAKE_PTR(req), err);
        return r < 0 ? uvm_error_wrap(err, "signal container %s", ctr_id) : 0;
}

int agent_client_delete(struct agent_client *c, const char *ctr_id, struct uvm_error **err)
{
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        r = call_simple(c, AGENT_RPC_DELETE_CONTAINER_STATE, req_new(c, ctr_id), err);
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
        r = field_str(o, what, "Id", AGENT_MAX_ID_LEN, &id, err);
        if (r >= 0 && !*id)
                r = uvm_error_set(err, EBADMSG, "agent %s: empty Id", what);
        if (r >= 0)
                r = field_str(o, what, "State", 16, &state, err);
        if (r >= 0 && parse_state(state, &i.state) < 0)
                r = uvm_error_set(err, EBADMSG, "agent %s %s: unknown State \"%s\"", what, id,
                                  state);
        if (r >= 0)
                r = field_int(o, what, "Pid", 0, INT_MAX, false, 0, &pid, err);
        if (r >= 0)
                r = field_int(o, what, "ExitCode", -1, MAX_EXIT_CODE, i.state == DRV_CTR_EXITED, 0,
                              &code, err);
        if (r >= 0)
                r = field_int(o, what, "FinishedNs", 0, INT64_MAX, false, 0, &ns, err);
        if (r >= 0)
                r = field_bool(o, what, "OomKilled", &i.oom_killed, err);
        if (r >= 0)
                r = field_int(o, what, "DroppedBytes", 0, INT64_MAX, false, 0, &dropped, err);
        if (r >= 0)
                r = field_int(o, what, "StdoutStream", -1, INT64_MAX, false, -1, &out, err);
        if (r >= 0)
                r = field_int(o, what, "StderrStream", -1, INT64_MAX, false, -1, &errs, err);
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

        r = call(c, AGENT_RPC_GET_PROPERTIES, req_new(c, ctr_id), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = field_get(resp, "GetProperties response", "Containers", json_type_array, true,
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

        r = check_ctr_id(ctr_id, false, err);
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

static json_object *strv_to_json(char *const *v, size_t *ret_n)
{
        json_object *a = json_object_new_array();
        size_t n = 0;

        for (; a && v && v[n]; n++)
                if (json_object_array_add(a, json_object_new_string(v[n])) < 0)
                        return json_object_put(a), NULL;
        *ret_n = n;
        return a;
}

static int exec_timeout(int64_t timeout_ms)
{
        if (timeout_ms <= 0 || timeout_ms > INT_MAX - EXEC_GRACE_MS)
                return -1; /* the agent enforces none: neither do we */
        return (int) timeout_ms + EXEC_GRACE_MS;
}

static int exec_parse(json_object *resp, size_t max, struct drv_exec_result *ret,
                      struct uvm_error **err)
{
        const char *what = "ExecuteProcess response";
        struct drv_exec_result res = {0};
        int64_t code;
        int r;

        r = field_int(resp, what, "ExitCode", -1, MAX_EXIT_CODE, true, 0, &code, err);
        if (r >= 0)
                r = field_bool(resp, what, "TimedOut", &res.timed_out, err);
        if (r >= 0)
                r = field_b64(resp, what, "Stdout", max, &res.out, &res.out_len, err);
        if (r >= 0)
                r = field_b64(resp, what, "Stderr", max, &res.errout, &res.err_len, err);
        if (r >= 0) /* absent from an older agent: not known to be cut */
                r = field_bool(resp, what, "StdoutCut", &res.out_cut, err);
        if (r >= 0)
                r = field_bool(resp, what, "StderrCut", &res.err_cut, err);
        if (r < 0) {
                free(res.out);
                free(res.errout);
                return r;
        }
        res.exit_code = (int) code;
        *ret = res;
        return 0;
}

int agent_client_exec_sync(struct agent_client *c, const char *ctr_id,
                           const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                           struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        size_t max = spec->max_output, argc = 0;
        json_object *args;
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        if (!spec->argv || !spec->argv[0])
                return uvm_error_set(err, EINVAL, "exec in %s: no command given", ctr_id);
        if (max == 0 || max > AGENT_EXEC_MAX_OUTPUT)
                max = AGENT_EXEC_MAX_OUTPUT;
        req = req_new(c, ctr_id);
        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        args = strv_to_json(spec->argv, &argc);
        if (req_add(req, "Args", args, err) < 0)
                return -ENOMEM;
        if (argc > MAX_EXEC_ARGS)
                return uvm_error_set(err, E2BIG, "exec in %s: more than %d arguments", ctr_id,
                                     MAX_EXEC_ARGS);
        if (req_add(req, "TimeoutMs",
                    json_object_new_int64(spec->timeout_ms > 0 ? spec->timeout_ms : 0), err) < 0 ||
            req_add(req, "MaxOutput", json_object_new_int64((int64_t) max), err) < 0)
                return -ENOMEM;
        r = call(c, AGENT_RPC_EXECUTE_PROCESS, TAKE_PTR(req), exec_timeout(spec->timeout_ms), &resp,
                 err);
        if (r >= 0)
                r = exec_parse(resp, max, ret, err);
        return r < 0 ? uvm_error_wrap(err, "exec in container %s", ctr_id) : 0;
}

int agent_client_update(struct agent_client *c, const char *ctr_id, const char *resources_json,
                        struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL;
        json_object *res;
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        res = resources_json ? json_tokener_parse(resources_json) : NULL;
        if (!json_object_is_type(res, json_type_object)) {
                json_object_put(res);
                return uvm_error_set(err, EINVAL, "update %s: resources are not a JSON object",
                                     ctr_id);
        }
        req = req_new(c, ctr_id);
        if (!req) {
                json_object_put(res);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (req_add(req, "Resources", res, err) < 0)
                return -ENOMEM;
        r = call_simple(c, AGENT_RPC_UPDATE_CONTAINER, TAKE_PTR(req), err);
        return r < 0 ? uvm_error_wrap(err, "update container %s", ctr_id) : 0;
}

int agent_client_stats(struct agent_client *c, const char *ctr_id, struct drv_ctr_stats *ret,
                       struct uvm_error **err)
{
        const char *what = "ModifySettings (stats) response";
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        struct drv_ctr_stats s = {0};
        struct timespec ts;
        int r;

        r = check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        req = req_new(c, ctr_id);
        if (!req || req_add(req, "Stats", json_object_new_boolean(true), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = field_u64(resp, what, "CpuUsageNs", &s.cpu_usage_ns, err);
        if (r >= 0)
                r = field_u64(resp, what, "MemoryUsageBytes", &s.memory_usage_bytes, err);
        if (r >= 0)
                r = field_u64(resp, what, "MemoryWorkingSetBytes", &s.memory_working_set_bytes,
                              err);
        if (r >= 0)
                r = field_u64(resp, what, "MemoryRssBytes", &s.memory_rss_bytes, err);
        if (r >= 0)
                r = field_u64(resp, what, "PageFaults", &s.page_faults, err);
        if (r >= 0)
                r = field_u64(resp, what, "MajorPageFaults", &s.major_page_faults, err);
        /* Newer fields: an older agent leaves them out. */
        if (r >= 0)
                r = field_u64_opt(resp, what, "Pids", &s.process_count, err);
        if (r >= 0)
                r = field_u64_opt(resp, what, "WritableBytes", &s.writable_bytes, err);
        if (r >= 0)
                r = field_u64_opt(resp, what, "WritableInodes", &s.writable_inodes, err);
        if (r < 0)
                return uvm_error_wrap(err, "stats of container %s", ctr_id);
        clock_gettime(CLOCK_REALTIME, &ts);
        s.timestamp_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
        *ret = s;
        return 0;
}

static int interface_from(json_object *o, struct drv_interface_stats *ret, struct uvm_error **err)
{
        const char *what = "ModifySettings (pod stats) interface";
        const char *name = json_object_get_string(json_object_object_get(o, "Name"));
        int r;

        if (!json_object_is_type(o, json_type_object) || !name || !*name ||
            strlen(name) >= sizeof(ret->name))
                return uvm_error_set(err, EBADMSG, "agent %s: bad Name", what);
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        r = field_u64(o, what, "RxBytes", &ret->rx_bytes, err);
        if (r >= 0)
                r = field_u64(o, what, "RxErrors", &ret->rx_errors, err);
        if (r >= 0)
                r = field_u64(o, what, "TxBytes", &ret->tx_bytes, err);
        if (r >= 0)
                r = field_u64(o, what, "TxErrors", &ret->tx_errors, err);
        return r;
}

int agent_client_pod_stats(struct agent_client *c, struct drv_pod_stats *ret,
                           struct uvm_error **err)
{
        _cleanup_json_ json_object *req = req_new(c, ""), *resp = NULL;
        struct drv_pod_stats s = {0};
        struct timespec ts;
        json_object *a;
        int r;

        if (!req || req_add(req, "Stats", json_object_new_boolean(true), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r < 0)
                return uvm_error_wrap(err, "pod stats");
        if (!json_object_object_get_ex(resp, "Interfaces", &a) ||
            !json_object_is_type(a, json_type_array))
                return uvm_error_set(err, EBADMSG, "agent pod stats: Interfaces is not an array");
        for (size_t i = 0; i < json_object_array_length(a) && i < DRV_MAX_INTERFACES; i++) {
                r = interface_from(json_object_array_get_idx(a, i), &s.interfaces[i], err);
                if (r < 0)
                        return r;
                s.n_interfaces = i + 1;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        s.timestamp_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
        *ret = s;
        return 0;
}

int agent_client_modify(struct agent_client *c, const char *type, json_object *settings,
                        json_object **ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *req = req_new(c, "");
        json_object *resp = NULL;
        int r;

        if (!req || req_add(req, "ResourceType", json_object_new_string(type), err) < 0 ||
            req_add(req, "Settings", json_object_get(settings), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r < 0)
                return uvm_error_wrap(err, "guest settings %s", type);
        if (ret)
                *ret = resp;
        else
                json_object_put(resp);
        return 0;
}

int agent_client_shutdown(struct agent_client *c, struct uvm_error **err)
{
        int r = call_simple(c, AGENT_RPC_SHUTDOWN_FORCED, req_new(c, ""), err);

        /* The agent lingers until the host hangs up (so its answer is not
         * lost): hang up now rather than make it wait. */
        agent_conn_close(c->conn);
        return r < 0 ? uvm_error_wrap(err, "shut the agent down") : 0;
}
