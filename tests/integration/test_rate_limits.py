"""`limits.records_per_s` through real processors and Kafka: held for all the processors of a
group together, the excess delayed (left in Kafka) or dropped (counted), never lost silently,
and a tenant over its limit leaves its neighbour's records alone.

Timing is read off the processed topic: each output's producer timestamp is when the
processor produced it.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from logway.core.names import processed_topic, raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    free_port,
    logway,
    metric,
    processor,
    produced_at,
    scrape,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration

RATE = 100  # records/s, for the whole group
SENT = 700  # at once: one second's worth passes at once, the rest at RATE


def send(endpoints: Endpoints, tenant: str, count: int, phase: str) -> None:
    producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 5}))
    for n in range(count):
        # keys spread the records over the tenant's partitions, as the forwarder's files do
        producer.produce(raw_topic(tenant), orjson.dumps({"phase": phase, "n": n}), key=b"%d" % n)
    producer.flush(30)


def stamps(endpoints: Endpoints, tenant: str, phase: str) -> list[int]:
    return sorted(
        at
        for value, at in produced_at(endpoints.kafka, processed_topic(tenant))
        if orjson.loads(value).get("phase") == phase
    )


def test_a_delayed_tenant_is_held_to_its_limit_across_two_processors_and_loses_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    slow, free = f"{tenant_prefix}-slow", f"{tenant_prefix}-free"
    limits = f"limits: {{records_per_s: {RATE}, over_limit: delay}}\n"
    (tmp_path / f"{slow}.yaml").write_text(tenant_yaml(slow, partitions=4, extra=limits))
    (tmp_path / f"{free}.yaml").write_text(tenant_yaml(free, partitions=2))
    logway(endpoints, "apply", str(tmp_path))
    ports = [free_port(), free_port()]
    workers = [
        processor(
            endpoints, f"{tenant_prefix}-.*", f"{tenant_prefix}-proc", tmp_path,
            name=f"processor-{i}", metrics_port=port,
        ).start()
        for i, port in enumerate(ports)
    ]  # fmt: skip

    def alive() -> None:
        for worker in workers:
            worker.assert_running()

    try:
        send(endpoints, slow, 1, "ready")
        send(endpoints, free, 1, "ready")
        wait_for("both joined", lambda: len(stamps(endpoints, slow, "ready")), bool, 120, alive)
        wait_for("both joined", lambda: len(stamps(endpoints, free, "ready")), bool, 60, alive)
        wait_for(
            "the group to settle on two members",
            lambda: ["Worker]: Ready" in w.log_path.read_text(errors="replace") for w in workers],
            all,
            120,
            alive,
        )

        send(endpoints, slow, SENT, "flood")
        send(endpoints, free, SENT, "flood")
        free_done = wait_for(
            f"{free}'s {SENT} records", lambda: stamps(endpoints, free, "flood"),
            lambda s: len(s) >= SENT, 60, alive,
        )  # fmt: skip
        slow_done = wait_for(
            f"{slow}'s {SENT} records", lambda: stamps(endpoints, slow, "flood"),
            lambda s: len(s) >= SENT, 120, alive,
        )  # fmt: skip
        throttled = sum(
            metric(
                scrape(port), "logway_throttled_seconds_total", component="processor", tenant=slow
            )
            for port in ports
        )
        dropped = sum(
            metric(scrape(port), "logway_records_out_total", component="processor",
                   tenant=slow, outcome="dropped")
            for port in ports
        )  # fmt: skip
    finally:
        for worker in workers:
            worker.stop()

    assert len(slow_done) == SENT  # delayed, not lost, not doubled
    assert dropped == 0
    # One second's worth at once (each processor's share of it), then RATE a second for all
    # the processors together: (700 - 100) / 100 = 6 s. Each taking the whole limit would
    # have been twice as fast.
    spread_s = (slow_done[-1] - slow_done[0]) / 1000
    assert (SENT - RATE) / RATE * 0.8 <= spread_s <= (SENT - RATE) / RATE * 1.6, spread_s
    assert throttled >= spread_s * 0.5, throttled
    # The neighbour without a limit to speak of (the default 5000/s) is not held back.
    assert (free_done[-1] - free_done[0]) / 1000 < 2.0


def test_a_dropping_tenant_loses_its_excess_counted_and_keeps_its_limit(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-drop"
    (tmp_path / f"{tenant}.yaml").write_text(
        tenant_yaml(
            tenant, partitions=1, extra=f"limits: {{records_per_s: {RATE}, over_limit: drop}}\n"
        )
    )
    logway(endpoints, "apply", str(tmp_path))
    port = free_port()
    worker = processor(endpoints, tenant, f"{tenant_prefix}-proc", tmp_path, metrics_port=port)
    worker.start()
    p = {"component": "processor", "tenant": tenant}
    try:
        send(endpoints, tenant, 1, "ready")
        wait_for("the processor", lambda: stamps(endpoints, tenant, "ready"), bool, 120,
                 worker.assert_running)  # fmt: skip
        send(endpoints, tenant, SENT, "flood")
        seen = wait_for(
            f"all {SENT} records accounted for",
            lambda: scrape(port),
            lambda s: metric(s, "logway_records_in_total", **p) >= SENT + 1,
            60,
            worker.assert_running,
        )
        processed = len(stamps(endpoints, tenant, "flood"))
    finally:
        worker.stop()

    dropped = metric(seen, "logway_dropped_records_total", **p, reason="rate_limited")
    assert metric(seen, "logway_records_out_total", **p, outcome="dropped") == dropped
    assert processed + dropped == SENT  # each record once: processed or counted as dropped
    # A burst of one second's worth, and what the bucket refilled while the flood was read.
    assert RATE <= processed <= RATE * 2.5, processed
