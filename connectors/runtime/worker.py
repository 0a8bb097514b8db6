"""A worker, described once: its name (the `logway run` command and the metrics' component),
settings model, environment prefix, the settings offered as flags, what it is handed, and its
run function. The command line's `run` commands are made from these descriptions
(`logway.cli.run`); tests hold the metrics' component names and the chart's ports to them.
Adding a worker is writing its description in `connectors.workers`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

Handed = Literal["kafka", "es", "ceilings"]  # what the command line builds and gives the settings


@dataclass(frozen=True)
class Worker:
    """One worker as the command line, the metrics and the chart know it."""

    name: str
    settings: type[BaseModel]
    env_prefix: str
    flags: tuple[str, ...]
    run: str  # "module:function", imported only when the worker runs
    help: str
    handed: tuple[Handed, ...] = ("kafka",)

    @property
    def metrics_port(self) -> int:
        """The default port of its /metrics (its settings' `metrics_port`)."""
        port = self.settings.model_fields["metrics_port"].default
        assert isinstance(port, int)
        return port

    def runner(self) -> Callable[[Any], None]:
        module, function = self.run.split(":")
        found: Callable[[Any], None] = getattr(importlib.import_module(module), function)
        return found
