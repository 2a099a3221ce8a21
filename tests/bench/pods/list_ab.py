#!/usr/bin/env python3
"""List calls of two uvmd builds, A/B, on the same running pods.

One set of --pods CNI pods with --ctrs sleeping containers each is made once
(kubelet-like labels and annotations); then each build in turn, for
--rounds rounds, is started on the same state root (it reattaches to the
running pods), times --calls of each List call one at a time, and is
stopped. Alternating the builds on the same pods shares out the noise of a
busy machine between them.

Per call kind and build: client wall time p50/p99 (undecoded response, so
the figure is uvmd plus the gRPC round trip) and uvmd's CPU per call over
the calls, all threads: from schedstat (ns) and from utime + stime (clock
ticks, coarse).

  tests/bench/pods/list_ab.py --a /tmp/before/service/uvmd --b /tmp/after/service/uvmd \\
      [--pods 110] [--ctrs 1] [--calls 400] [--rounds 2]

Each binary finds its agent at ../agent/uvmd-agent. Needs root, runc, the
CNI plugins (bridge, host-local, portmap) and python3-grpcio/grpc-tools; it
uses its own bridge (uvmdlist0) and subnet (10.88.57.0/24). Asserts nothing
about time. Everything it starts is removed on the way out.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("UVMD_PYGEN", tempfile.mkdtemp(prefix="listab-pygen-"))

import bench_pods as bp  # noqa: E402
import imagelib  # noqa: E402
from uvmdlib import Client, gen_stubs, pb  # noqa: E402

BRIDGE = "uvmdlist0"
SUBNET = "10.88.57"


def conflist(ipam_dir):
    c = bp.conflist(ipam_dir)
    c["name"] = "uvmd-listab"
    c["plugins"][0]["bridge"] = BRIDGE
    c["plugins"][0]["ipam"]["ranges"] = [[{"subnet": SUBNET + ".0/24"}]]
    return c


class Daemon(bp.Uvmd):
    """bp.Uvmd logging at info level: debug records per call would be
    measured too."""

    def start(self, timeout=60):
        args = self.base_args() + ["--socket", self.socket, "--state-root", self.state,
                                   "--log-level", "info"]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("uvmd exited with %s:\n%s" % (self.proc.returncode, self.tail()))
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


def pod_config(top, i):
    """A pod as the kubelet sends it: its labels and annotations."""
    m = pb()
    name = "web-7d4b9c-%05d" % i
    return m.PodSandboxConfig(
        metadata=m.PodSandboxMetadata(name=name, namespace="bench", uid="uid-%08d" % i),
        hostname=name, log_directory=os.path.join(top, "logs", name),
        labels={"app": "web", "pod-template-hash": "7d4b9c", "io.kubernetes.pod.name": name,
                "io.kubernetes.pod.namespace": "bench", "io.kubernetes.pod.uid": "uid-%08d" % i},
        annotations={"kubernetes.io/config.seen": "2024-01-01T00:00:00.000000000Z",
                     "kubernetes.io/config.source": "api"})


def ctr_config(image, pod_cfg, j):
    m = pb()
    name = "c%d" % j
    return m.ContainerConfig(
        metadata=m.ContainerMetadata(name=name), image=m.ImageSpec(image=image),
        command=["/bin/sleep"], args=["100000"], log_path=name + ".log",
        labels={"io.kubernetes.container.name": name,
                "io.kubernetes.pod.name": pod_cfg.metadata.name,
                "io.kubernetes.pod.namespace": "bench",
                "io.kubernetes.pod.uid": pod_cfg.metadata.uid},
        annotations={"io.kubernetes.container.hash": "1a2b3c4d",
                     "io.kubernetes.container.restartCount": "0",
                     "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
                     "io.kubernetes.container.terminationMessagePolicy": "File",
                     "io.kubernetes.pod.terminationGracePeriod": "30"})


def make_pods(u, top, image, n, per_pod):
    pods, ctrs = [], []
    for i in range(n):
        cfg = pod_config(top, i)
        pod = u.client.rt("RunPodSandbox", config=cfg, runtime_handler="runc",
                          timeout=120).pod_sandbox_id
        pods.append(pod)
        for j in range(per_pod):
            cid = u.client.rt("CreateContainer", pod_sandbox_id=pod,
                              config=ctr_config(image, cfg, j), sandbox_config=cfg,
                              timeout=120).container_id
            u.client.rt("StartContainer", container_id=cid, timeout=120)
            ctrs.append(cid)
    return pods, ctrs


def kinds(pods):
    m = pb()
    one = pods[len(pods) // 2]
    return [
        ("ListPodSandbox", "all", m.ListPodSandboxRequest()),
        ("ListContainers", "all", m.ListContainersRequest()),
        ("ListPodSandbox", "state=READY", m.ListPodSandboxRequest(
            filter=m.PodSandboxFilter(state=m.PodSandboxStateValue(state=m.SANDBOX_READY)))),
        ("ListContainers", "state=RUNNING", m.ListContainersRequest(
            filter=m.ContainerFilter(state=m.ContainerStateValue(state=m.CONTAINER_RUNNING)))),
        ("ListContainers", "pod_sandbox_id (1 pod)", m.ListContainersRequest(
            filter=m.ContainerFilter(pod_sandbox_id=one))),
        ("ListPodSandbox", "label (1 pod)", m.ListPodSandboxRequest(
            filter=m.PodSandboxFilter(label_selector={"io.kubernetes.pod.uid": "uid-%08d" % 1}))),
    ]


def cpu_ns(pid):
    """On-CPU time of every thread of pid, in ns (schedstat's first field):
    finer than utime + stime, which count in clock ticks."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def measure(u, reqs, calls):
    out = {}
    for method, what, req in reqs:
        for _ in range(20):  # warm the channel and caches
            bp.raw_call(u.client, method, req)
        times, size = [], 0
        c0, t0 = cpu_ns(u.proc.pid), bp.cpu_seconds(u.proc.pid)
        for _ in range(calls):
            dt, size = bp.timed(bp.raw_call, u.client, method, req)
            times.append(dt)
        out[(method, what)] = (times, size, (cpu_ns(u.proc.pid) - c0) / 1e9 / calls,
                               (bp.cpu_seconds(u.proc.pid) - t0) / calls)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="uvmd binary A (before)")
    ap.add_argument("--b", required=True, help="uvmd binary B (after)")
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--ctrs", type=int, default=1, help="containers per pod (1)")
    ap.add_argument("--calls", type=int, default=400, help="calls per kind, round and build")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    if not 1 <= a.pods <= 250:
        ap.error("--pods must be 1..250")
    if os.path.exists("/sys/class/net/" + BRIDGE):
        ap.error("bridge %s already exists: is another run going, or left over?" % BRIDGE)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="lab-", dir="/tmp")
    u = None
    try:
        img = imagelib.build_image(os.path.join(top, "image"), "single", archive=True)
        u = Daemon(a.a, top, conflist(os.path.join(top, "ipam")))
        u.import_image(img.archive)
        u.start()
        t0 = time.time()
        pods, ctrs = make_pods(u, top, img.id, a.pods, a.ctrs)
        print("made %d pods, %d containers in %.0f s" % (len(pods), len(ctrs), time.time() - t0),
              file=sys.stderr)
        u.stop()
        reqs = kinds(pods)
        res = {}
        for rnd in range(a.rounds):
            for label, binary in (("A", a.a), ("B", a.b)):
                u.binary = binary
                u.start()
                bp.check_running(u, len(pods), len(ctrs))
                load = bp.loadavg()
                r = measure(u, reqs, a.calls)
                for k, v in r.items():
                    acc = res.setdefault((k, label), [[], 0, [], [], []])
                    acc[0].extend(v[0])
                    acc[1] = v[1]
                    acc[2].append(v[2])
                    acc[3].append(load)
                    acc[4].append(v[3])
                u.stop()
                print("round %d %s done (load %s)" % (rnd, label, load), file=sys.stderr)
        report(a, reqs, res)
        u.start()
    finally:
        if u is not None:
            if u.client is None and (u.proc is None or u.proc.poll() is not None):
                try:
                    u.start()
                except Exception as e:
                    print("cleanup: restart: %s, ignoring" % e, file=sys.stderr)
            u.remove_all_pods()
            u.stop()
            bp.kill_leftover_agents(u.state)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        bp.unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


def report(a, reqs, res):
    print("%d pods x %d containers, %d calls x %d rounds per build and kind; load %s" % (
        a.pods, a.ctrs, a.calls, a.rounds, json.dumps(sorted({x for v in res.values()
                                                               for x in v[3]}))))
    print()
    print("| call | filter | build | bytes | wall p50 ms | wall p99 ms "
          "| uvmd CPU us/call (schedstat) | (utime+stime) |")
    print("|---|---|---|---|---|---|---|---|")
    for method, what, _ in reqs:
        for label in ("A", "B"):
            times, size, cpu, _, ticks = res[((method, what), label)]
            ms = [t * 1000.0 for t in times]
            print("| %s | %s | %s | %d | %.3f | %.3f | %.0f | %.0f |" % (
                method, what, label, size, bp.pct(ms, 50), bp.pct(ms, 99),
                1e6 * sum(cpu) / len(cpu), 1e6 * sum(ticks) / len(ticks)))


if __name__ == "__main__":
    main()
