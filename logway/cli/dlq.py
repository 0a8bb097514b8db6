"""`logway dlq`: a tenant's dead letters."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from logway.cli.apps import dlq_app
from logway.cli.common import (
    server_endpoints,
)

DlqTenant = Annotated[str, typer.Option("--tenant", "-t", help="The tenant whose dead letters.")]
DlqReason = Annotated[
    str | None,
    typer.Option(help="Only this reason (invalid_json, pattern_mismatch, mapping_conflict, ...)."),
]
DlqSince = Annotated[
    str | None, typer.Option(help="Only dead letters from this long ago: 30m, 2h, 7d.")
]


def _selection(tenant: str, reason: str | None, since: str | None) -> Any:
    from connectors.dlq.replay import Selection, parse_duration
    from logway.core.deadletter import Reason

    try:
        return Selection(
            tenant=tenant,
            reason=Reason(reason) if reason else None,
            since=parse_duration(since) if since else None,
        )
    except ValueError as exc:
        known = ", ".join(r.value for r in Reason)
        message = f"{exc}" if since and "duration" in str(exc) else f"{exc}; reasons: {known}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None


def _letters(tenant: str, reason: str | None, since: str | None) -> list[Any]:
    from connectors.dlq.replay import read_dead_letters

    selection = _selection(tenant, reason, since)
    try:
        return list(read_dead_letters(server_endpoints().kafka, selection))
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@dlq_app.command("ls")
def dlq_ls(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Count a tenant's dead letters by reason and step, with the first and last failure."""
    from collections import Counter

    letters = _letters(tenant, reason, since)
    groups: Counter[tuple[str, str, str]] = Counter(
        (str(d.stage), d.step, str(d.reason)) for d in letters
    )
    times: dict[tuple[str, str, str], list[Any]] = {}
    for d in letters:
        times.setdefault((str(d.stage), d.step, str(d.reason)), []).append(d.failed_at)
    rows = [
        {
            "stage": stage,
            "step": step,
            "reason": why,
            "count": count,
            "first": min(times[(stage, step, why)]).isoformat(timespec="seconds"),
            "last": max(times[(stage, step, why)]).isoformat(timespec="seconds"),
        }
        for (stage, step, why), count in groups.most_common()
    ]
    if output == "json":
        typer.echo(json.dumps({"tenant": tenant, "total": len(letters), "groups": rows}))
        return
    typer.echo(f"{len(letters)} dead letter(s) for {tenant}")
    if rows:
        typer.echo(f"{'stage':10}{'step':14}{'reason':20}{'count':>7}  first / last failure")
    for row in rows:
        typer.echo(
            f"{row['stage']:10}{row['step']:14}{row['reason']:20}{row['count']:>7}  "
            f"{row['first']} / {row['last']}"
        )
    if rows:
        typer.echo(f"look: logway dlq show --tenant {tenant} --reason <reason>")
        typer.echo(f"replay once fixed: logway dlq replay --tenant {tenant} [--reason <reason>]")


@dlq_app.command("show")
def dlq_show(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 20,
    output: Annotated[str, typer.Option("--format", help="text or json (one per line).")] = "text",
) -> None:
    """Show a tenant's dead letters: what failed, where, why, and the original record."""
    letters = _letters(tenant, reason, since)[-limit:]
    for d in letters:
        if output == "json":
            typer.echo(d.model_dump_json())
            continue
        original = d.original if len(d.original) <= 300 else d.original[:300] + "..."
        typer.echo(
            f"{d.event_id}  {d.failed_at.isoformat(timespec='seconds')}  "
            f"{d.stage}/{d.step}  {d.reason}  version {d.tenant_version or '-'}\n"
            f"  error: {d.error}\n  original ({d.original_encoding}): {original}"
        )


@dlq_app.command("replay")
def dlq_replay(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would pass; produce nothing.")
    ] = False,
) -> None:
    """Run dead letters through the tenant's current config again. What passes now is sent on
    with its original event id, so replaying twice never duplicates a document; what fails
    again is counted by reason (its dead letter stays)."""
    from connectors.dlq.replay import replay

    selection = _selection(tenant, reason, since)
    try:
        report = replay(server_endpoints().kafka, selection, dry_run=dry_run)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines():
        typer.echo(line)
    if dry_run:
        typer.echo("dry run: nothing was sent")
