/*
 * The server core with a controllable handler and a C-core client, over an
 * abstract unix socket: a slow handler does not stall other calls, the
 * worker queue and stream count are bounded, deadlines reach handlers, and
 * shutdown with a stuck handler cancels it instead of hanging or aborting.
 *
 * The health service's descriptors are borrowed: Check is bound to a handler
 * that behaves according to the request's "service" field, and to a fast
 * path (tried on the queue thread first) that answers "fast-*" services.
 */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"

#include "service/server.h"

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int slow_running, saw_done;

static void gate_wake(void *data)
{
        pthread_mutex_lock(&gate_lock);
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
}

static int check_packed(struct srv_ctx *ctx, const char *service, struct uvm_error **err);

/* "slow": wait for the gate (or for the call to be over); else answer. */
static int check(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                 struct uvm_error **err)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) m;
        Grpc__Health__V1__HealthCheckResponse *r =
                srv_new(ctx, Grpc__Health__V1__HealthCheckResponse);

        grpc__health__v1__health_check_response__init(r);
        if (strcmp(req->service, "slow") == 0) {
                atomic_fetch_add(&slow_running, 1);
                srv_ctx_on_done(ctx, gate_wake, NULL);
                pthread_mutex_lock(&gate_lock);
                while (!gate_open && !srv_ctx_done(ctx)) {
                        struct timespec t;
                        clock_gettime(CLOCK_REALTIME, &t);
                        t.tv_nsec += 20 * 1000000;
                        if (t.tv_nsec >= 1000000000) {
                                t.tv_sec++;
                                t.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&gate_cond, &gate_lock, &t);
                }
                pthread_mutex_unlock(&gate_lock);
                srv_ctx_on_done(ctx, NULL, NULL);
                atomic_fetch_sub(&slow_running, 1);
                if (srv_ctx_done(ctx)) {
                        atomic_fetch_add(&saw_done, 1);
                        return uvm_error_set(err, ECANCELED, "gave up");
                }
        }
        if (strcmp(req->service, "missing") == 0)
                return uvm_error_set(err, ENOENT, "no such thing '%s'", req->service);
        if (strncmp(req->service, "packed", 6) == 0)
                return check_packed(ctx, req->service, err);
        /* Declined by the fast path: answered here, told apart by status. */
        if (strcmp(req->service, "fast-miss") == 0) {
                r->status =
                        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
                *ret = &r->base;
                return 0;
        }
        r->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        *ret = &r->base;
        return 0;
}

/* Answers handed over packed (srv_reply_packed): each buffer's release. */
static atomic_int packed_released;

static void packed_release(void *p)
{
        free(p);
        atomic_fetch_add(&packed_released, 1);
}

/* "packed": a SERVING answer packed by the handler; "packed-big": one byte
 * over max_message_bytes; "packed-fail": handed over, then an error. */
static int check_packed(struct srv_ctx *ctx, const char *service, struct uvm_error **err)
{
        Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        size_t len = strcmp(service, "packed-big") == 0 ? (1 << 20) + 1 : 16;
        uint8_t *buf = calloc(1, len);

        r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        if (strcmp(service, "packed-big") != 0)
                len = grpc__health__v1__health_check_response__pack(&r, buf);
        srv_reply_packed(ctx, buf, len, packed_release, buf);
        if (strcmp(service, "packed-fail") == 0)
                return uvm_error_set(err, ENOENT, "gone after all");
        return 0;
}

static atomic_int fast_tried, fast_answered;

/* The fast path: "fast-hit" answered packed (SERVING), "fast-big" one byte
 * over max_message_bytes; anything else declined, "fast-miss" among them. */
static bool check_fast(struct srv_ctx *ctx, const ProtobufCMessage *m)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) m;
        bool big = strcmp(req->service, "fast-big") == 0;
        Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        size_t len = big ? (1 << 20) + 1 : 16;
        uint8_t *buf;

        atomic_fetch_add(&fast_tried, 1);
        if (strcmp(req->service, "fast-hit") != 0 && !big)
                return false;
        buf = calloc(1, len);
        assert_non_null(buf);
        r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        if (!big)
                len = grpc__health__v1__health_check_response__pack(&r, buf);
        srv_reply_packed(ctx, buf, len, packed_release, buf);
        atomic_fetch_add(&fast_answered, 1);
        return true;
}

