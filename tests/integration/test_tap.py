"""`logway tap` on the real Kafka: a tenant's records from each stage, filtered and sampled,
live within a second, read without a consumer group, and only what the login may read."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.core.origin import Origin
from logway.core.settings import Endpoints
from logway.dev.config import DevConfig
from tests.integration.support import (
    apply_tenant,
    credentials,
    logway,
    processed_record,
    produce,
    tenant_yaml,
)

pytestmark = pytest.mark.integration


def tap(endpoints: Endpoints, *args: str, env: dict[str, str] | None = None) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "logway", "tap", *args, "--format", "json"],
        env={**os.environ, **endpoints.environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def dead_letter(tenant: str, n: int) -> bytes:
    return DeadLetter.build(
        tenant=tenant,
        stage=Stage.PROCESSOR,
        step="parse",
        reason=Reason.INVALID_JSON,
        error="not JSON",
        original=b"{broken",
        source=Origin(topic=raw_topic(tenant), partition=0, offset=n),
    ).to_bytes()


def test_tap_shows_each_stage_filtered_and_sampled_without_a_group(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-tap"
    apply_tenant(endpoints, tmp_path, tenant, partitions=2)
    levels = ["info", "error", "info"]
    raw = [orjson.dumps({"n": n, "level": level}) for n, level in enumerate(levels)]
    produce(endpoints, raw_topic(tenant), [*raw, b"plain text line"])
    produce(endpoints, processed_topic(tenant), [processed_record(tenant, n) for n in range(2)])
    produce(endpoints, dlq_topic(tenant), [dead_letter(tenant, 7)])

    every = tap(endpoints, tenant, "--last", "10", "--count", "7")
    assert sorted(r["stage"] for r in every) == ["dlq"] + ["processed"] * 2 + ["raw"] * 4
    [letter] = [r["record"] for r in every if r["stage"] == "dlq"]
    assert (letter["reason"], letter["step"]) == ("invalid_json", "parse")
    assert {"log": "plain text line"} in [r["record"] for r in every if r["stage"] == "raw"]

    errors = tap(
        endpoints, tenant, "-s", "raw", "--where", 'level == "error"', "--last", "10",
        "--seconds", "3",
    )  # fmt: skip
    assert [r["record"] for r in errors] == [{"n": 1, "level": "error"}]

    produce(endpoints, raw_topic(tenant), [orjson.dumps({"n": n}) for n in range(400)])
    half = tap(endpoints, tenant, "-s", "raw", "--last", "300", "--sample", "0.5", "--seconds", "4")
    assert 150 < len(half) < 350  # of the last 300 per partition (404 in all): about half

    groups = AdminClient(endpoints.kafka.client()).list_consumer_groups().result()
    assert not [g.group_id for g in groups.valid if g.group_id.startswith(tenant)]


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    """The lines `stream` gives, as they come (read on a thread: a wait can then time out)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            found.put(line)

    threading.Thread(target=read, daemon=True).start()
    return found


def test_a_live_tap_shows_a_line_within_a_second_of_its_writing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-live"
    apply_tenant(endpoints, tmp_path, tenant, partitions=2)
    live = subprocess.Popen(
        [sys.executable, "-m", "logway", "tap", tenant, "-s", "raw", "--count", "5"],
        env={**os.environ, **endpoints.environment()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stderr is not None
        assert live.stdout is not None
        told, shown = lines_of(live.stderr), lines_of(live.stdout)
        ready = told.get(timeout=60)
        assert f"tapping {raw_topic(tenant)} (2 partitions) from the end" in ready
        producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 0}))
        delays = []
        for n in range(5):
            written = time.perf_counter()
            producer.produce(raw_topic(tenant), orjson.dumps({"live": n}))
            producer.flush(10)
            line = shown.get(timeout=30)
            delays.append(time.perf_counter() - written)
            assert f'{{"live":{n}}}' in line
        assert live.wait(30) == 0
    finally:
        live.kill()
    print(f"written to shown in tap: max {max(delays) * 1000:.0f} ms")
    assert max(delays) < 1.0


def test_a_team_taps_its_dead_letters_with_its_own_login_and_not_its_raw_topic(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-own"
    (tmp_path / "t.yaml").write_text(tenant_yaml(tenant))
    logway(endpoints, "apply", str(tmp_path), "--credentials-dir", str(tmp_path / "creds"))
    produce(endpoints, dlq_topic(tenant), [dead_letter(tenant, 1)])
    creds = credentials(tmp_path / "creds" / f"{tenant}.properties")
    as_team = {
        "LOGWAY_KAFKA_BOOTSTRAP": DevConfig.from_env().kafka_sasl_bootstrap,
        "LOGWAY_KAFKA_SECURITY_PROTOCOL": creds["security.protocol"],
        "LOGWAY_KAFKA_USERNAME": creds["sasl.username"],
        "LOGWAY_KAFKA_PASSWORD": creds["sasl.password"],
    }
    [letter] = tap(endpoints, tenant, "-s", "dlq", "--last", "5", "--count", "1", env=as_team)
    assert letter["record"]["tenant"] == tenant

    refused = subprocess.run(
        [sys.executable, "-m", "logway", "tap", tenant, "-s", "raw", "--seconds", "5"],
        env={**os.environ, **endpoints.environment(), **as_team},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert f"this login may not read {raw_topic(tenant)}" in refused.stderr
    assert "need the platform's login" in refused.stderr
