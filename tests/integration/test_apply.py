"""`logway apply` against the real Kafka and Elasticsearch: creates, is idempotent, only grows."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from elasticsearch import Elasticsearch

from logway.settings import Endpoints
from tests.integration.support import logway, tenant_yaml
from topology.names import tenant_topics

pytestmark = pytest.mark.integration


def partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def test_apply_creates_topics_and_template_then_changes_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-apply"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(name, partitions=2))
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap})

    first = logway(endpoints, "apply", str(path)).stdout
    for topic in tenant_topics(name):
        assert f"{topic}" in first
        assert partitions(admin, topic) == 2
    assert first.count(" created") == 4  # three topics and the index template

    raw, _processed, dlq = tenant_topics(name)
    configs = admin.describe_configs([ConfigResource("topic", raw), ConfigResource("topic", dlq)])
    described = {res.name: future.result() for res, future in configs.items()}
    assert described[raw]["retention.ms"].value == str(24 * 3_600_000)
    assert described[dlq]["retention.ms"].value == str(7 * 24 * 3_600_000)  # at least a week

    template = Elasticsearch(endpoints.es_url).indices.get_index_template(name=f"logs-{name}")
    assert template["index_templates"][0]["index_template"]["index_patterns"] == [f"logs-{name}-*"]

    second = logway(endpoints, "apply", str(path)).stdout
    assert " created" not in second
    assert second.count("unchanged") == 4


def test_apply_grows_partitions_but_never_shrinks_them(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-grow"
    path = tmp_path / "tenant.yaml"
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap})
    path.write_text(tenant_yaml(name, partitions=2))
    logway(endpoints, "apply", str(path))

    path.write_text(tenant_yaml(name, partitions=4))
    assert "partitions increased" in logway(endpoints, "apply", str(path)).stdout
    assert all(partitions(admin, topic) == 4 for topic in tenant_topics(name))

    path.write_text(tenant_yaml(name, partitions=1))
    output = logway(endpoints, "apply", str(path)).stdout
    assert "kept larger" in output
    assert "Kafka cannot shrink partitions" in output
    assert all(partitions(admin, topic) == 4 for topic in tenant_topics(name))


def test_an_invalid_file_applies_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    good, bad = f"{tenant_prefix}-good", f"{tenant_prefix}-bad"
    (tmp_path / "good.yaml").write_text(tenant_yaml(good))
    (tmp_path / "bad.yaml").write_text(tenant_yaml(bad).replace("partitions: 2", "partitions: 0"))
    result = logway(endpoints, "apply", str(tmp_path), check=False)
    assert result.returncode == 1
    assert f"{bad}.topics.partitions" in result.stderr
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap})
    assert not any(
        name.startswith(f"logs.{tenant_prefix}") for name in admin.list_topics(timeout=10).topics
    )
