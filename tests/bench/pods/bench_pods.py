#!/usr/bin/env python3
"""Pod benchmark: latencies of the CRI pod and container calls of uvmd's "ns"
driver, and memory at a node-sized load (issues 4 and 5).

One run, one fresh uvmd (its own socket, state and data roots, a busybox
image imported with `uvmd image import`, a bridge + host-local + portmap CNI
config on a private subnet and bridge):

1. hostNetwork pods (namespace_options.network = NODE): RunPodSandbox, then
   StopPodSandbox and RemovePodSandbox. No network namespace and no CNI: the
   "ns pods without CNI" figure.
2. The CNI ADD cost alone, by hand: `ip netns add` plus the conflist's
   plugins (bridge with host-local, then portmap) run with CNI_COMMAND=ADD,
   in a fresh namespace each time, then DEL.
3. --pods CNI pods, each with --ctrs sleeping containers: RunPodSandbox
   (split, from uvmd's debug log, into the part up to "network attached" =
   netns + CNI ADD and the rest), CreateContainer, StartContainer.
4. With all of them running: ListContainers, ListPodSandbox, PodSandboxStatus
   and ContainerStatus latency; uvmd and per-pod agent memory (VmRSS, and Pss
   from smaps_rollup, which splits shared pages among their users).
5. StopPodSandbox + RemovePodSandbox of every CNI pod.

Latencies are client-side wall times of one call at a time. Status and List
responses are received as raw bytes (not decoded by Python), so the figure
is uvmd plus the gRPC round trip, not Python's protobuf decoding.

Prints markdown tables; asserts nothing about time. Everything it starts is
stopped and removed on the way out, also on failure: pods, uvmd, the hand-made
namespaces, the bridge, the temp dir.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEG = os.path.abspath(os.path.join(HERE, "..", "..", "integration"))
sys.path.insert(0, INTEG)

import imagelib  # noqa: E402
from uvmdlib import Client, gen_stubs, pb  # noqa: E402

BRIDGE = "uvmdbench0"
SUBNET = "10.88.55"
NET_NAME = "uvmd-bench"
CNI_BIN = "/usr/lib/cni"
NETNS_PREFIX = "uvmdbench-"
MIB = 1024.0 * 1024.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ numbers


def pct(values, p):
    """Nearest-rank percentile: the smallest sample with at least p % of the
    samples at or below it (with 50 samples, p99 is the largest)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def ms_row(name, secs):
    v = [x * 1000.0 for x in secs]
    return "| %s | %d | %.2f | %.2f | %.2f | %.2f |" % (name, len(v), pct(v, 50), pct(v, 99),
                                                       statistics.mean(v), max(v))


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    r = fn(*args, **kw)
    return time.perf_counter() - t0, r


# ------------------------------------------------------------------ processes


def proc_kib(pid, key):
    """A "Key: N kB" field of /proc/<pid>/status, in KiB."""
    with open("/proc/%d/status" % pid) as fh:
        for ln in fh:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    raise RuntimeError("no %s in /proc/%d/status" % (key, pid))


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as fh:
        for ln in fh:
            if ln.startswith("Pss:"):
                return int(ln.split()[1])
    raise RuntimeError("no Pss in /proc/%d/smaps_rollup" % pid)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def agents_of(state_root):
    """PIDs of uvmd-agent processes serving pods under state_root."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        argv = cmdline(int(e))
        if argv and os.path.basename(argv[0]) == b"uvmd-agent" and any(
                state_root.encode() in a for a in argv):
            out.append(int(e))
    return out


def cpu_seconds(pid):
    """utime + stime of a process (fields 14 and 15 of stat)."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def descendants(root):
    """Every process under root (not root itself), from /proc."""
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                kids.setdefault(ppid_of(int(e)), []).append(int(e))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=60, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   (r.stderr or b"").decode(errors="replace")))
    return r


