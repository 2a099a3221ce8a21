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
 * ExecSync (ExecuteProcess) in a running container runs a script, by its
 * first argument: "echo A B" (stdout "A B\n"), "fail N TEXT" (stderr
 * TEXT, exit N), "sleep S" (times out when TimeoutMs is shorter), "flood
 * N" (N bytes on each stream, cut at MaxOutput), "log STREAM CHUNK..."
 * (each CHUNK relayed as the container's own output on STREAM, stdout or
 * stderr, as `echo > /proc/1/fd/1` would); anything else exits 127.
 * Stats (ModifySettings with Stats) answer known numbers (FAKE_* below).
 * A NIC's settings (ModifySettings "Network", "Nic") are noted ("nic TYPE
 * MAC [old OLD] ADDRESS") and refused while a "fail-nic" file exists.
 *
 * Control, for the tests: with UVMD_FAKE_AGENT_DIR set, a "fail-create"
 * file there makes creates fail (EIO), "calls" gets a line per request
 * ("create ID", "start ID", "signal N ID", "delete ID", "exec ID timeout=MS
 * max=BYTES ARG0", "stats ID", "podstats") and
 * "create-ID.json" each create request. Prints "port N" once listening
 * and "connection N" per connection. Runs until killed.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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

/* What the fake's stats say: the test checks that these arrive. */
#define FAKE_CPU_NS 4200000000ull
#define FAKE_MEM_USAGE 52428800ull
#define FAKE_MEM_WORKING_SET 41943040ull
#define FAKE_MEM_RSS 31457280ull
#define FAKE_PAGE_FAULTS 1234ull
#define FAKE_MAJOR_FAULTS 5ull
#define FAKE_PIDS 3ull
#define FAKE_RX_BYTES 1000ull
#define FAKE_TX_BYTES 2000ull

struct ctr {
        char id[256];
        int state; /* 0 created, 1 running, 2 exited */
        int exit_code;
        int64_t finished_ns;
        bool notified; /* its exit was sent */
        uint64_t out_stream, err_stream;
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
                json_object_object_add(c, "StdoutStream",
                                       json_object_new_int64((int64_t) t.v[i].out_stream));
                json_object_object_add(c, "StderrStream",
                                       json_object_new_int64((int64_t) t.v[i].err_stream));
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
                        c->out_stream = t.next_stream++;
                        c->err_stream = t.next_stream++;
                        json_object_object_add(o, "StdoutStream",
                                               json_object_new_int64((int64_t) c->out_stream));
                        json_object_object_add(o, "StderrStream",
                                               json_object_new_int64((int64_t) c->err_stream));
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

static char *base64(const char *in, size_t n)
{
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        for (size_t i = 0; out && i < n; i += 3) {
                uint32_t v = (uint32_t) (unsigned char) in[i] << 16;

                v |= i + 1 < n ? (uint32_t) (unsigned char) in[i + 1] << 8 : 0;
                v |= i + 2 < n ? (unsigned char) in[i + 2] : 0;
                *o++ = tab[v >> 18];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? tab[v & 63] : '=';
        }
        if (out)
                *o = '\0';
        return out;
}

/* One stream of an exec's answer, cut at max. */
static void exec_stream(json_object *o, const char *name, const char *text, size_t len, size_t max)
{
        char key[32], *b = base64(text, len < max ? len : max);

        json_object_object_add(o, name, json_object_new_string(b ? b : ""));
        snprintf(key, sizeof(key), "%sCut", name);
        json_object_object_add(o, key, json_object_new_boolean(len > max));
        free(b);
}

/* The scripted commands (see the top); the container is running. */
static int exec_script(struct agent_conn *conn, const struct ctr *c, json_object *args,
                       int64_t timeout_ms, size_t max, json_object *o, struct uvm_error **err)
{
        const char *cmd = json_object_get_string(json_object_array_get_idx(args, 0));
        size_t n = json_object_array_length(args);
        char out[4096] = "", *flood = NULL;
        int code = 0;

        if (STR_EQ(cmd, "echo")) {
                for (size_t i = 1; i < n; i++)
                        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
                                 i > 1 ? " " : "",
                                 json_object_get_string(json_object_array_get_idx(args, i)));
                strcat(out, "\n");
                exec_stream(o, "Stdout", out, strlen(out), max);
                exec_stream(o, "Stderr", "", 0, max);
        } else if (STR_EQ(cmd, "fail") && n >= 2) {
                code = json_object_get_int(json_object_array_get_idx(args, 1));
                snprintf(out, sizeof(out), "%s",
                         n > 2 ? json_object_get_string(json_object_array_get_idx(args, 2)) : "");
                exec_stream(o, "Stdout", "", 0, max);
                exec_stream(o, "Stderr", out, strlen(out), max);
        } else if (STR_EQ(cmd, "sleep") && n >= 2) {
                int64_t ms = (int64_t) (json_object_get_double(json_object_array_get_idx(args, 1)) *
                                        1000);
                bool timed_out = timeout_ms > 0 && ms > timeout_ms;

                usleep((useconds_t) (timed_out ? timeout_ms : ms) * 1000);
                json_object_object_add(o, "TimedOut", json_object_new_boolean(timed_out));
                code = timed_out ? 137 : 0;
                exec_stream(o, "Stdout", "", 0, max);
                exec_stream(o, "Stderr", "", 0, max);
        } else if (STR_EQ(cmd, "flood") && n >= 2) {
                size_t len = (size_t) json_object_get_int64(json_object_array_get_idx(args, 1));

                flood = len <= (64u << 20) ? malloc(len + 1) : NULL;
                if (!flood)
                        return uvm_error_set(err, ENOMEM, "flood %zu: too much", len);
                memset(flood, 'x', len);
                exec_stream(o, "Stdout", flood, len, max);
                exec_stream(o, "Stderr", flood, len, max);
                free(flood);
        } else if (STR_EQ(cmd, "log") && n >= 2) {
                const char *which = json_object_get_string(json_object_array_get_idx(args, 1));
                uint64_t stream = STR_EQ(which, "stderr") ? c->err_stream : c->out_stream;

                /* Before the answer: uvmd has the output when ExecSync returns. */
                for (size_t i = 2; i < n; i++) {
                        const char *chunk =
                                json_object_get_string(json_object_array_get_idx(args, i));
                        int r = agent_conn_write_stream(conn, stream, chunk, strlen(chunk), 5000,
                                                        err);
                        if (r < 0)
                                return r;
                }
                exec_stream(o, "Stdout", "", 0, max);
                exec_stream(o, "Stderr", "", 0, max);
        } else {
                snprintf(out, sizeof(out), "%s: not found\n", cmd ? cmd : "");
                code = 127;
                exec_stream(o, "Stdout", "", 0, max);
                exec_stream(o, "Stderr", out, strlen(out), max);
        }
        json_object_object_add(o, "ExitCode", json_object_new_int(code));
        return 0;
}

static int exec_call(struct agent_conn *conn, const char *id, json_object *req, json_object **ret,
                     struct uvm_error **err)
{
        json_object *args = json_object_object_get(req, "Args");
        int64_t timeout_ms = json_object_get_int64(json_object_object_get(req, "TimeoutMs"));
        int64_t max = json_object_get_int64(json_object_object_get(req, "MaxOutput"));
        struct ctr c = {0};
        struct ctr *found;
        char what[400];
        json_object *o;
        int r;

        if (!json_object_is_type(args, json_type_array) || json_object_array_length(args) == 0)
                return uvm_error_set(err, EINVAL, "no Args");
        snprintf(what, sizeof(what), "%s timeout=%" PRId64 " max=%" PRId64 " %.200s", id,
                 timeout_ms, max, json_object_get_string(json_object_array_get_idx(args, 0)));
        note("exec", what);
        pthread_mutex_lock(&t.lock);
        found = find(id);
        if (found)
                c = *found; /* a copy: the script runs unlocked */
        pthread_mutex_unlock(&t.lock);
        if (!found)
                return uvm_error_set(err, ENOENT, "no container %s", id);
        if (c.state != 1)
                return uvm_error_set(err, EBUSY, "container %s is not running", id);
        o = json_object_new_object();
        r = exec_script(conn, &c, args, timeout_ms, max > 0 ? (size_t) max : 0, o, err);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
        json_object_object_add(o, key, json_object_new_uint64(v));
}

/* ModifySettings {Stats: true}: a container's usage, or the pod's
 * interfaces for ContainerId "". */
static int stats_call(const char *id, json_object **ret, struct uvm_error **err)
{
        json_object *o, *ifs, *eth0;
        bool known;

        if (STR_EMPTY(id)) {
                note("podstats", "");
                o = json_object_new_object();
                ifs = json_object_new_array();
                eth0 = json_object_new_object();
                json_object_object_add(eth0, "Name", json_object_new_string("eth0"));
                add_u64(eth0, "RxBytes", FAKE_RX_BYTES);
                add_u64(eth0, "RxErrors", 1);
                add_u64(eth0, "TxBytes", FAKE_TX_BYTES);
                add_u64(eth0, "TxErrors", 2);
                json_object_array_add(ifs, eth0);
                json_object_object_add(o, "Interfaces", ifs);
                *ret = o;
                return 0;
        }
        note("stats", id);
        pthread_mutex_lock(&t.lock);
        known = find(id) != NULL;
        pthread_mutex_unlock(&t.lock);
        if (!known)
                return uvm_error_set(err, ENOENT, "no container %s", id);
        o = json_object_new_object();
        add_u64(o, "CpuUsageNs", FAKE_CPU_NS);
        add_u64(o, "MemoryUsageBytes", FAKE_MEM_USAGE);
        add_u64(o, "MemoryWorkingSetBytes", FAKE_MEM_WORKING_SET);
        add_u64(o, "MemoryRssBytes", FAKE_MEM_RSS);
        add_u64(o, "PageFaults", FAKE_PAGE_FAULTS);
        add_u64(o, "MajorPageFaults", FAKE_MAJOR_FAULTS);
        add_u64(o, "Pids", FAKE_PIDS);
        *ret = o;
        return 0;
}

/* A NIC's settings in the guest (ModifySettings "Network" or "Nic"):
 * noted as "nic TYPE MAC [old OLD] ADDRESS"; refused while "fail-nic"
 * exists. */
static int nic_call(json_object *req, json_object **ret, struct uvm_error **err)
{
        const char *type = json_object_get_string(json_object_object_get(req, "ResourceType"));
        json_object *s = json_object_object_get(req, "Settings"), *ifc = s, *old;
        char what[256], path[4096];

        if (STR_EQ(type, "Network"))
                ifc = json_object_array_get_idx(json_object_object_get(s, "Interfaces"), 0);
        old = json_object_object_get(s, "OldAddresses");
        snprintf(what, sizeof(what), "nic %s %s%s%s", type,
                 json_object_get_string(json_object_object_get(ifc, "Mac")), old ? " old " : "",
                 old ? json_object_get_string(json_object_array_get_idx(old, 0)) : "");
        note(what, json_object_get_string(
                           json_object_array_get_idx(json_object_object_get(ifc, "Addresses"), 0)));
        snprintf(path, sizeof(path), "%s/fail-nic", dir ? dir : "");
        if (dir && access(path, F_OK) == 0)
                return uvm_error_set(err, EIO, "NIC refused on purpose");
        *ret = json_object_new_object();
        return 0;
}

static int serve(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                 void *userdata, struct uvm_error **err)
{
        const char *type = json_object_get_string(json_object_object_get(req, "ResourceType"));

        if (rpc == AGENT_RPC_MODIFY_SETTINGS && type &&
            (STR_EQ(type, "Network") || STR_EQ(type, "Nic")))
                return nic_call(req, ret, err);
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));

        if (rpc == AGENT_RPC_MODIFY_SETTINGS &&
            json_object_get_boolean(json_object_object_get(req, "Stats")))
                return stats_call(id, ret, err);
        if (rpc == AGENT_RPC_EXECUTE_PROCESS)
                return STR_EMPTY(id) ? uvm_error_set(err, EINVAL, "no ContainerId")
                                     : exec_call(conn, id, req, ret, err);
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
