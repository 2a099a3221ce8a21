/* A QMP client: see qmp.h for the protocol and the error model. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/qmp-internal.h"
#include "sandbox/drivers/qemu/qmp.h"

#define QMP_READ_CHUNK (64 * 1024)
/* Events kept for qmp_wait_event: at most this many, of at most
 * QMP_MAX_MESSAGE bytes in all; the oldest go first. */
#define QMP_KEEP_EVENTS 64
/* Ids of commands that timed out, whose late replies are dropped. */
#define QMP_ABANDONED 16
#define QMP_CONNECT_RETRY_MS 10
#define QMP_MAX_EVENT_NAME 128

struct qmp_kept {
        json_object *msg; /* the whole event message */
        size_t bytes;
};

struct qmp {
        int fd;
        bool broken; /* a protocol or I/O error: only qmp_close is left */
        json_tokener *tok;
        size_t msg_bytes; /* bytes fed to tok for the message being parsed */
        char buf[QMP_READ_CHUNK];
        size_t pos, len; /* unparsed input: buf[pos..len) */
        int64_t next_id;
        int64_t abandoned[QMP_ABANDONED];
        size_t n_abandoned; /* ever recorded; the ring holds the last QMP_ABANDONED */
        struct qmp_kept kept[QMP_KEEP_EVENTS];
        size_t n_kept, kept_bytes;
        qmp_event_fn event_fn;
        void *event_data;
        int pass_fd; /* goes with the next command's first bytes (SCM_RIGHTS); -1: none */
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
        int64_t left = deadline - now_ms();

        if (left <= 0)
                return 0;
        return left > INT32_MAX ? INT32_MAX : (int) left;
}

/* Mark the connection unusable and record the error. */
static int qmp_fail(struct qmp *q, struct uvm_error **err, int code, const char *what)
{
        q->broken = true;
        if (code == ECONNRESET || code == EPIPE)
                return uvm_error_set(err, ECONNRESET, "QEMU closed the QMP socket");
        if (!what)
                return uvm_error_set(err, code, "QMP socket: %s", strerror(code));
        return uvm_error_set(err, code, "%s", what);
}

/* A protocol error: the connection is unusable from now on. */
_printf_(3, 4) static int protocol_error(struct qmp *q, struct uvm_error **err, const char *fmt,
                                         ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        q->broken = true;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return uvm_error_set(err, EPROTO, "%s", msg ? msg : "QMP protocol error");
}

static int check_usable(struct qmp *q, struct uvm_error **err)
{
        if (q->broken)
                return uvm_error_set(err, ENOTCONN,
                                     "the QMP connection is unusable after an earlier error");
        return 0;
}

/* Wait for input and read what is there. -ETIMEDOUT (not recorded) at the
 * deadline; timeout 0 still takes what is already there. */
