/* One call's life: arrival, first message, handler, final status. */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/log.h"
#include "common/platform.h"
#include "service/metrics_uvmd.h"
#include "service/server-internal.h"
#include "service/status.h"

struct srv_call *call_new(struct srv *s, const struct srv_method *m)
{
        struct srv_call *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->srv = s;
        c->registered = m;
        atomic_init(&c->refs, 1);
        grpc_call_details_init(&c->details);
        grpc_metadata_array_init(&c->md);
        c->op_request = (struct srv_op){OP_REQUEST, c};
        c->op_recv = (struct srv_op){OP_RECV, c};
        c->op_close = (struct srv_op){OP_CLOSE, c};
        c->op_sync = (struct srv_op){OP_SYNC, c};
        c->op_final = (struct srv_op){OP_FINAL, c};
        c->status_details = grpc_empty_slice();
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->ctx.call = c;
        c->ctx.daemon = s->opts.daemon;
        c->ctx.data = s->opts.data;
        c->ctx.deadline_ms = INT64_MAX;
        return c;
}

static void call_free(struct srv_call *c)
{
        struct srv *s = c->srv;
        bool counted = c->call != NULL;

        if (c->call)
                grpc_call_unref(c->call);
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->md);
        if (c->recv_bb)
                grpc_byte_buffer_destroy(c->recv_bb);
        if (c->send_bb)
                grpc_byte_buffer_destroy(c->send_bb);
        grpc_slice_unref(c->status_details);
        if (c->packed_release)
                c->packed_release(c->packed_arg);
        if (c->req)
                protobuf_c_message_free_unpacked(c->req, NULL);
        for (size_t i = 0; i < c->n_extra; i++)
                protobuf_c_message_free_unpacked(c->extra[i], NULL);
        arena_release(&c->arena);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);

        if (!counted)
                return;
        pthread_mutex_lock(&s->lock);
        s->live--;
        if (s->draining) /* only srv_stop waits for this */
                pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

void call_ref(struct srv_call *c)
{
        atomic_fetch_add(&c->refs, 1);
}

static void live_unlink(struct srv_call *c)
{
        struct srv *s = c->srv;

        pthread_mutex_lock(&s->lock);
        if (c->prev_live)
                c->prev_live->next_live = c->next_live;
        else if (s->live_list == c)
                s->live_list = c->next_live;
        if (c->next_live)
                c->next_live->prev_live = c->prev_live;
        c->prev_live = c->next_live = NULL;
        pthread_mutex_unlock(&s->lock);
}

void call_unref(struct srv_call *c)
{
        if (atomic_fetch_sub(&c->refs, 1) != 1)
                return;
        if (c->call)
                live_unlink(c);
        call_free(c);
}

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_to_mono_ms(gpr_timespec deadline)
{
        gpr_timespec now, left;

        if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
                return INT64_MAX;
        now = gpr_now(GPR_CLOCK_REALTIME);
        deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
        left = gpr_time_sub(deadline, now);
        return mono_ms() + (int64_t) left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

static bool start_batch(struct srv_call *c, const grpc_op *ops, size_t n, struct srv_op *tag)
{
        grpc_call_error e;

        call_ref(c);
        e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
        if (e != GRPC_CALL_OK) {
                log_error("grpc_call_start_batch(%s) failed: %d", c->entry ? c->entry->path : "?",
                          (int) e);
                atomic_fetch_sub(&c->refs, 1); /* the caller still holds its own ref */
                return false;
        }
        return true;
}

int call_pack(const ProtobufCMessage *msg, size_t max, grpc_byte_buffer **ret_bb)
{
        size_t len = protobuf_c_message_get_packed_size(msg);
        grpc_slice slice;

        if (len > max)
                return -EMSGSIZE;
        slice = grpc_slice_malloc(len);
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
        *ret_bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        return 0;
}

ProtobufCMessage *call_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
        grpc_byte_buffer_reader reader;
        grpc_slice slice;
        ProtobufCMessage *m;

        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return NULL;
        slice = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
                                      GRPC_SLICE_START_PTR(slice));
        grpc_slice_unref(slice);
        return m;
}

