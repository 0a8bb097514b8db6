"""`apply --prune`: what is no longer declared goes, all of a tenant or nothing of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from logway.core.names import raw_topic, tenant_topics
from logway.core.settings import Endpoints
from tests.integration.support import logway, tenant_yaml
from topology.access import scram_user_exists
from topology.publish import read_published
from topology.quotas import QuotaClient

pytestmark = pytest.mark.integration


def lines(output: str, action: str) -> list[str]:
    return [line for line in output.splitlines() if f" {action}" in line]


def test_prune_removes_an_undeclared_tenant_only_when_asked_and_its_data_only_with_a_second_flag(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    kept, gone = f"{tenant_prefix}-kept", f"{tenant_prefix}-gone"
    both, only_kept = tmp_path / "both", tmp_path / "only"
    both.mkdir()
    only_kept.mkdir()
    for folder in (both, only_kept):
        (folder / "kept.yaml").write_text(tenant_yaml(kept))
    (both / "gone.yaml").write_text(tenant_yaml(gone))
    creds = ["--credentials-dir", str(tmp_path / "creds"), "--scope", f"{tenant_prefix}-.*"]
    logway(endpoints, "apply", str(both), *creds)
    producer = Producer(endpoints.kafka.client())
    producer.produce(raw_topic(gone), b'{"msg": "data worth keeping"}')
    assert producer.flush(10) == 0
    admin = AdminClient(endpoints.kafka.client())
    es = endpoints.es.client()

    # Without --prune: reported, nothing deleted.
    planned = logway(endpoints, "plan", str(only_kept), "--scope", f"{tenant_prefix}-.*").stdout
    [notice] = lines(planned, "not declared")
    assert gone in notice
    assert not lines(planned, "delete")

    # --prune alone: its raw topic holds a record, so nothing of the tenant is touched.
    pruned = logway(endpoints, "apply", str(only_kept), "--prune", *creds).stdout
    [keep] = lines(pruned, "keep data")
    assert "its topics hold 1 records; add --delete-data" in keep
    assert gone in read_published(endpoints.kafka)
    assert all(t in admin.list_topics(timeout=10).topics for t in tenant_topics(gone))
    assert scram_user_exists(admin, gone, 10)

    # --prune --delete-data: all of it goes, and the declared tenant stays untouched.
    removed = logway(endpoints, "apply", str(only_kept), "--prune", "--delete-data", *creds).stdout
    assert len(lines(removed, "delete")) >= 3 + 1 + 1 + 5 + 1 + 1  # topics, template, user,
    assert "[failed]" not in removed  # ACLs, quota, version
    published = read_published(endpoints.kafka)
    assert gone not in published
    assert kept in published
    topics = admin.list_topics(timeout=10).topics
    assert not any(t in topics for t in tenant_topics(gone))
    assert all(t in topics for t in tenant_topics(kept))
    assert not es.indices.exists_index_template(name=f"logs-{gone}")
    assert es.indices.exists_index_template(name=f"logs-{kept}")
    assert not scram_user_exists(admin, gone, 10)
    assert QuotaClient(endpoints.kafka).producer_rate(gone) is None

    # And the next prune finds nothing left to do.
    again = logway(
        endpoints, "plan", str(only_kept), "--prune", "--scope", f"{tenant_prefix}-.*"
    ).stdout
    assert not lines(again, "delete")


def test_delete_data_without_prune_is_a_usage_error(endpoints: Endpoints, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(tenant_yaml("whatever"))
    result = logway(endpoints, "apply", str(tmp_path), "--delete-data", check=False)
    assert result.returncode == 2
    assert "only makes sense with --prune" in result.stderr