static int fill(struct qmp *q, int64_t deadline, struct uvm_error **err)
{
        for (;;) {
                struct pollfd p = {.fd = q->fd, .events = POLLIN};
                ssize_t n;
                int r;

                r = poll(&p, 1, remaining_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return qmp_fail(q, err, errno, NULL);
                if (r == 0)
                        return -ETIMEDOUT;
                n = read(q->fd, q->buf, sizeof(q->buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return qmp_fail(q, err, errno, NULL);
                if (n == 0)
                        return qmp_fail(q, err, ECONNRESET, NULL);
                q->pos = 0;
                q->len = (size_t) n;
                return 0;
        }
}

/* Feed buffered input to the tokener: *ret_msg is a complete message, or
 * NULL when more input is needed. */
static int feed(struct qmp *q, json_object **ret_msg, size_t *ret_bytes, struct uvm_error **err)
{
        size_t n = q->len - q->pos, used;
        enum json_tokener_error jerr;
        json_object *msg;

        msg = json_tokener_parse_ex(q->tok, q->buf + q->pos, (int) n);
        jerr = json_tokener_get_error(q->tok);
        if (jerr == json_tokener_continue) {
                q->pos = q->len;
                q->msg_bytes += n;
                if (q->msg_bytes > QMP_MAX_MESSAGE)
                        return qmp_fail(q, err, EMSGSIZE,
                                        "QEMU sent a QMP message larger than 1 MiB");
                *ret_msg = NULL;
                return 0;
        }
        if (jerr != json_tokener_success)
                return protocol_error(q, err, "QEMU sent invalid JSON on the QMP socket: %s",
                                      json_tokener_error_desc(jerr));
        used = json_tokener_get_parse_end(q->tok);
        q->pos += used > n ? n : used;
        q->msg_bytes += used;
        json_tokener_reset(q->tok);
        if (q->msg_bytes > QMP_MAX_MESSAGE) {
                json_object_put(msg);
                return qmp_fail(q, err, EMSGSIZE, "QEMU sent a QMP message larger than 1 MiB");
        }
        if (!json_object_is_type(msg, json_type_object)) {
                json_object_put(msg);
                return protocol_error(q, err, "QEMU sent a QMP message that is not an object");
        }
        *ret_bytes = q->msg_bytes;
        q->msg_bytes = 0;
        *ret_msg = msg;
        return 0;
}

/* The next message (a JSON object), by the deadline. -ETIMEDOUT is not
 * recorded: the caller says what it was waiting for. */
static int read_message(struct qmp *q, int64_t deadline, json_object **ret_msg, size_t *ret_bytes,
                        struct uvm_error **err)
{
        for (;;) {
                json_object *msg = NULL;
                int r;

                if (q->pos < q->len) {
                        r = feed(q, &msg, ret_bytes, err);
                        if (r < 0)
                                return r;
                        if (msg) {
                                *ret_msg = msg;
                                return 0;
                        }
                        continue;
                }
                r = fill(q, deadline, err);
                if (r < 0)
                        return r;
        }
}

static int write_all(struct qmp *q, const char *data, size_t len, int64_t deadline,
                     struct uvm_error **err)
{
        size_t done = 0;

        while (done < len) {
                struct pollfd p = {.fd = q->fd, .events = POLLOUT};
                ssize_t n = send(q->fd, data + done, len - done, MSG_NOSIGNAL);
                int r;

                if (n >= 0) {
                        done += (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return qmp_fail(q, err, errno, NULL);
                r = poll(&p, 1, remaining_ms(deadline));
                if (r < 0 && errno != EINTR)
                        return qmp_fail(q, err, errno, NULL);
                if (r == 0) {
                        /* Half a command on the wire: the stream is lost. */
                        q->broken = done > 0;
                        return uvm_error_set(err, ETIMEDOUT, "QEMU is not reading");
                }
        }
        return 0;
}

static void kept_drop_first(struct qmp *q)
{
        q->kept_bytes -= q->kept[0].bytes;
        json_object_put(q->kept[0].msg);
        q->n_kept--;
        memmove(&q->kept[0], &q->kept[1], q->n_kept * sizeof(q->kept[0]));
}

static void kept_clear(struct qmp *q)
{
        while (q->n_kept > 0)
                kept_drop_first(q);
}

static void keep_event(struct qmp *q, json_object *msg, size_t bytes)
{
        while (q->n_kept > 0 &&
               (q->n_kept == QMP_KEEP_EVENTS || q->kept_bytes + bytes > QMP_MAX_MESSAGE)) {
                log_debug("qmp: too many unclaimed events, forgetting the oldest");
                kept_drop_first(q);
        }
        q->kept[q->n_kept].msg = json_object_get(msg);
        q->kept[q->n_kept].bytes = bytes;
        q->n_kept++;
        q->kept_bytes += bytes;
}

static const char *event_name(json_object *msg)
{
        json_object *v;

        if (!json_object_object_get_ex(msg, "event", &v))
                return NULL;
        return json_object_get_string(v);
}

/* Take the oldest kept event named name; true when there was one. */
static bool take_kept(struct qmp *q, const char *name, json_object **ret_data)
{
        for (size_t i = 0; i < q->n_kept; i++) {
                json_object *data = NULL;

                if (!STR_EQ(event_name(q->kept[i].msg), name))
                        continue;
                json_object_object_get_ex(q->kept[i].msg, "data", &data);
                if (ret_data)
                        *ret_data = json_object_get(data);
                q->kept_bytes -= q->kept[i].bytes;
                json_object_put(q->kept[i].msg);
                q->n_kept--;
                memmove(&q->kept[i], &q->kept[i + 1], (q->n_kept - i) * sizeof(q->kept[0]));
                return true;
        }
        return false;
}

/* QEMU's event names are like SHUTDOWN or DEVICE_DELETED. */
static bool valid_event_name(json_object *name)
{
        size_t n;

        if (!json_object_is_type(name, json_type_string))
                return false;
        n = (size_t) json_object_get_string_len(name);
        return n > 0 && n <= QMP_MAX_EVENT_NAME &&
               strspn(json_object_get_string(name),
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") == n;
}

/* An event message: check it, keep it, hand it to the handler. */
static int handle_event(struct qmp *q, json_object *msg, size_t bytes, struct uvm_error **err)
{
        json_object *name, *data = NULL;

        if (!json_object_object_get_ex(msg, "event", &name) || !valid_event_name(name))
                return protocol_error(q, err, "QEMU sent a QMP event without a valid name");
        if (json_object_object_get_ex(msg, "data", &data) &&
            !json_object_is_type(data, json_type_object))
                return protocol_error(q, err, "QEMU sent QMP event %s with non-object data",
                                      json_object_get_string(name));
        log_debug("qmp: event %s", json_object_get_string(name));
        keep_event(q, msg, bytes);
        if (q->event_fn)
                q->event_fn(q->event_data, json_object_get_string(name), data);
        return 0;
}

static bool is_abandoned(struct qmp *q, int64_t id)
{
        size_t n = q->n_abandoned < QMP_ABANDONED ? q->n_abandoned : QMP_ABANDONED;

        for (size_t i = 0; i < n; i++)
                if (q->abandoned[i] == id) {
                        q->abandoned[i] = 0;
                        return true;
                }
        return false;
}

/* Route one message, read while ctx ("qmp <command>" or "waiting for ...").
 * Returns 1 for the reply with id want_id (0: no reply awaited), 0 for a
 * message dealt with here (an event, a late reply to an abandoned command),
 * or -errno (-EPROTO for anything else). */
static int route(struct qmp *q, json_object *msg, size_t bytes, const char *ctx, int64_t want_id,
                 struct uvm_error **err)
{
        json_object *id;
        int64_t got;

        if (json_object_object_get_ex(msg, "event", NULL))
                return handle_event(q, msg, bytes, err);
        if (!json_object_object_get_ex(msg, "return", NULL) &&
            !json_object_object_get_ex(msg, "error", NULL))
                return protocol_error(q, err,
                                      "%s: QEMU sent a QMP message that is neither a reply nor "
                                      "an event: %.200s",
                                      ctx, json_object_to_json_string(msg));
        if (!json_object_object_get_ex(msg, "id", &id) || !json_object_is_type(id, json_type_int))
                return protocol_error(q, err, "%s: QEMU sent a reply without an id: %.200s", ctx,
                                      json_object_to_json_string(msg));
        got = json_object_get_int64(id);
        if (want_id > 0 && got == want_id)
                return 1;
        if (is_abandoned(q, got)) {
                log_debug("qmp: dropping the late reply to command %" PRId64, got);
                return 0;
        }
        if (want_id > 0)
                return protocol_error(q, err,
                                      "%s: QEMU replied with id %" PRId64 ", expected %" PRId64,
                                      ctx, got, want_id);
        return protocol_error(q, err, "%s: QEMU sent an unexpected reply (id %" PRId64 ")", ctx,
                              got);
}

/* The reply to command: its return value, or the QMP error as -EIO. */
static int decode_reply(struct qmp *q, json_object *msg, const char *command,
                        json_object **ret_return, struct uvm_error **err)
{
        json_object *e, *class, *desc, *ret = NULL;

        if (json_object_object_get_ex(msg, "error", &e)) {
                if (!json_object_object_get_ex(e, "class", &class) ||
                    !json_object_is_type(class, json_type_string) ||
                    !json_object_object_get_ex(e, "desc", &desc) ||
                    !json_object_is_type(desc, json_type_string))
                        return protocol_error(q, err, "qmp %s: QEMU sent a malformed error reply",
                                              command);
                return uvm_error_set(err, EIO, "qmp %s: %s: %s", command,
                                     json_object_get_string(class), json_object_get_string(desc));
        }
        json_object_object_get_ex(msg, "return", &ret);
        if (ret_return)
                *ret_return = json_object_get(ret);
        return 0;
}

/* As much of data as the socket takes now, with fd in its first bytes
 * (QEMU keeps it for the command that names it: getfd). At least one byte
 * goes, or -1 with errno. */
static ssize_t send_with_fd(int sock, const char *data, size_t len, int fd)
{
        char ctl[CMSG_SPACE(sizeof(int))] = {0};
        struct iovec iov = {(void *) data, len};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl,
                           .msg_controllen = sizeof(ctl)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        struct pollfd p = {.fd = sock, .events = POLLOUT};
        ssize_t n;

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        do {
                n = sendmsg(sock, &m, MSG_NOSIGNAL);
                if (n < 0 && errno == EAGAIN && poll(&p, 1, 1000) < 0 && errno != EINTR)
                        return -1;
        } while (n < 0 && (errno == EINTR || errno == EAGAIN));
        return n;
}

static int send_command(struct qmp *q, const char *command, json_object *args, int64_t id,
                        int64_t deadline, struct uvm_error **err)
{
        json_object *req = json_object_new_object();
        _cleanup_free_ char *line = NULL;
        int r;

        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_add(req, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(req, "arguments", json_object_get(args));
        json_object_object_add(req, "id", json_object_new_int64(id));
        r = asprintf(&line, "%s\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
        json_object_put(req);
        if (r < 0) {
                line = NULL;
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (q->pass_fd >= 0) {
                ssize_t n = send_with_fd(q->fd, line, (size_t) r, q->pass_fd);

                q->pass_fd = -1;
                if (n < 0)
                        return qmp_fail(q, err, errno, NULL);
                return write_all(q, line + n, (size_t) (r - n), deadline, err);
        }
        return write_all(q, line, (size_t) r, deadline, err);
}

static int execute_until(struct qmp *q, const char *command, json_object *args, int64_t deadline,
                         int timeout_ms, json_object **ret_return, struct uvm_error **err)
{
        char ctx[160];
        int64_t id;
        int r;

        r = check_usable(q, err);
        if (r < 0)
                return r;
        if (STR_EMPTY(command))
                return uvm_error_set(err, EINVAL, "qmp: no command");
        if (args && !json_object_is_type(args, json_type_object))
                return uvm_error_set(err, EINVAL, "qmp %s: the arguments must be a JSON object",
                                     command);
        snprintf(ctx, sizeof(ctx), "qmp %s", command);
        kept_clear(q);
        id = q->next_id++;
        r = send_command(q, command, args, id, deadline, err);
        if (r < 0) {
                uvm_error_wrap(err, "%s", ctx);
                return r;
        }
        for (;;) {
                json_object *msg = NULL;
                size_t bytes = 0;

                r = read_message(q, deadline, &msg, &bytes, err);
                if (r == -ETIMEDOUT) {
                        q->abandoned[q->n_abandoned++ % QMP_ABANDONED] = id;
                        return uvm_error_set(err, ETIMEDOUT, "%s: no reply within %d ms", ctx,
                                             timeout_ms);
                }
                if (r < 0) {
                        uvm_error_wrap(err, "%s", ctx);
                        return r;
                }
                r = route(q, msg, bytes, ctx, id, err);
                if (r == 1)
                        r = decode_reply(q, msg, command, ret_return, err);
                else if (r == 0)
                        r = 1;
                json_object_put(msg);
                if (r <= 0)
                        return r;
        }
}

int qmp_execute(struct qmp *q, const char *command, json_object *args, int timeout_ms,
                json_object **ret_return, struct uvm_error **err)
{
        if (timeout_ms < 0)
                return uvm_error_set(err, EINVAL, "qmp %s: negative timeout",
                                     command ? command : "");
        return execute_until(q, command, args, now_ms() + timeout_ms, timeout_ms, ret_return, err);
}

int qmp_execute_fd(struct qmp *q, const char *command, json_object *args, int fd, int timeout_ms,
                   json_object **ret_return, struct uvm_error **err)
{
        int r;

        if (fd < 0)
                return uvm_error_set(err, EBADF, "qmp %s: no fd to pass", command ? command : "");
        q->pass_fd = fd;
        r = qmp_execute(q, command, args, timeout_ms, ret_return, err);
        q->pass_fd = -1;
        return r;
}

int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_object **ret_data,
                   struct uvm_error **err)
{
        int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        char ctx[160];
        int r;

        r = check_usable(q, err);
        if (r < 0)
                return r;
        if (STR_EMPTY(name) || timeout_ms < 0)
                return uvm_error_set(err, EINVAL, "qmp: waiting needs an event name and a timeout");
        snprintf(ctx, sizeof(ctx), "waiting for QMP event %s", name);
        for (;;) {
                json_object *msg = NULL;
                size_t bytes = 0;

                if (take_kept(q, name, ret_data))
                        return 0;
                r = read_message(q, deadline, &msg, &bytes, err);
                if (r == -ETIMEDOUT)
                        return uvm_error_set(err, ETIMEDOUT, "no QMP event %s within %d ms", name,
                                             timeout_ms);
                if (r < 0) {
                        uvm_error_wrap(err, "%s", ctx);
                        return r;
                }
                r = route(q, msg, bytes, ctx, 0, err);
                json_object_put(msg);
                if (r < 0)
                        return r;
        }
}

void qmp_set_event_handler(struct qmp *q, qmp_event_fn fn, void *userdata)
{
        q->event_fn = fn;
        q->event_data = userdata;
}

/* A connected socket, retrying while QEMU has not created or opened it. */
static int connect_socket(const char *path, int64_t deadline, int timeout_ms,
                          struct uvm_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        if (STR_EMPTY(path) || strlen(path) >= sizeof(sa.sun_path))
                return uvm_error_set(err, EINVAL, "QMP socket path '%s' is empty or too long",
                                     path ? path : "");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        for (;;) {
                _cleanup_close_ int fd = -1;
                int left;

                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return uvm_error_set(err, errno, "socket: %m");
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return TAKE_FD(fd);
                if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN && errno != EINTR)
                        return uvm_error_set(err, errno, "connecting to QMP socket '%s': %m", path);
                left = remaining_ms(deadline);
                if (left == 0)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "QMP socket '%s' not accepting within %d ms: %m", path,
                                             timeout_ms);
                usleep(1000 * (left < QMP_CONNECT_RETRY_MS ? left : QMP_CONNECT_RETRY_MS));
        }
}

static int read_greeting(struct qmp *q, int64_t deadline, int timeout_ms, struct uvm_error **err)
{
        json_object *msg = NULL, *v;
        size_t bytes;
        int r;

        r = read_message(q, deadline, &msg, &bytes, err);
        if (r == -ETIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT,
                                     "no QMP greeting within %d ms (another client connected?)",
                                     timeout_ms);
        if (r < 0) {
                uvm_error_wrap(err, "reading the QMP greeting");
                return r;
        }
        r = 0;
        if (!json_object_object_get_ex(msg, "QMP", &v) || !json_object_is_type(v, json_type_object))
                r = protocol_error(q, err, "QEMU sent no QMP greeting");
        json_object_put(msg);
        return r;
}

static int qmp_start(int fd, int64_t deadline, int timeout_ms, struct qmp **ret,
                     struct uvm_error **err)
{
        _cleanup_close_ int fd_ = fd;
        _cleanup_qmp_ struct qmp *q = NULL;
        int flags, r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return uvm_error_set(err, ENOMEM, "out of memory");
        q->fd = TAKE_FD(fd_);
        q->pass_fd = -1;
        q->next_id = 1;
        q->tok = json_tokener_new();
        if (!q->tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_tokener_set_flags(q->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                               JSON_TOKENER_VALIDATE_UTF8);
        flags = fcntl(q->fd, F_GETFL);
        if (flags < 0 || fcntl(q->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return uvm_error_set(err, errno, "QMP socket: %m");
        r = read_greeting(q, deadline, timeout_ms, err);
        if (r < 0)
                return r;
        r = execute_until(q, "qmp_capabilities", NULL, deadline, timeout_ms, NULL, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int qmp_connect_fd(int fd, int timeout_ms, struct qmp **ret, struct uvm_error **err)
{
        if (timeout_ms < 0) {
                close(fd);
                return uvm_error_set(err, EINVAL, "qmp: negative timeout");
        }
        return qmp_start(fd, now_ms() + timeout_ms, timeout_ms, ret, err);
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **ret, struct uvm_error **err)
{
        int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int fd, r;

        if (timeout_ms < 0)
                return uvm_error_set(err, EINVAL, "qmp: negative timeout");
        fd = connect_socket(path, deadline, timeout_ms, err);
        if (fd < 0)
                return fd;
        r = qmp_start(fd, deadline, timeout_ms, ret, err);
        if (r < 0)
                return r;
        log_debug("qmp: connected to '%s'", path);
        return 0;
}

struct qmp *qmp_close(struct qmp *q)
{
        if (!q)
                return NULL;
        if (q->fd >= 0)
                close(q->fd);
        if (q->tok)
                json_tokener_free(q->tok);
        kept_clear(q);
        free(q);
        return NULL;
}
