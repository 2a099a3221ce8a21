/* Server start-up, the queue threads, the worker pool and shutdown. */

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/log.h"
#include "service/server-internal.h"

/* How many calls are kept armed: generic ones, and per registered method
 * (more for the cheap, frequent ones such as Version and List calls). */
#define PENDING_REQUESTS 16
#define REGISTERED_SLOTS 4
#define REGISTERED_SLOTS_FAST 16

static void arm(struct srv *s, const struct srv_method *m)
{
        struct srv_call *c;
        grpc_call_error e;

        if (s->draining)
                return;
        c = call_new(s, m);
        if (!c) {
                log_error("out of memory arming a call slot");
                return;
        }
        if (m)
                e = grpc_server_request_registered_call(s->server, m->handle, &c->call,
                                                        &c->deadline, &c->md, &c->recv_bb, s->cq,
                                                        s->cq, &c->op_request);
        else
                e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
                                             &c->op_request);
        if (e != GRPC_CALL_OK) {
                log_error("requesting a call slot failed: %d", (int) e);
                c->call = NULL;
                call_unref(c);
        }
}

/* Unary methods with a handler get registered, so that their request
 * message comes with the call; the rest (streams, unimplemented, unknown
 * paths) arrive as generic calls. Must run before grpc_server_start. */
static int register_methods(struct srv *s, struct uvm_error **err)
{
        size_t n = dispatch_count(s->table);

        s->methods = calloc(n ? n : 1, sizeof(*s->methods));
        if (!s->methods)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const struct dispatch_entry *e = dispatch_at(s->table, i);
                struct srv_method *m = &s->methods[s->n_methods];

                if (!e->binding || e->binding->kind != SRV_UNARY)
                        continue;
                m->handle = grpc_server_register_method(
                        s->server, e->path, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
                if (!m->handle)
                        return uvm_error_set(err, EINVAL, "cannot register method %s", e->path);
                m->entry = e;
                m->slots = e->binding->inline_ok || e->binding->fast ? REGISTERED_SLOTS_FAST
                                                                     : REGISTERED_SLOTS;
                s->n_methods++;
        }
        return 0;
}

static void arm_all(struct srv *s)
{
        for (int i = 0; i < PENDING_REQUESTS; i++)
                arm(s, NULL);
        for (size_t i = 0; i < s->n_methods; i++)
                for (unsigned j = 0; j < s->methods[i].slots; j++)
                        arm(s, &s->methods[i]);
}

/* The server is the call's, or for OP_SHUTDOWN the one that op belongs to:
 * a shared queue carries events of many servers. */
static void handle_event(grpc_event ev)
{
        struct srv_op *op = ev.tag;
        struct srv_call *c = op->call;
        struct srv *s = op->type == OP_SHUTDOWN
                                ? (struct srv *) ((char *) op - offsetof(struct srv, op_shutdown))
                                : c->srv;

        switch (op->type) {
        case OP_REQUEST:
                if (!ev.success) { /* the server is shutting down */
                        c->call = NULL;
                        call_unref(c);
                        return;
                }
                arm(s, c->registered);
                call_arrived(c);
                return;
        case OP_RECV:
                call_recv_done(c, ev.success);
                break;
        case OP_CLOSE:
                call_close_done(c);
                break;
        case OP_SYNC:
                call_sync_done(c, ev.success);
                break;
        case OP_FINAL:
                break;
        case OP_SHUTDOWN:
                pthread_mutex_lock(&s->lock);
                s->shutdown_done = true;
                pthread_cond_broadcast(&s->cond);
                pthread_mutex_unlock(&s->lock);
                return;
        }
        call_unref(c); /* the ref the batch held */
}

/* A queue thread's loop. spin_ns: after an event, poll without sleeping
 * (yielding the CPU between polls) for that long before blocking, so the
 * next call of a burst is read at once: a sleeping thread woken from
 * another CPU costs tens of µs on a VM (docs/PERFORMANCE.md, session 11),
 * which a one-at-a-time caller pays on every call. */
static void poll_loop(grpc_completion_queue *cq, int64_t spin_ns)
{
        gpr_timespec until = gpr_inf_past(GPR_CLOCK_MONOTONIC);

        for (;;) {
                bool spin = gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) < 0;
                grpc_event ev;

                if (spin)
                        sched_yield();
                ev = grpc_completion_queue_next(cq,
                                                spin ? gpr_inf_past(GPR_CLOCK_MONOTONIC)
                                                     : gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                handle_event(ev);
                if (spin_ns > 0)
                        until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                             gpr_time_from_nanos(spin_ns, GPR_TIMESPAN));
        }
}

static void *io_main(void *arg)
{
        poll_loop(arg, 0);
        return NULL;
}

static void *queue_main(void *arg)
{
        struct srv_queue *q = arg;

        poll_loop(q->cq, q->spin_ns);
        return NULL;
}

