/* uvmd-agent: the in-sandbox agent. Serves one host connection at a time on a
 * unix socket (a new connection replaces the old: uvmd restarted) and runs the
 * pod's containers with runc. See docs/agent.md and agent/client.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

struct agent_config agent_cfg;

#define MAX_SYSCTLS 64

static struct {
        const char *socket, *netns, *hostname, *userns;
        const char *sysctls[MAX_SYSCTLS]; /* "name=value", set in the pod's namespaces */
        size_t n_sysctls;
        bool new_ipc, new_uts;
        bool pid_ns; /* hold a PID namespace the pod's containers share */
        enum log_level level;
} opts = {.level = LOG_LEVEL_INFO};

static int main_wake_fd = -1;                  /* eventfd: shutdown requested, or the host left */
static atomic_bool shutdown_requested;         /* by ShutdownForced */
static struct agent_conn *_Atomic closed_conn; /* the last connection that went down */

static void main_wake(void)
{
        uint64_t one = 1;

        if (write(main_wake_fd, &one, sizeof(one)) < 0)
                log_debug("waking the main thread: %m, ignoring");
}

/* Requests. */

static int negotiate(struct agent_conn *conn, json_object *req, json_object **ret,
                     struct uvm_error **err)
{
        json_object *lo = json_object_object_get(req, "MinimumVersion");
        json_object *hi = json_object_object_get(req, "MaximumVersion");
        int64_t min = lo ? json_object_get_int64(lo) : AGENT_SERVED_VERSION;
        int64_t max = hi ? json_object_get_int64(hi) : AGENT_SERVED_VERSION;
        json_object *caps;
        int r;

        if (min > AGENT_SERVED_VERSION || max < AGENT_SERVED_VERSION)
                return uvm_error_set(err, EPROTONOSUPPORT,
                                     "protocol versions %lld..%lld requested, agent speaks %d",
                                     (long long) min, (long long) max, AGENT_SERVED_VERSION);
        *ret = json_object_new_object();
        json_object_object_add(*ret, "Version", json_object_new_int(AGENT_SERVED_VERSION));
        caps = json_object_new_object();
        /* Interactive exec, attach, port-forward (agent_pump.c). */
        json_object_object_add(caps, "Streaming", json_object_new_boolean(true));
        json_object_object_add(*ret, "Capabilities", caps);
        /* Larger data frames and windows, if the host offers them. */
        r = agent_conn_answer_limits(conn, req, caps, err);
        if (r < 0)
                return r;
        agent_out_negotiated(conn);
        log_info("host negotiated protocol version %d", AGENT_SERVED_VERSION);
        return 0;
}

/* ExecuteProcess: ExecSync, or one of the streaming sessions (client.h). */
static int execute_process(struct agent_conn *conn, json_object *req, json_object **ret,
                           struct uvm_error **err)
{
        bool interactive, attach, port;
        int r;

        r = agent_json_bool(req, "Interactive", &interactive, err);
        if (r >= 0)
                r = agent_json_bool(req, "Attach", &attach, err);
        if (r >= 0)
                r = agent_json_bool(req, "PortForward", &port, err);
        if (r >= 0 && interactive + attach + port > 1)
                r = uvm_error_set(err, EINVAL,
                                  "Interactive, Attach and PortForward exclude each other");
        if (r < 0)
                return r;
        if (interactive)
                return agent_iproc_exec(conn, req, ret, err);
        if (attach)
                return agent_attach(conn, req, ret, err);
        if (port)
                return agent_portfwd(conn, req, ret, err);
        return agent_exec(req, ret, err);
}

