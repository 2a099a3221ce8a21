"""Pods as QEMU microVMs (the `uvm` handler, driver `qemu`), through the CRI:
the guest image from guest/ (bazel build //guest:image), TCG here (or KVM
where a guest was seen booting), containers run by the agent inside the VM.
Few boots: each test boots one or two VMs."""
import json
import os
import subprocess
import time

import grpc
import pytest

from conftest import uvmd_binary
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from leakcheck import assert_no_leaks, leaked, snapshot
from test_pods import (BRIDGE, _code, _create, _ctr_config, _exec, _lines,  # noqa: F401
                       _mounts_under, _pod_config, _status, _wait_for, _wait_state, pods_cleanup,
                       pods_daemon)
from uvmdlib import pb


def _guest_dir():
    # Beside the uvmd under test: bazel-bin may point at another config's
    # outputs (the sanitizer build's).
    guest = os.path.join(os.path.dirname(os.path.dirname(uvmd_binary())), "guest")
    if not os.path.exists(os.path.join(guest, "initrd.img")):
        pytest.fail("guest image not built: %s (bazel build //guest:image)" % guest)
    return guest


@pytest.fixture
def vm(daemon_factory, workdir, image_single):
    d = pods_daemon(daemon_factory, workdir, image_single, {"guest_dir": _guest_dir()})
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


def _bridge_index():
    try:
        with open("/sys/class/net/%s/ifindex" % BRIDGE) as f:
            return int(f.read())
    except FileNotFoundError:
        return None


def _wait_served(c, cli, web, get, bridge):
    """Wait until get, run in the ns pod's cli, answers with the VM's page.
    A failure says what the last try saw, httpd's state, and whether the
    CNI bridge the pods were put on is still there: the VM answers within
    a second even on a loaded machine (0.07-0.54 s at load 3-7), so a wait
    that runs out is a cut network, such as another test run's cleanup
    deleting the shared bridge (integration runs must hold
    /tmp/uvmd-integ.lock)."""
    last = []

    def served():
        last[:] = _exec(c, cli, ["sh", "-c", get])
        return last[1].endswith("served-by-vm\n")
    try:
        _wait_for("httpd in the VM", served, timeout=30)
    except AssertionError as e:
        now = _bridge_index()
        cut = "" if now == bridge else (
            "; the bridge %s the pods were put on went meanwhile (ifindex %s, now %s): deleted by "
            "another test run?" % (BRIDGE, bridge, now))
        state = pb().ContainerState.Name(_status(c, web).state)
        raise AssertionError("%s: last try (exit code, stdout, stderr) %r, httpd %s%s"
                             % (e, tuple(last), state, cut)) from None


def test_handler_uvm_is_offered(vm):
    st = vm.client().rt("Status", verbose=True)
    assert "uvm" in {h.name for h in st.runtime_handlers}


