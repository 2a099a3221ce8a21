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
 * stderr, as `echo > /proc/1/fd/1` would), "die N" (the container itself
 * exits with N, notified after the exec's answer); anything else exits 127.
 * Stats (ModifySettings with Stats) answer known numbers (FAKE_* below).
 * A NIC's settings (ModifySettings "Network", "Nic") are noted ("nic TYPE
 * MAC [old OLD] ADDRESS") and refused while a "fail-nic" file exists.
 * A layer disk's (ModifySettings "Disk" {Lun, Path[, Remove]}) is noted
 * ("mount LUN PATH" when it was not mounted, "unmount LUN PATH" when it
 * was: the real agent takes both again without doing anything), kept
 * across connections, and a mount refused while "fail-mount" exists; while
 * "hang-mount" exists a mount waits (up to 60 s, noted "mount-hang LUN
 * PATH"), as one whose disk is slow to appear: the test kills uvmd.exe
 * meanwhile. A scratch disk's ({Lun, Path, Scratch: true}, Path
 * /run/scratch/<container id>) is noted "scratch-mount LUN PATH" when it
 * was not mounted; its unmount (Remove, that Path) "unmount LUN PATH".
 *
 * A Plan9 share's (ModifySettings "Plan9" {Port, AccessName, Path,
 * ReadOnly[, Remove]}) is noted ("share-mount NAME ro|rw PORT PATH" when
 * it was not mounted, "share-unmount PATH" when it was), kept across
 * connections, and a mount refused while "fail-share" exists; while
 * "hang-share" exists a mount waits (up to 60 s, noted "share-hang
 * PATH"): the test kills uvmd.exe meanwhile.
 *
 * The pod's files (ModifySettings "PodFiles" {ResolvConf, Hosts,
 * Hostname}: strings, all three) are kept as "podfiles-N.json" (N from 1,
 * per call since the agent started) and noted "podfiles N".
 *
 * Streaming sessions (uvmd_stream_test.sh): an interactive exec runs a
 * script by its first argument ("cat [N]": stdin echoed on stdout, exit N
 * at its end; "exit N [TEXT]": TEXT on stdout, "err TEXT" on stderr, exit
 * N; else 127), a terminal's first size and each ResizeConsole written on
 * its stdout ("size RxC", "resize RxC"); an attach echoes its stdin and
 * ends with it; a port-forward connects to 127.0.0.1:Port on this machine
 * (the test's listener) and relays both ways. Close ends a session (an
 * exec with 137). Noted: "session exec|attach ID tty=.. in=.. out=..
 * err=.. ARG0", "session port N", "session-close", "session-end N code=C".
 *
 * A create's "User" (an image user or run_as_username left to the agent,
 * agent/user_db.h) is noted ("user ID") and resolved against the image
 * files the test puts in the directory ("passwd", "group"), as the real
 * agent resolves against the rootfs: the ids answered, or the create
 * refused with the resolver's error.
 *
 * Control, for the tests: with UVMD_FAKE_AGENT_DIR set, a "fail-create"
 * file there makes creates fail (EIO), "calls" gets a line per request
 * ("create ID", "start ID", "signal N ID", "delete ID", "exec ID timeout=MS
 * max=BYTES ARG0", "stats ID", "podstats", "update ID") and
 * "create-ID.json" each create request, "update-ID.json" the Resources of
 * a running container's last UpdateContainer (an unknown one ENOENT, one
 * not running EBUSY). Prints "port N" once listening
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
#include "agent/user_db.h"
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

/* <dir>/NAME's text, NULL when absent. */
static char *dir_text(const char *name)
{
        char path[4096], *text = NULL;
        size_t len = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir ? dir : "", name);
        f = dir ? fopen(path, "r") : NULL;
        if (!f)
                return NULL;
        text = calloc(1, USER_DB_MAX_BYTES + 1);
        if (text)
                len = fread(text, 1, USER_DB_MAX_BYTES, f);
        fclose(f);
        if (text && len == USER_DB_MAX_BYTES)
                user_db_drop_partial_line(text, len);
        return text;
}

/* A create's "User": noted ("user ID"; the request is in create-ID.json)
 * and resolved as the real agent does, against the image files the test
 * put in the directory ("passwd", "group"); the ids answered. */
