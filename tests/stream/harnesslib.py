"""The streaming server alone (tests/stream/harness.c on local processes), for
protocol tests with real clients. Start it with Harness(); ask it for URLs."""
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def harness_binary():
    b = os.environ.get("UVMD_STREAM_HARNESS")
    if b:
        return b
    out = subprocess.run(["bazel", "info", "bazel-bin"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    return os.path.join(out, "tests", "stream", "harness")


class Harness:
    def __init__(self, address="127.0.0.1:0", cert=None, key=None, ttl_ms=None):
        args = [harness_binary(), address]
        if cert:
            args += [cert, key]
            if ttl_ms:
                args.append(str(ttl_ms))
        elif ttl_ms:
            raise ValueError("ttl_ms needs cert and key in this harness")
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline().split()
        if len(line) != 2 or line[0] != "ADDR":
            raise RuntimeError("harness did not start: %r %s" % (line, self.p.stderr.read()))
        self.address = line[1]

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if out.startswith("ERROR"):
            raise RuntimeError(out)
        return out

    def exec_url(self, argv, tty=False, stdin=False, stdout=True, stderr=True):
        # The harness reads its command line as words split at spaces.
        if any(not a or any(c.isspace() for c in a) for a in argv):
            raise ValueError("harness argv words cannot be empty or hold spaces: %r" % (argv,))
        return self.ask("exec %d %d %d %d %s" % (tty, stdin, stdout, stderr, " ".join(argv)))

    def portforward_url(self, *ports):
        return self.ask("portforward " + " ".join(str(p) for p in ports))

    def sessions(self):
        return int(self.ask("sessions"))

    def wait_sessions(self, n, timeout=10):
        end = time.time() + timeout
        while self.sessions() != n:
            if time.time() > end:
                raise AssertionError("sessions: %d, wanted %d" % (self.sessions(), n))
            time.sleep(0.05)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=20)
        self.p.stdout.close()
        self.p.stderr.close()
