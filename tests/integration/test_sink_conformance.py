"""The sink through the checks every output connector should pass (Redpanda Connect's suite):
open and close, batches, a lossy run where every 10th item is refused and must still arrive,
oversized requests, and at-least-once across a restart. Counted in the real Elasticsearch.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from logway.core.deadletter import DeadLetter, Reason
from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, processed_topic
from logway.core.settings import Endpoints
from tests.integration.es_faults import ElasticsearchFaults
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    free_port,
    metric,
    read_topic,
    scrape,
    sink,
    tenant_documents,
    wait_for,
)
from tests.integration.test_sink_faults import processed_record

pytestmark = pytest.mark.integration


def produce(
    kafka: KafkaConnection, tenant: str, count: int, start: int = 0, **fields: object
) -> None:
    producer = Producer(kafka.client({"acks": "all", "linger.ms": 10}))
    for n in range(start, start + count):
        producer.produce(processed_topic(tenant), processed_record(tenant, n, **fields))
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def seqs(es: Elasticsearch, tenant: str) -> list[int]:
    return [hit["_source"]["seq"] for hit in tenant_documents(es, tenant, ["seq"])]


@pytest.fixture
def tenant(endpoints: Endpoints, tenant_prefix: str, tmp_path: Path) -> str:
    name = f"{tenant_prefix}-conf"
    apply_tenant(endpoints, tmp_path, name)
    return name


@pytest.fixture
def faults(endpoints: Endpoints) -> Iterator[ElasticsearchFaults]:
    proxy = ElasticsearchFaults(endpoints.es, refuse_every=10, max_bulk_bytes=64 * 1024)
    yield proxy
    proxy.close()


def start_sink(
    endpoints: Endpoints, tenant: str, folder: Path, *, name: str, es_url: str, port: int = 0
) -> PipelineProcess:
    """The tenant's sink, writing to Elasticsearch at `es_url` (the real one, or the proxy)."""
    # The proxy takes plain HTTP from the sink and logs in to the real cluster itself.
    env = {"LOGWAY_ES_URL": es_url} if es_url != endpoints.es.url else {}
    if env:
        env |= {name: "" for name in endpoints.es.environment() if name != "LOGWAY_ES_URL"}
    return sink(
        endpoints, tenant, f"{tenant}-sink", folder, name=name, metrics_port=port, env=env
    ).start()


def test_lossy_and_oversized_bulks_still_deliver_every_document_once(
    endpoints: Endpoints, tenant: str, tmp_path: Path, faults: ElasticsearchFaults
) -> None:
    count = 3000
    produce(endpoints.kafka, tenant, count)
    produce(endpoints.kafka, tenant, 1, start=count, pad="x" * 70_000)  # never fits
    es = endpoints.es.client()
    port = free_port()
    worker = start_sink(endpoints, tenant, tmp_path, name="sink", es_url=faults.url, port=port)
    try:
        wait_for(
            f"{count} documents",
            lambda: len(seqs(es, tenant)),
            lambda n: n >= count,
            180,
            worker.assert_running,
        )
        letters = wait_for(
            "the oversized document dead-lettered",
            lambda: read_topic(endpoints.kafka, dlq_topic(tenant), timeout=5),
            lambda found: len(found) == 1,
            60,
            worker.assert_running,
        )
        metrics = scrape(port)
    finally:
        worker.stop()
    found = seqs(es, tenant)
    assert sorted(found) == list(range(count))  # every one, once
    assert len(faults.refused) >= count // 20  # about every 10th item was refused once
    assert faults.too_large > 0  # bulks over 64 KiB were refused and split
    [(_key, value)] = letters
    letter = DeadLetter.from_bytes(value)
    assert (letter.step, letter.reason) == ("bulk", Reason.TOO_LARGE)
    retried = metric(
        metrics, "logway_retries_total", component="sink", tenant=tenant, reason="overloaded"
    )
    assert retried >= len(faults.refused)


def test_at_least_once_across_a_restart_and_a_bounded_shutdown(
    endpoints: Endpoints, tenant: str, tmp_path: Path
) -> None:
    count = 20_000
    produce(endpoints.kafka, tenant, count)
    es = endpoints.es.client()
    first = start_sink(endpoints, tenant, tmp_path, name="sink-1", es_url=endpoints.es.url)
    wait_for(
        "some documents",
        lambda: len(seqs(es, tenant)),
        lambda n: n > 2000,
        120,
        first.assert_running,
    )
    asked = time.monotonic()
    code = first.stop(signal.SIGTERM)
    stopped_in = time.monotonic() - asked
    assert code == 0
    assert stopped_in < 15, f"the sink took {stopped_in:.1f}s to stop"
    second = start_sink(endpoints, tenant, tmp_path, name="sink-2", es_url=endpoints.es.url)
    try:
        wait_for(
            "every document",
            lambda: len(seqs(es, tenant)),
            lambda n: n >= count,
            180,
            second.assert_running,
        )
    finally:
        second.stop()
    assert sorted(seqs(es, tenant)) == list(range(count))
    print(f"sink stopped {stopped_in:.2f}s after SIGTERM, mid-stream")
