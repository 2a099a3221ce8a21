"""The two runtimes of the side-by-side benchmark, each with private roots,
socket and CNI config under a temp dir: uvmd (ns driver, handler "runc") and
Debian's containerd 1.6 (CRI plugin, runc through containerd-shim-runc-v2,
overlayfs). Each knows how to start, wait until its CRI answers, remove every
pod it holds, stop, and which processes make up its memory."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pods"))

import bench_pods  # noqa: E402
from bench_pods import cmdline, pss_kib, proc_kib, ppid_of  # noqa: E402
from uvmdlib import Client  # noqa: E402

CONTAINERD = "/usr/bin/containerd"
SHIM = "containerd-shim-runc-v2"
RUNC = "/usr/sbin/runc"


def wait_ready(proc, socket, tail, timeout=60):
    """A Client once the daemon behind socket answers Version; raises with
    the log's tail when it exits or never answers."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (proc.args[0], proc.returncode, tail()))
        if os.path.exists(socket):
            c = Client(socket)
            try:
                c.version(timeout=1)
                return c
            except Exception:
                c.close()
        time.sleep(0.05)
    raise RuntimeError("%s not ready after %ss:\n%s" % (proc.args[0], timeout, tail()))


def stop_proc(proc, timeout=60):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_conflist(cni_dir, conf):
    os.makedirs(cni_dir, exist_ok=True)
    with open(os.path.join(cni_dir, "10-compare.conflist"), "w") as fh:
        json.dump(conf, fh)


def mem_of(pids):
    """(VmRSS KiB, Pss KiB) summed over pids."""
    return sum(proc_kib(p, "VmRSS") for p in pids), sum(pss_kib(p) for p in pids)


def all_pids():
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def remove_all_pods(client):
    """Stop and remove whatever pods are left (cleanup; untimed)."""
    try:
        items = client.rt("ListPodSandbox", timeout=30).items
    except Exception as e:  # a dead daemon: nothing to ask
        print("cleanup: ListPodSandbox: %s, ignoring" % e, file=sys.stderr)
        return
    for p in items:
        for method in ("StopPodSandbox", "RemovePodSandbox"):
            try:
                client.rt(method, pod_sandbox_id=p.id, timeout=120)
            except Exception as e:
                print("cleanup: %s %s: %s, ignoring" % (method, p.id, e), file=sys.stderr)


class UvmdRt(bench_pods.Uvmd):
    """uvmd at its default log level (info), ns driver under handler "runc"."""

    name = "uvmd"
    handler = "runc"

    def __init__(self, binary, workdir, conf, registry_host):
        super().__init__(binary, workdir, conf)
        with open(self.config, "w") as fh:
            json.dump({"cni_conf_dir": os.path.join(workdir, "cni"), "cni_bin_dirs":
                       [bench_pods.CNI_BIN], "insecure_registries": [registry_host]}, fh)

    def start(self, timeout=30):
        args = self.base_args() + ["--socket", self.socket, "--state-root", self.state]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        self.client = wait_ready(self.proc, self.socket, self.tail, timeout)
        return self

    def remove_all_pods(self):
        if self.client:
            remove_all_pods(self.client)

    def memory(self):
        """{group: [pids]}: the daemon and the per-pod processes."""
        return {"daemon": [self.proc.pid], "per-pod": bench_pods.agents_of(self.state)}

    def leftovers(self):
        return bench_pods.agents_of(self.state)

    def kill_leftovers(self):
        bench_pods.kill_leftover_agents(self.state)


CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  enable_tls_streaming = false
  max_concurrent_downloads = 3
  # The sandbox's -998 needs more than this machine lets root have (runc:
  # "failed to update /proc/self/oom_score_adj: Permission denied"); clamp.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{state}/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_dir}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{certs}"
"""

HOSTS_TOML = """server = "http://{host}"

[host."http://{host}"]
  capabilities = ["pull", "resolve"]
"""


class ContainerdRt:
    """Debian's containerd with a private config: its own root, state and
    socket under workdir, the CRI plugin's sandbox image from the local
    registry, which it reaches over plain HTTP (certs.d hosts.toml)."""

    name = "containerd"
    handler = ""  # the default runtime, runc

    def __init__(self, workdir, conf, registry_host, pause_ref):
        self.workdir = workdir
        self.root = os.path.join(workdir, "root")
        self.state = os.path.join(workdir, "state")
        self.socket = os.path.join(workdir, "containerd.sock")
        self.config = os.path.join(workdir, "config.toml")
        self.log_path = os.path.join(workdir, "containerd.log")
        cni_dir = os.path.join(workdir, "cni")
        certs = os.path.join(workdir, "certs.d")
        write_conflist(cni_dir, conf)
        os.makedirs(os.path.join(certs, registry_host))
        with open(os.path.join(certs, registry_host, "hosts.toml"), "w") as fh:
            fh.write(HOSTS_TOML.format(host=registry_host))
        with open(self.config, "w") as fh:
            fh.write(CONTAINERD_CONFIG.format(
                root=self.root, state=self.state, socket=self.socket, pause=pause_ref, runc=RUNC,
                cni_bin=bench_pods.CNI_BIN, cni_dir=cni_dir, certs=certs))
        self.proc = None
        self.client = None
        # Host paths containerd makes outside its roots: the shims' sockets
        # (/run/containerd/s, fixed in 1.6) and the "k8s.io" parent cgroups.
        made = ["/run/containerd"] + [os.path.join(c, "k8s.io")
                                      for c in glob.glob("/sys/fs/cgroup/*/")]
        self.host_dirs = [d for d in made if not os.path.exists(d)]

    def start(self, timeout=60):
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([CONTAINERD, "--config", self.config], stdout=logf,
                                         stderr=subprocess.STDOUT)
        self.client = wait_ready(self.proc, self.socket, self.tail, timeout)
        return self

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def remove_all_pods(self):
        if self.client:
            remove_all_pods(self.client)

    def shims(self):
        """Shims serving this containerd: their -address is our socket."""
        out = []
        for pid in all_pids():
            argv = cmdline(pid)
            if argv and os.path.basename(argv[0]) == SHIM.encode() and \
                    self.socket.encode() in argv:
                out.append(pid)
        return out

    def memory(self):
        shims = self.shims()
        pauses = [p for p in all_pids() if cmdline(p)[:1] == [b"/pause"] and _ppid(p) in shims]
        return {"daemon": [self.proc.pid], "per-pod": shims + pauses, "shims": shims,
                "pauses": pauses}

    def leftovers(self):
        return self.shims()

    def kill_leftovers(self):
        """Shims (and what they hold) left after every pod was removed."""
        for pid in self.shims():
            print("cleanup: %s %d still running, killing it" % (SHIM, pid), file=sys.stderr)
            for p in bench_pods.descendants(pid) + [pid]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass

    def stop(self):
        if self.client:
            self.client.close()
            self.client = None
        stop_proc(self.proc)

    def remove_host_dirs(self):
        """What start() left outside the roots, when it was not there before
        and is empty now (rmdir refuses anything still in use)."""
        for top in self.host_dirs:
            for root, _, _ in sorted(os.walk(top), key=lambda e: -len(e[0])):
                try:
                    os.rmdir(root)
                except OSError as e:
                    print("cleanup: rmdir %s: %s, ignoring" % (root, e.strerror), file=sys.stderr)


def _ppid(pid):
    try:
        return ppid_of(pid)
    except (OSError, ValueError, IndexError):
        return -1
