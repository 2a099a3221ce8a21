"""The floors both runtimes stand on, timed by hand on this machine: `ip netns
add`/`del`, the CNI conflist's ADD/DEL chain (the plugins exec'd the way a
runtime does, through bench_pods.cni_plugin), and bare `runc create`,
`start`, `exec` and `delete --force` of a bundle whose rootfs is the test
image's layer and which joins a namespace made with `ip netns add`, as a pod's
container joins its pod's."""
import json
import os
import select
import subprocess
import sys
import tarfile
import time

from bench_pods import cni_plugin, run
from runtimes import RUNC

NETNS_PREFIX = "uvmdcmp-"


def _t(cmd, **kw):
    t0 = time.perf_counter()
    run(cmd, **kw)
    return time.perf_counter() - t0


def netns_cni(conf, n):
    """n rounds of: netns add, lo up, ADD chain, DEL chain (reverse), netns
    del; {step: [seconds]}."""
    out = {k: [] for k in ("netns add", "lo up", "CNI ADD", "CNI DEL", "netns del")}
    made = []
    try:
        for i in range(n):
            name = "%sf%d" % (NETNS_PREFIX, i)
            path = "/var/run/netns/" + name
            out["netns add"].append(_t(["ip", "netns", "add", name]))
            made.append(name)
            out["lo up"].append(_t(["ip", "-n", name, "link", "set", "lo", "up"]))
            t0 = time.perf_counter()
            prev = None
            for plugin in conf["plugins"]:
                prev = cni_plugin(conf, plugin, "ADD", "floor-%d" % i, path, prev)
            out["CNI ADD"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for plugin in reversed(conf["plugins"]):
                cni_plugin(conf, plugin, "DEL", "floor-%d" % i, path)
            out["CNI DEL"].append(time.perf_counter() - t0)
            out["netns del"].append(_t(["ip", "netns", "del", name]))
            made.remove(name)
    finally:
        for name in made:
            cleanup_netns(conf, name)
    return out


def cleanup_netns(conf, name):
    cid = "floor-" + name[len(NETNS_PREFIX) + 1:]
    for plugin in reversed(conf["plugins"]):
        try:
            cni_plugin(conf, plugin, "DEL", cid, "/var/run/netns/" + name)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            print("cleanup: CNI DEL %s: %s, ignoring" % (name, e), file=sys.stderr)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def make_bundle(top, img, netns_path):
    """A bundle at top/bundle: the image's layers unpacked as rootfs, `runc
    spec`'s defaults with `sleep 100000`, joining netns_path."""
    bundle = os.path.join(top, "bundle")
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(rootfs)
    for la in img.layers:
        with tarfile.open(img.blob_path(la.digest), "r:gz") as tf:
            tf.extractall(rootfs)
    run([RUNC, "spec", "--bundle", bundle])
    path = os.path.join(bundle, "config.json")
    with open(path) as fh:
        spec = json.load(fh)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/sleep", "100000"]
    spec["root"] = {"path": rootfs, "readonly": False}
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = netns_path
    with open(path, "w") as fh:
        json.dump(spec, fh)
    return bundle


def runc_create(base, bundle, cid, top):
    """Seconds of one `runc create`. The container inherits runc's stdio,
    so no pipe: it would hold it open long after runc returned."""
    errp = os.path.join(top, "runc-create.err")
    with open(errp, "wb") as err:
        t0 = time.perf_counter()
        r = subprocess.run(base + ["create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        dt = time.perf_counter() - t0
    if r.returncode != 0:
        with open(errp, "rb") as fh:
            raise RuntimeError("runc create failed (%d): %s" % (r.returncode, fh.read().decode(
                errors="replace")))
    return dt


def kill_wait(base, cid):
    """Seconds of `runc kill KILL` until the container's process is gone
    (watched with a pidfd). `runc delete --force` is not the floor: it polls
    for the exit in 100 ms sleeps."""
    pid = json.loads(run(base + ["state", cid]).stdout)["pid"]
    fd = os.pidfd_open(pid)
    try:
        t0 = time.perf_counter()
        run(base + ["kill", cid, "KILL"])
        if not select.select([fd], [], [], 10)[0]:
            raise RuntimeError("container %s (pid %d) still alive 10 s after SIGKILL" % (cid, pid))
        return time.perf_counter() - t0
    finally:
        os.close(fd)


def runc_floor(top, img, n):
    """n rounds of runc create, start, exec /bin/true, kill (until the
    process is gone), delete; {step: [seconds]}."""
    name = NETNS_PREFIX + "runc"
    run(["ip", "netns", "add", name])
    root = os.path.join(top, "runc-root")
    out = {k: [] for k in ("runc create", "runc start", "runc exec", "runc kill", "runc delete")}
    live = []
    try:
        bundle = make_bundle(top, img, "/var/run/netns/" + name)
        for i in range(n):
            cid = "cmpfloor%d" % i
            base = [RUNC, "--root", root]
            out["runc create"].append(runc_create(base, bundle, cid, top))
            live.append(cid)
            out["runc start"].append(_t(base + ["start", cid]))
            out["runc exec"].append(_t(base + ["exec", cid, "/bin/true"]))
            out["runc kill"].append(kill_wait(base, cid))
            out["runc delete"].append(_t(base + ["delete", cid]))
            live.remove(cid)
    finally:
        for cid in live:
            subprocess.run([RUNC, "--root", root, "delete", "--force", cid], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return out


def measure(top, conf, img, n):
    res = netns_cni(conf, n)
    res.update(runc_floor(top, img, n))
    return res


def cleanup(conf):
    """Namespaces this module may have left after a crash."""
    for name in os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []:
        if name.startswith(NETNS_PREFIX + "f"):
            cleanup_netns(conf, name)
        elif name == NETNS_PREFIX + "runc":
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

