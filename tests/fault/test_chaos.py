"""Faults under load, each ending in a ledger (see ../shared/guides/reliability.md):
sent, acked, indexed, dead-lettered, duplicates, lost (= acked - indexed - dlq), recovery.

Load goes in through the gateway, as an outside service's would: PackedForward chunks of 100
events with acks; a chunk without an ack is sent again, as fluent-logger and Fluent Bit do.
5% of the events are broken by design (the tenant's pipeline dead-letters them). While it
runs, one process is killed with SIGKILL at random moments and started again. Every scenario
must end with lost = 0 and duplicates = 0.

`make test` runs each victim once (marker `fault`); `make chaos` kills each five times (marker
`chaos`) and writes the ledger table to bench/results/chaos-<date>-<commit>.json.
"""

from __future__ import annotations

import random
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan

from bench.common import write_result
from logway.settings import Endpoints
from streams.deadletter import DeadLetter
from tests.integration.support import (
    PipelineProcess,
    accepts,
    free_port,
    logway,
    read_topic,
    tenant_yaml,
    wait_for,
)
from topology.names import dlq_topic, index_pattern

CHUNKS, PER_CHUNK = 60, 100
PIPELINE = """\
sources:
  forward:
    allow_unauthenticated: true
pipeline:
  - {step: parse, format: json}
  - {step: parse, format: regex, field: msg, pattern: '^(?P<never>never)$', when: 'broken == true'}
"""
LEDGER: list[dict[str, Any]] = []


