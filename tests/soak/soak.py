#!/usr/bin/env python3
"""Soak (issue 15, part 4): many pod and container lifecycles from several
clients at once, then a leak check.

Each client thread has its own gRPC channel and runs cycles of
RunPodSandbox -> CreateContainer (busybox sleep under a shell that exits on
SIGTERM) -> StartContainer -> ExecSync (reads what the container wrote) ->
StopContainer -> ContainerStatus (exited, code 0) -> RemoveContainer ->
StopPodSandbox -> RemovePodSandbox. Any failed call is a failure, printed
with its cycle number; the run stops after a few of them.

As a script (tests/soak/run.sh) it starts its own uvmd with the ns driver,
a bridge + host-local + portmap CNI network on a private bridge and subnet
(uvmdsoak0, 10.88.99.0/24, apart from the integration tests' ones) and the
busybox test image. One warm-up round (a cycle per client, so every client's
gRPC worker and malloc arena exist) comes before the first snapshot of
tests/integration/leakcheck.py; after the cycles a second snapshot must show
nothing left (processes, mounts, netns, veths, cgroups, state and data
files, host-local leases, uvmd fds), uvmd's RSS must not have grown by more
than --rss-limit-mib, and uvmd must stop on SIGTERM with exit code 0 and no
sanitizer report in its log (run it against the ASan build with
ASAN_OPTIONS=detect_leaks=1 for the leak check of the heap). Per-call
p50/p99 and cycles/s are printed as information, never asserted.

tests/integration/test_soak.py runs a short soak with run_cycles() inside
the integration suite.
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEG = os.path.abspath(os.path.join(HERE, "..", "integration"))
if INTEG not in sys.path:
    sys.path.insert(0, INTEG)

import grpc  # noqa: E402

import leakcheck  # noqa: E402
from uvmdlib import Client, pb  # noqa: E402

BRIDGE = "uvmdsoak0"
SUBNET = "10.88.99"
NET_NAME = "uvmd-soak"
CNI_BIN = "/usr/lib/cni"
MIB = 1024.0
CALLS = ("RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync", "StopContainer",
         "ContainerStatus", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox")
# A shell that ends on SIGTERM: a bare sleep as PID 1 of its namespace
# ignores it and every stop would wait for the SIGKILL escalation. It says
# when its trap is set: StartContainer returns once runc has let the process
# go, not once the shell has run its first line.
SLEEPER = "trap 'exit 0' TERM; echo %s > /tmp/ready; sleep 1000 & wait"
# Waits for that, then shows what the container wrote.
READY = "until [ -e /tmp/ready ]; do sleep 0.01; done; cat /tmp/ready"
STOP_TIMEOUT = 10
MAX_FAILURES = 10


class CycleFailure(Exception):
    pass


# ------------------------------------------------------------------ numbers


def pct(values, p):
    """Nearest-rank percentile (with 100 samples, p99 is the 99th)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def daemon_figures(d):
    pid = d.proc.pid
    return leakcheck.rss_kib(pid), leakcheck.fds(pid)


# ------------------------------------------------------------------ cycles


class Result:
    def __init__(self):
        self.times = {k: [] for k in CALLS}
        self.failures = []  # "cycle N (client C): what"
        self.pod_ids = set()  # every pod made, for telling our cgroups apart
        self.done = 0
        self.wall = 0.0
        self.lock = threading.Lock()


def _call(c, times, method, req=None, timeout=60, **kw):
    t0 = time.perf_counter()
    try:
        r = c.rt(method, req, timeout=timeout, **kw)
    except grpc.RpcError as e:
        raise CycleFailure("%s: %s: %s" % (method, e.code().name, e.details())) from None
    times[method].append(time.perf_counter() - t0)
    return r


