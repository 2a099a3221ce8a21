"""uvmd.exe's CRI mounts in hcs pods from Linux python3-grpcio, for
uvmd_mounts_test.sh: host directories as Plan9 shares of the pod's VM.

usage: mounts_client.py PORT MODE [ARG...]
  run DATA CFG       a pod; container "a" mounting DATA (rw) at /data and CFG
                     read-only at /cfg, container "b" mounting DATA at /x: the
                     agent mounts two shares, each spec binds from them;
                     prints "pod ID", "a ID", "b ID"
  refused POD DATA   a relative, a '..' and a stream host path
                     (INVALID_ARGUMENT), a missing directory (NOT_FOUND) and
                     HostToContainer propagation (UNIMPLEMENTED): nothing
                     made, no share mounted
  file POD DIR       host files of DIR, as the kubelet mounts them: container
                     "t" with DIR\termination-log (rw) at /dev/termination-log
                     and DIR\etc-hosts read-only at /etc/hosts, "u" with the
                     same termination-log: a share of DIR restricted to each
                     file (Flags 0x80, AllowedFiles), the spec binding the file
                     in the share; u adds none; prints "t ID", "u ID",
                     "tshare NAME", "hshare NAME"
  failhcs POD NEW    HCS refuses the share's add (fail-plan9): an error,
                     nothing made; then the guest refuses the mount
                     (fail-share): an error, nothing made
  hang POD NEW       a create whose guest mount hangs (hang-share) until
                     uvmd.exe is killed: any error
  ready              after a restart: uvmd.exe answers, the pod listed
  rm CTR             Stop and Remove a container
  stop POD           Stop and Remove the pod
Prints "ok NAME" / "not ok NAME # why". The fake agent's directory (Linux
path) is UVMD_FAKE_AGENT_DIR, the fake HCS's UVMD_FAKE_HCS_DIR_UNIX."""
import json
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
hcs_dir = os.environ["UVMD_FAKE_HCS_DIR_UNIX"]
c, pb = connect(port, mode)


def create(pod, name, mounts):
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                             image=pb.ImageSpec(image="busybox"), command=["/bin/sleep"],
                             mounts=mounts)
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                sandbox_config=pb.PodSandboxConfig()).container_id


def mount(host, dest, ro=False, **kw):
    return pb.Mount(container_path=dest, host_path=host, readonly=ro, **kw)


def calls():
    return [x for x in hcs_client.calls() if x]


def share_calls():
    return [x for x in calls() if x.startswith("share-")]


def shares():
    return sorted(f for f in os.listdir(hcs_dir) if ".plan9-" in f)


def spec_mounts(ctr):
    with open(os.path.join(agent_dir, "create-%s.json" % ctr)) as f:
        spec = json.loads(json.load(f)["Spec"])
    return {m["destination"]: m for m in spec.get("mounts", [])}


def listed():
    return {x.id for x in c.rt("ListContainers").containers}


if mode == "run":
    data, cfgdir = args
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="m", namespace="default",
                                                             uid="uid-m"))
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    a = create(pod, "a", [mount(data, "/data"), mount(cfgdir, "/cfg", ro=True)])
    print("a " + a)
    check("a-shares-mounted", share_calls() == ["share-mount m0 rw 564 /run/mounts/m0",
                                                 "share-mount m1 ro 564 /run/mounts/m1"],
          one_line(share_calls()))
    m = spec_mounts(a)
    check("a-spec-binds-guest-paths",
          m["/data"]["source"] == "/run/mounts/m0" and "rw" in m["/data"]["options"]
          and m["/cfg"]["source"] == "/run/mounts/m1" and "ro" in m["/cfg"]["options"]
          and m["/data"]["type"] == "bind" and "rprivate" in m["/cfg"]["options"],
          one_line(m))
    s = c.rt("ContainerStatus", container_id=a).status
    got = {(x.container_path, x.host_path, x.readonly) for x in s.mounts}
    check("a-status-mounts", got == {("/data", data, False), ("/cfg", cfgdir, True)},
          one_line(s.mounts))
    b = create(pod, "b", [mount(data, "/x")])
    print("b " + b)
    check("b-same-dir-one-share", len(share_calls()) == 2, one_line(share_calls()))
    check("b-spec-binds-m0", spec_mounts(b)["/x"]["source"] == "/run/mounts/m0",
          one_line(spec_mounts(b)))
    check("two-shares-in-hcs", len(shares()) == 2, one_line(shares()))
    c.rt("StartContainer", container_id=a)
    c.rt("StartContainer", container_id=b)

elif mode == "refused":
    pod, data = args
    before, before_calls, before_shares = listed(), share_calls(), shares()
    cases = [
        ("relative-path-refused", mount("host\\data", "/d"), grpc.StatusCode.INVALID_ARGUMENT,
         "not an absolute Windows path"),
        ("dotdot-path-refused", mount(data + "\\..\\data", "/d"),
         grpc.StatusCode.INVALID_ARGUMENT, "'..'"),
        ("stream-path-refused", mount(data + ":s", "/d"), grpc.StatusCode.INVALID_ARGUMENT,
         "stream"),
        ("relative-container-path-refused", mount(data, "d"), grpc.StatusCode.INVALID_ARGUMENT,
         "container_path"),
        ("missing-dir-refused", mount(data + "-nosuch", "/d"), grpc.StatusCode.NOT_FOUND,
         "no such file or directory"),
        ("propagation-refused",
         mount(data, "/d", propagation=pb.PROPAGATION_BIDIRECTIONAL),
         grpc.StatusCode.UNIMPLEMENTED, "private only"),
    ]
    for name, m, code, needle in cases:
        expect_error(name, lambda: create(pod, "bad", [m]), code, needle)
    check("refused-nothing-made", listed() == before and share_calls() == before_calls
          and shares() == before_shares,
          one_line([listed() ^ before, share_calls(), shares()]))
    ctr = create(pod, "bad", [])
    check("refused-name-free", ctr in listed())
    c.rt("RemoveContainer", container_id=ctr)

