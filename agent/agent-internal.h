#pragma once

/*
 * Private declarations shared by the files of the in-sandbox agent binary
 * (uvmd-agent). The agent is one process per pod, so each module keeps its
 * state in file-level statics guarded by its own lock.
 *
 * Lock order: out conn lock -> ctr lock -> out stream lock -> pump lock ->
 * reaper lock (the pump calls nothing of agent_ctr.c or agent_out.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "agent/conn.h"
#include "common/error.h"
#include "common/json.h"

/* The same values as AGENT_PROTOCOL_VERSION and AGENT_EXEC_MAX_OUTPUT in
 * agent/client.h, which the agent cannot include (it pulls in the sandbox
 * driver types). */
#define AGENT_SERVED_VERSION 1
#define AGENT_EXEC_OUTPUT_BOUND (256u << 10)

#define AGENT_THREAD_STACK (128u << 10)  /* our own threads: keep RSS small */
#define AGENT_OUT_BUFFER (1u << 20)      /* per stream, while the host is away or slow */
#define AGENT_RUNC_TIMEOUT_MS 60000      /* one runc invocation */
#define AGENT_EXIT_HOLD_MS 2000          /* an exit waits this long for its output */
#define AGENT_RUN_MAX_OUTPUT (64u << 10) /* captured output of a helper command */

/* Read-only after start-up. */
struct agent_config {
        char *state_dir;
        char *runtime;
        char *runc_root; /* <state_dir>/runc */
        char *ctr_root;  /* <state_dir>/ctr */
        bool own_netns;  /* in the pod's network namespace (not the host's) */
        int userns_fd;   /* the pod's user namespace (idmapped layers and volumes), or -1 */
        bool guest;      /* PID 1 of a VM (guest_boot.c), not a process on the host */
        uint32_t bridge_vsock_port; /* a guest's bridge is on this vsock port, not a
                                     * virtio-serial one (a Hyper-V VM); 0: none */
};

extern struct agent_config agent_cfg;

/* agent_proc.c: the reaper, spawning and helper commands. */

/* Called on the reaper thread for every reaped pid; return true if the pid was
 * yours (a container init) so no waiter is woken for it. */
typedef bool (*agent_reap_hook_fn)(pid_t pid, int status);

/* SIGCHLD must already be blocked in every thread. */
/* The reaper also traces the pod's PID 1 holder (if any), so nobody else can. */
int agent_reap_start(agent_reap_hook_fn hook, struct uvm_error **err);

/* agent_main.c: "net.ipv4.ip_forward=1" written to /proc/sys. */
int agent_apply_sysctl(const char *kv, struct uvm_error **err);

/* guest_boot.c: the agent as a VM's PID 1. Mounts, kernel modules, and the
 * agent's settings for the guest. */
int agent_guest_boot(struct uvm_error **err);
/* "/dev/vportNpM" of the virtio-serial port named name; -ENOENT. */
int agent_guest_port(const char *name, char *ret, size_t len);
/* guest_settings.c: ModifySettings with a ResourceType (Guest, Network,
 * Share, Disk), only in a guest. */
int agent_guest_modify(json_object *req, json_object **ret, struct uvm_error **err);
/* guest_disks.c: the Disk settings {Lun, Path}: a layer disk mounted. */
int agent_guest_disk(json_object *settings, struct uvm_error **err);
/* guest_plan9.c: the Plan9 settings (plan9.h): a host share mounted. */
int agent_guest_plan9(json_object *settings, struct uvm_error **err);

/* agent_pidns.c: the holder of a shared pod PID namespace (pidns.pid). */
/* Start the holder: PID 1 of a new PID namespace when new_pid. With
 * in_userns (a pod in a user namespace, agent_cfg.userns_fd) the holder is
 * made inside that namespace, after in_userns made the pod's namespaces
 * there, so it holds them for the containers. */
int agent_pidns_start(bool new_pid, int (*in_userns)(struct uvm_error **err),
                      struct uvm_error **err);
