#!/usr/bin/env python3
"""VM pod benchmark (issue 11): the start of QEMU microVM pods (the `uvm`
handler) broken down, the first container, and what an idle VM pod costs
the host.

One run, one fresh uvmd with the guest image of bazel-bin/guest and the same
private CNI bridge as the pod benchmark:

1. --pods VM pods one after the other: RunPodSandbox (client wall time),
   split by uvmd's debug log into "before QEMU" (netns, CNI, tap), "QEMU
   exec to guest settled" (kernel boot, agent start, negotiation, guest
   settings); then CreateContainer + StartContainer of one sleeper (the
   first one makes the image's layer disk; every pod hot-plugs it).
   With --parallel N, then N more at once, each with a container (the wall
   time until all run).
2. With all of them idle: each QEMU's RSS and Pss, and its CPU over
   --idle seconds; where the Pss is, by kind of mapping (the TCG
   translation cache, the template's guest RAM, libraries, heap...);
   with UVMD_BENCH_SMAPS=FILE, one QEMU's whole smaps is copied there.
3. With --ksm on: the host's KSM turned on (run=1, pages_to_scan from
   --ksm-pages) until it finished two full scans, the same measure again
   with what KSM shared, then KSM restored: all its pages unmerged (run=2)
   and its settings put back as they were, also on an error or a signal.
4. StopPodSandbox + RemovePodSandbox of each.
5. mkfs.erofs alone on each unpacked layer, as image/disk.c runs it.

Prints markdown; asserts nothing about time. Everything it starts is
stopped and removed on the way out.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pods"))

import bench_pods as bp  # noqa: E402
import imagelib  # noqa: E402
from uvmdlib import gen_stubs  # noqa: E402


def qemus(state):
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and any(
        b"qemu-system" in a for a in bp.cmdline(int(e))[:1]) and any(
        state.encode() in a for a in bp.cmdline(int(e)))]


def row(name, secs):
    v = sorted(x * 1000.0 for x in secs)
    return "| %s | %d | %.0f | %.0f | %.0f |" % (name, len(v), bp.pct(v, 50), bp.pct(v, 90),
                                                 max(v))


def wait_template(data, limit=600):
    """Seconds until the background template is complete (its meta.json)."""
    t0 = time.time()
    while time.time() - t0 < limit:
        if glob.glob(os.path.join(data, "templates", "*", "meta.json")):
            return time.time() - t0
        time.sleep(0.5)
    raise SystemExit("no VM template after %d s" % limit)


KSM = "/sys/kernel/mm/ksm"


def ksm_get(name):
    with open(os.path.join(KSM, name)) as fh:
        return fh.read().strip()


def ksm_set(name, value):
    with open(os.path.join(KSM, name), "w") as fh:
        fh.write(str(value))


def ksmd_pid():
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/comm" % e) as fh:
                    if fh.read().strip() == "ksmd":
                        return int(e)
            except OSError:
                pass
    return None


def ksm_round(a, pids):
    """KSM on until two full scans are done (or --ksm-wait s): the pods'
    memory then, what KSM shares and ksmd's CPU; KSM is restored on the
    way out, whatever happens."""
    saved = {k: ksm_get(k) for k in ("run", "pages_to_scan")}
    if saved["run"] != "0":
        raise SystemExit("KSM is already on (run=%s): not touching it" % saved["run"])
    kpid = ksmd_pid()
    res = {"pages_to_scan": a.ksm_pages}
    try:
        scans0, cpu0, t0 = int(ksm_get("full_scans")), bp.cpu_seconds(kpid), time.time()
        ksm_set("pages_to_scan", a.ksm_pages)
        ksm_set("run", 1)
        while int(ksm_get("full_scans")) < scans0 + 2 and time.time() - t0 < a.ksm_wait:
            time.sleep(1)
        res["secs"] = time.time() - t0
        res["ksmd_cpu"] = (bp.cpu_seconds(kpid) - cpu0) / res["secs"] * 100.0
        res["scans"] = int(ksm_get("full_scans")) - scans0
        res["shared"] = int(ksm_get("pages_shared"))
        res["sharing"] = int(ksm_get("pages_sharing"))
        res["rss"] = [bp.proc_kib(p, "VmRSS") / 1024.0 for p in pids]
        res["pss"] = [bp.pss_kib(p) / 1024.0 for p in pids]
    finally:
        ksm_set("run", 2)  # unmerge everything it merged
        ksm_set("pages_to_scan", saved["pages_to_scan"])
        ksm_set("run", saved["run"])
    return res


def bench(a, top):
    img = imagelib.build_image(os.path.join(top, "image"), "single", archive=True)
    u = bp.Uvmd(a.uvmd, top, bp.conflist(os.path.join(top, "ipam")))
    with open(u.config) as fh:
        cfg = json.load(fh)
    cfg["guest_dir"] = a.guest
    cfg["vm_templates"] = a.templates == "on"
    with open(u.config, "w") as fh:
        json.dump(cfg, fh)
    bench.uvmd = u
    u.import_image(img.archive)
    u.start()
    if a.templates == "on":
        res_tpl = wait_template(u.data)
    res = {"load0": bp.loadavg(), "run": [], "ctr": []}
    if a.templates == "on":
        res["template_ready"] = res_tpl
    pods = []
    for i in range(a.pods):
        pcfg = bp.pod_config(top, "vm%d" % i, False)
        t0 = time.time()
        dt, resp = bp.timed(u.client.rt, "RunPodSandbox", config=pcfg, runtime_handler="uvm",
                            timeout=300)
        res["run"].append((resp.pod_sandbox_id, t0, dt))
        c = bp.ctr_config(img.config_digest, "sleep")
        dt1, cr = bp.timed(u.client.rt, "CreateContainer", pod_sandbox_id=resp.pod_sandbox_id,
                           config=c, sandbox_config=pcfg, timeout=120)
        dt2, _ = bp.timed(u.client.rt, "StartContainer", container_id=cr.container_id,
                          timeout=120)
        res["ctr"].append(dt1 + dt2)
        pods.append(resp.pod_sandbox_id)
    if a.parallel:
        res["par"] = parallel_round(a, u, top, img, pods)
    started = bp.log_times(u.log_path, "started as pid")
    ready = bp.log_times(u.log_path, "ready (")
    res["pre"] = [started[p] - t0 for p, t0, _ in res["run"] if p in started]
    res["boot"] = [ready[p] - started[p] for p, _, _ in res["run"]
                   if p in started and p in ready]
    time.sleep(2)
    pids = qemus(u.state)
    cpu0 = {p: bp.cpu_seconds(p) for p in pids}
    time.sleep(a.idle)
    res["cpu"] = [(bp.cpu_seconds(p) - cpu0[p]) / a.idle * 100.0 for p in pids]
    res["rss"] = [bp.proc_kib(p, "VmRSS") / 1024.0 for p in pids]
    res["pss"] = [bp.pss_kib(p) / 1024.0 for p in pids]
    res["maps"] = pss_by_kind(pids)
    if os.environ.get("UVMD_BENCH_SMAPS") and pids:  # one QEMU's whole smaps, for a closer look
        shutil.copyfile("/proc/%d/smaps" % pids[0], os.environ["UVMD_BENCH_SMAPS"])
    if a.ksm == "on":
        res["ksm"] = ksm_round(a, pids)
    res["stop"], res["remove"] = bp.stop_remove(u, pods)
    res["disks"] = disk_builds(os.path.join(u.data, "images", "layers"), top)
    res["load1"] = bp.loadavg()
    return res


def map_kind(name, perms):
    """What a QEMU mapping is, from its smaps header."""
    if "/templates/" in name:
        return "guest RAM (template file, private copy-on-write)"
    if name in ("", "[anon]") and "x" in perms:
        return "TCG translation cache (anonymous, executable)"
    if name == "[heap]":
        return "heap"
    if name in ("", "[anon]"):
        return "other anonymous (guest RAM when cold, thread stacks, arenas)"
    if ".so" in name or "qemu-system" in name:
        return "QEMU binary and libraries"
    return "file " + os.path.basename(name) if name.startswith("/") else name


def pss_by_kind(pids):
    """{kind: mean Pss MiB per QEMU}: where an idle VM's Pss is. The TCG
    cache is QEMU's one executable anonymous mapping (split into several by
    its guard pages)."""
    total = {}
    for pid in pids:
        try:
            with open("/proc/%d/smaps" % pid) as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        name = perms = ""
        for ln in lines:
            f = ln.split()
            if not f[0].endswith(":"):  # a mapping's header: range perms off dev inode [path]
                perms, name = f[1], (f[5] if len(f) > 5 else "")
            elif f[0] == "Pss:":
                k = map_kind(name, perms)
                total[k] = total.get(k, 0) + int(f[1])
    return {k: v / 1024.0 / max(1, len(pids)) for k, v in total.items()}


def parallel_round(a, u, top, img, pods):
    """--parallel more VM pods started at once, each with its container:
    the wall time until all run, and each one's RunPodSandbox. They join
    pods (idle, stop and remove measure them too)."""
    import threading
    out, errs = [None] * a.parallel, []

    def one(i):
        try:
            pcfg = bp.pod_config(top, "par%d" % i, False)
            dt, resp = bp.timed(u.client.rt, "RunPodSandbox", config=pcfg, runtime_handler="uvm",
                                timeout=600)
            _, cr = bp.timed(u.client.rt, "CreateContainer", pod_sandbox_id=resp.pod_sandbox_id,
                             config=bp.ctr_config(img.config_digest, "sleep"),
                             sandbox_config=pcfg, timeout=300)
            u.client.rt("StartContainer", container_id=cr.container_id, timeout=300)
            out[i] = (resp.pod_sandbox_id, dt)
        except Exception as e:  # reported, not hidden
            errs.append("pod %d: %s" % (i, e))
    t0 = time.time()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(a.parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    pods.extend(x[0] for x in out if x)
    return {"wall": wall, "run": [x[1] for x in out if x], "errors": errs}


def du_bytes(path):
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs)


def disk_builds(layers, top, runs=5):
    """mkfs.erofs as image/disk.c runs it, on each unpacked layer: (layer
    bytes, disk bytes, seconds of the best of runs)."""
    out = []
    for name in sorted(os.listdir(layers)):
        src, dst = os.path.join(layers, name), os.path.join(top, "disk.erofs")
        best = None
        for _ in range(runs):
            t = time.time()
            subprocess.run(["mkfs.erofs", "--preserve-mtime", "--quiet", dst, src], check=True)
            dt = time.time() - t
            best = dt if best is None else min(best, dt)
        out.append((du_bytes(src), os.path.getsize(dst), best))
        os.unlink(dst)
    return out


def report(a, r):
    with open(os.path.join(a.guest, "manifest.json")) as fh:
        man = json.load(fh)
    print("VM pods: %d, templates %s, TCG unless the handler says KVM; load %s -> %s" % (
        a.pods, a.templates, r["load0"], r["load1"]))
    if "template_ready" in r:
        print("template ready %.1f s after uvmd started (background)" % r["template_ready"])
    print()
    print("| step | n | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("RunPodSandbox (client)", [x[2] for x in r["run"]]))
    print(row("  before QEMU exec (netns, CNI, tap)", r["pre"]))
    print(row("  QEMU exec -> guest settled (boot, agent, settings)", r["boot"]))
    print(row("first container: Create + Start", r["ctr"]))
    print(row("StopPodSandbox", r["stop"]))
    par = r.get("par")
    if par:
        print(row("RunPodSandbox, %d at once" % a.parallel, par["run"]))
    print(row("RemovePodSandbox", r["remove"]))
    if par:
        print()
        print("%d more VM pods at once, each with a container: all running after %.1f s "
              "(wall); %d failed%s" % (a.parallel, par["wall"], len(par["errors"]),
                                       "".join("\n  " + e for e in par["errors"])))
    print()
    print("| idle VM pod (per QEMU) | mean | max |")
    print("|---|---|---|")
    for k, unit in (("rss", "MiB RSS"), ("pss", "MiB Pss"), ("cpu", "% of a core")):
        print("| %s | %.1f | %.1f |" % (unit, statistics.mean(r[k]), max(r[k])))
    print()
    print("| where an idle VM pod's Pss is (per QEMU) | MiB |")
    print("|---|---|")
    for kind, mib in sorted(r["maps"].items(), key=lambda x: -x[1]):
        print("| %s | %.1f |" % (kind, mib))
    print()
    k = r.get("ksm")
    if k:
        print("KSM on (pages_to_scan %d): %d full scans in %.0f s, ksmd %.1f %% of a core; "
              "pages_shared %d, pages_sharing %d (%.1f MiB saved)" % (
                  k["pages_to_scan"], k["scans"], k["secs"], k["ksmd_cpu"], k["shared"],
                  k["sharing"], k["sharing"] * 4 / 1024.0))
        print()
        print("| idle VM pod with KSM (per QEMU) | mean | max |")
        print("|---|---|---|")
        for key, unit in (("rss", "MiB RSS"), ("pss", "MiB Pss")):
            print("| %s | %.1f | %.1f |" % (unit, statistics.mean(k[key]), max(k[key])))
        print()
    for src, disk, secs in r["disks"]:
        print("layer disk: %.2f MB of files -> %.2f MB erofs in %.0f ms (%.0f MB/s)" % (
            src / 1e6, disk / 1e6, secs * 1000, src / 1e6 / secs))
    print()
    print("guest image: initrd %d bytes, kernel %s" % (man["initrd"]["bytes"],
                                                       man["kernel"]["version"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", default=os.environ.get("UVMD_BIN"),
                    required=not os.environ.get("UVMD_BIN"), help="uvmd binary ($UVMD_BIN)")
    ap.add_argument("--guest", required=True, help="guest image dir (bazel-bin/guest)")
    ap.add_argument("--pods", type=int, default=20, help="VM pods (default 20)")
    ap.add_argument("--idle", type=int, default=10, help="seconds of idle CPU measured (10)")
    ap.add_argument("--templates", choices=("off", "on"), default="off",
                    help="on: wait for the VM template, then start every pod from it")
    ap.add_argument("--parallel", type=int, default=0,
                    help="then this many more VM pods started at once (0)")
    ap.add_argument("--ksm", choices=("off", "on"), default="off",
                    help="on: also measure with the host's KSM on (restored after)")
    ap.add_argument("--ksm-pages", type=int, default=1000,
                    help="KSM pages_to_scan while measuring (1000)")
    ap.add_argument("--ksm-wait", type=int, default=300,
                    help="at most this many seconds of KSM (300)")
    a = ap.parse_args()
    if not 1 <= a.pods <= 50 or not 0 <= a.parallel <= 20:
        ap.error("--pods must be 1..50, --parallel 0..20")
    if os.geteuid() != 0:
        ap.error("needs root")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    gen_stubs()
    top = tempfile.mkdtemp(prefix="vb-", dir="/tmp")
    try:
        report(a, bench(a, top))
    finally:
        u = getattr(bench, "uvmd", None)
        if u is not None:
            u.remove_all_pods()
            u.stop()
        subprocess.run(["ip", "link", "del", bp.BRIDGE], capture_output=True)
        bp.unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
