"""Pods and containers through the CRI, with each runtime handler: `runc`
(the ns driver, the agent, real runc) and `uvm` (QEMU microVMs started from
a VM template, the agent inside them); real CNI plugins (bridge + host-local
on a private test subnet), images imported from archives the tests build
from busybox-static."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import grpc
import pytest

import leakcheck
from conftest import Daemon
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from uvmdlib import pb

SUBNET = "10.88.66"
BRIDGE = "uvmdtp0"
HANDLERS = ("runc", "uvm")


def _conflist(dirpath, ipam_dir):
    return {"cniVersion": "1.0.0", "name": "uvmd-test", "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "subnet": SUBNET + ".0/24", "dataDir": ipam_dir,
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def pods_daemon(daemon_factory, workdir, image_single, extra_config=None, sub=None):
    """A uvmd with the test CNI network and the busybox image imported."""
    if not os.path.exists("/usr/lib/cni/bridge"):
        # bazel/setup.sh installs them: missing means the setup is broken.
        pytest.fail("CNI plugins missing: /usr/lib/cni/bridge (run bazel/setup.sh)")
    top = os.path.join(workdir, sub) if sub else workdir
    cni = os.path.join(top, "cni")
    ipam = os.path.join(top, "ipam")
    os.makedirs(cni)
    with open(os.path.join(cni, "10-test.conflist"), "w") as f:
        json.dump(_conflist(cni, ipam), f)
    config = {"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]}
    config.update(extra_config or {})
    d = daemon_factory(config=config, sub=sub)
    import_archive(d, image_single.archive)
    d.image = image_single.config_digest
    d.ipam = ipam
    d.logs = os.path.join(top, "logs")
    return d


def import_archive(d, archive):
    """`uvmd image import` into d's store (the daemon may be running)."""
    r = subprocess.run([d.args()[0], "--config", os.path.join(d.workdir, "config.json"),
                        "--data-root", d.data, "image", "import", archive],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def pods_cleanup(d):
    """A failed test must not leave pods behind: they outlive uvmd by design."""
    if d.proc and d.proc.poll() is None:
        try:
            c = d.client()
            for p in c.rt("ListPodSandbox").items:
                c.rt("StopPodSandbox", pod_sandbox_id=p.id)
                c.rt("RemovePodSandbox", pod_sandbox_id=p.id)
        except grpc.RpcError:
            pass
    for prog in ("uvmd-agent", "qemu-system"):
        subprocess.run(["pkill", "-f", prog + ".*" + os.path.realpath(d.state)],
                       capture_output=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


@pytest.fixture
def pods(daemon_factory, workdir, image_single):
    """An ns-driver daemon (handler runc), new for each test."""
    d = pods_daemon(daemon_factory, workdir, image_single)
    d.handler = "runc"
    yield d
    pods_cleanup(d)


@pytest.fixture(scope="module", params=HANDLERS)
def handler(request):
    # Module scope: pytest runs a module's tests grouped by handler, so the
    # one VM daemon below lives only while the uvm tests run.
    return request.param


def _pod_procs(d):
    """Pod processes on the host, of either driver: ns pods' agents, VM
    pods' QEMU (template builds excepted: they run under the data root)."""
    roots = "(%s|%s)" % (d.state, os.path.realpath(d.state))
    out = subprocess.run(["pgrep", "-af", "(uvmd-agent|qemu-system).*" + roots],
                         capture_output=True, text=True).stdout
    return out.splitlines()


def _template_ready(d, timeout=240):
    """A VM template loaded or made since the daemon's last start (each
    start logs "ready on"; the builder "template <key> ready")."""
    def ready():
        log = d.log()
        made = len(re.findall(r"qemu: template \S+ ready \(", log))
        return made > 0 and made >= log.count(" ready on ")
    _wait_for("a VM template", ready, timeout=timeout)


@pytest.fixture(scope="module")
def vm_pods_daemon(image_single):
    """One uvm daemon for a module's uvm tests: its template (a cold boot,
    ~10 s under TCG) is made once, and every pod is a clone (~0.3 s)."""
    from test_vm_pods import _guest_dir
    wd = tempfile.mkdtemp(prefix="uvmd-", dir="/tmp")
    os.chmod(wd, 0o711)
    made = []

    def factory(config=None, sub=None):
        made.append(Daemon(wd, config=config))
        return made[-1].start()
    try:
        d = pods_daemon(factory, wd, image_single, {"guest_dir": _guest_dir()})
        d.handler = "uvm"
        _template_ready(d)
        yield d
    finally:
        rc, log = None, ""
        if made:
            pods_cleanup(made[0])
            rc, log = made[0].stop(), made[0].log()
        if not os.environ.get("UVMD_KEEP"):
            shutil.rmtree(wd, ignore_errors=True)
    # Leak reports from an ASan build make the exit code 66.
    assert rc in (0, None, -9), "uvmd exit code %s:\n%s" % (rc, log[-4000:])


def _vm_pods_reset(d, image_single):
    """What a test may leave in the shared VM daemon: a killed daemon, pods,
    a removed image."""
    if d.proc.poll() is not None:
        d.start()
    pods_cleanup(d)
    c = d.client()
    if not [i for i in c.img("ListImages").images if i.id == d.image]:
        import_archive(d, image_single.archive)


@pytest.fixture
def any_pods(handler, request, image_single):
    """A daemon with the test network and image, for the test's handler
    (d.handler): a new ns daemon for runc, the module's VM daemon for uvm."""
    if handler == "runc":
        yield request.getfixturevalue("pods")
        return
    d = request.getfixturevalue("vm_pods_daemon")
    _vm_pods_reset(d, image_single)
    _template_ready(d)
    yield d
    _vm_pods_reset(d, image_single)


def _pod_config(d, name="p1", **kw):
    m = pb()
    cfg = m.PodSandboxConfig(
        metadata=m.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name, attempt=0),
        hostname=name + "-host", log_directory=os.path.join(d.logs, name),
        dns_config=m.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"],
                               options=["ndots:5"]),
        labels={"app": name})
    for k, v in kw.items():
        getattr(cfg, k).CopyFrom(v)
    return cfg


