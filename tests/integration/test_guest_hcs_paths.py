"""The agent's hcs-only paths run in a real guest kernel: the guest image
booted under QEMU (TCG) as the qemu driver boots it, the test speaking the
bridge to its agent over the "agent" virtio-serial port with the requests
the hcs driver sends (sandbox/drivers/hcs/scratch.c, pod.c, shares.c):

- a container's scratch disk ("Disk" with "Scratch": true; agent/scratch.c,
  guest_disks.c): a blank sparse disk hot-plugged on the SCSI controller
  is formatted ext4 and mounted read-write, nosuid, nodev; the container's
  overlay upper dir is on it (what it wrote is read back from the disk
  file on the host); a restarted host's second "Disk" keeps it, a "Remove"
  and a new "Disk" mount it again unformatted; a disk holding something
  else is refused and left as it was;
- "PodFiles" (agent/podfiles.c) bound into a container as ctr_win.c binds
  them;
- a container's user named in the create ("User"; agent/agent_user.c):
  resolved in its rootfs, the container run as it;
- the Plan9 mount's data (agent/plan9.c plan9_mount_data) given to the
  guest kernel's 9p client with trans=fd on a connected stream socket, as
  guest_plan9.c gives its vsock one: a TCP connection through QEMU's
  isolated user network to Debian's diod serving it on the host. The
  vsock connect itself needs a vsock host, which this machine lacks, and
  a virtio-serial port cannot stand in for the socket: 9p's fd transport
  writes with kernel_write, which a virtio console port refuses.

A QEMU guest does not load the Hyper-V module list; its non-Hyper-V part
(ext4 and its dependencies, 9pnet_fd) is appended to the boot list by a
second initramfs archive (guestvm.py). One boot for the whole file."""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import ROOT, uvmd_binary
from guestvm import AgentError, GuestVM, bind, image_files, initrd_with_modules, spec

EMEDIUMTYPE = 124
LAYER_LUN, SCRATCH_LUN, FOREIGN_LUN = 1, 2, 3
LAYER = "/run/layers/bb"
APPLETS = ["sh", "cat", "echo", "sleep", "mount", "umount", "mkdir", "ls", "sync", "test", "nc"]
P9_ADDR = ("10.0.2.100", 564)


def _guest_dir():
    guest = os.path.join(os.path.dirname(os.path.dirname(uvmd_binary())), "guest")
    if not os.path.exists(os.path.join(guest, "initrd.img")):
        pytest.fail("guest image not built: %s (bazel build //guest:image)" % guest)
    return guest