static int watch(struct srv_ctx *ctx, const ProtobufCMessage *m, struct uvm_error **err)
{
        Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

        srv_ctx_on_done(ctx, gate_wake, NULL);
        srv_stream_send(ctx, &r.base);
        pthread_mutex_lock(&gate_lock);
        while (!srv_ctx_done(ctx))
                pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
        srv_ctx_on_done(ctx, NULL, NULL);
        return 0;
}

static const struct srv_binding bindings[] = {
        {"grpc.health.v1.Health", "Check", SRV_UNARY, false, check, NULL, check_fast},
        {"grpc.health.v1.Health", "Watch", SRV_SERVER_STREAM, false, NULL, watch},
        {0},
};

struct fixture {
        struct dispatch_table *table;
        struct srv *srv;
        char address[64];
        grpc_channel *ch;
        grpc_completion_queue *cq;
};

static struct fixture *start_on(struct srv_queue *q, unsigned workers, unsigned queue_limit,
                                unsigned max_streams);

static struct fixture *start(unsigned workers, unsigned queue_limit, unsigned max_streams)
{
        return start_on(NULL, workers, queue_limit, max_streams);
}

/* q: a shared queue, or NULL for the server's own. */
static struct fixture *start_on(struct srv_queue *q, unsigned workers, unsigned queue_limit,
                                unsigned max_streams)
{
        static const ProtobufCServiceDescriptor *const svc[] = {
                &grpc__health__v1__health__descriptor};
        const struct srv_binding *const b[] = {bindings};
        struct fixture *f = calloc(1, sizeof(*f));
        struct srv_options o = {.io_threads = 1,
                                .queue = q,
                                .workers = workers,
                                .queue_limit = queue_limit,
                                .max_streams = max_streams,
                                .max_message_bytes = 1 << 20};
        grpc_channel_credentials *creds;
        struct timespec now;

        gate_open = false;
        /* Unique across parallel runs too: each sandbox's pid is the same
         * and random() is never seeded, but the clock moves. */
        clock_gettime(CLOCK_REALTIME, &now);
        snprintf(f->address, sizeof(f->address), "unix-abstract:uvmd-test-%d-%lld-%ld", getpid(),
                 (long long) now.tv_sec, now.tv_nsec);
        o.address = f->address;
        assert_int_equal(dispatch_table_new(svc, 1, b, 1, &f->table, NULL), 0);
        assert_int_equal(srv_start(&o, f->table, &f->srv, NULL), 0);
        creds = grpc_insecure_credentials_create();
        f->ch = grpc_channel_create(f->address, creds, NULL);
        grpc_channel_credentials_release(creds);
        f->cq = grpc_completion_queue_create_for_next(NULL);
        return f;
}

