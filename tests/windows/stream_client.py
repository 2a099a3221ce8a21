"""uvmd.exe's Exec, Attach and PortForward from Linux, for
uvmd_stream_test.sh: the URLs from python3-grpcio, the sessions over
WebSocket with test_streaming.py's client (python3-websockets, imported,
not copied). The fake agent (tests/windows/fakes/agent_server.c) runs
scripted sessions: "cat N" echoes stdin and exits N, "exit N TEXT" writes
TEXT (stdout) and "err TEXT" (stderr), a terminal's sizes are written on
its stdout, an attach echoes its stdin, a port-forward connects to a port
on 127.0.0.1 (this machine: the listener below).

usage: stream_client.py PORT MODE [POD_ID CTR_ID]
  run          a pod and a started container; prints "pod ID" and "ctr ID"
  stream P C   the sessions, refusals and expiry (stream_token_ttl_ms 2000)
  stopped P C  the pod stopped: no URL for it; removed
Prints "ok NAME" / "not ok NAME # why". UVMD_FAKE_AGENT_DIR is the fake
agent's directory."""
import asyncio
import socket
import sys
import threading
import time

import grpc
import websockets.exceptions

sys.path.insert(0, "tests/windows")
sys.path.insert(0, "tests/integration")
from hcs_client import calls, check, connect, expect_error, one_line  # noqa: E402
import test_streaming as ts  # noqa: E402 (ws_exec, _ws_forward, _status_of)

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
c, pb = connect(port, mode)


