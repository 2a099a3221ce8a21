"""uvmd.exe's calls for uvmd_layers_test.sh, from Linux python3-grpcio.

usage: layers_client.py PORT MODE [ARG...]
  pod                    a pod run; prints "pod ID"
  create POD NAME IMAGE  a container of IMAGE (an image id) created;
                         prints "ctr ID"
  maybe POD NAME IMAGE   the same, its outcome not checked (uvmd.exe is
                         killed meanwhile)
  refused POD IMAGE      a create refused: FAILED_PRECONDITION naming the
                         missing layer disk
  remove CTR             the container removed, gone from List
  stop POD               the pod stopped and removed
Prints "ok NAME" / "not ok NAME # why"."""
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
c, pb = connect(port, mode)


def create(pod, name, image):
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                             image=pb.ImageSpec(image=image), command=["/bin/sleep"],
                             args=["1000"])
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                sandbox_config=pb.PodSandboxConfig()).container_id


def listed():
    return {x.id for x in c.rt("ListContainers").containers}


if mode == "pod":
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="layers", namespace="default",
                                                             uid="uid-layers"))
    print("pod " + c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id)
elif mode == "create":
    try:
        ctr = create(*args)
        check("create-" + args[1], len(ctr) == 64, ctr)
        print("ctr " + ctr)
    except grpc.RpcError as e:
        check("create-" + args[1], False, "%s %s" % (e.code(), e.details()))
elif mode == "maybe":
    try:
        print("ctr " + create(*args))
    except grpc.RpcError as e:
        print("error %s %s" % (e.code(), e.details()))
elif mode == "refused":
    pod, image = args
    expect_error("missing-disk-refused", lambda: create(pod, "nodisk", image),
                 grpc.StatusCode.FAILED_PRECONDITION, "no disk")
    check("missing-disk-nothing-listed",
          not any(x.metadata.name == "nodisk" for x in c.rt("ListContainers").containers))
elif mode == "remove":
    c.rt("RemoveContainer", container_id=args[0])
    check("remove-" + args[0][:8], args[0] not in listed(), one_line(listed()))
elif mode == "stop":
    c.rt("StopPodSandbox", pod_sandbox_id=args[0])
    c.rt("RemovePodSandbox", pod_sandbox_id=args[0])
    check("pod-removed", not c.rt("ListPodSandbox").items, "")
sys.exit(1 if hcs_client.failed else 0)
