"""Isolation at the broker: a tenant writes only its raw topic and reads only its DLQ."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from logway.core.names import (
    dlq_topic,
    group_prefix,
    index_name,
    index_pattern,
    processed_topic,
    raw_topic,
)
from logway.core.settings import Endpoints
from logway.dev.servers import DevConfig
from tests.integration.support import credentials, logway, tenant_yaml
from topology.access import Grant, broker_grants, create_grants

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def scram_broker(endpoints: Endpoints) -> None:
    if endpoints.kafka.bootstrap != DevConfig.from_env().kafka_bootstrap:
        pytest.skip("needs the dev runner's broker, which has the SCRAM listener and authorizer")


def sasl_config(creds: dict[str, str]) -> dict[str, str | int]:
    return {
        "bootstrap.servers": DevConfig.from_env().kafka_sasl_bootstrap,
        "security.protocol": creds["security.protocol"],
        "sasl.mechanisms": creds["sasl.mechanism"],
        "sasl.username": creds["sasl.username"],
        "sasl.password": creds["sasl.password"],
        "log_level": 0,
    }


def send(config: dict[str, str | int], topic: str) -> KafkaError | None:
    producer = Producer({**config, "message.timeout.ms": 10_000})
    results: list[KafkaError | None] = []
    producer.produce(
        topic, b'{"msg": "isolation"}', on_delivery=lambda err, _m: results.append(err)
    )
    producer.flush(20)
    assert len(results) == 1
    return results[0]


def read_error(config: dict[str, str | int], topic: str, group: str) -> KafkaError | None:
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                return message.error()
        return None
    finally:
        consumer.close()


def test_a_tenant_principal_is_fenced_into_its_own_topics(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    a, b = f"{tenant_prefix}-a", f"{tenant_prefix}-b"
    (tmp_path / "a.yaml").write_text(tenant_yaml(a))
    (tmp_path / "b.yaml").write_text(tenant_yaml(b))
    logway(endpoints, "apply", str(tmp_path), "--credentials-dir", str(tmp_path / "creds"))
    creds_file = tmp_path / "creds" / f"{a}.properties"
    assert creds_file.stat().st_mode & 0o777 == 0o600
    as_a = sasl_config(credentials(creds_file))

    assert send(as_a, raw_topic(a)) is None
    refused = send(as_a, raw_topic(b))
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    for topic in (processed_topic(a), dlq_topic(a)):  # not even its own other topics
        error = send(as_a, topic)
        assert error is not None
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    assert read_error(as_a, dlq_topic(a), f"{group_prefix(a)}dlq-reader") is None
    error = read_error(as_a, dlq_topic(b), f"{group_prefix(a)}snooping")
    assert error is not None
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_wrong_password_is_refused(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-pw"
    (tmp_path / "t.yaml").write_text(tenant_yaml(name))
    logway(endpoints, "apply", str(tmp_path), "--credentials-dir", str(tmp_path / "creds"))
    creds = credentials(tmp_path / "creds" / f"{name}.properties")
    creds["sasl.password"] = "not-" + creds["sasl.password"]
    error = send(sasl_config(creds), raw_topic(name))
    assert error is not None
    assert error.code() in (KafkaError._MSG_TIMED_OUT, KafkaError.SASL_AUTHENTICATION_FAILED)


def produce_throttles(config: dict[str, str | int], topic: str, requests: int) -> list[float]:
    """Send `requests` separate 30 kB requests, incompressible (the quota counts bytes on the
    wire); return the throttle times the broker set."""
    throttles: list[float] = []
    producer = Producer(
        {**config, "throttle_cb": lambda event: throttles.append(event.throttle_time)}
    )
    for _ in range(requests):
        producer.produce(topic, os.urandom(30_000))
        assert producer.flush(60) == 0
    producer.poll(1)
    return throttles


def test_a_tenant_over_its_quota_is_throttled_while_another_is_not(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    slow, fast = f"{tenant_prefix}-slow", f"{tenant_prefix}-fast"
    (tmp_path / "slow.yaml").write_text(
        tenant_yaml(slow) + "limits:\n  produce_bytes_per_s: 4096\n"
    )
    (tmp_path / "fast.yaml").write_text(tenant_yaml(fast))
    applied = logway(
        endpoints, "apply", str(tmp_path), "--credentials-dir", str(tmp_path / "creds")
    ).stdout
    assert f"User:{slow}" in applied
    assert "producer_byte_rate none -> 4096" in applied

    as_slow = sasl_config(credentials(tmp_path / "creds" / f"{slow}.properties"))
    as_fast = sasl_config(credentials(tmp_path / "creds" / f"{fast}.properties"))
    # Kafka measures the rate over a window of about 11 s: 4 x 30 kB is ~3x A's quota.
    slow_throttles = produce_throttles(as_slow, raw_topic(slow), 4)
    fast_throttles = produce_throttles(as_fast, raw_topic(fast), 4)
    assert any(t > 0 for t in slow_throttles), slow_throttles
    assert not any(t > 0 for t in fast_throttles), fast_throttles


def test_tenants_whose_names_share_a_prefix_share_no_group_and_no_index(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    short, longer = f"{tenant_prefix}-ac", f"{tenant_prefix}-ac-x"
    (tmp_path / "short.yaml").write_text(tenant_yaml(short))
    (tmp_path / "longer.yaml").write_text(tenant_yaml(longer))
    creds = tmp_path / "creds"
    logway(endpoints, "apply", str(tmp_path), "--credentials-dir", str(creds))
    # The group prefix earlier versions granted, `<name>-`, which also covered `<name>-x`'s
    # groups: apply takes it away.
    admin = AdminClient(endpoints.kafka.admin())
    old = Grant(f"User:{short}", "GROUP", f"{short}-", "PREFIXED", "READ")
    create_grants(admin, [old], 15)
    applied = logway(endpoints, "apply", str(tmp_path), "--credentials-dir", str(creds)).stdout
    [line] = [line for line in applied.splitlines() if str(old) in line]
    assert "delete" in line
    assert "[done]" in line
    assert old not in broker_grants(admin, f"User:{short}", 15)

    as_short = sasl_config(credentials(creds / f"{short}.properties"))
    assert read_error(as_short, dlq_topic(short), f"{group_prefix(short)}reader") is None
    error = read_error(as_short, dlq_topic(short), f"{group_prefix(longer)}reader")
    assert error is not None
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    error = read_error(as_short, dlq_topic(short), f"{longer}-reader")
    assert error is not None
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED

    es = endpoints.es.client()
    day = date(2026, 11, 29)
    for tenant in (short, longer):
        es.index(index=index_name(tenant, day), document={"who": tenant}, refresh=True)
    found = es.search(index=index_pattern(short), query={"match_all": {}})["hits"]["hits"]
    assert [hit["_source"]["who"] for hit in found] == [short]
    templates = es.indices.get_index_template(name=f"logs-{short}*")["index_templates"]
    by_name = {t["name"]: t["index_template"]["index_patterns"] for t in templates}
    assert by_name == {f"logs-{short}": [f"logs-{short}.*"], f"logs-{longer}": [f"logs-{longer}.*"]}