/* Send the status (and an optional last message); drops the flow's ref. */
void call_finish(struct srv_call *c, grpc_status_code code, const char *msg,
                 grpc_byte_buffer *last_msg)
{
        grpc_op ops[4];
        size_t n = 0;

        memset(ops, 0, sizeof(ops));
        if (!c->initial_md_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->initial_md_sent = true;
        }
        if (!c->close_watched) {
                ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
                ops[n++].data.recv_close_on_server.cancelled = &c->close_cancelled;
        }
        if (last_msg) {
                c->send_bb = last_msg;
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = last_msg;
        }
        grpc_slice_unref(c->status_details);
        c->status_details = msg ? grpc_slice_from_copied_string(msg) : grpc_empty_slice();
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n++].data.send_status_from_server.status_details = msg ? &c->status_details : NULL;
        start_batch(c, ops, n, &c->op_final);
        /* Every call ends here, once: the one place calls are counted. */
        metrics_rpc_done(c->entry ? c->entry->path : NULL,
                         code == GRPC_STATUS_OK ? NULL : status_code_name(code),
                         plat_now_ns() - c->arrived_ns);
        call_unref(c);
}

void call_finish_errno(struct srv_call *c, int r, struct uvm_error *err)
{
        grpc_status_code code = status_from_errno(err ? err->code : r);
        const char *msg = err && err->msg ? err->msg : strerror(r < 0 ? -r : r);

        if (code == GRPC_STATUS_OK)
                code = GRPC_STATUS_INTERNAL;
        /* Given up because the time ran out, not because the peer left. */
        if (code == GRPC_STATUS_CANCELLED && srv_ctx_remaining_ms(&c->ctx) <= 0)
                code = GRPC_STATUS_DEADLINE_EXCEEDED;
        log_emit(code == GRPC_STATUS_NOT_FOUND ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, NULL, NULL,
                 "%s: %s: %s", c->entry->path, status_code_name(code), msg);
        call_finish(c, code, msg, NULL);
}

static void *stream_main(void *arg)
{
        struct srv_call *c = arg;
        struct srv *s = c->srv; /* c may be gone once finished */
        struct uvm_error *err = NULL;
        int r;

        r = c->entry->binding->stream(&c->ctx, c->req, &err);
        /* The slot goes first: once the call is finished, srv_stop may free
         * s (this thread is not joined). */
        srv_stream_release(s);
        if (r < 0)
                call_finish_errno(c, r, err);
        else
                call_finish(c, GRPC_STATUS_OK, NULL, NULL);
        uvm_error_free(err);
        return NULL;
}

static void start_stream(struct srv_call *c)
{
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (!srv_stream_admit(c->srv)) {
                call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many concurrent streams", NULL);
                return;
        }
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        r = pthread_create(&t, &attr, stream_main, c);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                srv_stream_release(c->srv);
                call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start stream thread", NULL);
        }
}

static void live_link(struct srv_call *c)
{
        struct srv *s = c->srv;

        pthread_mutex_lock(&s->lock);
        s->live++;
        c->next_live = s->live_list;
        if (s->live_list)
                s->live_list->prev_live = c;
        s->live_list = c;
        pthread_mutex_unlock(&s->lock);
}

/* A call handed to a worker or a stream thread learns about cancellation
 * at once; one answered on the queue thread needs no watch of its own (its
 * final batch carries RECV_CLOSE): one batch fewer. Before the hand-off. */
static void watch_close(struct srv_call *c)
{
        grpc_op op;

        if (c->close_watched)
                return;
        c->close_watched = true;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->close_cancelled;
        start_batch(c, &op, 1, &c->op_close);
}