def log_times(log_path, needle):
    """{pod id: wall-clock time} of uvmd's JSON log records holding needle."""
    out = {}
    with open(log_path, "rb") as fh:
        for ln in fh:
            if needle.encode() not in ln:
                continue
            try:
                rec = json.loads(ln)
            except ValueError:
                continue
            pod, ts = rec.get("pod"), rec.get("time")
            if isinstance(pod, str) and isinstance(ts, str):
                t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
                out[pod] = t.replace(tzinfo=datetime.timezone.utc).timestamp()
    return out


# ------------------------------------------------------------------ CNI


def conflist(ipam_dir):
    """uvmd's default network (deploy/cni/install-default.sh) on a private
    bridge and /24, without masquerading so no NAT rules touch the host."""
    return {"cniVersion": "1.0.0", "name": NET_NAME, "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET + ".0/24"}]],
                  "dataDir": ipam_dir, "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def cni_plugin(conf, plugin, command, cid, netns, prev=None):
    """Run one plugin of the conflist the way a runtime does; the parsed
    result on ADD."""
    net = dict(plugin, name=conf["name"], cniVersion=conf["cniVersion"])
    if prev is not None:
        net["prevResult"] = prev
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=netns,
               CNI_IFNAME="eth0", CNI_PATH=CNI_BIN)
    r = run([os.path.join(CNI_BIN, plugin["type"])], input=json.dumps(net).encode(), env=env)
    return json.loads(r.stdout) if command == "ADD" and r.stdout.strip() else None


def cni_by_hand(conf, n):
    """Time `ip netns add` (+ lo up) and the conflist's ADD for n fresh
    namespaces, then its DEL (in reverse) + `ip netns del` for each.
    Returns (netns s, ADD s, DEL + netns del s)."""
    ns_t, add_t, del_t, made = [], [], [], []
    try:
        for i in range(n):
            name = "%s%d" % (NETNS_PREFIX, i)
            path = "/var/run/netns/" + name
            t0 = time.perf_counter()
            run(["ip", "netns", "add", name])
            made.append(name)
            run(["ip", "-n", name, "link", "set", "lo", "up"])
            t1 = time.perf_counter()
            prev = None
            for plugin in conf["plugins"]:
                prev = cni_plugin(conf, plugin, "ADD", "bench-%d" % i, path, prev)
            t2 = time.perf_counter()
            ns_t.append(t1 - t0)
            add_t.append(t2 - t1)
        while made:
            name = made[0]
            t0 = time.perf_counter()
            for plugin in reversed(conf["plugins"]):
                cni_plugin(conf, plugin, "DEL", "bench-" + name[len(NETNS_PREFIX):],
                           "/var/run/netns/" + name)
            run(["ip", "netns", "del", name])
            del_t.append(time.perf_counter() - t0)
            made.pop(0)
    finally:
        cni_by_hand_cleanup(conf, made)
    return ns_t, add_t, del_t


def cni_by_hand_cleanup(conf, names):
    for name in names:
        i = name[len(NETNS_PREFIX):]
        for plugin in reversed(conf["plugins"]):
            try:
                cni_plugin(conf, plugin, "DEL", "bench-%s" % i, "/var/run/netns/" + name)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                print("cleanup: CNI DEL %s: %s, ignoring" % (name, e), file=sys.stderr)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


# ------------------------------------------------------------------ uvmd


