#!/usr/bin/python3
"""Remove every pod uvmd made, and its state and data, without uvmd.

Runs from the package's postrm on purge, when the uvmd binary is already
gone (dpkg removed it at `remove`), so it works from what uvmd leaves on
disk and never starts anything of uvmd's:

  <state>/pods/<id>/pod.json           pod record (cgroupParent)
  <state>/pods/<id>/{agent,qemu,pidns}.pid   the pod's agent / QEMU / holder
  <state>/pods/<id>/containers/<c>.json      its containers (ids)
  <state>/network/pods/<id>.json       CNI attachment: the exact conflist,
                                       args, runtimeConfig and result of ADD
  <state>/network/netns/<id>           the pod's network namespace (bind mount)

For each pod, in this order: every process of the pod is killed (the pids
in its pid files, checked against /proc/PID/cmdline so a reused pid is never
hit, and every process in the pod's own cgroups: uvmd's "/uvmd/<id>" or
"uvmd-<id>.slice" and the containers' cgroups named by their ids, in every
mounted hierarchy); CNI DEL runs with the recorded config (releases the IP,
the veth and the bridge plugin's masquerade and portmap rules); the network
namespace is unmounted and removed. Then every mount below the state and data
roots is detached, the roots are removed (never crossing into another file
system), uvmd's empty cgroups are removed, and the default CNI network that
the package installed (only if unchanged) with its bridge and IPAM folder.

Best effort: each failure is reported on stderr and the rest goes on; the
exit code is 1 when something could not be removed, else 0.

Environment: DPKG_ROOT (dpkg --root: paths are below it; processes,
cgroups and links are still the host's), UVMD_STATE_ROOT, UVMD_DATA_ROOT
(defaults /run/uvmd, /var/lib/uvmd: the packaged config's), CNI_PATH
(default /opt/cni/bin:/usr/lib/cni).
"""
import ctypes
import errno
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

ROOT = os.environ.get("DPKG_ROOT", "").rstrip("/")
STATE = ROOT + os.environ.get("UVMD_STATE_ROOT", "/run/uvmd")
DATA = ROOT + os.environ.get("UVMD_DATA_ROOT", "/var/lib/uvmd")
CNI_PATH = os.environ.get("CNI_PATH", "/opt/cni/bin:/usr/lib/cni")
CGROUP_ROOT = "/sys/fs/cgroup"
MNT_DETACH = 2
failures = []


def say(msg):
    print("uvmd purge: " + msg, flush=True)


def fail(msg):
    failures.append(msg)
    print("uvmd purge: " + msg, file=sys.stderr, flush=True)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))
        return None


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").replace("\0", " ")
    except OSError:
        return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_wait(pids, what, timeout=10):
    """SIGKILL the pids and wait until they are gone (reaped by whoever)."""
    pids = {p for p in pids if p > 1 and p != os.getpid()}
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError as e:
            fail("%s: kill %d: %s" % (what, p, e))
    end = time.time() + timeout
    while time.time() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    left = sorted(p for p in pids if alive(p))
    if left:
        fail("%s: still alive after SIGKILL: %s" % (what, left))


