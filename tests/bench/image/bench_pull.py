#!/usr/bin/env python3
"""Image pull benchmark: uvmd PullImage of the ~50 MB "big" test image from a
local docker-registry, against skopeo copying the same image to a directory.

Cold pulls start a fresh uvmd with an empty data root each run; warm pulls
repeat the pull on the last cold daemon, whose store already holds the image.
uvmd's CPU time per pull comes from /proc/<pid>/stat (utime + stime) around
the call. The hashing share is estimated by timing sha256 (Python's hashlib,
which is OpenSSL's, as is uvmd's) over the bytes uvmd hashes on a cold pull:
every compressed blob (digest check while downloading) plus every
uncompressed layer (diff id check while unpacking). With --perf, one extra
cold pull runs under `perf record` and its samples are split by symbol.

Prints a markdown table; asserts nothing about time. Everything it starts
(registry, uvmd, skopeo, perf) is stopped and its temp dirs removed.
"""
import argparse
import gzip
import hashlib
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEG = os.path.abspath(os.path.join(HERE, "..", "..", "integration"))
sys.path.insert(0, INTEG)

import imagelib  # noqa: E402
from uvmdlib import Client, gen_stubs, pb  # noqa: E402

MB = 1e6
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of stat)."""
    with open("/proc/%d/stat" % pid) as fh:
        # The command name may hold spaces; the fields after ')' are fixed.
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Uvmd:
    """One uvmd with its own socket, state and data roots under workdir."""

    def __init__(self, binary, workdir, registry_host):
        self.binary = binary
        self.workdir = workdir
        self.socket = os.path.join(workdir, "uvmd.sock")
        self.data = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "config.json")
        self.log_path = os.path.join(workdir, "uvmd.log")
        with open(self.config, "w") as fh:
            fh.write('{"insecure_registries": ["%s"]}' % registry_host)
        self.proc = None
        self.client = None

    def start(self, timeout=30):
        args = [self.binary, "--socket", self.socket, "--state-root",
                os.path.join(self.workdir, "state"), "--data-root", self.data, "--config",
                self.config, "--log-level", "warn"]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("uvmd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if os.path.exists(self.socket):
                try:
                    self.client = Client(self.socket)
                    self.client.version(timeout=1)
                    return self
                except Exception:
                    self.client.close()
                    self.client = None
            time.sleep(0.02)
        raise RuntimeError("uvmd not ready after %ss:\n%s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def pull(self, ref):
        """(wall seconds, uvmd CPU seconds, image id) of one PullImage."""
        c0 = cpu_seconds(self.proc.pid)
        t0 = time.perf_counter()
        resp = self.client.img("PullImage", image=pb().ImageSpec(image=ref), timeout=600)
        wall = time.perf_counter() - t0
        return wall, cpu_seconds(self.proc.pid) - c0, resp.image_ref

    def stop(self):
        if self.client:
            self.client.close()
            self.client = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hash_seconds(blobs, reps=3):
    """Best-of-reps time to sha256 every buffer in blobs, 1 MiB at a time
    (roughly how the C code feeds the hasher)."""
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        for data in blobs:
            h = hashlib.sha256()
            mv = memoryview(data)
            for off in range(0, len(mv), 1 << 20):
                h.update(mv[off:off + (1 << 20)])
            h.digest()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def skopeo_copy(ref, dest):
    """(wall, CPU seconds of skopeo) of one copy into a fresh dir: layout."""
    cmd = [imagelib.SKOPEO, "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
           "docker://" + ref, "dir:" + dest]
    c0 = children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("skopeo copy failed: %s" % r.stderr.decode(errors="replace"))
    return wall, children_cpu() - c0


# Symbol classes for the perf split; first match wins.
# Debian's libcrypto carries no symbols, so samples are classed by library:
# on a plain-HTTP pull the only thing uvmd asks of libcrypto is sha256.
PERF_CLASSES = [
    ("sha256 (libcrypto)", re.compile(r"libcrypto\.so")),
    ("inflate (libz)", re.compile(r"libz\.so")),
    ("tar parsing (libarchive)", re.compile(r"libarchive\.so")),
    ("kernel (network, file writes, page cache)", re.compile(r"\[kernel")),
]


def perf_split(binary, workdir, registry_host, ref):
    """One more cold pull under `perf record`; returns ({class: share}, wall,
    cpu) or None when perf cannot record here."""
    if not shutil.which("perf"):
        return None
    d = Uvmd(binary, workdir, registry_host).start()
    data = os.path.join(workdir, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "-o", data, "-p",
                             str(d.proc.pid)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # let perf attach before the pull starts
        wall, cpu, _ = d.pull(ref)
    finally:
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(timeout=60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
        d.stop()
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                        "--sort", "dso", "--percent-limit", "0"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return None
    shares = {name: 0.0 for name, _ in PERF_CLASSES}
    shares["other"] = 0.0
    total = 0.0
    top = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if not m:
            continue
        pct, rest = float(m.group(1)), m.group(2)
        total += pct
        if len(top) < 10:
            top.append((pct, " ".join(rest.split())))
        for name, rx in PERF_CLASSES:
            if rx.search(rest):
                shares[name] += pct
                break
        else:
            shares["other"] += pct
    if total == 0:
        return None
    return {k: v * 100.0 / total for k, v in shares.items()}, top, wall, cpu


def row(name, values, fmt="%.2f"):
    return "| %s | %s | %s | %s |" % (name, fmt % statistics.median(values), fmt % min(values),
                                      fmt % max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uvmd", default=os.environ.get("UVMD_BIN"), required=not os.environ.get(
        "UVMD_BIN"), help="the uvmd binary (default: $UVMD_BIN)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-perf", dest="perf", action="store_false")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    if not os.access(a.uvmd, os.X_OK):
        ap.error("uvmd binary not found: %s" % a.uvmd)

    gen_stubs()
    top = tempfile.mkdtemp(prefix="imgbench-", dir="/tmp")
    reg = None
    daemons = []
    try:
        img = imagelib.build_image(os.path.join(top, "layout"), "big")
        compressed = len(img.manifest) + len(img.config) + sum(la.size for la in img.layers)
        layer_gz = [img.blob(la.digest) for la in img.layers]
        layer_tar = [gzip.decompress(b) for b in layer_gz]
        uncompressed = sum(len(t) for t in layer_tar)
        hashed = [img.manifest, img.config] + layer_gz + layer_tar
        hashed_bytes = sum(len(b) for b in hashed)
        hash_s = hash_seconds(hashed)
        del layer_tar

        os.makedirs(os.path.join(top, "registry"))
        reg = imagelib.Registry(os.path.join(top, "registry")).start()
        ref = reg.push(img, "bench/big", "latest")

        cold, cold_cpu, warm = [], [], []
        last = None
        for i in range(a.runs):
            wd = os.path.join(top, "uvmd%d" % i)
            os.makedirs(wd)
            d = Uvmd(a.uvmd, wd, reg.host).start()
            daemons.append(d)
            wall, cpu, image_id = d.pull(ref)
            if image_id != img.id:
                raise RuntimeError("pulled %s, expected %s" % (image_id, img.id))
            cold.append(wall)
            cold_cpu.append(cpu)
            if i < a.runs - 1:
                d.stop()
                shutil.rmtree(wd)
            last = d
        # One warm pull costs about one clock tick of CPU, so the CPU figure
        # is the mean over all warm pulls rather than per-pull readings.
        c0 = cpu_seconds(last.proc.pid)
        for _ in range(a.runs):
            wall, _, image_id = last.pull(ref)
            if image_id != img.id:
                raise RuntimeError("warm pull gave %s, expected %s" % (image_id, img.id))
            warm.append(wall)
        warm_cpu = (cpu_seconds(last.proc.pid) - c0) / a.runs
        last.stop()

        sk, sk_cpu = [], []
        for i in range(a.runs):
            dest = os.path.join(top, "skopeo%d" % i)
            wall, cpu = skopeo_copy(ref, dest)
            sk.append(wall)
            sk_cpu.append(cpu)
            shutil.rmtree(dest)

        split = None
        if a.perf:
            wd = os.path.join(top, "perf")
            os.makedirs(wd)
            split = perf_split(a.uvmd, wd, reg.host, ref)

        report(a, img, compressed, uncompressed, hashed_bytes, hash_s, cold, cold_cpu, warm,
               warm_cpu, sk, sk_cpu, split)
    finally:
        for d in daemons:
            d.stop()
        if reg:
            reg.stop()
        shutil.rmtree(top, ignore_errors=True)


def report(a, img, compressed, uncompressed, hashed_bytes, hash_s, cold, cold_cpu, warm, warm_cpu,
           sk, sk_cpu, split):
    n = a.runs
    print("machine: %d cores, %s, %s; uvmd %s" % (os.cpu_count(), os.uname().release,
                                                   time.strftime("%Y-%m-%d", time.gmtime()),
                                                   a.uvmd))
    print("image: %d layers, %.1f MB compressed (manifest + config + layers), "
          "%.1f MB uncompressed layers; MB = 10^6 bytes\n" % (len(img.layers), compressed / MB,
                                                              uncompressed / MB))
    print("| case (%d runs) | median | min | max |" % n)
    print("|---|---|---|---|")
    print(row("uvmd cold pull, wall s", cold))
    print(row("uvmd cold pull, MB/s (compressed)", [compressed / MB / t for t in cold], "%.1f"))
    print(row("uvmd cold pull, uvmd CPU s", cold_cpu))
    print(row("uvmd warm pull, wall ms", [t * 1000 for t in warm], "%.1f"))
    tick_ms = 1000.0 / CLK_TCK
    warm_ms = warm_cpu * 1000
    # Below one tick over all runs the reading is zero: say the bound.
    shown = "%.0f" % warm_ms if warm_ms > 0 else "< %.0f" % (tick_ms / n)
    print("| uvmd warm pull, uvmd CPU ms (mean; %.0f ms clock tick) | %s | | |" % (tick_ms, shown))
    print(row("skopeo copy to dir:, wall s", sk))
    print(row("skopeo copy to dir:, MB/s", [compressed / MB / t for t in sk], "%.1f"))
    print(row("skopeo copy, skopeo CPU s", sk_cpu))
    cpu = statistics.median(cold_cpu)
    print("\n| derived | value |")
    print("|---|---|")
    print("| uvmd cold / skopeo wall (medians; skopeo does not unpack) | %.2f |"
          % (statistics.median(cold) / statistics.median(sk)))
    print("| sha256 over %.1f MB (compressed + uncompressed), hashlib | %.3f s (%.0f MB/s) |"
          % (hashed_bytes / MB, hash_s, hashed_bytes / MB / hash_s))
    print("| hashing share of uvmd cold-pull CPU (hash s / median CPU s) | %.0f %% |"
          % (100.0 * hash_s / cpu))
    if split:
        shares, top, wall, pcpu = split
        print("\nperf record -F 4999 of one more cold pull (%.2f s wall, %.2f s uvmd CPU), "
              "share of samples:\n" % (wall, pcpu))
        print("| where | share |")
        print("|---|---|")
        for k, v in shares.items():
            print("| %s | %.0f %% |" % (k, v))
        print("\ntop libraries (perf report --sort dso):\n")
        for pct, what in top:
            print("    %5.1f%%  %s" % (pct, what))
    elif a.perf:
        print("\nperf: not available or could not record; no sampled split")


if __name__ == "__main__":
    main()