class Uvmd:
    """One uvmd with its own roots under workdir, logging JSON at debug level
    (the "network attached" record is the netns + CNI split point)."""

    def __init__(self, binary, workdir, conf):
        self.binary = binary
        self.workdir = workdir
        self.socket = os.path.join(workdir, "uvmd.sock")
        # Short: the agent's socket is STATE/pods/<64 hex>/agent.sock and
        # must fit in sun_path (108 bytes).
        self.state = os.path.join(workdir, "s")
        self.data = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "config.json")
        self.log_path = os.path.join(workdir, "uvmd.log")
        cni_dir = os.path.join(workdir, "cni")
        os.makedirs(cni_dir)
        with open(os.path.join(cni_dir, "10-bench.conflist"), "w") as fh:
            json.dump(conf, fh)
        with open(self.config, "w") as fh:
            json.dump({"cni_conf_dir": cni_dir, "cni_bin_dirs": [CNI_BIN]}, fh)
        self.proc = None
        self.client = None

    def base_args(self):
        return [self.binary, "--config", self.config, "--data-root", self.data]

    def import_image(self, archive):
        run(self.base_args() + ["image", "import", archive])

    def start(self, timeout=30):
        args = self.base_args() + ["--socket", self.socket, "--state-root", self.state,
                                   "--log-level", "debug", "--log-format", "json"]
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

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def network_attached(self):
        """{pod id: wall-clock time of its "network attached" record}."""
        return log_times(self.log_path, "network attached")

    def remove_all_pods(self):
        """Stop and remove whatever pods are left (cleanup; untimed)."""
        if not self.client:
            return
        try:
            items = self.client.rt("ListPodSandbox", timeout=30).items
        except Exception as e:  # a dead daemon: nothing to ask
            print("cleanup: ListPodSandbox: %s, ignoring" % e, file=sys.stderr)
            return
        for p in items:
            for method in ("StopPodSandbox", "RemovePodSandbox"):
                try:
                    self.client.rt(method, pod_sandbox_id=p.id, timeout=60)
                except Exception as e:
                    print("cleanup: %s %s: %s, ignoring" % (method, p.id, e), file=sys.stderr)

    def stop(self):
        if self.client:
            self.client.close()
            self.client = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ CRI


def pod_config(top, name, host_network):
    m = pb()
    cfg = m.PodSandboxConfig(
        metadata=m.PodSandboxMetadata(name=name, namespace="bench", uid="uid-" + name),
        hostname=name, log_directory=os.path.join(top, "logs", name), labels={"app": name})
    if host_network:
        cfg.linux.security_context.namespace_options.network = m.NODE
    return cfg


def ctr_config(image, name):
    m = pb()
    return m.ContainerConfig(metadata=m.ContainerMetadata(name=name),
                             image=m.ImageSpec(image=image), command=["/bin/sleep"],
                             args=["100000"], log_path=name + ".log", labels={"ctr": name})


def raw_call(c, method, req):
    """One call whose response stays undecoded bytes; returns its size."""
    return len(c.raw_unary(Client.RT + method, req.SerializeToString(), timeout=30))


def run_pods(u, top, prefix, n, host_network):
    """RunPodSandbox n times; returns [(pod id, config, wall start, secs)]."""
    out = []
    for i in range(n):
        cfg = pod_config(top, "%s%d" % (prefix, i), host_network)
        start = time.time()
        dt, resp = timed(u.client.rt, "RunPodSandbox", config=cfg, runtime_handler="runc",
                         timeout=120)
        out.append((resp.pod_sandbox_id, cfg, start, dt))
    return out


def stop_remove(u, pods):
    """StopPodSandbox then RemovePodSandbox of each pod: (stop s, remove s)."""
    st, rm = [], []
    for pod_id in pods:
        dt, _ = timed(u.client.rt, "StopPodSandbox", pod_sandbox_id=pod_id, timeout=120)
        st.append(dt)
        dt, _ = timed(u.client.rt, "RemovePodSandbox", pod_sandbox_id=pod_id, timeout=120)
        rm.append(dt)
    return st, rm


def start_containers(u, image, pods, per_pod):
    """CreateContainer + StartContainer of per_pod sleepers in every pod."""
    create, start, ids = [], [], []
    for pod_id, cfg, _, _ in pods:
        for j in range(per_pod):
            dt, resp = timed(u.client.rt, "CreateContainer", pod_sandbox_id=pod_id,
                             config=ctr_config(image, "sleep%d" % j), sandbox_config=cfg,
                             timeout=120)
            create.append(dt)
            dt, _ = timed(u.client.rt, "StartContainer", container_id=resp.container_id,
                          timeout=120)
            start.append(dt)
            ids.append(resp.container_id)
    return create, start, ids


