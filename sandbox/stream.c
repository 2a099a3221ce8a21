/* The streaming server's backend (stream/stream.h) on uvmd's pods: Exec,
 * Attach and PortForward sessions are the pod agent's streaming sessions
 * (agent/client.h), reached through the driver's agent connection.
 *
 * Lifetimes. An agent session must end before its agent connection is
 * freed (pod_free). Every call on a session holds the pod's drv_rw for
 * reading; sbx_streams_end(), run before the driver's pod is freed, holds
 * it for writing, so it never races a call, and a session's close cannot
 * return while the pod's streams are being ended: no sink call follows a
 * close. Portable: the Windows build (uvmd.exe, hcs pods) uses it too. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "common/log.h"
#include "sandbox/container-internal.h"
#include "sandbox/stream.h"

/* mingw's errno.h has no ESHUTDOWN; the client gets the reason either way. */
#ifndef ESHUTDOWN
#define ESHUTDOWN ECONNABORTED
#endif

struct stream_io {
        struct sbx_pod *pod;     /* a reference */
        struct agent_stream *as; /* NULL once ended: drv_rw held to touch it */
        struct stream_sink sink;
        bool closed;            /* close() was called: no sink calls any more */
        struct stream_io *next; /* in pod->streams (pod->lock) */
        bool linked;
};

/* Whether the pod has a network of its own to forward into: on Linux its
 * own namespace (none: the node's); on Windows every pod is a VM with its
 * own (cri_pod_win.c refuses the node's). */
static bool own_network(const struct sbx_pod *p)
{
#ifdef _WIN32
        return true;
#else
        return p->rec.netns_path != NULL;
#endif
}

static void on_output(void *data, int stream, const void *buf, size_t len)
{
        struct stream_io *io = data;

        io->sink.output(io->sink.data, stream, buf, len);
}

static void on_writable(void *data)
{
        struct stream_io *io = data;

        io->sink.writable(io->sink.data);
}

static void on_done(void *data, int code, const char *reason)
{
        struct stream_io *io = data;

        io->sink.done(io->sink.data, code, reason);
}

static void unlink_io(struct stream_io *io)
{
        struct sbx_pod *p = io->pod;

        pthread_mutex_lock(&p->lock);
        if (io->linked)
                for (struct stream_io **i = &p->streams; *i; i = &(*i)->next)
                        if (*i == io) {
                                *i = io->next;
                                break;
                        }
        io->linked = false;
        pthread_mutex_unlock(&p->lock);
}

/* Start a session on the pod's agent: start(client, ops, &as) under drv_rw. */
typedef int (*start_fn)(struct agent_client *client, const void *arg,
                        const struct agent_stream_ops *ops, struct agent_stream **ret,
                        struct uvm_error **err);

static int open_io(struct sbx_pod *p, start_fn start, const void *arg,
                   const struct stream_sink *sink, struct stream_io **ret, struct uvm_error **err)
{
        struct stream_io *io = calloc(1, sizeof(*io));
        struct agent_stream_ops ops = {io, on_output, on_writable, on_done};
        struct agent_client *client = NULL;
        int r;

        if (!io)
                return uvm_error_set(err, ENOMEM, "out of memory");
        io->pod = p;
        io->sink = *sink;
        pthread_rwlock_rdlock(&p->drv_rw);
        pthread_mutex_lock(&p->lock);
        if (p->drv && p->rec.state == POD_READY && p->ops->agent)
                client = p->ops->agent(p->drv);
        pthread_mutex_unlock(&p->lock);
        if (!client)
                r = uvm_error_set(err, p->ops->agent ? EBUSY : ENOTSUP,
                                  p->ops->agent ? "pod %s is not running"
                                                : "pod %s: its driver has no streaming",
                                  p->rec.id);
        else
                r = start(client, arg, &ops, &io->as, err);
        if (r >= 0) {
                pthread_mutex_lock(&p->lock);
                io->next = p->streams;
                p->streams = io;
                io->linked = true;
                pthread_mutex_unlock(&p->lock);
        }
        pthread_rwlock_unlock(&p->drv_rw);
        if (r < 0) {
                free(io);
                return r;
        }
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
        *ret = io;
        return 0;
}

static int exec_start(struct agent_client *client, const void *arg,
                      const struct agent_stream_ops *ops, struct agent_stream **ret,
                      struct uvm_error **err)
{
        const struct {
                const char *id;
                struct agent_exec_start spec;
        } *a = arg;

        return agent_client_exec_start(client, a->id, &a->spec, ops, ret, err);
}

static int attach_start(struct agent_client *client, const void *arg,
                        const struct agent_stream_ops *ops, struct agent_stream **ret,
                        struct uvm_error **err)
{
        const struct {
                const char *id;
                struct agent_attach_start spec;
        } *a = arg;

        return agent_client_attach(client, a->id, &a->spec, ops, ret, err);
}

static int port_start(struct agent_client *client, const void *arg,
                      const struct agent_stream_ops *ops, struct agent_stream **ret,
                      struct uvm_error **err)
{
        return agent_client_port_forward(client, *(const uint16_t *) arg, ops, ret, err);
}