pid_t agent_pidns_holder(void); /* 0 when there is none */
void agent_pidns_stop(void);
/* Wait for pid's exit status (timeout_ms < 0: forever); -ETIMEDOUT. */
int agent_reap_wait(pid_t pid, int timeout_ms, int *ret_status);
/* 128 + signal for a killed process, else the exit status. */
int agent_exit_code(int status);
int64_t agent_now_realtime_ns(void);
int agent_thread_start(void *(*fn)(void *), void *arg, struct uvm_error **err);

/* posix_spawnp argv with fds[0..2] as stdin/out/err (-1: /dev/null), default
 * signal dispositions and an empty signal mask. */
int agent_spawn(char *const argv[], const int fds[3], pid_t *ret_pid, struct uvm_error **err);

/* `<runtime> --root R --log <bundle>/runtime.log --log-format json args...`.
 * With fds NULL the output (stdout and stderr) is captured into *ret_out (may
 * be NULL); a non-zero exit is an error carrying the last "msg" of the log. */
int agent_runc(const char *bundle, const char *const *args, const int fds[3], char **ret_out,
               struct uvm_error **err);
/* The argv of a runc invocation (NULL-terminated, malloc'd strings). */
/* agent_runc with the container's stdio fds, err_r the read end of fds[2]
 * (or -1): a runtime that fails before it logs (a wrapper, a bad flag) says
 * why on its stderr, which is quoted then. */
int agent_runc_stdio(const char *bundle, const char *const *args, const int fds[3], int err_r,
                     struct uvm_error **err);
char **agent_runc_argv(const char *bundle, const char *const *args);
/* The last "msg" of <bundle>/runtime.log, or NULL. */
char *agent_runc_log_msg(const char *bundle);

/* agent_out.c: container output buffering and everything sent to the host
 * asynchronously (output, exit notifications). */

int agent_out_start(struct uvm_error **err);
/* Watch fd (ownership passes) as send stream id; fd -1: a stream that has
 * already ended (a terminal container's stderr). */
int agent_out_add(uint64_t id, int fd, struct uvm_error **err);
/* Stop watching, drop what is buffered. */
void agent_out_remove(uint64_t id);
uint64_t agent_out_dropped(uint64_t id);
/* True once the stream hit EOF and everything in it was sent and closed. */
bool agent_out_drained(uint64_t id);
/* True once nothing more will be read into the stream (or it is unknown). */
bool agent_out_eof(uint64_t id);
/* Install a new host connection (NULL: none); returns the old one to free. */
struct agent_conn *agent_out_set_conn(struct agent_conn *conn);
/* The host negotiated on conn: flush buffered output and unsent exits. */
void agent_out_negotiated(struct agent_conn *conn);
/* Something new to send (an exit). */
void agent_out_kick(void);
void agent_out_stop(void);

/* agent_ctr.c: containers. */

int agent_ctr_create(json_object *req, json_object **ret, struct uvm_error **err);
int agent_ctr_start(const char *id, json_object **ret, struct uvm_error **err);
int agent_ctr_signal(json_object *req, struct uvm_error **err);
int agent_ctr_delete(const char *id, struct uvm_error **err);
int agent_ctr_properties(const char *id, json_object **ret, struct uvm_error **err);
/* The bundle dir of a running or created container, for exec/update/stats. */
int agent_ctr_bundle(const char *id, bool need_running, char **ret_bundle, struct uvm_error **err);
/* A running container's output streams, and whether it has a terminal (its
 * output is all on the stdout stream then). */
int agent_ctr_streams(const char *id, uint64_t *ret_out, uint64_t *ret_err, bool *ret_tty,
                      struct uvm_error **err);
bool agent_ctr_reap_hook(pid_t pid, int status);
/* agent_stats.c: in a guest, the container's cgroup v2 directory: the
 * bundle's linux.cgroupsPath (cgroupfs; the guest's runtime has no
 * systemd) under the v2 mount. */
int agent_ctr_cgroup_dir(const char *bundle, char **ret, struct uvm_error **err);
/* Notify the exits not yet sent on conn (the caller holds the out conn
 * lock). An exit waits until the container's output was all sent, for at most
 * AGENT_EXIT_HOLD_MS; returns true while some exit is held back. */
