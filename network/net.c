/* The network module object and its NetworkReady, driven by an inotify watch
 * on the CNI config dir so Status does not rescan the directory every call. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/macros.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/net-internal.h"
#include "network/net.h"

struct net {
        /* set by net_new, read-only afterwards */
        char *conf_dir;
        char **bin_dirs;
        char *state_dir;
        unsigned plugin_timeout_ms;
        const struct cni_exec_ops *exec_ops; /* cni_exec_spawn unless a test swaps it */
        void *exec_data;
        pthread_mutex_t lock;    /* guards the fields below */
        int inotify_fd;          /* -1 when the dir could not be watched */
        bool dirty;              /* rescan on the next net_ready */
        struct cni_conf *conf;   /* cached valid config, or NULL */
        char *not_ready_message; /* why conf is NULL */
};

static char **strv_copy(char *const *v)
{
        size_t n = 0;
        char **c;

        while (v && v[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        strv_free(c);
                        return NULL;
                }
        return c;
}

struct net *net_free(struct net *n)
{
        if (!n)
                return NULL;
        if (n->inotify_fd >= 0)
                close(n->inotify_fd);
        pthread_mutex_destroy(&n->lock);
        cni_conf_free(n->conf);
        free(n->not_ready_message);
        free(n->conf_dir);
        strv_free(n->bin_dirs);
        free(n->state_dir);
        free(n);
        return NULL;
}

/* A missing dir cannot be watched yet: net_ready then rescans on every call
 * and retries the watch, so a dir created later is still noticed. */
static void watch_dir(struct net *n)
{
        n->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (n->inotify_fd < 0)
                return;
        if (inotify_add_watch(n->inotify_fd, n->conf_dir,
                              IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                                      IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
                close(n->inotify_fd);
                n->inotify_fd = -1;
        }
}

static void net_freep(struct net **n)
{
        net_free(*n);
}

int net_new(const struct net_options *o, struct net **ret, struct uvm_error **err)
{
        _cleanup_(net_freep) struct net *n = NULL;

        if (!o || !o->conf_dir || !o->state_dir)
                return uvm_error_set(err, EINVAL, "network: conf_dir and state_dir are required");
        n = calloc(1, sizeof(*n));
        if (!n)
                return uvm_error_set(err, ENOMEM, "out of memory");
        n->inotify_fd = -1;
        pthread_mutex_init(&n->lock, NULL);
        n->conf_dir = strdup(o->conf_dir);
        n->state_dir = strdup(o->state_dir);
        n->bin_dirs = strv_copy(o->bin_dirs);
        if (!n->conf_dir || !n->state_dir || !n->bin_dirs)
                return uvm_error_set(err, ENOMEM, "out of memory");
        n->plugin_timeout_ms = o->plugin_timeout_ms ? o->plugin_timeout_ms : 10000;
        n->exec_ops = &cni_exec_spawn;
        n->dirty = true;
        watch_dir(n);
        *ret = TAKE_PTR(n);
        return 0;
}

/* Drain pending events; any event means the directory changed. When the
 * watch is gone (dir removed), drop it so the next call re-creates it. */
static void drain_events(struct net *n)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool lost = false;
        ssize_t len;

        if (n->inotify_fd < 0) {
                n->dirty = true;
                watch_dir(n);
                return;
        }
        while ((len = read(n->inotify_fd, buf, sizeof(buf))) > 0) {
                n->dirty = true;
                for (char *p = buf; p < buf + len;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        if (ev->mask & IN_IGNORED)
                                lost = true;
                        p += sizeof(*ev) + ev->len;
                }
        }
        if (lost) {
                close(n->inotify_fd);
                n->inotify_fd = -1;
                watch_dir(n);
        }
}

static void rescan(struct net *n)
{
        struct uvm_error *e = NULL;
        struct cni_conf *c = NULL;

        cni_conf_load_dir(n->conf_dir, n->bin_dirs, &c, &e);
        n->conf = cni_conf_free(n->conf);
        free(n->not_ready_message);
        n->not_ready_message = NULL;
        if (c)
                n->conf = c;
        else
                n->not_ready_message = strdup(e && e->msg ? e->msg : "no valid CNI config");
        uvm_error_free(e);
        n->dirty = false;
}

bool net_ready(struct net *n, char **ret_message)
{
        bool ready;

        pthread_mutex_lock(&n->lock);
        drain_events(n);
        if (n->dirty)
                rescan(n);
        ready = n->conf != NULL;
        if (ret_message)
                *ret_message = !ready && n->not_ready_message ? strdup(n->not_ready_message) : NULL;
        pthread_mutex_unlock(&n->lock);
        return ready;
}

int net_conf_snapshot(struct net *n, struct cni_conf **ret_conf, struct uvm_error **err)
{
        _cleanup_free_ char *why = NULL;
        struct cni_conf *c = NULL;
        int r = 0;

        pthread_mutex_lock(&n->lock);
        drain_events(n);
        if (n->dirty)
                rescan(n);
        /* a copy, so a rescan cannot free it under a running CNI call */
        if (n->conf)
                r = cni_conf_parse(n->conf->file, n->conf->json, &c, err);
        else
                why = strdup(n->not_ready_message ? n->not_ready_message : "no valid CNI config");
        pthread_mutex_unlock(&n->lock);
        if (r < 0)
                return r;
        if (!c)
                return uvm_error_set(err, ENOENT, "network not ready: %s",
                                     why ? why : "out of memory");
        *ret_conf = c;
        return 0;
}

void net_exec(struct net *n, struct cni_exec *ret)
{
        *ret = (struct cni_exec){
                .ops = n->exec_ops,
                .data = n->exec_data,
                .bin_dirs = n->bin_dirs,
                .timeout_ms = n->plugin_timeout_ms,
        };
}

const char *net_state_dir(struct net *n)
{
        return n->state_dir;
}

void net_set_cni_exec(struct net *n, const struct cni_exec_ops *ops, void *data)
{
        n->exec_ops = ops ? ops : &cni_exec_spawn;
        n->exec_data = ops ? data : NULL;
}
