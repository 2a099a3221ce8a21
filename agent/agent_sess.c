/* The session registry of agent_pump.c: building and adding sessions, their
 * ids, the containers' stdin and console for attaches, the host connection
 * they belong to, and the requests that name a session (SignalProcess,
 * ResizeConsole). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/pump-internal.h"
#include "common/log.h"

#define CONN_WAIT_MS 1000 /* a request may be served before its host is installed */

static const unsigned max_count[_AGENT_SESS_KIND_MAX] = {
        [AGENT_SESS_EXEC] = AGENT_MAX_EXECS,
        [AGENT_SESS_ATTACH] = AGENT_MAX_ATTACHES,
        [AGENT_SESS_PORT] = AGENT_MAX_PORTS,
};

static const char *const kind_names[_AGENT_SESS_KIND_MAX] = {
        [AGENT_SESS_EXEC] = "interactive processes",
        [AGENT_SESS_ATTACH] = "attaches",
        [AGENT_SESS_PORT] = "port-forward connections",
};

/* Request fields. */

int agent_json_bool(json_object *req, const char *key, bool *ret, struct uvm_error **err)
{
        json_object *v;

        *ret = false;
        if (!json_object_object_get_ex(req, key, &v) || !v)
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return uvm_error_set(err, EINVAL, "%s must be true or false", key);
        *ret = json_object_get_boolean(v);
        return 0;
}

int agent_json_int(json_object *req, const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *ret, struct uvm_error **err)
{
        json_object *v;
        int64_t n;

        if (!json_object_object_get_ex(req, key, &v) || !v) {
                *ret = def;
                if (def < min || def > max)
                        return uvm_error_set(err, EINVAL, "%s is missing", key);
                return 0;
        }
        errno = 0;
        n = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || errno || n < min || n > max)
                return uvm_error_set(err, EINVAL,
                                     "%s must be a number from %" PRId64 " to %" PRId64, key, min,
                                     max);
        *ret = n;
        return 0;
}

/* Building. */

int agent_sess_new(enum agent_sess_kind kind, const char *ctr_id, struct agent_sess **ret,
                   struct uvm_error **err)
{
        struct agent_sess *s = calloc(1, sizeof(*s));
        bool full;