static bool runs_inline(const struct srv_binding *b)
{
        return !b || (b->kind == SRV_UNARY && b->inline_ok);
}

void call_arrived(struct srv_call *c)
{
        struct srv *s = c->srv;
        grpc_op op;
        char *path;

        c->arrived_ns = plat_now_ns();
        live_link(c);
        if (c->registered) {
                /* The request message came with the call; where it runs
                 * (and so whether close is watched) is decided with it. */
                c->entry = c->registered->entry;
                c->ctx.deadline_ms = deadline_to_mono_ms(c->deadline);
                call_recv_done(c, true);
                return;
        }
        c->ctx.deadline_ms = deadline_to_mono_ms(c->details.deadline);
        c->entry = dispatch_lookup(s->table, (const char *) GRPC_SLICE_START_PTR(c->details.method),
                                   GRPC_SLICE_LENGTH(c->details.method));
        if (!runs_inline(c->entry ? c->entry->binding : NULL))
                watch_close(c);
        if (!c->entry || !c->entry->binding) {
                const char *why = s->opts.unimplemented_why;
                _cleanup_free_ char *msg = NULL;
                path = grpc_slice_to_c_string(c->details.method);
                if ((c->entry ? asprintf(&msg, "method %s is not implemented by uvmd%s%s", path,
                                         why ? ": " : "", why ? why : "")
                              : asprintf(&msg, "unknown method %s", path)) < 0)
                        msg = NULL;
                gpr_free(path);
                log_debug("%s", msg ? msg : "unimplemented method");
                call_finish(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL);
                return;
        }
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &c->recv_bb;
        if (!start_batch(c, &op, 1, &c->op_recv))
                call_finish(c, GRPC_STATUS_INTERNAL, "cannot receive request", NULL);
}

static void call_dispatch(struct srv_call *c);

void call_recv_done(struct srv_call *c, bool ok)
{
        const ProtobufCMessageDescriptor *in = c->entry->method->input;
        grpc_byte_buffer *bb = c->recv_bb;

        c->recv_bb = NULL;
        if (!ok || !bb) {
                if (bb)
                        grpc_byte_buffer_destroy(bb);
                call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message was sent", NULL);
                return;
        }
        c->req = call_unpack(in, bb);
        grpc_byte_buffer_destroy(bb);
        if (!c->req) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "malformed request: cannot decode %s", in->name) < 0)
                        msg = NULL;
                call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, msg, NULL);
                return;
        }
        call_dispatch(c);
}

/* The handler's answer as a message: packed here, or handed over packed
 * (srv_reply_packed) and sent by reference. */
static int unary_reply(struct srv_call *c, const ProtobufCMessage *resp, grpc_byte_buffer **ret_bb,
                       struct uvm_error **err)
{
        size_t max = c->srv->opts.max_message_bytes;
        grpc_slice slice;

        if (c->packed_release) {
                if (c->packed_len > max)
                        return uvm_error_set(err, EMSGSIZE, "response larger than %zu bytes", max);
                /* The slice owns the release from here on. */
                slice = grpc_slice_new_with_user_data((void *) c->packed, c->packed_len,
                                                      c->packed_release, c->packed_arg);
                c->packed_release = NULL;
                *ret_bb = grpc_raw_byte_buffer_create(&slice, 1);
                grpc_slice_unref(slice);
                return 0;
        }
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory building the response");
        if (call_pack(resp, max, ret_bb) < 0)
                return uvm_error_set(err, EMSGSIZE, "response larger than %zu bytes", max);
        return 0;
}