static int on_request(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                      void *userdata, struct uvm_error **err)
{
        const char *id = json_object_get_string(json_object_object_get(req, "ContainerId"));
        int r;

        log_debug("request %s for '%.64s'", agent_rpc_name(rpc), id);
        switch (rpc) {
        case AGENT_RPC_NEGOTIATE_PROTOCOL:
                return negotiate(conn, req, ret, err);
        case AGENT_RPC_CREATE:
                return agent_ctr_create(req, ret, err);
        case AGENT_RPC_START:
                return agent_ctr_start(id, ret, err);
        case AGENT_RPC_SIGNAL_PROCESS:
                if (json_object_object_get_ex(req, "ProcessId", NULL))
                        return agent_pump_signal(req, err);
                return agent_ctr_signal(req, err);
        case AGENT_RPC_RESIZE_CONSOLE:
                return agent_pump_resize(req, err);
        case AGENT_RPC_DELETE_CONTAINER_STATE:
                return agent_ctr_delete(id, err);
        case AGENT_RPC_GET_PROPERTIES:
                return agent_ctr_properties(id, ret, err);
        case AGENT_RPC_EXECUTE_PROCESS:
                return execute_process(conn, req, ret, err);
        case AGENT_RPC_UPDATE_CONTAINER:
                return agent_update(req, err);
        case AGENT_RPC_MODIFY_SETTINGS:
                if (json_object_object_get(req, "ResourceType"))
                        return agent_guest_modify(req, ret, err);
                if (!json_object_get_boolean(json_object_object_get(req, "Stats")))
                        return uvm_error_set(err, EINVAL, "ModifySettings supports Stats only");
                return STR_EMPTY(id) ? agent_pod_stats(ret, err) : agent_stats(id, ret, err);
        case AGENT_RPC_SHUTDOWN_FORCED:
                log_info("host asked for shutdown");
                agent_ctr_destroy_all();
                shutdown_requested = true;
                main_wake();
                return 0;
        default:
                r = uvm_error_set(err, ENOSYS, "%s is not supported by this agent",
                                  agent_rpc_name(rpc));
                return r;
        }
}

static void on_closed(struct agent_conn *conn, int code, const char *msg, void *userdata)
{
        log_info("host connection closed: %s", msg ? msg : strerror(-code));
        agent_pump_conn_closed(conn); /* a vanished host leaves nothing running */
        closed_conn = conn;
        main_wake();
}

static void on_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len,
                    void *userdata)
{
        agent_pump_data(conn, stream, data, len);
}

/* Whoever waits for credit looks again: sessions, and container output. */
static void on_credit(struct agent_conn *conn, uint64_t stream, void *userdata)
{
        if (stream >= AGENT_SESSION_ID_BASE)
                agent_pump_kick();
        else
                agent_out_kick();
}

static void on_responded(struct agent_conn *conn, uint32_t rpc, json_object *response,
                         void *userdata)
{
        if (rpc == AGENT_RPC_EXECUTE_PROCESS)
                agent_pump_responded(response);
}

static const struct agent_conn_ops conn_ops = {
        .request = on_request,
        .closed = on_closed,
        .data = on_data,
        .credit = on_credit,
        .responded = on_responded,
};

/* Start-up (single-threaded). */

static void usage(FILE *f)
{
        fprintf(f, "usage: uvmd-agent --socket PATH --state-dir DIR --runtime PATH [--netns PATH]\n"
                   "       [--userns PATH] [--hostname NAME] [--new-ipc] [--new-uts] [--pid-ns]\n"
                   "       [--sysctl NAME=VALUE]...\n"
                   "       [--log-level debug|info|warn|error]\n");
}