def test_vm_pod_lifecycle(vm, workdir):
    d, c, m = vm, vm.client(), pb()
    vol = os.path.join(workdir, "vol")
    os.makedirs(vol)
    with open(os.path.join(vol, "from-host"), "w") as f:
        f.write("host says hi\n")
    before = snapshot(d)
    pod_cfg = _pod_config(d, "vm1")
    pod = _vm_pod(c, pod_cfg)
    qemu = _qemu_pids(d)
    assert len(qemu) == 1
    # The leak checker sees what a VM pod takes (so its verdict below means
    # something): QEMU, the pod's tap and veth, its cgroup, its files.
    during = leaked(before, snapshot(d))
    assert any("qemu-system" in p for p in during.get("processes", [])), during
    for kind in ("interfaces", "cgroups", "state files", "ip leases"):
        assert kind in during, (kind, during)
    # QEMU is in the pod's cgroup: its memory counts where the kubelet looks.
    with open("/proc/%d/cgroup" % qemu[0]) as f:
        groups = f.read()
    assert ":memory:/uvmd/%s/vm\n" % pod in groups
    if os.path.isdir("/sys/fs/cgroup/cpuset"):  # v1: a new cpuset needs cpus and mems
        assert ":cpuset:/uvmd/%s/vm\n" % pod in groups, groups
    # ...and keeps only the capabilities its 9p server needs.
    with open("/proc/%d/status" % qemu[0]) as f:
        bnd = int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)
    for cap in (12, 19, 21, 16):  # NET_ADMIN, SYS_PTRACE, SYS_ADMIN, SYS_MODULE
        assert not bnd & (1 << cap), hex(bnd)
    assert bnd & (1 << 0)  # CHOWN: 9p chowns for the guest
    # ...and lives in a mount namespace of its own, which shows the system's
    # programs and the pod's files, not the rest of the host.
    assert os.readlink("/proc/%d/ns/mnt" % qemu[0]) != os.readlink("/proc/self/ns/mnt")
    qroot = "/proc/%d/root" % qemu[0]
    assert "home" not in os.listdir(qroot) and "var" not in os.listdir(qroot)
    assert os.listdir(qroot + "/etc") == ["ld.so.cache"]
    assert os.path.exists(qroot + os.path.join(d.state, "pods", pod, "qmp.sock"))
    assert not os.path.exists(qroot + os.path.join(d.data, "images", "layers"))
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
    # The image's layers came as read-only disks: erofs images built once
    # under the image store, hot-plugged, mounted by the guest under
    # /run/layers, the rootfs an overlay of them.
    disks = os.path.join(d.data, "images", "disks")
    made = sorted(os.listdir(disks))
    assert made and all(n.endswith(".erofs") for n in made), made
    root = [ln for ln in _ok(c, a, "cat /proc/mounts").splitlines() if ln.split()[1] == "/"]
    assert root and "lowerdir=/run/layers/" in root[0], root
    assert os.listdir(os.path.join(d.state, "pods", pod, "disks")) == ["0"]
    # Exit codes and logs.
    assert _wait_state(c, b, m.CONTAINER_EXITED).exit_code == 3
    blog = os.path.join(d.logs, "vm1", "b.log")
    _wait_for("b's line", lambda: any("bye" in ln for ln in _lines(blog)))

    # The guest agent's records came on their own port: kept beside the pod
    # and passed on to uvmd's log with the pod id.
    with open(os.path.join(d.state, "pods", pod, "agent-guest.log")) as f:
        assert "guest ready" in f.read()
    assert "guest of pod %s: info  uvmd-agent: guest ready" % pod in d.log()

    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert _status(c, a).state == m.CONTAINER_EXITED
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _qemu_pids(d) == []
    assert _mounts_under(d.state) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    assert not os.path.exists("/sys/fs/cgroup/memory/uvmd/" + pod)
    with open(os.path.join(vol, "from-host")) as f:
        assert f.read() == "host says hi\n"  # the share let go of the volume untouched
    # The disks stay for the next pod, and go with the last image using them.
    assert sorted(os.listdir(disks)) == made
    c.img("RemoveImage", image=m.ImageSpec(image=d.image))
    assert os.listdir(disks) == []
    # Nothing else either. The bridge stays for the next pod, as on a node;
    # so does a VM template the daemon made in the background meanwhile
    # (docs/templates.md: kept until the guest image or QEMU changes).
    assert_no_leaks(before, snapshot(d), ignore=[r"^link uvmdtp0$", r"^templates(/|$)"])


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


def test_vm_pod_talks_to_ns_pod_and_host_port(vm):
    """A VM pod and an ns pod on the same CNI bridge reach each other, and a
    hostPort reaches an httpd in the VM."""
    import socket
    import urllib.request
    d, c, m = vm, vm.client(), pb()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vcfg = _pod_config(d, "vmweb")
    vcfg.port_mappings.append(m.PortMapping(protocol=m.TCP, container_port=8080, host_port=port,
                                            host_ip="127.0.0.1"))
    vpod = _vm_pod(c, vcfg)
    vip = c.rt("PodSandboxStatus", pod_sandbox_id=vpod).status.network.ip
    bridge = _bridge_index()
    web = _start(c, vpod, vcfg, _ctr_config(d, "httpd", "mkdir -p /www && echo served-by-vm > "
                                                        "/www/index.html && exec httpd -f -p "
                                                        "8080 -h /www"))
    ncfg = _pod_config(d, "nsclient")
    npod = c.rt("RunPodSandbox", config=ncfg, runtime_handler="runc", timeout=120).pod_sandbox_id
    nip = c.rt("PodSandboxStatus", pod_sandbox_id=npod).status.network.ip
    cli = _start(c, npod, ncfg, _ctr_config(d, "cli", "sleep 1000"))
    # busybox's static wget crashes on this libc: nc speaks the HTTP.
    get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s 8080" % vip
    _wait_served(c, cli, web, get, bridge)
    assert _exec(c, web, ["ping", "-c", "1", "-W", "5", nip])[0] == 0
    # Exec and PortForward sessions reach the guest through its agent, over
    # both transports.
    import asyncio
    import test_streaming as ts
    url = c.rt("Exec", container_id=web, cmd=["sh", "-c", "cat; exit 4"], stdin=True,
               stdout=True, stderr=True).url
    out, _, st = ts.ws_exec(url, stdin=b"to the guest and back")
    assert out == b"to the guest and back" and json.loads(st)["reason"] == "NonZeroExitCode"
    r = ts.spdylib.exec_(ts.spdylib.client(),
                         c.rt("Exec", container_id=web,
                              cmd=["cat", "/proc/sys/kernel/osrelease"], stdout=True,
                              stderr=True).url)
    assert r.stdout and r.stdout.strip() != os.uname().release.encode(), (r.code, r.notes,
                                                                            r.stderr)
    url = c.rt("PortForward", pod_sandbox_id=vpod, port=[8080]).url
    assert asyncio.run(ts._ws_forward(url, 8080, ts._get("/"))).endswith(b"served-by-vm\n")
    url = c.rt("PortForward", pod_sandbox_id=vpod, port=[8080]).url
    outs = ts.spdylib.port_forward(ts.spdylib.client(), url, 8080, [ts._get("/")] * 5)
    assert all(o.endswith(b"served-by-vm\n") for o in outs), outs
    assert urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10).read() == \
        b"served-by-vm\n"
    for pod in (vpod, npod):
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _qemu_pids(d) == []


