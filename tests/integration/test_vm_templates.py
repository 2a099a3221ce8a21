"""VM templates (docs/templates.md): uvmd boots one VM per shape in the
background, saves it under <data_root>/templates/<key>/, and starts VM pods
from it. Clones must not share the template's identity: RNG, boot id, MAC.
TCG here: each test boots a template (a cold boot) and a few clones."""
import os
import shutil
import time

from conftest import uvmd_binary  # noqa: F401
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_ctr_config, _exec, _pod_config, _wait_for, pods_cleanup,  # noqa: F401
                       pods_daemon)
from test_vm_pods import _guest_dir, _ok, _qemu_pids, _start, _vm_pod

# VM pods started from one template, as the issue asks: a clone with its
# container is ready in well under a second now, and an idle one costs
# ~0.5 % of a core under TCG.
N_CLONES = 10
BUILD_TIMEOUT = 240  # a template is a cold boot, niced, on a loaded host


def _templates(d):
    root = os.path.join(d.data, "templates")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _ready_template(d, not_key=None):
    """Wait for a complete template (meta.json written last), bounded."""
    found = []

    def done():
        found[:] = [k for k in _templates(d) if k != not_key and
                    os.path.exists(os.path.join(d.data, "templates", k, "meta.json"))]
        return found and "template %s ready" % found[0] in d.log()
    _wait_for("a VM template", done, timeout=BUILD_TIMEOUT)
    return found[0]


def _cleanup(d):
    pods_cleanup(d)
    d.stop()


def test_pods_from_a_template_differ(daemon_factory, workdir, image_single):
    d = pods_daemon(daemon_factory, workdir, image_single, {"guest_dir": _guest_dir()})
    try:
        c = d.client()
        # uvmd is ready at once; the template comes later, in the background.
        assert c.rt("Status").status.conditions
        key = _ready_template(d)
        files = sorted(os.listdir(os.path.join(d.data, "templates", key)))
        assert files == ["console.log", "mem", "meta.json", "qemu.log", "state"], files
        pods, ctrs = [], []
        for i in range(N_CLONES):
            cfg = _pod_config(d, "tpl%d" % i)
            pod = _vm_pod(c, cfg)
            pods.append(pod)
            ctrs.append(_start(c, pod, cfg, _ctr_config(d, "c", "sleep 1000")))
        assert d.log().count("from the template") == N_CLONES, d.log()[-3000:]
        ids, macs, rnds, ips = set(), set(), set(), []
        for pod, cid in zip(pods, ctrs):
            ids.add(_ok(c, cid, "cat /proc/sys/kernel/random/boot_id"))
            macs.add(_ok(c, cid, "cat /sys/class/net/eth0/address"))
            rnds.add(_ok(c, cid, "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"))
            ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
            assert ip + "/" in _ok(c, cid, "ip -o -4 addr show eth0")
            ips.append(ip)
        assert len(ids) == N_CLONES and len(macs) == N_CLONES and len(rnds) == N_CLONES, \
            (ids, macs, rnds)
        # The template's MAC is nobody's: each guest took its pod's.
        assert "02:75:76:6d:64:00" not in macs
        # Each reachable from an ns pod on the same CNI network.
        ncfg = _pod_config(d, "nscli")
        npod = c.rt("RunPodSandbox", config=ncfg, runtime_handler="runc",
                    timeout=120).pod_sandbox_id
        cli = _start(c, npod, ncfg, _ctr_config(d, "cli", "sleep 1000"))
        for ip in ips:
            rc, out, err = _exec(c, cli, ["ping", "-c", "1", "-W", "5", ip], timeout=20)
            assert rc == 0, (ip, out, err)
        # The clock is the host's, not the template's.
        assert abs(int(_ok(c, ctrs[0], "date +%s")) - time.time()) < 30
        for pod in pods + [npod]:
            c.rt("StopPodSandbox", pod_sandbox_id=pod)
            c.rt("RemovePodSandbox", pod_sandbox_id=pod)
        assert _qemu_pids(d) == []
    finally:
        _cleanup(d)


def test_template_follows_the_guest_image(daemon_factory, workdir, image_single):
    """Another guest image is another key: the old template goes, a new one is
    made, and pods come from it."""
    guest = os.path.join(workdir, "guest")
    os.makedirs(guest)
    for f in ("vmlinux", "initrd.img"):
        shutil.copy(os.path.join(_guest_dir(), f), os.path.join(guest, f))
    d = pods_daemon(daemon_factory, workdir, image_single, {"guest_dir": guest})
    try:
        old = _ready_template(d)
        d.stop()
        # Zeros appended to the initramfs: the kernel skips them as padding,
        # so the guest boots the same, from other bytes.
        with open(os.path.join(guest, "initrd.img"), "ab") as f:
            f.write(bytes(512))
        d.start()
        new = _ready_template(d, not_key=old)
        assert new != old and _templates(d) == [new]
        c = d.client()
        cfg = _pod_config(d, "after")
        pod = _vm_pod(c, cfg)
        cid = _start(c, pod, cfg, _ctr_config(d, "c", "sleep 1000"))
        assert _ok(c, cid, "echo hi") == "hi"
        assert "from the template" in d.log()
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    finally:
        _cleanup(d)


def test_templates_off_cold_boot(daemon_factory, workdir, image_single):
    d = pods_daemon(daemon_factory, workdir, image_single,
                    {"guest_dir": _guest_dir(), "vm_templates": False})
    try:
        c = d.client()
        cfg = _pod_config(d, "cold")
        pod = _vm_pod(c, cfg)
        cid = _start(c, pod, cfg, _ctr_config(d, "c", "sleep 1000"))
        assert _ok(c, cid, "echo hi") == "hi"
        assert "cold boot" in d.log() and "VM templates are off" in d.log()
        assert _templates(d) == []
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    finally:
        _cleanup(d)
