"""The read-only status page: `/` (HTML, with each tenant's last hour, `status_history`) and
`/status.json`, refreshed at most every 5 s."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from logway.status import TenantStatus, as_json, page
from logway.status_history import History

CACHE_S = 5.0


def serve_page(host: str, port: int, collect: Callable[[], list[TenantStatus]]) -> None:
    lock = threading.Lock()
    cached: list[Any] = [0.0, [], datetime.now(UTC)]
    history = History()

    def current() -> tuple[list[TenantStatus], datetime]:
        with lock:
            if time.monotonic() - cached[0] > CACHE_S:
                cached[:] = [time.monotonic(), collect(), datetime.now(UTC)]
                history.record(cached[1], cached[2])
            return cached[1], cached[2]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path not in ("/", "/status.json"):
                self.send_error(404)
                return
            statuses, at = current()
            if path == "/":
                with lock:
                    charts = {s.tenant: history.chart(s.tenant, at) for s in statuses}
                body, kind = page(statuses, at, charts).encode(), "text/html; charset=utf-8"
            else:
                body, kind = json.dumps(as_json(statuses)).encode(), "application/json"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
