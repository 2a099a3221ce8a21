"""Exec, Attach and PortForward through the CRI and uvmd's streaming server,
with clients that are not ours: Debian's python3-websockets, and a Go client
on Debian's spdystream (tests/stream/spdyclient). ns pods here; one VM pod
at the end (the same sessions through the guest's agent)."""
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import grpc
import pytest
import websockets.client
import websockets.exceptions

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _lines, _pod_config, _wait_for,
                       _wait_state, pods_cleanup, pods_daemon)
from uvmdlib import pb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "stream"))
import spdylib  # noqa: E402 (the Go client's wrapper, tests/stream/spdylib.py)


@pytest.fixture
def sd(daemon_factory, workdir, image_single):
    d = pods_daemon(daemon_factory, workdir, image_single, {"stream_token_ttl_ms": 2000})
    yield d
    pods_cleanup(d)


def _pod(d, c, name):
    cfg = _pod_config(d, name)
    return c.rt("RunPodSandbox", config=cfg).pod_sandbox_id, cfg


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def _ws(url):
    return "ws" + url[len("http"):]


async def _ws_session(url, proto="v5.channel.k8s.io", stdin=None, close_stdin=True,
                      resize=None, delay=0.0):
    """Run a remote command over WebSocket: (stdout, stderr, error channel)."""
    out, err, status = b"", b"", b""
    async with websockets.client.connect(_ws(url), subprotocols=[proto], max_size=None,
                                         open_timeout=20) as ws:
        if resize is not None:
            await ws.send(b"\x04" + json.dumps(resize).encode())
        if delay:
            await asyncio.sleep(delay)
        if stdin is not None:
            for i in range(0, len(stdin), 65536):
                await ws.send(b"\x00" + stdin[i:i + 65536])
            if close_stdin:
                await ws.send(b"\xff\x00")
        try:
            async for msg in ws:
                ch, data = msg[0], msg[1:]
                if ch == 1:
                    out += data
                elif ch == 2:
                    err += data
                elif ch == 3:
                    status += data
        except websockets.exceptions.ConnectionClosedError:
            pass
    return out, err, status


def ws_exec(url, **kw):
    return asyncio.run(asyncio.wait_for(_ws_session(url, **kw), 60))


def _exec_url(c, cid, cmd, tty=False, stdin=False, stderr=True):
    return c.rt("Exec", container_id=cid, cmd=cmd, tty=tty, stdin=stdin, stdout=True,
                stderr=stderr and not tty).url


def _status_of(raw):
    return json.loads(raw) if raw else {}


def test_exec_over_websocket(sd):
    d, c = sd, sd.client()
    pod, pod_cfg = _pod(d, c, "st1")
    cid = _start(c, pod, pod_cfg, _ctr_config(d, "a", "sleep 1000"))

    url = _exec_url(c, cid, ["sh", "-c", "echo hi; echo oops >&2"])
    assert url.startswith("http://127.0.0.1:")
    out, err, st = ws_exec(url)
    assert (out, err) == (b"hi\n", b"oops\n")
    assert _status_of(st)["status"] == "Success"

    out, _, st = ws_exec(_exec_url(c, cid, ["cat"], stdin=True), stdin=b"abc" * 1000)
    assert out == b"abc" * 1000 and _status_of(st)["status"] == "Success"

    _, _, st = ws_exec(_exec_url(c, cid, ["sh", "-c", "exit 3"]))
    st = _status_of(st)
    assert st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"][0] == {"reason": "ExitCode", "message": "3"}

    # A terminal, sized by the client.
    out, _, _ = ws_exec(_exec_url(c, cid, ["sh", "-c", "sleep 0.5; stty size"], tty=True,
                                  stdin=True),
                        resize={"Width": 100, "Height": 40}, stdin=b"", close_stdin=False)
    assert out.strip() == b"40 100", out

    # The older framing: the error's text only, none on success.
    out, _, st = ws_exec(_exec_url(c, cid, ["echo", "v4"]), proto="v4.channel.k8s.io")
    assert out == b"v4\n" and _status_of(st)["status"] == "Success"
    out, _, st = ws_exec(_exec_url(c, cid, ["echo", "v1"]), proto="channel.k8s.io")
    assert out == b"v1\n" and st == b""