def check_running(u, n_pods, n_ctrs):
    m = pb()
    pods = u.client.rt("ListPodSandbox", timeout=30).items
    ctrs = u.client.rt("ListContainers", timeout=30).containers
    ready = sum(1 for p in pods if p.state == m.SANDBOX_READY)
    running = sum(1 for x in ctrs if x.state == m.CONTAINER_RUNNING)
    if ready != n_pods or running != n_ctrs:
        raise RuntimeError("expected %d ready pods and %d running containers, found %d and %d"
                           % (n_pods, n_ctrs, ready, running))


def query_latencies(u, pod_ids, ctr_ids, calls):
    """calls of each read-only call, cycling through pods and containers."""
    m = pb()
    reqs = {
        "ListContainers": lambda i: m.ListContainersRequest(),
        "ListPodSandbox": lambda i: m.ListPodSandboxRequest(),
        "PodSandboxStatus": lambda i: m.PodSandboxStatusRequest(
            pod_sandbox_id=pod_ids[i % len(pod_ids)]),
        "ContainerStatus": lambda i: m.ContainerStatusRequest(
            container_id=ctr_ids[i % len(ctr_ids)]),
    }
    out = {}
    for method, make in reqs.items():
        for i in range(5):  # warm the channel and caches
            raw_call(u.client, method, make(i))
        times, size = [], 0
        c0 = cpu_seconds(u.proc.pid)
        for i in range(calls):
            dt, size = timed(raw_call, u.client, method, make(i))
            times.append(dt)
        out[method] = (times, size, (cpu_seconds(u.proc.pid) - c0) / calls)
    return out


def memory(u, n_pods):
    """uvmd's and the agents' VmRSS / Pss in KiB, and what else runs per pod."""
    agents = agents_of(u.state)
    if len(agents) != n_pods:
        raise RuntimeError("expected %d uvmd-agent processes, found %d" % (n_pods, len(agents)))
    rss = [proc_kib(p, "VmRSS") for p in agents]
    pss = [pss_kib(p) for p in agents]
    # What else each pod runs besides its agent, counted over all pods.
    others = {}
    for a in agents:
        for p in descendants(a):
            argv = cmdline(p)
            name = os.path.basename(argv[0]).decode(errors="replace") if argv and argv[0] else "?"
            others[name] = others.get(name, 0) + 1
    return {"uvmd_pid": u.proc.pid, "uvmd_rss": proc_kib(u.proc.pid, "VmRSS"),
            "uvmd_pss": pss_kib(u.proc.pid), "agent_rss": rss, "agent_pss": pss,
            "agent_ppids": sorted({ppid_of(p) for p in agents}), "others": others}


# ------------------------------------------------------------------ cleanup