static int user_call(const char *id, json_object *req, json_object *o, struct uvm_error **err)
{
        json_object *u = json_object_object_get(req, "User");
        _cleanup_free_ char *passwd = NULL, *group = NULL;
        _cleanup_free_ unsigned *groups = NULL;
        struct user_db_req q;
        struct user_db_ids ids;
        int r;

        if (!u)
                return 0;
        note("user", id);
        r = user_db_req_from_json(u, &q, &groups, err);
        if (r < 0)
                return r;
        passwd = dir_text("passwd");
        group = dir_text("group");
        r = user_db_resolve(&q, passwd, group, &ids, err);
        if (r < 0)
                return uvm_error_wrap(err, "create container '%s'", id);
        json_object_object_add(o, "User", user_db_ids_to_json(&ids));
        return 0;
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
                else
                        r = user_call(id, req, o, err);
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

/* The container ends on its own with code: its exit is notified after the
 * answer of the call that ended it (responded). */
static void ctr_die(const char *id, int code)
{
        struct ctr *c;

        pthread_mutex_lock(&t.lock);
        c = find(id);
        if (c && c->state == 1) {
                c->state = 2;
                c->exit_code = code;
                c->finished_ns = now_ns();
        }
        pthread_mutex_unlock(&t.lock);
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
        } else if (STR_EQ(cmd, "die") && n >= 2) {
                note("die", c->id);
                ctr_die(c->id, json_object_get_int(json_object_array_get_idx(args, 1)));
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

/* The guest's mount points under /run/layers/ that are mounted, by LUN
 * (guarded by t.lock). */
#define DISK_LUNS 64
static bool mounted[DISK_LUNS];

static int disk_call(json_object *req, json_object **ret, struct uvm_error **err)
{
        json_object *s = json_object_object_get(req, "Settings");
        const char *path = json_object_get_string(json_object_object_get(s, "Path"));
        int lun = json_object_get_int(json_object_object_get(s, "Lun"));
        bool remove = json_object_get_boolean(json_object_object_get(s, "Remove")), was;
        bool scratch = json_object_get_boolean(json_object_object_get(s, "Scratch"));
        char what[64], want[300], fail[4096];

        snprintf(want, sizeof(want), "/run/layers/%d", lun);
        if (path && strncmp(path, "/run/scratch/", 13) == 0 && path[13] &&
            !strchr(path + 13, '/') && strlen(path) < sizeof(want) && (scratch || remove))
                snprintf(want, sizeof(want), "%s", path);
        else if (scratch)
                want[0] = '\0';
        if (lun < 0 || lun >= DISK_LUNS || !path || !STR_EQ(path, want))
                return uvm_error_set(err, EINVAL, "Disk: Lun %d, Path \"%s\"", lun,
                                     path ? path : "");
        snprintf(fail, sizeof(fail), "%s/fail-mount", dir ? dir : "");
        if (!remove && dir && access(fail, F_OK) == 0)
                return uvm_error_set(err, ETIMEDOUT, "Disk: no disk at lun %d (fail-mount)", lun);
        snprintf(fail, sizeof(fail), "%s/hang-mount", dir ? dir : "");
        if (!remove && dir && access(fail, F_OK) == 0) {
                struct timespec nap = {0, 50000000};

                snprintf(what, sizeof(what), "mount-hang %d", lun);
                note(what, path);
                for (int i = 0; i < 1200 && access(fail, F_OK) == 0; i++)
                        nanosleep(&nap, NULL);
        }
        pthread_mutex_lock(&t.lock);
        was = mounted[lun];
        mounted[lun] = !remove;
        pthread_mutex_unlock(&t.lock);
        if (was == remove) {
                snprintf(what, sizeof(what), "%s %d",
                         remove    ? "unmount"
                         : scratch ? "scratch-mount"
                                   : "mount",
                         lun);
                note(what, path);
        }
        *ret = json_object_new_object();
        return 0;
}

/* The guest's mount points under /run/mounts/m<N> that are mounted
 * (guarded by t.lock). */
#define SHARES 64
static bool shared[SHARES];

static int share_call(json_object *req, json_object **ret, struct uvm_error **err)
{
        json_object *s = json_object_object_get(req, "Settings");
        const char *path = json_object_get_string(json_object_object_get(s, "Path"));
        const char *name = json_object_get_string(json_object_object_get(s, "AccessName"));
        bool remove = json_object_get_boolean(json_object_object_get(s, "Remove")), was;
        bool ro = json_object_get_boolean(json_object_object_get(s, "ReadOnly"));
        int port = json_object_get_int(json_object_object_get(s, "Port"));
        int n = path && strncmp(path, "/run/mounts/m", 13) == 0 ? atoi(path + 13) : -1;
        char what[160], fail[4096];

        if (n < 0 || n >= SHARES || (!remove && (!name || !STR_EQ(name, path + 12) || port != 564)))
                return uvm_error_set(err, EINVAL, "Plan9: Path \"%s\", AccessName \"%s\", Port %d",
                                     path ? path : "", name ? name : "", port);
        snprintf(fail, sizeof(fail), "%s/fail-share", dir ? dir : "");
        if (!remove && dir && access(fail, F_OK) == 0)
                return uvm_error_set(err, EIO, "Plan9: mount %s refused (fail-share)", path);
        snprintf(fail, sizeof(fail), "%s/hang-share", dir ? dir : "");
        if (!remove && dir && access(fail, F_OK) == 0) {
                struct timespec nap = {0, 50000000};

                note("share-hang", path);
                for (int i = 0; i < 1200 && access(fail, F_OK) == 0; i++)
                        nanosleep(&nap, NULL);
        }
        pthread_mutex_lock(&t.lock);
        was = shared[n];
        shared[n] = !remove;
        pthread_mutex_unlock(&t.lock);
        if (was == remove) {
                if (remove)
                        snprintf(what, sizeof(what), "share-unmount");
                else
                        snprintf(what, sizeof(what), "share-mount %s %s %d", name, ro ? "ro" : "rw",
                                 port);
                note(what, path);
        }
        *ret = json_object_new_object();
        return 0;
}

/* --- streaming sessions (Exec, Attach, PortForward through uvmd.exe) --- */

#define MAX_SESS 64

enum sess_kind { SESS_EXEC, SESS_ATTACH, SESS_PORT };

struct sess {
        bool used, started, ended, in_done, out_done;
        enum sess_kind kind;
        uint64_t id, in, out, err; /* 0: none */
        char ctr[256];
        char cmd[64];   /* an exec's first argument */
        char text[256]; /* "exit N TEXT"'s TEXT */
        char first[64]; /* said first: a terminal's size */
        int code;       /* an exec's exit code (at its stdin's end for cat) */
        int tcp;        /* a port-forward's connection, -1 */
        struct agent_conn *conn;
};

static struct {
        pthread_mutex_t lock;
        struct sess v[MAX_SESS];
        uint64_t next_id;
} ss = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = AGENT_SESSION_ID_BASE + 1};

/* The session with id, or whose stdin is `in` (ss.lock held). */
static struct sess *sess_find(uint64_t id, uint64_t in)
{
        for (size_t i = 0; i < MAX_SESS; i++)
                if (ss.v[i].used && ((id && ss.v[i].id == id) || (in && ss.v[i].in == in)))
                        return &ss.v[i];
        return NULL;
}

static void sess_write(struct sess *s, uint64_t stream, const char *buf, size_t len)
{
        if (stream && len)
                (void) agent_conn_write_stream(s->conn, stream, buf, len, 5000, NULL);
}

/* Its outputs closed, then the end notified, once; the slot freed. */
static void sess_end(struct sess *s, int code)
{
        json_object *n;
        char what[64];

        pthread_mutex_lock(&ss.lock);
        if (s->ended) {
                pthread_mutex_unlock(&ss.lock);
                return;
        }
        s->ended = true;
        pthread_mutex_unlock(&ss.lock);
        if (s->out)
                (void) agent_conn_close_stream(s->conn, s->out, NULL);
        if (s->err)
                (void) agent_conn_close_stream(s->conn, s->err, NULL);
        n = json_object_new_object();
        json_object_object_add(n, "ContainerId", json_object_new_string(s->ctr));
        json_object_object_add(n, "ProcessId", json_object_new_uint64(s->id));
        json_object_object_add(n, "ExitCode", json_object_new_int(code));
        json_object_object_add(n, "Result", json_object_new_int(0));
        json_object_object_add(n, "ErrorMessage", json_object_new_string(""));
        (void) agent_conn_notify(s->conn, n, NULL);
        json_object_put(n);
        snprintf(what, sizeof(what), "%" PRIu64 " code=%d", s->id - AGENT_SESSION_ID_BASE, code);
        note("session-end", what);
        if (s->tcp >= 0)
                close(s->tcp);
        pthread_mutex_lock(&ss.lock);
        s->used = false;
        pthread_mutex_unlock(&ss.lock);
}

/* A port-forward's connection to the session's stream, until its EOF. */
static void *port_pump(void *arg)
{
        struct sess *s = arg;
        char buf[16384];
        ssize_t n;
        bool end;

        while ((n = read(s->tcp, buf, sizeof(buf))) > 0)
                sess_write(s, s->out, buf, (size_t) n);
        (void) agent_conn_close_stream(s->conn, s->out, NULL);
        pthread_mutex_lock(&ss.lock);
        s->out_done = true;
        end = s->in_done;
        pthread_mutex_unlock(&ss.lock);
        if (end)
                sess_end(s, 0);
        return NULL;
}

static int port_connect(int64_t port, struct uvm_error **err)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        a.sin_port = htons((uint16_t) port);
        if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                int e = errno;

                if (fd >= 0)
                        close(fd);
                return uvm_error_set(err, e, "port %" PRId64 ": %s", port, strerror(e));
        }
        return fd;
}

