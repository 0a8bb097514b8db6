"""What an applied tenant owns cannot be taken by a file checked on its own (issue 14, holes 2
and 6): `validate --online`, `plan` and `apply` check claims against `_logway.tenants` and
partitions against the topics, and a refused tenant changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import logway, tenant_yaml, validate_online
from topology.publish import read_published

pytestmark = pytest.mark.integration


def sources(namespace: str, producer: str, key: str) -> str:
    return (
        "sources:\n"
        f"  namespaces: [{namespace}]\n"
        f"  producers: ['User:{producer}']\n"
        "  forward:\n"
        f"    shared_key_secret: {key}\n"
    )


def webhook(tenant: str) -> str:
    """The webhook secret `tenant_yaml` names."""
    return f"{tenant.upper().replace('-', '_')}_WEBHOOK"


def test_a_new_file_cannot_claim_what_an_applied_tenant_owns(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    owner, thief = f"{tenant_prefix}-owner", f"{tenant_prefix}-thief"
    namespace, producer = f"{tenant_prefix}-payments", f"{tenant_prefix}-svc"
    key = f"{tenant_prefix.upper()}_FORWARD_KEY"  # unique: applied tenants of earlier runs stay
    owned = tmp_path / "owner"
    owned.mkdir()
    (owned / "owner.yaml").write_text(tenant_yaml(owner, extra=sources(namespace, producer, key)))
    logway(endpoints, "apply", str(owned))
    before = read_published(endpoints.kafka)[owner]

    claims = tmp_path / "thief"
    claims.mkdir()
    path = claims / "thief.yaml"
    path.write_text(tenant_yaml(thief, extra=sources(namespace, producer, key)))

    checked = validate_online(
        endpoints, path, **{webhook(thief): "https://hooks.example.invalid/x"}
    )
    report = json.loads(checked.stdout)
    assert checked.returncode == 1, report
    assert report["rejected"] == [thief]
    by_path = {error["path"]: error for error in report["errors"]}
    assert set(by_path) == {
        f"{thief}.sources.namespaces.0",
        f"{thief}.sources.producers.0",
        f"{thief}.sources.forward.shared_key_secret",
    }
    for error in by_path.values():
        assert f"belongs to the applied tenant {owner!r}" in error["message"]
        assert error["level"] == "online"
    assert by_path[f"{thief}.sources.namespaces.0"]["line"] == 10

    for command in ("plan", "apply"):
        result = logway(endpoints, command, str(claims), check=False)
        assert result.returncode == 1, result
        assert f"namespace {namespace!r} belongs to the applied tenant {owner!r}" in result.stderr
        assert f"{path}:10:" in result.stderr
        assert "forwarder route" not in result.stdout  # nothing planned for the thief
    published = read_published(endpoints.kafka)
    assert thief not in published
    assert published[owner].version == before.version
    assert raw_topic(thief) not in AdminClient(endpoints.kafka.client()).list_topics().topics

    # A handover in one run is fine: the owner declared without the namespace, the other with.
    (owned / "owner.yaml").write_text(tenant_yaml(owner))
    (owned / "thief.yaml").write_text(path.read_text())
    handed = logway(endpoints, "apply", str(owned), check=False)
    assert handed.returncode == 0, handed.stderr
    published = read_published(endpoints.kafka)
    assert published[thief].spec.sources.namespaces == (namespace,)
    assert published[owner].spec.sources.namespaces == ()


def test_fewer_partitions_than_the_topics_have_are_refused(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-shrink"
    path = tmp_path / "t.yaml"
    path.write_text(tenant_yaml(name, partitions=4))
    logway(endpoints, "apply", str(tmp_path))
    version = read_published(endpoints.kafka)[name].version

    path.write_text(tenant_yaml(name, partitions=2))
    checked = validate_online(endpoints, path, **{webhook(name): "https://hooks.example.invalid/x"})
    [error] = json.loads(checked.stdout)["errors"]
    assert checked.returncode == 1
    assert error["path"] == f"{name}.topics.partitions"
    assert (
        "have 4 partitions and Kafka cannot shrink a topic: declare 4 or more" in error["message"]
    )
    for command in ("plan", "apply"):
        result = logway(endpoints, command, str(tmp_path), check=False)
        assert result.returncode == 1
        assert f"{name}.topics.partitions: the tenant's topics have 4 partitions" in result.stderr
    live = read_published(endpoints.kafka)[name]
    assert live.version == version
    assert live.spec.topics.partitions == 4
