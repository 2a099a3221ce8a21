"""A pod VM booted straight from the guest image under QEMU (TCG), the way
the qemu driver boots one (sandbox/drivers/qemu/cmdline.c: microvm, the
agent on the "agent" virtio-serial port, one virtio-scsi controller), and
the test talking the bridge protocol (agent/frame.h, agent/client.h) to its
agent itself: the requests an hcs host sends (Disk with Scratch, PodFiles)
reach the real agent in a real guest kernel, with no uvmd and no Hyper-V.

Extra kernel modules (the Hyper-V list's ext4 for instance, which a QEMU
guest does not load) are given by a second cpio archive appended to the
image's initramfs: the kernel unpacks both, and the later /etc/uvmd/modules
replaces the image's. The image itself is not changed."""
import base64
import gzip
import json
import os
import re
import select
import socket
import struct
import subprocess
import time

HEADER = struct.Struct("<IIQ")
REQUEST, RESPONSE, NOTIFY, DATA = 0x10000000, 0x20000000, 0x30000000, 0x40000000
RPC = {name: 0x00100000 | n << 8 | 1 for n, name in enumerate(
    ["", "Create", "Start", "ShutdownGraceful", "ShutdownForced", "ExecuteProcess",
     "WaitForProcess", "SignalProcess", "ResizeConsole", "GetProperties", "ModifySettings",
     "NegotiateProtocol", "DumpStacks", "DeleteContainerState", "UpdateContainer"]) if name}
# As the qemu driver's (cmdline.h QEMU_BASE_APPEND).
APPEND = "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests"


def tsc_append():
    """The driver's node append under TCG (driver.c host_tsc_khz): the
    guest told the TSC's rate, else its calibration can fail on a busy
    host and, microvm having no other clock, the boot stalls (seen here
    in 1 of 8 boots)."""
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", f.read(), re.M)
    return "pcie_ports=native" + (" tsc_early_khz=%d" % int(float(m.group(1)) * 1000) if m else "")


class AgentError(Exception):
    def __init__(self, rpc, result, msg):
        super().__init__("%s: %d %s" % (rpc, result, msg))
        self.result, self.msg = result, msg


class Bridge:
    """One host connection to the agent: requests one at a time, exit
    notifications kept, container output read and credited back."""

    def __init__(self, path, timeout=90):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf, self.next_id, self.exits, self.streams = b"", 1, {}, {}
        self.call("NegotiateProtocol", MinimumVersion=1, MaximumVersion=1, timeout=timeout)

    def close(self):
        self.sock.close()

    def _frame(self, timeout):
        end = time.time() + timeout
        while len(self.buf) < HEADER.size or len(self.buf) < HEADER.unpack_from(self.buf)[1]:
            left = end - time.time()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("no frame from the agent in %ss" % timeout)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the agent closed the bridge")
            self.buf += chunk
        typ, size, fid = HEADER.unpack_from(self.buf)
        payload, self.buf = self.buf[HEADER.size:size], self.buf[size:]
        return typ, fid, payload

    def _send(self, typ, fid, obj):
        payload = json.dumps(obj).encode()
        self.sock.sendall(HEADER.pack(typ, HEADER.size + len(payload), fid) + payload)

    def call(self, rpc, ctr="", timeout=60, **fields):
        fid, self.next_id = self.next_id, self.next_id + 1
        req = {"ContainerId": ctr, "ActivityId": "test-%d" % fid}
        req.update(fields)
        self._send(REQUEST | RPC[rpc], fid, req)
        end = time.time() + timeout
        while True:
            typ, got, payload = self._frame(max(0.1, end - time.time()))
            cls = typ & 0xf0000000
            if cls == DATA:
                if typ & 0x0fffffff == 0 and payload:  # kept, and credited
                    self.streams[got] = self.streams.get(got, b"") + payload
                    self._send(DATA | 2, got, {"Credit": len(payload)})
                continue
            obj = json.loads(payload) if payload else {}
            if cls == NOTIFY:
                self.exits[obj.get("ContainerId")] = obj
            elif cls == RESPONSE and got == fid:
                if obj.get("Result", 0) != 0:
                    raise AgentError(rpc, obj["Result"], obj.get("ErrorMessage", ""))
                return obj

    def modify(self, rtype, settings, timeout=60):
        return self.call("ModifySettings", ResourceType=rtype, Settings=settings, timeout=timeout)

    def wait_exit(self, ctr, timeout=60):
        end = time.time() + timeout
        while ctr not in self.exits:
            if time.time() > end:
                raise TimeoutError("container %s did not exit" % ctr)
            self.call("GetProperties", ctr=ctr)  # reads what arrived meanwhile
            time.sleep(0.1)
        return self.exits[ctr]

    def execute(self, ctr, args, timeout_ms=30000):
        r = self.call("ExecuteProcess", ctr=ctr, Args=args, TimeoutMs=timeout_ms,
                      MaxOutput=65536, timeout=timeout_ms / 1000 + 30)
        return (r["ExitCode"], base64.b64decode(r.get("Stdout") or "").decode(),
                base64.b64decode(r.get("Stderr") or "").decode())