/* ExecuteProcess with Interactive, Attach or PortForward. Exec scripts
 * (the first argument): "cat [N]" echoes stdin on stdout and exits N at
 * its end; "exit N [TEXT]" writes TEXT and exits N at once; anything else
 * exits 127. Every exec also writes "size RxC" (a terminal's first size)
 * and "resize RxC" (ResizeConsole) on stdout. An attach echoes its stdin
 * as the container's output and ends with it. */
static int sess_start(struct agent_conn *conn, const char *id, json_object *req, json_object **ret,
                      struct uvm_error **err)
{
        bool port = json_object_get_boolean(json_object_object_get(req, "PortForward"));
        bool attach = json_object_get_boolean(json_object_object_get(req, "Attach"));
        bool want_in = json_object_get_boolean(json_object_object_get(req, "Stdin"));
        bool want_out = json_object_get_boolean(json_object_object_get(req, "Stdout"));
        bool want_err = json_object_get_boolean(json_object_object_get(req, "Stderr"));
        bool tty = json_object_get_boolean(json_object_object_get(req, "Tty"));
        json_object *args = json_object_object_get(req, "Args"), *o;
        size_t argc =
                json_object_is_type(args, json_type_array) ? json_object_array_length(args) : 0;
        const char *arg0 =
                argc > 0 ? json_object_get_string(json_object_array_get_idx(args, 0)) : NULL;
        struct sess *s = NULL;
        char what[400];
        int tcp = -1;

