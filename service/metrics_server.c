/* GET /metrics over HTTP/1.1 (metrics_server.h). The request head is read
 * with the streaming server's parser (stream/http.h). */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "service/config.h"
#include "service/metrics_server.h"
#include "stream/http.h"

#define IO_TIMEOUT_S 5
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Connections served at once, each on a thread of its own: a client that
 * stalls holds one of them for up to IO_TIMEOUT_S, never the scraper. More
 * get 503 at once. */
#define MAX_CONNS 4

struct metrics_server {
        int listen_fd; /* immutable */
        int stop[2];   /* a pipe: written once to stop the accepting thread */
        pthread_t thread;
        struct metrics_registry *registry; /* borrowed */
        pthread_mutex_t lock;
        pthread_cond_t idle;  /* signalled as a connection ends */
        int conns[MAX_CONNS]; /* under lock: live connections' fds, -1 free */
        unsigned live;        /* under lock */
};

struct conn {
        struct metrics_server *s;
        unsigned slot;
};

static int listen_on(const char *address, struct uvm_error **err)
{
        struct sockaddr_storage ss = {0};
        _cleanup_close_ int fd = -1;
        unsigned port;
        socklen_t len;
        bool v6;
        int one = 1, r;

        r = config_loopback_address(address, &v6, &port, err);
        if (r < 0)
                return r;
        if (v6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                a->sin6_port = htons((uint16_t) port);
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;
                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a->sin_port = htons((uint16_t) port);
                len = sizeof(*a);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return uvm_error_set(err, errno, "metrics: socket: %m");
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, len) < 0 || listen(fd, 16) < 0)
                return uvm_error_set(err, errno, "metrics: cannot listen on %s: %m", address);
        return TAKE_FD(fd);
}

static void send_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return; /* the client left or stalled: nothing more to do */
                p += w;
                n -= (size_t) w;
        }
}

static void send_error(int fd, int status, const char *msg)
{
        char buf[512];
        size_t len;

        if (http_format_error(status, msg, buf, sizeof(buf), &len, NULL) >= 0)
                send_all(fd, buf, len);
}

static void send_metrics(struct metrics_server *s, int fd, bool head)
{
        const struct http_header hdrs[] = {
                {"Content-Type", CONTENT_TYPE},
                {"Connection", "close"},
        };
        _cleanup_free_ char *text = NULL, *buf = NULL;
        size_t len, out;

        if (metrics_expose(s->registry, &text, &len) < 0 || !(buf = malloc(len + 1024))) {
                send_error(fd, 500, "out of memory");
                return;
        }
        /* HEAD: the same head, Content-Length included, and no body. */
        if (http_format_response(200, hdrs, ARRAY_SIZE(hdrs), text, len, buf, len + 1024, &out,
                                 NULL) < 0) {
                send_error(fd, 500, "cannot format the response");
                return;
        }
        send_all(fd, buf, head ? out - len : out);
}

/* One request, one answer, then the connection closes. */
static void serve_one(struct metrics_server *s, int fd)
{
        _cleanup_(http_parser_freep) struct http_parser *p = http_parser_new();
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        const struct http_request *req;
        char buf[4096];
        size_t used;
        int r = 0;

        if (!p)
                return;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        while (r == 0) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return; /* closed, or nothing within the timeout */
                r = http_parser_feed(p, buf, (size_t) n, &used, NULL);
        }
        if (r < 0) {
                send_error(fd, http_status_of_error(r), "bad request");
                return;
        }
        req = http_parser_request(p);
        if (!STR_EQ(req->path, "/metrics"))
                send_error(fd, 404, "only /metrics is served here");
        else if (!STR_EQ(req->method, "GET") && !STR_EQ(req->method, "HEAD"))
                send_error(fd, 405, "GET /metrics");
        else
                send_metrics(s, fd, STR_EQ(req->method, "HEAD"));
}

