/*
 * Unary Version latency and throughput over the CRI unix socket, with a
 * C-core client on one channel. One thread keeps INFLIGHT calls outstanding
 * (each completion starts the next call), so the client costs little CPU and
 * the server is what is measured. Prints p50/p99 latency and calls/s.
 *
 *   version_bench SOCKET INFLIGHT TOTAL_CALLS
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

struct slot {
        grpc_call *call;
        grpc_byte_buffer *req, *resp;
        grpc_metadata_array init_md, trail_md;
        grpc_status_code status;
        grpc_slice details;
        double t0;
};

static double now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Start one Version call in slot; an empty VersionRequest is zero bytes. */
static void start_call(grpc_channel *ch, grpc_completion_queue *cq, struct slot *s)
{
        grpc_slice method = grpc_slice_from_static_string("/runtime.v1.RuntimeService/Version");
        grpc_slice empty = grpc_empty_slice();
        grpc_op ops[6];

        s->req = grpc_raw_byte_buffer_create(&empty, 1);
        s->resp = NULL;
        s->status = GRPC_STATUS_UNKNOWN;
        s->details = grpc_empty_slice();
        grpc_metadata_array_init(&s->init_md);
        grpc_metadata_array_init(&s->trail_md);
        s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                           gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = s->req;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &s->resp;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &s->trail_md;
        ops[5].data.recv_status_on_client.status = &s->status;
        ops[5].data.recv_status_on_client.status_details = &s->details;
        s->t0 = now_us();
        grpc_call_start_batch(s->call, ops, 6, s, NULL);
}

/* Finish a completed call; returns 0 when it succeeded. */
static int end_call(struct slot *s, int success)
{
        int ok = success && s->status == GRPC_STATUS_OK && s->resp != NULL;

        if (s->resp)
                grpc_byte_buffer_destroy(s->resp);
        grpc_byte_buffer_destroy(s->req);
        grpc_slice_unref(s->details);
        grpc_metadata_array_destroy(&s->init_md);
        grpc_metadata_array_destroy(&s->trail_md);
        grpc_call_unref(s->call);
        return ok ? 0 : -1;
}

static int run(grpc_channel *ch, grpc_completion_queue *cq, int inflight, long total,
               double *lat_us)
{
        struct slot *slots = calloc((size_t) inflight, sizeof(*slots));
        long started = 0, done = 0;
        int failures = 0;

        for (int i = 0; i < inflight && started < total; i++, started++)
                start_call(ch, cq, &slots[i]);
        while (done < total) {
                grpc_event ev =
                        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                struct slot *s = ev.tag;
                if (ev.type != GRPC_OP_COMPLETE)
                        break;
                if (lat_us)
                        lat_us[done] = now_us() - s->t0;
                if (end_call(s, ev.success) < 0)
                        failures++;
                done++;
                if (started < total) {
                        start_call(ch, cq, s);
                        started++;
                }
        }
        free(slots);
        return failures;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        grpc_channel_credentials *creds;
        grpc_completion_queue *cq;
        grpc_channel *ch;
        long total;
        int inflight, failures;
        double *lat, t0, secs;
        char target[256];

        if (argc != 4) {
                fprintf(stderr, "usage: %s SOCKET INFLIGHT TOTAL_CALLS\n", argv[0]);
                return 2;
        }
        snprintf(target, sizeof(target), "unix:%s", argv[1]);
        inflight = atoi(argv[2]);
        total = atol(argv[3]);
        if (inflight < 1 || inflight > 1024 || total < 1 || total > 100000000)
                return 2;
        grpc_init();
        creds = grpc_insecure_credentials_create();
        ch = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        cq = grpc_completion_queue_create_for_next(NULL);
        lat = calloc((size_t) total, sizeof(double));
        run(ch, cq, inflight, 200, NULL); /* warm up the connection */
        t0 = now_us();
        failures = run(ch, cq, inflight, total, lat);
        secs = (now_us() - t0) / 1e6;
        qsort(lat, (size_t) total, sizeof(double), cmp);
        printf("inflight=%d calls=%ld failures=%d p50_us=%.1f p99_us=%.1f calls_per_s=%.0f\n",
               inflight, total, failures, lat[total / 2], lat[total * 99 / 100], total / secs);
        grpc_channel_destroy(ch);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq);
        free(lat);
        grpc_shutdown();
        return failures ? 1 : 0;
}
