"""Pod settings and call semantics the kubelet relies on, through the CRI
against a real uvmd: hostnames (empty means the node's; one the kernel would
refuse is refused first), pod sysctls applied in the pod's namespaces,
idempotent stop/remove of ids that name nothing, and deadlines reported as
DEADLINE_EXCEEDED."""
import os
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