/* Free the client side and the table (the server is already stopped). */
static void release(struct fixture *f)
{
        grpc_completion_queue_shutdown(f->cq);
        while (grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(f->cq);
        dispatch_table_free(f->table);
        free(f);
}

static void stop(struct fixture *f, unsigned grace_ms)
{
        grpc_channel_destroy(f->ch);
        srv_stop(f->srv, grace_ms);
        release(f);
}

struct call {
        grpc_call *call;
        grpc_byte_buffer *req, *resp;
        grpc_metadata_array im, tm;
        grpc_status_code status;
        grpc_slice details;
        bool done;
};

static struct call *call_start(struct fixture *f, const char *method, const char *service,
                               int deadline_ms)
{
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        struct call *c = calloc(1, sizeof(*c));
        gpr_timespec dl = deadline_ms > 0
                                  ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                                 gpr_time_from_millis(deadline_ms, GPR_TIMESPAN))
                                  : gpr_inf_future(GPR_CLOCK_REALTIME);
        uint8_t buf[256];
        grpc_slice s;
        grpc_op ops[6];

        req.service = (char *) service;
        s = grpc_slice_from_copied_buffer((const char *) buf,
                                          grpc__health__v1__health_check_request__pack(&req, buf));
        c->req = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        c->details = grpc_empty_slice();
        grpc_metadata_array_init(&c->im);
        grpc_metadata_array_init(&c->tm);
        c->call = grpc_channel_create_call(f->ch, NULL, GRPC_PROPAGATE_DEFAULTS, f->cq,
                                           grpc_slice_from_static_string(method), NULL, dl, NULL);
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = c->req;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->im;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &c->resp;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &c->tm;
        ops[5].data.recv_status_on_client.status = &c->status;
        ops[5].data.recv_status_on_client.status_details = &c->details;
        assert_int_equal(grpc_call_start_batch(c->call, ops, 6, c, NULL), GRPC_CALL_OK);
        return c;
}

/* Wait for any call to complete, up to ms; returns it or NULL. */
static struct call *next_done(struct fixture *f, int ms)
{
        grpc_event ev = grpc_completion_queue_next(
                f->cq,
                gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN)),
                NULL);
        if (ev.type != GRPC_OP_COMPLETE)
                return NULL;
        ((struct call *) ev.tag)->done = true;
        return ev.tag;
}

static void wait_for(struct fixture *f, struct call *c)
{
        while (!c->done)
                assert_non_null(next_done(f, 10000));
}

static void call_free(struct call *c)
{
        if (c->resp)
                grpc_byte_buffer_destroy(c->resp);
        grpc_byte_buffer_destroy(c->req);
        grpc_slice_unref(c->details);
        grpc_metadata_array_destroy(&c->im);
        grpc_metadata_array_destroy(&c->tm);
        grpc_call_unref(c->call);
        free(c);
}

static void wait_slow_running(int n)
{
        for (int i = 0; i < 500 && atomic_load(&slow_running) < n; i++)
                usleep(10000);
        assert_int_equal(atomic_load(&slow_running), n);
}

static void open_gate(void)
{
        pthread_mutex_lock(&gate_lock);
        gate_open = true;
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
}

static void test_slow_handler_does_not_stall_others(void **state)
{
        struct fixture *f = start(4, 16, 4);
        struct call *slow = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0);

        wait_slow_running(1);
        for (int i = 0; i < 50; i++) {
                struct call *c = call_start(f, "/grpc.health.v1.Health/Check", "fast", 0);
                wait_for(f, c);
                assert_int_equal(c->status, GRPC_STATUS_OK);
                assert_non_null(c->resp);
                call_free(c);
        }
        assert_false(slow->done);
        open_gate();
        wait_for(f, slow);
        assert_int_equal(slow->status, GRPC_STATUS_OK);
        call_free(slow);
        stop(f, 1000);
}

static void ok_call(struct fixture *f, const char *service)
{
        struct call *c = call_start(f, "/grpc.health.v1.Health/Check", service, 0);

        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_OK);
        assert_non_null(c->resp);
        call_free(c);
}

/* Three servers on one queue thread (as every pod's ComputeAgent endpoint
 * is): each answers, one stopped with a call in flight on it leaves the
 * others serving, and the queue goes only after the last one stopped. */
static void test_servers_share_a_queue(void **state)
{
        struct srv_queue *q = NULL;
        struct fixture *f[3];
        struct call *slow;

        assert_int_equal(srv_queue_new(0, &q, NULL), 0);
        for (int i = 0; i < 3; i++)
                f[i] = start_on(q, 1, 8, 1);
        for (int round = 0; round < 20; round++)
                for (int i = 0; i < 3; i++)
                        ok_call(f[i], "fast");
        slow = call_start(f[1], "/grpc.health.v1.Health/Check", "slow", 0);
        wait_slow_running(1);
        ok_call(f[0], "fast");
        ok_call(f[2], "fast");
        open_gate();
        wait_for(f[1], slow);
        assert_int_equal(slow->status, GRPC_STATUS_OK);
        call_free(slow);
        stop(f[1], 1000);
        for (int round = 0; round < 20; round++) {
                ok_call(f[0], "fast");
                ok_call(f[2], "fast");
        }
        stop(f[0], 1000);
        ok_call(f[2], "fast");
        stop(f[2], 1000);
        srv_queue_free(q);
}

