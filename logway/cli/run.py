"""`logway run`: the workers, one command each, made from their descriptions
(`connectors.workers`), and `logway run all`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.runtime.lifecycle import begin
from connectors.runtime.worker import Worker
from connectors.workers import WORKERS
from logway.cli.apps import run_app
from logway.cli.common import (
    TenantsMatching,
    fail,
    parse_settings,
    platform_ceilings,
    worker_endpoints,
)
from logway.options import options


def _command(worker: Worker) -> None:
    """`logway run <worker>`: its settings as flags (and `<PREFIX><FIELD>` variables), built
    with what it is handed; a server that refuses our login ends it now (exit 2)."""

    def run(**flags: Any) -> None:
        endpoints = worker_endpoints()
        handed: dict[str, Any] = {"kafka": endpoints.kafka}
        if "es" in worker.handed:
            problem = endpoints.es.diagnose()
            if problem is not None and problem.refused:
                raise fail(f"Elasticsearch at {endpoints.es} refused us: {problem}", code=2)
            handed["es"] = endpoints.es
        if "ceilings" in worker.handed:
            handed["ceilings"] = platform_ceilings()
        config = parse_settings(worker.settings, **handed, **flags)
        begin(worker.name, config.metrics_port)  # type: ignore[attr-defined]
        worker.runner()(config)

    run.__doc__ = worker.help
    run.__name__ = f"run_{worker.name}"
    decorated = options(worker.settings, worker.env_prefix, worker.flags)(run)
    run_app.command(worker.name)(decorated)


for _worker in WORKERS:
    _command(_worker)


@run_app.command("all")
def run_all(
    tenants_matching: TenantsMatching = ".*",
    demo: Annotated[
        bool, typer.Option(help="Also feed demo traffic (a few broken lines included).")
    ] = False,
) -> None:
    """Run the processor and the sink, and show a live line per tenant (received, processed,
    indexed, dead-lettered) until Ctrl-C, which stops them."""
    from logway.supervisor import run_all as run

    run(
        worker_endpoints(),
        tenants_matching=tenants_matching,
        demo=demo,
        log_dir=Path(".logway/run/logs"),
    )