static int sbx_exec(void *data, const struct token_request *req, unsigned rows, unsigned cols,
                    const struct stream_sink *sink, struct stream_io **ret, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct {
                const char *id;
                struct agent_exec_start spec;
        } a = {NULL,
               {req->argv, req->tty, req->want_stdin, req->want_stdout, req->want_stderr, rows,
                cols}};
        int r = ctr_find_in_state(data, req->container_id, CTR_RUNNING, &c, err);

        if (r < 0)
                return r;
        a.id = c->rec.id;
        return open_io(c->pod, exec_start, &a, sink, ret, err);
}

static int sbx_attach(void *data, const struct token_request *req, const struct stream_sink *sink,
                      struct stream_io **ret, struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct {
                const char *id;
                struct agent_attach_start spec;
        } a = {NULL, {req->want_stdin, req->want_stdout, req->want_stderr}};
        int r = ctr_find_in_state(data, req->container_id, CTR_RUNNING, &c, err);

        if (r < 0)
                return r;
        a.id = c->rec.id;
        return open_io(c->pod, attach_start, &a, sink, ret, err);
}

static int sbx_port_forward(void *data, const char *pod_id, uint16_t port,
                            const struct stream_sink *sink, struct stream_io **ret,
                            struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        int r = pod_get_ref(data, pod_id, &p, err);

        return r < 0 ? r : open_io(p, port_start, &port, sink, ret, err);
}

/* io's agent session, NULL once ended; with the pod's drv_rw held for
 * reading until session_put(). */
static struct agent_stream *session_get(struct stream_io *io)
{
        pthread_rwlock_rdlock(&io->pod->drv_rw);
        return io->as;
}

static void session_put(struct stream_io *io)
{
        pthread_rwlock_unlock(&io->pod->drv_rw);
}

static int sbx_write(struct stream_io *io, const void *buf, size_t len)
{
        struct agent_stream *as = session_get(io);
        int r = as ? agent_stream_write(as, buf, len, 0, NULL) : -EPIPE;

        session_put(io);
        return r;
}

static int sbx_close_write(struct stream_io *io)
{
        struct agent_stream *as = session_get(io);
        int r = as ? agent_stream_close_write(as, NULL) : -EPIPE;

        session_put(io);
        return r;
}

static int sbx_resize(struct stream_io *io, unsigned rows, unsigned cols)
{
        struct agent_stream *as = session_get(io);
        int r = as ? agent_stream_resize(as, rows, cols, NULL) : -EPIPE;

        session_put(io);
        return r;
}

static void sbx_consumed(struct stream_io *io, int stream, size_t n)
{
        struct agent_stream *as = session_get(io);

        if (as)
                agent_stream_consumed(as, stream, n);
        session_put(io);
}

static void sbx_close(struct stream_io *io)
{
        struct agent_stream *as = session_get(io);

        io->as = NULL;
        io->closed = true;
        agent_stream_free(as); /* no callback runs once this returned */
        unlink_io(io);         /* before sbx_streams_end could see it */
        session_put(io);
        pod_unref(io->pod);
        free(io);
}

void sbx_streams_end(struct sbx_pod *p, const char *why)
{
        struct stream_io *list;

        pthread_rwlock_wrlock(&p->drv_rw);
        pthread_mutex_lock(&p->lock);
        list = p->streams;
        p->streams = NULL;
        for (struct stream_io *io = list; io; io = io->next)
                io->linked = false;
        pthread_mutex_unlock(&p->lock);
        for (struct stream_io *io = list; io; io = io->next) {
                struct agent_stream *as = io->as;

                if (!as)
                        continue;
                io->as = NULL;
                agent_stream_free(as);
                if (!io->closed)
                        io->sink.done(io->sink.data, -ESHUTDOWN, why);
        }
        pthread_rwlock_unlock(&p->drv_rw);
}

const struct stream_backend sbx_stream_backend_ops = {
        .exec = sbx_exec,
        .attach = sbx_attach,
        .port_forward = sbx_port_forward,
        .write = sbx_write,
        .close_write = sbx_close_write,
        .resize = sbx_resize,
        .consumed = sbx_consumed,
        .close = sbx_close,
};

struct stream_backend sbx_stream_backend(struct sbx *s)
{
        struct stream_backend b = sbx_stream_backend_ops;

        b.data = s;
        return b;
}

int sbx_stream_check_ctr(struct sbx *s, const char *id_prefix, char **ret_id,
                         struct uvm_error **err)
{
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        int r = ctr_find_in_state(s, id_prefix, CTR_RUNNING, &c, err);

        if (r < 0)
                return r;
        if (!c->pod->ops->agent)
                return uvm_error_set(err, ENOTSUP, "the %s driver has no streaming sessions",
                                     c->pod->ops->name);
        *ret_id = strdup(c->rec.id);
        return *ret_id ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

int sbx_stream_check_pod(struct sbx *s, const char *id_prefix, char **ret_id,
                         struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        bool ready;
        int r = pod_get_ref(s, id_prefix, &p, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        ready = p->rec.state == POD_READY && p->drv;
        pthread_mutex_unlock(&p->lock);
        if (!ready)
                return uvm_error_set(err, EBUSY, "pod %s is not ready", p->rec.id);
        if (!own_network(p))
                return uvm_error_set(err, EINVAL,
                                     "pod %s uses the host's network: forward to the node's "
                                     "ports directly",
                                     p->rec.id);
        if (!p->ops->agent)
                return uvm_error_set(err, ENOTSUP, "the %s driver has no streaming sessions",
                                     p->ops->name);
        *ret_id = strdup(p->rec.id);
        return *ret_id ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}
