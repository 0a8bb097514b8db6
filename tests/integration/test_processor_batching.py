"""The processor's batch linger, through a real processor and Kafka.

Under light traffic a processor hands records over in batches at least `batch_linger_s` apart
(fewer, larger batches); a backlog, whose batches are full, is never held back by it. Both are
read off the processed topic: the records of one batch are produced together, so their
producer timestamps cluster, and the clusters are as far apart as the batches.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from logway.core.names import processed_topic, raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import apply_tenant, processor, produced_at, wait_for

pytestmark = pytest.mark.integration

LINGER_S = 0.4
TRICKLE = 30  # records, one every TRICKLE_GAP_S
TRICKLE_GAP_S = 0.1
BACKLOG = 1000
BATCH_MAX = 50
SAME_BATCH_MS = 30  # records produced closer together than this came from one batch


def batches(stamps_ms: list[int]) -> list[list[int]]:
    """Producer timestamps grouped into the batches that produced them."""
    groups: list[list[int]] = []
    for stamp in sorted(stamps_ms):
        if groups and stamp - groups[-1][-1] < SAME_BATCH_MS:
            groups[-1].append(stamp)
        else:
            groups.append([stamp])
    return groups


def test_light_traffic_comes_in_batches_a_linger_apart_and_a_backlog_is_not_held_back(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-linger"
    apply_tenant(
        endpoints,
        tmp_path,
        tenant,
        partitions=1,
        extra="pipeline:\n  - {step: parse, format: json}\n",
    )
    worker = processor(
        endpoints,
        tenant,
        f"{tenant_prefix}-linger",
        tmp_path,
        env={
            "LOGWAY_PROCESSOR_BATCH_LINGER_S": str(LINGER_S),
            "LOGWAY_PROCESSOR_BATCH_MAX": str(BATCH_MAX),
        },
    ).start()
    producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 0}))

    def send(phase: str, n: int) -> None:
        producer.produce(raw_topic(tenant), orjson.dumps({"phase": phase, "n": n}))

    def processed(phase: str, count: int, timeout: float = 60) -> list[int]:
        """The producer timestamps of the `count` processed records of `phase`."""

        def stamps() -> list[int]:
            return [
                at
                for value, at in produced_at(endpoints.kafka, processed_topic(tenant))
                if orjson.loads(value).get("phase") == phase
            ]

        found = f"{count} {phase} record(s) processed"
        return wait_for(found, stamps, lambda s: len(s) >= count, timeout, worker.assert_running)

    try:
        send("ready", 0)
        producer.flush(10)
        processed("ready", 1, timeout=120)  # the group is joined

        for n in range(TRICKLE):
            send("trickle", n)
            producer.flush(10)
            time.sleep(TRICKLE_GAP_S)
        trickle = processed("trickle", TRICKLE)

        for n in range(BACKLOG):
            send("backlog", n)
        producer.flush(10)
        backlog = processed("backlog", BACKLOG)
    finally:
        worker.stop()

    assert len(trickle) == TRICKLE
    groups = batches(trickle)
    starts = [g[0] for g in groups]
    gaps_s = [(b - a) / 1000 for a, b in itertools.pairwise(starts)]
    spread_s = (starts[-1] - starts[0]) / 1000
    # One batch per 0.1 s record without the linger; one per LINGER_S with it.
    assert len(groups) <= spread_s / LINGER_S + 2, (len(groups), gaps_s)
    assert min(gaps_s) >= LINGER_S / 2, gaps_s  # without the linger: the 0.1 s of the trickle
    assert max(len(g) for g in groups) >= 3, groups

    assert len(backlog) == BACKLOG
    # 20 full batches; held back a linger each, they would take at least 19 * 0.4 = 7.6 s.
    assert (max(backlog) - min(backlog)) / 1000 < 3.0, len(batches(backlog))
