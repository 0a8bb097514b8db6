"""Through the real processes: Kafka -> processor -> Kafka -> sink -> Elasticsearch.

Two tenants, 1,000 records each, 5% broken (invalid JSON or invalid UTF-8). The second tenant is
applied after the processor has started: its topic must be picked up without a restart.
Then both workers are stopped and started again in fresh consumer groups, which re-read
everything: the counts must not move (the deterministic `_id` turns re-reads into overwrites).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from logway.core.deadletter import DeadLetter, Reason
from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    free_port,
    group_lag,
    logway,
    metric,
    processor,
    read_topic,
    scrape,
    searched,
    sink,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration

# JSON lines, some wrapped by Docker's json-file driver: the second parse unwraps those.
PIPELINE = """\
pipeline:
  - step: parse
    format: json
  - step: parse
    format: json
    field: log
    when: exists log
"""
RECORDS = 1000
BROKEN_EVERY = 20  # 5%: every 20th record is broken, alternating the two kinds


def record(tenant: str, n: int) -> bytes:
    if n % BROKEN_EVERY == BROKEN_EVERY - 1:
        if (n // BROKEN_EVERY) % 2 == 0:
            return b'{"seq": %d, "msg": "cut off' % n  # invalid JSON
        return b'{"seq": %d, "msg": "caf\xc3\x28"}' % n  # invalid UTF-8
    line = {"seq": n, "tenant_said": tenant, "level": "info", "msg": f"event {n}"}
    if n % 3 == 0:  # a third arrive as Docker json-file records
        return orjson.dumps(
            {
                "log": orjson.dumps(line).decode() + "\n",
                "stream": "stdout",
                "time": "2026-11-25T12:00:00Z",
            }
        )
    return orjson.dumps(line)


def produce(kafka: KafkaConnection, tenant: str) -> dict[int, bytes]:
    sent = {n: record(tenant, n) for n in range(RECORDS)}
    acked = 0

    def delivered(err: object, _msg: object) -> None:
        nonlocal acked
        acked += err is None

    producer = Producer(kafka.client({"acks": "all", "enable.idempotence": True}))
    for value in sent.values():
        producer.produce(raw_topic(tenant), value=value, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert acked == RECORDS
    return sent


def indexed_seqs(es: Elasticsearch, tenant: str) -> list[int]:
    """Every document in the tenant's indices (match-all: none may be another tenant's)."""
    hits = searched(
        es,
        tenant,
        lambda target: es.search(
            index=target,
            query={"match_all": {}},
            size=5000,
            source=["seq", "logway.tenant", "tenant_said"],
            ignore_unavailable=True,
            allow_no_indices=True,
        )["hits"]["hits"],
    )
    for hit in hits:
        source = hit["_source"]
        assert source["logway"]["tenant"] == tenant, f"{tenant}'s index holds {source}"
        assert source["tenant_said"] == tenant, f"{tenant}'s index holds {source}"
    return [hit["_source"]["seq"] for hit in hits]


def dead_letters(kafka: KafkaConnection, tenant: str) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(value) for _key, value in read_topic(kafka, dlq_topic(tenant))]


def start_workers(
    endpoints: Endpoints, prefix: str, generation: int, folder: Path
) -> tuple[PipelineProcess, PipelineProcess]:
    """A processor and a sink serving only this test's tenants, in consumer groups of their own."""
    only_ours = f"{prefix}-.*"
    processing = processor(
        endpoints,
        only_ours,
        f"{prefix}-proc-{generation}",
        folder,
        name=f"processor-{generation}",
        metrics_port=free_port(),
    ).start()
    indexing = sink(
        endpoints,
        only_ours,
        f"{prefix}-sink-{generation}",
        folder,
        name=f"sink-{generation}",
        metrics_port=free_port(),
    ).start()
    return processing, indexing


def lags(port: int, component: str, tenants: tuple[str, ...]) -> list[float | None]:
    """The lag gauge per tenant; None until the lag monitor has measured it."""
    seen = scrape(port)
    return [
        seen.get(
            (
                "logway_consumer_lag_records",
                frozenset({"component": component, "tenant": tenant}.items()),
            )
        )
        for tenant in tenants
    ]