def one_cycle(c, image, logs, tag, times, handler="runc", pod_ids=None):
    """One pod with one container through its whole life; raises
    CycleFailure naming the call that failed. A pod left by a failure is
    stopped and removed here, best effort, so the leak check reports what
    uvmd itself leaves."""
    m = pb()
    name = "soak-" + tag
    pod_cfg = m.PodSandboxConfig(
        metadata=m.PodSandboxMetadata(name=name, namespace="soak", uid="uid-" + name, attempt=0),
        hostname=name, log_directory=os.path.join(logs, name), labels={"soak": tag})
    pod = _call(c, times, "RunPodSandbox", config=pod_cfg, runtime_handler=handler,
                timeout=120).pod_sandbox_id
    if pod_ids is not None:
        pod_ids.add(pod)
    try:
        ctr_cfg = m.ContainerConfig(metadata=m.ContainerMetadata(name="sleep"),
                                    image=m.ImageSpec(image=image), command=["/bin/sh", "-c"],
                                    args=[SLEEPER % tag], log_path="sleep.log")
        cid = _call(c, times, "CreateContainer", pod_sandbox_id=pod, config=ctr_cfg,
                    sandbox_config=pod_cfg, timeout=120).container_id
        _call(c, times, "StartContainer", container_id=cid)
        r = _call(c, times, "ExecSync",
                  m.ExecSyncRequest(container_id=cid, cmd=["/bin/sh", "-c", READY], timeout=10),
                  timeout=40)
        if r.exit_code != 0 or r.stdout != (tag + "\n").encode():
            raise CycleFailure("ExecSync: exit %d, stdout %r, stderr %r"
                               % (r.exit_code, r.stdout, r.stderr))
        _call(c, times, "StopContainer",
              m.StopContainerRequest(container_id=cid, timeout=STOP_TIMEOUT),
              timeout=STOP_TIMEOUT + 30)
        st = _call(c, times, "ContainerStatus", container_id=cid).status
        if st.state != m.CONTAINER_EXITED or st.exit_code != 0:
            raise CycleFailure("ContainerStatus after stop: state %s, exit code %d, reason %r"
                               % (m.ContainerState.Name(st.state), st.exit_code, st.reason))
        _call(c, times, "RemoveContainer", container_id=cid)
        _call(c, times, "StopPodSandbox", pod_sandbox_id=pod)
        _call(c, times, "RemovePodSandbox", pod_sandbox_id=pod)
        pod = None
    finally:
        if pod:
            for method in ("StopPodSandbox", "RemovePodSandbox"):
                try:
                    c.rt(method, pod_sandbox_id=pod, timeout=60)
                except grpc.RpcError:
                    pass
        shutil.rmtree(os.path.join(logs, name), ignore_errors=True)


def run_cycles(socket, image, logs, cycles, clients, report_every=0, report=None,
               handler="runc", first=0):
    """cycles cycles (numbered from first) shared by clients threads, each
    with its own channel. report(done) is called after every report_every
    completed cycles. Stops early after MAX_FAILURES failures."""
    res = Result()
    nxt = [first]
    stop = threading.Event()

    def worker(k):
        c = Client(socket)
        times = {m: [] for m in CALLS}
        ids = set()
        try:
            while not stop.is_set():
                with res.lock:
                    n = nxt[0]
                    if n >= first + cycles:
                        return
                    nxt[0] += 1
                try:
                    one_cycle(c, image, logs, "%d-%d" % (k, n), times, handler, ids)
                except CycleFailure as e:
                    msg = "cycle %d (client %d): %s" % (n, k, e)
                    print("FAIL " + msg, flush=True)
                    with res.lock:
                        res.failures.append(msg)
                        if len(res.failures) >= MAX_FAILURES:
                            stop.set()
                    continue
                with res.lock:
                    res.done += 1
                    done = res.done
                if report and report_every and done % report_every == 0:
                    report(done)
        finally:
            c.close()
            with res.lock:
                for m, v in times.items():
                    res.times[m].extend(v)
                res.pod_ids |= ids

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res.wall = time.perf_counter() - t0
    return res


def _master(link):
    r = subprocess.run(["ip", "-o", "link", "show", "dev", link], capture_output=True, text=True)
    f = r.stdout.split()
    return f[f.index("master") + 1] if "master" in f else None


