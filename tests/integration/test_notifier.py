"""The notifier against a local HTTP receiver standing in for Slack (no machine here reaches it).

The receiver first answers 429 with Retry-After, then 200. The digest must wait as told, arrive
once with the right counts and commands and no secrets, not be posted again after a restart,
and a later batch of dead letters must make a new digest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    processor,
    wait_for,
)

pytestmark = pytest.mark.integration
BROKEN = b'{"password": "hunter2", "email": "ana@example.com", "msg": "cut off'


class SlackStandIn:
    """Records every POST; answers from `replies` in turn, then 200."""

    def __init__(self, replies: list[tuple[int, dict[str, str]]]) -> None:
        self.posts: list[tuple[float, dict[str, Any], int]] = []
        self.replies = replies
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, headers = stand_in.replies.pop(0) if stand_in.replies else (200, {})
                stand_in.posts.append((time.monotonic(), json.loads(body), status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"rate_limited")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/secret-part"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        return [payload for _t, payload, status in self.posts if status == 200]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn([(429, {"Retry-After": "2"})])
    yield stand_in
    stand_in.server.shutdown()


def test_digests_reach_the_owners_once_and_obey_rate_limits(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, slack: SlackStandIn
) -> None:
    tenant = f"{tenant_prefix}-notify"
    hook = f"{tenant.upper().replace('-', '_')}_WEBHOOK"
    apply_tenant(endpoints, tmp_path, tenant)
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for _ in range(30):
        producer.produce(raw_topic(tenant), BROKEN)
    assert producer.flush(30) == 0

    processing = processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start()

    def notifier(run: int) -> PipelineProcess:
        return PipelineProcess(
            endpoints,
            [
                "notifier",
                "--tenants-matching",
                tenant,
                "--group-id",
                f"{tenant}-notifier",
                "--digest-interval-s",
                "3",
            ],
            tmp_path / f"notifier-{run}.log",
            extra_env={hook: slack.url},
        ).start()

    first = notifier(1)
    try:
        [digest] = wait_for(
            "a digest accepted by Slack",
            slack.accepted,
            lambda accepted: len(accepted) >= 1,
            120,
            first.assert_running,
        )
        assert slack.posts[0][2] == 429
        assert slack.posts[1][0] - slack.posts[0][0] >= 1.9  # Retry-After: 2 was obeyed
        time.sleep(5)  # past another interval: nothing new, nothing posted twice
        assert len(slack.accepted()) == 1
    finally:
        first.stop()

    text = json.dumps(digest)
    assert digest["blocks"][0]["text"]["text"].startswith(f"{tenant}: 30 log record(s)")
    assert "`invalid_json` at processor/parse: *30*" in text
    assert f"logway dlq replay --tenant {tenant}" in text
    for secret in ("hunter2", "ana@example.com", "secret-part", slack.url):
        assert secret not in text

    second = notifier(2)  # a restart posts nothing again: the digest's offsets were committed
    try:
        time.sleep(8)
        assert len(slack.accepted()) == 1
        for _ in range(5):
            producer.produce(raw_topic(tenant), b"not json")
        assert producer.flush(30) == 0
        [_, later] = wait_for(
            "a digest of the new dead letters",
            slack.accepted,
            lambda accepted: len(accepted) >= 2,
            90,
            second.assert_running,
        )
    finally:
        second.stop()
        processing.stop()
    assert later["blocks"][0]["text"]["text"].startswith(f"{tenant}: 5 log record(s)")