def test_tokens_are_single_use_bound_and_expire(sd):
    d, c = sd, sd.client()
    pod, pod_cfg = _pod(d, c, "st2")
    cid = _start(c, pod, pod_cfg, _ctr_config(d, "a", "sleep 1000"))
    url = _exec_url(c, cid, ["echo", "once"])
    assert ws_exec(url)[0] == b"once\n"
    for bad in (url, url[:-4] + "AAAA", url.replace("/exec/", "/attach/")):
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            ws_exec(bad)
        assert e.value.status_code == 404
    url = _exec_url(c, cid, ["echo", "late"])
    time.sleep(2.5)  # stream_token_ttl_ms is 2000 here
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        ws_exec(url)
    assert e.value.status_code == 404

    # Bad requests get no URL.
    code, msg = _code(lambda: c.rt("Exec", container_id=cid, cmd=["true"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "stdin, stdout and stderr" in msg
    code, msg = _code(lambda: c.rt("Exec", container_id=cid, cmd=["true"], tty=True,
                                   stdout=True, stderr=True))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "tty and stderr" in msg
    code, _ = _code(lambda: c.rt("Exec", container_id=cid, cmd=[], stdout=True))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _code(lambda: c.rt("Exec", container_id="nosuch", cmd=["true"], stdout=True))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(lambda: c.rt("PortForward", pod_sandbox_id=pod, port=[70000]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def _procs(marker):
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return out.split()


def test_vanished_client_and_removed_pod_leave_nothing(sd):
    d, c = sd, sd.client()
    pod, pod_cfg = _pod(d, c, "st3")
    cid = _start(c, pod, pod_cfg, _ctr_config(d, "a", "sleep 1000"))

    async def vanish(url):
        ws = await websockets.client.connect(_ws(url), subprotocols=["v5.channel.k8s.io"])
        await asyncio.sleep(1)
        ws.transport.abort()  # no close frame: the connection just breaks

    asyncio.run(vanish(_exec_url(c, cid, ["sleep", "1001"])))
    _wait_for("the exec'd process to go", lambda: _procs("sleep 1001") == [])

    # A pod removed mid-stream: the session ends, saying why.
    result = {}

    def run():
        result["r"] = ws_exec(_exec_url(c, cid, ["sleep", "1002"]))

    t = threading.Thread(target=run)
    t.start()
    _wait_for("the exec to run", lambda: _procs("sleep 1002") != [])
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    t.join(30)
    assert not t.is_alive()
    st = _status_of(result["r"][2])
    assert st.get("status") == "Failure", st
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _procs("sleep 1002") == []


def test_attach(sd):
    d, c, m = sd, sd.client(), pb()
    pod, pod_cfg = _pod(d, c, "st4")
    ticker = _start(c, pod, pod_cfg, _ctr_config(
        d, "tick", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"))
    out, _, _ = asyncio.run(_attach_for(c.rt("Attach", container_id=ticker, stdout=True,
                                               stderr=True).url, 1.0))
    got = [ln for ln in out.decode().splitlines() if ln.startswith("tick ")]
    assert len(got) >= 3, out
    first = int(got[0].split()[1])
    assert first > 1  # from the moment of the attach, not the start
    log = os.path.join(d.logs, "st4", "tick.log")
    _wait_for("the log to hold what the attach saw",
              lambda: any(ln.endswith(" " + got[-1]) for ln in _lines(log)))
    assert any(ln.endswith(" tick 1") for ln in _lines(log))  # the log keeps every line

    # stdin: a container made with stdin (and stdin_once) gets the attach's.
    cfg = _ctr_config(d, "cat", "cat")
    cfg.stdin = True
    cfg.stdin_once = True
    cat = _start(c, pod, pod_cfg, cfg)
    url = c.rt("Attach", container_id=cat, stdin=True, stdout=True, stderr=True).url
    out, _, _ = ws_exec(url, stdin=b"hello through attach\n")
    assert b"hello through attach" in out
    st = _wait_state(c, cat, m.CONTAINER_EXITED)  # stdin_once: EOF reached cat
    assert st.exit_code == 0
    log = os.path.join(d.logs, "st4", "cat.log")
    assert any(ln.endswith(" hello through attach") for ln in _lines(log))


async def _attach_for(url, secs):
    out = b""
    async with websockets.client.connect(_ws(url), subprotocols=["v5.channel.k8s.io"]) as ws:
        end = time.time() + secs
        while time.time() < end:
            try:
                msg = await asyncio.wait_for(ws.recv(), end - time.time())
            except asyncio.TimeoutError:
                break
            if msg[0] == 1:
                out += msg[1:]
    return out, b"", b""


async def _ws_forward(url, port, payload):
    """One WebSocket port-forward of payload to port: what came back."""
    back = b""
    async with websockets.client.connect(_ws(url) + "?ports=%d" % port,
                                         subprotocols=["v4.channel.k8s.io"]) as ws:
        prefixes = [await ws.recv(), await ws.recv()]
        assert all(p[1:] == port.to_bytes(2, "little") for p in prefixes), prefixes
        await ws.send(b"\x00" + payload)
        try:
            while True:  # the server closes once the pod's side did
                msg = await asyncio.wait_for(ws.recv(), 20)
                if msg[0] == 0:
                    back += msg[1:]
                elif msg[0] == 1 and len(msg) > 1:
                    raise AssertionError("error channel: %r" % msg[1:])
        except websockets.exceptions.ConnectionClosedOK:
            pass
    return back


def _get(path):
    return ("GET %s HTTP/1.0\r\n\r\n" % path).encode()


def test_port_forward_over_websocket(sd):
    d, c = sd, sd.client()
    pod, pod_cfg = _pod(d, c, "st5")
    _start(c, pod, pod_cfg, _ctr_config(
        d, "web", "mkdir -p /www && echo served-in-pod > /www/index.html && "
                  "{ httpd -f -p 8080 -h /www & httpd -f -p 127.0.0.1:8081 -h /www & wait; }"))
    time.sleep(1)

    def forward(port):
        url = c.rt("PortForward", pod_sandbox_id=pod, port=[port]).url
        return asyncio.run(_ws_forward(url, port, _get("/")))

    assert forward(8080).endswith(b"served-in-pod\n")
    assert forward(8081).endswith(b"served-in-pod\n")  # the pod's loopback

    async def many(n):
        urls = [c.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url for _ in range(n)]
        return await asyncio.gather(*(_ws_forward(u, 8080, _get("/")) for u in urls))

    assert all(r.endswith(b"served-in-pod\n") for r in asyncio.run(many(20)))


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def test_stalled_port_forwards_stay_bounded_then_resume(sd):
    """Clients that stop reading a large download: the pod's side blocks
    (flow control from the client through uvmd and the agent), so neither
    process buffers the file; once a client reads again, it gets every byte."""
    d, c = sd, sd.client()
    size = 64 << 20
    pod, pod_cfg = _pod(d, c, "st7")
    _start(c, pod, pod_cfg, _ctr_config(
        d, "web", "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count=%d "
                  "2>/dev/null && exec httpd -f -p 8080 -h /www" % (size >> 20)))
    with open(os.path.join(d.state, "pods", pod, "agent.pid")) as f:
        agent = int(f.read())
    n = 4
    head = b"HEAD /big HTTP/1.0\r\n\r\n"
    for _ in range(100):  # httpd serves once the file is written
        url = c.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url
        try:
            if asyncio.run(_ws_forward(url, 8080, head)).startswith(b"HTTP/1.1 200"):
                break
        except (AssertionError, websockets.exceptions.ConnectionClosed):  # nothing listens yet
            pass
        time.sleep(0.2)

    async def run():
        urls = [c.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url for _ in range(n)]
        conns = []
        for url in urls:
            ws = await websockets.client.connect(_ws(url) + "?ports=8080",
                                                 subprotocols=["v4.channel.k8s.io"],
                                                 max_size=None, max_queue=1, read_limit=65536)
            await ws.recv(), await ws.recv()
            conns.append(ws)
        await conns[0].send(b"\x00" + _get("/big"))
        first = await asyncio.wait_for(conns[0].recv(), 20)
        assert first.startswith(b"\x00HTTP/1.1 200"), first[:80]
        for ws in conns[1:]:
            await ws.send(b"\x00" + _get("/big"))
        base = (_rss_kib(d.proc.pid), _rss_kib(agent))
        for ws in conns:  # stop reading: the client's buffers fill
            ws.transport.pause_reading()
        await asyncio.sleep(3)
        held = (_rss_kib(d.proc.pid) - base[0], _rss_kib(agent) - base[1])
        # Unbounded buffering would take up to 4 x 64 MiB in one of them.
        assert held[0] < 48 << 10 and held[1] < 24 << 10, "RSS grew by %r KiB" % (held,)
        # One client reads again: the whole body arrives.
        ws = conns[0]
        ws.transport.resume_reading()
        got = len(first) - 1
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), 30)
                if msg[0] == 0:
                    got += len(msg) - 1
        except websockets.exceptions.ConnectionClosedOK:
            pass
        for w in conns:
            w.transport.abort()
        return got

    got = asyncio.run(run())
    assert got > size, "only %d bytes of %d arrived" % (got, size)


def test_spdy_exec_attach_and_port_forward(sd):
    client = spdylib.client()
    d, c = sd, sd.client()
    pod, pod_cfg = _pod(d, c, "st6")
    cid = _start(c, pod, pod_cfg, _ctr_config(
        d, "web", "mkdir -p /www && echo served-in-pod > /www/index.html && "
                  "exec httpd -f -p 8080 -h /www"))
    r = spdylib.exec_(client, _exec_url(c, cid, ["sh", "-c", "echo hi; echo oops >&2"]))
    assert (r.stdout, r.stderr, r.status["status"]) == (b"hi\n", b"oops\n", "Success")
    r = spdylib.exec_(client, _exec_url(c, cid, ["cat"], stdin=True), stdin=b"x" * 300000)
    assert r.stdout == b"x" * 300000
    r = spdylib.exec_(client, _exec_url(c, cid, ["sh", "-c", "exit 3"]))
    assert r.status["reason"] == "NonZeroExitCode"
    assert r.status["details"]["causes"][0]["message"] == "3"
    r = spdylib.exec_(client, _exec_url(c, cid, ["sh", "-c", "sleep 0.5; stty size"], tty=True,
                                        stdin=True), tty=True, stdin=b"", resize=(100, 40))
    assert r.stdout.strip() == b"40 100", (r.code, r.notes, r.stderr)
    url = c.rt("PortForward", pod_sandbox_id=pod, port=[8080]).url
    outs = spdylib.port_forward(client, url, 8080, [_get("/")] * 10)
    assert all(o.endswith(b"served-in-pod\n") for o in outs), outs

    # Attach over SPDY to a container whose stdin it feeds (stdin_once: the
    # container ends with it, and so does the attach).
    cfg = _ctr_config(d, "rev", "while read l; do echo got $l; done; echo bye")
    cfg.stdin = True
    cfg.stdin_once = True
    rev = _start(c, pod, pod_cfg, cfg)
    url = c.rt("Attach", container_id=rev, stdin=True, stdout=True, stderr=True).url
    r = spdylib.exec_(client, url, stdin=b"one\ntwo\n")
    assert r.stdout == b"got one\ngot two\nbye\n", (r.stdout, r.notes)

    # A container that exits mid-exec: the exec ends with it, and says so.
    short = _start(c, pod, pod_cfg, _ctr_config(d, "short", "sleep 2"))
    t = time.time()
    r = spdylib.exec_(client, _exec_url(c, short, ["sleep", "1003"]))
    assert time.time() - t < 30 and r.status.get("status") == "Failure", r.status
    assert _procs("sleep 1003") == []