        if (!s || !(s->ctr_id = strdup(ctr_id))) {
                free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s->kind = kind;
        s->console_fd = s->pidfd = s->in.fd = -1;
        for (int i = 0; i < 2; i++)
                s->out[i] = (struct out_leg){.fd = -1, .eof = true, .closed = true};
        pthread_mutex_lock(&pump.lock);
        full = pump.count[kind] >= max_count[kind];
        if (!full)
                pump.count[kind]++;
        pthread_mutex_unlock(&pump.lock);
        if (full) {
                free(s->ctr_id);
                free(s);
                return uvm_error_set(err, EAGAIN, "too many %s (at most %u)", kind_names[kind],
                                     max_count[kind]);
        }
        *ret = s;
        return 0;
}

void agent_sess_out(struct agent_sess *s, int which, int fd, uint64_t src, bool send)
{
        s->out[which] =
                (struct out_leg){.fd = fd, .ready = true, .tee = fd < 0, .src = src, .send = send};
}

void agent_sess_in(struct agent_sess *s, int fd)
{
        s->in.fd = fd;
        s->in.ready = true;
        s->in.stream = 1; /* wanted; the id comes with agent_pump_add */
}

void agent_sess_ctr_stdin(struct agent_sess *s)
{
        s->ctr_stdin = true;
}

void agent_sess_process(struct agent_sess *s, pid_t pid, int pidfd)
{
        s->pid = pid;
        s->pidfd = pidfd;
        s->exit_seen = pidfd < 0; /* gone before we could hold it */
}

void agent_sess_console(struct agent_sess *s, int fd)
{
        s->console_fd = fd;
}

/* Close everything of s (lock held; s is in no list). */
void pump_sess_destroy(struct agent_sess *s)
{
        for (int i = 0; i < 2; i++) {
                pump_close_fd(&s->out[i].fd, &s->out[i].watched);
                free(s->out[i].buf);
        }
        pump_in_drop(&s->in, NULL);
        pump_close_fd(&s->pidfd, &s->pid_watched);
        if (s->console_fd >= 0)
                close(s->console_fd);
        pump.count[s->kind]--;
        free(s->ctr_id);
        free(s->msg);
        free(s);
}

struct agent_sess *agent_sess_free(struct agent_sess *s)
{
        if (!s)
                return NULL;
        pthread_mutex_lock(&pump.lock);
        pump_kill(s);
        pump_sess_destroy(s);
        pthread_mutex_unlock(&pump.lock);
        return NULL;
}

/* Lookups (lock held). */

static struct agent_sess *find_id(uint64_t id)
{
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

struct agent_sess *pump_find_in(uint64_t stream)
{
        if (stream < AGENT_SESSION_ID_BASE)
                return NULL;
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->in.stream == stream)
                        return s;
        return NULL;
}

static struct ctr_stdio *ctr_find(const char *id, struct ctr_stdio ***ret_link)
{
        for (struct ctr_stdio **p = &pump.ctrs; *p; p = &(*p)->next)
                if (STR_EQ((*p)->id, id)) {
                        if (ret_link)
                                *ret_link = p;
                        return *p;
                }
        return NULL;
}

/* Adding. */

/* An attach's stdin and console: its own copies of the container's. */
static int attach_fds(struct agent_sess *s, struct uvm_error **err)
{
        struct ctr_stdio *c = ctr_find(s->ctr_id, NULL);

        if (!c)
                return uvm_error_set(err, EBUSY, "container '%s' is not running", s->ctr_id);
        if (s->ctr_stdin && c->stdin_fd < 0)
                return uvm_error_set(err, EINVAL,
                                     "container '%s' has no stdin (not created with Stdin, or "
                                     "closed after its StdinOnce attach)",
                                     s->ctr_id);
        if (c->console_fd >= 0 && (s->console_fd = fcntl(c->console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                return uvm_error_set(err, errno, "dup: %m");
        if (s->ctr_stdin) {
                s->in.fd = fcntl(c->stdin_fd, F_DUPFD_CLOEXEC, 3);
                if (s->in.fd < 0)
                        return uvm_error_set(err, errno, "dup: %m");
                s->in.ready = true;
                s->in.stream = 1;
        }
        s->stdin_once = c->stdin_once;
        return 0;
}

/* Give s its ids: the session's, then one per stream (a port-forward's one
 * stream is the session's id, both ways). */
static void give_ids(struct agent_sess *s)
{
        s->id = pump.next_id++;
        if (s->kind == AGENT_SESS_PORT) {
                s->out[0].stream = s->in.stream = s->id;
                s->out[0].eof = s->out[0].closed = false;
                return;
        }
        if (s->in.stream)
                s->in.stream = pump.next_id++;
        for (int i = 0; i < 2; i++) {
                struct out_leg *o = &s->out[i];

                if (o->send)
                        o->stream = pump.next_id++;
                if (o->send || o->fd >= 0)
                        o->eof = o->closed = false;
        }
}

static json_object *add_response(const struct agent_sess *s)
{
        static const char *const id_key[_AGENT_SESS_KIND_MAX] = {
                [AGENT_SESS_EXEC] = "ProcessId",
                [AGENT_SESS_ATTACH] = "AttachId",
                [AGENT_SESS_PORT] = "StreamId",
        };
        json_object *o = json_object_new_object();

        json_object_object_add(o, id_key[s->kind], json_object_new_uint64(s->id));
        if (s->kind == AGENT_SESS_PORT)
                return o;
        json_object_object_add(o, "StdinStream", json_object_new_uint64(s->in.stream));
        json_object_object_add(o, "StdoutStream", json_object_new_uint64(s->out[0].stream));
        json_object_object_add(o, "StderrStream", json_object_new_uint64(s->out[1].stream));
        return o;
}

/* Wait (lock held) until conn is the installed host. */
static int wait_conn(struct agent_conn *conn, struct uvm_error **err)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += CONN_WAIT_MS / 1000;
        while (pump.conn != conn)
                if (pthread_cond_timedwait(&pump.conn_cond, &pump.lock, &ts) != 0)
                        return uvm_error_set(err, ECONNRESET, "the host connection was replaced");
        return 0;
}

int agent_pump_add(struct agent_sess *s, struct agent_conn *conn, json_object **ret,
                   struct uvm_error **err)
{
        int r;

        pthread_mutex_lock(&pump.lock);
        r = wait_conn(conn, err);
        if (r >= 0 && s->kind == AGENT_SESS_ATTACH)
                r = attach_fds(s, err);
        if (r < 0) {
                pump_kill(s);
                pump_sess_destroy(s);
                pthread_mutex_unlock(&pump.lock);
                return r;
        }
        give_ids(s);
        s->conn = conn;
        s->held = true;
        s->added_ms = pump_now_ms();
        pump_watch(s->pidfd, &s->pid_watched, &s->exit_seen, EPOLLIN, !s->exit_seen);
        s->next = pump.list;
        pump.list = s;
        *ret = add_response(s);
        log_debug("session %" PRIu64 " added for '%s'", s->id, s->ctr_id);
        pthread_mutex_unlock(&pump.lock);
        return 0;
}

void agent_pump_responded(json_object *response)
{
        json_object *v = NULL;
        struct agent_sess *s;

        if (!json_object_object_get_ex(response, "ProcessId", &v) &&
            !json_object_object_get_ex(response, "AttachId", &v) &&
            !json_object_object_get_ex(response, "StreamId", &v))
                return;
        pthread_mutex_lock(&pump.lock);
        s = find_id(json_object_get_uint64(v));
        if (s)
                s->held = false;
        pthread_mutex_unlock(&pump.lock);
        agent_pump_kick();
}

/* The host. */

/* s's host is gone: kill its process, free it without a word (lock held). */
void pump_abandon(struct agent_sess *s)
{
        pump_kill(s);
        s->abandoned = true;
}

void agent_pump_set_conn(struct agent_conn *conn)
{
        pthread_mutex_lock(&pump.lock);
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->conn != conn)
                        pump_abandon(s);
        pump.conn = conn;
        pthread_cond_broadcast(&pump.conn_cond);
        pthread_mutex_unlock(&pump.lock);
        agent_pump_kick();
}

void agent_pump_conn_closed(struct agent_conn *conn)
{
        pthread_mutex_lock(&pump.lock);
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->conn == conn)
                        pump_abandon(s);
        pthread_mutex_unlock(&pump.lock);
        agent_pump_kick();
}

/* Attach output. */

int pump_buf_append(struct out_leg *o, const void *data, size_t len)
{
        size_t want = o->cap ? o->cap : 4096;
        char *p;

        if (len > PUMP_ATTACH_PENDING - o->len)
                return -ENOBUFS;
        while (want < o->len + len)
                want *= 2;
        if (want > o->cap) {
                p = realloc(o->buf, want < PUMP_ATTACH_PENDING ? want : PUMP_ATTACH_PENDING);
                if (!p)
                        return -ENOBUFS;
                o->buf = p;
                o->cap = want < PUMP_ATTACH_PENDING ? want : PUMP_ATTACH_PENDING;
        }
        memcpy(o->buf + o->len, data, len);
        o->len += len;
        return 0;
}

/* Containers' stdin and console. */

void agent_pump_ctr_stdio(const char *ctr_id, int stdin_fd, int console_fd, bool stdin_once)
{
        struct ctr_stdio *c = calloc(1, sizeof(*c));

        if (!c || !(c->id = strdup(ctr_id))) {
                log_error("container '%s': out of memory, no stdin for its attaches", ctr_id);
                free(c);
                if (stdin_fd >= 0)
                        close(stdin_fd);
                if (console_fd >= 0)
                        close(console_fd);
                return;
        }
        c->stdin_fd = stdin_fd;
        c->console_fd = console_fd;
        c->stdin_once = stdin_once;
        pthread_mutex_lock(&pump.lock);
        c->next = pump.ctrs;
        pump.ctrs = c;
        pthread_mutex_unlock(&pump.lock);
}

void agent_pump_ctr_gone(const char *ctr_id)
{
        struct ctr_stdio **link = NULL, *c;

        pthread_mutex_lock(&pump.lock);
        c = ctr_find(ctr_id, &link);
        if (c) {
                *link = c->next;
                if (c->stdin_fd >= 0)
                        close(c->stdin_fd);
                if (c->console_fd >= 0)
                        close(c->console_fd);
                free(c->id);
                free(c);
        }
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->kind == AGENT_SESS_ATTACH && STR_EQ(s->ctr_id, ctr_id) && !s->ctr_exited) {
                        s->ctr_exited = true;
                        s->exit_ms = pump_now_ms();
                }
        pthread_mutex_unlock(&pump.lock);
        agent_pump_kick();
}

