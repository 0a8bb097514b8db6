"""docker-compose.yml follows the Compose specification, and its commands exist in our CLI.

No Docker engine runs here, so this checks what can be checked: the file against the JSON schema
the Compose specification publishes (as shipped in compose-go, the library `docker compose`
itself uses, fetched through the Go module proxy), and every logway service's command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from logway.cli import app

ROOT = Path(__file__).parents[3]
COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.16.2"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    go = shutil.which("go")
    assert go, "Go is needed to fetch the Compose specification schema (see README prerequisites)"
    result = subprocess.run(
        [go, "mod", "download", "-json", COMPOSE_GO],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"go mod download {COMPOSE_GO} failed: {result.stderr}"
    module_dir = Path(json.loads(result.stdout)["Dir"])
    schema: dict[str, Any] = json.loads((module_dir / "schema" / "compose-spec.json").read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_file_follows_the_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    validator_class = jsonschema.validators.validator_for(compose_schema)
    errors = sorted(validator_class(compose_schema).iter_errors(compose), key=str)
    assert errors == [], "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_file(compose_schema: dict[str, Any]) -> None:
    broken = {"services": {"sink": {"image": "logway:dev", "restart": "sometimes", "bogus": 1}}}
    assert not jsonschema.validators.validator_for(compose_schema)(compose_schema).is_valid(broken)


def test_every_logway_service_runs_a_real_command(compose: dict[str, Any]) -> None:
    ours = {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "logway:dev"
    }
    assert set(ours) == {"apply", "processor", "sink", "gateway", "notifier", "render-forwarder"}
    runner = CliRunner()
    for name, service in ours.items():
        result = runner.invoke(app, [*service["command"], "--help"])
        assert result.exit_code == 0, (
            f"{name}: `logway {' '.join(service['command'])}` is not a command"
        )
        assert "Usage" in result.output


def test_dockerfile_installs_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("logway", "streams", "topology", "connectors"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_prometheus_scrapes_every_component_and_loads_the_rules(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for sc in job["static_configs"]
        for target in sc["targets"]
    }
    assert targets == {"processor:9641", "sink:9642", "gateway:9643", "notifier:9644"}
    assert {service.split(":")[0] for service in targets} <= set(compose["services"])
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/rules.yaml:/etc/prometheus/rules.yaml:ro" in mounts
    assert config["rule_files"] == ["/etc/prometheus/rules.yaml"]


def test_ordering_only_names_services_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        needs = service.get("depends_on", {})
        assert set(needs) <= set(services), f"{name} depends on a missing service"


def test_the_forwarder_tails_a_real_docker_log_of_a_declared_namespace() -> None:
    [log] = (ROOT / "examples" / "demo-logs").glob("*.log")
    _pod, namespace, _container = log.name.split("_")
    assert namespace == "payments"  # a namespace examples/tenants/payments.yaml claims
    first = yaml.safe_load(log.read_text().splitlines()[0])
    assert set(first) == {"log", "stream", "time"}