/* Servers made and stopped from several threads at once on one queue, as
 * pods' ComputeAgent endpoints are when the kubelet starts pods in
 * parallel: each server's channel args must stay its own (they once lived
 * in one static, and gRPC read another thread's stack through it). */
struct starter {
        struct srv_queue *q;
        int index, failures;
};

static void *start_stop_loop(void *data)
{
        static const ProtobufCServiceDescriptor *const svc[] = {
                &grpc__health__v1__health__descriptor};
        const struct srv_binding *const b[] = {bindings};
        struct starter *st = data;
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now); /* unique across runs, as start_on's */
        for (int i = 0; i < 150; i++) {
                struct dispatch_table *table = NULL;
                struct srv *srv = NULL;
                char address[128];
                struct srv_options o = {.io_threads = 1,
                                        .queue = st->q,
                                        .workers = 1,
                                        .queue_limit = 8,
                                        .max_streams = 1,
                                        .max_message_bytes = (1 << 20) + st->index};

                snprintf(address, sizeof(address), "unix-abstract:uvmd-test-%d-%lld-%ld-t%d-%d",
                         getpid(), (long long) now.tv_sec, now.tv_nsec, st->index, i);
                o.address = address;
                if (dispatch_table_new(svc, 1, b, 1, &table, NULL) < 0 ||
                    srv_start(&o, table, &srv, NULL) < 0)
                        st->failures++;
                else
                        srv_stop(srv, 100);
                dispatch_table_free(table);
        }
        return NULL;
}

static void test_servers_started_from_many_threads(void **state)
{
        struct srv_queue *q = NULL;
        struct starter st[8];
        pthread_t th[8];

        assert_int_equal(srv_queue_new(0, &q, NULL), 0);
        for (int i = 0; i < 8; i++) {
                st[i] = (struct starter){.q = q, .index = i};
                assert_int_equal(pthread_create(&th[i], NULL, start_stop_loop, &st[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
                pthread_join(th[i], NULL);
                assert_int_equal(st[i].failures, 0);
        }
        srv_queue_free(q);
}

/* CPU time (ns) the whole process has used. */
static int64_t process_cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A spinning queue thread answers as any other, and goes to sleep after
 * its spin: an idle process stays idle (a spin that never ended would use
 * the whole second below). */
static void test_spinning_queue_sleeps_when_idle(void **state)
{
        struct srv_queue *q = NULL;
        struct timespec settle = {0, 100 * 1000000}, idle = {1, 0};
        struct fixture *f;
        int64_t cpu;

        assert_int_equal(srv_queue_new(2000, &q, NULL), 0);
        f = start_on(q, 1, 8, 1);
        for (int i = 0; i < 50; i++)
                ok_call(f, "fast");
        nanosleep(&settle, NULL); /* past the last call's 2 ms of polling */
        cpu = process_cpu_ns();
        nanosleep(&idle, NULL);
        cpu = process_cpu_ns() - cpu;
        print_message("idle second: %.1f ms of CPU\n", cpu / 1e6);
        assert_true(cpu < 250 * 1000000);
        ok_call(f, "fast");
        stop(f, 1000);
        srv_queue_free(q);
}

static void test_errors_carry_status_and_message(void **state)
{
        struct fixture *f = start(2, 16, 4);
        struct call *c = call_start(f, "/grpc.health.v1.Health/Check", "missing", 0);
        char *msg;

        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_NOT_FOUND);
        msg = grpc_slice_to_c_string(c->details);
        assert_string_equal(msg, "no such thing 'missing'");
        gpr_free(msg);
        call_free(c);
        stop(f, 1000);
}

static void test_queue_is_bounded(void **state)
{
        struct fixture *f = start(1, 1, 4);
        struct call *a = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0), *b, *c;
        char *msg;

        wait_slow_running(1); /* a occupies the only worker */
        b = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0); /* queued */
        usleep(100000);
        c = call_start(f, "/grpc.health.v1.Health/Check", "fast", 0); /* over the bound */
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_UNAVAILABLE);
        msg = grpc_slice_to_c_string(c->details);
        assert_non_null(strstr(msg, "server busy"));
        gpr_free(msg);
        open_gate();
        wait_for(f, a);
        wait_for(f, b);
        assert_int_equal(a->status, GRPC_STATUS_OK);
        assert_int_equal(b->status, GRPC_STATUS_OK);
        call_free(a);
        call_free(b);
        call_free(c);
        stop(f, 1000);
}

