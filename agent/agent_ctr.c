/* Containers: the registry (id -> container), their rootfs mounts and bundles
 * under <state-dir>/ctr/<id>/, runc create/start/kill/delete, their stdio
 * (pipes, or a terminal's pty master from a console socket; a stdin kept for
 * attaches), and the exit of each container's init, which the reaper hands
 * to us by pid. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

#define MAX_ID 128
/* How long a killed container's init may take to be reaped before delete. */
#define KILL_WAIT_S 2

enum ctr_state { CTR_CREATING, CTR_CREATED, CTR_RUNNING, CTR_EXITED, _CTR_STATE_MAX };

static const char *const state_names[_CTR_STATE_MAX] = {
        [CTR_CREATING] = "creating",
        [CTR_CREATED] = "created",
        [CTR_RUNNING] = "running",
        [CTR_EXITED] = "exited",
};

/* allowed[from][to] */
static const bool allowed[_CTR_STATE_MAX][_CTR_STATE_MAX] = {
        [CTR_CREATING][CTR_CREATED] = true,
        [CTR_CREATED][CTR_RUNNING] = true,
        [CTR_CREATED][CTR_EXITED] = true,
        [CTR_RUNNING][CTR_EXITED] = true,
};

struct ctr {
        char *id;                      /* immutable */
        char *dir;                     /* immutable: bundle dir <ctr_root>/<id> */
        char *cgroup;                  /* immutable: linux.cgroupsPath, or NULL */
        uint64_t stdout_id, stderr_id; /* immutable */
        bool tty;                      /* immutable: process.terminal */
        /* The rest under registry.lock. */
        enum ctr_state state;
        bool deleting;
        int pid, exit_code;
        int64_t finished_ns;
        bool oom_killed, exit_unsent;
        struct ctr *next;
};

static struct {
        pthread_mutex_t lock;  /* guards list, next_stream and the ctr fields noted */
        pthread_cond_t exited; /* broadcast as a container's init is reaped */
        struct ctr *list;
        uint64_t next_stream;
} registry = {
        .lock = PTHREAD_MUTEX_INITIALIZER, .exited = PTHREAD_COND_INITIALIZER, .next_stream = 1};

static void ctr_set_state(struct ctr *c, enum ctr_state to)
{
        if (!allowed[c->state][to]) {
                log_debug("container '%s': ignoring %s -> %s", c->id, state_names[c->state],
                          state_names[to]);
                return;
        }
        log_info("container '%s': %s -> %s", c->id, state_names[c->state], state_names[to]);
        c->state = to;
}

static struct ctr *ctr_free(struct ctr *c)
{
        if (!c)
                return NULL;
        free(c->id);
        free(c->dir);
        free(c->cgroup);
        free(c);
        return NULL;
}

static struct ctr *ctr_find(const char *id, struct ctr ***ret_link)
{
        for (struct ctr **p = &registry.list; *p; p = &(*p)->next)
                if (STR_EQ((*p)->id, id)) {
                        if (ret_link)
                                *ret_link = p;
                        return *p;
                }
        return NULL;
}

static void ctr_unlink(struct ctr *c)
{
        struct ctr **link = NULL;

        pthread_mutex_lock(&registry.lock);
        if (ctr_find(c->id, &link) == c)
                *link = c->next;
        pthread_mutex_unlock(&registry.lock);
}