def _run_pod(c, cfg, handler="runc"):
    # Tests name their handler: the default's driver depends on the node.
    return c.rt("RunPodSandbox", config=cfg, runtime_handler=handler, timeout=180).pod_sandbox_id


def _ctr_config(d, name, args, log=True):
    m = pb()
    return m.ContainerConfig(metadata=m.ContainerMetadata(name=name), image=m.ImageSpec(image=d.image),
                             command=["/bin/sh", "-c"], args=[args],
                             log_path=(name + ".log") if log else "", labels={"ctr": name})


def _create(c, pod_id, cfg, pod_cfg):
    return c.rt("CreateContainer", pod_sandbox_id=pod_id, config=cfg, sandbox_config=pod_cfg,
                timeout=120).container_id


def _exec(c, cid, cmd, timeout=10):
    r = c.rt("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout),
             timeout=timeout + 30)
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def _status(c, cid):
    return c.rt("ContainerStatus", container_id=cid).status


def _wait_state(c, cid, state, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        st = _status(c, cid)
        if st.state == state:
            return st
        time.sleep(0.1)
    raise AssertionError("container %s not in state %s: %s" % (cid, state, st))


def _wait_for(what, fn, timeout=15):
    """Wait until fn() is true (polling); fail naming what did not happen."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def _code(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


def _mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if path in ln]


def _ctr_leftovers(d, pod):
    """What a container takes on the host under its pod, of either driver:
    an ns pod's rootfs and volume mounts (pods/<id>/ctr/<ctr>), a VM pod's
    directory in the 9p share (pods/<id>/share/c/<ctr>) and its binds."""
    share = os.path.join(d.state, "pods", pod, "share", "c")
    return [ln for ln in _mounts_under(d.state) if "/ctr/" in ln or "/share/c/" in ln] + \
        (os.listdir(share) if os.path.isdir(share) else [])


def test_pod_lifecycle_two_containers(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    pod_cfg = _pod_config(d)
    pod = _run_pod(c, pod_cfg, d.handler)
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod, verbose=True).status
    assert st.state == m.SANDBOX_READY and st.metadata.name == "p1"
    assert st.network.ip.startswith(SUBNET + "."), st.network.ip
    assert dict(st.labels) == {"app": "p1"}
    items = c.rt("ListPodSandbox").items
    assert [p.id for p in items] == [pod]
    # The pod on the host: its agent (ns) or its QEMU (uvm), seen below to go.
    assert len(_pod_procs(d)) == 1, _pod_procs(d)

    a = _create(c, pod, _ctr_config(d, "a", "echo hello; echo oops >&2; printf partial; sleep 1000"),
                pod_cfg)
    b = _create(c, pod, _ctr_config(d, "b", "sleep 1000"), pod_cfg)
    assert _status(c, a).state == m.CONTAINER_CREATED
    c.rt("StartContainer", container_id=a)
    c.rt("StartContainer", container_id=b)
    assert _status(c, a).state == m.CONTAINER_RUNNING

    # Pod identity files and shared namespaces.
    assert _exec(c, a, ["cat", "/etc/hostname"])[1].strip() == "p1-host"
    resolv = _exec(c, a, ["cat", "/etc/resolv.conf"])[1]
    assert "10.96.0.10" in resolv and "ndots:5" in resolv and "default.svc.cluster.local" in resolv
    assert st.network.ip in _exec(c, a, ["cat", "/etc/hosts"])[1]
    for ns in ("net", "ipc", "uts"):
        na = _exec(c, a, ["/bin/busybox", "readlink", "/proc/self/ns/" + ns])[1]
        nb = _exec(c, b, ["/bin/busybox", "readlink", "/proc/self/ns/" + ns])[1]
        assert na == nb and na, ns
    assert _exec(c, a, ["sh", "-c", "exit 7"])[0] == 7
    code, msg = _code(lambda: _exec(c, a, ["sleep", "10"], timeout=1))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, msg
    # ...and the timed-out process is gone (it ran in a's PID namespace).
    _wait_for("the timed-out exec killed", lambda: "sleep 10" not in _exec(
        c, a, ["/bin/busybox", "ps", "-o", "args"])[1].splitlines(), timeout=10)

    # The CRI log: full lines as F, the partial line as P on exit.
    log = os.path.join(d.logs, "p1", "a.log")
    end = time.time() + 10
    while time.time() < end and "oops" not in open(log).read():
        time.sleep(0.1)
    text = open(log).read()
    assert re.search(r"^\S+ stdout F hello$", text, re.M), text
    assert re.search(r"^\S+ stderr F oops$", text, re.M), text

    # sh as PID 1 ignores SIGTERM: StopContainer escalates to SIGKILL.
    c.rt("StopContainer", pb().StopContainerRequest(container_id=a, timeout=1))
    sa = _status(c, a)
    assert sa.state == m.CONTAINER_EXITED and sa.exit_code == 137 and sa.reason == "Error"
    assert re.search(r"^\S+ stdout P partial$", open(log).read(), re.M)
    listed = {x.id: x.state for x in c.rt("ListContainers").containers}
    assert listed == {a: m.CONTAINER_EXITED, b: m.CONTAINER_RUNNING}
    f = m.ContainerFilter(pod_sandbox_id=pod, state=m.ContainerStateValue(state=m.CONTAINER_RUNNING))
    assert [x.id for x in c.rt("ListContainers", filter=f).containers] == [b]

    c.rt("RemoveContainer", container_id=a)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == m.SANDBOX_NOTREADY
    assert _status(c, b).state == m.CONTAINER_EXITED
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert list(c.rt("ListPodSandbox").items) == [] and list(c.rt("ListContainers").containers) == []
    # Idempotent.
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    c.rt("RemoveContainer", container_id=a)
    # Nothing left: mounts, netns, IP allocations, agent or QEMU processes,
    # the pod's directory (a VM pod's sockets and jail root in it).
    assert _mounts_under(d.state) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    ipfiles = [f for f in os.listdir(os.path.join(d.ipam, "uvmd-test"))
               if re.match(r"^\d+\.\d+\.\d+\.\d+$", f)] if os.path.exists(
        os.path.join(d.ipam, "uvmd-test")) else []
    assert ipfiles == []
    assert _pod_procs(d) == []


def test_container_exit_codes(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    pod_cfg = _pod_config(d, "p2")
    pod = _run_pod(c, pod_cfg, d.handler)
    ok = _create(c, pod, _ctr_config(d, "ok", "exit 0"), pod_cfg)
    bad = _create(c, pod, _ctr_config(d, "bad", "exit 3"), pod_cfg)
    c.rt("StartContainer", container_id=ok)
    c.rt("StartContainer", container_id=bad)
    s = _wait_state(c, ok, m.CONTAINER_EXITED)
    assert s.exit_code == 0 and s.reason == "Completed" and s.finished_at >= s.started_at > 0
    s = _wait_state(c, bad, m.CONTAINER_EXITED)
    assert s.exit_code == 3 and s.reason == "Error"
    code, _ = _code(lambda: c.rt("StartContainer", container_id=bad))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_container_with_the_kubelets_resources(any_pods):
    """Resources as a kubelet sends them with every container: a memory
    limit, swap equal to it, a 0 limit for each huge page size, in both an
    ns pod (runc on this host, no hugetlb controller mounted) and a VM pod
    (crun in the guest). The container runs and exits 0."""
    d, c, m = any_pods, any_pods.client(), pb()
    pod_cfg = _pod_config(d, "kres")
    pod = _run_pod(c, pod_cfg, d.handler)
    cfg = _ctr_config(d, "k", "exit 0")
    cfg.linux.resources.CopyFrom(m.LinuxContainerResources(
        memory_limit_in_bytes=32 << 20, memory_swap_limit_in_bytes=32 << 20, cpu_shares=2,
        hugepage_limits=[m.HugepageLimit(page_size=s, limit=0) for s in ("2MB", "1GB")]))
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    s = _wait_state(c, cid, m.CONTAINER_EXITED)
    assert s.exit_code == 0, s
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_bad_requests(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=m.PodSandboxConfig()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "metadata" in msg
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=_pod_config(d), runtime_handler="nope"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in msg
    code, _ = _code(lambda: _create(c, "f" * 64, _ctr_config(d, "x", "true"), _pod_config(d)))
    assert code == grpc.StatusCode.NOT_FOUND
    pod_cfg = _pod_config(d, "p3")
    pod = _run_pod(c, pod_cfg, d.handler)
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=pod_cfg, runtime_handler=d.handler))
    assert code == grpc.StatusCode.ALREADY_EXISTS, msg
    evil = _ctr_config(d, "evil", "true")
    evil.log_path = "../../escape.log"
    code, msg = _code(lambda: _create(c, pod, evil, pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "log_path" in msg
    noimg = _ctr_config(d, "noimg", "true")
    noimg.image.image = "sha256:" + "0" * 64
    code, _ = _code(lambda: _create(c, pod, noimg, pod_cfg))
    assert code == grpc.StatusCode.NOT_FOUND
    # The runtime refuses it: nothing of the container is left.
    nobin = _ctr_config(d, "nobin", "true")
    nobin.command[:] = ["/no/such/binary"]
    code, msg = _code(lambda: _create(c, pod, nobin, pod_cfg))
    # The runtime's own failure: INTERNAL, with its message.
    assert code == grpc.StatusCode.INTERNAL and "no/such/binary" in msg, msg
    assert list(c.rt("ListContainers").containers) == []
    assert _ctr_leftovers(d, pod) == []
    x = _create(c, pod, _ctr_config(d, "x", "sleep 100"), pod_cfg)
    code, _ = _code(lambda: _create(c, pod, _ctr_config(d, "x", "true"), pod_cfg))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    # The image is in use while the container exists.
    code, msg = _code(lambda: c.img("RemoveImage", image=m.ImageSpec(image=d.image)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and x in msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    code, msg = _code(lambda: _create(c, pod, _ctr_config(d, "y", "true"), pod_cfg))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not ready" in msg
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    c.img("RemoveImage", image=m.ImageSpec(image=d.image))


def test_uvmd_killed_pods_keep_running(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    pod_cfg = _pod_config(d, "p4")
    pod = _run_pod(c, pod_cfg, d.handler)
    ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    ticker = _create(c, pod, _ctr_config(d, "t", "i=0; while true; do echo tick $i; i=$((i+1)); "
                                                  "sleep 0.2; done"), pod_cfg)
    quitter = _create(c, pod, _ctr_config(d, "q", "sleep 2; exit 5"), pod_cfg)
    c.rt("StartContainer", container_id=ticker)
    c.rt("StartContainer", container_id=quitter)
    tlog = os.path.join(d.logs, "p4", "t.log")
    _wait_for("a tick before the kill", lambda: len(_lines(tlog)) >= 1)
    procs = _pod_procs(d)
    d.proc.kill()  # SIGKILL: no chance to clean up
    d.proc.wait()
    time.sleep(2.5)  # "q" exits and "t" prints while uvmd is away
    d.start()
    c = d.client()
    # The same agent or QEMU: taken back, not started again.
    assert _pod_procs(d) == procs and len(procs) == 1, (procs, _pod_procs(d))
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status
    assert st.state == m.SANDBOX_READY and st.network.ip == ip
    assert _status(c, ticker).state == m.CONTAINER_RUNNING
    q = _wait_state(c, quitter, m.CONTAINER_EXITED)
    assert q.exit_code == 5
    assert _exec(c, ticker, ["echo", "still here"])[1] == "still here\n"
    # The log has every tick, in order, across the restart.
    _wait_for("16 ticks", lambda: len(_lines(tlog)) > 16)
    lines = [ln.split(" ", 3)[3] for ln in _lines(tlog)]
    ticks = [int(x.split()[1]) for x in lines if x.startswith("tick")]
    assert ticks == list(range(len(ticks))) and len(ticks) > 15, ticks
    ipam = os.path.join(d.ipam, "uvmd-test")
    assert ip in os.listdir(ipam)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _mounts_under(d.state) == []
    # The restarted uvmd still released the address the first one took,
    # and stopped the agent or QEMU the first one started.
    assert ip not in os.listdir(ipam)
    assert _pod_procs(d) == []


def test_create_delete_cycles_leave_nothing(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    pid = d.proc.pid
    fds_before = len(os.listdir("/proc/%d/fd" % pid))
    before = leakcheck.snapshot(d)
    # Fewer VM pods: each costs ~1 s under TCG, where an ns pod costs ~0.1 s.
    n = int(os.environ.get("UVMD_CYCLES", "100" if d.handler == "runc" else "10"))
    pods_made = []
    for i in range(n):
        pod_cfg = _pod_config(d, "cyc%d" % i)
        pod = _run_pod(c, pod_cfg, d.handler)
        pods_made.append(pod)
        cid = _create(c, pod, _ctr_config(d, "c", "sleep 100"), pod_cfg)
        c.rt("StartContainer", container_id=cid)
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert list(c.rt("ListPodSandbox").items) == []
    assert _mounts_under(d.state) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    # No pod cgroup left in any hierarchy.
    left = [os.path.join(root, h, "uvmd", p) for root in ("/sys/fs/cgroup",)
            for h in os.listdir(root) for p in pods_made
            if os.path.isdir(os.path.join(root, h, "uvmd", p))]
    assert left == [], left[:3]
    assert len(os.listdir("/proc/%d/fd" % pid)) <= fds_before + 2
    assert _pod_procs(d) == []
    netns = os.path.join(d.state, "network", "netns")
    assert not os.path.exists(netns) or os.listdir(netns) == []
    ipam = os.path.join(d.ipam, "uvmd-test")
    assert not os.path.exists(ipam) or [f for f in os.listdir(ipam) if f.startswith(SUBNET)] == []
    # Nor anything else the leak checker knows (for VM pods: QEMU, taps in
    # the pods' netns, uvmd's console threads, files beside the template).
    # The bridge stays for the next pod, as on a node.
    leakcheck.assert_no_leaks(before, leakcheck.snapshot(d), ignore=[r"^link %s$" % BRIDGE])


def test_seccomp_profiles(any_pods, workdir):
    d, c, m = any_pods, any_pods.client(), pb()
    pod_cfg = _pod_config(d, "sec")
    pod = _run_pod(c, pod_cfg, d.handler)
    profile = os.path.join(workdir, "no-mkdir.json")
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, f)
    kinds = {"default": m.SecurityProfile(profile_type=m.SecurityProfile.RuntimeDefault),
             "none": m.SecurityProfile(profile_type=m.SecurityProfile.Unconfined),
             "local": m.SecurityProfile(profile_type=m.SecurityProfile.Localhost,
                                        localhost_ref=profile)}
    ids = {}
    for name, prof in kinds.items():
        cfg = _ctr_config(d, name, "sleep 1000")
        cfg.linux.security_context.seccomp.CopyFrom(prof)
        ids[name] = _create(c, pod, cfg, pod_cfg)
        c.rt("StartContainer", container_id=ids[name])

    def mode(cid):
        status = _exec(c, cid, ["cat", "/proc/self/status"])[1]
        return [ln.split()[1] for ln in status.splitlines() if ln.startswith("Seccomp:")][0]

    assert mode(ids["default"]) == "2" and mode(ids["local"]) == "2" and mode(ids["none"]) == "0"
    assert _exec(c, ids["local"], ["/bin/busybox", "mkdir", "/tmp/x"])[0] != 0
    assert _exec(c, ids["none"], ["/bin/busybox", "mkdir", "/tmp/x"])[0] == 0
    assert _exec(c, ids["default"], ["/bin/busybox", "mkdir", "/tmp/x"])[0] == 0
    # RuntimeDefault blocks what reaches past the container; Unconfined not.
    rc, _, err = _exec(c, ids["default"], ["/bin/busybox", "unshare", "-U", "true"])
    assert rc != 0 and "Operation not permitted" in err, err
    assert _exec(c, ids["none"], ["/bin/busybox", "unshare", "-U", "true"])[0] == 0
    bad = _ctr_config(d, "bad", "true")
    bad.linux.security_context.seccomp.CopyFrom(
        m.SecurityProfile(profile_type=m.SecurityProfile.Localhost, localhost_ref="/nonexistent.json"))
    code, msg = _code(lambda: _create(c, pod, bad, pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "/nonexistent.json" in msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_reopen_container_log(any_pods):
    d, c = any_pods, any_pods.client()
    pod_cfg = _pod_config(d, "rot")
    pod = _run_pod(c, pod_cfg, d.handler)
    cid = _create(c, pod, _ctr_config(d, "w", "i=0; while true; do echo line $i; i=$((i+1)); "
                                              "sleep 0.05; done"), pod_cfg)
    c.rt("StartContainer", container_id=cid)
    log = os.path.join(d.logs, "rot", "w.log")
    _wait_for("6 lines before rotation", lambda: len(_lines(log)) >= 6)
    os.rename(log, log + ".1")  # what the kubelet's rotation does
    c.rt("ReopenContainerLog", container_id=cid)
    _wait_for("6 lines in the new file", lambda: len(_lines(log)) >= 6)
    c.rt("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0))
    nums = []
    for path in (log + ".1", log):
        for ln in open(path).read().splitlines():
            nums.append(int(ln.split(" ", 3)[3].split()[1]))
    # Every line is in one of the two files, once, in order.
    assert nums == list(range(len(nums))) and len(nums) > 10
    assert os.path.getsize(log) > 0
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_shared_pid_namespace(any_pods):
    d, c, m = any_pods, any_pods.client(), pb()
    for share in (True, False):
        pod_cfg = _pod_config(d, "pid%d" % share)
        if share:
            pod_cfg.linux.security_context.namespace_options.pid = m.POD
        pod = _run_pod(c, pod_cfg, d.handler)
        a = _create(c, pod, _ctr_config(d, "a", "sleep 1000"), pod_cfg)
        b = _create(c, pod, _ctr_config(d, "b", "sleep 2000"), pod_cfg)
        c.rt("StartContainer", container_id=a)
        c.rt("StartContainer", container_id=b)
        ps = _exec(c, a, ["/bin/busybox", "ps", "-o", "args"])[1]
        if share:
            # b's process is visible from a; the namespace has its own PID 1,
            # the pod's holder: uvmd-pause as nobody (agent_pidns.c).
            assert "sleep 2000" in ps and "sleep 1000" in ps, ps
            one = _exec(c, a, ["cat", "/proc/1/status", "/proc/1/cmdline"])[1]
            assert re.search(r"^Uid:\s+65534\s", one, re.M) and one.endswith("uvmd-pause\0"), one
        else:
            assert "sleep 2000" not in ps, ps
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _pod_procs(d) == []


def test_state_root_through_a_symlink(handler, daemon_factory, workdir, image_single):  # noqa: F811
    """A state root named through a symlink (/var/run -> /run on Debian):
    uvmd works from its real path, so runc accepts the container's rootfs
    (QEMU's jail binds the pod's directory) and a removed pod leaves
    nothing mounted or running."""
    # Short names: a VM pod's sockets are below <state>/pods/<id>/.
    real = os.path.join(workdir, "real")
    os.makedirs(real)
    link = os.path.join(workdir, "link")
    os.symlink(real, link)
    # pods_daemon starts the daemon at once: the same set-up by hand.
    cni = os.path.join(workdir, "cni")
    ipam = os.path.join(workdir, "ipam")
    os.makedirs(cni)
    with open(os.path.join(cni, "10-test.conflist"), "w") as f:
        json.dump(_conflist(cni, ipam), f)
    config = {"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]}
    if handler == "uvm":
        from test_vm_pods import _guest_dir
        # One pod: a cold boot costs less than a template and a clone.
        config.update({"guest_dir": _guest_dir(), "vm_templates": False})
    d = daemon_factory(config=config, start=False)
    d.state = link
    d.start()
    import_archive(d, image_single.archive)
    d.image, d.ipam, d.logs = image_single.config_digest, ipam, os.path.join(workdir, "logs")
    try:
        c = d.client()
        assert "state root '%s' is '%s'" % (link, real) in d.log()
        before = leakcheck.snapshot(d)
        cfg = _pod_config(d, "ln")
        pod = _run_pod(c, cfg, handler)
        cid = _create(c, pod, _ctr_config(d, "c", "echo from-link; sleep 1000"), cfg)
        c.rt("StartContainer", container_id=cid)
        assert _exec(c, cid, ["cat", "/proc/1/cmdline"])[0] == 0
        # The pod's agent or QEMU was given the real path.
        procs = _pod_procs(d)
        assert procs and not [p for p in procs if link in p], procs
        # The leak checker sees the pod, named by real paths: its agent or
        # QEMU, its mounts (rootfs; a VM's share) besides its netns.
        during = leakcheck.leaked(before, leakcheck.snapshot(d))
        assert [p for p in during.get("processes", []) if "uvmd-agent" in p or "qemu" in p], during
        assert [x for x in during.get("mounts", []) if x.split()[1].startswith(real + "/pods/")], \
            during
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
        assert not _mounts_under(real) and not _mounts_under(link)
        assert _pod_procs(d) == [] and os.listdir(os.path.join(real, "pods")) == []
        leakcheck.assert_no_leaks(before, leakcheck.snapshot(d), ignore=[r"^link %s$" % BRIDGE])
    finally:
        pods_cleanup(d)