        if (port) {
                int64_t p = json_object_get_int64(json_object_object_get(req, "Port"));

                snprintf(what, sizeof(what), "port %" PRId64, p);
                note("session", what);
                tcp = port_connect(p, err);
                if (tcp < 0)
                        return tcp;
        } else {
                struct ctr *c;
                bool running;

                pthread_mutex_lock(&t.lock);
                c = find(id ? id : "");
                running = c && c->state == 1;
                pthread_mutex_unlock(&t.lock);
                snprintf(what, sizeof(what), "%s %s tty=%d in=%d out=%d err=%d %.64s",
                         attach ? "attach" : "exec", id ? id : "", tty, want_in, want_out, want_err,
                         attach ? "" : (arg0 ? arg0 : ""));
                note("session", what);
                if (!running)
                        return uvm_error_set(err, ENOENT, "no running container %s", id);
        }
        pthread_mutex_lock(&ss.lock);
        for (size_t i = 0; i < MAX_SESS && !s; i++)
                if (!ss.v[i].used)
                        s = &ss.v[i];
        if (s) {
                *s = (struct sess){.used = true, .conn = conn, .tcp = tcp};
                s->kind = port ? SESS_PORT : attach ? SESS_ATTACH : SESS_EXEC;
                s->id = ss.next_id++;
                snprintf(s->ctr, sizeof(s->ctr), "%s", port || !id ? "" : id);
                if (port) {
                        s->in = s->out = s->id;
                } else {
                        s->in = want_in ? ss.next_id++ : 0;
                        s->out = want_out || (tty && want_err) ? ss.next_id++ : 0;
                        s->err = want_err && !tty ? ss.next_id++ : 0;
                }
                if (s->kind == SESS_EXEC && arg0) {
                        const char *text =
                                argc > 2
                                        ? json_object_get_string(json_object_array_get_idx(args, 2))
                                        : NULL;

                        snprintf(s->cmd, sizeof(s->cmd), "%s", arg0);
                        snprintf(s->text, sizeof(s->text), "%s", text ? text : "");
                        s->code = argc > 1 ? json_object_get_int(json_object_array_get_idx(args, 1))
                                           : 0;
                }
                if (s->kind == SESS_EXEC && tty)
                        snprintf(s->first, sizeof(s->first), "size %dx%d\n",
                                 json_object_get_int(json_object_object_get(req, "Rows")),
                                 json_object_get_int(json_object_object_get(req, "Cols")));
        }
        pthread_mutex_unlock(&ss.lock);
        if (!s) {
                if (tcp >= 0)
                        close(tcp);
                return uvm_error_set(err, EAGAIN, "too many sessions");
        }
        o = json_object_new_object();
        json_object_object_add(o,
                               port     ? "StreamId"
                               : attach ? "AttachId"
                                        : "ProcessId",
                               json_object_new_uint64(s->id));
        if (!port) {
                json_object_object_add(o, "StdinStream", json_object_new_uint64(s->in));
                json_object_object_add(o, "StdoutStream", json_object_new_uint64(s->out));
                json_object_object_add(o, "StderrStream", json_object_new_uint64(s->err));
        }
        *ret = o;
        return 0;
}

