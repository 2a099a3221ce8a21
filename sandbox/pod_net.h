#pragma once

/*
 * A pod's network during RunPodSandbox (sandbox.c): its namespace first,
 * then CNI ADD and the pod's files (resolv.conf, hosts, hostname), either
 * at once or on a thread of their own while the driver starts the sandbox
 * in the namespace. Whatever happens, pod_net_join is called before the
 * caller undoes anything: the thread uses the pod's directory.
 */

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"
#include "network/net.h"
#include "sandbox/phase.h"

struct pod_net_job {
        struct net *net;               /* NULL: no namespace, no CNI (files only) */
        struct net_pod_config cfg;     /* pod_id and userns_path filled in */
        char *files_dir;               /* <pod dir>/files */
        struct net_pod_attach *attach; /* after pod_net_begin, with net */
        struct net_pod_result res;     /* after ADD */
        struct phase_clock own;        /* the thread's phases */
        struct phase_clock *pc;        /* where ADD and the files are timed */
        struct phase_clock *caller_pc; /* the caller's: own is added to it */
        bool threaded;
        pthread_t thread;
        int r; /* the thread's result, and its error: */
        struct uvm_error *err;
};

/* The namespace, with net (NULL: none). pod_net_job_clear frees j. */
int pod_net_begin(struct pod_net_job *j, struct net *net, const struct net_pod_config *cfg,
                  const char *pod_id, const char *userns_path, const char *pod_dir,
                  struct uvm_error **err);
/* The namespace's path, NULL without one. */
const char *pod_net_netns(const struct pod_net_job *j);
/* ADD (with net) then the files, timed on pc: on a thread when background
 * (and a thread can be made; its phases are added to pc by pod_net_join),
 * else here. */
int pod_net_run(struct pod_net_job *j, bool background, struct phase_clock *pc,
                struct uvm_error **err);
/* Wait for a background run: its result, its error in err. Returns 0 at
 * once otherwise. */
int pod_net_join(struct pod_net_job *j, struct uvm_error **err);
void pod_net_job_clear(struct pod_net_job *j);
