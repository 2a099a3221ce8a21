#pragma once

/*
 * The host side of the agent protocol: typed calls over an agent_conn, used
 * by the ns driver (and later the qemu driver). The agent listens on a unix
 * socket in the pod's state dir; a restarted uvmd connects again and gets
 * the containers' states, exits it missed and the output buffered meanwhile.
 *
 * Messages (JSON payloads of the bridge frames in agent/frame.h; every
 * request carries ContainerId ("" for pod-wide calls) and ActivityId):
 *   NegotiateProtocol {MinimumVersion, MaximumVersion} -> {Version, Capabilities{}}
 *   Create      {ContainerId, Spec (OCI config.json as a string), Layers [dirs,
 *                lowest first], ReadonlyRootfs (the runtime makes the rootfs read-only
 *                once its mount points exist), ImageVolumes [{Destination, Layers,
 *                SubPath}] (each image mounted read-only by the agent and made the
 *                source of the spec mount at Destination, whose source is "")}
 *                -> {StdoutStream, StderrStream}
 *   Start       {ContainerId} -> {Pid}
 *   SignalProcess {ContainerId, Signal, All} -> {}
 *   DeleteContainerState {ContainerId} -> {}           (after exit)
 *   GetProperties {ContainerId: "" = all} -> {Containers [{Id, State
 *                ("created"|"running"|"exited"), Pid, ExitCode, FinishedNs,
 *                OomKilled, StdoutStream, StderrStream, DroppedBytes}]}
 *   ExecuteProcess {ContainerId, Args [..], TimeoutMs, MaxOutput} ->
 *                {ExitCode, TimedOut, Stdout (base64), Stderr (base64), StdoutCut,
 *                StderrCut (output beyond MaxOutput was dropped)}
 *   UpdateContainer {ContainerId, Resources (OCI linux.resources object)} -> {}
 *   ModifySettings {ContainerId, Stats: true} -> {CpuUsageNs, MemoryUsageBytes,
 *                MemoryWorkingSetBytes, MemoryRssBytes, PageFaults, MajorPageFaults,
 *                Pids, WritableBytes, WritableInodes (the overlay upper dir)}
 *   ModifySettings {ContainerId: "", Stats: true} -> {Interfaces [{Name, RxBytes,
 *                RxErrors, TxBytes, TxErrors}]} (the pod's, loopback left out)
 *   ShutdownForced {} -> {}   (kill every container, then the agent exits)
 * Notification 0x30100101 {ContainerId, ExitCode, FinishedNs, OomKilled}.
 * Container output: data frames on the container's StdoutStream/StderrStream.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "agent/bridge_types.h"

#define AGENT_PROTOCOL_VERSION 1
#define AGENT_EXEC_MAX_OUTPUT DRV_EXEC_MAX_OUTPUT /* per stream: fits one response frame */

struct agent_client;

struct agent_client_events {
        void *data;
        void (*exited)(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                       bool oom_killed);
        void (*output)(void *data, const char *ctr_id, enum drv_stream stream, const char *buf,
                       size_t len);
        /* The connection went down (agent died, or the socket closed). */
        void (*closed)(void *data, const char *reason);
};

struct agent_ctr_info {
        char *id;
        enum drv_ctr_state state;
        int pid, exit_code;
        int64_t finished_ns;
        bool oom_killed;
        uint64_t dropped_bytes; /* output the agent could not buffer while uvmd was away */
};

void agent_ctr_info_clear(struct agent_ctr_info *i);

/* Connect to the agent's socket (retrying until timeout_ms: it may still be
 * starting) and negotiate (waiting up to timeout_ms too, at least 30 s: a
 * VM's agent answers once the guest has booted). Buffered output and missed
 * exits are delivered through ev from then on. */
int agent_client_connect(const char *socket_path, unsigned timeout_ms,
                         const struct agent_client_events *ev, struct agent_client **ret,
                         struct uvm_error **err);
struct agent_client *agent_client_free(struct agent_client *c);

int agent_client_create(struct agent_client *c, const struct drv_ctr_spec *spec,
                        struct uvm_error **err);
int agent_client_start(struct agent_client *c, const char *ctr_id, struct uvm_error **err);
int agent_client_signal(struct agent_client *c, const char *ctr_id, int sig, bool all,
                        struct uvm_error **err);
int agent_client_delete(struct agent_client *c, const char *ctr_id, struct uvm_error **err);
int agent_client_state(struct agent_client *c, const char *ctr_id, struct agent_ctr_info *ret,
                       struct uvm_error **err);
int agent_client_list(struct agent_client *c, struct agent_ctr_info **ret, size_t *ret_n,
                      struct uvm_error **err);
int agent_client_exec_sync(struct agent_client *c, const char *ctr_id,
                           const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                           struct uvm_error **err);
int agent_client_update(struct agent_client *c, const char *ctr_id, const char *resources_json,
                        struct uvm_error **err);
int agent_client_stats(struct agent_client *c, const char *ctr_id, struct drv_ctr_stats *ret,
                       struct uvm_error **err);
/* The pod's network interfaces (ModifySettings Stats with no container). */
int agent_client_pod_stats(struct agent_client *c, struct drv_pod_stats *ret,
                           struct uvm_error **err);
/* ModifySettings of a VM guest (ResourceType Guest, Network, Share: see
 * docs/agent.md); *ret (may be NULL) gets the response object. */
int agent_client_modify(struct agent_client *c, const char *type, json_object *settings,
                        json_object **ret, struct uvm_error **err);
/* Kill everything and make the agent exit; the connection is closed after. */
int agent_client_shutdown(struct agent_client *c, struct uvm_error **err);
