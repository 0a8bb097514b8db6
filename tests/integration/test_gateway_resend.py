"""A forward client that sends a chunk again (its ack was lost) gets no duplicate documents.

The gateway names each event of a chunk by the chunk's id and the event's place in it, and the
processor uses that name as the event id, so the second copy overwrites the first in
Elasticsearch even though Kafka holds both.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import msgpack
import pytest

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from logway.counts import counts_consumer, topic_size
from tests.integration.support import (
    accepts,
    free_port,
    gateway,
    logway,
    processor,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration
EVENTS = 100


def send_chunk(port: int, tag: str, chunk: str, start: int) -> None:
    entries = b"".join(msgpack.packb([int(time.time()), {"seq": start + n}]) for n in range(EVENTS))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(msgpack.packb([tag, entries, {"chunk": chunk, "size": EVENTS}]))
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            unpacker.feed(sock.recv(4096))
            if {"ack": chunk} in list(unpacker):
                return


def test_a_chunk_sent_twice_is_indexed_once(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-resend"
    (tmp_path / "t.yaml").write_text(
        tenant_yaml(tenant, extra="sources:\n  forward:\n    allow_unauthenticated: true\n")
    )
    logway(endpoints, "apply", str(tmp_path))
    port = free_port()
    processes = [
        gateway(endpoints, port, tmp_path).start(),
        processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start(),
        sink(endpoints, tenant, f"{tenant}-sink", tmp_path).start(),
    ]
    es = endpoints.es.client()

    def documents() -> list[str]:
        return [hit["_id"] for hit in tenant_documents(es, tenant, source=False)]

    try:
        wait_for("the gateway", lambda: accepts(port), bool, 90, processes[0].assert_running)
        send_chunk(port, f"{tenant}.app", "chunk-a", 0)
        send_chunk(port, f"{tenant}.app", "chunk-a", 0)  # the ack was lost: sent again
        send_chunk(port, f"{tenant}.app", "chunk-b", EVENTS)
        counter = counts_consumer(endpoints.kafka)
        assert topic_size(counter, raw_topic(tenant)) == 3 * EVENTS  # Kafka holds both copies
        ids = wait_for(
            "the documents",
            documents,
            lambda found: len(found) >= 2 * EVENTS,
            120,
            lambda: [p.assert_running() for p in processes],
        )
        time.sleep(3)  # let the second copy arrive too, if it were to duplicate
        ids = documents()
    finally:
        for process in processes:
            process.stop()
    assert len(ids) == 2 * EVENTS
    assert {i.rsplit(":", 1)[0] for i in ids} == {
        f"fwd:{tenant}:chunk-a",
        f"fwd:{tenant}:chunk-b",
    }
