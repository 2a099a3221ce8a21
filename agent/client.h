#pragma once

/*
 * The host side of the agent protocol: typed calls over an agent_conn, used
 * by the ns, qemu and hcs drivers. The agent listens on a unix socket in the
 * pod's state dir (ns), on QEMU's chardev socket (qemu) or on an HvSocket
 * service (hcs, Windows); a restarted uvmd connects again and gets the
 * containers' states, exits it missed and the output buffered meanwhile.
 * Everything but the dialling is portable (Linux and mingw-w64).
 *
 * Messages (JSON payloads of the bridge frames in agent/frame.h; every
 * request carries ContainerId ("" for pod-wide calls) and ActivityId):
 *   NegotiateProtocol {MinimumVersion, MaximumVersion, BridgeLimits {MaxData,
 *                Window} (offered: agent/conn.h)} -> {Version, Capabilities{
 *                Streaming (true: the streaming sessions below), BridgeLimits
 *                {MaxData, Window} (the agreed ones; absent: the defaults)}}
 *   Create      {ContainerId, Spec (OCI config.json as a string), Layers [dirs,
 *                lowest first], ReadonlyRootfs (the runtime makes the rootfs read-only
 *                once its mount points exist), ImageVolumes [{Destination, Layers,
 *                SubPath}] (each image mounted read-only by the agent and made the
 *                source of the spec mount at Destination, whose source is ""),
 *                Stdin (keep a pipe to the container's stdin, for attaches),
 *                StdinOnce (the first attach whose stdin ends closes the
 *                container's)} -> {StdoutStream, StderrStream}
 *                A Spec with process.terminal gets a pty: its output is all on
 *                StdoutStream (StderrStream ends at once).
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
 *
 * Streaming sessions (Capabilities.Streaming). Session ids and their stream
 * ids are >= AGENT_SESSION_ID_BASE (2^32; container streams are below); a
 * stream id 0 is a stream not asked for. Data frames use the credit windows
 * of agent/conn.h both ways: the agent reads a process's output (a socket)
 * only as far as the window allows, so a consumer that stops blocks the
 * process, and credits host bytes as it writes them to the process.
 *   ExecuteProcess {ContainerId, Interactive: true, Args [..] (as ExecSync:
 *                1 to 1024, 128 KiB), Tty, Stdin, Stdout, Stderr (one of them
 *                true), Rows, Cols (0 to 65535; the terminal's first size)}
 *                -> {ProcessId, StdinStream, StdoutStream, StderrStream}
 *                `runc exec --detach` with the container's process settings.
 *                With Tty stdout and stderr are one terminal, on StdoutStream.
 *   (Attach and PortForward are ExecuteProcess requests: an unknown rpc
 *   number would make an older agent drop the connection.)
 *   ExecuteProcess {ContainerId, Attach: true, Stdin, Stdout, Stderr}
 *                -> {AttachId, StdinStream, StdoutStream, StderrStream}
 *                A running container's output from now on (its own streams,
 *                the log, still get every byte); a terminal container has no
 *                StderrStream. An attach more than 1 MiB behind ends with
 *                ENOBUFS. Stdin needs a container created with Stdin. Several
 *                attaches may exist at once.
 *   ExecuteProcess {ContainerId: "", PortForward: true, Port (1 to 65535)}
 *                -> {StreamId}: a TCP connection the agent made in the pod's
 *                network namespace to 127.0.0.1:Port, else [::1]:Port (else
 *                an error naming the port, ECONNREFUSED); StreamId carries it
 *                both ways and is the session's id.
 *   ResizeConsole {ContainerId, ProcessId (an exec's, or an AttachId of a
 *                terminal container), Height, Width (0 to 65535)} -> {}
 *   SignalProcess {ContainerId, ProcessId, Signal (1 to 64)} -> {} (an exec)
 *   SignalProcess {ContainerId, ProcessId, Close: true} -> {}: ends the
 *                session: an exec's process (and its process group) is
 *                SIGKILLed, an attach detached, a connection closed.
 *   Host data on StdinStream (StreamId) goes to the process's stdin (the
 *   container's, the socket); the host's close of it is EOF: an exec's stdin
 *   is closed (a terminal gets its VEOF character); an attach's closes the
 *   container's stdin only with StdinOnce and no terminal (so does the end
 *   of such an attach; else it just detaches, as in containerd); a
 *   connection is half-closed (shutdown SHUT_WR).
 *   The agent sends nothing of a session before its response. A session
 *   ends when its process exited (exec), the container exited or, without
 *   outputs, its stdin closed (attach), both directions closed
 *   (port-forward), on an error or on Close: its streams
 *   are closed first (DATA_CLOSE), then Notification 0x30100101 {ContainerId,
 *   ProcessId (the session's id), ExitCode (exec), Result (0 or -errno),
 *   ErrorMessage}. Sessions belong to the host connection: when it goes
 *   they end and exec'd processes are killed. At most 128 execs, 64
 *   attaches and 256 connections at a time (then EAGAIN).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/bridge_types.h"
#include "common/error.h"

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

/* Talk to the agent over fd, an already connected socket (ownership passes,
 * closed on failure too): negotiate (waiting up to timeout_ms, at least
 * 30 s: a VM's agent answers once the guest has booted) and learn the
 * containers' streams. Buffered output and missed exits are delivered
 * through ev from then on. peer names the agent in errors ("agent at
 * <peer>: ..."). The transport is the caller's: a unix socket (below),
 * HvSocket (Windows, below), a loopback TCP pair in tests. */
