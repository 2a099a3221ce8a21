"""uvmd.exe's ExecSync, stats and CRI log from Linux python3-grpcio, for
uvmd_exec_test.sh. The fake agent (tests/windows/fakes/agent_server.c) runs
scripted commands, answers stats with known numbers and relays a
container's output when an exec asks it to ("log STREAM CHUNK...").

usage: exec_client.py PORT MODE [POD_ID CTR_ID]
  run          a pod with a log directory, a container with a log path,
               started; prints "pod ID" and "ctr ID"
  exec P C     output, exit codes, a timeout, the output caps, bad requests
  stats P C    ContainerStats, ListContainerStats, PodSandboxStats,
               ListPodSandboxStats: the agent's numbers arrive
  log P C      relayed output in the CRI log: full and partial lines, a long
               line cut; the file moved and ReopenContainerLog: a new file
  restarted P C  after uvmd.exe was killed and restarted: output still logged
  stopped P C  a partial line flushed at exit; ExecSync, ReopenContainerLog
               on the stopped container refused; its stats zero, the agent
               not asked; the pod removed
Prints "ok NAME" / "not ok NAME # why". UVMD_FAKE_AGENT_DIR is the fake
agent's directory, RIG_LOGS its log directory (Linux path) and
RIG_LOGS_WIN the same as uvmd.exe sees it."""
import os
import re
import sys
import time

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import calls, check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
logs, logs_win = os.environ["RIG_LOGS"], os.environ["RIG_LOGS_WIN"]
log_file = os.path.join(logs, "pod", "app", "0.log")
c, pb = connect(port, mode)

# The fake agent's numbers (agent_server.c FAKE_*).
CPU_NS, MEM_USAGE, MEM_WS, MEM_RSS = 4200000000, 52428800, 41943040, 31457280
FAULTS, MAJOR, PIDS, RX, TX = 1234, 5, 3, 1000, 2000
EXEC_MAX = 262144
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def exec_sync(ctr, cmd, timeout=10):
    """ExecSync with its own timeout (s); the call's deadline beyond it."""
    return c.rt("ExecSync", pb.ExecSyncRequest(container_id=ctr, cmd=cmd, timeout=timeout),
                timeout=timeout + 30)


def emit(ctr, stream, *chunks):
    """The container writes chunks on stream (the agent relays each)."""
    r = exec_sync(ctr, ["log", stream] + list(chunks))
    if r.exit_code != 0:
        raise RuntimeError("log exec: %s" % one_line(r))


def records(path=log_file):
    """[(stream, tag, text)] of a CRI log file; a malformed line fails."""
    out = []
    with open(path, "rb") as f:
        data = f.read().decode()
    if data and not data.endswith("\n"):
        raise ValueError("no newline at the end: %r" % data[-80:])
    for line in data.split("\n")[:-1]:
        ts, stream, tag, text = line.split(" ", 3)
        if not TS.match(ts) or stream not in ("stdout", "stderr") or tag not in ("P", "F"):
            raise ValueError("bad record %r" % line[:120])
        out.append((stream, tag, text))
    return out


def recent(ts_ns):
    return abs(time.time() * 1e9 - ts_ns) < 120e9


if mode == "run":
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web", namespace="default",
                                                             uid="uid-exec"),
                              log_directory=logs_win + "\\pod")
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    ctr = c.rt("CreateContainer", pod_sandbox_id=pod, config=pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=0), image=pb.ImageSpec(image="busybox"),
        command=["/bin/sleep", "1000"], log_path="app/0.log"),
        sandbox_config=cfg).container_id
    print("ctr " + ctr)
    s = c.rt("ContainerStatus", container_id=ctr).status
    check("status-log-path", s.log_path == logs_win + "\\pod\\app/0.log", s.log_path)
    check("log-file-created", os.path.isfile(log_file), log_file)
    c.rt("StartContainer", container_id=ctr)

