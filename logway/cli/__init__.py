"""The `logway` command line: a thin layer over topology, streams, connectors and logway.dev.

One module per command group; importing them registers their commands on `app`, in the order
`logway --help` lists them."""

from __future__ import annotations

# isort: off
from logway.cli import tenants, status, tap, top, dev, render, run, dlq  # noqa: F401 - they register
from logway.cli.apps import app

# isort: on

__all__ = ["app", "main"]


def main() -> None:
    app()
