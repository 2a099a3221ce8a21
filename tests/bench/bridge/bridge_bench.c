/* The bridge alone (agent/conn.h): one stream of --mib MiB from an "agent"
 * connection to a "host" one over a socketpair, the host's consumer
 * crediting each frame as it gets it (as uvmd's streaming server does once
 * the client took the bytes), with the default limits or the negotiated
 * bulk ones. Prints MB/s and CPU seconds per run; asserts nothing.
 *
 *   bridge_bench [-m MIB] [-r RUNS] [-w WRITE_BYTES] [-s SO_SNDBUF]
 */

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/conn.h"

struct sink {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t received;
        bool eof;
        unsigned long sum; /* keeps the reads honest */
};

static void on_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                    void *userdata)
{
        struct sink *s = userdata;

        pthread_mutex_lock(&s->lock);
        if (!data)
                s->eof = true;
        else {
                s->received += len;
                s->sum += ((const uint8_t *) data)[len - 1];
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (data)
                agent_conn_stream_consumed(conn, stream, len, NULL);
}

static int on_request(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                      void *userdata, struct uvm_error **err)
{
        json_object *caps = json_object_new_object();

        *ret = json_object_new_object();
        json_object_object_add(*ret, "Capabilities", caps);
        return agent_conn_answer_limits(conn, req, caps, err);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu_s(long *ret_switches)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        *ret_switches = ru.ru_nvcsw + ru.ru_nivcsw;
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
               (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static int sndbuf; /* --sndbuf: SO_SNDBUF of both ends, 0: the system's */

static void run(bool bulk, size_t total, size_t wsize, double *mbs, double *cpu, long *switches)
{
        static const struct agent_conn_ops host_ops = {.data = on_data};
        static const struct agent_conn_ops agent_ops = {.request = on_request};
        struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
        struct agent_conn *host = NULL, *agent = NULL;
        json_object *q = json_object_new_object(), *resp = NULL;
        uint8_t *buf = malloc(wsize);
        double t0, c0;
        long s0, s1;
        int fds[2];

        memset(buf, 7, wsize);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ||
            (sndbuf &&
             (setsockopt(fds[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(int)) < 0 ||
              setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(int)) < 0)) ||
            agent_conn_new(fds[0], &host_ops, &s, &host, NULL) < 0 ||
            agent_conn_new(fds[1], &agent_ops, NULL, &agent, NULL) < 0)
                abort();
        json_object_object_add(q, "ContainerId", json_object_new_string(""));
        json_object_object_add(q, "ActivityId", json_object_new_string("b"));
        if (bulk)
                agent_conn_offer_limits(host, q, NULL);
        if (agent_conn_call(host, AGENT_RPC_NEGOTIATE_PROTOCOL, q, 5000, &resp, NULL) < 0)
                abort();
        usleep(10000);
        t0 = now_s();
        c0 = cpu_s(&s0);
        for (size_t off = 0; off < total; off += wsize)
                if (agent_conn_write_stream(agent, 1, buf, wsize, -1, NULL) < 0)
                        abort();
        agent_conn_close_stream(agent, 1, NULL);
        pthread_mutex_lock(&s.lock);
        while (!s.eof)
                pthread_cond_wait(&s.cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
        *mbs = (double) s.received / 1e6 / (now_s() - t0);
        *cpu = cpu_s(&s1) - c0;
        *switches = s1 - s0;
        agent_conn_free(host);
        agent_conn_free(agent);
        json_object_put(q);
        json_object_put(resp);
        free(buf);
}

int main(int argc, char **argv)
{
        size_t mib = 1024, wsize = 512u << 10;
        int runs = 5, c;

        while ((c = getopt(argc, argv, "m:r:w:s:")) != -1) {
                if (c == 'm')
                        mib = strtoul(optarg, NULL, 10);
                else if (c == 'r')
                        runs = atoi(optarg);
                else if (c == 'w')
                        wsize = strtoul(optarg, NULL, 10);
                else if (c == 's')
                        sndbuf = atoi(optarg);
        }
        printf("| limits | run | MB/s | CPU s | context switches |\n|---|---|---|---|---|\n");
        for (int i = 0; i < runs; i++)
                for (int bulk = 0; bulk < 2; bulk++) {
                        double mbs, cpu;
                        long sw;

                        run(bulk, mib << 20, wsize, &mbs, &cpu, &sw);
                        printf("| %s | %d | %.0f | %.3f | %ld |\n", bulk ? "bulk" : "default", i,
                               mbs, cpu, sw);
                        fflush(stdout);
                }
        return 0;
}
