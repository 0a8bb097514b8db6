"""`logway plan` and `logway apply` against the real Kafka and Elasticsearch."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from logway.core.names import INDEX_TEMPLATE_PRIORITY, tenant_topics
from logway.core.settings import Endpoints
from tests.integration.support import logway, tenant_yaml
from topology.load import load_tenants
from topology.publish import read_published, tenant_version

pytestmark = pytest.mark.integration


def partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def retention(admin: AdminClient, topic: str) -> str:
    [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return str(future.result()["retention.ms"].value)


def lines(output: str, action: str, kind: str = "") -> list[str]:
    return [
        line for line in output.splitlines() if f" {action}" in line and line[2:].startswith(kind)
    ]


def test_apply_creates_everything_publishes_a_version_then_changes_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-apply"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(name, partitions=2))
    admin = AdminClient(endpoints.kafka.client())

    planned = logway(endpoints, "plan", str(path)).stdout
    assert len(lines(planned, "create", "topic ")) == 3
    assert len(lines(planned, "create", "index template")) == 1
    assert len(lines(planned, "create", "user")) == 1
    assert len(lines(planned, "create", "acl")) == 5  # raw: write, describe; dlq: read,
    assert len(lines(planned, "create", "quota")) == 1  # describe; its consumer groups: read
    assert len(lines(planned, "create", "reader")) == 2  # the role reading its indices, a key
    assert len(lines(planned, "publish")) == 1
    assert not any(t in admin.list_topics(timeout=10).topics for t in tenant_topics(name))

    applied = logway(endpoints, "apply", str(path), "--credentials-dir", str(tmp_path)).stdout
    assert applied.count("[done]") == 14
    for topic in tenant_topics(name):
        assert partitions(admin, topic) == 2
    raw, _processed, dlq = tenant_topics(name)
    assert retention(admin, raw) == str(24 * 3_600_000)
    assert retention(admin, dlq) == str(168 * 3_600_000)
    template = endpoints.es.client().indices.get_index_template(name=f"logs-{name}")
    assert template["index_templates"][0]["index_template"]["index_patterns"] == [f"logs-{name}.*"]

    [loaded] = load_tenants([path]).tenants
    live = read_published(endpoints.kafka)[name]
    assert live.version == tenant_version(loaded.tenant)
    assert live.spec == loaded.tenant

    again = logway(endpoints, "apply", str(path), "--credentials-dir", str(tmp_path)).stdout
    assert "[done]" not in again
    assert len(lines(again, "unchanged")) == 15


def test_a_changed_setting_is_planned_as_an_update_and_a_new_version(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-change"
    path = tmp_path / "tenant.yaml"
    path.write_text(tenant_yaml(name))
    logway(endpoints, "apply", str(path))
    before = read_published(endpoints.kafka)[name].version

    path.write_text(tenant_yaml(name).replace("retention_hours: 24", "retention_hours: 48"))
    planned = logway(endpoints, "plan", str(path)).stdout
    [raw_update, processed_update] = lines(planned, "update")
    assert f"logs.{name}.raw" in raw_update
    assert "retention.ms 86400000 -> 172800000" in raw_update
    assert f"logs.{name}.processed" in processed_update
    [publish] = lines(planned, "publish")
    assert f"{before} -> " in publish

    logway(endpoints, "apply", str(path))
    admin = AdminClient(endpoints.kafka.client())
    assert retention(admin, f"logs.{name}.raw") == str(48 * 3_600_000)
    assert read_published(endpoints.kafka)[name].version != before


def test_apply_grows_partitions_but_never_shrinks_them(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-grow"
    path = tmp_path / "tenant.yaml"
    admin = AdminClient(endpoints.kafka.client())
    path.write_text(tenant_yaml(name, partitions=2))
    logway(endpoints, "apply", str(path))

    path.write_text(tenant_yaml(name, partitions=4))
    assert len(lines(logway(endpoints, "apply", str(path)).stdout, "grow partitions")) == 3
    assert all(partitions(admin, topic) == 4 for topic in tenant_topics(name))

    path.write_text(tenant_yaml(name, partitions=1))
    refused = logway(endpoints, "apply", str(path), check=False)
    assert refused.returncode == 1
    assert "have 4 partitions and Kafka cannot shrink a topic: declare 4 or more" in (
        refused.stderr
    )
    assert all(partitions(admin, topic) == 4 for topic in tenant_topics(name))


def test_a_rejected_tenant_is_reported_while_the_others_apply(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    good, bad = f"{tenant_prefix}-good", f"{tenant_prefix}-bad"
    (tmp_path / "good.yaml").write_text(tenant_yaml(good))
    (tmp_path / "bad.yaml").write_text(tenant_yaml(bad).replace("partitions: 2", "partitions: 0"))
    result = logway(endpoints, "apply", str(tmp_path), check=False)
    assert result.returncode == 1
    assert f"{bad}.topics.partitions" in result.stderr
    assert f"rejected, left at their last good version: {bad}" in result.stderr
    topics = AdminClient(endpoints.kafka.client()).list_topics(timeout=10)
    assert all(t in topics.topics for t in tenant_topics(good))
    assert not any(t in topics.topics for t in tenant_topics(bad))
    published = read_published(endpoints.kafka)
    assert good in published
    assert bad not in published


def test_a_tenant_whose_change_fails_keeps_its_last_version_and_others_go_ahead(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    blocked, fine = f"{tenant_prefix}-blocked", f"{tenant_prefix}-fine"
    # Elasticsearch refuses a template whose patterns overlap another's at the same priority.
    es = endpoints.es.client()
    es.indices.put_index_template(
        name=f"foreign-{blocked}",
        index_patterns=[f"logs-{blocked}.*"],
        priority=INDEX_TEMPLATE_PRIORITY,
    )
    (tmp_path / "a.yaml").write_text(tenant_yaml(blocked))
    (tmp_path / "b.yaml").write_text(tenant_yaml(fine))
    try:
        result = logway(endpoints, "apply", str(tmp_path), check=False)
    finally:
        es.indices.delete_index_template(name=f"foreign-{blocked}")
    assert result.returncode == 1
    assert f"not applied, left at their last good version: {blocked}" in result.stderr
    [template_line] = [line for line in result.stdout.splitlines() if f"logs-{blocked} " in line]
    assert "[failed]" in template_line
    assert "same priority" in template_line
    published = read_published(endpoints.kafka)
    assert fine in published
    assert blocked not in published