def pid_file_pids(pod_dir):
    """Pids of the pod's agent, QEMU and pidns holder, only when the live
    process is still the one uvmd started (its command line names the pod's
    state folder, or it is the pod's holder child of the agent)."""
    out = []
    for name in ("agent.pid", "qemu.pid", "pidns.pid"):
        try:
            with open(os.path.join(pod_dir, name)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        cl = cmdline(pid)
        if cl is None:
            continue
        if pod_dir in cl or (name == "pidns.pid" and "uvmd-agent" in cl):
            out.append(pid)
    return out


def cgroup_hierarchies():
    """The mounted cgroup hierarchies' roots (v2 unified, v1 controllers)."""
    roots = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                fstype = parts[parts.index("-") + 1]
                if fstype in ("cgroup", "cgroup2"):
                    roots.append(parts[4].replace("\\040", " "))
    except OSError:
        pass
    return roots


def pod_cgroups(pod_id, ctr_ids, parent):
    """Cgroup folders that belong to the pod: uvmd's own parent ("/uvmd/<id>",
    "uvmd-<id>.slice") and the containers' ("<parent>/<ctr>",
    "uvmd-<ctr>.scope" and the like), found by name in every hierarchy."""
    names = {pod_id, "uvmd-%s.slice" % pod_id}
    ids = set(ctr_ids)
    found = []
    for h in cgroup_hierarchies():
        for dirpath, dirnames, _ in os.walk(h):
            for d in list(dirnames):
                full = os.path.join(dirpath, d)
                base = d.split(":")[-1]
                is_own = d in names and (os.path.basename(dirpath) == "uvmd" or d.endswith(".slice"))
                is_ctr = any(i in base for i in ids) if ids else False
                if is_own or is_ctr:
                    found.append(full)
                    dirnames.remove(d)  # its subtree goes with it
        # a VM pod's QEMU under the kubelet's cgroupfs parent
        vm = os.path.join(h, parent.lstrip("/"), "vm") if parent.startswith("/") else None
        if vm and ".." not in parent and os.path.isdir(vm) and vm not in found:
            found.append(vm)
    return found


def cgroup_pids(path):
    pids = set()
    for dirpath, _, files in os.walk(path):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
    return pids


def rmdir_tree(path, timeout=10):
    """Deepest first. EBUSY is retried: a killed process keeps its cgroup
    busy until its parent (here often PID 1) has reaped it."""
    end = time.time() + timeout
    for dirpath, _, _ in sorted(os.walk(path), key=lambda t: -t[0].count("/")):
        while True:
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno == errno.EBUSY and time.time() < end:
                    time.sleep(0.05)
                    continue
                fail("cgroup %s: %s" % (dirpath, e))
            break


def mounts_below(prefix):
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                    out.append(mp)
    except OSError:
        pass
    return out


def umount(path):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (22, 2):  # EINVAL: not a mount point; ENOENT
            fail("umount %s: %s" % (path, os.strerror(e)))


def umount_all_below(prefix):
    for _ in range(8):  # stacked mounts come off one layer at a time
        mps = mounts_below(prefix)
        if not mps:
            return
        for mp in sorted(set(mps), key=lambda p: -p.count("/")):
            umount(mp)
    if mounts_below(prefix):
        fail("still mounted below %s: %s" % (prefix, mounts_below(prefix)))


def is_netns_mount(path):
    return path in mounts_below(path)


def cni_del(rec_path):
    rec = read_json(rec_path)
    if not isinstance(rec, dict) or not isinstance(rec.get("conflist"), dict):
        return
    conflist = rec["conflist"]
    # The path as uvmd saw it: below the state root, or the record is not
    # trusted with a path to remove.
    netns = rec.get("netns", "")
    if not isinstance(netns, str) or not netns.startswith(STATE + "/network/netns/"):
        netns = ""
    env = {
        "CNI_COMMAND": "DEL",
        "CNI_CONTAINERID": rec.get("podId", ""),
        "CNI_NETNS": netns if netns and is_netns_mount(netns) else "",
        "CNI_IFNAME": rec.get("ifname", "eth0"),
        "CNI_ARGS": rec.get("args", ""),
        "CNI_PATH": CNI_PATH,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    try:
        rc = json.loads(rec.get("runtimeConfig") or "{}")
    except ValueError:
        rc = {}
    prev = rec.get("result")
    if isinstance(prev, str):
        try:
            prev = json.loads(prev)
        except ValueError:
            prev = None
    old = conflist.get("cniVersion", "") in ("0.3.0", "0.3.1")  # no prevResult on DEL
    for plugin in reversed(conflist.get("plugins") or []):
        conf = dict(plugin)
        conf["name"] = conflist.get("name", "")
        conf["cniVersion"] = conflist.get("cniVersion", "")
        conf.pop("prevResult", None)
        conf.pop("runtimeConfig", None)
        if prev and not old:
            conf["prevResult"] = prev
        caps = plugin.get("capabilities") or {}
        share = {k: v for k, v in rc.items() if caps.get(k)}
        if share:
            conf["runtimeConfig"] = share
        typ = str(plugin.get("type", ""))
        exe = next((os.path.join(d, typ) for d in CNI_PATH.split(":")
                    if typ and "/" not in typ and os.access(os.path.join(d, typ), os.X_OK)), None)
        if not exe:
            fail("pod %s: CNI plugin %r not found in %s" % (env["CNI_CONTAINERID"], typ, CNI_PATH))
            continue
        p = subprocess.run([exe], input=json.dumps(conf).encode(), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            fail("pod %s: CNI DEL %s: %s" % (env["CNI_CONTAINERID"], typ,
                                            (p.stdout or p.stderr).decode(errors="replace")[:300]))
    if netns:
        umount(netns)
        try:
            os.unlink(netns)
        except FileNotFoundError:
            pass
        except OSError as e:
            fail("%s: %s" % (netns, e))


def stop_uvmd():
    """A uvmd still running from this installation (its binary may be
    deleted already) is asked to stop, then killed."""
    exe = ROOT + "/usr/libexec/uvmd/uvmd"
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                link = os.readlink("/proc/%s/exe" % d)
            except OSError:
                continue
            if link in (exe, exe + " (deleted)"):
                pids.append(int(d))
    if not pids:
        return
    say("stopping uvmd (pid %s)" % ", ".join(map(str, pids)))
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    end = time.time() + 30
    while time.time() < end and any(alive(p) for p in pids):
        time.sleep(0.1)
    kill_wait(pids, "uvmd")


def purge_pod(pod_dir, pod_id):
    rec = read_json(os.path.join(pod_dir, "pod.json")) or {}
    ctr_dir = os.path.join(pod_dir, "containers")
    ctrs = [f[:-5] for f in os.listdir(ctr_dir)] if os.path.isdir(ctr_dir) else []
    ctrs = [c for c in ctrs if len(c) >= 12]  # ids, never a short common string
    parent = rec.get("cgroupParent") if isinstance(rec.get("cgroupParent"), str) else ""
    cgs = pod_cgroups(pod_id, ctrs, parent)
    pids = set(pid_file_pids(pod_dir))
    for cg in cgs:
        pids |= cgroup_pids(cg)
    kill_wait(pids, "pod %s" % pod_id)
    for cg in cgs:  # what was forked meanwhile
        kill_wait(cgroup_pids(cg), "pod %s" % pod_id)
    for cg in cgs:
        rmdir_tree(cg)
    if rec.get("cgroupParent"):
        say("pod %s: its containers' cgroups under the kubelet's %s were removed; the "
            "parent is the kubelet's" % (pod_id, rec["cgroupParent"]))


def remove_tree(top):
    """rm -rf that never crosses into another file system (a mount left
    below must not have its contents deleted)."""
    try:
        dev = os.lstat(top).st_dev
    except FileNotFoundError:
        return

    def walk(path):
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            if st.st_dev != dev:
                fail("%s is another file system, left" % path)
                return
            for e in os.listdir(path):
                walk(os.path.join(path, e))
            try:
                os.rmdir(path)
            except OSError as e:
                fail("rmdir %s: %s" % (path, e))
        else:
            try:
                os.unlink(path)
            except OSError as e:
                fail("rm %s: %s" % (path, e))

    walk(top)


def cni_default_hash():
    """The hash of the default CNI config the postinst wrote, if it did."""
    try:
        with open(ROOT + "/var/lib/uvmd/cni-default.sha256") as f:
            return f.read().split()[0]
    except (OSError, IndexError):
        return None


def default_network(want):
    """The default CNI network, if the package wrote it and it is unchanged."""
    conf = ROOT + "/etc/cni/net.d/10-uvmd.conflist"
    if not want:
        return
    try:
        with open(conf, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == want:
                os.unlink(conf)
                say("removed the default CNI network config %s" % conf)
            else:
                say("%s was changed, left" % conf)
    except FileNotFoundError:
        pass
    if not ROOT:  # the bridge and IPAM state are the host's
        subprocess.run(["ip", "link", "del", "uvmd0"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        ipam = "/var/lib/cni/networks/uvmd"
        if os.path.isdir(ipam) and set(os.listdir(ipam)) <= {"lock", "last_reserved_ip.0",
                                                             "last_reserved_ip.1"}:
            remove_tree(ipam)


def main():
    cni_default = cni_default_hash()
    stop_uvmd()
    pods_dir = os.path.join(STATE, "pods")
    pods = sorted(os.listdir(pods_dir)) if os.path.isdir(pods_dir) else []
    if pods:
        say("removing %d pod(s)" % len(pods))
    for pod_id in pods:
        purge_pod(os.path.join(pods_dir, pod_id), pod_id)
    net_pods = os.path.join(STATE, "network", "pods")
    for f in sorted(os.listdir(net_pods)) if os.path.isdir(net_pods) else []:
        if f.endswith(".json"):
            cni_del(os.path.join(net_pods, f))
    # uvmd's cgroup parent is the host's: swept only when purging the
    # running system, never from a DPKG_ROOT whose uvmd is not the host's.
    for h in cgroup_hierarchies() if not ROOT else []:
        own = os.path.join(h, "uvmd")
        if os.path.isdir(own):
            kill_wait(cgroup_pids(own), "uvmd cgroup")
            rmdir_tree(own)
    # and the packaged data root (the CNI marker), if another one was used
    for top in sorted({STATE, DATA, ROOT + "/var/lib/uvmd"}):
        umount_all_below(top)
        remove_tree(top)
    default_network(cni_default)
    if failures:
        say("%d thing(s) could not be removed, see above" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