bool agent_ctr_send_exits(struct agent_conn *conn);
/* Kill, delete and unmount every container (shutdown). */
void agent_ctr_destroy_all(void);
bool agent_ctr_id_valid(const char *id);

/* agent_rootfs.c: <ctr_root>/<id>/{rootfs,upper,work,vol-N}, the rootfs
 * mount (always writable: a read-only rootfs is the runtime's root.readonly)
 * and image volumes. */
int agent_rootfs_check_layers(json_object *layers, struct uvm_error **err);
int agent_rootfs_make_dirs(const char *dir, struct uvm_error **err);
int agent_rootfs_mount(const char *dir, json_object *layers, struct uvm_error **err);
/* Mount each of vols ([{Destination, Layers, SubPath}]) read-only and make
 * it the source of spec's mount at Destination. */
int agent_rootfs_volumes(const char *dir, json_object *vols, json_object *spec,
                         struct uvm_error **err);
/* Mounts of the spec carrying uidMappings/gidMappings become idmapped
 * clones at <dir>/idmap-N (the pod's user namespace), their new source. */
int agent_rootfs_idmapped_mounts(const char *dir, json_object *spec, struct uvm_error **err);
void agent_rootfs_remove(const char *dir);

/* agent_user.c: the create request's "User" (agent/user_db.h), when the
 * host left it to us, resolved in rootfs: spec's process.user set and
 * *ret_user the answer's "User"; without one, nothing (*ret_user NULL). */
int agent_user_resolve(json_object *req, const char *rootfs, json_object *spec,
                       json_object **ret_user, struct uvm_error **err);

/* agent_cgroup.c */

/* True if the memory cgroup at cgroup_path (linux.cgroupsPath) saw an OOM kill. */
bool agent_cgroup_oom_killed(const char *cgroup_path);
/* resources (an OCI linux.resources object) fitted to the cgroup
 * controllers under root (NULL: /sys/fs/cgroup) before the runtime sees
 * them: hugepageLimits dropped when hugetlb is missing. */
void agent_cgroup_fit_resources(const char *root, json_object *resources);

/* agent_exec.c: exec, update, stats. */

int agent_exec(json_object *req, json_object **ret, struct uvm_error **err);
/* The request's Args (1 to 1024 strings, 128 KiB in all), NULL-terminated;
 * the strings are borrowed from req. */
int agent_exec_args(json_object *req, const char ***ret_args, struct uvm_error **err);
int agent_update(json_object *req, struct uvm_error **err);
int agent_stats(const char *id, json_object **ret, struct uvm_error **err);
/* The pod's usage: {Interfaces: [...]} (agent_stats.c). */
int agent_pod_stats(json_object **ret, struct uvm_error **err);
/* Base64 (RFC 4648, padded) of len bytes; NULL on OOM. */
char *agent_base64(const uint8_t *data, size_t len);

/* agent_pump.c: interactive sessions (an exec with streamed stdio, an attach
 * to a container's stdio, a port-forward connection) and the thread moving
 * their bytes between fds and the host's data frames within each stream's
 * credit window. Session ids and their stream ids start at
 * AGENT_SESSION_ID_BASE (agent/conn.h), above every container stream id. */

#define AGENT_MAX_EXECS 128   /* interactive processes */
#define AGENT_MAX_ATTACHES 64 /* attaches, all containers together */
#define AGENT_MAX_PORTS 256   /* port-forward connections */

enum agent_sess_kind { AGENT_SESS_EXEC, AGENT_SESS_ATTACH, AGENT_SESS_PORT, _AGENT_SESS_KIND_MAX };

struct agent_sess;

int agent_pump_start(struct uvm_error **err);
/* Install the host connection (NULL: none). Sessions of any other end
 * silently (an exec's process is killed); the old one is not used once this
 * returns. */
void agent_pump_set_conn(struct agent_conn *conn);
/* conn went down: its sessions end now, not when the next host comes. */
void agent_pump_conn_closed(struct agent_conn *conn);
void agent_pump_kick(void);
/* Bridge callbacks: host bytes (data NULL: the host closed the stream), and
 * a queued ExecuteProcess response, after which its session may talk. */
