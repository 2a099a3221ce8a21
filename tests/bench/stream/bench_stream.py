#!/usr/bin/env python3
"""Streaming benchmark (issue 12): the Exec round trip against ExecSync's,
and port-forward throughput against a direct connection to the pod.

One run, one fresh uvmd (ns driver) with the pod benchmark's private CNI
bridge, one pod with a container serving a --mib MiB file over busybox httpd
from its tmpfs:

1. --calls times each: ExecSync of `true`; Exec of `true` to its exit
   status over WebSocket (python3-websockets) and over SPDY (the Go client on
   Debian's spdystream, a process per call: its start is measured alone too);
   the Exec figures include the CRI call that hands out the URL.
2. The file fetched over a direct TCP connection to the pod's IP, then
   through PortForward over SPDY (the Go client) and over WebSocket, --runs
   times each (3 by default): MB/s (best and median), and the CPU time uvmd,
   the pod's agent and the client spent per run (medians), which says where
   the time goes on a shared, noisy machine better than the rate alone.
   --calls 0 skips the exec round trips, --runs 0 the port-forwards.

Prints markdown; asserts nothing about time.
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pods"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "stream"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))

import bench_pods as bp  # noqa: E402
import imagelib  # noqa: E402
import spdylib  # noqa: E402
import websockets.client  # noqa: E402
from uvmdlib import gen_stubs, pb  # noqa: E402


def pcts(secs):
    v = sorted(x * 1000.0 for x in secs)
    return bp.pct(v, 50), bp.pct(v, 90)


async def ws_true(url):
    async with websockets.client.connect("ws" + url[4:], subprotocols=["v5.channel.k8s.io"]) as ws:
        async for msg in ws:
            if msg[0] == 3:
                return msg


def get_bytes(sock, path):
    sock.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
    n = 0
    while True:
        b = sock.recv(1 << 20)
        if not b:
            return n
        n += len(b)


async def ws_forward(url, port, path):
    n = 0
    async with websockets.client.connect("ws" + url[4:] + "?ports=%d" % port,
                                         subprotocols=["v4.channel.k8s.io"],
                                         max_size=None) as ws:
        await ws.recv()
        await ws.recv()
        await ws.send(b"\x00" + ("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        try:
            async for msg in ws:
                if msg[0] == 0:
                    n += len(msg) - 1
        except websockets.exceptions.ConnectionClosed:
            pass
    return n


def cpu_now(u):
    """CPU seconds so far of uvmd, the pod's agent(s), this process and its
    waited-for children (the Go client)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    agent = 0.0
    for pid in bp.agents_of(u.state):
        try:
            agent += bp.cpu_seconds(pid)
        except OSError:
            pass
    return (bp.cpu_seconds(u.proc.pid), agent, me.ru_utime + me.ru_stime,
            kids.ru_utime + kids.ru_stime)


def cpu_used(u, before):
    """(uvmd, agent, client) CPU seconds since before."""
    now = cpu_now(u)
    d = [a - b for a, b in zip(now, before)]
    return d[0], d[1], d[2] + d[3]


def note(what):
    print("%s %s" % (time.strftime("%H:%M:%S"), what), file=sys.stderr, flush=True)


