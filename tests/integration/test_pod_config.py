"""Pod settings and call semantics the kubelet relies on, through the CRI
against a real uvmd: hostnames (empty means the node's; one the kernel would
refuse is refused first), pod sysctls applied in the pod's namespaces,
idempotent stop/remove of ids that name nothing, and deadlines reported as
DEADLINE_EXCEEDED."""
import json
import os
import subprocess
import socket
import threading
import time

import grpc
import pytest

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod,  # noqa: F401
                       pods)
from uvmdlib import pb


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def _nothing_made(d, c):
    assert list(c.rt("ListPodSandbox").items) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    netns = os.path.join(d.state, "network", "netns")
    assert not os.path.exists(netns) or os.listdir(netns) == []


def test_hostnames(pods):
    d, c, m = pods, pods.client(), pb()
    # A generated name longer than the kernel's 64 bytes, and no hostname:
    # the pod gets the node's name, as with containerd.
    name = "create-PodSandbox-for-container-0f5b7c2e-9a41-4d35-8c6e-3b2a1d0e9f87"
    assert len(name) > 64
    pod_cfg = _pod_config(d, "long")
    pod_cfg.metadata.name = name
    pod_cfg.hostname = ""
    pod = _run_pod(c, pod_cfg)
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == m.SANDBOX_READY
    cid = _start(c, pod, pod_cfg, _ctr_config(d, "h", "sleep 1000"))
    node = socket.gethostname()
    assert _exec(c, cid, ["/bin/busybox", "hostname"])[1].strip() == node
    assert _exec(c, cid, ["cat", "/etc/hostname"])[1].strip() == node
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)

    # Hostnames the kernel (or /etc/hosts) would refuse: refused up front.
    for bad, needle in (("h" * 65, "longer than 64 bytes"), ("bad_name!", "only letters"),
                        ("-lead", "only letters")):
        cfg = _pod_config(d, "bad")
        cfg.hostname = bad
        code, msg = _code(lambda: _run_pod(c, cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg, msg
        _nothing_made(d, c)


def _sysctl(c, cid, path):
    return _exec(c, cid, ["cat", "/proc/sys/" + path])[1].strip()


def _host_sysctl(path):
    with open("/proc/sys/" + path) as f:
        return f.read().strip()


def test_pod_sysctls(pods):
    d, c, m = pods, pods.client(), pb()
    host = {p: _host_sysctl(p) for p in ("kernel/shm_rmid_forced", "kernel/msgmax",
                                         "net/ipv4/ip_forward")}
    want = {"kernel.shm_rmid_forced": "1", "kernel.msgmax": "12345",
            "net.ipv4.ip_forward": "1" if host["net/ipv4/ip_forward"] == "0" else "0"}
    pod_cfg = _pod_config(d, "sysctl")
    for k, v in want.items():
        pod_cfg.linux.sysctls[k] = v
    pod = _run_pod(c, pod_cfg)
    a = _start(c, pod, pod_cfg, _ctr_config(d, "a", "sleep 1000"))
    b = _start(c, pod, pod_cfg, _ctr_config(d, "b", "sleep 1000"))
    for cid in (a, b):  # the pod's, so every container sees them
        for k, v in want.items():
            assert _sysctl(c, cid, k.replace(".", "/")) == v, k
    # The node is untouched.
    assert {p: _host_sysctl(p) for p in host} == host
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)

    # Not namespaced, or in a namespace the pod shares with the node: refused.
    cases = (({"vm.swappiness": "10"}, None, "not namespaced"),
             ({"kernel.panic": "5"}, None, "not namespaced"),
             ({"net.ipv4.ip_forward": "1"}, "network", "host's network"),
             ({"kernel.shm_rmid_forced": "1"}, "ipc", "host's IPC"),
             ({"net.ipv4.ip_forward": "1\nvm.swappiness=1"}, None, "one line"))
    for sysctls, node_ns, needle in cases:
        cfg = _pod_config(d, "badsysctl")
        for k, v in sysctls.items():
            cfg.linux.sysctls[k] = v
        if node_ns:
            setattr(cfg.linux.security_context.namespace_options, node_ns, m.NODE)
        code, msg = _code(lambda: _run_pod(c, cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg, (sysctls, msg)
        _nothing_made(d, c)


def test_stop_and_remove_of_unknown_ids_succeed(pods):
    d, c, m = pods, pods.client(), pb()
    for unknown in ("2c9a4e1f-7b3d-4c2a-9e8f-0123456789ab", "f" * 64, "not/an/id", "x" * 100):
        c.rt("StopPodSandbox", pod_sandbox_id=unknown)
        c.rt("RemovePodSandbox", pod_sandbox_id=unknown)
        c.rt("StopContainer", m.StopContainerRequest(container_id=unknown, timeout=1))
        c.rt("RemoveContainer", container_id=unknown)
    # Asking about one is NOT_FOUND, whatever its form.
    for unknown in ("2c9a4e1f-7b3d-4c2a-9e8f-0123456789ab", "f" * 64):
        code, _ = _code(lambda: c.rt("PodSandboxStatus", pod_sandbox_id=unknown))
        assert code == grpc.StatusCode.NOT_FOUND
        code, _ = _code(lambda: c.rt("ContainerStatus", container_id=unknown))
        assert code == grpc.StatusCode.NOT_FOUND
    # An empty id is still a bad request.
    code, _ = _code(lambda: c.rt("StopPodSandbox", pod_sandbox_id=""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


class BlackHole:
    """A TCP listener on loopback that accepts and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.conns = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for s in self.conns:
            s.close()


def test_deadlines_are_deadline_exceeded(daemon_factory):
    hole = BlackHole()
    try:
        reg = "127.0.0.1:%d" % hole.port
        d = daemon_factory(config={"workers": 1, "image_pull_timeout_ms": 3000,
                                   "insecure_registries": [reg]})
        c, m = d.client(), pb()
        pull = c.channel.unary_unary("/runtime.v1.ImageService/PullImage",
                                     request_serializer=lambda x: x.SerializeToString(),
                                     response_deserializer=m.PullImageResponse.FromString)
        # One pull holds the only worker; the next waits in the queue past
        # its deadline, then is answered.
        first = pull.future(m.PullImageRequest(image=m.ImageSpec(image=reg + "/a:1")), timeout=30)
        time.sleep(0.3)
        code, _ = _code(lambda: pull(m.PullImageRequest(image=m.ImageSpec(image=reg + "/b:1")),
                                     timeout=0.5))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(grpc.RpcError) as e:
            first.result()
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()
        end = time.time() + 10
        while time.time() < end and "PullImage: DEADLINE_EXCEEDED: deadline passed" not in d.log():
            time.sleep(0.1)
        log = d.log()
        assert "PullImage: DEADLINE_EXCEEDED: deadline passed before it ran" in log, log[-3000:]
        assert "PullImage: CANCELLED" not in log
    finally:
        hole.close()


def test_label_and_annotation_limits_survive_a_restart(pods):
    """One limit, enforced when the request arrives and the same as the
    loader's: what is accepted is there after a restart."""
    d, c, m = pods, pods.client(), pb()
    # At the limits: 256 labels; annotations of 512 KiB in all.
    pod_cfg = _pod_config(d, "big")
    for i in range(256):
        pod_cfg.labels["l%03d" % i] = "v"
    del pod_cfg.labels["l000"]
    pod_cfg.labels["app"] = "big"
    for i in range(4):
        pod_cfg.annotations["a%d" % i] = "x" * (128 * 1024 - 2)
    pod = _run_pod(c, pod_cfg)
    ctr_cfg = _ctr_config(d, "big", "sleep 1000")
    ctr_cfg.labels.clear()
    for i in range(256):
        ctr_cfg.labels["c%03d" % i] = "\x01" * 100  # escaped 6x in the record file
    cid = _start(c, pod, pod_cfg, ctr_cfg)
    d.proc.kill()
    d.proc.wait()
    d.start()
    c = d.client()
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status
    assert st.state == m.SANDBOX_READY and len(st.labels) == 256
    mine = {k: v for k, v in st.annotations.items() if k.startswith("a")}
    assert sum(len(v) for v in mine.values()) == 4 * (128 * 1024 - 2)
    cs = c.rt("ContainerStatus", container_id=cid).status
    assert cs.state == m.CONTAINER_RUNNING and len(cs.labels) == 256

    # Over them: refused up front, naming what is over.
    over = _pod_config(d, "over")
    for i in range(257):
        over.labels["l%03d" % i] = "v"
    code, msg = _code(lambda: _run_pod(c, over))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "labels: 258 entries" in msg, msg  # + app
    over = _pod_config(d, "over")
    over.annotations["huge"] = "x" * (1280 * 1024)
    code, msg = _code(lambda: _run_pod(c, over))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "annotations:" in msg, msg
    bad = _ctr_config(d, "over", "true")
    for i in range(300):
        bad.labels["c%03d" % i] = "v"
    code, msg = _code(lambda: _create(c, pod, bad, pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "labels: 301 entries" in msg, msg  # + ctr
    assert [x.id for x in c.rt("ListContainers").containers] == [cid]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def _running(marker):
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return out.strip() != ""


def test_unreadable_records_orphan_nothing(pods):
    """A record a restarted uvmd cannot read back must not leave what it
    described running unreported: that pod or container is destroyed."""
    d, c, m = pods, pods.client(), pb()
    a_cfg, b_cfg = _pod_config(d, "keepme"), _pod_config(d, "brokenpod")
    a, b = _run_pod(c, a_cfg), _run_pod(c, b_cfg)
    keep = _start(c, a, a_cfg, _ctr_config(d, "keep", "sleep 4710"))
    lost = _start(c, a, a_cfg, _ctr_config(d, "lost", "sleep 4711"))
    _start(c, b, b_cfg, _ctr_config(d, "gone", "sleep 4712"))
    b_ip = c.rt("PodSandboxStatus", pod_sandbox_id=b).status.network.ip
    assert all(_running("sleep %d" % n) for n in (4710, 4711, 4712))
    d.proc.kill()
    d.proc.wait()
    with open(os.path.join(d.state, "pods", a, "containers", lost + ".json"), "w") as f:
        f.write("{broken")
    with open(os.path.join(d.state, "pods", b, "pod.json"), "w") as f:
        f.write("not json")
    d.start()
    c = d.client()
    assert [p.id for p in c.rt("ListPodSandbox").items] == [a]
    assert [x.id for x in c.rt("ListContainers").containers] == [keep]
    assert _running("sleep 4710")
    end = time.time() + 10
    while time.time() < end and (_running("sleep 4711") or _running("sleep 4712")):
        time.sleep(0.1)
    assert not _running("sleep 4711") and not _running("sleep 4712")
    assert not os.path.exists(os.path.join(d.state, "pods", b))
    out = subprocess.run(["pgrep", "-f", "uvmd-agent.*" + b], capture_output=True, text=True)
    assert out.stdout.strip() == ""
    assert b_ip not in os.listdir(os.path.join(d.ipam, "uvmd-test"))
    c.rt("StopPodSandbox", pod_sandbox_id=a)
    c.rt("RemovePodSandbox", pod_sandbox_id=a)


def test_creation_cut_short_leaves_nothing(pods):
    """A record still marked creating (uvmd died inside RunPodSandbox) is
    finished as a failure on restart: its sandbox, address and directory go."""
    d, c = pods, pods.client()
    cfg = _pod_config(d, "cutshort")
    pod = _run_pod(c, cfg)
    ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    d.proc.kill()
    d.proc.wait()
    path = os.path.join(d.state, "pods", pod, "pod.json")
    with open(path) as f:
        rec = json.load(f)
    assert rec["state"] == "ready"
    rec["state"] = "creating"
    with open(path, "w") as f:
        json.dump(rec, f)
    d.start()
    c = d.client()
    assert [p.id for p in c.rt("ListPodSandbox").items] == []
    assert not os.path.exists(os.path.join(d.state, "pods", pod))
    end = time.time() + 10
    while time.time() < end and _running("uvmd-agent.*" + pod):
        time.sleep(0.1)
    assert not _running("uvmd-agent.*" + pod)
    assert ip not in os.listdir(os.path.join(d.ipam, "uvmd-test"))


def test_exec_sync_output_cut_is_said(pods):
    d, c = pods, pods.client()
    pod_cfg = _pod_config(d, "execcut")
    pod = _run_pod(c, pod_cfg)
    cid = _start(c, pod, pod_cfg, _ctr_config(d, "x", "sleep 1000"))
    limit = 256 * 1024
    rc, out, err = _exec(c, cid, ["sh", "-c", "head -c %d /dev/zero; echo ok >&2" % limit])
    assert rc == 0 and len(out) == limit and err == "ok\n"  # exactly the limit: whole
    rc, out, err = _exec(c, cid, ["sh", "-c", "head -c %d /dev/zero; yes e | head -c %d >&2"
                                  % (limit + 1000, limit + 5)])
    assert rc == 0 and len(out) == limit
    assert err.endswith("\nuvmd: ExecSync stdout cut at 262144 bytes\n"
                        "\nuvmd: ExecSync stderr cut at 262144 bytes\n"), err[-200:]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
