"""Markdown tables of the side-by-side run: figures per runtime, ratios
uvmd/containerd, overheads above the floors and the issue's goals."""
import os
import statistics

from bench_pods import pct

U, C = "uvmd", "containerd"
LIFE = ("RunPodSandbox", "CreateContainer", "StartContainer", "Create+Start", "ExecSync",
        "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox")
QUERIES = ("ListPodSandbox", "ListContainers", "PodSandboxStatus", "ContainerStatus")
LISTS = ("ListPodSandbox", "ListContainers")
# Overheads above the floors, as issue 15 defines them.
FLOORS = {
    "RunPodSandbox": ("netns add", "CNI ADD"),
    "Create+Start": ("runc create", "runc start"),
    "StopPodSandbox": ("runc kill", "runc delete", "CNI DEL", "netns del"),
}
MIB = 1024.0


def p(values, q, scale=1000.0):
    return pct(values, q) * scale


def ratio(x, y):
    return "%.2f" % (x / y) if y > 0 else "n/a"


def met(ok):
    return "met" if ok else "**not met**"


def render(a, r):
    out = []
    w = out.append
    u, c = r[U], r[C]
    w("Machine: %d cores, kernel %s, %s. uvmd: %s; %s; %s." % (
        os.cpu_count(), os.uname().release, r["started"], os.environ.get("UVMD_SOURCE", a.uvmd),
        r["versions"]["containerd"], r["versions"]["runc"]))
    w("Load average (1/5/15 min): %s at start; uvmd phase %s -> %s; containerd phase "
      "%s -> %s; %s at the end." % (r["load0"], u["load0"], u["load1"], c["load0"], c["load1"],
                                    r["load1"]))
    w("Order: %s. Lifecycle rounds and floor runs: %s; List/Status calls per kind and size: %d "
      "(C client, one at a time, 10 warm-up calls); parallel: %s.\n" % (
          ", ".join(a.order), "none (--queries-only)" if a.queries_only else a.calls,
          a.list_calls, "none" if a.queries_only else "%d pods x %d rounds" % (
              a.parallel, a.parallel_rounds)))
    if not a.queries_only:
        render_life(a, r, w)
    render_sizes(a, r, w)
    return "\n".join(out) + "\n"


def render_life(a, r, w):
    """Lifecycle calls, floors, overheads, parallel pods."""
    u, c = r[U], r[C]
    w("### Lifecycle calls, one at a time (ms)\n")
    w("| call | n | uvmd p50 | p90 | p99 | containerd p50 | p90 | p99 | uvmd/containerd p50 |")
    w("|---|---|---|---|---|---|---|---|---|")
    for k in LIFE:
        x, y = u["life"][k], c["life"][k]
        w("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s |" % (
            k, len(x), p(x, 50), p(x, 90), p(x, 99), p(y, 50), p(y, 90), p(y, 99),
            ratio(p(x, 50), p(y, 50))))
    w("\nStopContainer with timeout 0 (SIGKILL at once: the sleeper is PID 1 of its PID "
      "namespace and ignores SIGTERM); StopPodSandbox with the pod's container running. "
      "PullImage of the busybox image: uvmd %.0f ms, containerd %.0f ms (one pull each).\n" % (
          u["pull"] * 1000, c["pull"] * 1000))

    fl = r["floors"]
    w("### Floors, by hand (ms)\n")
    w("| step | n | p50 | p90 | p99 |")
    w("|---|---|---|---|---|")
    for k, v in fl.items():
        w("| %s | %d | %.2f | %.2f | %.2f |" % (k, len(v), p(v, 50), p(v, 90), p(v, 99)))

    w("\n### Overhead above the floors (p50, ms; goal: uvmd ≤ 0.5 x containerd)\n")
    w("| call | floor | floor p50 | uvmd p50 | uvmd overhead | containerd p50 | containerd "
      "overhead | ratio | goal |")
    w("|---|---|---|---|---|---|---|---|---|")
    for k, steps in FLOORS.items():
        f = sum(p(fl[s], 50) for s in steps)
        xu, xc = p(u["life"][k], 50), p(c["life"][k], 50)
        ou, oc = xu - f, xc - f
        if oc > 0:
            rr, goal = "%.2f" % (ou / oc), met(ou <= 0.5 * oc)
        else:  # no overhead to halve: within noise of the floor
            rr, goal = "n/a", "n/a: containerd not above the floor"
        w("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |" % (
            k, " + ".join(steps), f, xu, ou, xc, oc, rr, goal))

    w("\n### %d pods in parallel: RunPodSandbox + CreateContainer + StartContainer each "
      "(wall s)\n" % a.parallel)
    w("| runtime | rounds | median | all |")
    w("|---|---|---|---|")
    for name, x in ((U, u), (C, c)):
        w("| %s | %d | %.2f | %s |" % (name, len(x["parallel"]), statistics.median(
            x["parallel"]), ", ".join("%.2f" % t for t in x["parallel"])))
    pr = statistics.median(u["parallel"]) / statistics.median(c["parallel"])
    w("\nuvmd/containerd: %.2f (goal ≤ 0.5: %s).\n" % (pr, met(pr <= 0.5)))


