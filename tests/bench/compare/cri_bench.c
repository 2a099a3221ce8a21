/*
 * Latency of one CRI unary method over a unix socket, one call at a time,
 * with a C-core client: the same client for every runtime compared, so the
 * figure is the runtime plus the gRPC round trip, never a language binding's
 * decoding. Request bodies are serialized protobuf files made by the caller;
 * calls cycle through them (e.g. one ContainerStatusRequest per container).
 * Prints "calls=N failures=F reply_bytes=B", then one latency in µs a line.
 *
 *   cri_bench SOCKET METHOD_PATH WARMUP CALLS REQFILE...
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define MAX_REQ_BYTES (1 << 20)

struct req {
        char *data;
        size_t len;
};

static double now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int read_req(const char *path, struct req *ret)
{
        FILE *f = fopen(path, "rbe");
        char *buf;
        size_t n;

        if (!f)
                return -errno;
        buf = malloc(MAX_REQ_BYTES);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, MAX_REQ_BYTES, f);
        /* A request as large as the buffer may be cut: refuse it. */
        if (ferror(f) || n == MAX_REQ_BYTES) {
                fclose(f);
                free(buf);
                return -EINVAL;
        }
        fclose(f);
        ret->data = buf;
        ret->len = n;
        return 0;
}

/*
 * One unary call, waited for on its own queue. Returns 0 on status OK and
 * sets *ret_bytes to the reply's size; -1 otherwise, with the status printed.
 */
static int one_call(grpc_channel *ch, grpc_completion_queue *cq, grpc_slice method,
                    const struct req *r, size_t *ret_bytes)
{
        grpc_slice body = grpc_slice_from_copied_buffer(r->data, r->len);
        grpc_byte_buffer *req = grpc_raw_byte_buffer_create(&body, 1), *resp = NULL;
        grpc_metadata_array init_md, trail_md;
        grpc_status_code status = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        grpc_op ops[6];
        grpc_call *call;
        grpc_event ev;
        int ok;

        grpc_slice_unref(body);
        grpc_metadata_array_init(&init_md);
        grpc_metadata_array_init(&trail_md);
        call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                        gpr_time_from_seconds(30, GPR_TIMESPAN), NULL);
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = req;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &resp;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &details;
        grpc_call_start_batch(call, ops, 6, call, NULL);
        ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        ok = ev.type == GRPC_OP_COMPLETE && ev.success && status == GRPC_STATUS_OK;
        if (ok)
                *ret_bytes = resp ? grpc_byte_buffer_length(resp) : 0;
        else
                fprintf(stderr, "call failed: status %d: %.*s\n", (int) status,
                        (int) GRPC_SLICE_LENGTH(details),
                        (const char *) GRPC_SLICE_START_PTR(details));
        if (resp)
                grpc_byte_buffer_destroy(resp);
        grpc_byte_buffer_destroy(req);
        grpc_slice_unref(details);
        grpc_metadata_array_destroy(&init_md);
        grpc_metadata_array_destroy(&trail_md);
        grpc_call_unref(call);
        return ok ? 0 : -1;
}

static int usage(const char *argv0)
{
        fprintf(stderr, "usage: %s SOCKET METHOD_PATH WARMUP CALLS REQFILE...\n", argv0);
        return 2;
}

int main(int argc, char **argv)
{
        grpc_channel_credentials *creds;
        grpc_completion_queue *cq;
        grpc_channel *ch;
        grpc_slice method;
        struct req *reqs;
        size_t bytes = 0;
        long warmup, calls;
        int nreq, failures = 0;
        double *lat;
        char target[256];

        if (argc < 6)
                return usage(argv[0]);
        warmup = atol(argv[3]);
        calls = atol(argv[4]);
        if (warmup < 0 || warmup > 100000 || calls < 1 || calls > 1000000)
                return usage(argv[0]);
        if ((size_t) snprintf(target, sizeof(target), "unix:%s", argv[1]) >= sizeof(target))
                return usage(argv[0]);
        nreq = argc - 5;
        reqs = calloc((size_t) nreq, sizeof(*reqs));
        lat = calloc((size_t) calls, sizeof(*lat));
        if (!reqs || !lat)
                return 1;
        for (int i = 0; i < nreq; i++) {
                int r = read_req(argv[5 + i], &reqs[i]);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[5 + i], strerror(-r));
                        return 1;
                }
        }
        grpc_init();
        creds = grpc_insecure_credentials_create();
        ch = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        cq = grpc_completion_queue_create_for_next(NULL);
        method = grpc_slice_from_static_string(argv[2]);
        for (long i = 0; i < warmup + calls; i++) {
                double t0 = now_us();
                if (one_call(ch, cq, method, &reqs[i % nreq], &bytes) < 0) {
                        failures++;
                        break;
                }
                if (i >= warmup)
                        lat[i - warmup] = now_us() - t0;
        }
        printf("calls=%ld failures=%d reply_bytes=%zu\n", failures ? 0 : calls, failures, bytes);
        for (long i = 0; !failures && i < calls; i++)
                printf("%.1f\n", lat[i]);
        grpc_channel_destroy(ch);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq);
        for (int i = 0; i < nreq; i++)
                free(reqs[i].data);
        free(reqs);
        free(lat);
        grpc_shutdown();
        return failures ? 1 : 0;
}