def _busybox_layer(work):
    """An erofs image of a busybox root, as a layer disk holds one."""
    root = os.path.join(work, "layer")
    os.makedirs(os.path.join(root, "bin"))
    for d in ("etc", "proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(root, d))
    # The image's users, resolved by the agent for an hcs pod.
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\nnot a line\napp:x:1000:1000::/:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nwheel:x:10:root,app\nshort:x:11\n")
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", a))
    img = os.path.join(work, "layer.erofs")
    subprocess.run(["mkfs.erofs", "--quiet", "--all-root", img, root], check=True)
    return img


def _hyperv_extras(guest):
    """The Hyper-V list's modules that a QEMU guest can load (not hv_*)."""
    text = image_files(guest, ["etc/uvmd/modules.hyperv"])["etc/uvmd/modules.hyperv"]
    return [m for m in text.decode().split() if not os.path.basename(m).startswith("hv_")]


@pytest.fixture(scope="module")
def vm():
    if not shutil.which("mkfs.erofs"):
        pytest.fail("mkfs.erofs missing (erofs-utils; bazel/setup.sh installs it)")
    guest = _guest_dir()
    work = tempfile.mkdtemp(prefix="uvmd-hcs-paths-")
    extras = _hyperv_extras(guest)
    initrd = os.path.join(work, "initrd.img")
    initrd_with_modules(guest, extras, initrd)
    v = GuestVM(guest, work, initrd, disks=[(LAYER_LUN, _busybox_layer(work), True)],
                forward=(P9_ADDR, os.path.join(work, "p9.sock")),
                append=os.environ.get("GUEST_APPEND", ""))
    v.extras = extras
    try:
        v.b = v.bridge()
        v.b.modify("Disk", {"Lun": LAYER_LUN, "Path": LAYER})
        # Looks at the agent's mount table (PID 1's, live) from a container.
        v.b.call("Create", ctr="look", Layers=[LAYER],
                 Spec=spec(["sleep", "3600"], [bind("/proc/1/mountinfo", "/g/mountinfo", "ro")]))
        v.b.call("Start", ctr="look")
        yield v
    finally:
        print(v.log())
        print(v.log(os.path.join(work, "qemu.err")))
        v.stop()
        shutil.rmtree(work, ignore_errors=True)


def _mounts(v):
    """The agent's mounts: {mount point: (options, fs type, source)}."""
    code, out, err = v.b.execute("look", ["cat", "/g/mountinfo"])
    assert code == 0, err
    found = {}
    for line in out.splitlines():
        left, right = line.split(" - ", 1)
        f, r = left.split(), right.split()
        found[f[4]] = (set(f[5].split(",")), r[0], r[1])
    return found


def _debugfs(img, request):
    return subprocess.run(["debugfs", "-R", request, img], capture_output=True, text=True,
                          check=True).stdout


def _uuid(img):
    out = subprocess.run(["dumpe2fs", "-h", img], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"^Filesystem UUID:\s+(\S+)", out, re.M).group(1)


def _run(v, ctr, args, mounts=(), privileged=False, timeout=60):
    """A container of the busybox layer run to its end: its exit code
    and what it wrote to stderr."""
    streams = v.b.call("Create", ctr=ctr, Layers=[LAYER], Spec=spec(args, mounts, privileged))
    v.b.call("Start", ctr=ctr)
    code = v.b.wait_exit(ctr, timeout)["ExitCode"]
    v.b.call("DeleteContainerState", ctr=ctr)
    return code, v.b.streams.get(streams["StderrStream"], b"").decode(errors="replace")


def test_scratch_disk_formatted_used_and_kept(vm):
    assert any(m.endswith("/ext4.ko") for m in vm.extras), "ext4 left the Hyper-V list"
    assert "sbin/mke2fs" in image_files(_guest_dir(), ["sbin/mke2fs"]), "no mke2fs in the image"
    img = os.path.join(vm.workdir, "scratch.img")
    with open(img, "wb") as f:  # what the hcs driver makes: sparse zeros
        f.truncate(1 << 30)
    vm.hotplug(SCRATCH_LUN, img)
    disk = {"Lun": SCRATCH_LUN, "Path": "/run/scratch/c1", "Scratch": True}
    vm.b.modify("Disk", disk)
    opts, fstype, _ = _mounts(vm)["/run/scratch/c1"]
    assert fstype == "ext4"
    assert {"rw", "nosuid", "nodev"} <= opts, opts
    # Lazy inode tables and journal: a 1 GiB format writes little.
    assert os.stat(img).st_blocks * 512 < (8 << 20), os.stat(img).st_blocks

    # The container's writable layer is the scratch disk.
    assert _run(vm, "c1", ["sh", "-c", "echo scratch-data > /written && sync"]) == (0, "")

    # A restarted host says it again: the mount stays, once.
    vm.b.close()
    vm.b = vm.bridge()
    vm.b.modify("Disk", disk)
    assert "/run/scratch/c1" in _mounts(vm)
    assert len([m for m in _mounts(vm) if m.startswith("/run/scratch/")]) == 1

    vm.b.modify("Disk", dict(disk, Remove=True))
    assert "/run/scratch/c1" not in _mounts(vm)
    assert _debugfs(img, "cat /upper/written") == "scratch-data\n"
    uuid = _uuid(img)

    # Mounted again (a new Disk of the same disk): found, not formatted.
    vm.b.modify("Disk", disk)
    assert "/run/scratch/c1" in _mounts(vm)
    assert _run(vm, "r1", ["sh", "-c", "test \"$(cat /s/upper/written)\" = scratch-data"],
                [bind("/run/scratch/c1", "/s", "ro")]) == (0, "")
    vm.b.modify("Disk", dict(disk, Remove=True))
    assert "/run/scratch/c1" not in _mounts(vm)
    assert _uuid(img) == uuid
    assert _debugfs(img, "cat /upper/written") == "scratch-data\n"
    vm.unplug(SCRATCH_LUN)


def test_scratch_refuses_a_disk_that_is_not_blank(vm):
    img = os.path.join(vm.workdir, "foreign.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
        f.seek(8192)
        f.write(b"someone's data")
    before = hashlib.sha256(open(img, "rb").read()).hexdigest()
    vm.hotplug(FOREIGN_LUN, img)
    with pytest.raises(AgentError) as e:
        vm.b.modify("Disk", {"Lun": FOREIGN_LUN, "Path": "/run/scratch/c2", "Scratch": True})
    assert e.value.result == -EMEDIUMTYPE, e.value
    assert "neither blank nor an ext file system: not formatted over" in e.value.msg
    assert "/run/scratch/c2" not in _mounts(vm)
    vm.unplug(FOREIGN_LUN)
    assert hashlib.sha256(open(img, "rb").read()).hexdigest() == before


def test_pod_files_in_a_container(vm):
    files = {"ResolvConf": "nameserver 10.88.66.1\nsearch pod.example\n",
             "Hosts": "127.0.0.1\tlocalhost\n10.88.66.7\tpodhost\n", "Hostname": "podhost\n"}
    vm.b.modify("PodFiles", files)
    # As sandbox/ctr_win.c pod_files_add binds them (HCS_GUEST_POD_FILES).
    binds = [bind("/run/uvmd/pod/" + n, "/etc/" + n, "rw")
             for n in ("hosts", "resolv.conf", "hostname")]
    vm.b.call("Create", ctr="p1", Layers=[LAYER], Spec=spec(["sleep", "3600"], binds))
    vm.b.call("Start", ctr="p1")
    for key, name in (("ResolvConf", "resolv.conf"), ("Hosts", "hosts"),
                      ("Hostname", "hostname")):
        code, out, err = vm.b.execute("p1", ["cat", "/etc/" + name])
        assert (code, out) == (0, files[key]), err
    # All or nothing: one missing, none written.
    with pytest.raises(AgentError) as e:
        vm.b.modify("PodFiles", {"ResolvConf": "nameserver 1.1.1.1\n", "Hosts": ""})
    assert "Hostname" in e.value.msg
    assert vm.b.execute("p1", ["cat", "/etc/resolv.conf"])[1] == files["ResolvConf"]
    vm.b.call("SignalProcess", ctr="p1", Signal=9, All=True)
    vm.b.wait_exit("p1")
    vm.b.call("DeleteContainerState", ctr="p1")


def test_user_resolved_in_the_guest(vm):
    """A named user as ctr_win.c sends it (an hcs pod's image is only in
    its VM): resolved against the container's rootfs by the agent, the
    container runs as it; an unknown one refused, naming it and the image."""
    r = vm.b.call("Create", ctr="u1", Layers=[LAYER], Spec=spec(["sleep", "3600"]),
                  User={"Username": "app", "Groups": [7], "Image": "bb"})
    assert r["User"] == {"Uid": 1000, "Gid": 1000, "Groups": [1000, 10, 7]}, r
    vm.b.call("Start", ctr="u1")
    code, out, err = vm.b.execute("u1", ["cat", "/proc/1/status"])
    assert code == 0, err
    assert "Uid:\t1000\t1000\t1000" in out and "Gid:\t1000\t1000\t1000" in out, out
    assert "Groups:\t7 10 \n" in out, out
    vm.b.call("SignalProcess", ctr="u1", Signal=9, All=True)
    vm.b.wait_exit("u1")
    vm.b.call("DeleteContainerState", ctr="u1")
    with pytest.raises(AgentError) as e:
        vm.b.call("Create", ctr="u2", Layers=[LAYER], Spec=spec(["true"]),
                  User={"Username": "ghost", "Image": "bb"})
    assert e.value.result == -22, e.value
    assert 'run_as_username "ghost": not in the image\'s /etc/passwd (image "bb")' in e.value.msg
    assert not any("/u2/" in m for m in _mounts(vm))


def _plan9_data(fd, name):
    """plan9_mount_data()'s string, from its source (tests/unit/agent/
    plan9_test.c pins the same)."""
    with open(os.path.join(ROOT, "agent", "plan9.c")) as f:
        fmt = re.search(r'snprintf\(buf, len, "(trans=fd[^"]*)"', f.read()).group(1)
    with open(os.path.join(ROOT, "agent", "plan9.h")) as f:
        msize = int(re.search(r"#define PLAN9_MSIZE (\d+)u", f.read()).group(1))
    return fmt % (fd, fd, msize, name)


def test_plan9_trans_fd_mount_in_the_guest(vm):
    diod = shutil.which("diod") or "/usr/sbin/diod"
    if not os.path.exists(diod):
        pytest.skip("diod not installed (apt-get install diod)")
    assert any(m.endswith("/9pnet_fd.ko") for m in vm.extras), "9pnet_fd left the Hyper-V list"
    export = os.path.join(vm.workdir, "export")
    share = os.path.join(export, "m0")
    os.makedirs(share)
    with open(os.path.join(share, "from-host"), "w") as f:
        f.write("host bytes\n")
    vm.b.modify("Network", {"Interfaces": [{"Mac": vm.MAC, "Mtu": 1500,
                                            "Addresses": ["10.0.2.15/24"]}]})
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(os.path.join(vm.workdir, "p9.sock"))
    # diod serves the one connection on its fd, every user as root, its
    # protocol traced to the log; the access name is diod's export path
    # (Hyper-V's server takes a share's name: the same field).
    with open(os.path.join(vm.workdir, "diod.log"), "wb") as log:
        server = subprocess.Popen(
            [diod, "-f", "-n", "-S", "-U", "root", "-d", "1", "-c", "/dev/null", "-e", export,
             "-L", "stderr", "--rfdno=%d" % conn.fileno(), "--wfdno=%d" % conn.fileno()],
            pass_fds=[conn.fileno()], stderr=log)
    try:
        # nc hands the connected stream socket to the script as fd 0, as
        # guest_plan9.c hands its vsock socket to mount(2).
        script = ("set -e; mkdir -p /p9; mount -t 9p -o %s m0 /p9; "
                  "test \"$(cat /p9/from-host)\" = 'host bytes'; "
                  "echo guest bytes > /p9/from-guest; umount /p9" % _plan9_data(0, share))
        code, err = _run(vm, "n1", ["nc", P9_ADDR[0], str(P9_ADDR[1]), "-e", "sh", "-c", script],
                         privileged=True)
        with open(os.path.join(vm.workdir, "diod.log"), errors="replace") as f:
            log = f.read()
        assert code == 0, err + log
        with open(os.path.join(share, "from-guest")) as f:
            assert f.read() == "guest bytes\n"
    finally:
        server.kill()
        server.wait()
        conn.close()
