"""/livez and /readyz: live while every loop made progress within its allowed silence, ready
while also every declared condition holds; /metrics still served beside them."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from wsgiref.simple_server import make_server

import pytest

from logway.core.health import Readiness, health_app
from logway.core.loops import Loops


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


@pytest.fixture
def served() -> tuple[int, Loops, Readiness]:
    import threading

    loops, conditions = Loops(), Readiness()
    port = free_port()
    server = make_server("127.0.0.1", port, health_app(loops, conditions))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port, loops, conditions


def test_live_and_ready_while_loops_beat_and_conditions_hold(
    served: tuple[int, Loops, Readiness],
) -> None:
    port, loops, conditions = served
    loops.add("registry").beat()
    read = [False]
    conditions.require("published tenant versions read", lambda: read[0])

    assert get(port, "/livez")[0] == 200
    status, body = get(port, "/readyz")
    assert status == 503
    assert "WAITING published tenant versions read" in body
    read[0] = True
    assert get(port, "/readyz")[0] == 200
    status, metrics = get(port, "/metrics")
    assert status == 200
    assert "python_info" in metrics  # Prometheus' default registry


def test_a_silent_loop_makes_the_process_not_live_and_not_ready(
    served: tuple[int, Loops, Readiness],
) -> None:
    port, loops, _conditions = served
    loops.add("lag-monitor")
    stuck = loops.add("sink", max_silence_s=0.2)
    time.sleep(0.3)
    status, body = get(port, "/livez")
    assert status == 503
    assert "SILENT sink" in body
    assert "ok lag-monitor" in body
    assert get(port, "/readyz")[0] == 503
    stuck.beat()
    assert get(port, "/livez")[0] == 200
