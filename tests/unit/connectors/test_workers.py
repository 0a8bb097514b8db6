"""Each worker is described once (`connectors.workers`); the command line, the metrics and the
chart agree with the descriptions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from connectors.runtime.worker import Worker
from connectors.workers import WORKERS
from logway.cli import app
from logway.core.metrics import Component

CHART = Path(__file__).parents[3] / "helm" / "logway" / "templates"


def test_the_metrics_components_are_the_workers() -> None:
    assert sorted(get_args(Component)) == sorted(worker.name for worker in WORKERS)


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.name)
def test_every_setting_is_a_flag_or_handed_so_none_is_declared_and_never_read(
    worker: Worker,
) -> None:
    fields = set(worker.settings.model_fields)
    assert fields == set(worker.flags) | set(worker.handed)
    assert worker.env_prefix == f"LOGWAY_{worker.name.upper()}_"
    assert callable(worker.runner())


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.name)
def test_each_worker_is_a_run_command_with_its_flags_and_variables(worker: Worker) -> None:
    result = CliRunner().invoke(app, ["run", worker.name, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for flag in worker.flags:
        assert f"--{flag.replace('_', '-')}" in result.output
    assert f"{worker.env_prefix}METRICS_PORT" in result.output


def test_the_charts_metrics_ports_are_the_workers() -> None:
    """workers.yaml lists each worker with its port, and the operator's template has its own."""
    listed = dict(
        re.findall(r'"component" "(\w+)" .*?"port" (\d+)', (CHART / "workers.yaml").read_text())
    )
    operator = re.findall(r"containerPort: (\d+)", (CHART / "operator.yaml").read_text())
    ports = {worker.name: worker.metrics_port for worker in WORKERS}
    assert {name: int(port) for name, port in listed.items()} == {
        name: port for name, port in ports.items() if name != "operator"
    }
    assert str(ports["operator"]) in operator


def test_every_worker_package_is_held_apart_from_the_others_by_lint_imports() -> None:
    """A new folder under connectors/ must join the `.importlinter` contract that keeps the
    workers from importing each other's code."""
    root = Path(__file__).parents[3]
    contract = (root / ".importlinter").read_text().split("[importlinter:contract:workers]")[1]
    layer = contract.split("layers =")[1].strip().splitlines()[0]
    held = {name.strip() for name in layer.split("|")}
    packages = {
        f"connectors.{path.parent.name}"
        for path in (root / "connectors").glob("*/__init__.py")
        if path.parent.name != "runtime"
    }
    assert packages <= held, sorted(packages - held)