def wait_call(prefix, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if any(x.startswith(prefix) for x in calls()):
            return True
        time.sleep(0.05)
    return False


def exec_url(ctr, cmd, tty=False, stdin=False, stderr=True):
    return c.rt("Exec", container_id=ctr, cmd=cmd, tty=tty, stdin=stdin, stdout=True,
                stderr=stderr and not tty).url


def refused_404(url):
    try:
        ts.ws_exec(url)
        return "answered"
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code == 404 or "status %d" % e.status_code


def echo_server():
    """A listener on 127.0.0.1 answering one connection: "pong " and what
    it read up to the end of a request head, then closing."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.settimeout(30)

    def serve():
        try:
            conn, _ = s.accept()
        except OSError:
            return
        with conn:
            got = b""
            while b"\r\n\r\n" not in got:
                b = conn.recv(4096)
                if not b:
                    break
                got += b
            conn.sendall(b"pong " + got)
        s.close()

    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


if mode == "run":
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web", namespace="default",
                                                             uid="uid-stream"))
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    ctr = c.rt("CreateContainer", pod_sandbox_id=pod, config=pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=0), image=pb.ImageSpec(image="busybox"),
        command=["/bin/sleep", "1000"], stdin=True), sandbox_config=cfg).container_id
    print("ctr " + ctr)
    c.rt("StartContainer", container_id=ctr)

elif mode == "stream":
    pod, ctr = args
    url = exec_url(ctr, ["cat", "3"], stdin=True)
    check("exec-url-loopback", url.startswith("http://127.0.0.1:") and "/exec/" in url, url)
    out, err, st = ts.ws_exec(url, stdin=b"hello stream\n" * 1000)
    st = ts._status_of(st)
    check("exec-stdin-echoed", out == b"hello stream\n" * 1000, "%d bytes %r" % (len(out), out[:60]))
    check("exec-exit-code-in-status", st.get("reason") == "NonZeroExitCode" and
          st.get("details", {}).get("causes", [{}])[0] == {"reason": "ExitCode", "message": "3"},
          str(st))
    check("exec-reached-agent", wait_call("session exec %s tty=0 in=1 out=1 err=1 cat" % ctr),
          one_line(calls()[-4:]))
    out, err, st = ts.ws_exec(exec_url(ctr, ["exit", "0", "done"]))
    check("exec-stdout-stderr-success", (out, err) == (b"done\n", b"err done\n")
          and ts._status_of(st).get("status") == "Success", "%r %r %r" % (out, err, st))
    out, err, st = ts.ws_exec(exec_url(ctr, ["nosuch"]))
    st = ts._status_of(st)
    check("exec-not-found-127", err == b"not found\n" and st.get("details", {}).get(
        "causes", [{}])[0].get("message") == "127", "%r %r" % (err, st))
    out, err, st = ts.ws_exec(exec_url(ctr, ["exit", "0", "v4"]), proto="v4.channel.k8s.io")
    check("exec-v4", out == b"v4\n" and ts._status_of(st).get("status") == "Success",
          "%r %r" % (out, st))

    # A terminal: its first size, then a resize, on the fake's stdout.
    out, _, st = ts.ws_exec(exec_url(ctr, ["cat", "0"], tty=True, stdin=True),
                            resize={"Width": 100, "Height": 40}, delay=0.5,
                            stdin=b"typed\n")
    text = out.decode(errors="replace")
    check("tty-resize", "40x100" in text and "typed" in text, repr(text))
    check("tty-one-output", wait_call("session exec %s tty=1 in=1 out=1 err=0 cat" % ctr),
          one_line(calls()[-4:]))

    # A client that goes away: its session is closed, the exec killed (137).
    async def vanish(u):
        async with ts.websockets.client.connect(ts._ws(u), subprotocols=["v5.channel.k8s.io"]):
            await asyncio.sleep(0.3)
    before = sum(x.startswith("session-end") for x in calls())
    asyncio.run(vanish(exec_url(ctr, ["cat", "0"], stdin=True)))
    check("vanished-client-closes-session", wait_call("session-close " + ctr) and
          wait_call("session-end") and
          sum(x.startswith("session-end") for x in calls()) > before and
          any(x.startswith("session-end") and x.endswith("code=137") for x in calls()),
          one_line(calls()[-4:]))

    # Attach to the running container.
    url = c.rt("Attach", container_id=ctr, stdin=True, stdout=True, stderr=True).url
    out, _, st = ts.ws_exec(url, stdin=b"via attach\n")
    check("attach-echo", out == b"via attach\n" and ts._status_of(st).get("status") == "Success",
          "%r %r" % (out, st))
    check("attach-reached-agent", wait_call("session attach %s " % ctr), one_line(calls()[-4:]))

    # PortForward to a port the agent connects to (here, on loopback).
    lport = echo_server()
    url = c.rt("PortForward", pod_sandbox_id=pod, port=[lport]).url
    back = asyncio.run(asyncio.wait_for(ts._ws_forward(url, lport, b"GET / HTTP/1.0\r\n\r\n"),
                                        30))
    check("port-forward-both-ways", back == b"pong GET / HTTP/1.0\r\n\r\n", repr(back))
    check("port-forward-reached-agent", wait_call("session port %d" % lport),
          one_line(calls()[-4:]))
    dead = free_port()
    url = c.rt("PortForward", pod_sandbox_id=pod, port=[dead]).url

    async def errors(u, p):
        """What the error channel of a forward to p says, until it closes."""
        text = b""
        async with ts.websockets.client.connect(ts._ws(u) + "?ports=%d" % p,
                                                subprotocols=["v4.channel.k8s.io"]) as ws:
            try:
                async for msg in ws:
                    if msg[0] == 1 and msg[1:] != p.to_bytes(2, "little"):
                        text += msg[1:]
            except websockets.exceptions.ConnectionClosed:
                pass
        return text.decode(errors="replace")
    text = asyncio.run(asyncio.wait_for(errors(url, dead), 30))
    check("port-forward-refused", "port %d" % dead in text, repr(text))

    # Tokens: single use, bound to their kind, refused when made up, expiring.
    url = exec_url(ctr, ["exit", "0", "once"])
    check("token-used", ts.ws_exec(url)[0] == b"once\n", "")
    check("token-reuse-refused", refused_404(url) is True, str(refused_404(url)))
    check("token-bad-refused", refused_404(url[:-4] + "AAAA") is True, "")
    url = exec_url(ctr, ["exit", "0", "late"])
    check("token-wrong-kind-refused", refused_404(url.replace("/exec/", "/attach/")) is True, "")
    url = exec_url(ctr, ["exit", "0", "late"])
    time.sleep(2.5)  # stream_token_ttl_ms is 2000 here
    check("token-expired", refused_404(url) is True, "")

    expect_error("exec-unknown-ctr", lambda: exec_url("e" * 64, ["cat"]),
                 grpc.StatusCode.NOT_FOUND, "")
    expect_error("exec-no-stdio", lambda: c.rt("Exec", container_id=ctr, cmd=["cat"]),
                 grpc.StatusCode.INVALID_ARGUMENT, "stdin, stdout and stderr")
    expect_error("port-forward-bad-port", lambda: c.rt("PortForward", pod_sandbox_id=pod,
                                                       port=[70000]),
                 grpc.StatusCode.INVALID_ARGUMENT, "")

elif mode == "stopped":
    pod, ctr = args
    url = exec_url(ctr, ["cat", "0"], stdin=True)
    result = {}

    def held():
        result["r"] = ts.ws_exec(url, stdin=b"", close_stdin=False)
    th = threading.Thread(target=held, daemon=True)
    th.start()
    wait_call("session exec %s tty=0 in=1" % ctr, 10)
    time.sleep(0.3)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    th.join(20)
    st = ts._status_of(result.get("r", (b"", b"", b""))[2])
    check("pod-stop-ends-session", not th.is_alive() and st.get("status") == "Failure",
          "%s %r" % (th.is_alive(), result))
    expect_error("exec-stopped-refused", lambda: exec_url(ctr, ["cat"]),
                 (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND), "")
    expect_error("port-forward-stopped-refused",
                 lambda: c.rt("PortForward", pod_sandbox_id=pod, port=[80]),
                 (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE), "")
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
