"""uvmd.exe's GetContainerEvents from Linux python3-grpcio, for
uvmd_events_test.sh: the Evented PLEG's view of an hcs pod's containers.

usage: events_client.py PORT all UVMD_PID
Three subscribers (A, B, C) are opened first and known to be subscribed
once each has seen a warm-up container's events. Then, each checked on
every open subscriber:
  app    created, started, stopped (StopContainer: the agent's exit
         notification after SIGTERM), removed: CREATED, STARTED, STOPPED,
         DELETED in that order, each with the container's status as
         ContainerStatus gave it at that step and the pod's status
  job    started, then ended by the agent on its own ("die 3": no signal
         sent): STOPPED with exit code 3, then DELETED on removal
  A cancelled: B and C still get the next container's events
  late   running when StopPodSandbox stops the pod: STOPPED, then DELETED
         by RemovePodSandbox
  stop   uvmd.exe sent SIGINT (Ctrl-C): B and C end with status OK, well
         within the drain's grace
The two subscribers left saw the same events. Prints "ok NAME" / "not ok
NAME # why"; UVMD_FAKE_AGENT_DIR is the fake agent's directory,
RIG_LOGS_WIN the pods' log directory as uvmd.exe sees it, IMAGE_ID the
seeded image."""
import os
import queue
import signal
import sys
import threading
import time

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import calls, check, connect, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode, uvmd_pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
logs_win = os.environ["RIG_LOGS_WIN"]
image_id = os.environ["IMAGE_ID"]
c, pb = connect(port, mode)
PATH = "/runtime.v1.RuntimeService/GetContainerEvents"
END = "end"  # what a collector queues when its stream ended with OK
T = {pb.CONTAINER_CREATED_EVENT: "CREATED", pb.CONTAINER_STARTED_EVENT: "STARTED",
     pb.CONTAINER_STOPPED_EVENT: "STOPPED", pb.CONTAINER_DELETED_EVENT: "DELETED"}


class Sub:
    """One GetContainerEvents stream, its events queued by a thread."""

    def __init__(self, name):
        self.name, self.q, self.log = name, queue.Queue(), []
        self.call = c.server_stream(PATH, pb.GetEventsRequest(), pb.ContainerEventResponse)
        self.ended_at = None
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        try:
            for ev in self.call:
                self.q.put(ev)
            self.q.put(END)
        except grpc.RpcError as e:
            self.q.put(e)
        self.ended_at = time.monotonic()

    def take(self, n, timeout=15):
        """The next n items (events, END or an error), fewer on a timeout."""
        out, end = [], time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.q.get(timeout=max(0.01, end - time.monotonic())))
            except queue.Empty:
                break
        self.log += [x for x in out if isinstance(x, pb.ContainerEventResponse)]
        return out

    def quiet(self, wait=0.5):
        """Nothing more queued within wait s."""
        extra = self.take(1, timeout=wait)
        return not extra, extra


def brief(evs):
    return one_line([(T.get(e.container_event_type), e.container_id[:12])
                     if isinstance(e, pb.ContainerEventResponse) else e for e in evs])


POD_META = pb.PodSandboxMetadata(name="evpod", namespace="events", uid="uid-events", attempt=1)
pod_cfg = pb.PodSandboxConfig(metadata=POD_META, log_directory=logs_win + "\\pod",
                              labels={"tier": "web"}, annotations={"a.b/c": "d"})


def create(pod, name):
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=2),
                             image=pb.ImageSpec(image="busybox"), command=["/bin/sleep", "1000"],
                             labels={"app": name}, annotations={"note": name + "!"},
                             log_path=name + "/0.log")
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                sandbox_config=pod_cfg).container_id


def status(ctr):
    return c.rt("ContainerStatus", container_id=ctr).status


# The fields a ContainerStatus and an event's status both carry.
def ctr_fields(s):
    return (s.id, s.metadata.name, s.metadata.attempt, s.state, s.created_at, s.started_at,
            s.finished_at, s.exit_code, s.image.image, s.image_ref, s.reason, s.message,
            s.log_path, dict(s.labels), dict(s.annotations))