int srv_queue_new(unsigned spin_us, struct srv_queue **ret, struct uvm_error **err)
{
        struct srv_queue *q = calloc(1, sizeof(*q));

        if (!q)
                return uvm_error_set(err, ENOMEM, "out of memory");
        q->cq = grpc_completion_queue_create_for_next(NULL);
        q->spin_ns = (int64_t) spin_us * 1000;
        if (pthread_create(&q->thread, NULL, queue_main, q) != 0) {
                grpc_completion_queue_destroy(q->cq);
                free(q);
                return uvm_error_set(err, EAGAIN, "cannot start queue thread");
        }
        *ret = q;
        return 0;
}

void srv_queue_free(struct srv_queue *q)
{
        if (!q)
                return;
        grpc_completion_queue_shutdown(q->cq);
        pthread_join(q->thread, NULL);
        grpc_completion_queue_destroy(q->cq);
        free(q);
}

static void *worker_main(void *arg)
{
        struct srv *s = arg;

        for (;;) {
                struct srv_call *c;

                pthread_mutex_lock(&s->lock);
                while (!s->q_head && !s->stopping_workers)
                        pthread_cond_wait(&s->q_cond, &s->lock);
                c = s->q_head;
                if (!c) {
                        pthread_mutex_unlock(&s->lock);
                        break;
                }
                s->q_head = c->next_q;
                if (!s->q_head)
                        s->q_tail = NULL;
                s->q_len--;
                pthread_mutex_unlock(&s->lock);
                call_run_unary(c);
        }
        return NULL;
}

bool srv_submit(struct srv *s, struct srv_call *c)
{
        pthread_mutex_lock(&s->lock);
        if (s->q_len >= s->opts.queue_limit) {
                pthread_mutex_unlock(&s->lock);
                return false;
        }
        c->next_q = NULL;
        if (s->q_tail)
                s->q_tail->next_q = c;
        else
                s->q_head = c;
        s->q_tail = c;
        s->q_len++;
        pthread_cond_signal(&s->q_cond);
        pthread_mutex_unlock(&s->lock);
        return true;
}

bool srv_stream_admit(struct srv *s)
{
        bool ok;

        pthread_mutex_lock(&s->lock);
        ok = s->streams < s->opts.max_streams && !s->draining;
        if (ok)
                s->streams++;
        pthread_mutex_unlock(&s->lock);
        return ok;
}

void srv_stream_release(struct srv *s)
{
        pthread_mutex_lock(&s->lock);
        s->streams--;
        if (s->draining)
                pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

unsigned srv_live_calls(struct srv *s)
{
        unsigned n;

        pthread_mutex_lock(&s->lock);
        n = s->live;
        pthread_mutex_unlock(&s->lock);
        return n;
}

void srv_on_drain(struct srv *s, void (*fn)(void *), void *data)
{
        s->on_drain = fn;
        s->on_drain_data = data;
}

int srv_listen(struct srv *s, const char *address)
{
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        int port = grpc_server_add_http2_port(s->server, address, creds);

        grpc_server_credentials_release(creds);
        return port;
}

/* The caller's own args and store: servers are made from several threads
 * at once (pods' ComputeAgent endpoints), so nothing here may be shared. */
static grpc_channel_args *make_args(const struct srv_options *o, grpc_channel_args *args,
                                    grpc_arg *store)
{
        store[0].type = GRPC_ARG_INTEGER;
        store[0].key = (char *) GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
        store[0].value.integer = (int) o->max_message_bytes;
        store[1].type = GRPC_ARG_INTEGER;
        store[1].key = (char *) GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
        store[1].value.integer = (int) o->max_message_bytes;
        args->num_args = 2;
        args->args = store;
        return args;
}

static void srv_free(struct srv *s)
{
        if (!s)
                return;
        if (s->server)
                grpc_server_destroy(s->server);
        if (s->cq && !s->shared)
                grpc_completion_queue_destroy(s->cq);
        free(s->methods);
        free(s->io_threads);
        free(s->workers);
        free(s->address);
        srv_bind_release(s);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        pthread_cond_destroy(&s->q_cond);
        free(s);
}

static int start_threads(struct srv *s, struct uvm_error **err)
{
        s->io_threads = calloc(s->opts.io_threads, sizeof(pthread_t));
        s->workers = calloc(s->opts.workers, sizeof(pthread_t));
        if (!s->io_threads || !s->workers)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (unsigned i = 0; !s->shared && i < s->opts.io_threads; i++)
                if (pthread_create(&s->io_threads[i], NULL, io_main, s->cq) != 0)
                        return uvm_error_set(err, EAGAIN, "cannot start queue thread");
        for (unsigned i = 0; i < s->opts.workers; i++)
                if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
                        return uvm_error_set(err, EAGAIN, "cannot start worker thread");
        return 0;
}

int srv_start(const struct srv_options *opts, const struct dispatch_table *table,
              struct srv **ret_srv, struct uvm_error **err)
{
        struct srv *s = calloc(1, sizeof(*s));
        grpc_channel_args args;
        grpc_arg store[2];
        int r;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        pthread_cond_init(&s->q_cond, NULL);
        s->opts = *opts;
        s->table = table;
        s->op_shutdown.type = OP_SHUTDOWN;
        s->address = strdup(opts->address);
        if (!s->address) {
                srv_free(s);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s->shared = opts->queue;
        s->cq = s->shared ? s->shared->cq : grpc_completion_queue_create_for_next(NULL);
        s->server = grpc_server_create(make_args(opts, &args, store), NULL);
        grpc_server_register_completion_queue(s->server, s->cq, NULL);
        r = register_methods(s, err);
        if (r == 0)
                r = srv_bind(s, err);
        if (r < 0) {
                /* Never started: the server can be destroyed directly. */
                grpc_server_destroy(s->server);
                s->server = NULL;
                if (!s->shared) {
                        grpc_completion_queue_shutdown(s->cq);
                        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                          NULL)
                                       .type != GRPC_QUEUE_SHUTDOWN)
                                ;
                }
                srv_free(s);
                return r;
        }
        grpc_server_start(s->server);
        arm_all(s);
        r = start_threads(s, err);
        if (r < 0) {
                srv_stop(s, 0);
                return r;
        }
        if (s->shared)
                log_info("serving on %s (a shared queue thread, %u workers)", s->address,
                         opts->workers);
        else
                log_info("serving on %s (%u queue threads, %u workers)", s->address,
                         opts->io_threads, opts->workers);
        *ret_srv = s;
        return 0;
}