int agent_client_connect_fd(int fd, const char *peer, unsigned timeout_ms,
                            const struct agent_client_events *ev, struct agent_client **ret,
                            struct uvm_error **err);

#ifndef _WIN32
/* Connect to the agent's unix socket at path (retrying until timeout_ms: it
 * may still be starting; a path longer than sun_path is reached through its
 * directory) and give the socket in *ret_fd. */
int agent_client_dial_unix(const char *path, unsigned timeout_ms, int *ret_fd,
                           struct uvm_error **err);
/* agent_client_dial_unix() and then agent_client_connect_fd(), each with
 * timeout_ms. */
int agent_client_connect(const char *socket_path, unsigned timeout_ms,
                         const struct agent_client_events *ev, struct agent_client **ret,
                         struct uvm_error **err);
#else
/* Connect to the agent's bridge in a Hyper-V VM over HvSocket (AF_HYPERV):
 * vm_id is the compute system's RuntimeId, service_id the bridge's HvSocket
 * service (GUIDs "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", braces allowed).
 * Refused or timed-out connects are retried until timeout_ms (the guest may
 * still be booting). -EAFNOSUPPORT, said plainly, on a host without
 * HvSocket (before Windows 10 1709 / Server 2019, or Wine). */
int agent_client_dial_hv(const char *vm_id, const char *service_id, unsigned timeout_ms,
                         int *ret_fd, struct uvm_error **err);
/* agent_client_dial_hv() and then agent_client_connect_fd(), each with
 * timeout_ms. */
int agent_client_connect_hv(const char *vm_id, const char *service_id, unsigned timeout_ms,
                            const struct agent_client_events *ev, struct agent_client **ret,
                            struct uvm_error **err);
#endif
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

/* Streaming sessions (see above; -EOPNOTSUPP from an agent without
 * Capabilities.Streaming). Callbacks run on the bridge's reader thread under
 * the client's session lock: they must not block, nor call any of these but
 * agent_stream_consumed(). Other calls may come from any thread (one writer
 * at a time), but not concurrently with agent_stream_free() of the same
 * stream. */

struct agent_stream;

struct agent_stream_ops {
        void *data;
        /* Bytes of stream 1 (stdout; a port-forward's connection) or 2
         * (stderr); len 0: that stream ended. Queue them and call
         * agent_stream_consumed() once passed on: the agent sends at most a
         * window (the connection's: agent_conn_limits()) ahead of that. */
        void (*output)(void *data, int stream, const void *buf, size_t len);
        /* Optional: credit came back for the stdin stream (write may go on). */
        void (*writable)(void *data);
        /* Once, last. An exec: its exit code (>= 0); otherwise 0. A negative
         * errno with a reason when it failed (ENOBUFS: an attach fell
         * behind; ECONNRESET: the agent connection went down). */
        void (*done)(void *data, int code, const char *reason);
};

struct agent_exec_start {
        char *const *argv; /* NULL-terminated, argv[0] required */
        bool tty;
        bool use_stdin, use_stdout, use_stderr; /* one of them */
        unsigned rows, cols;                    /* the terminal's first size; 0: none */
};

struct agent_attach_start {
        bool use_stdin, use_stdout, use_stderr; /* one of them */
};

/* Whether the agent serves streaming sessions (it negotiated Streaming). */
bool agent_client_streaming(struct agent_client *c);
int agent_client_exec_start(struct agent_client *c, const char *ctr_id,
                            const struct agent_exec_start *spec, const struct agent_stream_ops *ops,
                            struct agent_stream **ret, struct uvm_error **err);
int agent_client_attach(struct agent_client *c, const char *ctr_id,
                        const struct agent_attach_start *spec, const struct agent_stream_ops *ops,
                        struct agent_stream **ret, struct uvm_error **err);
/* A connection to port in the pod's network namespace. */
int agent_client_port_forward(struct agent_client *c, uint16_t port,
                              const struct agent_stream_ops *ops, struct agent_stream **ret,
                              struct uvm_error **err);
/* Send up to len bytes on the stdin stream (the connection) as its window
 * allows, waiting up to timeout_ms (< 0: forever) for some credit. Returns
 * the bytes sent (0: the window stayed full), or -EPIPE once the session
 * ended or its stdin was closed. */
int agent_stream_write(struct agent_stream *s, const void *buf, size_t len, int timeout_ms,
                       struct uvm_error **err);
/* EOF on stdin (a port-forward: half-close). */
int agent_stream_close_write(struct agent_stream *s, struct uvm_error **err);
/* An exec's terminal, or an attached terminal container's. */
int agent_stream_resize(struct agent_stream *s, unsigned rows, unsigned cols,
                        struct uvm_error **err);
/* Signal an exec's process. */
int agent_stream_signal(struct agent_stream *s, int sig, struct uvm_error **err);
/* The consumer passed on n more bytes of output stream 1 or 2. */
void agent_stream_consumed(struct agent_stream *s, int stream, size_t n);
/* End the session if it still runs (an exec's process is killed, an attach
 * detached, a connection closed) and free s; no callback runs once this
 * returned. Every stream must be freed before its client. */
struct agent_stream *agent_stream_free(struct agent_stream *s);
static inline void agent_stream_freep(struct agent_stream **s)
{
        agent_stream_free(*s);
}
