"""The backlog's age and the topic's retention, as the workers export them for the
`LogwayBacklogNearRetention` alert, measured against the real broker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from prometheus_client import REGISTRY

from logway.core.lag import LagMonitor
from logway.core.names import PROCESSED_TOPIC_RE, processed_topic
from logway.core.settings import Endpoints
from tests.integration.support import apply_tenant

pytestmark = pytest.mark.integration


def test_lag_age_is_the_oldest_unread_records_age(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-age"
    apply_tenant(endpoints, tmp_path, tenant, partitions=2)
    ten_minutes_ago = int((time.time() - 600) * 1000)
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for n in range(10):  # raw topics take the broker's time, processed ones the producer's
        producer.produce(processed_topic(tenant), b"{}", timestamp=ten_minutes_ago + n * 1000)
    assert producer.flush(30) == 0

    group = f"{tenant}-nobody-reads"
    monitor = LagMonitor(
        kafka=endpoints.kafka,
        group=group,
        component="sink",
        kind=PROCESSED_TOPIC_RE,
        serves=lambda name: name == tenant,
        retention_look_s=3.0,
    )
    admin = AdminClient(endpoints.kafka.client())
    consumer = Consumer(endpoints.kafka.client({"group.id": group}))
    peek = Consumer(endpoints.kafka.client({"group.id": f"{group}-p"}))
    labels = {"component": "sink", "tenant": tenant}

    def retention() -> float | None:
        return REGISTRY.get_sample_value("logway_topic_retention_seconds", labels)

    try:
        before_first = time.monotonic()
        assert monitor.measure(admin, consumer, peek) == {tenant: 10}
        after_first = time.monotonic()  # described again at most 3 s after this
        age = REGISTRY.get_sample_value("logway_consumer_lag_seconds", labels)
        assert age is not None
        assert 595 <= age < 700  # the first record's age, not the newest one's
        assert retention() == 24 * 3600

        # Retention is described again only every `retention_look_s`: a change shows after.
        two_days = ConfigResource(
            "topic",
            processed_topic(tenant),
            incremental_configs=[
                ConfigEntry(
                    "retention.ms",
                    str(2 * 24 * 3600 * 1000),
                    incremental_operation=AlterConfigOpType.SET,
                )
            ],
        )
        for future in admin.incremental_alter_configs([two_days]).values():
            future.result()
        monitor.measure(admin, consumer, peek)
        if time.monotonic() - before_first < 3.0:
            assert retention() == 24 * 3600  # not described again yet
        time.sleep(max(0.0, after_first + 3.0 - time.monotonic()))
        monitor.measure(admin, consumer, peek)
        assert retention() == 2 * 24 * 3600
    finally:
        consumer.close()
        peek.close()