/* Every copy of the pipe's write end must go for the container to see EOF
 * (pump thread: the attaches' fds may be in the epoll set). */
void pump_ctr_stdin_close(const char *ctr_id)
{
        struct ctr_stdio *c = ctr_find(ctr_id, NULL);

        if (c && c->stdin_fd >= 0) {
                close(c->stdin_fd);
                c->stdin_fd = -1;
        }
        for (struct agent_sess *s = pump.list; s; s = s->next)
                if (s->kind == AGENT_SESS_ATTACH && STR_EQ(s->ctr_id, ctr_id))
                        pump_in_drop(&s->in, s->abandoned ? NULL : s->conn);
}

/* Requests naming a session. */

/* The live session req names by ProcessId (lock held). */
static int req_session(json_object *req, struct agent_sess **ret, struct uvm_error **err)
{
        const char *ctr = json_string_of(req, "ContainerId");
        struct agent_sess *s;
        int64_t id;
        int r;

        r = agent_json_int(req, "ProcessId", 1, INT64_MAX, 0, &id, err);
        if (r < 0)
                return r;
        s = find_id((uint64_t) id);
        if (!s || s->abandoned || s->ending || s->finished || !ctr || !STR_EQ(s->ctr_id, ctr))
                return uvm_error_set(err, ENOENT, "no process %" PRId64 " in container '%.64s'", id,
                                     ctr ? ctr : "");
        *ret = s;
        return 0;
}

