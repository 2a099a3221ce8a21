"""The guest image's Hyper-V mode, booted for real under QEMU: the agent
that is PID 1 of an hcs pod's VM listens on the vsock port the kernel
command line names (uvmd.bridge_vsock, set by the hcs driver) after trying
the Hyper-V module list, and a QEMU guest without the key never touches
that list. QEMU has no VMBus, so the Hyper-V modules fail here with a
warning and the host cannot connect (no vhost-vsock on this machine); what
is checked is what the guest does with the key. One short boot each."""
import os
import select
import subprocess
import time

import pytest

from conftest import uvmd_binary

PORT = 0x40000000
BASE = "console=ttyS0 panic=-1 quiet rdinit=/init"


def _guest_dir():
    guest = os.path.join(os.path.dirname(os.path.dirname(uvmd_binary())), "guest")
    if not os.path.exists(os.path.join(guest, "initrd.img")):
        pytest.fail("guest image not built: %s (bazel build //guest:image)" % guest)
    return guest


def _boot(append, until, timeout=90):
    """Boot the guest with append; its console until a line has until in
    it or QEMU ends. (lines, QEMU still running)."""
    g = _guest_dir()
    q = subprocess.Popen(
        ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", "256", "-nographic",
         "-nodefaults", "-no-reboot", "-serial", "stdio", "-kernel",
         os.path.join(g, "vmlinux"), "-initrd", os.path.join(g, "initrd.img"), "-append",
         BASE + " " + append],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, buf, end = [], b"", time.time() + timeout
    try:
        while time.time() < end:
            r, _, _ = select.select([q.stdout], [], [], 1)
            if not r:
                continue
            chunk = os.read(q.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [x.decode(errors="replace").strip() for x in done]
            if any(until in x for x in lines):
                break
        running = q.poll() is None
    finally:
        q.kill()
        q.wait()
    print("\n".join(lines))
    return lines, running


def _has(lines, text):
    return any(text in x for x in lines)


def test_hyperv_guest_listens_on_vsock():
    lines, running = _boot("uvmd.bridge_vsock=%d" % PORT, "guest ready")
    assert _has(lines, "guest ready, serving on vsock port %d" % PORT), lines
    assert running, "the agent must keep serving"
    # The Hyper-V list was tried (VMBus is not there under QEMU) and boot went on.
    assert _has(lines, "hv_vmbus.ko: No such device, going on"), lines
    assert not _has(lines, '"agent" port')


def test_qemu_guest_leaves_hyperv_alone():
    lines, running = _boot("", "guest ready")
    assert _has(lines, 'guest ready, serving on the "agent" port'), lines
    assert not _has(lines, "hv_"), "a QEMU guest must not load the Hyper-V modules"
    assert not _has(lines, "vsock")


@pytest.mark.parametrize("value", ["abc", "0", "4294967296"])
def test_bad_bridge_port_powers_off(value):
    lines, running = _boot("uvmd.bridge_vsock=" + value, "reboot: Power down", timeout=60)
    assert _has(lines, "guest start-up: kernel command line: uvmd.bridge_vsock is not a port "
                "number"), lines
    assert not _has(lines, "guest ready")
