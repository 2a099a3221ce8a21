"""What the Windows rig's clients share: the ok/not ok lines, the fake
agent's call log, and a Linux python3-grpcio client of uvmd.exe on
127.0.0.1:PORT. Run from the repository's root, as hcs_rig_lib.sh does."""
import os
import sys

import grpc

sys.path.insert(0, "tests/integration")
import uvmdlib  # noqa: E402

failed = 0


def check(name, cond, why=""):
    global failed
    print(("ok " if cond else "not ok ") + name + ("" if cond or not why else " # " + why))
    sys.stdout.flush()
    failed += not cond


def calls():
    """The fake agent's log of what it was asked (one line per call; the
    rig's UVMD_FAKE_AGENT_DIR); [] before the first."""
    try:
        with open(os.path.join(os.environ["UVMD_FAKE_AGENT_DIR"], "calls")) as f:
            return f.read().split("\n")
    except FileNotFoundError:
        return []


def one_line(m):
    return str(m).replace("\n", " ")[:400]


def connect(port, mode):
    """(client, generated messages module) once uvmd.exe answers; a
    not ok line for MODE and exit 1 when it does not within 60 s."""
    uvmdlib.gen_stubs()
    c = uvmdlib.Client.__new__(uvmdlib.Client)
    c.socket = "127.0.0.1:" + port
    c.channel = grpc.insecure_channel(c.socket)
    try:
        grpc.channel_ready_future(c.channel).result(timeout=60)
    except grpc.FutureTimeoutError:
        check(mode + "-connect", False, "no answer on " + c.socket)
        sys.exit(1)
    return c, uvmdlib.pb()


def expect_error(name, fn, codes, needle):
    """fn fails with one of codes (one or a tuple), its message holding needle."""
    codes = codes if isinstance(codes, tuple) else (codes,)
    try:
        r = fn()
        check(name, False, "answered " + one_line(r))
    except grpc.RpcError as e:
        check(name, e.code() in codes and needle in e.details(), "%s %r" % (e.code(), e.details()))