elif mode == "exec":
    pod, ctr = args
    r = exec_sync(ctr, ["echo", "hello", "world"])
    check("exec-stdout", r.stdout == b"hello world\n" and r.stderr == b"" and r.exit_code == 0,
          one_line(r))
    check("exec-reached-agent", any(x.startswith("exec %s timeout=10000 max=%d echo"
                                                 % (ctr, EXEC_MAX)) for x in calls()),
          one_line(calls()[-3:]))
    r = exec_sync(ctr, ["fail", "3", "bad thing\n"])
    check("exec-exit-code", r.exit_code == 3 and r.stderr == b"bad thing\n" and r.stdout == b"",
          one_line(r))
    r = exec_sync(ctr, ["nosuch"])
    check("exec-not-found-127", r.exit_code == 127 and b"nosuch: not found" in r.stderr,
          one_line(r))
    t0 = time.monotonic()
    expect_error("exec-timeout", lambda: exec_sync(ctr, ["sleep", "30"], timeout=1),
                 grpc.StatusCode.DEADLINE_EXCEEDED, "timed out after 1s")
    took = time.monotonic() - t0
    check("exec-timeout-took-1s", 0.9 < took < 10, "%.2f s" % took)
    r = exec_sync(ctr, ["sleep", "0.3"], timeout=0)
    check("exec-no-timeout", r.exit_code == 0, one_line(r))
    check("exec-timeout-0-passed", any(x.startswith("exec %s timeout=0 " % ctr)
                                       for x in calls()), one_line(calls()[-3:]))
    r = exec_sync(ctr, ["flood", str(EXEC_MAX + 5000)])
    notice = ("\nuvmd: ExecSync stdout cut at %d bytes\n"
              "\nuvmd: ExecSync stderr cut at %d bytes\n" % (EXEC_MAX, EXEC_MAX)).encode()
    check("exec-output-capped", len(r.stdout) == EXEC_MAX and r.stdout == b"x" * EXEC_MAX
          and r.stderr == b"x" * EXEC_MAX + notice, "%d %d %r" % (
              len(r.stdout), len(r.stderr), r.stderr[-100:]))
    expect_error("exec-empty-cmd", lambda: exec_sync(ctr, []),
                 grpc.StatusCode.INVALID_ARGUMENT, "cmd")
    expect_error("exec-bad-timeout", lambda: exec_sync(ctr, ["echo"], timeout=-1),
                 grpc.StatusCode.INVALID_ARGUMENT, "timeout")
    expect_error("exec-unknown-ctr", lambda: exec_sync("e" * 64, ["echo"]),
                 grpc.StatusCode.NOT_FOUND, "")

elif mode == "stats":
    pod, ctr = args
    st = c.rt("ContainerStats", container_id=ctr).stats
    check("ctr-stats-numbers",
          st.attributes.id == ctr and st.attributes.metadata.name == "app"
          and st.cpu.usage_core_nano_seconds.value == CPU_NS
          and st.memory.working_set_bytes.value == MEM_WS
          and st.memory.usage_bytes.value == MEM_USAGE and st.memory.rss_bytes.value == MEM_RSS
          and st.memory.page_faults.value == FAULTS
          and st.memory.major_page_faults.value == MAJOR, one_line(st))
    check("ctr-stats-timestamps", recent(st.cpu.timestamp) and recent(st.memory.timestamp),
          "%d %d" % (st.cpu.timestamp, st.memory.timestamp))
    # The rate since the container started: its 4.2 s of CPU over a few
    # seconds of life, so more than a core but a plausible number.
    check("ctr-stats-nano-cores", st.cpu.usage_nano_cores.value > 0, one_line(st.cpu))
    check("ctr-stats-from-agent", "stats " + ctr in calls(), one_line(calls()[-3:]))
    ls = c.rt("ListContainerStats").stats
    check("list-ctr-stats", [x.attributes.id for x in ls] == [ctr]
          and ls[0].memory.working_set_bytes.value == MEM_WS
          and ls[0].cpu.usage_core_nano_seconds.value == CPU_NS, one_line(ls))
    flt = pb.ContainerStatsFilter(pod_sandbox_id="0" * 10)
    check("list-ctr-stats-filtered", len(c.rt("ListContainerStats", filter=flt).stats) == 0)
    ps = c.rt("PodSandboxStats", pod_sandbox_id=pod).stats
    lx = ps.linux
    check("pod-stats-sum", ps.attributes.id == pod and lx.cpu.usage_core_nano_seconds.value
          == CPU_NS and lx.memory.working_set_bytes.value == MEM_WS
          and lx.process.process_count.value == PIDS
          and [x.attributes.id for x in lx.containers] == [ctr], one_line(ps))
    net = lx.network
    check("pod-stats-network", net.default_interface.name == "eth0"
          and net.default_interface.rx_bytes.value == RX
          and net.default_interface.tx_bytes.value == TX
          and net.default_interface.rx_errors.value == 1, one_line(net))
    check("pod-stats-from-agent", "podstats " in calls(), one_line(calls()[-3:]))
    lp = c.rt("ListPodSandboxStats").stats
    check("list-pod-stats", [x.attributes.id for x in lp] == [pod]
          and lp[0].linux.network.default_interface.tx_bytes.value == TX, one_line(lp))
    expect_error("ctr-stats-unknown", lambda: c.rt("ContainerStats", container_id="e" * 64),
                 grpc.StatusCode.NOT_FOUND, "")

