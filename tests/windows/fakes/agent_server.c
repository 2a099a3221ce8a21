/*
 * The agent "in" the fake HCS's VMs (tests/windows/uvmd_pods_test.sh,
 * uvmd_ctrs_test.sh): a Linux program listening on 127.0.0.1, serving each
 * connection uvmd.exe's bridge makes (hcs_bridge_address). It keeps a
 * table of containers across connections, as an agent in a VM that
 * outlives a uvmd.exe restart would: create (a fresh pair of output
 * streams), start (a pid), signal (the container exits at once with
 * 128+signal, 0 for SIGTERM, and the exit is notified after the answer),
 * delete, and GetProperties listing them. Nothing runs. Everything else
 * (protocol negotiation, NICs, shutdown) is answered with success.
 *
 * Control, for the tests: with UVMD_FAKE_AGENT_DIR set, a "fail-create"
 * file there makes creates fail (EIO), "calls" gets a line per request
 * ("create ID", "start ID", "signal N ID", "delete ID") and
 * "create-ID.json" each create request. Prints "port N" once listening
 * and "connection N" per connection. Runs until killed.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/conn.h"
#include "agent/frame.h"
#include "common/macros.h"

#define MAX_CTRS 256

struct ctr {
        char id[256];
        int state; /* 0 created, 1 running, 2 exited */
        int exit_code;
        int64_t finished_ns;
        bool notified; /* its exit was sent */
};

static struct {
        pthread_mutex_t lock;
        struct ctr v[MAX_CTRS];
        size_t n;
        uint64_t next_stream;
} t = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_stream = 2};

static const char *dir;

static void note(const char *what, const char *id)
{
        char path[4096];
        FILE *f;

        if (!dir || snprintf(path, sizeof(path), "%s/calls", dir) >= (int) sizeof(path))
                return;
        f = fopen(path, "a");
        if (f) {
                fprintf(f, "%s %s\n", what, id);
                fclose(f);
        }
}

/* The create request, as <dir>/create-ID.json, for the test to read. */
static void keep_request(const char *id, json_object *req)
{
        char path[4096];

        if (dir && snprintf(path, sizeof(path), "%s/create-%s.json", dir, id) < (int) sizeof(path))
                json_object_to_file(path, req);
}

static bool fail_create(void)
{
        char path[4096];

        snprintf(path, sizeof(path), "%s/fail-create", dir ? dir : "");
        return dir && access(path, F_OK) == 0;
}

/* t.lock held. */
static struct ctr *find(const char *id)
{
        for (size_t i = 0; i < t.n; i++)
                if (STR_EQ(t.v[i].id, id))
                        return &t.v[i];
        return NULL;
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_object *properties(void)
{
        json_object *o = json_object_new_object(), *a = json_object_new_array();

        pthread_mutex_lock(&t.lock);
        for (size_t i = 0; i < t.n; i++) {
                json_object *c = json_object_new_object();
                static const char *const states[] = {"created", "running", "exited"};

                json_object_object_add(c, "Id", json_object_new_string(t.v[i].id));
                json_object_object_add(c, "State", json_object_new_string(states[t.v[i].state]));
                json_object_object_add(c, "Pid", json_object_new_int(t.v[i].state == 1 ? 42 : 0));
                json_object_object_add(c, "ExitCode", json_object_new_int(t.v[i].exit_code));
                json_object_object_add(c, "FinishedNs", json_object_new_int64(t.v[i].finished_ns));
                json_object_array_add(a, c);
        }
        pthread_mutex_unlock(&t.lock);
        json_object_object_add(o, "Containers", a);
        return o;
}

static int ctr_call(uint32_t rpc, const char *id, json_object *req, json_object **ret,
                    struct uvm_error **err)
{
        json_object *o = json_object_new_object();
        struct ctr *c;
        int r = 0;