def expect(subs, name, want, pod_state=None):
    """Each subscriber's next events are want, [(type, ContainerStatus)]
    for one container, each with that status and the pod's; then none."""
    ok, why = True, ""
    for s in subs:
        evs = s.take(len(want))
        types = [(e.container_event_type, e.container_id) if hasattr(e, "container_id") else e
                 for e in evs]
        if types != [(t, st.id) for t, st in want]:
            ok, why = False, "%s got %s" % (s.name, brief(evs))
            break
        for e, (t, st) in zip(evs, want):
            ps = e.pod_sandbox_status
            if len(e.containers_statuses) != 1 or \
                    ctr_fields(e.containers_statuses[0]) != ctr_fields(st):
                ok, why = False, "%s %s status %s, ContainerStatus %s" % (
                    s.name, T[t], one_line(e.containers_statuses), one_line(ctr_fields(st)))
            elif ps.id != pod or (pod_state is not None and ps.state != pod_state):
                ok, why = False, "%s %s pod %s" % (s.name, T[t], one_line(ps))
            elif pod_state == pb.SANDBOX_READY and not (
                    ps.metadata == POD_META and ps.created_at == pod_created
                    and ps.runtime_handler == "uvm" and dict(ps.labels) == {"tier": "web"}
                    and dict(ps.annotations) == {"a.b/c": "d"}):
                ok, why = False, "%s %s pod %s" % (s.name, T[t], one_line(ps))
            if not ok:
                break
        times = [e.created_at for e in evs]
        if ok and not (times == sorted(times) and abs(time.time() * 1e9 - times[0]) < 120e9):
            ok, why = False, "%s times %s" % (s.name, times)
        if not ok:
            break
        quiet, extra = s.quiet()
        if not quiet:
            ok, why = False, "%s then %s" % (s.name, brief(extra))
            break
    check(name, ok, why)


if mode != "all":
    sys.exit("unknown mode " + mode)

subs = {n: Sub(n) for n in "ABC"}
pod = c.rt("RunPodSandbox", config=pod_cfg, runtime_handler="uvm").pod_sandbox_id
pod_created = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.created_at

# --- subscribed: each has seen a warm-up container's last event -------------
seen, errs, k, until = set(), {}, 0, time.monotonic() + 60
while len(seen) < len(subs) and len(errs) < len(subs) and time.monotonic() < until:
    cid = create(pod, "warm%d" % k)
    c.rt("RemoveContainer", container_id=cid)
    k += 1
    for n, s in subs.items():
        if n in seen or n in errs:
            continue
        for x in iter(lambda: s.take(1, timeout=1), []):
            if not isinstance(x[0], pb.ContainerEventResponse):
                errs[n] = x[0]
                break
            if x[0].container_id == cid and \
                    x[0].container_event_type == pb.CONTAINER_DELETED_EVENT:
                seen.add(n)
                break
check("subscribed", len(seen) == len(subs),
      "after %d warm-ups only %s; %s" % (k, sorted(seen), one_line(errs)))
if len(seen) < len(subs):
    sys.exit(1)
for s in subs.values():
    s.log = []
every = list(subs.values())

# --- a container's life: created, started, stopped, removed -------------------
app = create(pod, "app")
expect(every, "app-created", [(pb.CONTAINER_CREATED_EVENT, status(app))], pb.SANDBOX_READY)
c.rt("StartContainer", container_id=app)
expect(every, "app-started", [(pb.CONTAINER_STARTED_EVENT, status(app))], pb.SANDBOX_READY)
c.rt("StopContainer", pb.StopContainerRequest(container_id=app, timeout=10))
st = status(app)
check("app-stop-from-agent", "signal 15 " + app in calls() and st.state == pb.CONTAINER_EXITED
      and st.exit_code == 0 and st.finished_at >= st.started_at > 0, one_line(st))
