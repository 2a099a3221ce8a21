"""The streaming server's WebSocket sessions (stream/rc_ws.c, stream/pf_ws.c)
driven by a real client (python3-websockets) against the local-process
backend: exec over the channel.k8s.io protocols, port-forward, TLS, tokens.

Run: bazel build //tests/stream:harness && python3 -m pytest -q test_ws.py
"""
import asyncio
import base64
import hashlib
import json
import os
import random
import socket
import ssl
import subprocess
import threading
import time

import pytest
import websockets.client
import websockets.exceptions

from harnesslib import Harness

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TIMEOUT = 30


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.close()


@pytest.fixture(autouse=True)
def no_session_left(h):
    yield
    h.wait_sessions(0)


def ws_url(url, query=""):
    assert url.startswith("http"), url
    return "ws" + url[len("http"):] + query


def script(tmp_path, text):
    """argv running a shell script (the harness splits its command line at
    spaces, so arguments with spaces go through a file)."""
    path = tmp_path / ("s%d.sh" % random.randrange(1 << 30))
    path.write_text(text + "\n")
    return ["sh", str(path)]


def connect(url, proto, **kw):
    return websockets.client.connect(url, subprotocols=[proto] if proto else None,
                                     max_size=None, **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def frame(ch, data, b64=False):
    if b64:
        return chr(ord("0") + ch) + base64.b64encode(data).decode()
    return bytes([ch]) + data


def unframe(msg, b64=False):
    if b64:
        assert isinstance(msg, str)
        return ord(msg[0]) - ord("0"), base64.b64decode(msg[1:])
    assert isinstance(msg, bytes)
    return msg[0], msg[1:]


async def collect(ws, b64=False):
    """Every channel's bytes until the server closes; and the close code."""
    chans = {}
    async for msg in ws:
        ch, data = unframe(msg, b64)
        chans[ch] = chans.get(ch, b"") + data
    return chans, ws.close_code


async def exec_session(url, proto, send=(), b64=False, **kw):
    async with connect(ws_url(url), proto, **kw) as ws:
        assert ws.subprotocol == proto
        for msg in send:
            await ws.send(msg)
        return await collect(ws, b64)


def status(chans):
    return json.loads(chans[ERROR])


def assert_exit(chans, code):
    st = status(chans)
    assert st["status"] == "Failure", st
    assert st["reason"] == "NonZeroExitCode", st
    assert st["details"]["causes"][0] == {"reason": "ExitCode", "message": str(code)}, st


# --- exec ---


@pytest.mark.parametrize("proto", [V5, V4])
def test_exec_echo(h, proto):
    chans, code = run(exec_session(h.exec_url(["echo", "hi"]), proto))
    assert chans[STDOUT] == b"hi\n"
    assert STDERR not in chans
    assert status(chans) == {"metadata": {}, "status": "Success"}
    assert code == 1000


@pytest.mark.parametrize("proto", [V5, V4])
def test_exec_stderr_separate(h, tmp_path, proto):
    argv = script(tmp_path, "echo out; echo err >&2")
    chans, _ = run(exec_session(h.exec_url(argv), proto))
    assert chans[STDOUT] == b"out\n"
    assert chans[STDERR] == b"err\n"
    assert status(chans)["status"] == "Success"


def test_exec_stdin_then_v5_close(h):
    data = os.urandom(100000)
    send = [frame(STDIN, data[:60000]), frame(STDIN, data[60000:]), bytes([CLOSE, STDIN])]
    chans, code = run(exec_session(h.exec_url(["cat"], stdin=True), V5, send))
    assert chans[STDOUT] == data
    assert status(chans)["status"] == "Success"
    assert code == 1000


def test_exec_stdin_v4(h):
    # v4 has no stdin EOF: the command stops by itself.
    send = [frame(STDIN, b"abc"), frame(STDIN, b"defgh")]
    chans, _ = run(exec_session(h.exec_url(["head", "-c", "6"], stdin=True), V4, send))
    assert chans[STDOUT] == b"abcdef"
    assert status(chans)["status"] == "Success"


@pytest.mark.parametrize("proto", [V5, V4])
def test_exec_exit_code(h, tmp_path, proto):
    chans, code = run(exec_session(h.exec_url(script(tmp_path, "exit 3")), proto))
    assert_exit(chans, 3)
    assert "3" in status(chans)["message"]
    assert code == 1000


@pytest.mark.parametrize("proto", [V5, V4])
def test_exec_missing_command(h, proto):
    chans, _ = run(exec_session(h.exec_url(["no-such-command-for-uvmd"]), proto))
    assert_exit(chans, 127)


@pytest.mark.parametrize("proto", [V5, V4])
def test_tty_resize(h, tmp_path, proto):
    # Several sizes in one message, one split over two: the last one counts.
    send = [frame(RESIZE, b'{"Width":10,"Height":5} {"Wid'),
            frame(RESIZE, b'th":100,"Height":40}')]
    url = h.exec_url(script(tmp_path, "sleep 0.5; stty size"), tty=True)
    chans, _ = run(exec_session(url, proto, send))
    assert chans[STDOUT].strip() == b"40 100"
    assert STDERR not in chans
    assert status(chans)["status"] == "Success"


@pytest.mark.parametrize("proto", [V5, V4])
def test_resize_not_json(h, proto):
    url = h.exec_url(["sleep", "30"], tty=True)
    chans, code = run(exec_session(url, proto, [frame(RESIZE, b"not json")]))
    st = status(chans)
    assert st["status"] == "Failure", st
    assert "terminal size is not JSON" in st["message"], st
    assert code == 1000


def test_base64(h, tmp_path):
    argv = script(tmp_path, "read line; echo got $line; echo e >&2")
    send = [frame(STDIN, b"x y\n", b64=True)]
    chans, code = run(exec_session(h.exec_url(argv, stdin=True), V4_BASE64, send, b64=True))
    assert chans[STDOUT] == b"got x y\n"
    assert chans[STDERR] == b"e\n"
    assert status(chans)["status"] == "Success"
    assert code == 1000


def test_plain_channel_protocol(h, tmp_path):
    # Before v4 the error channel carries only an error's text.
    chans, code = run(exec_session(h.exec_url(script(tmp_path, "echo hi; exit 3")), V1))
    assert chans[STDOUT] == b"hi\n"
    assert b"exit code 3" in chans[ERROR]
    chans, code = run(exec_session(h.exec_url(["true"]), V1))
    assert chans.get(ERROR, b"") == b""
    assert code == 1000


def test_no_subprotocol_is_v1_binary(h):
    chans, code = run(exec_session(h.exec_url(["echo", "hi"]), None))
    assert chans[STDOUT] == b"hi\n"
    assert code == 1000


def test_unsupported_subprotocol(h):
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(exec_session(h.exec_url(["true"]), "v9.example"))
    assert e.value.status_code == 400


def test_attach_refused_by_backend(h):
    chans, code = run(exec_session(h.ask("attach some-container"), V5))
    st = status(chans)
    assert st["status"] == "Failure" and st["reason"] == "InternalError", st
    assert "no containers to attach to" in st["message"]
    assert code == 1000


def test_ping_pong(h):
    async def go():
        async with connect(ws_url(h.exec_url(["sleep", "2"])), V5) as ws:
            await asyncio.wait_for(await ws.ping(b"abc"), 5)
            return await collect(ws)

    chans, _ = run(go())
    assert status(chans)["status"] == "Success"


def live_processes(marker):
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("how", ["close_frame", "abort"])
def test_disconnect_kills_command(h, how):
    arg = "1000.%d" % random.randrange(10**8)
    marker = b"sleep\0" + arg.encode() + b"\0"

    async def go():
        async with connect(ws_url(h.exec_url(["sleep", arg])), V5) as ws:
            ch, _ = unframe(await ws.recv())  # the session is up
            assert ch == STDOUT
            end = time.time() + 5  # the child may not have run exec yet
            while not live_processes(marker) and time.time() < end:
                await asyncio.sleep(0.02)
            assert live_processes(marker)
            if how == "abort":
                ws.transport.abort()
            else:
                await ws.close()

    run(go())
    h.wait_sessions(0)
    end = time.time() + 5
    while live_processes(marker) and time.time() < end:
        time.sleep(0.05)
    assert not live_processes(marker)


def test_bad_and_used_token(h):
    url = h.exec_url(["true"])
    bad = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for u in (bad, url.replace("/exec/", "/portforward/")):
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            run(exec_session(u, V5))
        assert e.value.status_code == 404
    url = h.exec_url(["true"])
    run(exec_session(url, V5))
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(exec_session(url, V5))
    assert e.value.status_code == 404


def test_tls_and_expired_token(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=str(cert))
    th = Harness(cert=str(cert), key=str(key), ttl_ms=1000)
    try:
        url = th.exec_url(["echo", "secure"])
        assert url.startswith("https://")
        chans, code = run(exec_session(url, V5, ssl=ctx))
        assert chans[STDOUT] == b"secure\n" and code == 1000
        url = th.exec_url(["echo", "late"])
        time.sleep(1.5)
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            run(exec_session(url, V5, ssl=ctx))
        assert e.value.status_code == 404
        th.wait_sessions(0)
    finally:
        th.close()


def test_large_transfer_both_ways(h):
    data = os.urandom(16 << 20)

    async def go():
        async with connect(ws_url(h.exec_url(["cat"], stdin=True)), V5) as ws:
            async def sender():
                for off in range(0, len(data), 256 << 10):
                    await ws.send(frame(STDIN, data[off:off + (256 << 10)]))
                await ws.send(bytes([CLOSE, STDIN]))

            task = asyncio.ensure_future(sender())
            out = hashlib.sha256()
            n, chans = 0, {}
            async for msg in ws:
                ch, payload = unframe(msg)
                if ch == STDOUT:
                    out.update(payload)
                    n += len(payload)
                else:
                    chans[ch] = chans.get(ch, b"") + payload
            await task
            return out.hexdigest(), n, chans

    digest, n, chans = asyncio.run(asyncio.wait_for(go(), 120))
    assert n == len(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert status(chans)["status"] == "Success"


def raw_upgrade(url, version="13", proto=V5, key=None):
    """A hand-made handshake: the socket, the status code and the head."""
    host, port = url.split("/")[2].rsplit(":", 1)
    path = "/" + url.split("/", 3)[3]
    s = socket.create_connection((host, int(port)), timeout=10)
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    head = ("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: %s\r\n" % (path, host, port, version))
    if key:
        head += "Sec-WebSocket-Key: %s\r\n" % key
    if proto:
        head += "Sec-WebSocket-Protocol: %s\r\n" % proto
    s.sendall((head + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(4096)
        if not data:
            break
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return s, int(head.split()[1]), head.decode(), rest


def read_frames(s, rest=b""):
    """Server frames (opcode, payload) up to and including a close."""
    buf, frames = rest, []
    while True:
        while len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126:
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            frames.append((buf[0] & 0x0f, buf[off:off + n]))
            buf = buf[off + n:]
            if frames[-1][0] == 8:
                return frames
        data = s.recv(65536)
        if not data:
            return frames
        buf += data


def test_handshake_refusals(h):
    s, code, head, _ = raw_upgrade(h.exec_url(["true"]), version="12")
    s.close()
    assert code == 426 and "Sec-WebSocket-Version: 13" in head
    s, code, _, _ = raw_upgrade(h.exec_url(["true"]), key="")
    s.close()
    assert code == 400


def test_unmasked_frame_fails_with_1002(h):
    url = h.exec_url(["sleep", "30"])
    s, code, head, rest = raw_upgrade(url)
    assert code == 101 and "Sec-WebSocket-Protocol: " + V5 in head
    s.sendall(b"\x82\x02\x00a")  # clients must mask
    frames = read_frames(s, rest)
    s.close()
    assert frames[-1][0] == 8 and frames[-1][1][:2] == (1002).to_bytes(2, "big")


def test_oversized_message_fails_with_1009(h):
    async def go():
        async with connect(ws_url(h.exec_url(["cat"], stdin=True)), V5) as ws:
            await ws.send(frame(STDIN, b"x" * (2 << 20)))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    await ws.recv()
            return ws.close_code

    assert run(go()) == 1009


def test_text_message_on_binary_protocol(h):
    async def go():
        async with connect(ws_url(h.exec_url(["sleep", "30"], stdin=True)), V5) as ws:
            await ws.send("0hello")
            return await collect(ws)

    chans, code = run(go())
    assert status(chans)["status"] == "Failure"
    assert "not a binary message" in status(chans)["message"]
    assert code == 1000


def test_v5_close_of_other_channels_ignored(h):
    send = [bytes([CLOSE, RESIZE]), bytes([CLOSE, STDOUT]), frame(STDIN, b"still open"),
            bytes([CLOSE, STDIN])]
    chans, _ = run(exec_session(h.exec_url(["cat"], stdin=True), V5, send))
    assert chans[STDOUT] == b"still open"
    assert status(chans)["status"] == "Success"


# --- port-forward ---


class EchoServer:
    """A TCP server on 127.0.0.1 that echoes each connection (or, with
    greeting, sends it and closes)."""

    def __init__(self, greeting=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        with c:
            if self.greeting is not None:
                c.sendall(self.greeting)
                return
            while True:
                data = c.recv(65536)
                if not data:
                    return
                c.sendall(data)

    def close(self):
        self.sock.close()


@pytest.fixture
def echo():
    e = EchoServer()
    yield e
    e.close()


def port_prefix(port):
    return port.to_bytes(2, "little")


async def pf_open(url, n_ports, proto=V4, b64=False, **kw):
    """Connect and check the first message of each channel: its port."""
    ws = await connect(url, proto, **kw)
    prefixes = []
    for _ in range(2 * n_ports):
        prefixes.append(unframe(await ws.recv(), b64))
    return ws, prefixes


async def pf_read(ws, ch, n, b64=False):
    got = b""
    while len(got) < n:
        c, data = unframe(await ws.recv(), b64)
        assert c == ch, (c, data)
        got += data
    return got


@pytest.mark.parametrize("proto", [V4, V4_BASE64])
def test_pf_echo(h, echo, proto):
    b64 = proto == V4_BASE64

    async def go():
        url = ws_url(h.portforward_url(echo.port), "?ports=%d" % echo.port)
        ws, prefixes = await pf_open(url, 1, proto, b64)
        assert prefixes == [(0, port_prefix(echo.port)), (1, port_prefix(echo.port))]
        await ws.send(frame(0, b"hello", b64))
        assert await pf_read(ws, 0, 5, b64) == b"hello"
        await ws.send(frame(0, b"again", b64))
        assert await pf_read(ws, 0, 5, b64) == b"again"
        await ws.close()
        return ws.close_code

    assert run(go()) == 1000


def test_pf_ports_from_token(h, echo):
    async def go():
        ws, prefixes = await pf_open(ws_url(h.portforward_url(echo.port)), 1)
        assert prefixes[0] == (0, port_prefix(echo.port))
        await ws.send(frame(0, b"tok"))
        assert await pf_read(ws, 0, 3) == b"tok"
        await ws.close()

    run(go())


@pytest.mark.parametrize("form", ["comma", "repeated"])
def test_pf_two_ports(h, form):
    a, b = EchoServer(), EchoServer(greeting=b"from-b")
    query = ("?ports=%d,%d" if form == "comma" else "?ports=%d&ports=%d") % (a.port, b.port)

    async def go():
        ws, prefixes = await pf_open(ws_url(h.portforward_url(a.port, b.port), query), 2)
        assert prefixes == [(0, port_prefix(a.port)), (1, port_prefix(a.port)),
                            (2, port_prefix(b.port)), (3, port_prefix(b.port))]
        assert await pf_read(ws, 2, 6) == b"from-b"
        await ws.send(frame(0, b"to-a"))
        assert await pf_read(ws, 0, 4) == b"to-a"
        await ws.close()

    try:
        run(go())
    finally:
        a.close()
        b.close()


def test_pf_parallel_sessions(h, echo):
    async def one(i):
        ws, _ = await pf_open(ws_url(h.portforward_url(echo.port)), 1)
        data = ("session %d " % i).encode() * 1000
        await ws.send(frame(0, data))
        got = await pf_read(ws, 0, len(data))
        await ws.close()
        return got == data

    async def go():
        return await asyncio.gather(*(one(i) for i in range(20)))

    assert all(run(go()))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_pf_refused_port(h):
    port = free_port()

    async def go():
        ws, _ = await pf_open(ws_url(h.portforward_url(port)), 1)
        chans, code = await collect(ws)
        return chans, code

    chans, code = run(go())
    text = chans[1].decode()
    assert "error forwarding port %d" % port in text
    assert "refused" in text.lower()
    assert code == 1000  # every port is done


def test_pf_remote_closes(h):
    g = EchoServer(greeting=b"bye")
    try:
        async def go():
            ws, _ = await pf_open(ws_url(h.portforward_url(g.port)), 1)
            return await collect(ws)

        chans, code = run(go())
        assert chans[0] == b"bye"
        assert 1 not in chans
        assert code == 1000
    finally:
        g.close()


@pytest.mark.parametrize("query,status", [
    ("?ports=abc", 400), ("?ports=0", 400), ("?ports=70000", 400), ("?ports=", 400),
    ("?ports=80,", 400), ("?ports=81", 403),
])
def test_pf_bad_ports(h, query, status):
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(pf_open(ws_url(h.portforward_url(80), query), 1))
    assert e.value.status_code == status