static void wait_released(int n)
{
        for (int i = 0; i < 500 && atomic_load(&packed_released) < n; i++)
                usleep(10000);
        assert_int_equal(atomic_load(&packed_released), n);
}

/* A handler's packed answer goes out as it is, is held to max_message_bytes
 * and is released exactly once whether it was sent or not. */
static void test_packed_answers(void **state)
{
        struct fixture *f = start(2, 16, 4);
        Grpc__Health__V1__HealthCheckResponse *r;
        grpc_byte_buffer_reader rd;
        struct call *c;
        grpc_slice s;
        int base = atomic_load(&packed_released);

        c = call_start(f, "/grpc.health.v1.Health/Check", "packed", 0);
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_OK);
        assert_non_null(c->resp);
        assert_true(grpc_byte_buffer_reader_init(&rd, c->resp));
        s = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        r = grpc__health__v1__health_check_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
                                                            GRPC_SLICE_START_PTR(s));
        assert_non_null(r);
        assert_int_equal(r->status,
                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        grpc_slice_unref(s);
        call_free(c);
        wait_released(base + 1);

        c = call_start(f, "/grpc.health.v1.Health/Check", "packed-big", 0);
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_null(c->resp);
        call_free(c);
        wait_released(base + 2);

        c = call_start(f, "/grpc.health.v1.Health/Check", "packed-fail", 0);
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_NOT_FOUND);
        assert_null(c->resp);
        call_free(c);
        wait_released(base + 3);
        stop(f, 1000);
        assert_int_equal(atomic_load(&packed_released), base + 3);
}

/* The status in a Check answer; -1 when there is none or it is malformed. */
static int resp_status(struct call *c)
{
        Grpc__Health__V1__HealthCheckResponse *r;
        grpc_byte_buffer_reader rd;
        grpc_slice s;
        int status;

        if (!c->resp || !grpc_byte_buffer_reader_init(&rd, c->resp))
                return -1;
        s = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        r = grpc__health__v1__health_check_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
                                                            GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!r)
                return -1;
        status = r->status;
        grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        return status;
}

/* A fast-path answer needs no worker: with the only worker stuck, a hit is
 * answered, while a declined call waits in the queue until its deadline. */
static void test_fast_path_needs_no_worker(void **state)
{
        struct fixture *f = start(1, 16, 4);
        struct call *slow = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0), *c;
        int released = atomic_load(&packed_released), answered = atomic_load(&fast_answered);

        wait_slow_running(1);
        for (int i = 0; i < 20; i++) {
                c = call_start(f, "/grpc.health.v1.Health/Check", "fast-hit", 2000);
                wait_for(f, c);
                assert_int_equal(c->status, GRPC_STATUS_OK);
                assert_int_equal(resp_status(c),
                                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
                call_free(c);
        }
        assert_int_equal(atomic_load(&fast_answered), answered + 20);
        c = call_start(f, "/grpc.health.v1.Health/Check", "fast-miss", 300);
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_DEADLINE_EXCEEDED);
        call_free(c);
        assert_false(slow->done);
        open_gate();
        wait_for(f, slow);
        assert_int_equal(slow->status, GRPC_STATUS_OK);
        call_free(slow);
        stop(f, 1000);
        wait_released(released + 20);
}