int agent_pump_signal(json_object *req, struct uvm_error **err)
{
        struct agent_sess *s;
        int64_t sig = 0;
        bool close_it;
        int r;

        r = agent_json_bool(req, "Close", &close_it, err);
        if (r >= 0 && !close_it)
                r = agent_json_int(req, "Signal", 1, 64, 0, &sig, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&pump.lock);
        r = req_session(req, &s, err);
        if (r >= 0 && close_it) {
                s->ending = true; /* an exec is killed, an attach detached, a port closed */
                log_debug("session %" PRIu64 ": closed by the host", s->id);
        } else if (r >= 0 && s->kind != AGENT_SESS_EXEC) {
                r = uvm_error_set(err, EINVAL, "%" PRIu64 " is an attach or a port, not a process",
                                  s->id);
        } else if (r >= 0 && !s->exit_seen && pidfd_send_signal(s->pidfd, (int) sig, NULL, 0) < 0 &&
                   errno != ESRCH) {
                r = uvm_error_set(err, errno, "signal %d to process %" PRIu64 ": %m", (int) sig,
                                  s->id);
        }
        pthread_mutex_unlock(&pump.lock);
        agent_pump_kick();
        return r;
}

int agent_pump_resize(json_object *req, struct uvm_error **err)
{
        struct agent_sess *s;
        int64_t h, w;
        int r;

        r = agent_json_int(req, "Height", 0, UINT16_MAX, -1, &h, err);
        if (r >= 0)
                r = agent_json_int(req, "Width", 0, UINT16_MAX, -1, &w, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&pump.lock);
        r = req_session(req, &s, err);
        if (r >= 0 && s->console_fd < 0)
                r = uvm_error_set(err, ENOTTY, "process %" PRIu64 " has no terminal", s->id);
        if (r >= 0 && ioctl(s->console_fd, TIOCSWINSZ,
                            &(struct winsize){.ws_row = (unsigned short) h,
                                              .ws_col = (unsigned short) w}) < 0)
                r = uvm_error_set(err, errno, "resizing the terminal of %" PRIu64 ": %m", s->id);
        pthread_mutex_unlock(&pump.lock);
        return r;
}
