"""Looking at the platform: `retention`, `status`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from connectors.retention.config import RetentionConfig
from logway.cli.apps import app
from logway.cli.common import (
    fail,
    server_endpoints,
)


@app.command("retention")
def retention(
    *,
    apply_now: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Delete and roll over what the table says would be; without it, nothing is.",
        ),
    ] = False,
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", "-t", help="Only this tenant (repeatable); all live ones else."),
    ] = None,
    generation_max_bytes: Annotated[
        int,
        typer.Option(
            envvar="LOGWAY_RETENTION_GENERATION_MAX_BYTES",
            min=1,
            help="Roll a route over once its newest index's primary shard holds this many bytes.",
        ),
    ] = RetentionConfig.model_fields["generation_max_bytes"].default,
) -> None:
    """Each live tenant's storage in Elasticsearch (bytes, documents, oldest index, budget),
    the indices its `storage` no longer keeps, and the routes due a new index.

    A route's documents live in generations, indices `logs-<tenant>.<route>-<start>`. A
    generation is deleted once everything in it is older than `retention_days`, or oldest
    first while the tenant is over `max_bytes` (never one still written). A route is rolled
    over to a new generation, starting ten minutes later, when its newest is `retention_days`
    old or `--generation-max-bytes` big (a quarter of the budget with one). Whole indices of
    that tenant only, by exact name. The daily indices that logway made before are
    generations too: nothing to migrate.

    `logway run retention` does the same every `--interval-s`."""
    from connectors.retention.worker import enforce
    from topology.publish import read_published

    endpoints = server_endpoints()
    live = read_published(endpoints.kafka)
    missing = sorted(set(tenant or []) - set(live))
    if missing:
        raise fail(f"not live: {', '.join(missing)} (see logway status)", 1)
    storages = {
        name: published.spec.storage
        for name, published in live.items()
        if not tenant or name in tenant
    }
    es = endpoints.es.client()
    deleted = rolled = 0
    for name, storage in sorted(storages.items()):
        told: list[str] = []
        [found] = enforce(
            es, {name: storage}, generation_max_bytes, apply=apply_now, tell=told.append
        )
        budget = found.storage.max_bytes
        oldest = f"{found.oldest:%Y-%m-%d %H:%M}" if found.oldest else "-"
        typer.echo(
            f"{found.tenant}: {found.bytes} bytes"
            + (f" of {budget} ({found.bytes / budget:.0%})" if budget else "")
            + f", {found.documents} documents in {len(found.indices)} indices, oldest from "
            f"{oldest}, keeps {found.storage.retention_days} days"
        )
        planned = [f"would delete {d}" for d in found.deletions] + [
            f"would roll over to about {r}" for r in found.rollovers
        ]
        for line in told if apply_now else planned:
            typer.echo(f"  {line}")
        deleted, rolled = deleted + len(found.deletions), rolled + len(found.rollovers)
    verbs = ("deleted", "rolled over") if apply_now else ("would delete", "would roll over")
    typer.echo(
        f"{deleted} index(es) {verbs[0]}, {rolled} route(s) {verbs[1]}; {len(storages)} tenant(s)"
    )


@app.command("status")
def status(
    *,
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", "-t", help="Only this tenant (repeatable).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    serve: Annotated[
        int | None,
        typer.Option(help="Serve a read-only status page on this port instead of printing."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address the status page listens on.")] = "127.0.0.1",
    processor_group: Annotated[
        str, typer.Option(envvar="LOGWAY_PROCESSOR_APP_ID", help="The processors' group.")
    ] = "logway-processor",
    sink_group: Annotated[
        str, typer.Option(envvar="LOGWAY_SINK_GROUP_ID", help="The sinks' group.")
    ] = "logway-sink",
) -> None:
    """Per tenant: the config version live, records/s in and out, processor and sink lag,
    storage in Elasticsearch against its budget, dead letters of the last hour by reason and
    the last error."""
    from logway import status as tenant_status

    endpoints = server_endpoints()
    es = endpoints.es.client()

    def collect() -> list[Any]:
        return tenant_status.collect(
            endpoints.kafka, tenant, processor_group=processor_group, sink_group=sink_group, es=es
        )

    if serve is not None:
        from logway.status_page import serve_page

        typer.echo(f"status page on http://{host}:{serve}/ (Ctrl-C stops it)")
        serve_page(host, serve, collect)
        return
    statuses = collect()
    if output == "json":
        typer.echo(json.dumps(tenant_status.as_json(statuses)))
    else:
        typer.echo(tenant_status.table(statuses))
