#pragma once

/*
 * What the drivers whose pod is one supervised process speaking the bridge
 * protocol share: the ns driver (the process is uvmd-agent itself) and the
 * qemu driver (the process is QEMU; the agent is the guest's PID 1). The
 * process runs in its own session so it outlives uvmd, and is tracked
 * through a pidfd, so a recycled pid can never be mistaken for it or be
 * signalled in its place.
 *
 * A driver's struct drv_pod begins with a struct agent_pod: the agent_pod_*
 * drv_ops entries below take the driver's pod and use that first member.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "common/error.h"
#include "sandbox/driver.h"

struct agent_pod {
        const char *kind;                 /* "ns", "qemu": for messages */
        char *id, *state_dir, *sock_path; /* immutable */
        char *log_path;                   /* the process's stdout and stderr */
        const struct drv_events *events;  /* immutable */
        pid_t pid;                        /* immutable once started or adopted */
        int pidfd;                        /* immutable; readable once the process exited */
        bool is_child;                    /* immutable: we spawned it, so we reap it */
        struct agent_client *client;      /* immutable once create/reattach returned */
        pthread_mutex_t lock;             /* guards the fields below */
        bool quiet;                       /* no pod_died: not yet up, stopping or freed */
        bool conn_down;                   /* the agent connection closed */
        bool reaped;                      /* waited for (children only) */
        uint64_t n_events;                /* container exits and the close, so far */
        pthread_cond_t changed;           /* signalled when n_events grows (with lock) */
};

/* sock and log are file names in spec->state_dir. */
int agent_pod_init(struct agent_pod *ap, const char *kind, const struct drv_pod_spec *spec,
                   const char *sock, const char *log, struct uvm_error **err);
/* Disconnect, reap, release; the process itself is left as it is. */
void agent_pod_destroy(struct agent_pod *ap);

/* posix_spawn argv[0] in its own session, stdin on /dev/null, stdout and
 * stderr appended to log_path; keep_fds[i] becomes fd 3 + i in the child. */
int agent_pod_spawn(struct agent_pod *ap, char *const argv[], const int *keep_fds, size_t n_keep,
                    struct uvm_error **err);
/* After a restart: take pid as the pod's process. -ESRCH if it is gone or
 * is_ours says it is not ours (checked after the pidfd is open). */
int agent_pod_adopt(struct agent_pod *ap, pid_t pid, bool (*is_ours)(pid_t pid, void *data),
                    void *data, struct uvm_error **err);
/* The same with the pid read from pid_file. */
int agent_pod_adopt_file(struct agent_pod *ap, const char *pid_file,
                         bool (*is_ours)(pid_t pid, void *data), void *data,
                         struct uvm_error **err);
bool agent_pod_exited(struct agent_pod *ap);
/* Wait up to timeout_ms for the process to exit; true if it did (reaped). */
bool agent_pod_wait(struct agent_pod *ap, int timeout_ms);
void agent_pod_kill(struct agent_pod *ap);
/* The end of the process's log, for error messages (malloc'd, never NULL
 * unless out of memory). */
char *agent_pod_log_tail(struct agent_pod *ap);
/* The error for a process that exited before the pod was ready. */
int agent_pod_died_error(struct agent_pod *ap, struct uvm_error **err);

/* Connect to sock_path and negotiate (within timeout_ms). */
int agent_pod_connect(struct agent_pod *ap, unsigned timeout_ms, struct uvm_error **err);
/* Events (pod_died) flow from now on. */
void agent_pod_go_live(struct agent_pod *ap);
bool agent_pod_conn_up(struct agent_pod *ap);
/* SIGTERM the running containers and wait up to timeout_ms, ShutdownForced,
 * wait exit_wait_ms for the process, then SIGKILL. -EBUSY if it survives. */
int agent_pod_stop(struct agent_pod *ap, uint32_t timeout_ms, int exit_wait_ms,
                   struct uvm_error **err);

/* Parse a container's OCI spec, let patch(data, spec) adapt it to the pod,
 * and create the container through the agent. */
typedef int (*agent_pod_patch_fn)(void *data, const struct drv_ctr_spec *spec, json_object *oci,
                                  struct uvm_error **err);
int agent_pod_ctr_create(struct agent_pod *ap, const struct drv_ctr_spec *spec,
                         agent_pod_patch_fn patch, void *data, struct uvm_error **err);

/* drv_ops entries (see above). */
bool agent_pod_alive(struct drv_pod *p);
int agent_pod_ctr_start(struct drv_pod *p, const char *ctr_id, struct uvm_error **err);
int agent_pod_ctr_signal(struct drv_pod *p, const char *ctr_id, int sig, struct uvm_error **err);
int agent_pod_ctr_delete(struct drv_pod *p, const char *ctr_id, struct uvm_error **err);
int agent_pod_ctr_state(struct drv_pod *p, const char *ctr_id, enum drv_ctr_state *ret_state,
                        int *ret_exit_code, struct uvm_error **err);
int agent_pod_ctr_exec_sync(struct drv_pod *p, const char *ctr_id, const struct drv_exec_spec *spec,
                            struct drv_exec_result *ret, struct uvm_error **err);
int agent_pod_ctr_update(struct drv_pod *p, const char *ctr_id, const char *resources_json,
                         struct uvm_error **err);
int agent_pod_ctr_stats(struct drv_pod *p, const char *ctr_id, struct drv_ctr_stats *ret,
                        struct uvm_error **err);
int agent_pod_stats(struct drv_pod *p, struct drv_pod_stats *ret, struct uvm_error **err);
struct agent_client *agent_pod_client(struct drv_pod *p);

/* "<pid>\n" from path: 1 with the pid, 0 if not (completely) written yet. */
int agent_pod_read_pid_file(const char *path, pid_t *ret, struct uvm_error **err);
int64_t agent_pod_now_ms(void);