def own_leaks(d, before, after, pod_ids, bridge):
    """leakcheck.leaked() limited to what this daemon can have made, so
    other runtimes and tests on the machine do not count: processes, files
    and leases are already under its own roots; mounts must be too; cgroups
    must name one of its pods; a host link must hang on its bridge (a
    pod's veth stays there until it is deleted); named netns are not its
    (the ns driver pins them in the state root). {kind: entries} of ours
    and, apart, of the others."""
    roots = (d.state, d.data, d.workdir)
    ours, others = {}, {}
    for kind, entries in leakcheck.leaked(before, after).items():
        for e in entries:
            if kind == "mounts":
                mine = any(e.split(" ", 1)[1].startswith(r) for r in roots)
            elif kind == "cgroups":
                mine = any(i in e for i in pod_ids)
            elif kind == "interfaces":
                mine = _master(e[5:].split("@")[0]) == bridge
            elif kind == "netns":
                mine = False
            else:
                mine = True
            (ours if mine else others).setdefault(kind, []).append(e)
    if before.fds is not None and after.fds is not None and after.fds > before.fds + 4:
        ours["uvmd fds"] = ["%d before, %d after" % (before.fds, after.fds)]
    return ours, others


def wait_no_leaks(d, before, pod_ids, bridge, timeout=5.0):
    """The second snapshot, taken again for a few seconds while it still
    shows something of ours: a runc or CNI child on its way out is not a
    leak. (after, ours, others)."""
    end = time.time() + timeout
    while True:
        after = leakcheck.snapshot(d)
        ours, others = own_leaks(d, before, after, pod_ids, bridge)
        if not ours or time.time() > end:
            return after, ours, others
        time.sleep(0.25)