def unmount_under(path):
    """Lazily unmount anything left mounted under path, deepest first, so the
    temp dir can be removed without reaching into a live mount."""
    with open("/proc/self/mountinfo") as fh:
        mps = [ln.split()[4] for ln in fh]
    for mp in sorted((m for m in mps if m.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def kill_leftover_agents(state_root):
    """Agents uvmd started for this run and left behind, by pid."""
    for pid in agents_of(state_root):
        print("cleanup: uvmd-agent %d still running, killing it" % pid, file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", default=os.environ.get("UVMD_BIN"),
                    required=not os.environ.get("UVMD_BIN"), help="uvmd binary ($UVMD_BIN)")
    ap.add_argument("--pods", type=int, default=110, help="CNI pods kept running (default 110)")
    ap.add_argument("--ctrs", type=int, default=3, help="sleeping containers per pod (3)")
    ap.add_argument("--host-pods", type=int, default=50, help="hostNetwork pods (50)")
    ap.add_argument("--calls", type=int, default=200, help="calls per List/Status kind (200)")
    ap.add_argument("--keep-log", metavar="FILE", help="copy uvmd's debug log (JSON lines) here")
    ap.add_argument("--cni-by-hand", type=int, default=20,
                    help="namespaces for the hand-run CNI ADD (20)")
    a = ap.parse_args()
    if not 1 <= a.pods <= 250:
        ap.error("--pods must be 1..250 (the /24 holds 253 addresses)")
    for k in ("ctrs", "host_pods", "calls", "cni_by_hand"):
        if not 1 <= getattr(a, k) <= 1000:
            ap.error("--%s must be 1..1000" % k.replace("_", "-"))
    if not os.access(a.uvmd, os.X_OK):
        ap.error("uvmd binary not found: %s" % a.uvmd)
    if os.geteuid() != 0:
        ap.error("needs root (namespaces, mounts, CNI)")
    for p in ("bridge", "host-local", "portmap"):
        if not os.access(os.path.join(CNI_BIN, p), os.X_OK):
            ap.error("CNI plugin missing: %s/%s" % (CNI_BIN, p))
    if os.path.exists("/sys/class/net/" + BRIDGE):
        ap.error("bridge %s already exists: is another run going, or left over?" % BRIDGE)

    # SIGTERM and SIGHUP unwind like Ctrl-C, so the cleanup below still runs.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="pb-", dir="/tmp")
    u = None
    try:
        res = bench(a, top)
        u = res.pop("uvmd")
        report(a, res)
    finally:
        if u is None:
            u = getattr(bench, "uvmd", None)
        if u is not None:
            u.remove_all_pods()
            u.stop()
            kill_leftover_agents(u.state)
            if a.keep_log:
                shutil.copyfile(u.log_path, a.keep_log)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


def bench(a, top):
    res = {"load0": loadavg()}
    img = imagelib.build_image(os.path.join(top, "image"), "single", archive=True)
    ipam = os.path.join(top, "ipam")
    conf = conflist(ipam)
    u = Uvmd(a.uvmd, top, conf)
    bench.uvmd = u  # for main's cleanup if anything below fails
    u.import_image(img.archive)
    u.start()

    # 1. hostNetwork pods, no netns, no CNI.
    host = run_pods(u, top, "host", a.host_pods, True)
    res["host_run"] = [p[3] for p in host]
    res["host_stop"], res["host_remove"] = stop_remove(u, [p[0] for p in host])

    # 2. CNI ADD alone, by hand, on the same conflist and bridge.
    res["hand_netns"], res["hand_add"], res["hand_del"] = cni_by_hand(conf, a.cni_by_hand)

    # 3. CNI pods with their containers.
    pods = run_pods(u, top, "pod", a.pods, False)
    res["cni_run"] = [p[3] for p in pods]
    attached = u.network_attached()
    net, rest = [], []
    for pod_id, _, start, dt in pods:
        if pod_id in attached:
            net.append(attached[pod_id] - start)
            rest.append(dt - net[-1])
    res["cni_run_net"], res["cni_run_rest"] = net, rest
    res["create"], res["start"], ctr_ids = start_containers(u, img.id, pods, a.ctrs)
    per_pod = []
    for i, p in enumerate(pods):
        k = i * a.ctrs
        per_pod.append(p[3] + sum(res["create"][k:k + a.ctrs]) + sum(res["start"][k:k + a.ctrs]))
    res["pod_ready"] = per_pod
    check_running(u, a.pods, a.pods * a.ctrs)

    # 4. Steady state.
    time.sleep(2)  # let agents and the log writers settle
    res["queries"] = query_latencies(u, [p[0] for p in pods], ctr_ids, a.calls)
    res["memory"] = memory(u, a.pods)
    check_running(u, a.pods, a.pods * a.ctrs)

    # 5. Tear down.
    res["cni_stop"], res["cni_remove"] = stop_remove(u, [p[0] for p in pods])
    left = agents_of(u.state)
    res["agents_left"] = len(left)
    res["uvmd"] = u
    res["load1"] = loadavg()
    return res


def report(a, r):
    print("machine: %d cores, kernel %s, %s; uvmd %s" % (
        os.cpu_count(), os.uname().release, time.strftime("%Y-%m-%d", time.gmtime()), a.uvmd))
    print("load average (1/5/15 min): %s at start, %s at the end" % (r["load0"], r["load1"]))
    print("CNI pods: %d, %d x `sleep 100000` each; hostNetwork pods: %d; %d calls per query\n"
          % (a.pods, a.ctrs, a.host_pods, a.calls))
    print("| call (ms) | n | p50 | p99 | mean | max |")
    print("|---|---|---|---|---|---|")
    print(ms_row("RunPodSandbox, hostNetwork (no netns, no CNI)", r["host_run"]))
    print(ms_row("RunPodSandbox, CNI (bridge + host-local + portmap)", r["cni_run"]))
    if r["cni_run_net"]:
        print(ms_row("  of which netns + CNI ADD (to \"network attached\")", r["cni_run_net"]))
        print(ms_row("  of which the rest", r["cni_run_rest"]))
    print(ms_row("by hand: `ip netns add` + lo up", r["hand_netns"]))
    print(ms_row("by hand: CNI ADD (bridge, then portmap)", r["hand_add"]))
    print(ms_row("by hand: CNI DEL (portmap, then bridge) + `ip netns del`", r["hand_del"]))
    print(ms_row("CreateContainer", r["create"]))
    print(ms_row("StartContainer", r["start"]))
    print(ms_row("CreateContainer + StartContainer",
                 [c + s for c, s in zip(r["create"], r["start"])]))
    print(ms_row("pod ready: RunPodSandbox + %d x (Create + Start)" % a.ctrs, r["pod_ready"]))
    for k, (times, size, _) in r["queries"].items():
        print(ms_row("%s at %d pods / %d containers (%d B reply)" % (
            k, a.pods, a.pods * a.ctrs, size), times))
    print(ms_row("StopPodSandbox, hostNetwork, no containers", r["host_stop"]))
    print(ms_row("RemovePodSandbox, hostNetwork", r["host_remove"]))
    print(ms_row("StopPodSandbox, CNI, %d running containers" % a.ctrs, r["cni_stop"]))
    print(ms_row("RemovePodSandbox, CNI", r["cni_remove"]))
    print(ms_row("StopPodSandbox + RemovePodSandbox, CNI",
                 [x + y for x, y in zip(r["cni_stop"], r["cni_remove"])]))
    print("\n| call at %d pods / %d containers | uvmd CPU per call (mean; %.0f ms ticks) |" % (
        a.pods, a.pods * a.ctrs, 1000.0 / CLK_TCK))
    print("|---|---|")
    for k, (_, _, cpu) in r["queries"].items():
        print("| %s | %.2f ms |" % (k, cpu * 1000.0))
    mem = r["memory"]
    print("\n| memory at %d pods / %d containers | VmRSS | Pss |" % (a.pods, a.pods * a.ctrs))
    print("|---|---|---|")
    print("| uvmd | %.1f MiB | %.1f MiB |" % (mem["uvmd_rss"] / 1024.0, mem["uvmd_pss"] / 1024.0))
    print("| uvmd-agent, mean per pod | %.2f MiB | %.2f MiB |" % (
        statistics.mean(mem["agent_rss"]) / 1024.0, statistics.mean(mem["agent_pss"]) / 1024.0))
    print("| uvmd-agent, max | %.2f MiB | %.2f MiB |" % (
        max(mem["agent_rss"]) / 1024.0, max(mem["agent_pss"]) / 1024.0))
    print("| uvmd-agent, all %d | %.1f MiB | %.1f MiB |" % (
        len(mem["agent_rss"]), sum(mem["agent_rss"]) / 1024.0, sum(mem["agent_pss"]) / 1024.0))
    print("\nprocesses under the agents: %s" % (", ".join(
        "%s x %d" % kv for kv in sorted(mem["others"].items())) or "none"))
    print("parents of the agents: %s (uvmd is %d)" % (mem["agent_ppids"], mem["uvmd_pid"]))
    print("uvmd-agent processes left after removing every pod: %d" % r["agents_left"])
    if r["cni_run_net"] and len(r["cni_run_net"]) != len(r["cni_run"]):
        print("note: %d of %d CNI pods had no \"network attached\" log record" % (
            len(r["cni_run"]) - len(r["cni_run_net"]), len(r["cni_run"])))


if __name__ == "__main__":
    main()
