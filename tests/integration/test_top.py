"""`logway top` against running workers: two tenants' figures from the processor's and the
sink's /metrics while lines flow, the busier first, dead letters counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import apply_tenant, free_port, processor, sink

pytestmark = pytest.mark.integration


def test_top_shows_each_tenants_flow_from_the_workers_metrics(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    busy, quiet = f"{tenant_prefix}-busy", f"{tenant_prefix}-quiet"
    for name in (busy, quiet):
        apply_tenant(endpoints, tmp_path, name, partitions=1)
    matching = f"{tenant_prefix}-(busy|quiet)"
    ports = free_port(), free_port()
    workers = [
        processor(endpoints, matching, f"{tenant_prefix}-proc", tmp_path, metrics_port=ports[0]),
        sink(endpoints, matching, f"{tenant_prefix}-sink", tmp_path, metrics_port=ports[1]),
    ]
    for worker in workers:
        worker.start()
    stop = threading.Event()

    def write() -> None:  # busy: 100 lines a tick, 1 in 10 broken; quiet: 5 lines a tick
        producer = Producer(endpoints.kafka.client({"acks": "all"}))
        while not stop.is_set():
            for n in range(100):
                line = b"{broken" if n % 10 == 0 else orjson.dumps({"n": n})
                producer.produce(raw_topic(busy), line)
            for n in range(5):
                producer.produce(raw_topic(quiet), orjson.dumps({"n": n}))
            producer.flush(10)
            stop.wait(0.1)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        sources = [f"--metrics=http://127.0.0.1:{port}/metrics" for port in ports]
        command = ["top", "--interval", "2", "--count", "8", "--format", "json", *sources]
        shown = subprocess.run(
            [sys.executable, "-m", "logway", *command],
            env={**os.environ, **endpoints.environment()},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        stop.set()
        writer.join(10)
        for worker in workers:
            worker.stop()
    refreshes = [json.loads(line)["tenants"] for line in shown.stdout.splitlines()]
    assert len(refreshes) == 8
    flowing = [r for r in refreshes if r and r[0]["out_per_s"] > 0]
    assert flowing, shown.stdout  # the workers took their partitions and indexed within 16 s
    last = flowing[-1]
    assert [row["tenant"] for row in last] == [busy, quiet]  # busiest by in/s first
    first, second = last
    assert first["in_per_s"] > second["in_per_s"] > 0
    assert first["dead_per_s"] > 0
    assert second["dead_per_s"] == 0
