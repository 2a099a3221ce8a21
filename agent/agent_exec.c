/* ExecuteProcess (runc exec with bounded, base64'd output and a timeout),
 * UpdateContainer (runc update) and the Stats form of ModifySettings
 * (runc events --stats). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

#define EXEC_MAX_ARGS 1024
#define EXEC_MAX_ARG_BYTES (128u << 10) /* all args together */

static atomic_uint exec_seq;

char *agent_base64(const uint8_t *data, size_t len)
{
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) data[i] << 16;

                if (i + 1 < len)
                        v |= (uint32_t) data[i + 1] << 8;
                if (i + 2 < len)
                        v |= data[i + 2];
                *p++ = tab[(v >> 18) & 63];
                *p++ = tab[(v >> 12) & 63];
                *p++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
                *p++ = i + 2 < len ? tab[v & 63] : '=';
        }
        *p = '\0';
        return out;
}

struct capture {
        int fd; /* -1 after EOF */
        char *buf;
        size_t len, max;
        bool cut; /* output beyond max was dropped */
};

static void capture_read(struct capture *c)
{
        char scratch[4096];
        ssize_t n;

        if (c->len < c->max)
                n = read(c->fd, c->buf + c->len, c->max - c->len);
        else
                n = read(c->fd, scratch, sizeof(scratch)); /* over MaxOutput: dropped */
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                close(c->fd);
                c->fd = -1;
        } else if (c->len < c->max) {
                c->len += (size_t) n;
        } else {
                c->cut = true;
        }
}

static long mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Collect both streams until runc exits and they are drained, or the
 * deadline (0: none) passes; returns true if it passed. */
static bool exec_collect(pid_t runc, struct capture cap[2], long deadline, int *ret_status)
{
        bool exited = false;

        for (;;) {
                struct pollfd p[2] = {{cap[0].fd, POLLIN, 0}, {cap[1].fd, POLLIN, 0}};
                int slice = 100, n;

                if (!exited && agent_reap_wait(runc, 0, ret_status) == 0)
                        exited = true;
                if (cap[0].fd < 0 && cap[1].fd < 0 && exited)
                        return false;
                if (deadline && mono_ms() >= deadline)
                        return true;
                n = poll(p, 2, slice);
                if (n == 0 && exited) /* a leftover child holds the pipes: stop */
                        return false;
                for (int i = 0; i < 2; i++)
                        if (p[i].revents && cap[i].fd >= 0)
                                capture_read(&cap[i]);
                if (cap[0].fd < 0 && cap[1].fd < 0 && !exited) {
                        long left = deadline ? deadline - mono_ms() : -1;

                        if (agent_reap_wait(runc, deadline && left < 0 ? 0 : (int) left,
                                            ret_status) < 0)
                                return true;
                        exited = true;
                }
        }
}

/* Timeout: kill the exec'd process (its host pid is in the pid file) and runc. */
static void exec_kill(const char *pidfile, pid_t runc, int *ret_status)
{
        _cleanup_free_ char *buf = NULL;
        long pid;

        if (fs_read_file(pidfile, 32, &buf, NULL) >= 0 && (pid = strtol(buf, NULL, 10)) > 1)
                kill((pid_t) pid, SIGKILL);
        kill(runc, SIGKILL);
        agent_reap_wait(runc, -1, ret_status);
}

int agent_exec_args(json_object *req, const char ***ret_args, struct uvm_error **err)
{
        json_object *a = json_object_object_get(req, "Args");
        size_t n, total = 0;
        const char **args;

        if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) == 0 ||
            n > EXEC_MAX_ARGS)
                return uvm_error_set(err, EINVAL, "Args must be 1 to %d strings", EXEC_MAX_ARGS);
        args = calloc(n + 1, sizeof(char *));
        if (!args)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_array_get_idx(a, i);

                if (!json_object_is_type(s, json_type_string) ||
                    (total += (size_t) json_object_get_string_len(s)) > EXEC_MAX_ARG_BYTES) {
                        free(args);
                        return uvm_error_set(err, EINVAL, "Args[%zu]: not a string, or too long",
                                             i);
                }
                args[i] = json_object_get_string(s);
        }
        *ret_args = args;
        return 0;
}

static int exec_limits(json_object *req, long *ret_timeout, size_t *ret_max, struct uvm_error **err)
{
        json_object *t = json_object_object_get(req, "TimeoutMs");
        json_object *m = json_object_object_get(req, "MaxOutput");
        int64_t tv = t ? json_object_get_int64(t) : 0, mv = m ? json_object_get_int64(m) : 0;

        if ((t && !json_object_is_type(t, json_type_int)) || tv < 0 || tv > 86400000)
                return uvm_error_set(err, EINVAL, "TimeoutMs must be 0 to 86400000");
        if ((m && !json_object_is_type(m, json_type_int)) || mv < 0)
                return uvm_error_set(err, EINVAL, "MaxOutput must be >= 0");
        *ret_timeout = (long) tv;
        *ret_max = mv == 0 || mv > AGENT_EXEC_OUTPUT_BOUND ? AGENT_EXEC_OUTPUT_BOUND : (size_t) mv;
        return 0;
}

