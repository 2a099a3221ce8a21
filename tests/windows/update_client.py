"""uvmd.exe's UpdateContainerResources and a Windows node's container
resources from Linux python3-grpcio, for uvmd_update_test.sh. The kubelet
on a Windows node gives WindowsContainerResources; the container is a
Linux one in the pod's VM, so uvmd.exe maps them to Linux cgroup values
(docs/windows.md "Container resources") and the fake agent
(tests/windows/fakes/agent_server.c) keeps what an UpdateContainer brought
(update-ID.json) and each create request (create-ID.json).

usage: update_client.py PORT MODE [POD_ID CTR_ID IDLE_ID]
  run            a pod; containers made with windows resources (mapped
                 into the spec), linux ones (as they are), bad ones
                 (refused, nothing made); prints "pod ID", "ctr ID" (started)
                 and "idle ID" (created, never started)
  update P C I   windows and linux updates reach the agent mapped, and
                 ContainerStatus reports them; bad input, an unknown
                 container, a container not started are refused
  restarted P C I  after uvmd.exe was killed and restarted: still reported
  stopped P C I  a stopped container's update refused, the agent not asked;
                 everything removed
Prints "ok NAME" / "not ok NAME # why". UVMD_FAKE_AGENT_DIR is the fake
agent's directory."""
import json
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import calls, check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
c, pb = connect(port, mode)
MiB, PERIOD = 1 << 20, 100000
BAD = grpc.StatusCode.INVALID_ARGUMENT


def updates(ctr):
    return calls().count("update " + ctr)


def sent(ctr):
    """The Resources of the agent's last UpdateContainer for ctr."""
    with open(os.path.join(agent_dir, "update-%s.json" % ctr)) as f:
        return json.load(f)


def spec_resources(ctr):
    with open(os.path.join(agent_dir, "create-%s.json" % ctr)) as f:
        return json.loads(json.load(f)["Spec"])["linux"]["resources"]


def uvm(pod):
    """The pod's VM as PodSandboxStatus's verbose info tells it."""
    info = c.rt("PodSandboxStatus", pod_sandbox_id=pod, verbose=True).info
    return json.loads(info["info"])["uvm"]


def reported(ctr):
    return c.rt("ContainerStatus", container_id=ctr).status.resources.linux


def config(name, **kw):
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                              image=pb.ImageSpec(image="busybox"),
                              command=["/bin/sleep", "1000"], **kw)


def create(pod, name, **kw):
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=config(name, **kw),
                sandbox_config=pod_cfg).container_id


def win(**kw):
    return pb.WindowsContainerConfig(resources=pb.WindowsContainerResources(**kw))


def lin(**kw):
    return pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(**kw))


def update(ctr, **kw):
    return c.rt("UpdateContainerResources", container_id=ctr, **kw)


pod_cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web", namespace="default",
                                                             uid="uid-update"))
W, L = pb.WindowsContainerResources, pb.LinuxContainerResources

