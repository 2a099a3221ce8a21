#!/usr/bin/env python3
"""Where a pod's time goes under uvmd (issue 15): RunPodSandbox and
CreateContainer + StartContainer, attributed to runc, the CNI plugins, the
agent and uvmd itself.

One uvmd (ns driver, handler runc, debug log) with its own bridge
(uvmdtrc0, 10.88.59.0/24) runs --rounds pod lifecycles (RunPodSandbox,
CreateContainer + StartContainer of a `sleep`, StopPodSandbox,
RemovePodSandbox) four times over, after one untimed round:

1. untraced: each call's wall time, and uvmd's per-phase debug line;
   then uvmd is restarted at log level info for the next two:
2. under `strace -f -c` attached to uvmd (its threads and every process it
   or its agents start): the syscall summary of all of them together;
3. under `perf record -a` of the fork/exec/exit tracepoints and a 1 kHz
   CPU-clock sample (light, no ptrace): each process uvmd or its agent
   started, its program (runc create/start/kill/delete told apart by the
   call and their order in it, runc init, a CNI plugin, the agent, ...),
   its lifetime, charged to the call during which it started, and the CPU
   samples of uvmd, its agents and their children in each call;
4. under `perf record -g -p` of uvmd alone: where its own CPU goes.

Prints markdown tables; asserts nothing about time. Needs root, runc, the
CNI plugins, strace and perf.

  tests/bench/compare/pod_trace.py --uvmd /path/to/uvmd [--rounds 10]
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pods"))
os.environ.setdefault("UVMD_PYGEN", tempfile.mkdtemp(prefix="podtrace-pygen-"))

import bench_pods as bp  # noqa: E402
import imagelib  # noqa: E402
from uvmdlib import Client, gen_stubs  # noqa: E402

BRIDGE = "uvmdtrc0"
SUBNET = "10.88.59"
CALLS = ("RunPodSandbox", "Create+Start", "StopPodSandbox", "RemovePodSandbox")
# Windows for attribution: Create+Start split in two.
WINDOWS = ("RunPodSandbox", "CreateContainer", "StartContainer", "StopPodSandbox",
           "RemovePodSandbox")
# The agent's runc calls in a window, in order (agent/agent_ctr.c).
RUNC_ORDER = {"CreateContainer": ["create"], "StartContainer": ["start"],
              "StopPodSandbox": ["kill", "delete"]}
SAMPLE_HZ = 1000
RUNC_CMDS = {"create", "start", "kill", "delete", "state", "exec", "init", "run", "ps",
             "events", "features", "update", "pause", "resume"}
CNI = {"bridge", "host-local", "portmap", "loopback"}


def conflist(ipam_dir):
    c = bp.conflist(ipam_dir)
    c["name"] = "uvmd-trace"
    c["plugins"][0]["bridge"] = BRIDGE
    c["plugins"][0]["ipam"]["ranges"] = [[{"subnet": SUBNET + ".0/24"}]]
    return c


class Daemon(bp.Uvmd):
    """bp.Uvmd at a chosen log level: the debug records give the phases,
    but cost uvmd CPU of their own."""

    level = "debug"

    def start(self, timeout=60):
        args = self.base_args() + ["--socket", self.socket, "--state-root", self.state,
                                   "--log-level", self.level, "--log-format", "json"]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("uvmd exited with %s:\n%s" % (self.proc.returncode,
                                                                 self.tail()))
            if os.path.exists(self.socket):
                c = Client(self.socket)
                try:
                    c.version(timeout=1)
                    self.client = c
                    return self
                except Exception:
                    c.close()
            time.sleep(0.02)
        raise RuntimeError("uvmd not ready after %ss:\n%s" % (timeout, self.tail()))


def lifecycle(u, top, image, i, windows=None):
    """One round; {call: seconds}. windows gets (window, t0, t1), times
    from CLOCK_MONOTONIC (perf's clock here)."""
    out = {}

    def call(name, fn, total=None):
        t0 = time.monotonic()
        r = fn()
        t1 = time.monotonic()
        for k in (name, total):
            if k in CALLS:
                out[k] = out.get(k, 0.0) + t1 - t0
        if windows is not None:
            windows.append((name, t0, t1))
        return r

    cfg = bp.pod_config(top, "tr%d" % i, False)
    pod = call("RunPodSandbox", lambda: u.client.rt(
        "RunPodSandbox", config=cfg, runtime_handler="runc", timeout=120).pod_sandbox_id)
    ctr = call("CreateContainer", lambda: u.client.rt(
        "CreateContainer", pod_sandbox_id=pod, config=bp.ctr_config(image, "c"),
        sandbox_config=cfg, timeout=120).container_id, "Create+Start")
    call("StartContainer", lambda: u.client.rt("StartContainer", container_id=ctr, timeout=120),
         "Create+Start")
    call("StopPodSandbox", lambda: u.client.rt("StopPodSandbox", pod_sandbox_id=pod,
                                               timeout=120))
    call("RemovePodSandbox", lambda: u.client.rt("RemovePodSandbox", pod_sandbox_id=pod,
                                                 timeout=120))
    return out


def phases(log_path, since):
    """uvmd's phase lines logged after byte offset since: {op: [phases]}."""
    out = collections.defaultdict(list)
    with open(log_path, "rb") as fh:
        fh.seek(since)
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            m = re.match(r"(\w+) done in ([\d.]+) ms: (.*)", rec.get("msg", ""))
            if not m:
                continue
            ph = {"total": float(m.group(2))}
            for part in m.group(3).split(", "):
                name, _, v = part.rpartition(" ")
                try:
                    ph[name] = float(v)
                except ValueError:
                    pass
            out[m.group(1)].append(ph)
    return out


def strace_start(pid, args, out):
    p = subprocess.Popen(["strace", "-f", "-qq", "-o", out] + args + ["-p", str(pid)],
                         stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached to every thread
    return p


def strace_stop(p):
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)


def group(filename):
    """A process's group by the program it exec'd."""
    name = os.path.basename(filename)
    # runc create re-executes itself as `runc init`, which copies itself to
    # a memfd and runs that (runc's cloned-binary guard).
    if filename == "/proc/self/exe" or re.match(r"/(proc/self|dev)/fd/\d+$", filename):
        return "runc init"
    if name in CNI:
        return "CNI " + name
    return name


def perf_events(path, root):
    """From `perf script` of the run: [(time, kind, pid, data)] of uvmd's
    tree, data a program group for exec, None else; and the CPU samples
    [(time, pid)] of that tree."""
    out = subprocess.run(["perf", "script", "-i", path, "-F", "pid,time,event,trace"],
                         capture_output=True, text=True, timeout=600).stdout
    tree, events, samples = {root}, [], []
    pat = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")
    for line in out.splitlines():
        m = pat.match(line)
        if not m:
            continue
        pid, ts, ev, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        if ev == "sched:sched_process_fork":
            c = re.search(r"child_pid=(\d+)", rest)
            if c and pid in tree:
                tree.add(int(c.group(1)))
                events.append((ts, "fork", int(c.group(1)), pid))
        elif pid not in tree:
            continue
        elif ev == "sched:sched_process_exec":
            f = re.search(r"filename=(\S+)", rest)
            events.append((ts, "exec", pid, group(f.group(1) if f else "?")))
        elif ev == "sched:sched_process_exit":
            events.append((ts, "exit", pid, None))
        elif ev.startswith("cpu-clock"):
            samples.append((ts, pid))
    return events, samples


def window_of(windows, ts):
    for name, t0, t1 in windows:
        if t0 <= ts <= t1:
            return name, t0, t1
    return None


def attribute(events, samples, windows, root):
    """({window: {program: [processes, summed lifetime s]}}, {window:
    {program: samples}}): processes charged to the window they exec'd in
    (lifetime cut at the window's end), samples to the program their
    process ran then. runc is named by its place in the window."""
    procs = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0.0]))
    cpu = collections.defaultdict(lambda: collections.defaultdict(int))
    prog, started, runc_seen = {root: "uvmd"}, {}, collections.Counter()
    ends = {pid: ts for ts, kind, pid, _ in events if kind == "exit"}
    merged = sorted([(ts, 0, kind, pid, d) for ts, kind, pid, d in events] +
                    [(ts, 1, "sample", pid, None) for ts, pid in samples])
    for ts, _, kind, pid, data in merged:
        w = window_of(windows, ts)
        if kind == "fork":  # until it execs, a child counts with its parent's program
            prog[pid] = prog.get(data, "?").replace(" (child)", "") + " (child)"
        elif kind == "exec":
            name = data
            if name == "runc" and w:
                order = RUNC_ORDER.get(w[0], [])
                i = runc_seen[(w[0], w[1])]
                runc_seen[(w[0], w[1])] += 1
                name = "runc " + (order[i] if i < len(order) else "(more)")
            prog[pid] = name
            if w and pid not in started:
                started[pid] = ts
                end = ends.get(pid)
                acc = procs[w[0]][name]
                acc[0] += 1
                acc[1] += (min(end, w[2]) if end and end > ts else w[2]) - ts
        elif kind == "sample" and w:
            cpu[w[0]][prog.get(pid, "?")] += 1
    return procs, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--keep-perf", help="copy pass 4's perf.data (uvmd alone) here")
    a = ap.parse_args()
    if not 1 <= a.rounds <= 100:
        ap.error("--rounds must be 1..100")
    if os.path.exists("/sys/class/net/" + BRIDGE):
        ap.error("bridge %s already exists: is another run going, or left over?" % BRIDGE)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="trc-", dir="/tmp")
    u = None
    try:
        img = imagelib.build_image(os.path.join(top, "image"), "single", archive=True)
        u = Daemon(a.uvmd, top, conflist(os.path.join(top, "ipam")))
        u.import_image(img.archive)
        u.start()
        lifecycle(u, top, img.id, 0)  # warm-up
        n = 1
        print("load %s" % (bp.loadavg(),))
        since = os.path.getsize(u.log_path)
        plain = collections.defaultdict(list)
        for _ in range(a.rounds):
            for k, v in lifecycle(u, top, img.id, n).items():
                plain[k].append(v)
            n += 1
        report_plain(plain, phases(u.log_path, since))
        u.stop()  # the traced passes at info level: no debug records
        u.level = "info"
        u.start()
        lifecycle(u, top, img.id, n)
        n += 1

        st = strace_start(u.proc.pid, ["-c", "-S", "calls"], os.path.join(top, "sum.txt"))
        for _ in range(a.rounds):
            lifecycle(u, top, img.id, n)
            n += 1
        strace_stop(st)
        report_summary(os.path.join(top, "sum.txt"), a.rounds)

        windows, data = [], os.path.join(top, "perf.data")
        pr = subprocess.Popen(["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-o", data,
                               "-e", "cpu-clock/freq=%d/" % SAMPLE_HZ,
                               "-e", "sched:sched_process_fork", "-e", "sched:sched_process_exec",
                               "-e", "sched:sched_process_exit"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        for _ in range(a.rounds):
            lifecycle(u, top, img.id, n, windows)
            n += 1
        pr.send_signal(signal.SIGINT)
        pr.wait(timeout=120)
        events, samples = perf_events(data, u.proc.pid)
        report_procs(*attribute(events, samples, windows, u.proc.pid), windows, a.rounds)

        data = os.path.join(top, "uvmd.data")
        pr = subprocess.Popen(["perf", "record", "-q", "-g", "-F", str(SAMPLE_HZ), "-p",
                               str(u.proc.pid), "-o", data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        for _ in range(a.rounds):
            lifecycle(u, top, img.id, n)
            n += 1
        pr.send_signal(signal.SIGINT)
        pr.wait(timeout=120)
        report_uvmd(data, a.rounds, u.proc.pid)
        if a.keep_perf:
            shutil.copy(data, a.keep_perf)
        print("load %s" % (bp.loadavg(),))
    finally:
        if u is not None:
            u.remove_all_pods()
            u.stop()
            bp.kill_leftover_agents(u.state)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        bp.unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


def report_plain(plain, ph):
    print("\n### Untraced (ms, p50 of %d)\n" % len(plain["RunPodSandbox"]))
    print("| call | p50 | p90 |")
    print("|---|---|---|")
    for k in CALLS:
        v = [x * 1000 for x in plain[k]]
        print("| %s | %.1f | %.1f |" % (k, bp.pct(v, 50), bp.pct(v, 90)))
    print("\nuvmd's phase lines (p50 ms):\n")
    for op, lines in sorted(ph.items()):
        names = []
        for line in lines:
            names += [n for n in line if n not in names]
        print("- %s (%d): %s" % (op, len(lines), ", ".join(
            "%s %.1f" % (n, bp.pct([x.get(n, 0.0) for x in lines], 50)) for n in names)))


def report_summary(path, rounds):
    """strace -c's table per lifecycle, most frequent first; its time is
    spent inside the call, waits included (futex, epoll_wait, wait4)."""
    print("\n### strace -f -c of uvmd and everything it started, per lifecycle\n")
    print("| syscall | calls | errors | ms in the call |")
    print("|---|---|---|---|")
    with open(path) as fh:
        rows = [ln.split() for ln in fh if re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+", ln)]
    total = sum(int(r[3]) for r in rows if r[-1] != "total")
    keep = {"fsync", "fdatasync", "execve", "clone", "clone3", "vfork", "wait4", "waitid",
            "mount", "umount2", "unshare", "setns", "pidfd_open", "rename", "renameat2"}
    rows = [r for i, r in enumerate(r for r in rows if r[-1] != "total")
            if i < 20 or r[-1] in keep]
    for r in rows:
        errs = int(r[4]) if len(r) == 6 else 0
        print("| %s | %.0f | %.0f | %.1f |" % (r[-1], int(r[3]) / rounds, errs / rounds,
                                              float(r[1]) * 1000 / rounds))
    print("| all | %.0f | | |" % (total / rounds))


def report_uvmd(data, rounds, pid):
    """uvmd's own CPU (its threads only, not the processes it starts) over
    the lifecycles: the functions its samples fall under, callees
    included."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children", "-g", "none",
                          "--pid", str(pid), "--sort", "sym", "--percent-limit", "3"],
                         capture_output=True, text=True, timeout=600).stdout
    n = re.search(r"# Samples: (\S+)", out)
    print("\n### uvmd's own CPU (perf record -g -p, %d Hz), %s samples of uvmd and its "
          "children over %d lifecycles\n" % (SAMPLE_HZ, n.group(1) if n else "?", rounds))
    print("Percentages of all those samples; only uvmd's own threads listed.\n")
    print("| children % | self % | symbol |")
    print("|---|---|---|")
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*)$", line)
        if m:
            print("| %s | %s | %s |" % (m.group(1), m.group(2), m.group(3).strip()))


def report_procs(procs, cpu, windows, rounds):
    print("\n### Processes and CPU per call (perf: fork/exec/exit tracepoints, %d Hz "
          "CPU samples), per lifecycle\n" % SAMPLE_HZ)
    wall = collections.defaultdict(float)
    for name, t0, t1 in windows:
        wall[name] += t1 - t0
    print("| call | wall ms | program | processes | summed lifetime ms | CPU ms |")
    print("|---|---|---|---|---|---|")
    ms = 1000.0 / SAMPLE_HZ / rounds
    for k in WINDOWS:
        names = sorted(set(procs[k]) | set(cpu[k]),
                       key=lambda n: -(procs[k][n][1] if n in procs[k] else 0) - cpu[k][n] / 1e3)
        for i, name in enumerate(names):
            cnt, secs = procs[k][name] if name in procs[k] else (0, 0.0)
            print("| %s | %s | %s | %s | %s | %.1f |" % (
                k if i == 0 else "", "%.1f" % (wall[k] * 1000 / rounds) if i == 0 else "",
                name, "%.1f" % (cnt / rounds) if cnt else "", "%.1f" % (secs * 1000 / rounds)
                if cnt else "", cpu[k][name] * ms))


if __name__ == "__main__":
    main()
