"""uvmd.exe's container users and pod limits from Linux python3-grpcio, for
uvmd_users_test.sh. An hcs pod's image is only in its VM: a named user goes
to the agent with the create ("User"), which resolves it against the
image's /etc/passwd and /etc/group (the fake agent: the passwd and group
files the script put in its directory) and answers the ids.

usage: users_client.py PORT MODE [POD_ID [CTR_ID]]
  run          a pod with linux.resources (its limits in pod.json);
               containers with an image's named USER, run_as_username with
               run_as_group and supplemental groups, Strict, a numeric
               run_as_user, no user at all: what reached the agent, the ids
               in ContainerStatus; prints "pod ID" and "ctr ID" (the named
               one)
  refused POD  an unknown user or group: INVALID_ARGUMENT naming it and the
               image, nothing left (no record, not listed, the name free);
               run_as_group alone refused before the agent
  limits POD   UpdatePodSandboxResources: kept in pod.json; bad values and
               an unknown pod refused
  restarted POD CTR  after uvmd.exe was killed and restarted: the resolved
               user and the limits still there
Prints "ok NAME" / "not ok NAME # why". UVMD_FAKE_AGENT_DIR is the fake
agent's directory, UVMD_RIG_DIR the rig's (state under it)."""
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
state = os.path.join(os.environ["UVMD_RIG_DIR"], "state", "pods")
c, pb = connect(port, mode)

# What the script's passwd and group files give (uvmd_users_test.sh).
APP = (1000, 1000, [1000, 10, 63])  # app: wheel (10), audio (63)
WEB_50 = (33, 50, [50, 63, 7])      # web, run_as_group 50, supplemental 7
WEB_STRICT = (33, 33, [33])


def pod_config(name="users"):
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
        linux=pb.LinuxPodSandboxConfig(resources=pb.LinuxContainerResources(
            cpu_period=100000, cpu_quota=50000, memory_limit_in_bytes=256 << 20)))


def create(pod, name, image="busybox", sc=None):
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                             image=pb.ImageSpec(image=image), command=["/bin/sleep", "100"])
    if sc is not None:
        cfg.linux.security_context.CopyFrom(sc)
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                sandbox_config=pb.PodSandboxConfig()).container_id


def ids(ctr):
    u = c.rt("ContainerStatus", container_id=ctr).status.user.linux
    return (u.uid, u.gid, list(u.supplemental_groups))


def sent(ctr):
    """The "User" of the create request the agent got, or None."""
    with open(os.path.join(agent_dir, "create-%s.json" % ctr)) as f:
        return json.load(f).get("User")


def limits(pod):
    with open(os.path.join(state, pod, "pod.json")) as f:
        return json.load(f).get("limits")


def records(pod):
    try:
        return sorted(os.listdir(os.path.join(state, pod, "containers")))
    except FileNotFoundError:
        return []


def sc(**kw):
    return pb.LinuxContainerSecurityContext(**kw)


