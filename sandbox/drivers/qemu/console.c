/* A VM's serial console (QEMU's chardev socket, QEMU the server): kept in
 * <pod>/console.log, rotated at CONSOLE_MAX bytes (one older file kept), and
 * the guest agent's own log records (it logs to the console) passed on to
 * uvmd's log with the pod id. Nobody connected means QEMU drops the output:
 * what is kept is bounded either way. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/console.h"

#define CONSOLE_MAX (1u << 20)
#define LINE_MAX_ 1024

struct qconsole {
        char *pod_id, *sock, *log, *old;
        int fd;         /* the socket; shutdown() ends the reader */
        FILE *out;      /* console.log */
        size_t written; /* bytes in console.log */
        char line[LINE_MAX_];
        size_t len;
        pthread_t thread;
        bool started;
};

static int open_log(struct qconsole *c)
{
        long size;

        c->out = fopen(c->log, "ae");
        if (!c->out)
                return -errno;
        size = ftell(c->out);
        c->written = size > 0 ? (size_t) size : 0;
        return 0;
}

static void rotate(struct qconsole *c)
{
        fclose(c->out);
        c->out = NULL;
        if (rename(c->log, c->old) < 0)
                log_debug("console of pod %s: rotate: %m", c->pod_id);
        (void) open_log(c);
}

/* "2026-12-06T23:00:00.123456Z info  ...": the agent's records. */
static void relay(struct qconsole *c, const char *l)
{
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        const char *z = strchr(l, 'Z');

        if (strncmp(l, "20", 2) != 0 || !z || z - l > 32 || z[1] != ' ')
                return;
        for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
                if (strncmp(z + 2, levels[i], strlen(levels[i])) == 0)
                        log_pod(i >= 2 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, c->pod_id,
                                "guest of pod %s: %s", c->pod_id, z + 2);
}

static void take(struct qconsole *c, const char *buf, size_t n)
{
        if (c->out) {
                fwrite(buf, 1, n, c->out);
                fflush(c->out);
                c->written += n;
                if (c->written >= CONSOLE_MAX)
                        rotate(c);
        }
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n' || c->len == sizeof(c->line) - 1) {
                        c->line[c->len] = '\0';
                        if (c->len && c->line[c->len - 1] == '\r')
                                c->line[c->len - 1] = '\0';
                        relay(c, c->line);
                        c->len = 0;
                        if (buf[i] == '\n')
                                continue;
                }
                c->line[c->len++] = buf[i];
        }
}

static void *reader(void *arg)
{
        struct qconsole *c = arg;
        char buf[4096];

        for (;;) {
                ssize_t n = read(c->fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                take(c, buf, (size_t) n);
        }
        return NULL;
}

/* QEMU creates the socket as it starts: try for up to timeout_ms. */
static int connect_sock(const char *path, int timeout_ms)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};

        if (strlen(path) >= sizeof(a.sun_path))
                return -ENAMETOOLONG;
        memcpy(a.sun_path, path, strlen(path));
        for (int waited = 0;; waited += 20) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
                        return fd;
                close(fd);
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                usleep(20000);
        }
}

struct qconsole *qconsole_free(struct qconsole *c)
{
        if (!c)
                return NULL;
        if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
        if (c->started)
                pthread_join(c->thread, NULL);
        if (c->fd >= 0)
                close(c->fd);
        if (c->out)
                fclose(c->out);
        free(c->pod_id);
        free(c->sock);
        free(c->log);
        free(c->old);
        free(c);
        return NULL;
}

int qconsole_start(const char *pod_id, const char *sock, const char *log, int timeout_ms,
                   struct qconsole **ret, struct uvm_error **err)
{
        struct qconsole *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return uvm_error_set(err, ENOMEM, "out of memory");
        c->fd = -1;
        c->pod_id = strdup(pod_id);
        c->sock = strdup(sock);
        c->log = strdup(log);
        if (!c->pod_id || !c->sock || !c->log || asprintf(&c->old, "%s.1", log) < 0) {
                c->old = NULL;
                qconsole_free(c);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = open_log(c);
        if (r >= 0)
                r = c->fd = connect_sock(sock, timeout_ms);
        if (r >= 0)
                r = -pthread_create(&c->thread, NULL, reader, c);
        if (r < 0) {
                c->fd = c->fd < 0 ? -1 : c->fd;
                qconsole_free(c);
                return uvm_error_set(err, -r, "console %s: %s", sock, strerror(-r));
        }
        c->started = true;
        *ret = c;
        return 0;
}