/* Declined, the call runs the handler on a worker; an oversized fast
 * answer is refused like any other and its buffer released. */
static void test_fast_path_declined_or_too_big(void **state)
{
        struct fixture *f = start(2, 16, 4);
        int released = atomic_load(&packed_released), tried = atomic_load(&fast_tried);
        struct call *c = call_start(f, "/grpc.health.v1.Health/Check", "fast-miss", 0);

        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_OK);
        assert_int_equal(resp_status(c),
                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);
        assert_int_equal(atomic_load(&fast_tried), tried + 1);
        call_free(c);
        c = call_start(f, "/grpc.health.v1.Health/Check", "fast-big", 0);
        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_null(c->resp);
        call_free(c);
        wait_released(released + 1);
        stop(f, 1000);
}

/* Many calls in flight at once, hits and declined ones mixed with a stuck
 * one: every call gets its own answer and every buffer is released once. */
static void test_fast_path_concurrent_calls(void **state)
{
        enum { N = 200 };
        struct fixture *f = start(2, 1024, 4);
        struct call *slow = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0);
        struct call **v = calloc(N, sizeof(*v));
        int released = atomic_load(&packed_released);

        wait_slow_running(1);
        for (int i = 0; i < N; i++)
                v[i] = call_start(f, "/grpc.health.v1.Health/Check",
                                  i % 3 == 0 ? "fast-miss" : "fast-hit", 0);
        for (int i = 0; i < N; i++) {
                wait_for(f, v[i]);
                assert_int_equal(v[i]->status, GRPC_STATUS_OK);
                assert_int_equal(
                        resp_status(v[i]),
                        i % 3 == 0
                                ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
                                : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
                call_free(v[i]);
        }
        free(v);
        open_gate();
        wait_for(f, slow);
        call_free(slow);
        stop(f, 1000);
        wait_released(released + N - (N + 2) / 3);
}

static void test_deadline_reaches_handler(void **state)
{
        struct fixture *f = start(2, 16, 4);
        int before = atomic_load(&saw_done);
        struct call *c = call_start(f, "/grpc.health.v1.Health/Check", "slow", 200);

        wait_for(f, c);
        assert_int_equal(c->status, GRPC_STATUS_DEADLINE_EXCEEDED);
        /* The handler noticed and gave up instead of running on. */
        for (int i = 0; i < 200 && atomic_load(&saw_done) == before; i++)
                usleep(10000);
        assert_int_equal(atomic_load(&saw_done), before + 1);
        call_free(c);
        stop(f, 1000);
}

static atomic_bool umask_watch, umask_changed;

/* Umask as the kernel reports it: reading it never changes it. */
static unsigned umask_now(void)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[128];
        unsigned v = 0777;

        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "Umask: %o", &v) == 1)
                        break;
        if (f)
                fclose(f);
        return v;
}

static void *umask_watcher(void *arg)
{
        unsigned want = *(unsigned *) arg;

        while (atomic_load(&umask_watch))
                if (umask_now() != want)
                        atomic_store(&umask_changed, true);
        return NULL;
}

/* A filesystem socket comes out 0660, nothing is left beside it, and the
 * process umask (other threads create files meanwhile) never moves. */