elif mode == "log":
    pod, ctr = args
    emit(ctr, "stdout", "hel", "lo\n", "wor")
    emit(ctr, "stderr", "oops\n")
    emit(ctr, "stdout", "ld\n\n")
    emit(ctr, "stdout", "y" * 20000 + "\n")
    r = records()
    check("log-full-lines", r[:4] == [("stdout", "F", "hello"), ("stderr", "F", "oops"),
                                      ("stdout", "F", "world"), ("stdout", "F", "")],
          one_line(r[:4]))
    check("log-long-line-cut", len(r) == 6 and r[4] == ("stdout", "P", "y" * 16384)
          and r[5] == ("stdout", "F", "y" * (20000 - 16384)),
          one_line([(x[0], x[1], len(x[2])) for x in r[4:]]))
    # Rotation: the file moved, a partial line pending.
    emit(ctr, "stdout", "tail")
    os.rename(log_file, log_file + ".1")
    c.rt("ReopenContainerLog", container_id=ctr)
    check("reopen-new-file", os.path.isfile(log_file) and records() == [], log_file)
    old = records(log_file + ".1")
    check("reopen-partial-flushed-to-old", old[-1] == ("stdout", "P", "tail") and len(old) == 7,
          one_line(old[-2:]))
    emit(ctr, "stderr", "after\n")
    check("reopen-output-to-new", records() == [("stderr", "F", "after")], one_line(records()))
    check("reopen-old-untouched", records(log_file + ".1") == old)
    # The file removed outright: reopened, created again.
    os.unlink(log_file)
    c.rt("ReopenContainerLog", container_id=ctr)
    emit(ctr, "stdout", "again\n")
    check("reopen-after-unlink", records() == [("stdout", "F", "again")], one_line(records()))
    expect_error("reopen-unknown", lambda: c.rt("ReopenContainerLog", container_id="e" * 64),
                 grpc.StatusCode.NOT_FOUND, "")

elif mode == "restarted":
    pod, ctr = args
    emit(ctr, "stdout", "after restart\n")
    check("log-after-restart", records()[-1] == ("stdout", "F", "after restart"),
          one_line(records()[-2:]))

elif mode == "stopped":
    pod, ctr = args
    emit(ctr, "stdout", "last words")
    c.rt("StopContainer", pb.StopContainerRequest(container_id=ctr, timeout=10))
    check("partial-flushed-at-exit", records()[-1] == ("stdout", "P", "last words"),
          one_line(records()[-2:]))
    execs = sum(x.startswith("exec " + ctr) for x in calls())
    expect_error("exec-stopped-refused", lambda: exec_sync(ctr, ["echo", "x"]),
                 grpc.StatusCode.FAILED_PRECONDITION, "not running")
    check("exec-stopped-agent-not-asked", sum(x.startswith("exec " + ctr) for x in calls())
          == execs)
    expect_error("reopen-stopped-refused",
                 lambda: c.rt("ReopenContainerLog", container_id=ctr),
                 grpc.StatusCode.FAILED_PRECONDITION, "not running")
    asked = calls().count("stats " + ctr)
    st = c.rt("ContainerStats", container_id=ctr).stats
    check("stopped-stats-zero", st.attributes.id == ctr
          and st.cpu.usage_core_nano_seconds.value == 0
          and st.memory.working_set_bytes.value == 0, one_line(st))
    check("stopped-stats-agent-not-asked", calls().count("stats " + ctr) == asked)
    c.rt("RemoveContainer", container_id=ctr)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("log-kept-after-remove", os.path.isfile(log_file))
    check("pod-removed", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(hcs_client.failed != 0)