void agent_pump_data(struct agent_conn *conn, uint64_t stream, const void *data, size_t len);
void agent_pump_responded(json_object *response);
/* SignalProcess and ResizeConsole naming a session by ProcessId. */
int agent_pump_signal(json_object *req, struct uvm_error **err);
int agent_pump_resize(json_object *req, struct uvm_error **err);

/* Building a session (agent_iproc.c, agent_attach.c, agent_portfwd.c). New
 * reserves one of the kind's slots (-EAGAIN when all are taken). */
int agent_sess_new(enum agent_sess_kind kind, const char *ctr_id, struct agent_sess **ret,
                   struct uvm_error **err);
/* A session not added: its fds are closed, its process killed. */
struct agent_sess *agent_sess_free(struct agent_sess *s);
static inline void agent_sess_freep(struct agent_sess **s)
{
        agent_sess_free(*s);
}
/* Output `which` (0: stdout or the socket, 1: stderr) read from fd (owned,
 * non-blocking) or, with fd -1, fed by agent_pump_tee from container stream
 * src. Without send the bytes are read and dropped (a terminal nobody
 * watches must not block). */
void agent_sess_out(struct agent_sess *s, int which, int fd, uint64_t src, bool send);
/* Host bytes are written to fd (owned, non-blocking). */
void agent_sess_in(struct agent_sess *s, int fd);
/* Attach: host bytes go to the container's stdin. */
void agent_sess_ctr_stdin(struct agent_sess *s);
/* Exec: the process (pidfd owned, -1 if it is gone already). */
void agent_sess_process(struct agent_sess *s, pid_t pid, int pidfd);
/* The pty master (owned) for resizes and the end of input. */
void agent_sess_console(struct agent_sess *s, int fd);
/* Add s (consumed, on failure too) for the host on conn; it stays silent
 * until its response is queued. *ret: the response with its ids. */
int agent_pump_add(struct agent_sess *s, struct agent_conn *conn, json_object **ret,
                   struct uvm_error **err);

/* A container's stdin (a pipe's write end, or its pty master; -1: none) and
 * console (its pty master, or -1), owned; agent_ctr.c at Create. */
void agent_pump_ctr_stdio(const char *ctr_id, int stdin_fd, int console_fd, bool stdin_once);
/* The container exited or was deleted: its stdin closes, its attaches end. */
void agent_pump_ctr_gone(const char *ctr_id);
/* Bytes read from container stream src (data NULL: its end), copied to its
 * attaches (agent_out.c, out stream lock held). */
void agent_pump_tee(uint64_t src, const void *data, size_t len);

/* Request fields: absent is def / false; the wrong type is -EINVAL. */
int agent_json_bool(json_object *req, const char *key, bool *ret, struct uvm_error **err);
int agent_json_int(json_object *req, const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *ret, struct uvm_error **err);

/* agent_iproc.c: interactive ExecuteProcess; the console socket runc sends a
 * terminal's pty master to (terminal containers use it too). */
int agent_iproc_exec(struct agent_conn *conn, json_object *req, json_object **ret,
                     struct uvm_error **err);
/* path: the bundle's process (config.json) with args and terminal, for the
 * runtime's exec --process. Without one, runc execs as the container's user
 * but crun as root. */
int agent_process_file(const char *bundle, const char *path, const char **args, bool tty,
                       unsigned rows, unsigned cols, struct uvm_error **err);
/* A listening socket for runc's --console-socket and the path runc is to
 * connect to (*ret_dirfd stays open until then, or is -1). */
int agent_console_listen(int *ret_fd, char **ret_path, int *ret_dirfd, struct uvm_error **err);
/* Take the pty master runc sent on the console socket lfd. */
int agent_console_take(int lfd, int *ret_master, struct uvm_error **err);

/* agent_attach.c */
int agent_attach(struct agent_conn *conn, json_object *req, json_object **ret,
                 struct uvm_error **err);
/* agent_portfwd.c */
int agent_portfwd(struct agent_conn *conn, json_object *req, json_object **ret,
                  struct uvm_error **err);