if mode == "run":
    pod = c.rt("RunPodSandbox", config=pod_cfg, runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    vcpus = uvm(pod)["processors"]
    check("uvm-processors", vcpus >= 1, str(vcpus))
    # As the kubelet on a Windows node asks: half the CPUs, 256 MiB.
    ctr = create(pod, "app", windows=win(cpu_maximum=5000, memory_limit_in_bytes=256 * MiB))
    print("ctr " + ctr)
    want_q = 5000 * PERIOD * vcpus // 10000
    r = spec_resources(ctr)
    check("create-windows-mapped-in-spec",
          r.get("cpu") == {"quota": want_q, "period": PERIOD}
          and r.get("memory") == {"limit": 256 * MiB, "swap": 256 * MiB}, json.dumps(r))
    s = reported(ctr)
    check("create-windows-status", s.cpu_quota == want_q and s.cpu_period == PERIOD
          and s.cpu_shares == 0 and s.memory_limit_in_bytes == 256 * MiB, one_line(s))
    # Linux ones given: those, as they are (windows alongside ignored).
    idle = create(pod, "idle", linux=lin(cpu_shares=512, cpuset_cpus="0"),
                  windows=win(cpu_shares=10000))
    print("idle " + idle)
    r = spec_resources(idle)
    check("create-linux-as-is", r.get("cpu") == {"shares": 512, "cpus": "0"}, json.dumps(r))
    s = reported(idle)
    check("create-linux-status", s.cpu_shares == 512 and s.cpuset_cpus == "0", one_line(s))
    n = len(c.rt("ListContainers").containers)
    expect_error("create-bad-windows-maximum",
                 lambda: create(pod, "bad1", windows=win(cpu_maximum=10001)), BAD,
                 "windows.cpu_maximum 10001")
    expect_error("create-bad-windows-both",
                 lambda: create(pod, "bad2", windows=win(cpu_count=1, cpu_maximum=10)), BAD,
                 "windows.cpu_count and windows.cpu_maximum")
    expect_error("create-bad-windows-rootfs",
                 lambda: create(pod, "bad3", windows=win(rootfs_size_in_bytes=1 << 50)), BAD,
                 "windows.rootfs_size_in_bytes")
    expect_error("create-bad-linux",
                 lambda: create(pod, "bad4", linux=lin(cpu_quota=999)), BAD, "cpu_quota 999")
    expect_error("create-bad-unknown-pod",
                 lambda: c.rt("CreateContainer", pod_sandbox_id="e" * 64,
                              config=config("x", windows=win(cpu_count=1)),
                              sandbox_config=pod_cfg), grpc.StatusCode.NOT_FOUND, "")
    check("create-bad-nothing-made", len(c.rt("ListContainers").containers) == n)
    c.rt("StartContainer", container_id=ctr)

elif mode == "update":
    pod, ctr, idle = args
    vcpus = uvm(pod)["processors"]
    # windows: one CPU, the most weight, 128 MiB.
    update(ctr, windows=W(cpu_count=1, cpu_shares=10000, memory_limit_in_bytes=128 * MiB))
    want = {"cpu": {"shares": 262144, "quota": PERIOD, "period": PERIOD},
            "memory": {"limit": 128 * MiB, "swap": 128 * MiB}}
    check("windows-update-reached-agent", updates(ctr) == 1 and sent(ctr) == want,
          json.dumps(sent(ctr)) if updates(ctr) else one_line(calls()[-3:]))
    s = reported(ctr)
    check("windows-update-status", s.cpu_shares == 262144 and s.cpu_quota == PERIOD
          and s.cpu_period == PERIOD and s.memory_limit_in_bytes == 128 * MiB, one_line(s))
    # A quarter of the VM's CPUs.
    update(ctr, windows=W(cpu_maximum=2500))
    want_q = max(2500 * PERIOD * vcpus // 10000, 1000)
    check("windows-maximum-of-vm-cpus", sent(ctr) == {"cpu": {"quota": want_q, "period": PERIOD}},
          json.dumps(sent(ctr)))
    s = reported(ctr)
    check("windows-maximum-status", s.cpu_quota == want_q and s.cpu_shares == 262144
          and s.memory_limit_in_bytes == 128 * MiB, one_line(s))
    # linux: as it is; windows alongside ignored.
    update(ctr, linux=L(cpu_quota=50000, cpu_period=200000, cpuset_cpus="0",
                        memory_limit_in_bytes=64 * MiB), windows=W(cpu_shares=1))
    check("linux-update-reached-agent",
          sent(ctr) == {"cpu": {"quota": 50000, "period": 200000, "cpus": "0"},
                        "memory": {"limit": 64 * MiB, "swap": 64 * MiB}}, json.dumps(sent(ctr)))
    s = reported(ctr)
    check("linux-update-status", s.cpu_quota == 50000 and s.cpu_period == 200000
          and s.cpuset_cpus == "0" and s.memory_limit_in_bytes == 64 * MiB
          and s.cpu_shares == 262144, one_line(s))
    # A rootfs size within what the writable layer holds: checked, nothing to change.
    update(ctr, windows=W(rootfs_size_in_bytes=64 * MiB))
    check("windows-rootfs-within-accepted", sent(ctr) == {} and updates(ctr) == 4,
          json.dumps(sent(ctr)))

    n = updates(ctr)
    bad = [(W(cpu_shares=10001), "windows.cpu_shares 10001"),
           (W(cpu_shares=-1), "windows.cpu_shares -1"),
           (W(cpu_count=-2), "windows.cpu_count -2"),
           (W(cpu_maximum=-1), "windows.cpu_maximum -1"),
           (W(cpu_maximum=20000), "windows.cpu_maximum 20000"),
           (W(cpu_count=2, cpu_maximum=5000), "windows.cpu_count and windows.cpu_maximum"),
           (W(memory_limit_in_bytes=4 * MiB - 1), "windows.memory_limit_in_bytes"),
           (W(memory_limit_in_bytes=-5), "windows.memory_limit_in_bytes -5"),
           (W(rootfs_size_in_bytes=-1), "windows.rootfs_size_in_bytes -1"),
           (W(rootfs_size_in_bytes=1 << 50), "windows.rootfs_size_in_bytes %d" % (1 << 50)),
           (W(affinity_cpus=[pb.WindowsCpuGroupAffinity(cpu_mask=1, cpu_group=0)]),
            "windows.affinity_cpus")]
    for i, (w, needle) in enumerate(bad):
        expect_error("bad-windows-%d" % i, lambda: update(ctr, windows=w), BAD, needle)
    for i, (kw, needle) in enumerate([(dict(cpu_shares=262145), "cpu_shares 262145"),
                                      (dict(cpu_period=999), "cpu_period 999"),
                                      (dict(cpuset_cpus="3-1"), "cpuset_cpus")]):
        expect_error("bad-linux-%d" % i, lambda: update(ctr, linux=L(**kw)), BAD, needle)
    expect_error("bad-neither", lambda: update(ctr), BAD, "resources are required")
    expect_error("bad-container-id", lambda: update("", windows=W(cpu_count=1)), BAD,
                 "container_id")
    check("bad-agent-not-asked", updates(ctr) == n, str(updates(ctr)))
    s = reported(ctr)
    check("bad-status-unchanged", s.cpu_quota == 50000 and s.memory_limit_in_bytes == 64 * MiB,
          one_line(s))
    expect_error("unknown-windows", lambda: update("e" * 64, windows=W(cpu_count=1)),
                 grpc.StatusCode.NOT_FOUND, "")
    expect_error("unknown-linux", lambda: update("e" * 64, linux=L(cpu_shares=2)),
                 grpc.StatusCode.NOT_FOUND, "")
    # Created, never started: refused as on Linux.
    expect_error("not-started-refused", lambda: update(idle, windows=W(cpu_count=1)),
                 grpc.StatusCode.FAILED_PRECONDITION, "not running")
    check("not-started-agent-not-asked", updates(idle) == 0)

elif mode == "restarted":
    pod, ctr, idle = args
    s = reported(ctr)
    check("restart-status-kept", s.cpu_quota == 50000 and s.cpu_period == 200000
          and s.cpuset_cpus == "0" and s.memory_limit_in_bytes == 64 * MiB
          and s.cpu_shares == 262144, one_line(s))
    s = reported(idle)
    check("restart-idle-status-kept", s.cpu_shares == 512 and s.cpuset_cpus == "0", one_line(s))
    update(ctr, windows=W(memory_limit_in_bytes=96 * MiB))
    check("restart-update-reached-agent",
          sent(ctr) == {"memory": {"limit": 96 * MiB, "swap": 96 * MiB}}, json.dumps(sent(ctr)))

elif mode == "stopped":
    pod, ctr, idle = args
    c.rt("StopContainer", pb.StopContainerRequest(container_id=ctr, timeout=10))
    n = updates(ctr)
    expect_error("stopped-refused", lambda: update(ctr, windows=W(cpu_count=1)),
                 grpc.StatusCode.FAILED_PRECONDITION, "not running")
    expect_error("stopped-refused-linux", lambda: update(ctr, linux=L(cpu_shares=2)),
                 grpc.StatusCode.FAILED_PRECONDITION, "not running")
    check("stopped-agent-not-asked", updates(ctr) == n)
    for x in (ctr, idle):
        c.rt("RemoveContainer", container_id=x)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("pod-removed", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(hcs_client.failed != 0)
