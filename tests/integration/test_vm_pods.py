"""Pods as QEMU microVMs (the `uvm` handler, driver `qemu`), through the CRI:
the guest image from guest/ (bazel build //guest:image), TCG here (or KVM
where a guest was seen booting), containers run by the agent inside the VM.
Few boots: each test boots one or two VMs."""
import os
import subprocess
import time

import grpc
import pytest

from conftest import ROOT
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _lines, _mounts_under,  # noqa: F401
                       _pod_config, _status, _wait_for, _wait_state, pods_cleanup, pods_daemon)
from uvmdlib import pb

GUEST = os.path.join(ROOT, "bazel-bin", "guest")


@pytest.fixture
def vm(daemon_factory, workdir, image_single):
    if not os.path.exists(os.path.join(GUEST, "initrd.img")):
        pytest.fail("guest image not built: %s (bazel build //guest:image)" % GUEST)
    d = pods_daemon(daemon_factory, workdir, image_single, {"guest_dir": GUEST})
    yield d
    pods_cleanup(d)


def _vm_pod(c, cfg):
    t = time.time()
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm", timeout=180).pod_sandbox_id
    print("VM pod ready in %.1f s" % (time.time() - t))
    return pod


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def _qemu_pids(d):
    out = subprocess.run(["pgrep", "-f", "qemu-system.*" + d.state], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def _ok(c, cid, cmd):
    rc, out, err = _exec(c, cid, ["sh", "-c", cmd], timeout=30)
    assert rc == 0, (cmd, out, err)
    return out.strip()


def test_handler_uvm_is_offered(vm):
    st = vm.client().rt("Status", verbose=True)
    assert "uvm" in {h.name for h in st.runtime_handlers}


def test_vm_pod_lifecycle(vm, workdir):
    d, c, m = vm, vm.client(), pb()
    vol = os.path.join(workdir, "vol")
    os.makedirs(vol)
    with open(os.path.join(vol, "from-host"), "w") as f:
        f.write("host says hi\n")
    pod_cfg = _pod_config(d, "vm1")
    pod = _vm_pod(c, pod_cfg)
    assert len(_qemu_pids(d)) == 1
    ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    cfg = _ctr_config(d, "a", "echo started; sleep 1000")
    cfg.mounts.extend([m.Mount(container_path="/vol", host_path=vol)])
    a = _start(c, pod, pod_cfg, cfg)
    b = _start(c, pod, pod_cfg, _ctr_config(d, "b", "echo bye; exit 3"))

    # Inside a VM: its own kernel and boot id, the driver's command line.
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert _ok(c, a, "cat /proc/sys/kernel/random/boot_id") != f.read().strip()
    assert "rdinit=/init" in _ok(c, a, "cat /proc/cmdline")
    assert _ok(c, a, "hostname") == pod_cfg.hostname
    # The pod's address is the guest's, on the CNI network.
    assert ip and ip + "/" in _ok(c, a, "ip -o -4 addr show eth0 || ifconfig eth0")
    # A volume both ways.
    assert _ok(c, a, "cat /vol/from-host") == "host says hi"
    _ok(c, a, "echo vm says hi > /vol/from-vm")
    with open(os.path.join(vol, "from-vm")) as f:
        assert f.read() == "vm says hi\n"
    assert "10.96.0.10" in _ok(c, a, "cat /etc/resolv.conf")
    # Exit codes and logs.
    assert _wait_state(c, b, m.CONTAINER_EXITED).exit_code == 3
    blog = os.path.join(d.logs, "vm1", "b.log")
    _wait_for("b's line", lambda: any("bye" in ln for ln in _lines(blog)))

    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert _status(c, a).state == m.CONTAINER_EXITED
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _qemu_pids(d) == []
    assert _mounts_under(d.state) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    with open(os.path.join(vol, "from-host")) as f:
        assert f.read() == "host says hi\n"  # the share let go of the volume untouched


def test_vm_pod_restart_and_qemu_death(vm):
    d, c, m = vm, vm.client(), pb()
    pod_cfg = _pod_config(d, "vm2")
    pod = _vm_pod(c, pod_cfg)
    a = _start(c, pod, pod_cfg, _ctr_config(d, "t", "i=0; while true; do echo tick $i; "
                                                     "i=$((i+1)); sleep 0.2; done"))
    d.proc.kill()
    d.proc.wait()
    d.start()
    c = d.client()
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == m.SANDBOX_READY
    assert _ok(c, a, "echo still here") == "still here"
    # QEMU killed from outside: the pod is not ready, its container exited.
    for pid in _qemu_pids(d):
        os.kill(pid, 9)
    _wait_for("pod NOTREADY", lambda: c.rt("PodSandboxStatus", pod_sandbox_id=pod)
              .status.state == m.SANDBOX_NOTREADY, timeout=30)
    st = _wait_state(c, a, m.CONTAINER_EXITED)
    assert st.reason, st
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _mounts_under(d.state) == []


def test_vm_pod_refusals(vm):
    d, c, m = vm, vm.client(), pb()
    cfg = _pod_config(d, "hostnet")
    cfg.linux.security_context.namespace_options.network = m.NODE
    code, msg = _code(lambda: _vm_pod(c, cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "hostNetwork" in msg, msg
    assert list(c.rt("ListPodSandbox").items) == []
    assert _qemu_pids(d) == []