static void test_unix_socket_mode_without_umask(void **state)
{
        static const ProtobufCServiceDescriptor *const svc[] = {
                &grpc__health__v1__health__descriptor};
        const struct srv_binding *const b[] = {bindings};
        char dir[] = "/tmp/uvmd-sock-XXXXXX", addr[128], path[96];
        struct dispatch_table *table = NULL;
        unsigned want = 022;
        pthread_t watcher;
        struct stat st;
        DIR *d;
        struct dirent *e;
        int entries = 0;

        umask(want);
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/x.sock", dir);
        snprintf(addr, sizeof(addr), "unix:%s", path);
        assert_int_equal(dispatch_table_new(svc, 1, b, 1, &table, NULL), 0);
        atomic_store(&umask_watch, true);
        assert_int_equal(pthread_create(&watcher, NULL, umask_watcher, &want), 0);
        for (int i = 0; i < 50; i++) {
                struct srv_options o = {.io_threads = 1,
                                        .workers = 1,
                                        .queue_limit = 4,
                                        .max_streams = 4,
                                        .max_message_bytes = 1 << 20,
                                        .address = addr};
                struct srv *s = NULL;

                assert_int_equal(srv_start(&o, table, &s, NULL), 0);
                assert_int_equal(stat(path, &st), 0);
                assert_true(S_ISSOCK(st.st_mode));
                assert_int_equal(st.st_mode & 0777, 0660);
                srv_stop(s, 0);
        }
        atomic_store(&umask_watch, false);
        pthread_join(watcher, NULL);
        assert_false(atomic_load(&umask_changed));
        d = opendir(dir);
        while (d && (e = readdir(d)))
                entries += e->d_name[0] != '.' || strncmp(e->d_name, ".b", 2) == 0;
        closedir(d);
        assert_int_equal(entries, 0); /* the socket went at stop; no bind dir left */
        rmdir(dir);
        dispatch_table_free(table);
}

static void test_streams_are_bounded_and_end_at_shutdown(void **state)
{
        struct fixture *f = start(2, 16, 1);
        struct call *w1 = call_start(f, "/grpc.health.v1.Health/Watch", "", 0), *w2;

        usleep(200000);
        w2 = call_start(f, "/grpc.health.v1.Health/Watch", "", 0);
        wait_for(f, w2);
        assert_int_equal(w2->status, GRPC_STATUS_RESOURCE_EXHAUSTED);
        assert_false(w1->done);
        /* A long-lived stream must not hold shutdown for the grace period. */
        {
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                grpc_channel_destroy(f->ch);
                srv_stop(f->srv, 5000);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                assert_true(t1.tv_sec - t0.tv_sec < 3);
                f->ch = NULL;
        }
        wait_for(f, w1);
        call_free(w1);
        call_free(w2);
        release(f);
}

static void test_shutdown_cancels_stuck_handler(void **state)
{
        struct fixture *f = start(2, 16, 4);
        struct call *c = call_start(f, "/grpc.health.v1.Health/Check", "slow", 0);
        struct timespec t0, t1;

        wait_slow_running(1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        srv_stop(f->srv, 300); /* grace expires, the call is cancelled */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(t1.tv_sec - t0.tv_sec < 5);
        assert_int_equal(atomic_load(&slow_running), 0);
        wait_for(f, c);
        assert_true(c->status == GRPC_STATUS_CANCELLED || c->status == GRPC_STATUS_UNAVAILABLE);
        call_free(c);
        grpc_channel_destroy(f->ch);
        release(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slow_handler_does_not_stall_others),
                cmocka_unit_test(test_errors_carry_status_and_message),
                cmocka_unit_test(test_servers_share_a_queue),
                cmocka_unit_test(test_servers_started_from_many_threads),
                cmocka_unit_test(test_spinning_queue_sleeps_when_idle),
                cmocka_unit_test(test_queue_is_bounded),
                cmocka_unit_test(test_deadline_reaches_handler),
                cmocka_unit_test(test_packed_answers),
                cmocka_unit_test(test_fast_path_needs_no_worker),
                cmocka_unit_test(test_fast_path_declined_or_too_big),
                cmocka_unit_test(test_fast_path_concurrent_calls),
                cmocka_unit_test(test_unix_socket_mode_without_umask),
                cmocka_unit_test(test_streams_are_bounded_and_end_at_shutdown),
                cmocka_unit_test(test_shutdown_cancels_stuck_handler),
        };
        int r;

        grpc_init();
        r = cmocka_run_group_tests(tests, NULL, NULL);
        grpc_shutdown();
        return r;
}