/* After a session's answer: what it says first, or its thread. */
static void sess_started(json_object *resp)
{
        struct sess *s;
        uint64_t id = 0;
        const char *keys[] = {"ProcessId", "AttachId", "StreamId"};

        for (size_t i = 0; i < 3 && !id; i++)
                id = json_object_get_uint64(json_object_object_get(resp, keys[i]));
        pthread_mutex_lock(&ss.lock);
        s = sess_find(id, 0);
        if (s)
                s->started = true;
        pthread_mutex_unlock(&ss.lock);
        if (!s)
                return;
        if (s->kind == SESS_PORT) {
                pthread_t th;

                if (pthread_create(&th, NULL, port_pump, s) == 0)
                        pthread_detach(th);
                return;
        }
        /* What the session says first waited for its answer. */
        sess_write(s, s->out, s->first, strlen(s->first));
        if (s->kind != SESS_EXEC || STR_EQ(s->cmd, "cat"))
                return;
        if (STR_EQ(s->cmd, "exit")) {
                char line[300];

                if (s->text[0]) {
                        snprintf(line, sizeof(line), "%s\n", s->text);
                        sess_write(s, s->out, line, strlen(line));
                        snprintf(line, sizeof(line), "err %s\n", s->text);
                        sess_write(s, s->err, line, strlen(line));
                }
                sess_end(s, s->code);
        } else {
                sess_write(s, s->err ? s->err : s->out, "not found\n", 10);
                sess_end(s, 127);
        }
}

/* Host bytes on a session's stdin (the reader thread: nothing waits). */
static void sess_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                      void *userdata)
{
        struct sess *s;
        bool end = false;

        pthread_mutex_lock(&ss.lock);
        s = stream >= AGENT_SESSION_ID_BASE ? sess_find(0, stream) : NULL;
        if (s && !data) {
                s->in_done = true;
                end = s->kind != SESS_PORT || s->out_done;
        }
        pthread_mutex_unlock(&ss.lock);
        if (data)
                (void) agent_conn_stream_consumed(conn, stream, len, NULL);
        if (!s)
                return;
        if (data && s->kind == SESS_PORT) {
                (void) !write(s->tcp, data, len);
        } else if (data) {
                /* An echo: its window is the host's, far above a test's bytes. */
                (void) agent_conn_write_stream(conn, s->out, data, len, 0, NULL);
        } else if (s->kind == SESS_PORT) {
                shutdown(s->tcp, SHUT_WR);
        }
        if (end)
                sess_end(s, s->kind == SESS_EXEC ? s->code : 0);
}

/* SignalProcess {ProcessId, Close} and ResizeConsole of a session. */
static int sess_call(uint32_t rpc, json_object *req, json_object **ret, struct uvm_error **err)
{
        uint64_t id = json_object_get_uint64(json_object_object_get(req, "ProcessId"));
        struct sess *s;
        char what[64];

        pthread_mutex_lock(&ss.lock);
        s = sess_find(id, 0);
        pthread_mutex_unlock(&ss.lock);
        if (!s)
                return uvm_error_set(err, ESRCH, "no session %" PRIu64, id);
        if (rpc == AGENT_RPC_RESIZE_CONSOLE) {
                int h = json_object_get_int(json_object_object_get(req, "Height"));
                int w = json_object_get_int(json_object_object_get(req, "Width"));

                snprintf(what, sizeof(what), "resize %dx%d\n", h, w);
                sess_write(s, s->out, what, strlen(what));
        } else if (json_object_get_boolean(json_object_object_get(req, "Close"))) {
                note("session-close", s->kind == SESS_PORT ? "port" : s->ctr);
                sess_end(s, s->kind == SESS_EXEC ? 137 : 0);
        }
        *ret = json_object_new_object();
        return 0;
}