def summary(res, clients, before=None, after=None):
    """Markdown lines: throughput, per-call latencies, daemon figures."""
    out = ["", "%d cycles (%d failed) with %d clients in %.1f s: %.2f cycles/s"
           % (res.done, len(res.failures), clients, res.wall, res.done / max(res.wall, 1e-9)),
           "", "| call | n | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for m in CALLS:
        v = [x * 1000.0 for x in res.times[m]]
        if v:
            out.append("| %s | %d | %.1f | %.1f | %.1f |" % (m, len(v), pct(v, 50), pct(v, 99),
                                                             max(v)))
    if before is not None and after is not None:
        out += ["", "uvmd RSS %.1f -> %.1f MiB (%+.1f MiB), fds %s -> %s"
                % (before.rss_kib / MIB, after.rss_kib / MIB,
                   (after.rss_kib - before.rss_kib) / MIB, before.fds, after.fds)]
    return out


# ------------------------------------------------------------------ script


def conflist(ipam_dir):
    """uvmd's default network shape on a private bridge and /24, without
    masquerading so no NAT rule touches the host."""
    return {"cniVersion": "1.0.0", "name": NET_NAME, "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET + ".0/24"}]],
                  "dataDir": ipam_dir, "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def private_binaries(workdir, exe):
    """Copies of uvmd and of the agent where uvmd looks for it
    (../agent/uvmd-agent) under workdir/bin, so that a rebuild during the
    run does not change what runs; the copy of uvmd."""
    exe = os.path.realpath(exe)
    here = os.path.dirname(exe)
    # Where uvmd looks: next to itself (a package), then Bazel's layout.
    agent = [a for a in (os.path.join(here, "uvmd-agent"),
                         os.path.join(here, "..", "agent", "uvmd-agent")) if os.path.exists(a)]
    if not agent:
        raise RuntimeError("no uvmd-agent next to %s" % exe)
    for src, rel in ((exe, "service/uvmd"), (agent[0], "agent/uvmd-agent")):
        os.makedirs(os.path.join(workdir, "bin", os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(workdir, "bin", rel))
    return os.path.join(workdir, "bin", "service", "uvmd")


def start_daemon(workdir):
    import imagelib
    from conftest import Daemon
    cni, ipam = os.path.join(workdir, "cni"), os.path.join(workdir, "ipam")
    os.makedirs(cni)
    with open(os.path.join(cni, "10-soak.conflist"), "w") as f:
        json.dump(conflist(ipam), f)
    img = imagelib.build_image(os.path.join(workdir, "image"), "single", archive=True)
    d = Daemon(workdir, config={"cni_conf_dir": cni, "cni_bin_dirs": [CNI_BIN]})
    d.ipam = ipam
    d.start()
    r = subprocess.run([d.args()[0], "--config", os.path.join(workdir, "config.json"),
                        "--data-root", d.data, "image", "import", img.archive],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("uvmd image import: " + r.stderr)
    return d, img.config_digest


def sanitizer_reports(log):
    return [ln for ln in log.splitlines()
            if "ERROR: LeakSanitizer" in ln or "ERROR: AddressSanitizer" in ln
            or "runtime error:" in ln]


def cleanup(d):
    """Whatever a failed run left: pods through the CRI, then any process
    under the roots by pid, the daemon, the bridge."""
    if d.proc and d.proc.poll() is None:
        try:
            c = d.client()
            for p in c.rt("ListPodSandbox", timeout=30).items:
                c.rt("StopPodSandbox", pod_sandbox_id=p.id, timeout=60)
                c.rt("RemovePodSandbox", pod_sandbox_id=p.id, timeout=60)
        except grpc.RpcError as e:
            print("cleanup: %s, ignoring" % e.details(), file=sys.stderr)
    if d.proc and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()
    for entry in leakcheck.processes([d.state, d.data, d.workdir]):
        try:
            os.kill(int(entry.split()[0]), signal.SIGKILL)
        except OSError:
            pass
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def soak(d, image, args):
    """The run itself on a started daemon; a list of failure lines."""
    logs = os.path.join(d.workdir, "logs")
    bad = []
    warm = run_cycles(d.socket, image, logs, args.clients, args.clients, first=-args.clients)
    if warm.failures:
        return ["warm-up: " + f for f in warm.failures]
    before = leakcheck.snapshot(d)
    print("after warm-up: uvmd RSS %.1f MiB, %d fds" % (before.rss_kib / MIB, before.fds),
          flush=True)

    def report(done):
        rss, fds = daemon_figures(d)
        print("%5d cycles: uvmd RSS %.1f MiB, %s fds" % (done, rss / MIB, fds), flush=True)

    res = run_cycles(d.socket, image, logs, args.cycles, args.clients, args.report_every, report)
    bad += res.failures
    after, ours, others = wait_no_leaks(d, before, res.pod_ids | warm.pod_ids, BRIDGE)
    print("\n".join(summary(res, args.clients, before, after)))
    if others:
        print("not ours (other runtimes or tests on this machine), ignored: %s"
              % {k: len(v) for k, v in others.items()})
    if ours:
        bad.append("leak check: left behind: %r" % ours)
    else:
        print("leak check: nothing left behind")
    growth = (after.rss_kib - before.rss_kib) / MIB
    if growth > args.rss_limit_mib:
        bad.append("uvmd RSS grew by %.1f MiB (limit %s MiB)" % (growth, args.rss_limit_mib))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--report-every", type=int, default=100)
    ap.add_argument("--rss-limit-mib", type=float, default=8.0)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (uvmd.log)")
    args = ap.parse_args()
    from uvmdlib import gen_stubs
    gen_stubs()
    for p in (BRIDGE,):
        if subprocess.run(["ip", "link", "show", p], capture_output=True).returncode == 0:
            sys.exit("bridge %s exists: another soak running, or left over (ip link del %s)"
                     % (p, p))
    workdir = tempfile.mkdtemp(prefix="uvmd-soak-", dir="/tmp")
    os.chmod(workdir, 0o711)
    d, bad = None, []
    try:
        os.environ["UVMD_BIN"] = private_binaries(workdir, os.environ["UVMD_BIN"])
        d, image = start_daemon(workdir)
        print("uvmd %s, pid %d, %d cycles, %d clients, work dir %s"
              % (d.args()[0], d.proc.pid, args.cycles, args.clients, workdir), flush=True)
        bad = soak(d, image, args)
        rc = d.stop(signal.SIGTERM, timeout=60)
        reports = sanitizer_reports(d.log())
        print("uvmd stopped with SIGTERM: exit code %s, %d sanitizer reports" % (rc, len(reports)))
        if rc != 0 or reports:
            bad.append("uvmd exit code %s on SIGTERM; %s" % (rc, reports[:5]))
    except Exception as e:  # noqa: BLE001 (report any setup failure the same way)
        bad.append("%s: %s" % (type(e).__name__, e))
    finally:
        if d:
            cleanup(d)
    for b in bad:
        print("FAILED: " + b)
    if bad or args.keep:
        print("work dir kept: %s (uvmd.log)" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("soak: %s" % ("FAILED" if bad else "passed"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