        pthread_mutex_lock(&t.lock);
        c = find(id);
        if (rpc == AGENT_RPC_CREATE) {
                note("create", id);
                keep_request(id, req);
                if (fail_create())
                        r = uvm_error_set(err, EIO, "create refused on purpose");
                else if (c)
                        r = uvm_error_set(err, EEXIST, "container %s exists", id);
                else if (t.n == MAX_CTRS || strlen(id) >= sizeof(t.v[0].id))
                        r = uvm_error_set(err, ENOSPC, "too many containers");
                if (r == 0) {
                        c = &t.v[t.n++];
                        *c = (struct ctr){0};
                        strcpy(c->id, id);
                        json_object_object_add(o, "StdoutStream",
                                               json_object_new_int64(t.next_stream++));
                        json_object_object_add(o, "StderrStream",
                                               json_object_new_int64(t.next_stream++));
                }
        } else if (!c) {
                r = uvm_error_set(err, ENOENT, "no container %s", id);
        } else if (rpc == AGENT_RPC_START) {
                note("start", id);
                c->state = 1;
                json_object_object_add(o, "Pid", json_object_new_int(42));
        } else if (rpc == AGENT_RPC_SIGNAL_PROCESS) {
                int sig = json_object_get_int(json_object_object_get(req, "Signal"));

                char what[32];

                snprintf(what, sizeof(what), "signal %d", sig);
                note(what, id);
                if (c->state == 1) {
                        c->state = 2;
                        c->exit_code = sig == 15 ? 0 : 128 + sig;
                        c->finished_ns = now_ns();
                }
        } else if (rpc == AGENT_RPC_DELETE_CONTAINER_STATE) {
                note("delete", id);
                *c = t.v[--t.n];
        }
        pthread_mutex_unlock(&t.lock);
        if (r < 0)
                json_object_put(o);
        else
                *ret = o;
        return r;
}

static int serve(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                 void *userdata, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));

        switch (rpc) {
        case AGENT_RPC_NEGOTIATE_PROTOCOL:
                *ret = json_tokener_parse("{\"Version\":1,\"Capabilities\":{\"Streaming\":true}}");
                return 0;
        case AGENT_RPC_GET_PROPERTIES:
                *ret = properties();
                return 0;
        case AGENT_RPC_CREATE:
        case AGENT_RPC_START:
        case AGENT_RPC_SIGNAL_PROCESS:
        case AGENT_RPC_DELETE_CONTAINER_STATE:
                if (STR_EMPTY(id))
                        return uvm_error_set(err, EINVAL, "no ContainerId");
                return ctr_call(rpc, id, req, ret, err);
        default:
                *ret = json_object_new_object();
                return 0;
        }
}

/* After a signal's answer: the exit, as the agent reports a container's
 * end. */
static void responded(struct agent_conn *conn, uint32_t rpc, json_object *resp, void *userdata)
{
        if (rpc != AGENT_RPC_SIGNAL_PROCESS)
                return;
        pthread_mutex_lock(&t.lock);
        for (size_t i = 0; i < t.n; i++) {
                json_object *n;

                if (t.v[i].state != 2 || t.v[i].notified)
                        continue;
                n = json_object_new_object();
                json_object_object_add(n, "ContainerId", json_object_new_string(t.v[i].id));
                json_object_object_add(n, "ExitCode", json_object_new_int(t.v[i].exit_code));
                json_object_object_add(n, "FinishedNs", json_object_new_int64(t.v[i].finished_ns));
                json_object_object_add(n, "OomKilled", json_object_new_boolean(false));
                (void) agent_conn_notify(conn, n, NULL);
                json_object_put(n);
                t.v[i].notified = true;
        }
        pthread_mutex_unlock(&t.lock);
}

int main(void)
{
        static const struct agent_conn_ops ops = {.request = serve, .responded = responded};
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), n = 0;

        dir = getenv("UVMD_FAKE_AGENT_DIR");
        if (s < 0 || bind(s, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(s, 16) < 0 ||
            getsockname(s, (struct sockaddr *) &a, &len) < 0) {
                perror("agent_server");
                return 1;
        }
        printf("port %u\n", ntohs(a.sin_port));
        fflush(stdout);
        for (;;) {
                struct agent_conn *conn = NULL;
                struct uvm_error *e = NULL;
                int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0) {
                        perror("accept");
                        continue;
                }
                /* Each VM's agent lives until the far end closes; it is
                 * not freed here: the process ends with the test. */
                if (agent_conn_new(fd, &ops, NULL, &conn, &e) < 0) {
                        fprintf(stderr, "agent_server: %s\n", e->msg);
                        uvm_error_free(e);
                        continue;
                }
                printf("connection %d\n", ++n);
                fflush(stdout);
        }
}