static int podfiles_call(json_object *req, json_object **ret, struct uvm_error **err)
{
        static const char *const keys[] = {"ResolvConf", "Hosts", "Hostname"};
        static int n;
        json_object *s = json_object_object_get(req, "Settings");
        char path[4096], num[16];
        int k;

        for (size_t i = 0; i < 3; i++)
                if (!json_object_is_type(json_object_object_get(s, keys[i]), json_type_string))
                        return uvm_error_set(err, EINVAL, "PodFiles: %s is required", keys[i]);
        pthread_mutex_lock(&t.lock);
        k = ++n;
        pthread_mutex_unlock(&t.lock);
        snprintf(num, sizeof(num), "%d", k);
        if (dir && snprintf(path, sizeof(path), "%s/podfiles-%d.json", dir, k) < (int) sizeof(path))
                json_object_to_file(path, s);
        note("podfiles", num);
        *ret = json_object_new_object();
        return 0;
}

static int update_call(const char *id, json_object *req, json_object **ret, struct uvm_error **err)
{
        json_object *res = json_object_object_get(req, "Resources");
        struct ctr *c;
        char path[4096];
        int state = -1;

        if (STR_EMPTY(id) || !json_object_is_type(res, json_type_object))
                return uvm_error_set(err, EINVAL, "UpdateContainer: ContainerId and Resources");
        pthread_mutex_lock(&t.lock);
        c = find(id);
        if (c)
                state = c->state;
        pthread_mutex_unlock(&t.lock);
        if (state < 0)
                return uvm_error_set(err, ENOENT, "no container %s", id);
        if (state != 1)
                return uvm_error_set(err, EBUSY, "container %s is not running", id);
        note("update", id);
        if (dir && snprintf(path, sizeof(path), "%s/update-%s.json", dir, id) < (int) sizeof(path))
                json_object_to_file(path, res);
        *ret = json_object_new_object();
        return 0;
}

static int serve(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                 void *userdata, struct uvm_error **err)
{
        const char *type = json_object_get_string(json_object_object_get(req, "ResourceType"));

        if (rpc == AGENT_RPC_MODIFY_SETTINGS && type && STR_EQ(type, "Disk"))
                return disk_call(req, ret, err);
        if (rpc == AGENT_RPC_MODIFY_SETTINGS && type && STR_EQ(type, "Plan9"))
                return share_call(req, ret, err);
        if (rpc == AGENT_RPC_MODIFY_SETTINGS && type && STR_EQ(type, "PodFiles"))
                return podfiles_call(req, ret, err);

        if (rpc == AGENT_RPC_MODIFY_SETTINGS && type &&
            (STR_EQ(type, "Network") || STR_EQ(type, "Nic")))
                return nic_call(req, ret, err);
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));

        if (rpc == AGENT_RPC_MODIFY_SETTINGS &&
            json_object_get_boolean(json_object_object_get(req, "Stats")))
                return stats_call(id, ret, err);
        if (rpc == AGENT_RPC_EXECUTE_PROCESS &&
            (json_object_get_boolean(json_object_object_get(req, "Interactive")) ||
             json_object_get_boolean(json_object_object_get(req, "Attach")) ||
             json_object_get_boolean(json_object_object_get(req, "PortForward"))))
                return sess_start(conn, id, req, ret, err);
        if (rpc == AGENT_RPC_RESIZE_CONSOLE ||
            (rpc == AGENT_RPC_SIGNAL_PROCESS && json_object_object_get(req, "ProcessId")))
                return sess_call(rpc, req, ret, err);
        if (rpc == AGENT_RPC_UPDATE_CONTAINER)
                return update_call(id, req, ret, err);
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

/* After a signal's (or a "die" exec's) answer: the exit, as the agent
 * reports a container's end. */
static void responded(struct agent_conn *conn, uint32_t rpc, json_object *resp, void *userdata)
{
        if (rpc == AGENT_RPC_EXECUTE_PROCESS)
                sess_started(resp);
        if (rpc != AGENT_RPC_SIGNAL_PROCESS && rpc != AGENT_RPC_EXECUTE_PROCESS)
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
        static const struct agent_conn_ops ops = {
                .request = serve, .responded = responded, .data = sess_data};
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
