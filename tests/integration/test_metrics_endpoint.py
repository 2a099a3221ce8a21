"""The metrics endpoint with clients that misbehave: one that connects and
sends nothing must not hold up a scrape, and past the connection limit a
client gets 503 at once rather than a wait."""
import socket
import time
import urllib.error
import urllib.request

import pytest

from test_metrics import _free_port

LIMIT = 4  # MAX_CONNS in service/metrics_server.c


@pytest.fixture
def endpoint(daemon_factory):
    port = _free_port()
    daemon_factory(config={"metrics_address": "127.0.0.1:%d" % port})
    return port


def _stalled(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metr")  # a head that never ends
        socks.append(s)
    return socks


def _scrape(port, timeout):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        return r.status, r.read().decode()


def test_a_stalled_client_does_not_hold_up_a_scrape(endpoint):
    socks = _stalled(endpoint, 1)
    try:
        # The server gives a stalled client 5 s; the scrape must not wait for it.
        status, text = _scrape(endpoint, timeout=2)
        assert status == 200 and "uvmd_" in text
    finally:
        for s in socks:
            s.close()


def test_past_the_limit_503_then_served_again(endpoint):
    socks = _stalled(endpoint, LIMIT)
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            _scrape(endpoint, timeout=2)
        assert e.value.code == 503 and b"too many" in e.value.read()
    finally:
        for s in socks:
            s.close()
    # Closed clients free their slots as the server sees them go.
    for _ in range(50):
        try:
            assert _scrape(endpoint, timeout=2)[0] == 200
            return
        except urllib.error.HTTPError as e:
            assert e.code == 503
            time.sleep(0.1)
    pytest.fail("the endpoint did not serve again after the stalled clients left")
