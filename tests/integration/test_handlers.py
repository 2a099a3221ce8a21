"""Runtime handlers and the default driver, through the CRI: only handlers
whose driver can run pods on this node are advertised, the default handler
runs pods on a node with or without /dev/kvm, and every other handler is
refused with a message naming it and the reason."""
import json
import os

import grpc
import pytest

from conftest import Daemon
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import _code, _pod_config, pods_cleanup, pods_daemon
from uvmdlib import pb


@pytest.fixture(params=["node", "no-kvm"])
def node(request, daemon_factory, workdir, image_single):
    # "no-kvm" hides the device from uvmd: the answers must not change,
    # since a device node alone proves nothing.
    extra = {} if request.param == "node" else {"kvm_device": "/nonexistent/kvm"}
    d = pods_daemon(daemon_factory, workdir, image_single, extra)
    yield d
    pods_cleanup(d)


def test_default_handler_runs_pods_anywhere(node):
    d, c, m = node, node.client(), pb()
    st = c.rt("Status", verbose=True)
    handlers = {h.name: h for h in st.runtime_handlers}
    # This daemon has no guest image: "uvm" is not offered, and no guest
    # was seen booting under KVM here either way, so "" is "ns".
    assert set(handlers) == {"", "runc"}, handlers
    info = json.loads(st.info["config"])
    assert info["defaultDriver"] == "ns"
    assert "qemu" in info["defaultDriverReason"] and "no guest image" in \
        info["defaultDriverReason"]
    assert info["runtimeHandlers"]["uvm"]["usable"] is False
    assert info["runtimeHandlers"]["runc"] == {"driver": "ns", "usable": True,
                                               "reason": info["runtimeHandlers"]["runc"]["reason"]}
    assert "default runtime handler: driver \"ns\"" in d.log()

    # No handler: the default driver runs it.
    cfg = _pod_config(d, "dflt")
    pod = c.rt("RunPodSandbox", config=cfg, timeout=120).pod_sandbox_id
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod, verbose=True)
    assert st.status.state == m.SANDBOX_READY
    assert json.loads(st.info["info"])["driver"] == "ns"
    assert st.status.runtime_handler == ""
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_other_handlers_refused_with_reason(node):
    d, c = node, node.client()
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=_pod_config(d, "u"),
                                   runtime_handler="uvm"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, msg
    assert '"uvm"' in msg and "no guest image in '/usr/lib/uvmd/guest'" in msg, msg
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=_pod_config(d, "k"),
                                   runtime_handler="kata-fc"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and '"kata-fc" is not configured' in msg, msg
    # Nothing was made for either.
    assert list(c.rt("ListPodSandbox").items) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []


def test_user_namespaces_not_advertised_are_refused(daemon_factory, workdir, image_single):
    # A state root a pod's root could not pass through (mode 0700 on the way):
    # the probe says so, the feature is not advertised, such pods are refused.
    os.chmod(workdir, 0o700)
    d = pods_daemon(daemon_factory, workdir, image_single)
    try:
        c, m = d.client(), pb()
        assert not any(h.features.user_namespaces for h in c.rt("Status").runtime_handlers)
        info = json.loads(c.rt("Status", verbose=True).info["config"])
        why = info["runtimeHandlers"]["runc"]["reason"]
        assert "no user namespaces" in why and "not searchable by others" in why, why
        cfg = _pod_config(d, "userns")
        opts = cfg.linux.security_context.namespace_options
        opts.userns_options.mode = m.POD
        opts.userns_options.uids.append(m.IDMapping(host_id=100000, container_id=0, length=65536))
        opts.userns_options.gids.append(m.IDMapping(host_id=100000, container_id=0, length=65536))
        code, msg = _code(lambda: c.rt("RunPodSandbox", config=cfg, runtime_handler="runc"))
        assert code == grpc.StatusCode.UNIMPLEMENTED and "user namespaces" in msg, msg
        assert list(c.rt("ListPodSandbox").items) == []
    finally:
        pods_cleanup(d)


def test_explicit_default_the_node_cannot_run(workdir):
    d = Daemon(workdir, config={"default_driver": "qemu"}).start(wait=False)
    try:
        assert d.proc.wait(timeout=30) != 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
    assert 'default_driver "qemu" cannot run pods here' in d.log(), d.log()