def test_vm_containers_as_with_ns(vm):
    """Non-root, read-only rootfs, stats, resource updates and log reopening
    behave in a VM as they do with the ns driver."""
    d, c, m = vm, vm.client(), pb()
    pod_cfg = _pod_config(d, "vm3")
    pod = _vm_pod(c, pod_cfg)
    cfg = _ctr_config(d, "u", "while true; do echo line; sleep 0.5; done")
    cfg.linux.security_context.run_as_user.value = 1000
    cfg.linux.security_context.readonly_rootfs = True
    # An image volume: the image's layer disks, already attached for the
    # rootfs, mounted again read-only at /imgvol (a sub path of it at /bin2).
    cfg.mounts.extend([m.Mount(container_path="/imgvol", image=m.ImageSpec(image=d.image)),
                       m.Mount(container_path="/bin2", image=m.ImageSpec(image=d.image),
                               image_sub_path="bin")])
    u = _start(c, pod, pod_cfg, cfg)
    assert _ok(c, u, "id -u") == "1000"
    assert _ok(c, u, "test -x /imgvol/bin/sh && test -x /bin2/sh && echo yes") == "yes"
    assert _exec(c, u, ["sh", "-c", "touch /imgvol/x"])[0] != 0
    rc, _, err = _exec(c, u, ["sh", "-c", "echo x > /newfile"])
    assert rc != 0 and "Read-only file system" in err, err
    # Stats come from the guest's cgroup v2 files (crun has no "events").
    _wait_for("stats", lambda: c.rt("ContainerStats", container_id=u).stats.memory
              .working_set_bytes.value > 0, timeout=20)
    assert c.rt("ContainerStats", container_id=u).stats.cpu.usage_core_nano_seconds.value > 0
    c.rt("UpdateContainerResources", container_id=u,
         linux=m.LinuxContainerResources(memory_limit_in_bytes=64 << 20))
    assert _ok(c, u, "cat /sys/fs/cgroup/memory.max") == str(64 << 20)
    # ReopenContainerLog after the kubelet rotated the file.
    log = os.path.join(d.logs, "vm3", "u.log")
    _wait_for("a line", lambda: len(_lines(log)) > 0)
    os.rename(log, log + ".1")
    c.rt("ReopenContainerLog", container_id=u)
    _wait_for("a line in the new file", lambda: len(_lines(log)) > 0)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_vm_pod_guest_that_cannot_boot(daemon_factory, workdir, image_single):
    """A guest image whose initramfs is garbage: the kernel finds no init and
    the VM stops; RunPodSandbox says so, naming the console log, and leaves
    nothing behind."""
    good = _guest_dir()
    bad = os.path.join(workdir, "badguest")
    os.makedirs(bad)
    os.symlink(os.path.join(good, "vmlinux"), os.path.join(bad, "vmlinux"))
    with open(os.path.join(bad, "initrd.img"), "wb") as f:
        f.write(b"not a cpio archive" * 64)
    d = pods_daemon(daemon_factory, workdir, image_single, {"guest_dir": bad})
    try:
        c = d.client()
        code, msg = _code(lambda: _vm_pod(c, _pod_config(d, "nope")))
        assert code != grpc.StatusCode.OK and "console" in msg and "console.log" in msg, msg
        assert list(c.rt("ListPodSandbox").items) == []
        assert _qemu_pids(d) == []
        assert _mounts_under(d.state) == []
        assert os.listdir(os.path.join(d.state, "pods")) == []
    finally:
        pods_cleanup(d)


def test_state_root_too_long_for_vm_sockets(daemon_factory, workdir):
    """QEMU binds a VM pod's sockets below <state_root>/pods/<id>/: a state
    root too long for a unix socket address would fail every VM pod, so the
    handler is not offered and RunPodSandbox says why."""
    d = daemon_factory(config={"guest_dir": _guest_dir()}, start=False)
    d.state = os.path.join(workdir, "s" * 40)
    d.logs = os.path.join(workdir, "logs")
    d.start()
    c = d.client()
    st = c.rt("Status", verbose=True)
    assert "uvm" not in {h.name for h in st.runtime_handlers}
    why = json.loads(st.info["config"])["runtimeHandlers"]["uvm"]["reason"]
    assert "too long for a VM pod's unix sockets" in why, why
    code, msg = _code(lambda: c.rt("RunPodSandbox", config=_pod_config(d, "long"),
                                   runtime_handler="uvm"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "too long" in msg, msg
