"""What a uvmd leaves behind: a snapshot of everything a pod or container can
take on this machine, and the difference between two snapshots.

Used by the pods, soak and fault-injection suites: take a snapshot before
the workload (daemon started, image imported; for VM pods, its template
ready), another after every pod was removed, and assert the difference is
empty. Each kind is a set of names, so a failure message says exactly what
leaked. For VM pods that covers QEMU (its command line names the state
root), the pod's sockets, jail root and share (state files, mounts), its tap
(in the pod's netns: an nsfs mount while pinned, held by QEMU after), its
cgroup; and in uvmd, the fds and threads each VM has (QMP, console, guest
log).
"""
import os
import re
import subprocess

CGROUP_ROOT = "/sys/fs/cgroup"
# What uvmd makes once, with its first pod, and keeps: directories; for VM
# pods an image layer's erofs disk, kept until its image goes.
SKELETON = [r"^network(/netns|/pods)?$", r"^images/disks(/[0-9a-f]{64}\.erofs)?$"]


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def processes(roots, daemon_pid=None):
    """Processes that belong to the daemon under test: any whose command line
    names one of its roots (agents, runc, QEMU), and every descendant of
    those or of the daemon itself (containers' processes, CNI plugins).
    The daemon itself is left out."""
    cmd = {p: _cmdline(p) for p in _pids()}
    parent = {p: _ppid(p) for p in cmd}
    mine = {p for p, c in cmd.items() if c and any(r in c for r in roots)}
    if daemon_pid:
        mine.add(daemon_pid)
    grew = True
    while grew:
        grew = False
        for p, pp in parent.items():
            if pp in mine and p not in mine:
                mine.add(p)
                grew = True
    mine.discard(daemon_pid)
    mine.discard(os.getpid())
    return {"%d %s" % (p, _short(cmd[p])) for p in mine if cmd.get(p) is not None}


def _short(cmdline):
    """The program's base name and its first arguments: enough to say what
    leaked without the long build paths."""
    argv = cmdline.split(" ")
    return " ".join([os.path.basename(argv[0])] + argv[1:])[:160]


def mounts(roots):
    """Mount points under the roots, plus every nsfs mount (a pinned
    namespace anywhere: /run/netns or a state root)."""
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            fstype = fields[fields.index("-") + 1]
            if fstype == "nsfs" or any(point.startswith(r) for r in roots):
                out.add("%s %s" % (fstype, point))
    return out


def netns():
    """Named network namespaces (ip netns) and the netns ids the host knows."""
    out = set()
    for d in ("/run/netns", "/var/run/netns"):
        if os.path.isdir(d):
            out |= {"netns %s" % n for n in os.listdir(d)}
    return out


def interfaces():
    """Host network interfaces: a pod's veth end must go with it."""
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    out = set()
    for line in r.stdout.splitlines():
        m = re.match(r"\d+: ([^:@]+)", line)
        if m:
            out.add("link " + m.group(1))
    return out


def cgroups(names=("uvmd",)):
    """Every cgroup directory, in every hierarchy, below a directory named
    like uvmd's default parents (/uvmd/<pod> on cgroupfs, uvmd-<pod>.slice on
    systemd) or like the test's own parents."""
    out = set()
    if not os.path.isdir(CGROUP_ROOT):
        return out
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        rel = os.path.relpath(top, CGROUP_ROOT)
        parts = rel.split(os.sep)
        if len(parts) > 6:
            dirs[:] = []
            continue
        if any(p in names or any(p.startswith(n + "-") for n in names) for p in parts[1:]):
            out.add("cgroup " + rel)
    return out


def files(root):
    """Every path under root (directories too), relative to it."""
    out = set()
    for top, dirs, fnames in os.walk(root):
        for n in dirs + fnames:
            out.add(os.path.relpath(os.path.join(top, n), root))
    return out


def ipam_leases(ipam_dir):
    """host-local's lease files: one per IP handed out."""
    out = set()
    if not os.path.isdir(ipam_dir):
        return out
    for net in os.listdir(ipam_dir):
        d = os.path.join(ipam_dir, net)
        if os.path.isdir(d):
            out |= {"ip %s/%s" % (net, f) for f in os.listdir(d)
                    if f != "lock" and not f.startswith("last_reserved_ip")}
    return out


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Snapshot:
    def __init__(self, d, ipam=None, cgroup_names=("uvmd",)):
        pid = d.proc.pid if d.proc and d.proc.poll() is None else None
        # Named through a symlink, a root is the real path in command lines
        # and mountinfo: uvmd works from it.
        roots = sorted({p for r in (d.state, d.data, d.workdir) for p in (r, os.path.realpath(r))})
        self.sets = {
            "processes": processes(roots, pid),
            "mounts": mounts(roots),
            "netns": netns(),
            "interfaces": {i for i in interfaces() if not i.startswith("link lo")},
            "cgroups": cgroups(cgroup_names),
            "state files": files(d.state),
            "data files": files(d.data),
            "ip leases": ipam_leases(ipam or getattr(d, "ipam", "")),
        }
        self.fds = fds(pid) if pid else None
        self.threads = threads(pid) if pid else None
        self.rss_kib = rss_kib(pid) if pid else None


def snapshot(d, **kw):
    return Snapshot(d, **kw)


def leaked(before, after, ignore=()):
    """{kind: sorted new entries} for every kind that grew; `ignore` holds
    regular expressions for entries that are expected to stay (for example
    the data root's image store growing by a pulled image)."""
    pats = [re.compile(p) for p in list(ignore) + SKELETON]
    out = {}
    for kind, now in after.sets.items():
        new = sorted(e for e in now - before.sets.get(kind, set())
                     if not any(p.search(e) for p in pats))
        if new:
            out[kind] = new[:40] + (["... %d more" % (len(new) - 40)] if len(new) > 40 else [])
    return out


def assert_no_leaks(before, after, ignore=(), fd_slack=4, thread_slack=2):
    """Fails with the list of what leaked. The daemon's fd count may differ
    by fd_slack (gRPC keeps a few sockets and pipes that come and go), its
    thread count by thread_slack (a worker started on demand)."""
    bad = leaked(before, after, ignore)
    if before.fds is not None and after.fds is not None and after.fds > before.fds + fd_slack:
        bad["uvmd fds"] = ["%d before, %d after" % (before.fds, after.fds)]
    if before.threads is not None and after.threads is not None and \
            after.threads > before.threads + thread_slack:
        bad["uvmd threads"] = ["%d before, %d after" % (before.threads, after.threads)]
    assert not bad, "left behind: %r" % bad