bool agent_ctr_id_valid(const char *id)
{
        size_t n = strlen(id);

        if (n == 0 || n > MAX_ID || id[0] == '.' || id[0] == '-')
                return false;
        return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* The container id (validated), locked lookups and a busy flag. */
static int ctr_get(const char *id, struct ctr **ret, struct uvm_error **err)
{
        struct ctr *c;

        if (!agent_ctr_id_valid(id))
                return uvm_error_set(err, EINVAL, "invalid container id '%.64s'", id);
        c = ctr_find(id, NULL);
        if (!c || c->state == CTR_CREATING)
                return uvm_error_set(err, ENOENT, "container '%s' not found", id);
        if (c->deleting)
                return uvm_error_set(err, EBUSY, "container '%s' is being deleted", id);
        *ret = c;
        return 0;
}

/* config.json: the host's spec with root.path pointed at our rootfs. */
static int write_config(struct ctr *c, json_object *spec, bool readonly, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *rootfs = NULL;
        json_object *root, *linux_, *cg, *res;
        const char *s;
        size_t len;
        int r;

        if (!json_object_object_get_ex(spec, "root", &root) ||
            !json_object_is_type(root, json_type_object)) {
                root = json_object_new_object();
                json_object_object_add(spec, "root", root);
        }
        if (asprintf(&rootfs, "%s/rootfs", c->dir) < 0 ||
            asprintf(&path, "%s/config.json", c->dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_add(root, "path", json_object_new_string(rootfs));
        if (readonly)
                json_object_object_add(root, "readonly", json_object_new_boolean(true));
        if (json_object_object_get_ex(spec, "linux", &linux_) &&
            json_object_object_get_ex(linux_, "resources", &res) &&
            json_object_is_type(res, json_type_object))
                agent_cgroup_fit_resources(NULL, res);
        if (json_object_object_get_ex(spec, "linux", &linux_) &&
            json_object_object_get_ex(linux_, "cgroupsPath", &cg) &&
            json_object_is_type(cg, json_type_string) &&
            !strstr(json_object_get_string(cg), "..")) {
                c->cgroup = strdup(json_object_get_string(cg));
                if (!c->cgroup)
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        s = json_object_to_json_string_length(spec, JSON_C_TO_STRING_PLAIN, &len);
        r = fs_write_atomic(path, s, len, 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "writing '%s': %s", path, strerror(-r));
        return 0;
}

static int read_pid(const char *dir, int *ret_pid, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char *end;
        long v;
        int r;

        if (asprintf(&path, "%s/pid", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, 32, &buf, NULL);
        if (r < 0)
                return uvm_error_set(err, -r, "reading '%s': %s", path, strerror(-r));
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno || end == buf || v <= 1 || v > 4194304)
                return uvm_error_set(err, EBADMSG, "'%s' holds no pid", path);
        *ret_pid = (int) v;
        return 0;
}

/* The container's stdio, as given to runc (child) and kept (ours): pipes,
 * or with a terminal a console socket runc sends the pty master to. */
struct ctr_io {
        int child[3];           /* stdin, stdout, stderr of runc create */
        int in_w, out_r, err_r; /* ours: stdin's write end, the read ends */
        int lfd, dirfd, master; /* terminal: console socket, pty master */
        char *sock;
};

static void ctr_io_clear(struct ctr_io *io)
{
        int *fds[] = {&io->child[0], &io->child[1], &io->child[2], &io->in_w,  &io->out_r,
                      &io->err_r,    &io->lfd,      &io->dirfd,    &io->master};

        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (*fds[i] >= 0) {
                        close(*fds[i]);
                        *fds[i] = -1;
                }
        if (io->sock)
                unlink(io->sock);
        free(io->sock);
        io->sock = NULL;
}

static int ctr_pipe(int *ret_r, int *ret_w, struct uvm_error **err)
{
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return uvm_error_set(err, errno, "pipe: %m");
        *ret_r = p[0];
        *ret_w = p[1];
        return 0;
}

static int ctr_io_open(struct ctr *c, bool want_stdin, struct ctr_io *io, struct uvm_error **err)
{
        int r = 0;

        if (c->tty)
                return agent_console_listen(&io->lfd, &io->sock, &io->dirfd, err);
        if (want_stdin)
                r = ctr_pipe(&io->child[0], &io->in_w, err);
        if (r >= 0)
                r = ctr_pipe(&io->out_r, &io->child[1], err);
        if (r >= 0)
                r = ctr_pipe(&io->err_r, &io->child[2], err);
        return r;
}

/* Hand the read ends to the output thread, stdin and console to the pump. */
static int ctr_io_give(struct ctr *c, bool want_stdin, bool stdin_once, struct ctr_io *io,
                       struct uvm_error **err)
{
        int in = -1, console = -1, r;

        if (c->tty) {
                r = agent_console_take(io->lfd, &io->master, err);
                if (r < 0)
                        return r;
                console = fcntl(io->master, F_DUPFD_CLOEXEC, 3);
                in = want_stdin ? fcntl(io->master, F_DUPFD_CLOEXEC, 3) : -1;
                if (console < 0 || (want_stdin && in < 0)) {
                        r = uvm_error_set(err, errno, "dup: %m");
                        if (console >= 0)
                                close(console);
                        return r;
                }
                io->out_r = TAKE_FD(io->master); /* the terminal is its one output */
        } else {
                in = TAKE_FD(io->in_w);
        }
        fcntl(io->out_r, F_SETFL, O_NONBLOCK);
        if (io->err_r >= 0)
                fcntl(io->err_r, F_SETFL, O_NONBLOCK);
        if (in >= 0)
                fcntl(in, F_SETFL, O_NONBLOCK);
        agent_pump_ctr_stdio(c->id, in, console, stdin_once);
        r = agent_out_add(c->stdout_id, TAKE_FD(io->out_r), err);
        if (r >= 0)
                r = agent_out_add(c->stderr_id, TAKE_FD(io->err_r), err);
        return r;
}

/* runc create with the container's stdio; what we keep of it goes to the
 * output thread and the pump once the container exists. */
static int runc_create(struct ctr *c, bool want_stdin, bool stdin_once, struct uvm_error **err)
{
        struct ctr_io io = {{-1, -1, -1}, -1, -1, -1, -1, -1, -1, NULL};
        _cleanup_free_ char *pidfile = NULL;
        const char *args[12] = {"create"};
        size_t n = 1;
        int r;

        if (asprintf(&pidfile, "%s/pid", c->dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = ctr_io_open(c, want_stdin, &io, err);
        /* A VM guest's root is its initramfs, which pivot_root cannot leave:
         * the runtime moves the rootfs over / instead (the VM is the pod's
         * boundary). */
        if (agent_cfg.guest)
                args[n++] = "--no-pivot";
        if (io.sock) {
                args[n++] = "--console-socket";
                args[n++] = io.sock;
        }
        args[n++] = "--bundle";
        args[n++] = c->dir;
        args[n++] = "--pid-file";
        args[n++] = pidfile;
        args[n++] = c->id;
        if (r >= 0)
                r = agent_runc_stdio(c->dir, args, io.child, io.err_r, err);
        if (r >= 0)
                r = read_pid(c->dir, &c->pid, err);
        if (r >= 0)
                r = ctr_io_give(c, want_stdin, stdin_once, &io, err);
        ctr_io_clear(&io);
        return r;
}

static int ctr_setup(struct ctr *c, json_object *spec, json_object *req, bool ro,
                     json_object **ret_user, struct uvm_error **err)
{
        json_object *layers = json_object_object_get(req, "Layers");
        json_object *vols = json_object_object_get(req, "ImageVolumes");
        _cleanup_free_ char *rootfs = NULL;
        bool in = false, once = false;
        int r;

        r = agent_json_bool(req, "Stdin", &in, err);
        if (r >= 0)
                r = agent_json_bool(req, "StdinOnce", &once, err);
        if (r < 0)
                return r;

        r = agent_rootfs_make_dirs(c->dir, err);
        if (r >= 0)
                r = agent_rootfs_mount(c->dir, layers, err);
        if (r >= 0)
                r = agent_rootfs_volumes(c->dir, vols, spec, err);
        if (r >= 0)
                r = agent_rootfs_idmapped_mounts(c->dir, spec, err);
        /* The user named by the host, once the image's files are there. */
        if (r >= 0 && asprintf(&rootfs, "%s/rootfs", c->dir) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = agent_user_resolve(req, rootfs, spec, ret_user, err);
        if (r >= 0)
                r = write_config(c, spec, ro, err);
        if (r >= 0)
                r = runc_create(c, in, once, err);
        return r;
}

/* Without its own mount namespace runc would set up the container's mounts
 * (and root propagation) in the agent's namespace: refuse such a spec. */
static int check_spec(json_object *spec, struct uvm_error **err)
{
        json_object *linux_, *ns;

        if (json_object_object_get_ex(spec, "linux", &linux_) &&
            json_object_object_get_ex(linux_, "namespaces", &ns) &&
            json_object_is_type(ns, json_type_array))
                for (size_t i = 0; i < json_object_array_length(ns); i++) {
                        json_object *type =
                                json_object_object_get(json_object_array_get_idx(ns, i), "type");

                        if (json_object_is_type(type, json_type_string) &&
                            STR_EQ(json_object_get_string(type), "mount"))
                                return 0;
                }
        return uvm_error_set(err, EINVAL, "Spec: linux.namespaces must include \"mount\"");
}

/* process.terminal: runc then needs a console socket to detach it. */
static bool spec_terminal(json_object *spec)
{
        json_object *proc, *t;

        return json_object_object_get_ex(spec, "process", &proc) &&
               json_object_object_get_ex(proc, "terminal", &t) &&
               json_object_is_type(t, json_type_boolean) && json_object_get_boolean(t);
}

/* Register a placeholder so a concurrent Create of the same id fails. */
static int ctr_reserve(const char *id, struct ctr **ret, struct uvm_error **err)
{
        struct ctr *c = calloc(1, sizeof(*c));

        if (!c || !(c->id = strdup(id)) || asprintf(&c->dir, "%s/%s", agent_cfg.ctr_root, id) < 0) {
                ctr_free(c);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&registry.lock);
        if (ctr_find(id, NULL)) {
                pthread_mutex_unlock(&registry.lock);
                ctr_free(c);
                return uvm_error_set(err, EEXIST, "container '%s' already exists", id);
        }
        c->stdout_id = registry.next_stream++;
        c->stderr_id = registry.next_stream++;
        c->next = registry.list;
        registry.list = c;
        pthread_mutex_unlock(&registry.lock);
        *ret = c;
        return 0;
}

int agent_ctr_create(json_object *req, json_object **ret, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));
        json_object *spec_s, *layers = json_object_object_get(req, "Layers");
        _cleanup_json_ json_object *spec = NULL, *resp = NULL, *user = NULL;
        bool ro = json_object_get_boolean(json_object_object_get(req, "ReadonlyRootfs"));
        struct ctr *c = NULL;
        int r;

        if (!agent_ctr_id_valid(id))
                return uvm_error_set(err, EINVAL, "invalid container id '%.64s'", id);
        if (!json_object_object_get_ex(req, "Spec", &spec_s) ||
            !json_object_is_type(spec_s, json_type_string))
                return uvm_error_set(err, EINVAL, "Spec must be a string (an OCI config.json)");
        spec = json_tokener_parse(json_object_get_string(spec_s));
        if (!spec || !json_object_is_type(spec, json_type_object))
                return uvm_error_set(err, EINVAL, "Spec is not a JSON object");
        r = check_spec(spec, err);
        if (r >= 0)
                r = agent_rootfs_check_layers(layers, err);
        if (r < 0)
                return r;
        r = ctr_reserve(id, &c, err);
        if (r < 0)
                return r;
        c->tty = spec_terminal(spec);
        r = ctr_setup(c, spec, req, ro, &user, err);
        if (r < 0) {
                _cleanup_error_ struct uvm_error *tmp = NULL;

                agent_pump_ctr_gone(id);
                agent_out_remove(c->stdout_id);
                agent_out_remove(c->stderr_id);
                /* runc may have left state behind even without a pid file. */
                if (agent_runc(c->dir, (const char *[]){"delete", "--force", id, NULL}, NULL, NULL,
                               &tmp) < 0)
                        log_debug("container '%s': %s, ignoring", id, tmp->msg);
                agent_rootfs_remove(c->dir);
                ctr_unlink(c);
                ctr_free(c);
                return uvm_error_wrap(err, "create container '%s'", id);
        }
        pthread_mutex_lock(&registry.lock);
        ctr_set_state(c, CTR_CREATED);
        pthread_mutex_unlock(&registry.lock);
        resp = json_object_new_object();
        json_object_object_add(resp, "StdoutStream", json_object_new_uint64(c->stdout_id));
        json_object_object_add(resp, "StderrStream", json_object_new_uint64(c->stderr_id));
        if (user)
                json_object_object_add(resp, "User", TAKE_PTR(user));
        *ret = TAKE_PTR(resp);
        return 0;
}

int agent_ctr_start(const char *id, json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL;
        struct ctr *c;
        int r, pid;

        pthread_mutex_lock(&registry.lock);
        r = ctr_get(id, &c, err);
        if (r >= 0 && c->state != CTR_CREATED)
                r = uvm_error_set(err, EBUSY, "container '%s' is %s, not created", id,
                                  state_names[c->state]);
        if (r >= 0 && !(dir = strdup(c->dir)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        pid = r >= 0 ? c->pid : 0;
        pthread_mutex_unlock(&registry.lock);
        if (r < 0)
                return r;
        r = agent_runc(dir, (const char *[]){"start", id, NULL}, NULL, NULL, err);
        if (r < 0)
                return uvm_error_wrap(err, "start container '%s'", id);
        pthread_mutex_lock(&registry.lock);
        c = ctr_find(id, NULL);
        if (c)
                ctr_set_state(c, CTR_RUNNING); /* unless it already exited */
        pthread_mutex_unlock(&registry.lock);
        *ret = json_object_new_object();
        json_object_object_add(*ret, "Pid", json_object_new_int(pid));
        return 0;
}

static bool ctr_exited(const char *id)
{
        struct ctr *c;
        bool exited;

        pthread_mutex_lock(&registry.lock);
        c = ctr_find(id, NULL);
        exited = !c || c->state == CTR_EXITED;
        pthread_mutex_unlock(&registry.lock);
        return exited;
}

int agent_ctr_signal(json_object *req, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));
        json_object *sig_o = json_object_object_get(req, "Signal");
        bool all = json_object_get_boolean(json_object_object_get(req, "All"));
        _cleanup_free_ char *dir = NULL;
        _cleanup_error_ struct uvm_error *tmp = NULL;
        char sig[16];
        bool exited = false;
        struct ctr *c;
        int r, s;

        if (!json_object_is_type(sig_o, json_type_int) || (s = json_object_get_int(sig_o)) < 1 ||
            s > 64)
                return uvm_error_set(err, EINVAL, "Signal must be a number from 1 to 64");
        pthread_mutex_lock(&registry.lock);
        r = ctr_get(id, &c, err);
        if (r >= 0) {
                exited = c->state == CTR_EXITED;
                if (!(dir = strdup(c->dir)))
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_unlock(&registry.lock);
        if (r < 0 || exited) /* nothing left to signal */
                return r;
        snprintf(sig, sizeof(sig), "%d", s);
        r = agent_runc(dir,
                       all ? (const char *[]){"kill", "--all", id, sig, NULL}
                           : (const char *[]){"kill", id, sig, NULL},
                       NULL, NULL, &tmp);
        if (r < 0 && ctr_exited(id)) /* it exited meanwhile: nothing left to signal */
                return 0;
        if (r < 0) {
                uvm_error_set(err, tmp->code, "%s", tmp->msg);
                return uvm_error_wrap(err, "signal container '%s'", id);
        }
        return 0;
}

/* A live container killed and its init reaped before runc deletes it:
 * `runc delete --force` of a live one sleeps 100 ms after its SIGKILL before
 * it looks again, which was most of a pod's stop. Bounded: past the wait,
 * runc's own kill is the fallback. c is marked deleting (not freed). */
static void kill_before_delete(struct ctr *c)
{
        _cleanup_error_ struct uvm_error *tmp = NULL;
        struct timespec until;
        bool live;

        pthread_mutex_lock(&registry.lock);
        live = c->state == CTR_CREATED || c->state == CTR_RUNNING;
        pthread_mutex_unlock(&registry.lock);
        if (!live ||
            agent_runc(c->dir, (const char *[]){"kill", c->id, "KILL", NULL}, NULL, NULL, &tmp) < 0)
                return;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KILL_WAIT_S;
        pthread_mutex_lock(&registry.lock);
        while (c->state != CTR_EXITED &&
               pthread_cond_timedwait(&registry.exited, &registry.lock, &until) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&registry.lock);
}

int agent_ctr_delete(const char *id, struct uvm_error **err)
{
        struct ctr *c;
        int r;

        pthread_mutex_lock(&registry.lock);
        r = ctr_get(id, &c, err);
        if (r >= 0)
                c->deleting = true;
        pthread_mutex_unlock(&registry.lock);
        if (r < 0)
                return r;
        kill_before_delete(c);
        r = agent_runc(c->dir, (const char *[]){"delete", "--force", id, NULL}, NULL, NULL, err);
        if (r < 0) {
                pthread_mutex_lock(&registry.lock);
                c->deleting = false;
                pthread_mutex_unlock(&registry.lock);
                return uvm_error_wrap(err, "delete container '%s'", id);
        }
        agent_pump_ctr_gone(id);
        agent_out_remove(c->stdout_id);
        agent_out_remove(c->stderr_id);
        agent_rootfs_remove(c->dir);
        ctr_unlink(c);
        log_info("container '%s': deleted", id);
        ctr_free(c);
        return 0;
}

static json_object *ctr_to_json(const struct ctr *c)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "Id", json_object_new_string(c->id));
        json_object_object_add(o, "State", json_object_new_string(state_names[c->state]));
        json_object_object_add(o, "Pid", json_object_new_int(c->pid));
        json_object_object_add(o, "ExitCode", json_object_new_int(c->exit_code));
        json_object_object_add(o, "FinishedNs", json_object_new_int64(c->finished_ns));
        json_object_object_add(o, "OomKilled", json_object_new_boolean(c->oom_killed));
        json_object_object_add(o, "StdoutStream", json_object_new_uint64(c->stdout_id));
        json_object_object_add(o, "StderrStream", json_object_new_uint64(c->stderr_id));
        json_object_object_add(o, "DroppedBytes",
                               json_object_new_uint64(agent_out_dropped(c->stdout_id) +
                                                      agent_out_dropped(c->stderr_id)));
        return o;
}

int agent_ctr_properties(const char *id, json_object **ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *resp = json_object_new_object();
        json_object *arr = json_object_new_array();
        struct ctr *c;
        int r = 0;

        json_object_object_add(resp, "Containers", arr);
        pthread_mutex_lock(&registry.lock);
        if (*id) {
                r = ctr_get(id, &c, err);
                if (r >= 0)
                        json_object_array_add(arr, ctr_to_json(c));
        } else {
                for (c = registry.list; c; c = c->next)
                        if (c->state != CTR_CREATING)
                                json_object_array_add(arr, ctr_to_json(c));
        }
        pthread_mutex_unlock(&registry.lock);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

int agent_ctr_bundle(const char *id, bool need_running, char **ret_bundle, struct uvm_error **err)
{
        struct ctr *c;
        int r;

        pthread_mutex_lock(&registry.lock);
        r = ctr_get(id, &c, err);
        if (r >= 0 && need_running && c->state != CTR_RUNNING)
                r = uvm_error_set(err, EBUSY, "container '%s' is %s, not running", id,
                                  state_names[c->state]);
        if (r >= 0 && !(*ret_bundle = strdup(c->dir)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_unlock(&registry.lock);
        return r;
}

int agent_ctr_streams(const char *id, uint64_t *ret_out, uint64_t *ret_err, bool *ret_tty,
                      struct uvm_error **err)
{
        struct ctr *c;
        int r;

        pthread_mutex_lock(&registry.lock);
        r = ctr_get(id, &c, err);
        if (r >= 0 && c->state != CTR_RUNNING)
                r = uvm_error_set(err, EBUSY, "container '%s' is %s, not running", id,
                                  state_names[c->state]);
        if (r >= 0) {
                *ret_out = c->stdout_id;
                *ret_err = c->stderr_id;
                *ret_tty = c->tty;
        }
        pthread_mutex_unlock(&registry.lock);
        return r;
}

bool agent_ctr_reap_hook(pid_t pid, int status)
{
        char id[MAX_ID + 1] = "";
        struct ctr *c;

        pthread_mutex_lock(&registry.lock);
        for (c = registry.list; c; c = c->next)
                if (c->pid == pid && (c->state == CTR_CREATED || c->state == CTR_RUNNING))
                        break;
        if (c) {
                c->exit_code = agent_exit_code(status);
                c->finished_ns = agent_now_realtime_ns();
                /* Read before DeleteContainerState removes the cgroup. */
                c->oom_killed = c->cgroup && agent_cgroup_oom_killed(c->cgroup);
                c->exit_unsent = true;
                ctr_set_state(c, CTR_EXITED);
                pthread_cond_broadcast(&registry.exited);
                log_info("container '%s': init %d exited with %d%s", c->id, (int) pid, c->exit_code,
                         c->oom_killed ? " (OOM killed)" : "");
                snprintf(id, sizeof(id), "%s", c->id);
        }
        pthread_mutex_unlock(&registry.lock);
        if (c) {
                agent_out_kick();
                agent_pump_ctr_gone(id); /* its stdin closes, its attaches end */
        }
        return c != NULL;
}

static json_object *exit_json(const struct ctr *c)
{
        json_object *o = json_object_new_object();

        json_object_object_add(o, "ContainerId", json_object_new_string(c->id));
        json_object_object_add(o, "ExitCode", json_object_new_int(c->exit_code));
        json_object_object_add(o, "FinishedNs", json_object_new_int64(c->finished_ns));
        json_object_object_add(o, "OomKilled", json_object_new_boolean(c->oom_killed));
        return o;
}

bool agent_ctr_send_exits(struct agent_conn *conn)
{
        int64_t now = agent_now_realtime_ns();
        bool held = false;

        pthread_mutex_lock(&registry.lock);
        for (struct ctr *c = registry.list; c; c = c->next) {
                _cleanup_json_ json_object *o = NULL;
                _cleanup_error_ struct uvm_error *err = NULL;

                if (!c->exit_unsent)
                        continue;
                if ((!agent_out_drained(c->stdout_id) || !agent_out_drained(c->stderr_id)) &&
                    now - c->finished_ns < (int64_t) AGENT_EXIT_HOLD_MS * 1000000) {
                        held = true;
                        continue;
                }
                o = exit_json(c);
                if (agent_conn_notify(conn, o, &err) < 0) {
                        log_debug("container '%s': exit notification: %s", c->id, err->msg);
                        break;
                }
                c->exit_unsent = false;
        }
        pthread_mutex_unlock(&registry.lock);
        return held;
}

/* A VM guest powering off: every live container is killed (its whole
 * cgroup, exec'd processes too) and reaped, so its exit and last output
 * reach the host, but not deleted: the runtime's state, the mounts and
 * the disks go with the VM, and the runtime's delete under emulation was
 * half of a VM pod's stop. Bounded like kill_before_delete. */
static void kill_all_for_poweroff(void)
{
        struct {
                char *dir;
                int pid;
        } live[64]; /* more die with the VM all the same */
        size_t n = 0;
        struct timespec until;
        bool waiting = true;

        pthread_mutex_lock(&registry.lock);
        for (struct ctr *c = registry.list; c && n < ARRAY_SIZE(live); c = c->next)
                if ((c->state == CTR_CREATED || c->state == CTR_RUNNING) && !c->deleting &&
                    (live[n].dir = strdup(c->dir))) {
                        live[n].pid = c->pid;
                        c->deleting = true;
                        n++;
                }
        pthread_mutex_unlock(&registry.lock);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *cg = NULL, *knob = NULL;

                if (agent_ctr_cgroup_dir(live[i].dir, &cg, NULL) < 0 ||
                    asprintf(&knob, "%s/cgroup.kill", cg) < 0 || fs_write_string(knob, "1") < 0)
                        if (live[i].pid > 0)
                                kill(live[i].pid, SIGKILL);
                free(live[i].dir);
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KILL_WAIT_S;
        pthread_mutex_lock(&registry.lock);
        while (waiting) {
                waiting = false;
                for (struct ctr *c = registry.list; c; c = c->next)
                        if (c->deleting && (c->state == CTR_CREATED || c->state == CTR_RUNNING))
                                waiting = true;
                if (waiting &&
                    pthread_cond_timedwait(&registry.exited, &registry.lock, &until) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&registry.lock);
        log_info("shutdown: %zu container(s) killed for power-off", n);
}

void agent_ctr_destroy_all(void)
{
        if (agent_cfg.guest) {
                kill_all_for_poweroff();
                return;
        }
        for (;;) {
                _cleanup_free_ char *id = NULL;
                _cleanup_error_ struct uvm_error *err = NULL;

                pthread_mutex_lock(&registry.lock);
                for (struct ctr *c = registry.list; c && !id; c = c->next)
                        if (c->state != CTR_CREATING && !c->deleting)
                                id = strdup(c->id);
                pthread_mutex_unlock(&registry.lock);
                if (!id)
                        return;
                if (agent_ctr_delete(id, &err) < 0) {
                        log_error("shutdown: %s", err->msg);
                        /* Do not spin on it: forget it, the mounts go with the sandbox. */
                        pthread_mutex_lock(&registry.lock);
                        struct ctr *c = ctr_find(id, NULL);
                        if (c)
                                c->deleting = true;
                        pthread_mutex_unlock(&registry.lock);
                }
        }
}