if mode == "run":
    pod = c.rt("RunPodSandbox", config=pod_config(), runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    lim = limits(pod)
    check("run-limits-kept", lim is not None and lim.get("memoryBytes") == 256 << 20
          and lim.get("cpuQuota") == 50000 and lim.get("cpuPeriod") == 100000, str(lim))

    ctr = create(pod, "named", image="app")
    print("ctr " + ctr)
    u = sent(ctr)
    check("image-user-to-agent", u is not None and u.get("ImageUser") == "app"
          and u.get("Image") == "app" and "Uid" not in u, str(u))
    check("image-user-resolved", ids(ctr) == APP, str(ids(ctr)))
    check("image-user-noted", "user " + ctr in calls(), one_line(calls()[-4:]))
    with open(os.path.join(state, pod, "containers", ctr + ".json")) as f:
        rec = f.read()
    check("image-user-in-record", '"uid":1000' in rec.replace(" ", ""), rec[:300])
    c.rt("StartContainer", container_id=ctr)
    check("image-user-after-start", ids(ctr) == APP, str(ids(ctr)))

    web = create(pod, "web", sc=sc(run_as_username="web", run_as_group=pb.Int64Value(value=50),
                                   supplemental_groups=[7]))
    u = sent(web)
    check("username-to-agent", u is not None and u.get("Username") == "web"
          and u.get("Gid") == 50 and u.get("Groups") == [7] and not u.get("Strict"), str(u))
    check("username-resolved", ids(web) == WEB_50, str(ids(web)))

    strict = create(pod, "strict", sc=sc(
        run_as_username="web",
        supplemental_groups_policy=pb.SupplementalGroupsPolicy.Value("Strict")))
    check("strict-to-agent", (sent(strict) or {}).get("Strict") is True, str(sent(strict)))
    check("strict-no-image-groups", ids(strict) == WEB_STRICT, str(ids(strict)))

    num = create(pod, "numeric", sc=sc(run_as_user=pb.Int64Value(value=1000)))
    u = sent(num)
    check("numeric-to-agent", u is not None and u.get("Uid") == 1000, str(u))
    check("numeric-gid-from-passwd", ids(num) == APP, str(ids(num)))

    grp = create(pod, "appgrp", image="appgrp")
    check("image-user-group", ids(grp) == (1000, 50, [50, 10, 63]), str(ids(grp)))

    root = create(pod, "root")
    check("no-user-not-sent", sent(root) is None, str(sent(root)))
    check("no-user-root", ids(root) == (0, 0, [0]), str(ids(root)))

elif mode == "refused":
    pod = args[0]
    before = records(pod)
    n_listed = len(c.rt("ListContainers").containers)
    expect_error("unknown-username",
                 lambda: create(pod, "ghost", sc=sc(run_as_username="ghost")),
                 grpc.StatusCode.INVALID_ARGUMENT,
                 'run_as_username "ghost": not in the image\'s /etc/passwd (image "busybox")')
    check("unknown-username-reached-agent",
          any(x.startswith("user ") for x in calls()[-3:]), one_line(calls()[-3:]))
    expect_error("unknown-image-group", lambda: create(pod, "badgrp", image="badgrp"),
                 grpc.StatusCode.INVALID_ARGUMENT,
                 'image group "nogroup": not in the image\'s /etc/group (image "badgrp")')
    expect_error("unknown-image-user", lambda: create(pod, "nouser", image="nouser"),
                 grpc.StatusCode.INVALID_ARGUMENT, 'image user "nobody-here"')
    check("refused-no-record", records(pod) == before, "%s vs %s" % (records(pod), before))
    check("refused-not-listed", len(c.rt("ListContainers").containers) == n_listed, "")
    n_calls = len(calls())
    expect_error("group-alone-refused",
                 lambda: create(pod, "g", sc=sc(run_as_group=pb.Int64Value(value=5))),
                 grpc.StatusCode.INVALID_ARGUMENT, "run_as_group is set without")
    check("group-alone-not-sent", len(calls()) == n_calls, one_line(calls()[n_calls:]))
    # Nothing was left under the name: it is free.
    again = create(pod, "ghost", sc=sc(run_as_username="app"))
    check("refused-name-free", ids(again) == APP, str(ids(again)))

elif mode == "limits":
    pod = args[0]
    c.rt("UpdatePodSandboxResources", pod_sandbox_id=pod,
         resources=pb.LinuxContainerResources(cpu_period=100000, cpu_quota=200000,
                                               cpu_shares=1024,
                                               memory_limit_in_bytes=512 << 20),
         overhead=pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20))
    lim = limits(pod)
    check("update-kept", lim == {"memoryBytes": 576 << 20, "cpuQuota": 200000,
                                 "cpuPeriod": 100000, "cpuShares": 1024}, str(lim))
    expect_error("update-bad-refused",
                 lambda: c.rt("UpdatePodSandboxResources", pod_sandbox_id=pod,
                              resources=pb.LinuxContainerResources(cpu_quota=500)),
                 grpc.StatusCode.INVALID_ARGUMENT, "linux.resources")
    check("update-bad-kept-old", limits(pod) == lim, str(limits(pod)))
    expect_error("update-unknown-pod",
                 lambda: c.rt("UpdatePodSandboxResources", pod_sandbox_id="f" * 64,
                              resources=pb.LinuxContainerResources(cpu_shares=2)),
                 grpc.StatusCode.NOT_FOUND, "")

elif mode == "restarted":
    pod, ctr = args
    check("restart-user-kept", ids(ctr) == APP, str(ids(ctr)))
    lim = limits(pod)
    check("restart-limits-kept", lim is not None and lim.get("memoryBytes") == 576 << 20,
          str(lim))
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("removed", not os.path.exists(os.path.join(state, pod)), "")

sys.exit(1 if hcs_client.failed else 0)