class Sender(threading.Thread):
    """Sends every chunk until it is acked; counts what it tried and what was acked."""

    def __init__(self, port: int, tag: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.port, self.tag = port, tag
        self.rng = random.Random(seed)
        self.sent = 0
        self.acked_events: set[str] = set()
        self.resends = 0

    def run(self) -> None:
        for c in range(CHUNKS):
            events = [
                (
                    int(time.time()),
                    {
                        "eid": f"e{c}-{n}",
                        "broken": self.rng.random() < 0.05,
                        "msg": "x" * self.rng.randint(100, 800),
                    },
                )
                for n in range(PER_CHUNK)
            ]
            self.sent += PER_CHUNK
            entries = b"".join(msgpack.packb(event) for event in events)
            frame = msgpack.packb([self.tag, entries, {"chunk": f"chunk-{c}", "size": PER_CHUNK}])
            while not self._deliver(frame, f"chunk-{c}"):
                self.resends += 1
                time.sleep(0.3)
            self.acked_events.update(str(e[1]["eid"]) for e in events)
            time.sleep(0.25)  # about 15 s of sending: the kills land while chunks are in flight

    def _deliver(self, frame: bytes, chunk: str) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(frame)
                unpacker = msgpack.Unpacker(raw=False)
                while True:
                    data = sock.recv(4096)
                    if not data:
                        return False
                    unpacker.feed(data)
                    if {"ack": chunk} in list(unpacker):
                        return True
        except OSError:
            return False


@pytest.fixture(scope="module", autouse=True)
def ledger_table() -> Iterator[None]:
    yield
    if LEDGER and any(row["kills"] > 1 for row in LEDGER):
        write_result("chaos-", {"scenarios": LEDGER})


def run_scenario(
    endpoints: Endpoints, tenant: str, tmp_path: Path, victim: str, kills: int
) -> dict[str, Any]:
    (tmp_path / "t.yaml").write_text(tenant_yaml(tenant, partitions=3, extra=PIPELINE))
    logway(endpoints, "apply", str(tmp_path))
    port = free_port()
    args = {
        "gateway": ["gateway", "--host", "127.0.0.1", "--port", str(port)],
        "processor": [
            "processor",
            "--tenants-matching",
            tenant,
            "--app-id",
            f"{tenant}-proc",
            "--data-dir",
            str(tmp_path / "faust"),
        ],
        "sink": ["sink", "--tenants-matching", tenant, "--group-id", f"{tenant}-sink"],
    }

    def start(name: str, run: int) -> PipelineProcess:
        return PipelineProcess(endpoints, args[name], tmp_path / f"{name}-{run}.log").start()

    live = {name: start(name, 0) for name in args}
    wait_for("the gateway", lambda: accepts(port), bool, 90, live["gateway"].assert_running)
    sender = Sender(port, f"{tenant}.app", seed=kills)
    sender.start()
    rng = random.Random(f"{victim}-{kills}")
    restarted_at = time.monotonic()
    for run in range(1, kills + 1):
        time.sleep(rng.uniform(1.5, 4.0))
        live[victim].stop(signal.SIGKILL)
        live[victim] = start(victim, run)
        restarted_at = time.monotonic()
        if victim == "gateway":
            wait_for("the gateway again", lambda: accepts(port), bool, 90)
    sender.join(600)
    assert not sender.is_alive(), "the sender could not get every chunk acked"
    es = Elasticsearch(endpoints.es_url)

    def settled() -> tuple[int, int]:
        return len(indexed_ids(es, tenant)), len(dead_ids(endpoints, tenant))

    try:
        wait_for(
            "every acked event indexed or dead-lettered",
            settled,
            lambda counts: sum(counts) >= len(sender.acked_events),
            300,
            lambda: [p.assert_running() for p in live.values()],
        )
        recovery = time.monotonic() - restarted_at
        time.sleep(3)  # duplicates, if any, would land now
        documents = indexed_docs(es, tenant)
        letters = dead_letters(endpoints, tenant)
    finally:
        for process in live.values():
            process.stop()
    indexed = set(documents)
    dead = {eid for eid, _reason in letters}
    return {
        "victim": victim,
        "kills": kills,
        "sent": sender.sent,
        "acked": len(sender.acked_events),
        "resent_chunks": sender.resends,
        "indexed": len(indexed),
        "dlq": len(dead),
        "dlq_by_reason": dict(Counter(reason for _eid, reason in set(letters))),
        "duplicates": len(documents) - len(indexed),
        "lost": len(sender.acked_events - indexed - dead),
        "recovery_s": round(recovery, 1),
    }


def indexed_docs(es: Elasticsearch, tenant: str) -> list[str]:
    es.indices.refresh(index=index_pattern(tenant), ignore_unavailable=True)
    return [
        str(hit["_source"]["eid"])
        for hit in scan(es, index=index_pattern(tenant), query={"_source": ["eid"]})
    ]


def indexed_ids(es: Elasticsearch, tenant: str) -> set[str]:
    return set(indexed_docs(es, tenant))


def dead_letters(endpoints: Endpoints, tenant: str) -> list[tuple[str, str]]:
    found = []
    for _key, value in read_topic(endpoints.kafka_bootstrap, dlq_topic(tenant), timeout=10):
        letter = DeadLetter.from_bytes(value)
        found.append((str(orjson.loads(letter.original)["eid"]), str(letter.reason)))
    return found


def dead_ids(endpoints: Endpoints, tenant: str) -> set[str]:
    return {eid for eid, _reason in dead_letters(endpoints, tenant)}


@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize("victim", ["processor", "sink", "gateway"])
def test_kill_9_once_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, victim: str
) -> None:
    row = run_scenario(endpoints, f"{tenant_prefix}-k{victim[:4]}", tmp_path, victim, kills=1)
    LEDGER.append(row)
    print(row)
    assert (row["lost"], row["duplicates"]) == (0, 0), row
    assert row["acked"] == row["sent"] == CHUNKS * PER_CHUNK
    assert row["dlq"] > 0  # the broken 5% went to the DLQ, not nowhere


@pytest.mark.chaos
@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize("victim", ["processor", "sink", "gateway"])
def test_kill_9_five_times_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, victim: str
) -> None:
    row = run_scenario(endpoints, f"{tenant_prefix}-c{victim[:4]}", tmp_path, victim, kills=5)
    LEDGER.append(row)
    print(row)
    assert (row["lost"], row["duplicates"]) == (0, 0), row