static void *conn_main(void *arg)
{
        struct conn *c = arg;
        struct metrics_server *s = c->s;
        int fd = s->conns[c->slot]; /* the slot is ours until we free it */

        serve_one(s, fd);
        pthread_mutex_lock(&s->lock);
        s->conns[c->slot] = -1;
        s->live--;
        pthread_cond_signal(&s->idle);
        pthread_mutex_unlock(&s->lock);
        close(fd);
        free(c);
        return NULL;
}

/* A thread for the connection, or 503 when MAX_CONNS are live. */
static void dispatch(struct metrics_server *s, int fd)
{
        struct conn *c = malloc(sizeof(*c));
        pthread_attr_t attr;
        pthread_t t;
        unsigned i;

        pthread_mutex_lock(&s->lock);
        for (i = 0; i < MAX_CONNS && s->conns[i] >= 0; i++)
                ;
        if (!c || i == MAX_CONNS) {
                pthread_mutex_unlock(&s->lock);
                free(c);
                /* A fresh socket's send buffer takes this without blocking. */
                send_error(fd, 503, "too many metrics connections");
                close(fd);
                return;
        }
        s->conns[i] = fd;
        s->live++;
        pthread_mutex_unlock(&s->lock);
        *c = (struct conn){.s = s, .slot = i};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
                pthread_mutex_lock(&s->lock);
                s->conns[i] = -1;
                s->live--;
                pthread_mutex_unlock(&s->lock);
                free(c);
                send_error(fd, 503, "cannot start a thread");
                close(fd);
        }
        pthread_attr_destroy(&attr);
}

static void *server_main(void *arg)
{
        struct metrics_server *s = arg;
        struct pollfd pfd[2] = {{.fd = s->listen_fd, .events = POLLIN},
                                {.fd = s->stop[0], .events = POLLIN}};

        for (;;) {
                int fd;

                if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
                        log_error("metrics: poll: %m; the endpoint stops");
                        break;
                }
                if (pfd[1].revents)
                        break;
                if (!(pfd[0].revents & POLLIN))
                        continue;
                fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue; /* EAGAIN, ECONNABORTED, EMFILE: next time */
                dispatch(s, fd);
        }
        return NULL;
}

int metrics_server_start(const char *address, struct metrics_registry *r,
                         struct metrics_server **ret, struct uvm_error **err)
{
        struct metrics_server *s;
        int fd;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        fd = listen_on(address, err);
        if (fd < 0)
                return fd;
        s = calloc(1, sizeof(*s));
        if (!s) {
                close(fd);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s->listen_fd = fd;
        s->registry = r;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        for (unsigned i = 0; i < MAX_CONNS; i++)
                s->conns[i] = -1;
        if (pipe2(s->stop, O_CLOEXEC) < 0) {
                int e = errno;
                close(fd);
                free(s);
                return uvm_error_set(err, e, "metrics: pipe: %s", strerror(e));
        }
        if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
                pthread_mutex_destroy(&s->lock);
                pthread_cond_destroy(&s->idle);
                close(s->stop[0]);
                close(s->stop[1]);
                close(fd);
                free(s);
                return uvm_error_set(err, EAGAIN, "metrics: cannot start its thread");
        }
        log_info("metrics on http://%s/metrics", address);
        *ret = s;
        return 0;
}

struct metrics_server *metrics_server_stop(struct metrics_server *s)
{
        if (!s)
                return NULL;
        (void) !write(s->stop[1], "x", 1);
        pthread_join(s->thread, NULL);
        /* Live connections end now (their reads and writes fail), not at
         * their timeouts; their threads free the slots. */
        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < MAX_CONNS; i++)
                if (s->conns[i] >= 0)
                        (void) shutdown(s->conns[i], SHUT_RDWR);
        while (s->live > 0)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        close(s->stop[0]);
        close(s->stop[1]);
        close(s->listen_fd);
        free(s);
        return NULL;
}