def check_metrics(
    processing: PipelineProcess, indexing: PipelineProcess, tenants: tuple[str, ...]
) -> None:
    """The workers' own counters agree with what was sent, and their lag reaches 0."""
    for tenant in tenants:
        seen = scrape(processing.metrics_port)
        p = {"component": "processor", "tenant": tenant}
        read = metric(seen, "logway_records_in_total", **p)
        processed = metric(seen, "logway_records_out_total", **p, outcome="processed")
        dead = metric(seen, "logway_records_out_total", **p, outcome="dead_lettered")
        # Counters count work done: a re-read after a rebalance may add, never take away.
        assert read >= RECORDS
        assert processed + dead == read
        assert processed >= 950
        for reason in ("invalid_json", "invalid_utf8"):
            assert metric(seen, "logway_dead_letters_total", **p, reason=reason) >= 25

        seen = scrape(indexing.metrics_port)
        s = {"component": "sink", "tenant": tenant}
        indexed = metric(seen, "logway_records_out_total", **s, outcome="indexed")
        assert indexed >= 950
        assert indexed == metric(seen, "logway_records_in_total", **s)
        assert metric(seen, "logway_bytes_in_total", **s) > 0

    for worker in (processing, indexing):
        component = worker.args[0]
        wait_for(
            f"the {component}'s consumer lag to be measured as 0",
            lambda w=worker, c=component: lags(w.metrics_port, c, tenants),
            lambda measured: measured == [0.0] * len(tenants),
            60,
        )
    histogram = scrape(indexing.metrics_port)
    assert metric(histogram, "logway_bulk_duration_seconds_count", component="sink") > 0


def test_two_tenants_end_to_end_with_dead_letters_and_no_duplicates_after_reread(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    first, second = f"{tenant_prefix}-a", f"{tenant_prefix}-b"
    tenants = (first, second)
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / f"{first}.yaml").write_text(tenant_yaml(first, extra=PIPELINE))
    (tmp_path / "second.yaml").write_text(tenant_yaml(second, partitions=3, extra=PIPELINE))
    logway(endpoints, "apply", str(tmp_path / "first"))

    processing, indexing = start_workers(endpoints, tenant_prefix, 1, tmp_path)
    es = endpoints.es.client()
    kafka = endpoints.kafka

    def both_alive() -> None:
        processing.assert_running()
        indexing.assert_running()

    try:
        # The second tenant arrives while the processor runs: no restart may be needed.
        wait_for(
            "the processor to start consuming",
            lambda: "Worker]: Ready" in processing.log_path.read_text(errors="replace"),
            bool,
            120,
            both_alive,
        )
        logway(endpoints, "apply", str(tmp_path / "second.yaml"))
        sent = {tenant: produce(kafka, tenant) for tenant in tenants}

        for tenant in tenants:
            wait_for(
                f"{tenant}: 950 documents indexed and 50 dead letters",
                lambda t=tenant: (len(indexed_seqs(es, t)), len(dead_letters(kafka, t))),
                lambda counts: counts == (950, 50),
                240,
                both_alive,
            )
        check_metrics(processing, indexing, tenants)
    finally:
        processing.stop()
        indexing.stop()

    for tenant in tenants:
        broken = {n for n in sent[tenant] if n % BROKEN_EVERY == BROKEN_EVERY - 1}
        assert sorted(indexed_seqs(es, tenant)) == sorted(set(range(RECORDS)) - broken)

        letters = dead_letters(kafka, tenant)
        assert Counter(letter.reason for letter in letters) == {
            Reason.INVALID_JSON: 25,
            Reason.INVALID_UTF8: 25,
        }
        for letter in letters:
            assert letter.tenant == tenant
            assert letter.source.topic == raw_topic(tenant)
            assert letter.original_bytes() in {sent[tenant][n] for n in broken}
        assert {letter.original_bytes() for letter in letters} == {sent[tenant][n] for n in broken}

    # Re-read everything: fresh consumer groups for both workers.
    processing, indexing = start_workers(endpoints, tenant_prefix, 2, tmp_path)
    try:
        for tenant in tenants:
            wait_for(
                f"{tenant}: the processor to re-read all {RECORDS} raw records",
                lambda t=tenant: (
                    len(read_topic(kafka, processed_topic(t)))
                    + len(read_topic(kafka, dlq_topic(t)))
                ),
                lambda total: total == 2 * RECORDS,
                180,
                both_alive,
            )
        wait_for(
            "the second sink to commit everything it re-read",
            lambda: group_lag(
                kafka, f"{tenant_prefix}-sink-2", [processed_topic(t) for t in tenants]
            ),
            lambda lag: lag == 0,
            180,
            both_alive,
        )
    finally:
        processing.stop()
        indexing.stop()

    for tenant in tenants:
        seqs = indexed_seqs(es, tenant)
        assert len(seqs) == 950, f"{tenant}: duplicates after re-read"
        assert len(set(seqs)) == 950
        letters = dead_letters(kafka, tenant)
        assert len(letters) == 100  # each broken record dead-lettered once per read
        assert len({letter.event_id for letter in letters}) == 50  # ... under the same id