/* Until no call is live and, with shutdown, the core's shutdown is done. */
static bool wait_drained(struct srv *s, unsigned ms, bool shutdown)
{
        struct timespec until;
        bool ok;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long) (ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&s->lock);
        while ((s->live > 0 || (shutdown && !s->shutdown_done)) &&
               pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
                ;
        ok = s->live == 0 && (!shutdown || s->shutdown_done);
        pthread_mutex_unlock(&s->lock);
        return ok;
}

/* Wake every streaming handler: the server is draining. */
static void notify_streams(struct srv *s)
{
        for (;;) {
                struct srv_call *c, *pick = NULL;

                pthread_mutex_lock(&s->lock);
                for (c = s->live_list; c; c = c->next_live) {
                        bool done;
                        pthread_mutex_lock(&c->lock);
                        done = c->done || c->draining;
                        pthread_mutex_unlock(&c->lock);
                        if (!done && c->entry && c->entry->binding &&
                            c->entry->binding->kind != SRV_UNARY) {
                                pick = c;
                                call_ref(c);
                                break;
                        }
                }
                pthread_mutex_unlock(&s->lock);
                if (!pick)
                        return;
                call_mark_draining(pick);
                call_unref(pick);
        }
}

void srv_stop(struct srv *s, unsigned grace_ms)
{
        bool clean;

        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->draining = true;
        pthread_mutex_unlock(&s->lock);
        /* Unbind first: a client that connects while we drain would otherwise
         * sit in the listen backlog until its deadline instead of failing fast. */
        srv_unbind(s);
        if (s->on_drain)
                s->on_drain(s->on_drain_data);
        grpc_server_shutdown_and_notify(s->server, s->cq, &s->op_shutdown);
        notify_streams(s);
        /* The grace is for calls still running. Connections with none (a
         * kubelet keeps its channel open) would hold the core's shutdown
         * until the client closes them: cancelling closes them now. */
        if (!wait_drained(s, grace_ms, false))
                log_warn("%u calls still running after %u ms, cancelling them", srv_live_calls(s),
                         grace_ms);
        grpc_server_cancel_all_calls(s->server);
        clean = wait_drained(s, 10000, true);
        pthread_mutex_lock(&s->lock);
        s->stopping_workers = true;
        pthread_cond_broadcast(&s->q_cond);
        pthread_mutex_unlock(&s->lock);
        if (!clean) {
                /* A handler is stuck in blocking work: shutting the queue down
                 * now could abort the process when it finally answers. */
                log_error("calls did not finish after cancellation; leaving them");
                return;
        }
        for (unsigned i = 0; s->workers && i < s->opts.workers; i++)
                if (s->workers[i])
                        pthread_join(s->workers[i], NULL);
        /* A shared queue's thread has handled this server's last event (its
         * shutdown came after every failed call slot: one thread, in order). */
        if (!s->shared) {
                grpc_completion_queue_shutdown(s->cq);
                for (unsigned i = 0; s->io_threads && i < s->opts.io_threads; i++)
                        if (s->io_threads[i])
                                pthread_join(s->io_threads[i], NULL);
        }
        srv_free(s);
}
