#!/usr/bin/env python3
"""uvmd against Debian's containerd 1.6, side by side, in one run (issue 15).

The same CRI workload runs against each runtime, one runtime after the
other, each with the same bridge + host-local + portmap conflist (bridge
uvmdcmp0, 10.88.77.0/24), the same busybox test image pulled from a local
docker-registry, and runc underneath:

1. floors, by hand: `ip netns add`/`del`, the conflist's CNI ADD/DEL chain,
   bare `runc create`/`start`/`exec`/`kill`/`delete` of a bundle with the
   image's rootfs;
2. per runtime: PullImage; one untimed warm-up round; --calls rounds of the
   pod and container lifecycle, one call at a time (Python gRPC client);
   10 pods created in parallel (wall time), --parallel-rounds times; then
   pods with one `sleep` container each grown to every --pods-sizes size,
   where ListPodSandbox, ListContainers, PodSandboxStatus and
   ContainerStatus are timed by the C client cri_bench and the memory of
   the daemon and of the per-pod processes is read (VmRSS, and Pss from
   smaps_rollup); every pod is stopped (its container running) and removed.

--queries-only runs only the pulls and step 2's sizes (List/Status calls,
memory, growing and teardown): no floors, lifecycle rounds or parallel pods.

Prints markdown tables with uvmd/containerd ratios and the overheads above
the floors, and writes them to --results. Asserts nothing about time.
Everything started is stopped and removed, also on failure.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import runtimes  # noqa: E402  (puts tests/bench/pods and tests/integration on the path)
import bench_pods  # noqa: E402
import floors  # noqa: E402
import imagelib  # noqa: E402
import report  # noqa: E402
import workload  # noqa: E402
from bench_pods import loadavg, timed, unmount_under  # noqa: E402
from uvmdlib import gen_stubs, pb  # noqa: E402

BRIDGE = "uvmdcmp0"
SUBNET = "10.88.77"
PAUSE_REF_NAME = "compare/pause"
IMAGE_REF_NAME = "compare/busybox"


def conflist(ipam_dir):
    """bench_pods' network (bridge + host-local + portmap, no ipMasq) on our
    own bridge and subnet."""
    conf = bench_pods.conflist(ipam_dir)
    conf["name"] = "uvmd-compare"
    br = conf["plugins"][0]
    br["bridge"] = BRIDGE
    br["ipam"]["ranges"] = [[{"subnet": SUBNET + ".0/24"}]]
    return conf


def pause_image(top, pause_bin):
    with open(pause_bin, "rb") as fh:
        data = fh.read()
    tar = imagelib.make_tar([imagelib.f("pause", data, 0o755)])
    return imagelib.build_layout(os.path.join(top, "pause"), [tar], {
        "Entrypoint": ["/pause"], "Cmd": None, "Env": ["PATH=/"]})


def del_bridge():
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def bench_runtime(a, rt, image_ref, extra_pulls, top):
    """The whole workload against one started runtime; its results."""
    res = {"load0": loadavg()}
    for ref in extra_pulls:
        rt.client.img("PullImage", image=pb().ImageSpec(image=ref), timeout=300)
    res["pull"], _ = timed(rt.client.img, "PullImage", image=pb().ImageSpec(image=image_ref),
                           timeout=300)
    res["idle"] = {g: (len(p),) + runtimes.mem_of(p) for g, p in rt.memory().items()}
    workload.lifecycle(rt, image_ref, top, 1)  # warm-up: bridge, caches
    if not a.queries_only:
        res["life"] = workload.lifecycle(rt, image_ref, top, a.calls)
        res["parallel"] = [workload.parallel(rt, image_ref, top, a.parallel, i)
                           for i in range(a.parallel_rounds)]
    d = workload.Density(rt, image_ref, top)
    res["sizes"] = {}
    try:
        for size in a.sizes:
            grow = d.grow(size)
            d.check()
            time.sleep(2)  # let shims, agents and log writers settle
            q = d.queries(a.cri_bench, os.path.join(top, "req"), a.list_calls)
            mem = d.memory()
            d.check()
            res["sizes"][size] = {"grow": grow, "queries": q, "memory": mem, "load": loadavg()}
        res["teardown"] = d.teardown()
    finally:
        res["left"] = len(rt.leftovers())
    res["load1"] = loadavg()
    return res


def run_one(a, name, top, reg, refs):
    """Start one runtime in its own dir, run the workload, remove it all."""
    wd = os.path.join(top, name)
    os.makedirs(wd)
    conf = conflist(os.path.join(wd, "ipam"))
    if name == "uvmd":
        rt = runtimes.UvmdRt(a.uvmd, wd, conf, reg.host)
        extra = []
    else:
        rt = runtimes.ContainerdRt(wd, conf, reg.host, refs["pause"])
        extra = [refs["pause"]]  # the sandbox image, before any pod is timed
    try:
        rt.start()
        res = bench_runtime(a, rt, refs["image"], extra, wd)
    finally:
        rt.remove_all_pods()
        rt.stop()
        rt.kill_leftovers()
        if name == "containerd":
            rt.remove_host_dirs()
        del_bridge()
        unmount_under(wd)
        shutil.rmtree(wd, ignore_errors=True)
    return res


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", default=os.environ.get("UVMD_BIN"),
                    required=not os.environ.get("UVMD_BIN"), help="uvmd binary ($UVMD_BIN)")
    ap.add_argument("--cri-bench", required=True, help="the C client (cri_bench.c, built)")
    ap.add_argument("--pause", required=True, help="the static pause binary (pause.c, built)")
    ap.add_argument("--pods-sizes", default="30,110,250", help="pod counts (30,110,250)")
    ap.add_argument("--calls", type=int, default=20, help="lifecycle rounds and floor runs (20)")
    ap.add_argument("--list-calls", type=int, default=200,
                    help="calls per List/Status kind and size (200)")
    ap.add_argument("--parallel", type=int, default=10, help="pods made at once (10)")
    ap.add_argument("--parallel-rounds", type=int, default=3, help="rounds of those (3)")
    ap.add_argument("--order", default="uvmd,containerd", help="which runtime runs first")
    ap.add_argument("--results", help="markdown file to write (default /tmp/uvmd-compare-"
                    "<UTC time>.md)")
    ap.add_argument("--queries-only", action="store_true",
                    help="only the List/Status calls, memory, grow and teardown at each size")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: sizes 3,6, 3 calls, 20 list calls, 1 parallel round of 3")
    a = ap.parse_args()
    if a.quick:
        a.pods_sizes, a.calls, a.list_calls, a.parallel, a.parallel_rounds = "3,6", 3, 20, 3, 1
    try:
        a.sizes = sorted({int(x) for x in a.pods_sizes.split(",")})
    except ValueError:
        ap.error("--pods-sizes: comma-separated integers")
    # The parallel pods are gone before the sizes are grown.
    if not a.sizes or a.sizes[0] < 1 or max(a.sizes[-1], a.parallel) > 250:
        ap.error("--pods-sizes and --parallel must be 1..250 (the /24 holds 253 addresses)")
    for k in ("calls", "list_calls", "parallel", "parallel_rounds"):
        if not 1 <= getattr(a, k) <= 10000:
            ap.error("--%s must be 1..10000" % k.replace("_", "-"))
    a.order = a.order.split(",")
    if sorted(a.order) != ["containerd", "uvmd"]:
        ap.error("--order: uvmd,containerd or containerd,uvmd")
    for p in (a.uvmd, a.cri_bench, a.pause, runtimes.CONTAINERD, runtimes.RUNC):
        if not os.access(p, os.X_OK):
            ap.error("not found or not executable: %s" % p)
    if os.geteuid() != 0:
        ap.error("needs root (namespaces, mounts, CNI)")
    if os.path.exists("/sys/class/net/" + BRIDGE):
        ap.error("bridge %s already exists: is another run going, or left over?" % BRIDGE)
    a.results = a.results or time.strftime("/tmp/uvmd-compare-%Y%m%d-%H%M%S.md", time.gmtime())
    return a


def main():
    a = parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="cmp-", dir="/tmp")
    reg = None
    fconf = conflist(os.path.join(top, "ipam-floors"))
    try:
        img = imagelib.build_image(os.path.join(top, "image"), "single")
        pause = pause_image(top, a.pause)
        os.makedirs(os.path.join(top, "registry"))
        reg = imagelib.Registry(os.path.join(top, "registry")).start()
        refs = {"image": reg.push(img, IMAGE_REF_NAME), "pause": reg.push(pause, PAUSE_REF_NAME)}
        res = {"load0": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "versions": {k: bench_pods.run([b, "--version"]).stdout.decode().splitlines()[0]
                            for k, b in (("containerd", runtimes.CONTAINERD),
                                         ("runc", runtimes.RUNC))}}
        if not a.queries_only:
            os.makedirs(os.path.join(top, "floors"))
            res["floors"] = floors.measure(os.path.join(top, "floors"), fconf, img, a.calls)
        del_bridge()
        for name in a.order:
            res[name] = run_one(a, name, top, reg, refs)
        res["load1"] = loadavg()
        text = report.render(a, res)
        print(text)
        with open(a.results, "w") as fh:
            fh.write(text)
        print("results written to %s" % a.results, file=sys.stderr)
    finally:
        floors.cleanup(fconf)
        del_bridge()
        if reg:
            reg.stop()
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