expect(every, "app-stopped", [(pb.CONTAINER_STOPPED_EVENT, st)], pb.SANDBOX_READY)
c.rt("RemoveContainer", container_id=app)
expect(every, "app-deleted", [(pb.CONTAINER_DELETED_EVENT, st)], pb.SANDBOX_READY)

# --- a container the agent reports ended on its own ---------------------------
job = create(pod, "job")
created = status(job)
c.rt("StartContainer", container_id=job)
running = status(job)
r = c.rt("ExecSync", container_id=job, cmd=["die", "3"], timeout=10)
check("job-die-exec", r.exit_code == 0, one_line(r))
# The exit is notified after the exec's answer: wait for the state.
until = time.monotonic() + 15
while status(job).state != pb.CONTAINER_EXITED and time.monotonic() < until:
    time.sleep(0.1)
st = status(job)
check("job-exited-3", st.state == pb.CONTAINER_EXITED and st.exit_code == 3, one_line(st))
check("job-not-signalled", not any(x.startswith("signal ") and x.endswith(job) for x in calls())
      and "die " + job in calls(), one_line(calls()[-4:]))
expect(every, "job-events", [(pb.CONTAINER_CREATED_EVENT, created),
                             (pb.CONTAINER_STARTED_EVENT, running),
                             (pb.CONTAINER_STOPPED_EVENT, st)], pb.SANDBOX_READY)
c.rt("RemoveContainer", container_id=job)
expect(every, "job-deleted", [(pb.CONTAINER_DELETED_EVENT, st)], pb.SANDBOX_READY)

# --- a subscriber that goes away ----------------------------------------------
subs["A"].call.cancel()
a_end = subs["A"].take(1, timeout=10)
check("cancelled-ends", len(a_end) == 1 and isinstance(a_end[0], grpc.RpcError)
      and a_end[0].code() == grpc.StatusCode.CANCELLED, one_line(a_end))
left = [subs["B"], subs["C"]]
late = create(pod, "late")
expect(left, "others-after-cancel", [(pb.CONTAINER_CREATED_EVENT, status(late))],
       pb.SANDBOX_READY)
check("cancelled-gets-nothing", subs["A"].quiet(0.3)[0])
c.rt("StartContainer", container_id=late)
expect(left, "late-started", [(pb.CONTAINER_STARTED_EVENT, status(late))], pb.SANDBOX_READY)

# --- the pod stopped with it running, then removed ------------------------------
c.rt("StopPodSandbox", pod_sandbox_id=pod)
st = status(late)
check("late-exited-with-pod", st.state == pb.CONTAINER_EXITED, one_line(st))
expect(left, "late-stopped-with-pod", [(pb.CONTAINER_STOPPED_EVENT, st)])
c.rt("RemovePodSandbox", pod_sandbox_id=pod)
expect(left, "late-deleted-with-pod", [(pb.CONTAINER_DELETED_EVENT, st)])
check("both-saw-the-same", [(e.container_event_type, e.container_id) for e in subs["B"].log]
      == [(e.container_event_type, e.container_id) for e in subs["C"].log]
      and len(subs["B"].log) == 12, "%s / %s" % (brief(subs["B"].log), brief(subs["C"].log)))

# --- uvmd.exe stopped (Ctrl-C): the open streams end with OK --------------------
check("open-before-stop", all(s.ended_at is None and s.q.empty() for s in left))
t0 = time.monotonic()
os.kill(uvmd_pid, signal.SIGINT)
for s in left:
    x = s.take(1, timeout=30)
    took = (s.ended_at or time.monotonic()) - t0
    # OK, not CANCELLED: ended by the drain, not when its grace ran out.
    check("stop-ends-" + s.name, x == [END], "%s after %.1f s" % (one_line(x), took))
    print("# %s ended %.0f ms after the stop" % (s.name, took * 1000))

sys.exit(hcs_client.failed != 0)
