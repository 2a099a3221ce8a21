/* The CRI log's format and line splitting (log.h), portable: the file
 * under it is log-plat.h's (log_linux.c, log_win.c). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/platform.h"
#include "sandbox/log-plat.h"
#include "sandbox/log.h"

/* Room before a line for its record's head ("<ts> stdout F "): the record
 * is put together in place and written with one call. */
#define HEAD_ROOM 64

struct pending {
        char rec[HEAD_ROOM + CRILOG_MAX_LINE + 1]; /* head room, the line, its '\n' */
        size_t len;                                /* of the line so far */
};

struct crilog {
        pthread_mutex_t lock; /* guards everything below */
        char *path;
        intptr_t file;            /* open; a failed reopen keeps the old one */
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

int crilog_open(const char *path, struct crilog **ret, struct uvm_error **err)
{
        struct crilog *l = calloc(1, sizeof(*l));
        intptr_t f = -1;
        int r;

        if (!l)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = crilog_plat_open(path, &f);
        l->path = strdup(path);
        if (r < 0 || !l->path) {
                if (r >= 0)
                        crilog_plat_close(f);
                free(l->path);
                free(l);
                return r < 0 ? uvm_error_set(err, -r, "open log '%s': %s", path, strerror(-r))
                             : uvm_error_set(err, ENOMEM, "out of memory");
        }
        l->file = f;
        pthread_mutex_init(&l->lock, NULL);
        *ret = l;
        return 0;
}

/* p's line as one record: the kubelet's reader never sees half of one. */
static int emit(struct crilog *l, enum drv_stream s, bool full, struct pending *p)
{
        char head[HEAD_ROOM];
        size_t n;

        crilog_timestamp((int64_t) plat_realtime_ns(), head, sizeof(head));
        n = strlen(head);
        snprintf(head + n, sizeof(head) - n, " %s %c ", s == DRV_STDERR ? "stderr" : "stdout",
                 full ? 'F' : 'P');
        n = strlen(head);
        memcpy(p->rec + HEAD_ROOM - n, head, n);
        p->rec[HEAD_ROOM + p->len] = '\n';
        return crilog_plat_write(l->file, p->rec + HEAD_ROOM - n, n + p->len + 1);
}

static int write_locked(struct crilog *l, enum drv_stream s, const char *buf, size_t len)
{
        struct pending *p = &l->stream[s == DRV_STDERR];
        char *line = p->rec + HEAD_ROOM;
        int r = 0;

        while (len > 0) {
                const char *nl = memchr(buf, '\n', len);
                size_t take = nl ? (size_t) (nl - buf) : len;
                size_t room = CRILOG_MAX_LINE - p->len;

                if (take >= room) { /* the line is too long: cut a P record */
                        memcpy(line + p->len, buf, room);
                        p->len = CRILOG_MAX_LINE;
                        r = emit(l, s, false, p);
                        p->len = 0;
                        buf += room;
                        len -= room;
                        continue;
                }
                memcpy(line + p->len, buf, take);
                p->len += take;
                if (!nl)
                        break;
                r = emit(l, s, true, p);
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
                        int k = emit(l, i ? DRV_STDERR : DRV_STDOUT, false, &l->stream[i]);
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
        intptr_t f = -1;
        int r;

        pthread_mutex_lock(&l->lock);
        flush_locked(l);
        r = crilog_plat_open(l->path, &f);
        if (r < 0) {
                r = uvm_error_set(err, -r, "reopen log '%s': %s", l->path, strerror(-r));
        } else {
                crilog_plat_close(l->file);
                l->file = f;
        }
        pthread_mutex_unlock(&l->lock);
        return r;
}

struct crilog *crilog_free(struct crilog *l)
{
        if (!l)
                return NULL;
        crilog_flush(l);
        crilog_plat_close(l->file);
        pthread_mutex_destroy(&l->lock);
        free(l->path);
        free(l);
        return NULL;
}
