#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "common/macros.h"
#include "sandbox/log.h"

struct pending {
        char buf[CRILOG_MAX_LINE];
        size_t len;
};

struct crilog {
        pthread_mutex_t lock; /* guards everything below */
        char *path;
        int fd;
        struct pending stream[2]; /* stdout, stderr */
};

void crilog_timestamp(int64_t ns, char *buf, size_t size)
{
        time_t s = (time_t) (ns / 1000000000);
        struct tm tm;

        gmtime_r(&s, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long long) (ns % 1000000000));
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_log(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);

        return fd < 0 ? -errno : fd;
}

int crilog_open(const char *path, struct crilog **ret, struct uvm_error **err)
{
        struct crilog *l = calloc(1, sizeof(*l));
        int fd;

        if (!l)
                return uvm_error_set(err, ENOMEM, "out of memory");
        fd = open_log(path);
        l->path = strdup(path);
        if (fd < 0 || !l->path) {
                if (fd >= 0)
                        close(fd);
                free(l->path);
                free(l);
                return fd < 0 ? uvm_error_set(err, -fd, "open log '%s': %s", path, strerror(-fd))
                              : uvm_error_set(err, ENOMEM, "out of memory");
        }
        l->fd = fd;
        pthread_mutex_init(&l->lock, NULL);
        *ret = l;
        return 0;
}

/* One record, one write(): the kubelet's reader never sees half a record. */
static int emit(struct crilog *l, enum drv_stream s, bool full, const char *text, size_t len)
{
        char head[64];
        size_t n;
        struct iovec iov[3];
        ssize_t w;

        crilog_timestamp(now_ns(), head, sizeof(head));
        n = strlen(head);
        snprintf(head + n, sizeof(head) - n, " %s %c ", s == DRV_STDERR ? "stderr" : "stdout",
                 full ? 'F' : 'P');
        iov[0] = (struct iovec){head, strlen(head)};
        iov[1] = (struct iovec){(void *) text, len};
        iov[2] = (struct iovec){"\n", 1};
        if (l->fd < 0)
                return -EBADF;
        w = writev(l->fd, iov, 3);
        return w < 0 ? -errno : 0;
}

static int write_locked(struct crilog *l, enum drv_stream s, const char *buf, size_t len)
{
        struct pending *p = &l->stream[s == DRV_STDERR];
        int r = 0;

        while (len > 0) {
                const char *nl = memchr(buf, '\n', len);
                size_t take = nl ? (size_t) (nl - buf) : len;
                size_t room = sizeof(p->buf) - p->len;

                if (take >= room) { /* the line is too long: cut a P record */
                        memcpy(p->buf + p->len, buf, room);
                        r = emit(l, s, false, p->buf, sizeof(p->buf));
                        p->len = 0;
                        buf += room;
                        len -= room;
                        continue;
                }
                memcpy(p->buf + p->len, buf, take);
                p->len += take;
                if (!nl)
                        break;
                r = emit(l, s, true, p->buf, p->len);
                p->len = 0;
                buf += take + 1;
                len -= take + 1;
        }
        return r;
}

int crilog_write(struct crilog *l, enum drv_stream s, const char *buf, size_t len)
{
        int r;

        pthread_mutex_lock(&l->lock);
        r = write_locked(l, s, buf, len);
        pthread_mutex_unlock(&l->lock);
        return r;
}

static int flush_locked(struct crilog *l)
{
        int r = 0;

        for (int i = 0; i < 2; i++)
                if (l->stream[i].len > 0) {
                        int k = emit(l, i ? DRV_STDERR : DRV_STDOUT, false, l->stream[i].buf,
                                     l->stream[i].len);
                        l->stream[i].len = 0;
                        if (k < 0 && r == 0)
                                r = k;
                }
        return r;
}

int crilog_flush(struct crilog *l)
{
        int r;

        pthread_mutex_lock(&l->lock);
        r = flush_locked(l);
        pthread_mutex_unlock(&l->lock);
        return r;
}

int crilog_reopen(struct crilog *l, struct uvm_error **err)
{
        int fd, r = 0;

        pthread_mutex_lock(&l->lock);
        flush_locked(l);
        fd = open_log(l->path);
        if (fd < 0) {
                r = uvm_error_set(err, -fd, "reopen log '%s': %s", l->path, strerror(-fd));
        } else {
                if (l->fd >= 0)
                        close(l->fd);
                l->fd = fd;
        }
        pthread_mutex_unlock(&l->lock);
        return r;
}

struct crilog *crilog_free(struct crilog *l)
{
        if (!l)
                return NULL;
        crilog_flush(l);
        if (l->fd >= 0)
                close(l->fd);
        pthread_mutex_destroy(&l->lock);
        free(l->path);
        free(l);
        return NULL;
}