def spec(args, mounts=(), privileged=False):
    """A plain OCI config.json for crun in the guest (root.path is the
    agent's to set)."""
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_NET_BIND_SERVICE"]
    if privileged:
        caps.append("CAP_SYS_ADMIN")
    s = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin"], "cwd": "/",
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")}},
        "root": {"path": "rootfs"},
        "hostname": "ctr",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        ] + list(mounts),
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
                  "resources": {"devices": [{"allow": privileged, "access": "rwm"}]}},
    }
    return json.dumps(s)


def bind(src, dst, *opts):
    return {"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "rprivate"] + list(opts)}


def _newc(entries):
    """A newc cpio archive of (name, mode, data) regular files."""
    out = b""
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        n = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 1704067200, len(data), 0, 0, 0, 0, len(n), 0))
        out += hdr.encode() + n
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return out


def image_files(guest_dir, names):
    """The contents of the named files of the image's initramfs."""
    with gzip.open(os.path.join(guest_dir, "initrd.img")) as f:
        data = f.read()
    found, at = {}, 0
    while data[at:at + 6] == b"070701":
        fields = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name = data[at + 110:at + 110 + namesize - 1].decode()
        at += 110 + namesize
        at += -at % 4
        if name in names:
            found[name] = data[at:at + size]
        at += size
        at += -at % 4
        if name == "TRAILER!!!":
            break
    return found


def initrd_with_modules(guest_dir, extra, out):
    """The image's initramfs with /etc/uvmd/modules extended by extra
    (module paths in the guest): a second archive, at a 4-byte boundary."""
    modules = image_files(guest_dir, ["etc/uvmd/modules"])["etc/uvmd/modules"].decode().split()
    with open(os.path.join(guest_dir, "initrd.img"), "rb") as f:
        data = f.read()
    data += b"\0" * (-len(data) % 4)
    text = "".join(m + "\n" for m in modules + [e for e in extra if e not in modules])
    with open(out, "wb") as f:
        f.write(data + _newc([("etc/uvmd/modules", 0o100644, text.encode())]))