static int parse_args(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"socket", required_argument, NULL, 's'},
                {"state-dir", required_argument, NULL, 'd'},
                {"runtime", required_argument, NULL, 'r'},
                {"netns", required_argument, NULL, 'n'},
                {"userns", required_argument, NULL, 'u'},
                {"hostname", required_argument, NULL, 'H'},
                {"new-ipc", no_argument, NULL, 'I'},
                {"new-uts", no_argument, NULL, 'U'},
                {"pid-ns", no_argument, NULL, 'P'},
                {"sysctl", required_argument, NULL, 'S'},
                {"log-level", required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        opts.socket = optarg;
                        break;
                case 'd':
                        agent_cfg.state_dir = optarg;
                        break;
                case 'r':
                        agent_cfg.runtime = optarg;
                        break;
                case 'n':
                        opts.netns = optarg;
                        break;
                case 'u':
                        opts.userns = optarg;
                        break;
                case 'H':
                        opts.hostname = optarg;
                        break;
                case 'I':
                        opts.new_ipc = true;
                        break;
                case 'U':
                        opts.new_uts = true;
                        break;
                case 'P':
                        opts.pid_ns = true;
                        break;
                case 'S':
                        if (opts.n_sysctls == MAX_SYSCTLS || !strchr(optarg, '=')) {
                                fprintf(stderr, "uvmd-agent: --sysctl NAME=VALUE, at most %d\n",
                                        MAX_SYSCTLS);
                                return -EINVAL;
                        }
                        opts.sysctls[opts.n_sysctls++] = optarg;
                        break;
                case 'l':
                        if (log_parse_level(optarg, &opts.level) < 0) {
                                fprintf(stderr, "uvmd-agent: bad log level '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind != argc || !opts.socket || !agent_cfg.state_dir || !agent_cfg.runtime) {
                usage(stderr);
                return -EINVAL;
        }
        /* A long path is bound through its directory (see listen_socket);
         * only the file name itself must fit. */
        if (!strrchr(opts.socket, '/') || strlen(strrchr(opts.socket, '/')) + 32 >=
                                                  sizeof(((struct sockaddr_un *) 0)->sun_path)) {
                fprintf(stderr, "uvmd-agent: --socket must be an absolute path\n");
                return -EINVAL;
        }
        return 0;
}

/* "net.ipv4.conf.eth0/100.rp_filter" is /proc/sys/net/ipv4/conf/eth0.100/rp_filter:
 * dots separate, a slash stands for a dot inside one part (as runc reads it). */
int agent_apply_sysctl(const char *kv, struct uvm_error **err)
{
        const char *eq = strchr(kv, '=');
        size_t n = (size_t) (eq - kv);
        char path[256] = "/proc/sys/";
        size_t len = strlen(path);
        _cleanup_close_ int fd = -1;

        if (n == 0 || n + len >= sizeof(path) || strstr(kv, "..") || kv[0] == '.' || kv[0] == '/')
                return uvm_error_set(err, EINVAL, "sysctl '%.*s': bad name", (int) n, kv);
        for (size_t i = 0; i < n; i++)
                path[len++] = kv[i] == '.' ? '/' : kv[i] == '/' ? '.' : kv[i];
        path[len] = '\0';
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return uvm_error_set(err, errno, "sysctl %.*s: open %s: %m", (int) n, kv, path);
        if (write(fd, eq + 1, strlen(eq + 1)) < 0)
                return uvm_error_set(err, errno, "sysctl %.*s = '%s': %m", (int) n, kv, eq + 1);
        return 0;
}

/* The pod's own IPC and UTS namespaces, its hostname and sysctls. Runs in
 * the agent, or for a pod in a user namespace in the holder's parent once it
 * joined that namespace, which must own them (agent_pidns.c). */
static int enter_pod_namespaces(struct uvm_error **err)
{
        int flags = (opts.new_ipc ? CLONE_NEWIPC : 0) | (opts.new_uts ? CLONE_NEWUTS : 0);

        if (flags && unshare(flags) < 0)
                return uvm_error_set(err, errno, "unshare: %m");
        if (opts.hostname && sethostname(opts.hostname, strlen(opts.hostname)) < 0)
                return uvm_error_set(err, errno, "sethostname '%s': %m", opts.hostname);
        /* In the pod's namespaces now: /proc/sys/{net,kernel/shm*,...} are theirs. */
        for (size_t i = 0; i < opts.n_sysctls; i++)
                if (agent_apply_sysctl(opts.sysctls[i], err) < 0)
                        return -EINVAL;
        return 0;
}

static int setup_namespaces(struct uvm_error **err)
{
        int r;

        agent_cfg.userns_fd = -1;
        if (opts.userns) {
                agent_cfg.userns_fd = open(opts.userns, O_RDONLY | O_CLOEXEC);
                if (agent_cfg.userns_fd < 0)
                        return uvm_error_set(err, errno, "open user namespace '%s': %m",
                                             opts.userns);
        }
        if (opts.netns) {
                _cleanup_close_ int fd = open(opts.netns, O_RDONLY | O_CLOEXEC);

                if (fd < 0)
                        return uvm_error_set(err, errno, "open netns '%s': %m", opts.netns);
                if (setns(fd, CLONE_NEWNET) < 0)
                        return uvm_error_set(err, errno, "setns '%s': %m", opts.netns);
                agent_cfg.own_netns = true;
        }
        if (!opts.userns) {
                r = enter_pod_namespaces(err);
                if (r < 0)
                        return r;
        }
        if (setsid() < 0)
                log_debug("setsid: %m, ignoring (already a group leader)");
        /* Before the holder: its parent exits, and it must become ours. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                return uvm_error_set(err, errno, "PR_SET_CHILD_SUBREAPER: %m");
        return 0;
}

/* Block what signalfds handle, in every thread to come; returns SIGTERM's fd. */
static int setup_signals(struct uvm_error **err)
{
        sigset_t set;
        int fd;

        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        /* A VM guest's port raises SIGIO when a host connects (serve_guest). */
        sigaddset(&set, SIGIO);
        sigprocmask(SIG_BLOCK, &set, NULL);
        sigdelset(&set, SIGCHLD);
        fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return uvm_error_set(err, errno, "signalfd: %m");
        return fd;
}

static int setup_dirs(struct uvm_error **err)
{
        int r;

        if (asprintf(&agent_cfg.runc_root, "%s/runc", agent_cfg.state_dir) < 0 ||
            asprintf(&agent_cfg.ctr_root, "%s/ctr", agent_cfg.state_dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_mkdir_p(agent_cfg.runc_root, 0700);
        /* o+x: a pod's root in a user namespace passes through to its rootfs. */
        if (r >= 0)
                r = fs_mkdir_p(agent_cfg.ctr_root, 0711);
        if (r >= 0 && chmod(agent_cfg.ctr_root, 0711) < 0)
                r = -errno;
        if (r < 0)
                return uvm_error_set(err, -r, "creating dirs under '%s': %s", agent_cfg.state_dir,
                                     strerror(-r));
        return 0;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Containers left by an agent that died: runc forgets them, we unmount. */
static void cleanup_stale(void)
{
        _cleanup_(closedirp) DIR *d = opendir(agent_cfg.ctr_root);
        struct dirent *e;

        while (d && (e = readdir(d))) {
                _cleanup_free_ char *dir = NULL, *rootfs = NULL;
                _cleanup_error_ struct uvm_error *err = NULL;

                if (!agent_ctr_id_valid(e->d_name) ||
                    asprintf(&dir, "%s/%s", agent_cfg.ctr_root, e->d_name) < 0 ||
                    asprintf(&rootfs, "%s/rootfs", dir) < 0)
                        continue;
                log_warn("removing container '%s' left by an earlier agent", e->d_name);
                if (agent_runc(dir, (const char *[]){"delete", "--force", e->d_name, NULL}, NULL,
                               NULL, &err) < 0)
                        log_debug("%s, ignoring", err->msg);
                umount2(rootfs, MNT_DETACH);
                fs_rm_rf(dir);
        }
}

static int listen_socket(struct uvm_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), dirfd = -1;
        mode_t old;
        int r;

        if (fd < 0)
                return uvm_error_set(err, errno, "socket: %m");
        if (strlen(opts.socket) < sizeof(sa.sun_path)) {
                strcpy(sa.sun_path, opts.socket);
        } else {
                /* Past the 108-byte limit: name it through an fd of its
                 * directory, as the host side does to connect. */
                _cleanup_free_ char *dir =
                        strndup(opts.socket, strrchr(opts.socket, '/') - opts.socket + 1);
                dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
                if (dirfd < 0)
                        return uvm_error_set(err, errno ? errno : ENOMEM,
                                             "open the socket's "
                                             "directory: %m");
                snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd,
                         strrchr(opts.socket, '/') + 1);
        }
        if (unlink(opts.socket) < 0 && errno != ENOENT)
                return uvm_error_set(err, errno, "removing stale socket '%s': %m", opts.socket);
        old = umask(0077); /* 0600 from birth; still single-threaded here */
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return uvm_error_set(err, errno, "bind '%s': %m", opts.socket);
        if (listen(fd, 4) < 0)
                return uvm_error_set(err, errno, "listen: %m");
        return TAKE_FD(fd);
}

static int write_pid_file(struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid()), r;

        if (asprintf(&path, "%s/agent.pid", agent_cfg.state_dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, buf, (size_t) n, 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "writing '%s': %s", path, strerror(-r));
        return 0;
}

/* What host and guest agents both do once their namespaces are set. */
static int common_start(int *ret_sigfd, struct uvm_error **err)
{
        int r, sfd = setup_signals(err);

        if (sfd < 0)
                return sfd;
        *ret_sigfd = sfd;
        main_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (main_wake_fd < 0)
                return uvm_error_set(err, errno, "eventfd: %m");
        r = setup_dirs(err);
        if (r >= 0)
                r = agent_reap_start(agent_ctr_reap_hook, err);
        if (r >= 0)
                r = agent_out_start(err);
        if (r >= 0)
                r = agent_pump_start(err);
        if (r < 0)
                return r;
        cleanup_stale();
        return 0;
}

static int startup(int *ret_listen, int *ret_sigfd, struct uvm_error **err)
{
        int r, lfd;

        r = setup_namespaces(err);
        if (r >= 0 && (opts.pid_ns || opts.userns))
                r = agent_pidns_start(opts.pid_ns, opts.userns ? enter_pod_namespaces : NULL, err);
        if (r < 0)
                return r;
        lfd = listen_socket(err);
        if (lfd < 0)
                return lfd;
        *ret_listen = lfd;
        r = common_start(ret_sigfd, err);
        return r < 0 ? r : write_pid_file(err);
}

/* Serving. */

static struct agent_conn *replace_conn(int fd)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        struct agent_conn *conn = NULL;

        /* Drop the old host first: its frames must not interleave with the new one's. */
        agent_conn_free(agent_out_set_conn(NULL));
        /* A late Negotiate of the old connection may have been served while it
         * was freed; forget it before its address can be reused. */
        agent_out_set_conn(NULL);
        if (agent_conn_new(fd, &conn_ops, NULL, &conn, &err) < 0) {
                log_error("accepting host connection: %s", err->msg);
                return NULL;
        }
        log_info("host connected");
        agent_out_set_conn(conn);
        return conn;
}

/* After ShutdownForced, give the response a moment to reach the host. */
static void wait_host_gone(int ms)
{
        struct agent_conn *conn = agent_out_set_conn(NULL);

        for (int waited = 0; conn && closed_conn != conn && waited < ms; waited += 10)
                usleep(10000);
        agent_conn_free(conn);
}

/* Hosts connect to lfd, each one replacing the last. pid1: a VM's PID 1
 * (a Hyper-V VM's vsock listener), which takes no signal as an order. */
static void serve(int lfd, int sfd, bool pid1)
{
        for (;;) {
                struct pollfd p[3] = {
                        {lfd, POLLIN, 0}, {sfd, POLLIN, 0}, {main_wake_fd, POLLIN, 0}};
                struct signalfd_siginfo si;
                uint64_t v;
                int fd;

                if (poll(p, 3, -1) < 0 && errno != EINTR) {
                        log_error("poll: %m");
                        sleep(1);
                        continue;
                }
                if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        if (pid1) {
                                log_info("signal %u: ignored by PID 1", si.ssi_signo);
                        } else {
                                log_info("signal %u: shutting down", si.ssi_signo);
                                agent_ctr_destroy_all();
                                wait_host_gone(0);
                                return;
                        }
                }
                if (p[2].revents && read(main_wake_fd, &v, sizeof(v)) > 0 && shutdown_requested) {
                        wait_host_gone(1000);
                        return;
                }
                if (p[0].revents) {
                        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd >= 0)
                                replace_conn(fd);
                        else if (errno != EINTR && errno != EAGAIN)
                                log_warn("accept: %m, ignoring");
                }
        }
}

