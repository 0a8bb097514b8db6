"""Health that tells the truth: `/livez` and `/readyz` beside `/metrics`, on every worker.

- **Live** (`/livez`): every loop of the process (`logway.core.loops.LOOPS`: followers, the lag
  monitor, a worker's main loop) made progress within its allowed silence. A loop that died
  ends the process by itself (`loops.die`); one that hangs, or retries for longer than a
  backoff lasts, is caught here, and Kubernetes' liveness probe restarts the pod.
- **Ready** (`/readyz`): live, and each readiness condition the worker declared holds (the
  published tenant versions read, a first assignment), so a rolling update waits for a new pod
  that can work.

Both answer 200 or 503 with one line per loop and condition, for people and probes alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from logway.core.loops import LOOPS, Loops

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Readiness:
    """Named conditions a worker declares; ready while each holds."""

    def __init__(self) -> None:
        self._conditions: dict[str, Callable[[], bool]] = {}

    def require(self, name: str, holds: Callable[[], bool]) -> None:
        self._conditions[name] = holds

    def report(self) -> list[tuple[str, bool]]:
        return [(name, bool(holds())) for name, holds in self._conditions.items()]


READINESS = Readiness()


def liveness(loops: Loops = LOOPS) -> tuple[bool, list[str]]:
    lines = [
        f"{'ok' if loop.live() else 'SILENT'} {loop.name}: last progress "
        f"{loop.silent_for():.1f} s ago (at most {loop.max_silence_s:.0f} s), "
        f"{loop.retries} restart(s)"
        for loop in loops.all()
    ]
    return all(loop.live() for loop in loops.all()), lines


def readiness(loops: Loops = LOOPS, conditions: Readiness = READINESS) -> tuple[bool, list[str]]:
    live, lines = liveness(loops)
    report = conditions.report()
    lines += [f"{'ok' if holds else 'WAITING'} {name}" for name, holds in report]
    return live and all(holds for _name, holds in report), lines


def health_app(loops: Loops = LOOPS, conditions: Readiness = READINESS) -> Any:
    """A WSGI app: /livez and /readyz, and Prometheus' /metrics for every other path."""
    metrics = make_wsgi_app()
    checks = {"/livez": lambda: liveness(loops), "/readyz": lambda: readiness(loops, conditions)}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        check = checks.get(environ.get("PATH_INFO", ""))
        if check is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        ok, lines = check()
        body = ("\n".join([*lines, "ok" if ok else "not ok"]) + "\n").encode()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds: no line each."""


def start_health_server(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - probes
    """Serve /metrics, /livez and /readyz on `port` from a daemon thread."""
    server = make_server(addr, port, health_app(), _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="health-server", daemon=True).start()