class GuestVM:
    """QEMU with the guest image, its console in a file, QMP and the agent
    port on unix sockets in workdir; disks are (lun, path, read_only) on
    the SCSI controller at boot."""

    MAC = "52:54:00:9e:00:01"

    def __init__(self, guest_dir, workdir, initrd, disks=(), ports=(), memory_mb=512,
                 append="", forward=None):
        self.workdir = workdir
        self.agent_sock = os.path.join(workdir, "agent.sock")
        self.qmp_sock = os.path.join(workdir, "qmp.sock")
        self.console = os.path.join(workdir, "console.log")
        argv = ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=on,pit=on",
                "-accel", "tcg,tb-size=48", "-cpu", "max", "-m", str(memory_mb), "-smp", "1",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-kernel", os.path.join(guest_dir, "vmlinux"), "-initrd", initrd,
                "-append", " ".join(x for x in (APPEND, tsc_append(), append) if x),
                "-chardev", "file,id=console,path=" + self.console, "-serial", "chardev:console",
                "-chardev", "socket,id=qmp,path=%s,server=on,wait=off" % self.qmp_sock,
                "-mon", "chardev=qmp,mode=control",
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % self.agent_sock,
                "-device", "virtserialport,chardev=agent,name=agent",
                "-device", "virtio-rng-device", "-device", "virtio-scsi-device,id=scsi0"]
        for name, path in ports:
            argv += ["-chardev", "socket,id=%s,path=%s,server=on,wait=off" % (name, path),
                     "-device", "virtserialport,chardev=%s,name=%s" % (name, name)]
        if forward:
            # A NIC on QEMU's user network, isolated (restrict=on): the
            # guest reaches nothing but forward's (address, port), whose
            # connection goes to a unix socket the test connects to.
            (addr, port), path = forward
            argv += ["-chardev", "socket,id=fwd,path=%s,server=on,wait=off" % path,
                     "-netdev", "user,id=n0,restrict=on,net=10.0.2.0/24,"
                     "guestfwd=tcp:%s:%d-chardev:fwd" % (addr, port),
                     "-device", "virtio-net-device,netdev=n0,mac=" + self.MAC]
        for lun, path, ro in disks:
            argv += ["-blockdev", "driver=raw,node-name=d%d,read-only=%s,file.driver=file,"
                     "file.filename=%s" % (lun, "on" if ro else "off", path),
                     "-device", "scsi-hd,bus=scsi0.0,scsi-id=0,lun=%d,drive=d%d" % (lun, lun)]
        with open(os.path.join(workdir, "qemu.err"), "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.qmp = None
        self._wait_path(self.qmp_sock)
        self._wait_path(self.agent_sock)

    def _wait_path(self, path, timeout=30):
        end = time.time() + timeout
        while not os.path.exists(path):
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError("QEMU did not start: %s" % self.log(os.path.join(
                    self.workdir, "qemu.err")))
            time.sleep(0.02)

    def log(self, path=None):
        try:
            with open(path or self.console, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def bridge(self, timeout=90):
        return Bridge(self.agent_sock, timeout)

    def qmp_call(self, cmd, **args):
        if self.qmp is None:
            self.qmp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.qmp.connect(self.qmp_sock)
            self.qmp_file = self.qmp.makefile("rw")
            self.qmp_file.readline()  # greeting
            self.qmp_call("qmp_capabilities")
        self.qmp_file.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        self.qmp_file.flush()
        while True:
            r = json.loads(self.qmp_file.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (cmd, r["error"]))

    def hotplug(self, lun, path, read_only=False):
        """A SCSI disk at target 0, lun, as the qemu driver adds a layer's
        (sandbox/drivers/qemu/disks.c), writable unless read_only."""
        self.qmp_call("blockdev-add", driver="raw", **{"node-name": "h%d" % lun},
                      file={"driver": "file", "filename": path}, **{"read-only": read_only})
        self.qmp_call("device_add", driver="scsi-hd", id="hd%d" % lun, bus="scsi0.0",
                      drive="h%d" % lun, **{"scsi-id": 0}, lun=lun)

    def unplug(self, lun, timeout=30):
        """The disk's device removed, then its node: refused while the
        guest has not yet let the device go."""
        self.qmp_call("device_del", id="hd%d" % lun)
        end = time.time() + timeout
        while True:
            try:
                return self.qmp_call("blockdev-del", **{"node-name": "h%d" % lun})
            except RuntimeError:
                if time.time() > end:
                    raise
                time.sleep(0.1)

    def stop(self):
        if self.qmp is not None:
            self.qmp.close()
        self.proc.kill()
        self.proc.wait()