/* A VM guest: the host is at the other end of the "agent" virtio-serial
 * port. While no host is connected (QEMU's socket has no client: uvmd is
 * starting or restarting, or this VM is a template's clone resuming) the
 * port hangs up and reads end at once, so poll cannot wait for a host.
 * The port is kept open with O_ASYNC instead: the guest kernel raises SIGIO
 * when a host connects, which wakes us at once (a clone's RunPodSandbox
 * waits for exactly that). A slow tick stays as a fallback, and while the
 * port is not there yet. When the host goes, the port is opened afresh (it
 * takes one opener at a time) for the next host. */
static int open_port_async(void)
{
        char port[64];
        int fd;

        if (agent_guest_port("agent", port, sizeof(port)) < 0)
                return -1;
        fd = open(port, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0 && (fcntl(fd, F_SETOWN, getpid()) < 0 ||
                        fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK | O_ASYNC) < 0))
                log_warn("guest: port %s: no SIGIO on connect (%m), polling", port);
        return fd;
}

static void serve_guest(int sfd)
{
        struct agent_conn *cur = NULL;
        int fd = -1;

        for (;;) {
                struct pollfd p[2] = {{sfd, POLLIN, 0}, {main_wake_fd, POLLIN, 0}};
                struct signalfd_siginfo si;
                uint64_t v;

                /* No host: SIGIO wakes us; else look again each second (an
                 * idle VM's wake-ups cost host CPU under emulation), or five
                 * times a second while the port has not appeared. */
                if (poll(p, 2, cur ? -1 : fd >= 0 ? 1000 : 200) < 0 && errno != EINTR)
                        log_error("poll: %m");
                if (p[0].revents && read(sfd, &si, sizeof(si)) == sizeof(si) &&
                    si.ssi_signo != SIGIO)
                        log_info("signal %u: ignored by PID 1", si.ssi_signo);
                if (p[1].revents && read(main_wake_fd, &v, sizeof(v)) > 0 && shutdown_requested) {
                        wait_host_gone(1000);
                        return;
                }
                if (cur && closed_conn == cur) {
                        agent_conn_free(agent_out_set_conn(NULL));
                        agent_out_set_conn(NULL);
                        cur = NULL;
                }
                if (cur)
                        continue;
                if (fd < 0)
                        fd = open_port_async();
                if (fd >= 0) {
                        struct pollfd h = {fd, POLLIN, 0};

                        if (poll(&h, 1, 0) >= 0 && !(h.revents & POLLHUP)) {
                                /* The port also raises SIGIO on every data
                                 * interrupt: not wanted while serving. */
                                fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK);
                                cur = replace_conn(fd);
                                fd = -1;
                        }
                }
        }
}