def bench(a, top):
    c_bin = spdylib.client()
    img = imagelib.build_image(os.path.join(top, "image"), "single", archive=True)
    u = bp.Uvmd(a.uvmd, top, bp.conflist(os.path.join(top, "ipam")))
    bench.uvmd = u
    u.import_image(img.archive)
    u.start()
    m = pb()
    pcfg = bp.pod_config(top, "sb", False)
    pod = u.client.rt("RunPodSandbox", config=pcfg, timeout=120).pod_sandbox_id
    ip = u.client.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    cfg = m.ContainerConfig(
        metadata=m.ContainerMetadata(name="web"), image=m.ImageSpec(image=img.config_digest),
        command=["/bin/sh", "-c"],
        args=["mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count=%d 2>/dev/null && "
              "exec httpd -f -p 8080 -h /www" % a.mib])
    cid = u.client.rt("CreateContainer", pod_sandbox_id=pod, config=cfg, sandbox_config=pcfg,
                      timeout=120).container_id
    u.client.rt("StartContainer", container_id=cid)
    res = {"load0": bp.loadavg()}
    for _ in range(100):  # httpd up, the file made
        try:
            with socket.create_connection((ip, 8080), timeout=2) as s:
                s.sendall(b"HEAD /big HTTP/1.0\r\n\r\n")
                if b"200 OK" in s.recv(4096):
                    break
        except OSError:
            pass
        time.sleep(0.2)

    note("pod ready, httpd up")
    res["execsync"] = [bp.timed(u.client.rt, "ExecSync", container_id=cid, cmd=["true"],
                                timeout=10)[0] for _ in range(a.calls)]
    ws, spdy, spdy_alone = [], [], []
    for _ in range(a.calls):
        t = time.time()
        url = u.client.rt("Exec", container_id=cid, cmd=["true"], stdout=True).url
        asyncio.run(ws_true(url))
        ws.append(time.time() - t)
        t = time.time()
        url = u.client.rt("Exec", container_id=cid, cmd=["true"], stdout=True,
                          stderr=True).url
        r = spdylib.exec_(c_bin, url)
        spdy.append(time.time() - t)
        assert r.status.get("status") == "Success", r.status
        t = time.time()
        subprocess.run([c_bin, "-h"], capture_output=True)
        spdy_alone.append(time.time() - t)
    res["ws"], res["spdy"], res["spdy_start"] = ws, spdy, spdy_alone
    if a.calls:
        note("exec round trips done")

    size = a.mib << 20
    for k in ("direct", "pf_spdy", "pf_ws"):
        res[k], res[k + "_cpu"] = [], []
    for _ in range(a.runs):
        c0, t = cpu_now(u), time.time()
        with socket.create_connection((ip, 8080)) as s:
            n = get_bytes(s, "/big")
        res["direct"].append((n, time.time() - t))
        res["direct_cpu"].append(cpu_used(u, c0))
        note("direct: %d bytes" % n)
        url = u.client.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url
        c0, t = cpu_now(u), time.time()
        p = subprocess.run([c_bin, "-url", url, "-proto", "portforward.k8s.io", "-port", "8080",
                            "-send", "GET /big HTTP/1.0\r\n\r\n", "portforward"],
                           capture_output=True, timeout=600)
        dt = time.time() - t
        res["pf_spdy"].append((json.loads(p.stdout.splitlines()[0])["len"], dt))
        res["pf_spdy_cpu"].append(cpu_used(u, c0))
        note("spdy: %d bytes" % res["pf_spdy"][-1][0])
        url = u.client.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url
        c0, t = cpu_now(u), time.time()
        n = asyncio.run(ws_forward(url, 8080, "/big"))
        res["pf_ws"].append((n, time.time() - t))
        res["pf_ws_cpu"].append(cpu_used(u, c0))
        note("ws: %d bytes" % n)
    for k in ("direct", "pf_spdy", "pf_ws"):
        assert all(n > size for n, _ in res[k]), (k, res[k])
    if not a.runs:
        note("port-forward skipped (--runs 0)")
    res["load1"] = bp.loadavg()
    return res


def report(a, r):
    if a.calls:
        print("Exec round trip of `true` (%d calls each; load %s -> %s)" % (a.calls, r["load0"],
                                                                           r["load1"]))
        print()
        print("| call | p50 ms | p90 ms | p50 / ExecSync p50 |")
        print("|---|---|---|---|")
        base = pcts(r["execsync"])[0]
        for name, k in (("ExecSync", "execsync"), ("Exec over WebSocket (URL + session)", "ws"),
                        ("Exec over SPDY (URL + Go client process)", "spdy"),
                        ("  the Go client's own start (`-h`)", "spdy_start")):
            p50, p90 = pcts(r[k])
            print("| %s | %.1f | %.1f | %.2f |" % (name, p50, p90, p50 / base))
        print()
    if not a.runs:
        return
    print("Port-forward of %d MiB from busybox httpd in the pod (%d runs each; load %s -> %s)"
          % (a.mib, a.runs, r["load0"], r["load1"]))
    print()
    print("| path | best MB/s | median MB/s | median / direct | CPU s: uvmd | agent | client |")
    print("|---|---|---|---|---|---|---|")
    direct = statistics.median(n / dt / 1e6 for n, dt in r["direct"])
    for name, k in (("direct TCP to the pod IP", "direct"), ("PortForward, SPDY (Go client)",
                                                              "pf_spdy"),
                    ("PortForward, WebSocket (python3-websockets)", "pf_ws")):
        rates = [n / dt / 1e6 for n, dt in r[k]]
        cpu = [statistics.median(c[i] for c in r[k + "_cpu"]) for i in range(3)]
        print("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |"
              % (name, max(rates), statistics.median(rates), statistics.median(rates) / direct,
                 *cpu))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", default=os.environ.get("UVMD_BIN"),
                    required=not os.environ.get("UVMD_BIN"), help="uvmd binary ($UVMD_BIN)")
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3, help="port-forward runs per path")
    a = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root")
    if os.path.exists("/sys/class/net/" + bp.BRIDGE):
        ap.error("bridge %s already exists: is another run going?" % bp.BRIDGE)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="sb-", dir="/tmp")
    try:
        report(a, bench(a, top))
    finally:
        u = getattr(bench, "uvmd", None)
        if u is not None:
            u.remove_all_pods()
            u.stop()
            bp.kill_leftover_agents(u.state)
        subprocess.run(["ip", "link", "del", bp.BRIDGE], capture_output=True)
        bp.unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
