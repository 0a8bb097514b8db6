"""`logway validate --online`: checks against the live servers, changing nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from logway.core.kafka import KafkaConnection
from logway.core.names import INDEX_TEMPLATE_PRIORITY
from logway.core.settings import Endpoints
from tests.integration.support import tenant_yaml, validate_online

pytestmark = pytest.mark.integration


def test_online_validation_passes_when_everything_is_in_place(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-online"
    path = tmp_path / "t.yaml"
    path.write_text(tenant_yaml(name))
    secret = f"{name.upper().replace('-', '_')}_WEBHOOK"
    result = validate_online(endpoints, path, **{secret: "https://hooks.example.invalid/x"})
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert report["levels"] == {"static": 0, "semantic": 0, "dry-run": 0, "online": 0}


def test_a_missing_secret_is_an_online_error_at_its_line(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-nosecret"
    path = tmp_path / "t.yaml"
    path.write_text(tenant_yaml(name))
    secret = f"{name.upper().replace('-', '_')}_WEBHOOK"
    assert secret not in os.environ
    result = validate_online(endpoints, path)
    report = json.loads(result.stdout)
    assert result.returncode == 1
    [error] = report["errors"]
    assert error["level"] == "online"
    assert error["path"] == f"{name}.owners.webhook_secret"
    assert error["line"] == 5
    assert f"secret {secret!r} not found" in error["message"]


def test_a_template_elasticsearch_would_refuse_is_an_online_error(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-refused"
    path = tmp_path / "t.yaml"
    path.write_text(tenant_yaml(name))
    es = endpoints.es.client()
    es.indices.put_index_template(
        name=f"foreign-{name}",
        index_patterns=[f"logs-{name}.*"],
        priority=INDEX_TEMPLATE_PRIORITY,
    )
    secret = f"{name.upper().replace('-', '_')}_WEBHOOK"
    try:
        result = validate_online(endpoints, path, **{secret: "https://hooks.example.invalid/x"})
    finally:
        es.indices.delete_index_template(name=f"foreign-{name}")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    [error] = report["errors"]
    assert error["level"] == "online"
    assert "Elasticsearch refuses the index template" in error["message"]
    assert "same priority" in error["message"]
    assert not es.indices.exists_index_template(name=f"logs-{name}")  # nothing installed


def test_an_unreachable_kafka_fails_online_validation(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(tenant_yaml(f"{tenant_prefix}-nokafka"))
    result = validate_online(
        Endpoints(kafka=KafkaConnection(bootstrap="127.0.0.1:1"), es=endpoints.es), path
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert any("Kafka at 127.0.0.1:1" in p for p in report["server_problems"])
