"""The CRI workload run against each runtime, the same for both: lifecycle
calls one at a time, 10 pods made in parallel, and pods grown to each size
with List/Status latencies (through the C client cri_bench) and memory."""
import os
import subprocess
import threading
import time

from bench_pods import ctr_config, pod_config, timed
from runtimes import mem_of
from uvmdlib import Client, pb

RT = Client.RT


def new_pod(rt, top, name):
    """RunPodSandbox; (seconds, pod id, config). The pod's log directory is
    made first, as the kubelet does (containerd does not make it)."""
    cfg = pod_config(top, name, False)
    os.makedirs(cfg.log_directory, exist_ok=True)
    dt, resp = timed(rt.client.rt, "RunPodSandbox", config=cfg, runtime_handler=rt.handler,
                     timeout=120)
    return dt, resp.pod_sandbox_id, cfg


def new_ctr(rt, image, pod_id, cfg, name):
    """CreateContainer + StartContainer of a sleeper; (create s, start s, id)."""
    c, resp = timed(rt.client.rt, "CreateContainer", pod_sandbox_id=pod_id,
                    config=ctr_config(image, name), sandbox_config=cfg, timeout=120)
    s, _ = timed(rt.client.rt, "StartContainer", container_id=resp.container_id, timeout=120)
    return c, s, resp.container_id


def lifecycle(rt, image, top, n):
    """n rounds, one pod at a time: RunPodSandbox; container A created,
    started, ExecSync'd, stopped (timeout 0: SIGKILL, the sleeper is PID 1
    and ignores SIGTERM) and removed; container B created and started;
    StopPodSandbox with B running; RemovePodSandbox. {call: [seconds]}."""
    out = {k: [] for k in ("RunPodSandbox", "CreateContainer", "StartContainer", "Create+Start",
                           "ExecSync", "StopContainer", "RemoveContainer", "StopPodSandbox",
                           "RemovePodSandbox")}
    c = rt.client
    for i in range(n):
        dt, pod, cfg = new_pod(rt, top, "life%d" % i)
        out["RunPodSandbox"].append(dt)
        for name in ("a", "b"):
            cr, st, ctr = new_ctr(rt, image, pod, cfg, name)
            out["CreateContainer"].append(cr)
            out["StartContainer"].append(st)
            out["Create+Start"].append(cr + st)
            if name == "b":
                break
            dt, resp = timed(c.rt, "ExecSync", container_id=ctr, cmd=["/bin/true"], timeout=30)
            if resp.exit_code != 0:
                raise RuntimeError("%s: ExecSync /bin/true exited %d" % (rt.name, resp.exit_code))
            out["ExecSync"].append(dt)
            out["StopContainer"].append(stop_ctr(c, ctr))
            out["RemoveContainer"].append(timed(c.rt, "RemoveContainer", container_id=ctr,
                                                timeout=60)[0])
        out["StopPodSandbox"].append(timed(c.rt, "StopPodSandbox", pod_sandbox_id=pod,
                                           timeout=120)[0])
        out["RemovePodSandbox"].append(timed(c.rt, "RemovePodSandbox", pod_sandbox_id=pod,
                                             timeout=120)[0])
    return out


def stop_ctr(c, ctr):
    """StopContainer with the request's timeout field 0 (kill at once)."""
    req = pb().StopContainerRequest(container_id=ctr, timeout=0)
    return timed(c.rt, "StopContainer", req, timeout=60)[0]


def parallel(rt, image, top, n, rnd):
    """n threads at once, each RunPodSandbox + Create + Start on the shared
    channel (as the kubelet's one connection); wall seconds until all are
    running, then every pod removed (untimed)."""
    barrier = threading.Barrier(n + 1)
    errors, pods = [], []

    def one(i):
        try:
            barrier.wait()
            _, pod, cfg = new_pod(rt, top, "par%d-%d" % (rnd, i))
            pods.append(pod)
            new_ctr(rt, image, pod, cfg, "sleep")
        except Exception as e:  # reported after the join
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for pod in pods:
        rt.client.rt("StopPodSandbox", pod_sandbox_id=pod, timeout=120)
        rt.client.rt("RemovePodSandbox", pod_sandbox_id=pod, timeout=120)
    if errors:
        raise RuntimeError("%s: parallel pods: %s" % (rt.name, errors[0]))
    return wall