void call_run_unary(struct srv_call *c)
{
        struct uvm_error *err = NULL;
        ProtobufCMessage *resp = NULL;
        grpc_byte_buffer *bb = NULL;
        int r;

        if (srv_ctx_remaining_ms(&c->ctx) <= 0 || srv_ctx_done(&c->ctx)) {
                bool late = srv_ctx_remaining_ms(&c->ctx) <= 0;

                log_debug("%s: %s before it ran", c->entry->path,
                          late ? "DEADLINE_EXCEEDED: deadline passed"
                               : "CANCELLED: call cancelled");
                call_finish(c, late ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_CANCELLED,
                            late ? "deadline exceeded before the call ran"
                                 : "call cancelled before it ran",
                            NULL);
                return;
        }
        r = c->entry->binding->unary(&c->ctx, c->req, &resp, &err);
        if (r >= 0)
                r = unary_reply(c, resp, &bb, &err);
        if (r < 0)
                call_finish_errno(c, r, err);
        else
                call_finish(c, GRPC_STATUS_OK, NULL, bb);
        uvm_error_free(err);
        /* The response came from the arena: nothing else to free. */
}

/* The handler's fast path, on the queue thread: true when it answered
 * (the call is finished). A call past its deadline is left to the worker
 * path, which reports it. */
static bool run_fast(struct srv_call *c)
{
        struct uvm_error *err = NULL;
        grpc_byte_buffer *bb = NULL;
        int r;

        if (srv_ctx_remaining_ms(&c->ctx) <= 0 || !c->entry->binding->fast(&c->ctx, c->req))
                return false;
        assert(c->packed_release); /* answered means srv_reply_packed */
        r = unary_reply(c, NULL, &bb, &err);
        if (r < 0)
                call_finish_errno(c, r, err);
        else
                call_finish(c, GRPC_STATUS_OK, NULL, bb);
        uvm_error_free(err);
        return true;
}

static void call_dispatch(struct srv_call *c)
{
        const struct srv_binding *b = c->entry->binding;

        if (runs_inline(b)) {
                call_run_unary(c);
                return;
        }
        if (b->kind == SRV_UNARY && b->fast && run_fast(c))
                return;
        watch_close(c);
        if (b->kind != SRV_UNARY)
                start_stream(c);
        else if (!srv_submit(c->srv, c))
                call_finish(c, GRPC_STATUS_UNAVAILABLE, "server busy: too many queued calls", NULL);
}

void call_mark_done(struct srv_call *c)
{
        void (*fn)(void *) = NULL;
        void *data = NULL;

        pthread_mutex_lock(&c->lock);
        if (!c->done) {
                c->done = true;
                fn = c->on_done;
                data = c->on_done_data;
        }
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(data);
}

/* Ask a streaming handler to finish because the server is stopping. Unlike
 * call_mark_done, sends still work, so a last message (health's NOT_SERVING)
 * reaches the peer before the status. */
void call_mark_draining(struct srv_call *c)
{
        void (*fn)(void *) = NULL;
        void *data = NULL;

        pthread_mutex_lock(&c->lock);
        if (!c->done && !c->draining) {
                c->draining = true;
                fn = c->on_done;
                data = c->on_done_data;
        }
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(data);
}

void call_close_done(struct srv_call *c)
{
        /* The call is over (status sent) or was cancelled by the peer or by
         * server shutdown: wake anything waiting on it. */
        call_mark_done(c);
}

