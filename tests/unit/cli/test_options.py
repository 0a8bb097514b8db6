"""The worker commands' flags come from the settings models: one default, one help text."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from pydantic import BaseModel, Field

from connectors.elasticsearch.config import SinkConfig
from connectors.gateway.config import GatewayConfig
from connectors.notifier.config import NotifierConfig
from connectors.processor.config import ProcessorConfig
from logway.cli import app
from logway.options import options

COMMANDS = {
    "processor": (ProcessorConfig, "LOGWAY_PROCESSOR_"),
    "sink": (SinkConfig, "LOGWAY_SINK_"),
    "gateway": (GatewayConfig, "LOGWAY_GATEWAY_"),
    "notifier": (NotifierConfig, "LOGWAY_NOTIFIER_"),
}


def run_command(name: str) -> Any:
    """The click command typer makes of `logway run <name>` (typer's own click classes)."""
    return typer.main.get_command(app).commands["run"].commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_has_its_fields_default_help_and_variable(name: str) -> None:
    model, prefix = COMMANDS[name]
    flags = [p for p in run_command(name).params if p.name != "help"]
    assert flags, name
    for flag in flags:
        assert flag.name is not None
        field = model.model_fields[flag.name]
        assert flag.default == field.default, flag.name
        assert flag.help == field.description, flag.name
        expected = (
            "LOGWAY_TENANTS_MATCHING"
            if flag.name == "tenants_matching"
            else f"{prefix}{flag.name.upper()}"
        )
        assert flag.envvar == expected, flag.name


def test_the_workers_sharing_partitions_take_an_instance_id() -> None:
    for name in ["processor", "sink", "notifier"]:
        names = {p.name for p in run_command(name).params}
        assert "instance_id" in names, name


def test_a_field_without_a_default_cannot_be_a_flag() -> None:
    class Needs(BaseModel):
        url: str = Field(description="no default")

    with pytest.raises(ValueError, match=r"Needs\.url has no default"):
        options(Needs, "LOGWAY_X_", ["url"])(lambda **_: None)