def render_sizes(a, r, w):
    """List/Status calls, memory, growing and teardown at each size."""
    u, c = r[U], r[C]
    w("### List and Status calls with N pods, one `sleep` container each (ms, C client)\n")
    w("| call | pods | uvmd p50 | p90 | p99 | containerd p50 | p90 | p99 | ratio p50 | ratio "
      "p99 | reply bytes uvmd / containerd |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    list_ok = True
    for size in a.sizes:
        qu, qc = u["sizes"][size]["queries"], c["sizes"][size]["queries"]
        for k in QUERIES:
            (x, bx), (y, by) = qu[k], qc[k]
            pu, pc = p(x, 50, 1e-3), p(y, 50, 1e-3)
            if k in LISTS and pu > 0.5 * pc:
                list_ok = False
            w("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %s | %d / %d |" % (
                k, size, pu, p(x, 90, 1e-3), p(x, 99, 1e-3), pc, p(y, 90, 1e-3),
                p(y, 99, 1e-3), ratio(pu, pc), ratio(p(x, 99, 1e-3), p(y, 99, 1e-3)), bx, by))
    top = a.sizes[-1]
    w("\nList calls (p50) ≤ 0.5 x containerd at every size: %s." % met(list_ok))
    render_placed(a, u, c, w)
    for name, x in ((U, u), (C, c)):
        worst = max(p(x["sizes"][top]["queries"][k][0], 99, 1e-3) for k in LISTS)
        w("Largest List p99 at %d pods, %s: %.3f ms (goal under 5 ms: %s)." % (
            top, name, worst, met(worst < 5.0)))

    w("\n### Memory (MiB): daemon + per-pod processes\n")
    w("Per-pod processes: uvmd-agent (uvmd); containerd-shim-runc-v2 + pause (containerd). "
      "The `sleep` containers are the same under both and not counted.\n")
    w("| pods | what | uvmd RSS | uvmd Pss | containerd RSS | containerd Pss | Pss ratio |")
    w("|---|---|---|---|---|---|---|")
    mem_rows(w, "0 (after pull)", u["idle"], c["idle"])
    mem_ok = True
    for size in a.sizes:
        mu, mc = u["sizes"][size]["memory"], c["sizes"][size]["memory"]
        tu, tc = mem_rows(w, str(size), mu, mc)
        mem_ok = mem_ok and tu <= 0.25 * tc
        w("| %d | total per pod | %.2f | %.2f | %.2f | %.2f | %s |" % (
            size, total(mu, 1) / MIB / size, total(mu, 2) / MIB / size,
            total(mc, 1) / MIB / size, total(mc, 2) / MIB / size, ratio(total(mu, 2),
                                                                        total(mc, 2))))
    w("\nMemory ≤ 0.25 x containerd's Pss (daemon + per-pod) at every size: %s." % met(mem_ok))
    for size in a.sizes:
        mc = c["sizes"][size]["memory"]
        w("At %d pods: %d uvmd-agent; %d shims, %d pause." % (
            size, u["sizes"][size]["memory"]["per-pod"][0], mc["shims"][0], mc["pauses"][0]))

    w("\n### Growing and tearing down\n")
    w("| what | uvmd | containerd | ratio |")
    w("|---|---|---|---|")
    prev = 0
    for size in a.sizes:
        gu, gc = u["sizes"][size]["grow"], c["sizes"][size]["grow"]
        w("| %d -> %d pods (Run + Create + Start each), s | %.1f | %.1f | %s |" % (
            prev, size, gu, gc, ratio(gu, gc)))
        prev = size
    for i, k in enumerate(("StopPodSandbox", "RemovePodSandbox")):
        x, y = u["teardown"][i], c["teardown"][i]
        w("| %s from %d pods down, p50 / p99 ms | %.1f / %.1f | %.1f / %.1f | %s |" % (
            k, top, p(x, 50), p(x, 99), p(y, 50), p(y, 99), ratio(p(x, 50), p(y, 50))))
    w("\nPer-pod processes left after every pod was removed: uvmd %d, containerd %d." % (
        u["left"], c["left"]))


def render_placed(a, u, c, w):
    """The List calls again with the daemon and the client pinned, and the
    daemon's CPU per call (all its threads) in the unpinned blocks above."""
    sizes = [z for z in a.sizes if u["sizes"][z]["queries"].get("placed")]
    if not sizes:
        return
    places = list(u["sizes"][sizes[0]]["queries"]["placed"][LISTS[0]])
    w("\n### List calls placed: daemon and client pinned (p50 ms), and the daemon's CPU per "
      "call (µs, every thread)\n")
    w("| call | pods | " + " | ".join("%s uvmd / containerd | ratio" % n for n in places) +
      " | CPU uvmd / containerd | ratio |")
    w("|---|---|" + "---|---|" * len(places) + "---|---|")
    ok = {n: True for n in places}
    cpu_ok = True
    for size in sizes:
        qu, qc = u["sizes"][size]["queries"], c["sizes"][size]["queries"]
        for k in LISTS:
            cells = []
            for n in places:
                pu, pc = p(qu["placed"][k][n], 50, 1e-3), p(qc["placed"][k][n], 50, 1e-3)
                ok[n] = ok[n] and pu <= 0.5 * pc
                cells.append("%.3f / %.3f | %s" % (pu, pc, ratio(pu, pc)))
            cu, cc = qu["cpu"][k], qc["cpu"][k]
            cpu_ok = cpu_ok and cu <= 0.5 * cc
            w("| %s | %d | %s | %.1f / %.1f | %s |" % (k, size, " | ".join(cells), cu, cc,
                                                        ratio(cu, cc)))
    for n in places:
        w("\nList calls (p50), %s, ≤ 0.5 x containerd at every size: %s." % (n, met(ok[n])))
    w("Daemon CPU per List call ≤ 0.5 x containerd's at every size: %s." % met(cpu_ok))


def total(m, i):
    return m["daemon"][i] + m["per-pod"][i]


def mem_rows(w, label, mu, mc):
    for g in ("daemon", "per-pod"):
        w("| %s | %s | %.1f | %.1f | %.1f | %.1f | %s |" % (
            label, g, mu[g][1] / MIB, mu[g][2] / MIB, mc[g][1] / MIB, mc[g][2] / MIB,
            ratio(mu[g][2], mc[g][2])))
    tu, tc = total(mu, 2), total(mc, 2)
    w("| %s | **total** | %.1f | %.1f | %.1f | %.1f | %s |" % (
        label, total(mu, 1) / MIB, tu / MIB, total(mc, 1) / MIB, tc / MIB, ratio(tu, tc)))
    return tu, tc
