"""`logway dlq ls|show|replay` against the real servers.

A tenant declares JSON but its service writes logfmt: every line is dead-lettered. Once the
tenant fixes its config, replay sends the lines through again: those that pass now reach
Elasticsearch with their original ids, the truly broken ones fail again and are counted, and a
second replay leaves the index exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer

from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.counts import counts_consumer, topic_size
from tests.integration.support import (
    indexed_count,
    logway,
    processor,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration
GOOD, BROKEN = 100, 10


def test_replay_after_a_fix_indexes_what_passes_once(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-replay"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(tenant, extra="pipeline:\n  - {step: parse, format: json}\n"))
    logway(endpoints, "apply", str(path), "--credentials-dir", str(tmp_path))
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for n in range(GOOD):
        producer.produce(raw_topic(tenant), f'level=info seq={n} msg="paid order {n}"'.encode())
    for _ in range(BROKEN):
        producer.produce(raw_topic(tenant), b"   ")
    assert producer.flush(30) == 0
    counter = counts_consumer(endpoints.kafka)

    processing = processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start()
    try:
        wait_for(
            "every line dead-lettered",
            lambda: topic_size(counter, dlq_topic(tenant)),
            lambda n: n >= GOOD + BROKEN,
            120,
            processing.assert_running,
        )
    finally:
        processing.stop()

    listing = json.loads(
        logway(endpoints, "dlq", "ls", "--tenant", tenant, "--format", "json").stdout
    )
    assert listing["total"] == GOOD + BROKEN
    assert [(g["step"], g["reason"], g["count"]) for g in listing["groups"]] == [
        ("parse", "invalid_json", GOOD + BROKEN)
    ]
    shown = logway(endpoints, "dlq", "show", "--tenant", tenant, "--limit", "3").stdout
    assert shown.count("invalid_json") == 3
    assert "original (utf-8):" in shown

    path.write_text(tenant_yaml(tenant, extra="pipeline:\n  - {step: parse, format: logfmt}\n"))
    logway(endpoints, "apply", str(path), "--credentials-dir", str(tmp_path))
    dry = logway(endpoints, "dlq", "replay", "--tenant", tenant, "--dry-run").stdout
    assert f"pass now: {GOOD}" in dry
    assert f"fail again: {BROKEN} (pattern_mismatch {BROKEN})" in dry
    assert topic_size(counter, processed_topic(tenant)) == 0  # a dry run sends nothing

    first = logway(endpoints, "dlq", "replay", "--tenant", tenant).stdout
    assert f"pass now: {GOOD}" in first
    assert topic_size(counter, processed_topic(tenant)) == GOOD

    es = endpoints.es.client()
    indexing = sink(endpoints, tenant, f"{tenant}-sink", tmp_path).start()
    try:
        wait_for(
            "the replayed documents",
            lambda: indexed_count(es, tenant),
            lambda n: n >= GOOD,
            120,
            indexing.assert_running,
        )
        logway(endpoints, "dlq", "replay", "--tenant", tenant)
        wait_for(
            "the second replay to be consumed",
            lambda: topic_size(counter, processed_topic(tenant)),
            lambda n: n == 2 * GOOD,
            30,
        )
        wait_for(
            "the sink to have caught up",
            lambda: _lag(endpoints, tenant),
            lambda n: n == 0,
            60,
            indexing.assert_running,
        )
    finally:
        indexing.stop()
    assert indexed_count(es, tenant) == GOOD  # replayed twice, indexed once
    letters = [
        json.loads(line)
        for line in logway(
            endpoints, "dlq", "show", "--tenant", tenant, "--limit", "1000", "--format", "json"
        ).stdout.splitlines()
    ]
    passing = {d["event_id"] for d in letters if d["original"].strip()}
    ids = {hit["_id"] for hit in tenant_documents(es, tenant, source=False)}
    assert ids == passing  # each document carries the id its raw record always had


def _lag(endpoints: Endpoints, tenant: str) -> int:
    from tests.integration.support import group_lag

    return group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)])