/* A Hyper-V VM's bridge: the host's HvSocket connects to this vsock port
 * (the service id the UVM document names for it, docs/windows.md). */
static int listen_vsock(uint32_t port, struct uvm_error **err)
{
        struct sockaddr_vm a = {
                .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return uvm_error_set(err, errno, "vsock socket: %m");
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
                int e = errno;

                close(fd);
                return uvm_error_set(err, e, "vsock port %u: %s", port, strerror(e));
        }
        return fd;
}

static void remove_state(void)
{
        _cleanup_free_ char *pidfile = NULL;

        unlink(opts.socket);
        if (asprintf(&pidfile, "%s/agent.pid", agent_cfg.state_dir) >= 0)
                unlink(pidfile);
        fs_rm_rf(agent_cfg.runc_root);
        fs_rm_rf(agent_cfg.ctr_root);
}

/* PID 1 of a VM: boot, serve, and power off at the end (PID 1 must not
 * exit: the kernel would panic). */
static int __attribute__((noreturn)) guest_main(void)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        int sfd = -1, lfd = -1;

        if (agent_guest_boot(&err) < 0 || common_start(&sfd, &err) < 0 ||
            (agent_cfg.bridge_vsock_port &&
             (lfd = listen_vsock(agent_cfg.bridge_vsock_port, &err)) < 0))
                log_error("uvmd-agent: guest start-up: %s", err ? err->msg : "?");
        else if (lfd >= 0) {
                log_info("uvmd-agent: guest ready, serving on vsock port %u",
                         agent_cfg.bridge_vsock_port);
                serve(lfd, sfd, true);
        } else {
                log_info("uvmd-agent: guest ready, serving on the \"agent\" port");
                serve_guest(sfd);
        }
        agent_out_stop();
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
                pause();
}

int main(int argc, char **argv)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        int lfd = -1, sfd = -1;

        /* One malloc arena: per-thread arenas would each keep pages resident, and
         * the agent allocates little. */
        mallopt(M_ARENA_MAX, 1);
        /* A VM's PID 1 takes no arguments: the kernel starts it bare. */
        if (getpid() == 1) {
                log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
                guest_main();
        }
        if (parse_args(argc, argv) < 0)
                return 2;
        /* A closed 0-2 would let a pipe land there and be clobbered by a
         * child's dup2 onto its stdio. */
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                        return 1;
        log_setup(opts.level, LOG_FORMAT_TEXT);
        if (startup(&lfd, &sfd, &err) < 0) {
                log_error("uvmd-agent: %s", err->msg);
                return 1;
        }
        log_info("uvmd-agent %d listening on '%s'", (int) getpid(), opts.socket);
        serve(lfd, sfd, false);
        close(lfd);
        agent_out_stop();
        agent_pidns_stop();
        remove_state();
        log_info("uvmd-agent exiting");
        return 0;
}