elif mode == "file":
    pod, cdir = args
    tlog, hosts = cdir + "\\termination-log", cdir + "\\etc-hosts"
    before_calls, before = share_calls(), set(shares())
    t = create(pod, "t", [mount(tlog, "/dev/termination-log"),
                          mount(hosts, "/etc/hosts", ro=True)])
    print("t " + t)
    docs = {}
    for f in sorted(set(shares()) - before):
        with open(os.path.join(hcs_dir, f)) as fh:
            st = json.load(fh)["Settings"]
        docs[tuple(st.get("AllowedFiles", []))] = (f.split(".plan9-")[1], st)
    tname, tset = docs.get(("termination-log",), ("?", {}))
    hname, hset = docs.get(("etc-hosts",), ("?", {}))
    print("tshare " + tname)
    print("hshare " + hname)
    check("t-two-file-shares", len(docs) == 2 and tname != "?" and hname != "?", one_line(docs))
    check("t-shares-of-the-dir", tset.get("Path") == cdir and hset.get("Path") == cdir,
          one_line(docs))
    check("t-tlog-flags-restricted", tset.get("Flags") == 0x80 | 0x4, one_line(tset))
    check("t-hosts-flags-restricted-ro", hset.get("Flags") == 0x80 | 0x4 | 0x1, one_line(hset))
    new = share_calls()[len(before_calls):]
    check("t-agent-mounted-dirs",
          new == ["share-mount %s rw 564 /run/mounts/%s" % (tname, tname),
                  "share-mount %s ro 564 /run/mounts/%s" % (hname, hname)], one_line(new))
    with open(os.path.join(agent_dir, "create-%s.json" % t)) as f:
        spec = json.loads(json.load(f)["Spec"])
    binds = [m for m in spec["mounts"] if m["destination"] in ("/dev/termination-log",
                                                                "/etc/hosts")]
    m = {b["destination"]: b for b in binds}
    check("t-spec-binds-files",
          len(binds) == 2
          and m["/dev/termination-log"]["source"] == "/run/mounts/%s/termination-log" % tname
          and "rw" in m["/dev/termination-log"]["options"]
          and m["/etc/hosts"]["source"] == "/run/mounts/%s/etc-hosts" % hname
          and "ro" in m["/etc/hosts"]["options"] and m["/etc/hosts"]["type"] == "bind",
          one_line(binds))
    check("t-spec-no-marker", all("uvmdHostFile" not in x for x in spec["mounts"]),
          one_line(spec["mounts"]))
    s = c.rt("ContainerStatus", container_id=t).status
    got = {(x.container_path, x.host_path, x.readonly) for x in s.mounts}
    check("t-status-mounts", got == {("/dev/termination-log", tlog, False),
                                     ("/etc/hosts", hosts, True)}, one_line(s.mounts))
    calls_before_u, shares_before_u = share_calls(), shares()
    u = create(pod, "u", [mount(tlog, "/dev/termination-log")])
    print("u " + u)
    check("u-same-file-same-share",
          share_calls() == calls_before_u and shares() == shares_before_u
          and spec_mounts(u)["/dev/termination-log"]["source"]
          == "/run/mounts/%s/termination-log" % tname, one_line(spec_mounts(u)))
    c.rt("StartContainer", container_id=t)
    c.rt("StartContainer", container_id=u)

elif mode == "failhcs":
    pod, new = args
    before, before_calls, before_shares = listed(), share_calls(), shares()
    flag = os.path.join(hcs_dir, "fail-plan9")
    open(flag, "w").close()
    try:
        expect_error("hcs-refuses-share", lambda: create(pod, "f", [mount(new, "/n")]),
                     (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INTERNAL),
                     "fail-plan9")
    finally:
        os.unlink(flag)
    check("hcs-refusal-nothing-made", listed() == before and share_calls() == before_calls
          and shares() == before_shares, one_line([share_calls(), shares()]))
    flag = os.path.join(agent_dir, "fail-share")
    open(flag, "w").close()
    try:
        expect_error("guest-refuses-mount", lambda: create(pod, "f", [mount(new, "/n")]),
                     grpc.StatusCode.INTERNAL, "fail-share")
    finally:
        os.unlink(flag)
    check("guest-refusal-share-removed", listed() == before and shares() == before_shares,
          one_line(shares()))
    check("guest-refusal-hcs-saw-remove",
          any('"RequestType":"Remove"' in x and "Plan9" in x
              for x in open(os.path.join(hcs_dir, pod + "@vm.modify")).read().split("\n")))

elif mode == "hang":
    pod, new = args
    try:
        create(pod, "h", [mount(new, "/n")])
    except grpc.RpcError:
        pass

elif mode == "ready":
    check("restarted-pod-listed", len(c.rt("ListPodSandbox").items) == 1)

elif mode == "rm":
    ctr = args[0]
    c.rt("StopContainer", pb.StopContainerRequest(container_id=ctr, timeout=10))
    c.rt("RemoveContainer", container_id=ctr)
    check("removed-" + ctr[:8], ctr not in listed())

elif mode == "stop":
    pod = args[0]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("pod-removed", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(hcs_client.failed != 0)