/* runc exec argv: exec --process P --pid-file F <id> (P has the args). */
static char **exec_argv(const char *bundle, const char *process, const char *pidfile,
                        const char *id)
{
        return agent_runc_argv(bundle, (const char *[]){"exec", "--process", process, "--pid-file",
                                                        pidfile, id, NULL});
}

static json_object *exec_response(int status, bool timed_out, struct capture cap[2])
{
        json_object *o = json_object_new_object();
        _cleanup_free_ char *out = agent_base64((uint8_t *) cap[0].buf, cap[0].len);
        _cleanup_free_ char *errout = agent_base64((uint8_t *) cap[1].buf, cap[1].len);

        json_object_object_add(o, "ExitCode", json_object_new_int(agent_exit_code(status)));
        json_object_object_add(o, "TimedOut", json_object_new_boolean(timed_out));
        json_object_object_add(o, "Stdout", json_object_new_string(out ? out : ""));
        json_object_object_add(o, "Stderr", json_object_new_string(errout ? errout : ""));
        json_object_object_add(o, "StdoutCut", json_object_new_boolean(cap[0].cut));
        json_object_object_add(o, "StderrCut", json_object_new_boolean(cap[1].cut));
        return o;
}

static int exec_run(const char *id, const char *bundle, const char **args, long timeout, size_t max,
                    json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *pidfile = NULL, *process = NULL, *b0 = malloc(max), *b1 = malloc(max);
        _cleanup_strv_ char **argv = NULL;
        struct capture cap[2] = {{-1, b0, 0, max, false}, {-1, b1, 0, max, false}};
        int p[2], q[2], status = 0, r;
        unsigned seq = ++exec_seq;
        bool timed_out;
        pid_t pid;

        if (!b0 || !b1 || asprintf(&pidfile, "%s/exec-%u.pid", bundle, seq) < 0 ||
            asprintf(&process, "%s/exec-%u.json", bundle, seq) < 0 ||
            !(argv = exec_argv(bundle, process, pidfile, id)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_process_file(bundle, process, args, false, 0, 0, err);
        if (r < 0)
                return r;
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = uvm_error_set(err, errno, "pipe: %m");
                unlink(process);
                return r;
        }
        if (pipe2(q, O_CLOEXEC) < 0) {
                r = uvm_error_set(err, errno, "pipe: %m");
                close(p[0]);
                close(p[1]);
                unlink(process);
                return r;
        }
        r = agent_spawn(argv, (int[3]){-1, p[1], q[1]}, &pid, err);
        close(p[1]);
        close(q[1]);
        cap[0].fd = p[0];
        cap[1].fd = q[0];
        if (r >= 0) {
                timed_out = exec_collect(pid, cap, timeout ? mono_ms() + timeout : 0, &status);
                if (timed_out)
                        exec_kill(pidfile, pid, &status);
                *ret = exec_response(status, timed_out, cap);
        }
        for (int i = 0; i < 2; i++)
                if (cap[i].fd >= 0)
                        close(cap[i].fd);
        unlink(pidfile);
        unlink(process);
        return r;
}

int agent_exec(json_object *req, json_object **ret, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));
        _cleanup_free_ const char **args = NULL;
        _cleanup_free_ char *bundle = NULL;
        size_t max = 0;
        long timeout = 0;
        int r;

        r = agent_exec_args(req, &args, err);
        if (r >= 0)
                r = exec_limits(req, &timeout, &max, err);
        if (r >= 0)
                r = agent_ctr_bundle(id, true, &bundle, err);
        if (r >= 0)
                r = exec_run(id, bundle, args, timeout, max, ret, err);
        return r < 0 ? uvm_error_wrap(err, "exec in container '%s'", id) : 0;
}

int agent_update(json_object *req, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));
        json_object *res = json_object_object_get(req, "Resources");
        _cleanup_free_ char *bundle = NULL, *path = NULL;
        const char *s;
        size_t len;
        int r;

        if (!json_object_is_type(res, json_type_object))
                return uvm_error_set(err, EINVAL, "Resources must be an object");
        r = agent_ctr_bundle(id, false, &bundle, err);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/resources.json", bundle) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        agent_cgroup_fit_resources(NULL, res);
        s = json_object_to_json_string_length(res, JSON_C_TO_STRING_PLAIN, &len);
        r = fs_write_atomic(path, s, len, 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "writing '%s': %s", path, strerror(-r));
        r = agent_runc(bundle, (const char *[]){"update", "-r", path, id, NULL}, NULL, NULL, err);
        return r < 0 ? uvm_error_wrap(err, "update container '%s'", id) : 0;
}
