"""The Debian package (deploy/debian/): built with dpkg-deb, checked with
lintian, installed into a throw-away root with `dpkg --root`, the installed
uvmd run from there and talked to, a pod with a container left running,
then `dpkg --purge`: the pod's processes, cgroups, network namespace and IP
must be gone and the root as it was before the install.

dpkg runs with:
  --force-script-chrootless  the maintainer scripts run on the host with
                             DPKG_ROOT set (the root has no /bin/sh to chroot
                             into); they honour DPKG_ROOT and start nothing
  --force-depends            the root has none of the dependencies installed
                             (they are on the host, where the binaries run)
UVMD_DEB=path takes a built .deb instead of building one. UVMD_OLD_DEB=path
(tests/deb/old-deb.sh: an older commit's own build) is the upgrade test's
old package; without it the old package is this build repackaged."""
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import ROOT as REPO, Daemon
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from uvmdlib import pb

DPKG_FORCE = ["--force-script-chrootless", "--force-depends"]
BRIDGE = "uvmdtd0"
SUBNET = "10.88.67"


def uvmd_version():
    with open(os.path.join(REPO, "service", "daemon.h")) as f:
        return re.search(r'#define UVMD_VERSION "([^"]+)"', f.read()).group(1)


@pytest.fixture(scope="module")
def deb():
    if os.environ.get("UVMD_DEB"):
        yield os.environ["UVMD_DEB"]
        return
    out = tempfile.mkdtemp(prefix="uvmd-deb-out-", dir="/tmp")
    r = subprocess.run([os.path.join(REPO, "deploy", "debian", "build-deb.sh"), out],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    path = r.stdout.strip().splitlines()[-1]
    assert path == os.path.join(out, "uvmd_%s_amd64.deb" % uvmd_version())
    yield path
    shutil.rmtree(out, ignore_errors=True)


def listing(deb):
    """path -> (mode string, owner/group, link target) from dpkg-deb -c."""
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    files = {}
    for line in out.splitlines():
        parts = line.split(None, 5)
        name = parts[5]
        link = None
        if " -> " in name:
            name, link = name.split(" -> ")
        files[name[1:].rstrip("/") or "/"] = (parts[0], parts[1], link)
    return files


def config_keys():
    """The keys of fields[] in service/config.c, read here independently of
    the man page generator."""
    with open(os.path.join(REPO, "service", "config.c")) as f:
        tbl = re.search(r"fields\[\] = \{(.*?)\n\};", f.read(), re.S).group(1)
    return re.findall(r'\{"(\w+)", F_', tbl)


def test_contents(deb):
    v = uvmd_version()
    assert os.path.basename(deb) == "uvmd_%s_amd64.deb" % v
    files = listing(deb)
    for path, mode in [("/usr/libexec/uvmd/uvmd", "-rwxr-xr-x"),
                       ("/usr/libexec/uvmd/uvmd-agent", "-rwxr-xr-x"),
                       ("/usr/libexec/uvmd/cni-install-default", "-rwxr-xr-x"),
                       ("/usr/lib/uvmd/guest/vmlinux", "-rw-r--r--"),
                       ("/usr/lib/uvmd/guest/initrd.img", "-rw-r--r--"),
                       ("/usr/lib/uvmd/guest/manifest.json", "-rw-r--r--"),
                       ("/etc/uvmd/config.json", "-rw-r--r--"),
                       ("/etc/init.d/uvmd", "-rwxr-xr-x"),
                       ("/lib/systemd/system/uvmd.service", "-rw-r--r--"),
                       ("/usr/share/man/man8/uvmd.8.gz", "-rw-r--r--"),
                       ("/usr/share/doc/uvmd/copyright", "-rw-r--r--"),
                       ("/usr/share/doc/uvmd/changelog.gz", "-rw-r--r--")]:
        assert path in files, path
        assert files[path][0] == mode, (path, files[path])
    assert files["/usr/bin/uvmd"][2] == "../libexec/uvmd/uvmd"
    for path, (mode, owner, _) in files.items():
        assert owner == "root/root", (path, owner)
        assert mode[0] == "l" or (mode[0] in "-d" and "w" not in mode[5] + mode[8]), (path, mode)

    def info(field):
        return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert info("Version") == v
    assert info("Architecture") == "amd64"
    depends = info("Depends")
    for want in ["libgrpc29", "libc6", "libjson-c5", "runc | crun", "containernetworking-plugins",
                 "iproute2", "iptables"]:
        assert want in depends, (want, depends)
    assert "qemu-system-x86" in info("Recommends")
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True,
                               check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(conffiles)) as t:
        cf = t.extractfile("./conffiles").read().decode().split()
        unit_postrm = t.extractfile("./postrm").read().decode()
    assert sorted(cf) == ["/etc/init.d/uvmd", "/etc/uvmd/config.json"]
    assert "def purge_pod" in unit_postrm

    x = tempfile.mkdtemp(prefix="uvmd-deb-x-", dir="/tmp")
    try:
        subprocess.run(["dpkg-deb", "-x", deb, x], check=True)
        with open(os.path.join(x, "lib/systemd/system/uvmd.service")) as f:
            unit = f.read()
        assert re.search(r"^ExecStart=/usr/bin/uvmd( |$)", unit, re.M), unit
        with gzip.open(os.path.join(x, "usr/share/man/man8/uvmd.8.gz"), "rt") as f:
            man = f.read().replace("\\-", "-").replace("\\e", "\\")
        for key in config_keys():
            assert "\\fB%s\\fP (" % key in man, "config key %s not in uvmd(8)" % key
        for flag in ["--config", "--socket", "--state-root", "--data-root", "--guest-dir",
                     "--log-level", "--log-format", "--help", "--version"]:
            assert "\\fB%s\\fP" % flag in man, flag
        r = subprocess.run(["man", "--warnings", "-l", "-Tutf8",
                            os.path.join(x, "usr/share/man/man8/uvmd.8.gz")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        with open(os.path.join(x, "etc/uvmd/config.json")) as f:
            json.load(f)
        # the guest image and the agent in it are the build's
        with open(os.path.join(x, "usr/lib/uvmd/guest/manifest.json")) as f:
            assert json.load(f)["kernel"]
    finally:
        shutil.rmtree(x)


def test_lintian(deb):
    if not shutil.which("lintian"):
        pytest.fail("lintian is not installed (apt-get install lintian)")
    r = subprocess.run(["lintian", "--pedantic", "--info", "--fail-on", "error,warning,info,pedantic",
                        deb], capture_output=True, text=True, timeout=600)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr


def dpkg(root, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(["dpkg", "--root=" + root, "--log=/dev/null"] + DPKG_FORCE + list(args),
                       capture_output=True, text=True, timeout=600, env=e)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def tree(root):
    """Every path below root but dpkg's own database."""
    out = set()
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel == "var/lib/dpkg":
            dirs[:] = []
            continue
        out.update(os.path.normpath(os.path.join(rel, n)) for n in dirs + files)
    return out


def alive(pid):
    """Running, not a zombie left for a parent that does not reap it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def netns_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


@pytest.fixture
def droot():
    # Short: the socket below it must fit in 108 bytes. 0711 as /run is.
    top = tempfile.mkdtemp(prefix="ud", dir="/tmp")
    os.chmod(top, 0o711)
    root = os.path.join(top, "r")
    # A node's root as far as the package sees it: dpkg's database and the
    # folders the maintainer scripts' helpers expect (systemd's, rc?.d, CNI).
    # None the package ships: dpkg removes those again at purge, as no other
    # package in this root owns them.
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc/systemd/system",
              "var/lib/systemd", "etc/cni/net.d", "run"] + \
             ["etc/rc%s.d" % n for n in "0123456S"]:
        os.makedirs(os.path.join(root, d))
    open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
    yield top, root
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    if not os.environ.get("UVMD_KEEP"):
        subprocess.run(["pkill", "-KILL", "-f", "uvmd-agent.*" + root], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


class Node:
    """The installed uvmd, run from the root with the packaged config: its
    roots moved into the root, and a private test network (not the node's)."""

    def __init__(self, top, root, image, state=None):
        with open(os.path.join(root, "etc/uvmd/config.json")) as f:
            config = json.load(f)
        cni = os.path.join(top, "cni")
        self.ipam = os.path.join(top, "ipam")
        self.top, self.image = top, image
        os.makedirs(cni, exist_ok=True)
        with open(os.path.join(cni, "10-test.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "uvmd-deb-test", "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "subnet": SUBNET + ".0/24",
                          "dataDir": self.ipam}},
                {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)
        self.state = state or os.path.join(root, "run/uvmd")
        data = os.path.join(root, "var/lib/uvmd")
        config.update(socket=os.path.join(self.state, "uvmd.sock"), state_root=self.state,
                      data_root=data, cni_conf_dir=cni,
                      guest_dir=os.path.join(root, "usr/lib/uvmd/guest"))
        cfg_path = os.path.join(top, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        uvmd = os.path.join(root, "usr/bin/uvmd")
        assert subprocess.run([uvmd, "--version"], capture_output=True, text=True,
                              check=True).stdout.startswith("uvmd %s " % uvmd_version())
        imp = subprocess.run([uvmd, "--config", cfg_path, "image", "import", image.archive],
                             capture_output=True, text=True, timeout=120)
        assert imp.returncode == 0, imp.stderr
        self.daemon = Daemon(top, config=None)
        self.daemon.socket = config["socket"]
        self.daemon.args = lambda: [uvmd, "--config", cfg_path, "--log-level", "debug"]

    def run_pod(self, c, handler="runc", name="deb"):
        """A pod with a sleeping container: (pod id, container id, pod IP)."""
        m = pb()
        pod_cfg = m.PodSandboxConfig(
            metadata=m.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
            hostname=name, log_directory=os.path.join(self.top, "logs", name))
        pod = c.rt("RunPodSandbox", config=pod_cfg, runtime_handler=handler,
                   timeout=180).pod_sandbox_id
        ctr_cfg = m.ContainerConfig(metadata=m.ContainerMetadata(name="sleep"),
                                    image=m.ImageSpec(image=self.image.config_digest),
                                    command=["/bin/sleep", "3600"])
        ctr = c.rt("CreateContainer", pod_sandbox_id=pod, config=ctr_cfg,
                   sandbox_config=pod_cfg, timeout=120).container_id
        c.rt("StartContainer", container_id=ctr, timeout=60)
        ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
        assert ip.startswith(SUBNET + ".")
        return pod, ctr, ip


def test_install_run_purge(deb, droot, image_single):  # noqa: F811
    top, root = droot
    before = tree(root)
    out = dpkg(root, "-i", deb)
    assert "cni: wrote " + os.path.join(root, "etc/cni/net.d/10-uvmd.conflist") in out, out

    # dpkg's view
    q = subprocess.run(["dpkg-query", "--admindir=" + os.path.join(root, "var/lib/dpkg"), "-W",
                        "-f", "${Status}|${Version}|${Conffiles}", "uvmd"],
                       capture_output=True, text=True, check=True).stdout
    status, version, conffiles = q.split("|")
    assert status == "install ok installed" and version == uvmd_version()
    assert "/etc/uvmd/config.json " in conffiles and "/etc/init.d/uvmd " in conffiles

    # files, owners, modes
    for rel, mode in [("usr/libexec/uvmd/uvmd", 0o755), ("usr/libexec/uvmd/uvmd-agent", 0o755),
                      ("etc/uvmd/config.json", 0o644), ("lib/systemd/system/uvmd.service", 0o644),
                      ("usr/lib/uvmd/guest/vmlinux", 0o644),
                      ("usr/lib/uvmd/guest/initrd.img", 0o644)]:
        st = os.stat(os.path.join(root, rel))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, mode), rel
    assert os.path.realpath(os.path.join(root, "usr/bin/uvmd")) == \
        os.path.join(root, "usr/libexec/uvmd/uvmd")
    # the maintainer scripts' work, inside the root only
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants/uvmd.service")
    assert os.readlink(wants) == "/lib/systemd/system/uvmd.service"
    assert any(re.match(r"S\d\duvmd$", n) for n in os.listdir(os.path.join(root, "etc/rc2.d")))
    ref = os.path.join(top, "cni-ref")
    subprocess.run([os.path.join(REPO, "deploy/cni/install-default.sh")], check=True,
                   env=dict(os.environ, CNI_CONF_DIR=ref), capture_output=True)
    with open(os.path.join(ref, "10-uvmd.conflist")) as a, \
            open(os.path.join(root, "etc/cni/net.d/10-uvmd.conflist")) as b:
        assert a.read() == b.read()

    node = Node(top, root, image_single)
    node.daemon.start()
    try:
        c = node.daemon.client()
        v = c.version()
        assert (v.runtime_name, v.runtime_version) == ("uvmd", uvmd_version())
        st = c.rt("Status", verbose=True)
        handlers = {h.name for h in st.runtime_handlers}
        assert "runc" in handlers and handlers <= {"", "runc", "uvm"}, handlers
        assert {x.type: x.status for x in st.status.conditions}.get("RuntimeReady")
        pod, ctr, ip = node.run_pod(c)
    finally:
        assert node.daemon.stop() == 0, node.daemon.log()[-3000:]
    state, ipam = node.state, node.ipam

    # The pod outlives uvmd, as on a node where the package is removed.
    pod_dir = os.path.join(state, "pods", pod)
    with open(os.path.join(pod_dir, "agent.pid")) as f:
        agent = int(f.read())
    assert alive(agent)
    netns = os.path.join(state, "network", "netns", pod)
    assert netns_mounted(netns)
    assert os.path.exists(os.path.join(ipam, "uvmd-deb-test", ip))

    out = dpkg(root, "--remove", "uvmd")
    assert "uvmd: 1 pod(s) still running" in out, out
    assert alive(agent)  # remove leaves pods running
    out = dpkg(root, "--purge", "uvmd")
    assert "uvmd purge: removing 1 pod(s)" in out, out
    assert "could not be removed" not in out, out

    end = time.time() + 10
    while alive(agent) and time.time() < end:
        time.sleep(0.1)
    assert not alive(agent), "the pod's agent survived the purge"
    ps = subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout.split()
    assert not ps, "processes of the root left: %s" % ps
    assert not netns_mounted(netns)
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if root in line.split()[4]]
    assert not left, left
    assert not os.path.exists(os.path.join(ipam, "uvmd-deb-test", ip)), "the pod's IP is still taken"
    for h in ["/sys/fs/cgroup/memory/uvmd", "/sys/fs/cgroup/uvmd", "/sys/fs/cgroup/cpu,cpuacct/uvmd"]:
        assert not os.path.exists(os.path.join(h, pod)), h
    q = subprocess.run(["dpkg-query", "--admindir=" + os.path.join(root, "var/lib/dpkg"), "-W",
                        "-f", "${Status}", "uvmd"], capture_output=True, text=True)
    assert q.returncode != 0 or q.stdout.startswith("unknown ok not-installed") or \
        q.stdout.endswith("not-installed"), q.stdout
    assert tree(root) == before, sorted(tree(root) ^ before)


def repackaged(deb, version, out):
    """deb rebuilt as another version (the same files): an upgrade's old or
    new package, as dpkg sees it."""
    x = os.path.join(out, "x")
    subprocess.run(["dpkg-deb", "-R", deb, x], check=True)
    ctl = os.path.join(x, "DEBIAN", "control")
    with open(ctl) as f:
        text = re.sub(r"^Version: .*$", "Version: " + version, f.read(), flags=re.M)
    with open(ctl, "w") as f:
        f.write(text)
    path = os.path.join(out, "uvmd_%s_amd64.deb" % version)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", x, path], check=True,
                   capture_output=True)
    shutil.rmtree(x)
    return path


BRIDGE_LIMITS_LOG = "agent conn: data frames up to"


def test_upgrade_keeps_pods_running(deb, droot, image_single):  # noqa: F811
    """An upgrade with a pod running: the old package's uvmd keeps serving
    until the init system restarts it, the operator's config survives, and
    the new uvmd reattaches to the pod the old one started. With
    UVMD_OLD_DEB (an older build whose agent predates BridgeLimits) the new
    uvmd keeps the default frame sizes with that agent; with this build's
    agent it negotiates the larger ones. Either way a reply larger than a
    default data frame crosses the bridge intact."""
    top, root = droot
    before = tree(root)
    old_build = os.environ.get("UVMD_OLD_DEB")
    old = old_build or repackaged(deb, uvmd_version() + "~old1", top)
    dpkg(root, "-i", old)
    conf = os.path.join(root, "etc/uvmd/config.json")
    with open(conf) as f:
        edited = json.load(f)
    edited["workers"] = 8  # the operator's change to a conffile
    with open(conf, "w") as f:
        json.dump(edited, f)

    node = Node(top, root, image_single)
    d = node.daemon
    d.start()
    try:
        c = d.client()
        pod, ctr, _ = node.run_pod(c)
        with open(os.path.join(node.state, "pods", pod, "agent.pid")) as f:
            agent = int(f.read())
        exe = os.path.join(root, "usr/libexec/uvmd/uvmd")
        old_ino = os.stat(exe).st_ino

        out = dpkg(root, "-i", deb)
        assert "pod(s) still running" not in out and "purge" not in out, out
        with open(conf) as f:
            assert json.load(f)["workers"] == 8, "the upgrade replaced the operator's config"
        # dpkg put a new file in place; the running uvmd still is the old one.
        assert os.stat(exe).st_ino != old_ino
        assert os.readlink("/proc/%d/exe" % d.proc.pid).endswith(" (deleted)")
        assert c.version().runtime_version == uvmd_version()

        # The init system's restart: the pod keeps running across it.
        assert d.stop() == 0, d.log()[-3000:]
        assert alive(agent)
        mark = len(d.log())
        d.start()
        assert os.stat("/proc/%d/exe" % d.proc.pid).st_ino == os.stat(exe).st_ino
        c = d.client()
        assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == \
            pb().SANDBOX_READY
        assert c.rt("ContainerStatus", container_id=ctr).status.state == \
            pb().CONTAINER_RUNNING
        r = c.rt("ExecSync", pb().ExecSyncRequest(container_id=ctr, cmd=["echo", "reattached"],
                                                  timeout=10), timeout=40)
        assert (r.exit_code, r.stdout) == (0, b"reattached\n")
        # A reply of 200000 bytes: beyond a default data frame (64 KiB), within
        # ExecSync's 256 KiB per stream (docs/pods.md).
        r = c.rt("ExecSync", pb().ExecSyncRequest(
            container_id=ctr, cmd=["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a"],
            timeout=30), timeout=60)
        assert (r.exit_code, len(r.stdout), set(r.stdout)) == (0, 200000, {ord("a")})
        # dpkg replaced the agent's file: the pod's agent is the old build's.
        assert os.readlink("/proc/%d/exe" % agent).endswith("uvmd-agent (deleted)")
        after = d.log()[mark:]
        if old_build:
            assert BRIDGE_LIMITS_LOG not in after, "the old agent took limits it does not know"
        else:
            assert BRIDGE_LIMITS_LOG + " 262144 bytes, windows of 1048576" in after, after[-3000:]
        with open(os.path.join(node.state, "pods", pod, "agent.pid")) as f:
            assert int(f.read()) == agent, "the pod's agent was replaced, not reattached"
    finally:
        if d.proc and d.proc.poll() is None:
            assert d.stop() == 0, d.log()[-3000:]

    out = dpkg(root, "--purge", "uvmd")
    assert "uvmd purge: removing 1 pod(s)" in out, out
    end = time.time() + 10
    while alive(agent) and time.time() < end:
        time.sleep(0.1)
    assert not alive(agent), "the pod's agent survived the purge"
    # The operator's edited conffile goes with the purge too.
    assert tree(root) == before, sorted(tree(root) ^ before)


def test_purge_removes_vm_and_ns_pods(deb, droot, image_single):  # noqa: F811
    """purge with a VM pod (the packaged guest image, QEMU under TCG here)
    and an ns pod running, uvmd stopped: QEMU, the agent, their network
    namespaces, IPs and mounts all go, and the root is as before."""
    top, root = droot
    before = tree(root)
    dpkg(root, "-i", deb)
    # A VM pod's socket paths below the state root must fit a unix socket
    # address (108 bytes): a short state root in the root, named to the
    # maintainer scripts as the tests' override.
    node = Node(top, root, image_single, state=os.path.join(root, "s"))
    d = node.daemon
    d.start()
    try:
        c = d.client()
        handlers = {h.name for h in c.rt("Status", verbose=True).runtime_handlers}
        assert "uvm" in handlers, handlers  # the package's guest image is found
        vm_pod, _, vm_ip = node.run_pod(c, handler="uvm", name="debvm")
        ns_pod, _, ns_ip = node.run_pod(c, handler="runc", name="debns")
    finally:
        assert d.stop() == 0, d.log()[-3000:]
    pods = os.path.join(node.state, "pods")
    with open(os.path.join(pods, vm_pod, "qemu.pid")) as f:
        qemu = int(f.read())
    with open(os.path.join(pods, ns_pod, "agent.pid")) as f:
        agent = int(f.read())
    assert alive(qemu) and alive(agent)

    out = dpkg(root, "--purge", "uvmd", env={"UVMD_STATE_ROOT": "/s"})
    assert "uvmd purge: removing 2 pod(s)" in out, out
    assert "could not be removed" not in out, out
    end = time.time() + 15
    while (alive(qemu) or alive(agent)) and time.time() < end:
        time.sleep(0.1)
    assert not alive(qemu), "the VM survived the purge"
    assert not alive(agent), "the ns pod's agent survived the purge"
    ps = subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout.split()
    assert not ps, "processes of the root left: %s" % ps
    for pod in (vm_pod, ns_pod):
        assert not netns_mounted(os.path.join(node.state, "network", "netns", pod))
    for ip in (vm_ip, ns_ip):
        assert not os.path.exists(os.path.join(node.ipam, "uvmd-deb-test", ip)), ip
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if root in line.split()[4]]
    assert not left, left
    assert tree(root) == before, sorted(tree(root) ^ before)