class Density:
    """Pods with one sleeping container each, grown size by size."""

    def __init__(self, rt, image, top):
        self.rt, self.image, self.top = rt, image, top
        self.pods, self.ctrs = [], []

    def grow(self, size):
        """Seconds to bring the pod count up to size."""
        t0 = time.perf_counter()
        while len(self.pods) < size:
            _, pod, cfg = new_pod(self.rt, self.top, "dens%d" % len(self.pods))
            self.pods.append(pod)
            self.ctrs.append(new_ctr(self.rt, self.image, pod, cfg, "sleep")[2])
        return time.perf_counter() - t0

    def check(self):
        """Every call still answers: the counts the runtime reports."""
        m = pb()
        pods = self.rt.client.rt("ListPodSandbox", timeout=30).items
        ctrs = self.rt.client.rt("ListContainers", timeout=30).containers
        ready = sum(1 for p in pods if p.state == m.SANDBOX_READY)
        running = sum(1 for x in ctrs if x.state == m.CONTAINER_RUNNING)
        if ready != len(self.pods) or running != len(self.ctrs):
            raise RuntimeError("%s: expected %d ready pods and %d running containers, found %d "
                               "and %d" % (self.rt.name, len(self.pods), len(self.ctrs), ready,
                                           running))

    def queries(self, cri_bench, reqdir, calls):
        """{method: (µs latencies, reply bytes)} from the C client."""
        m = pb()
        os.makedirs(reqdir, exist_ok=True)
        kinds = {
            "ListPodSandbox": [m.ListPodSandboxRequest()],
            "ListContainers": [m.ListContainersRequest()],
            "PodSandboxStatus": [m.PodSandboxStatusRequest(pod_sandbox_id=p) for p in self.pods],
            "ContainerStatus": [m.ContainerStatusRequest(container_id=x) for x in self.ctrs],
        }
        daemon = self.rt.memory()["daemon"][0]
        out = {"cpu": {}, "placed": {}}
        for method, reqs in kinds.items():
            files = []
            for i, r in enumerate(reqs):
                p = os.path.join(reqdir, "%s-%d.bin" % (method, i))
                with open(p, "wb") as fh:
                    fh.write(r.SerializeToString())
                files.append(p)
            ns0 = thread_cpu_ns(daemon)
            out[method] = c_client(cri_bench, self.rt.socket, RT + method, calls, files)
            out["cpu"][method] = (thread_cpu_ns(daemon) - ns0) / 1e3 / (calls + WARMUP)
            if method in LISTS and os.cpu_count() >= 2:
                out["placed"][method] = self.placed(cri_bench, RT + method, calls, files, daemon)
        return out

    def placed(self, cri_bench, path, calls, files, daemon):
        """{placement: µs latencies} with the daemon's threads and the client
        pinned to chosen CPUs. Left to the scheduler, a one-at-a-time caller
        and the daemon share a CPU for some blocks and not for others, and a
        wake-up across CPUs costs tens of µs on this VM (measured with
        Version): pinning takes that lottery out, the same for each runtime."""
        out = {}
        try:
            for name, dcpu, ccpu in PLACEMENTS:
                pin(daemon, dcpu)
                out[name] = c_client(cri_bench, self.rt.socket, path, calls, files, cpu=ccpu)[0]
        finally:
            pin(daemon, "0-%d" % (os.cpu_count() - 1))
        return out

    def memory(self):
        """{group: (n, RSS KiB, Pss KiB)}."""
        return {g: (len(pids),) + mem_of(pids) for g, pids in self.rt.memory().items()}

    def teardown(self):
        """StopPodSandbox (container running) + RemovePodSandbox of every
        pod; ([stop s], [remove s])."""
        st, rm = [], []
        while self.pods:
            pod = self.pods[-1]
            st.append(timed(self.rt.client.rt, "StopPodSandbox", pod_sandbox_id=pod,
                            timeout=120)[0])
            rm.append(timed(self.rt.client.rt, "RemovePodSandbox", pod_sandbox_id=pod,
                            timeout=120)[0])
            self.pods.pop()
            self.ctrs.pop()
        return st, rm


LISTS = ("ListPodSandbox", "ListContainers")
# (name, the daemon's CPUs, the client's CPU)
PLACEMENTS = (("same CPU", "0", "0"), ("other CPUs", "1", "0"))
WARMUP = 10


def pin(pid, cpus):
    """Every thread of pid onto cpus (taskset's list syntax)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def thread_cpu_ns(pid):
    """CPU time (ns) all of pid's threads have used so far."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as fh:
                total += int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def c_client(cri_bench, socket, path, calls, files, warmup=WARMUP, cpu=None):
    cmd = [cri_bench, socket, path, str(warmup), str(calls)] + files
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("cri_bench %s failed: %s" % (path, r.stderr.decode(errors="replace")))
    lines = r.stdout.decode().split()
    head = dict(kv.split("=") for kv in lines[0:3])
    return [float(x) for x in lines[3:]], int(head["reply_bytes"])
