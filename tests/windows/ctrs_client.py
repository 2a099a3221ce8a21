"""uvmd.exe's container calls from Linux python3-grpcio, for uvmd_ctrs_test.sh.

usage: ctrs_client.py PORT MODE [POD_ID [CTR_ID]]
  run              a pod; a container of a known image created (CREATED in
                   Status and List), started (RUNNING); prints "pod ID" and
                   "ctr ID" for the script
  refused POD      an image not on the node, a mount's propagation, an ExecSync without a
                   command: refused, nothing made
  reattached POD CTR   after a restart: the container still RUNNING, listed
  failcreate POD   the agent refuses a create: an error, nothing listed, the
                   name free once it accepts again
  stop POD CTR     Stop (exit 0), twice; Remove, twice; gone from Status and
                   List; the pod stopped and removed
Prints "ok NAME" / "not ok NAME # why". The fake agent's directory (Linux
path) is UVMD_FAKE_AGENT_DIR; the image id seeded in the store IMAGE_ID."""
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import calls, check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
image_id = os.environ["IMAGE_ID"]
c, pb = connect(port, mode)


def ctr_config(name, image="busybox", **kw):
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                              image=pb.ImageSpec(image=image), labels={"app": name}, **kw)


def create(pod, name, **kw):
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=ctr_config(name, **kw),
                sandbox_config=pb.PodSandboxConfig()).container_id


def status(ctr):
    return c.rt("ContainerStatus", container_id=ctr).status


def listed(**f):
    flt = pb.ContainerFilter(**f) if f else None
    return {x.id: x for x in c.rt("ListContainers", filter=flt).containers}


if mode == "run":
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web", namespace="default",
                                                             uid="uid-web"))
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    check("list-empty-at-start", listed() == {}, one_line(listed()))
    ctr = create(pod, "app", command=["/bin/sleep"], args=["1000"],
                 envs=[pb.KeyValue(key="A", value="b")])
    check("create", len(ctr) == 64, ctr)
    print("ctr " + ctr)
    check("agent-saw-create", "create " + ctr in calls(), one_line(calls()))
    s = status(ctr)
    check("status-created", s.state == pb.CONTAINER_CREATED and s.metadata.name == "app"
          and s.image.image == "busybox" and s.image_ref == image_id
          and dict(s.labels) == {"app": "app"} and s.created_at > 0, one_line(s))
    check("list-created", list(listed()) == [ctr]
          and listed()[ctr].state == pb.CONTAINER_CREATED, one_line(listed()))
    c.rt("StartContainer", container_id=ctr)
    s = status(ctr)
    check("status-running", s.state == pb.CONTAINER_RUNNING and s.started_at >= s.created_at,
          one_line(s))
    check("agent-saw-start", "start " + ctr in calls(), one_line(calls()))
    check("list-by-pod", list(listed(pod_sandbox_id=pod)) == [ctr])
    running = pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)
    check("list-by-state", list(listed(state=running)) == [ctr])
    check("list-by-label-none", listed(label_selector={"app": "nope"}) == {})
    expect_error("same-name-refused", lambda: create(pod, "app", command=["x"]),
                 grpc.StatusCode.ALREADY_EXISTS, ctr)
    expect_error("start-again-refused", lambda: c.rt("StartContainer", container_id=ctr),
                 grpc.StatusCode.FAILED_PRECONDITION, "running")

elif mode == "refused":
    pod = args[0]
    before = listed()
    expect_error("unknown-image-refused", lambda: create(pod, "nope", image="nosuch:1"),
                 grpc.StatusCode.FAILED_PRECONDITION, "is not on this node (pull it first")
    # Shared over Plan9 (uvmd_mounts_test.sh), but private propagation only.
    mount = pb.Mount(container_path="/data", host_path="C:\\data",
                     propagation=pb.PROPAGATION_HOST_TO_CONTAINER)
    expect_error("mounts-refused", lambda: create(pod, "m", command=["x"], mounts=[mount]),
                 grpc.StatusCode.UNIMPLEMENTED, "mounts")
    expect_error("unknown-pod", lambda: create("f" * 64, "x", command=["x"]),
                 grpc.StatusCode.NOT_FOUND, "")
    expect_error("exec-no-cmd-refused",
                 lambda: c.rt("ExecSync", container_id=list(before)[0], cmd=[]),
                 grpc.StatusCode.INVALID_ARGUMENT, "cmd")
    check("refused-made-nothing", listed().keys() == before.keys(), one_line(listed()))

elif mode == "reattached":
    pod, ctr = args
    s = status(ctr)
    check("reattached-running", s.state == pb.CONTAINER_RUNNING and s.metadata.name == "app",
          one_line(s))
    check("reattached-listed", list(listed()) == [ctr], one_line(listed()))

elif mode == "failcreate":
    pod = args[0]
    before = listed()
    flag = os.path.join(agent_dir, "fail-create")
    open(flag, "w").close()
    try:
        expect_error("agent-refuses-create", lambda: create(pod, "half", command=["x"]),
                     grpc.StatusCode.INTERNAL, "refused on purpose")
    finally:
        os.unlink(flag)
    check("half-not-listed", listed().keys() == before.keys(), one_line(listed()))
    ctr = create(pod, "half", command=["x"])
    check("half-name-free", status(ctr).state == pb.CONTAINER_CREATED)
    c.rt("RemoveContainer", container_id=ctr)
    check("half-removed", listed().keys() == before.keys(), one_line(listed()))

elif mode == "stop":
    pod, ctr = args
    c.rt("StopContainer", pb.StopContainerRequest(container_id=ctr, timeout=10))
    s = status(ctr)
    check("stopped-exited", s.state == pb.CONTAINER_EXITED and s.exit_code == 0
          and s.reason == "Completed" and s.finished_at >= s.started_at, one_line(s))
    check("agent-saw-sigterm", "signal 15 " + ctr in calls(), one_line(calls()))
    c.rt("StopContainer", pb.StopContainerRequest(container_id=ctr, timeout=10))
    check("stop-again", status(ctr).state == pb.CONTAINER_EXITED)
    c.rt("RemoveContainer", container_id=ctr)
    check("agent-saw-delete", "delete " + ctr in calls(), one_line(calls()))
    expect_error("removed-not-found", lambda: status(ctr), grpc.StatusCode.NOT_FOUND, "")
    c.rt("RemoveContainer", container_id=ctr)
    check("remove-again", True)
    check("list-empty", listed() == {}, one_line(listed()))
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("pod-removed", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(hcs_client.failed != 0)
