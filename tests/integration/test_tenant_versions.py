"""Workers follow `_logway.tenants`: a new version (a changed pipeline) is used at once; a bad
one is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from logway.core.names import TENANTS_TOPIC, processed_topic, raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    free_port,
    logway,
    processor,
    read_topic,
    tenant_yaml,
    wait_for,
)
from topology.load import load_tenants
from topology.publish import read_published, tenant_version
from topology.registry import TenantRegistry

pytestmark = pytest.mark.integration
CHANGED_PIPELINE = """\
pipeline:
  - {step: parse, format: json}
  - {step: rename, field: msg, to: message}
  - {step: set, field: stage, value: after}
"""


def version_in(path: Path) -> str:
    [loaded] = load_tenants([path]).tenants
    return tenant_version(loaded.tenant)


def test_a_running_processor_uses_a_new_tenant_version_without_restart(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, record_property: object
) -> None:
    name = f"{tenant_prefix}-live"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(name))
    logway(endpoints, "apply", str(path))
    first = version_in(path)
    processing = processor(
        endpoints, name, f"{name}-proc", tmp_path, metrics_port=free_port()
    ).start()
    producer = Producer(endpoints.kafka.client({"acks": "all"}))

    def documents() -> list[dict[str, Any]]:
        return [
            orjson.loads(value)
            for _key, value in read_topic(endpoints.kafka, processed_topic(name))
        ]

    def versions_seen() -> list[str]:
        return [doc["logway"]["tenant_version"] for doc in documents()]

    try:
        producer.produce(raw_topic(name), b'{"msg": "before"}')
        producer.flush(10)
        wait_for(
            "the first record",
            versions_seen,
            lambda seen: seen == [first],
            120,
            processing.assert_running,
        )

        path.write_text(tenant_yaml(name, extra=CHANGED_PIPELINE))
        started = time.monotonic()
        logway(endpoints, "apply", str(path))
        applied_at = time.monotonic()
        second = version_in(path)
        assert second != first

        def produce_and_look() -> list[str]:
            producer.produce(raw_topic(name), b'{"msg": "after"}')
            producer.flush(10)
            return versions_seen()

        wait_for(
            "a document made by the new version",
            produce_and_look,
            lambda seen: second in seen,
            30,
            processing.assert_running,
        )
        latency = time.monotonic() - applied_at
        since_start = time.monotonic() - started
        after = [doc for doc in documents() if doc["logway"]["tenant_version"] == second]
        before = [doc for doc in documents() if doc["logway"]["tenant_version"] == first]
    finally:
        processing.stop()
    assert all(doc["stage"] == "after" and doc["message"] == "after" for doc in after)
    assert before == [doc for doc in before if "stage" not in doc and doc["msg"] == "before"]
    record_property("apply_to_use_seconds", round(latency, 2))
    print(
        f"apply ran {applied_at - started:.2f}s; the processor used the changed pipeline "
        f"{latency:.2f}s after it returned ({since_start:.2f}s after it started)"
    )
    assert latency < 10


def test_a_bad_publication_is_refused_and_the_previous_version_kept(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-bad-pub"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(name))
    logway(endpoints, "apply", str(path))
    good = version_in(path)

    registry = TenantRegistry(endpoints.kafka, "processor").start()
    failures = {"component": "processor"}
    try:
        assert registry.wait_for(name, good, 30)
        before = REGISTRY.get_sample_value("logway_config_reload_failures_total", failures) or 0
        producer = Producer(endpoints.kafka.client({"acks": "all"}))
        producer.produce(TENANTS_TOPIC, key=name.encode(), value=b'{"name": "half a record')
        producer.flush(10)
        wait_for(
            "the registry to refuse the bad record",
            lambda: REGISTRY.get_sample_value("logway_config_reload_failures_total", failures),
            lambda count: (count or 0) > before,
            30,
        )
        assert registry.version_of(name) == good
        assert read_published(endpoints.kafka)[name].version == good
    finally:
        registry.stop()
        # A tombstone, so the bad record does not stay this tenant's latest in the topic.
        cleanup = Producer(endpoints.kafka.client({"acks": "all"}))
        cleanup.produce(TENANTS_TOPIC, key=name.encode(), value=None)
        cleanup.flush(10)
