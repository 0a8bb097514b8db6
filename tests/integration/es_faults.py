"""A fault-injecting HTTP proxy in front of the real Elasticsearch.

Everything is forwarded to the real server, which stays the only thing tests count against;
the proxy only makes some answers worse, the way a busy cluster would:
- `refuse_every`: every n-th bulk item (each at most once) is not forwarded and answered with a
  per-item 429, as a cluster with full write queues answers;
- `max_bulk_bytes`: a bulk request body over this size is answered 413 without forwarding, as
  `http.max_content_length` does.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from elasticsearch import ApiError

from logway.core.elastic import ElasticConnection


class ElasticsearchFaults:
    def __init__(
        self, upstream: ElasticConnection, refuse_every: int = 0, max_bulk_bytes: int = 0
    ) -> None:
        # The proxy logs in to the real cluster itself: the sink talks plain HTTP to it.
        self.upstream = upstream.url.rstrip("/")
        self._login = upstream.client()
        self.refuse_every = refuse_every
        self.max_bulk_bytes = max_bulk_bytes
        self.seen_items = 0
        self.refused: set[str] = set()
        self.too_large = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.split("?")[0].endswith("/_bulk") and self.command in ("POST", "PUT"):
                    status, answer = proxy.bulk(body, self.headers)
                else:
                    status, answer = proxy.forward(self.command, self.path, body, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815 - http.server names

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self._login.close()

    def forward(self, method: str, path: str, body: bytes, headers: object) -> tuple[int, bytes]:
        try:
            answer = self._login.perform_request(
                method,
                path,
                body=body or None,
                headers={"content-type": "application/json", "accept": "application/json"},
            )
        except ApiError as exc:
            return exc.meta.status, orjson.dumps(exc.body)
        return answer.meta.status, orjson.dumps(answer.body)

    def bulk(self, body: bytes, headers: Any) -> tuple[int, bytes]:
        if self.max_bulk_bytes and len(body) > self.max_bulk_bytes:
            with self._lock:
                self.too_large += 1
            return 413, b'{"error": "request entity too large", "status": 413}'
        lines = [line for line in body.split(b"\n") if line]
        pairs = list(zip(lines[0::2], lines[1::2], strict=True))
        keep: list[bytes] = []
        refused_at: dict[int, dict[str, object]] = {}
        with self._lock:
            for position, (action, document) in enumerate(pairs):
                meta = orjson.loads(action)["index"]
                self.seen_items += 1
                first_time = meta["_id"] not in self.refused
                if self.refuse_every and self.seen_items % self.refuse_every == 0 and first_time:
                    self.refused.add(meta["_id"])
                    refused_at[position] = {
                        "index": {
                            "_index": meta["_index"],
                            "_id": meta["_id"],
                            "status": 429,
                            "error": {
                                "type": "es_rejected_execution_exception",
                                "reason": "injected by the test proxy",
                            },
                        }
                    }
                else:
                    keep += [action, document]
        if not keep:
            items = [refused_at[p] for p in sorted(refused_at)]
            return 200, orjson.dumps({"errors": True, "took": 0, "items": items})
        status, answer = self.forward("POST", "/_bulk", b"\n".join(keep) + b"\n", headers)
        if status != 200 or not refused_at:
            return status, answer
        result = orjson.loads(answer)
        forwarded = iter(result["items"])
        result["items"] = [
            refused_at[p] if p in refused_at else next(forwarded) for p in range(len(pairs))
        ]
        result["errors"] = True
        return 200, orjson.dumps(result)