void call_sync_done(struct srv_call *c, bool ok)
{
        pthread_mutex_lock(&c->lock);
        c->sync_done = true;
        c->sync_ok = ok;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

/* --- the handler-facing API (handler.h) --- */

void *srv_alloc(struct srv_ctx *ctx, size_t size)
{
        return arena_alloc(&ctx->call->arena, size);
}

char *srv_strdup(struct srv_ctx *ctx, const char *s)
{
        return arena_strdup(&ctx->call->arena, s);
}

char *srv_printf(struct srv_ctx *ctx, const char *fmt, ...)
{
        va_list ap;
        char *p;

        va_start(ap, fmt);
        p = arena_vprintf(&ctx->call->arena, fmt, ap);
        va_end(ap);
        return p;
}

void srv_reply_packed(struct srv_ctx *ctx, const void *data, size_t len, void (*release)(void *),
                      void *arg)
{
        struct srv_call *c = ctx->call;

        if (c->packed_release)
                c->packed_release(c->packed_arg);
        c->packed = data;
        c->packed_len = len;
        c->packed_release = release;
        c->packed_arg = arg;
}

bool srv_ctx_done(struct srv_ctx *ctx)
{
        struct srv_call *c = ctx->call;
        bool done;

        pthread_mutex_lock(&c->lock);
        done = c->done || c->draining;
        pthread_mutex_unlock(&c->lock);
        return done || srv_ctx_remaining_ms(ctx) <= 0;
}

/* Only a cancelled or closed call refuses sends; a draining one still takes
 * its last messages. */
static bool call_cancelled(struct srv_ctx *ctx)
{
        struct srv_call *c = ctx->call;
        bool done;

        pthread_mutex_lock(&c->lock);
        done = c->done;
        pthread_mutex_unlock(&c->lock);
        return done || srv_ctx_remaining_ms(ctx) <= 0;
}

void srv_ctx_on_done(struct srv_ctx *ctx, void (*fn)(void *), void *data)
{
        struct srv_call *c = ctx->call;
        bool already;

        pthread_mutex_lock(&c->lock);
        c->on_done = fn;
        c->on_done_data = data;
        already = c->done || c->draining;
        pthread_mutex_unlock(&c->lock);
        if (already && fn)
                fn(data);
}

int64_t srv_ctx_remaining_ms(struct srv_ctx *ctx)
{
        if (ctx->deadline_ms == INT64_MAX)
                return INT64_MAX;
        return ctx->deadline_ms - mono_ms();
}

static bool sync_op(struct srv_call *c, const grpc_op *ops, size_t n)
{
        bool ok;

        pthread_mutex_lock(&c->lock);
        c->sync_done = false;
        pthread_mutex_unlock(&c->lock);
        if (!start_batch(c, ops, n, &c->op_sync))
                return false;
        pthread_mutex_lock(&c->lock);
        while (!c->sync_done)
                pthread_cond_wait(&c->cond, &c->lock);
        ok = c->sync_ok;
        pthread_mutex_unlock(&c->lock);
        return ok;
}

int srv_stream_send(struct srv_ctx *ctx, const ProtobufCMessage *msg)
{
        struct srv_call *c = ctx->call;
        grpc_byte_buffer *bb = NULL;
        grpc_op ops[2];
        size_t n = 0;
        bool ok;
        int r;

        if (call_cancelled(ctx))
                return -ECANCELED;
        r = call_pack(msg, c->srv->opts.max_message_bytes, &bb);
        if (r < 0)
                return r;
        memset(ops, 0, sizeof(ops));
        if (!c->initial_md_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->initial_md_sent = true;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
        ok = sync_op(c, ops, n);
        grpc_byte_buffer_destroy(bb);
        return ok ? 0 : -ECANCELED;
}

int srv_stream_recv(struct srv_ctx *ctx, ProtobufCMessage **ret_msg)
{
        struct srv_call *c = ctx->call;
        grpc_byte_buffer *bb = NULL;
        ProtobufCMessage *m;
        grpc_op op;

        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &bb;
        if (!sync_op(c, &op, 1))
                return -ECANCELED;
        if (!bb) {
                *ret_msg = NULL;
                return 0;
        }
        m = call_unpack(c->entry->method->input, bb);
        grpc_byte_buffer_destroy(bb);
        if (!m)
                return -EBADMSG;
        /* Keep the newest few alive with the call; free the oldest. */
        if (c->n_extra == ARRAY_SIZE(c->extra)) {
                protobuf_c_message_free_unpacked(c->extra[0], NULL);
                memmove(c->extra, c->extra + 1, sizeof(c->extra[0]) * (ARRAY_SIZE(c->extra) - 1));
                c->n_extra--;
        }
        c->extra[c->n_extra++] = m;
        *ret_msg = m;
        return 0;
}
