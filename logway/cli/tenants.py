"""Declaring tenants: `validate`, `schema`, `plan`, `apply`, `release`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from logway.cli.apps import app
from logway.cli.common import (
    Paths,
    fail,
    platform_ceilings,
    require,
    server_endpoints,
)


@app.command()
def validate(
    paths: Paths,
    output: Annotated[str, typer.Option("--format", help="text, or json for machines.")] = "text",
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also check against the live servers: Kafka answers and the plan can be made, "
            "Elasticsearch accepts each index template (simulated, nothing installed), each "
            "webhook secret exists.",
        ),
    ] = False,
) -> None:
    """Check tenant files, level by level: static (YAML, schema), semantic (names, namespaces
    and principals each claimed once), and with --online the live servers and the platform's
    ceilings (LOGWAY_TENANT_MAX_*). Exit 0 valid, 1 invalid, 2 usage error. Errors read
    `file:line:col: tenant.field: what is wrong`."""
    from topology.load import LEVELS, load_tenants

    if output not in ("text", "json"):
        raise fail("--format is text or json", 2)
    require(paths)
    result = load_tenants(paths)
    problems: list[str] = []
    if online and result.tenants:
        problems = _check_online(result)
    counts = {level: sum(e.level == level for e in result.errors) for level in LEVELS}
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "valid": result.ok and not problems,
                    "tenants": [t.tenant.name for t in result.tenants],
                    "rejected": result.rejected,
                    "errors": [e.__dict__ for e in result.errors],
                    "levels": {
                        level: counts[level] if level != "online" or online else None
                        for level in LEVELS
                    },
                    "server_problems": problems,
                },
                indent=2,
            )
        )
    else:
        for error in result.errors:
            typer.echo(str(error), err=True)
        for problem in problems:
            typer.echo(f"online: {problem}", err=True)
        summary = [
            f"{level}: " + (f"{counts[level]} error(s)" if counts[level] else "ok")
            for level in LEVELS
            if level != "online" or online
        ]
        if not online:
            summary.append("online: not checked (--online)")
        typer.echo(" | ".join(summary) + ("" if not problems else " | servers unreachable"))
        names = [t.tenant.name for t in result.tenants]
        listed = ", ".join(names) if len(names) <= 10 else f"{', '.join(names[:10])}, ..."
        typer.echo(f"{len(names)} valid tenant(s){': ' + listed if names else ''}")
    if not result.ok or problems:
        raise typer.Exit(1)


def _check_online(result: Any) -> list[str]:
    """Add the online errors to `result`; return problems with the servers themselves."""
    from confluent_kafka.admin import AdminClient

    from topology.online import check_online
    from topology.targets import Targets

    endpoints = server_endpoints()
    targets = Targets(
        admin=AdminClient(endpoints.kafka.admin()),
        es=endpoints.es.client(request_timeout=15),
        kafka=endpoints.kafka,
        ceilings=platform_ceilings(),
    )
    return check_online(targets, result)


@app.command()
def schema(
    output_format: Annotated[
        str, typer.Option("--format", help="json (JSON Schema), or markdown (docs/tenants.md).")
    ] = "json",
) -> None:
    """Print the tenant document's JSON Schema (for editors and CI), or its reference page."""
    from topology.model import Tenant
    from topology.reference import render_reference

    if output_format == "json":
        typer.echo(json.dumps(Tenant.model_json_schema(), indent=2))
    elif output_format == "markdown":
        typer.echo(render_reference(), nl=False)
    else:
        raise fail("--format is json or markdown", 2)


SYMBOLS = {
    "create": "+",
    "publish": "+",
    "grow partitions": "~",
    "update": "~",
    "unchanged": " ",
    "kept larger": "!",
    "not declared": "!",
    "unsupported": "!",
    "delete": "-",
    "keep data": "!",
    "re-render": "~",
}

Prune = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also remove what is no longer declared: published tenants missing from PATHS "
        "(their template, user, ACLs, quotas, empty topics) and ACLs nobody declares. PATHS must "
        "then hold every tenant.",
    ),
]
Scope = Annotated[
    str,
    typer.Option(
        "--scope",
        help="Only published tenants whose name fully matches this regular expression are "
        "reported or removed as undeclared (default: all).",
    ),
]
DeleteData = Annotated[
    bool,
    typer.Option(
        "--delete-data",
        help="With --prune: also delete removed tenants' topics that hold records, and their "
        "indices.",
    ),
]


CredentialsDir = Annotated[
    Path,
    typer.Option(
        envvar="LOGWAY_CREDENTIALS_DIR",
        help="Where apply writes each new tenant's Kafka credentials (mode 0600).",
    ),
]


def _load_and_plan(
    paths: list[Path],
    credentials_dir: Path = Path(".logway/credentials"),
    *,
    prune: bool = False,
    delete_data: bool = False,
    scope: str = ".*",
) -> tuple[Any, Any, list[Any]]:
    """Load tenants, plan them against the live servers (`topology.planning`), and report
    the rejected ones."""
    from confluent_kafka.admin import AdminClient

    from topology.load import load_tenants
    from topology.planning import SERVER_ERRORS, plan_declared, unreachable
    from topology.targets import Targets

    require(paths)
    if delete_data and not prune:
        raise fail("--delete-data only makes sense with --prune", 2)
    result = load_tenants(paths)

    def report() -> None:
        for error in result.errors:
            typer.echo(str(error), err=True)
        if result.rejected:
            typer.secho(
                f"rejected, left at their last good version: {', '.join(result.rejected)}",
                err=True,
                fg=typer.colors.YELLOW,
            )
        if not result.tenants:
            raise fail("no valid tenants to plan", 1 if result.errors else 2)

    if not result.tenants:
        report()
    endpoints = server_endpoints()
    try:
        replication = int(os.environ.get("LOGWAY_TOPIC_REPLICATION_FACTOR", "-1"))
        min_insync = int(os.environ.get("LOGWAY_TOPIC_MIN_INSYNC_REPLICAS", "0"))
    except ValueError:
        raise fail(
            "LOGWAY_TOPIC_REPLICATION_FACTOR and LOGWAY_TOPIC_MIN_INSYNC_REPLICAS are whole "
            "numbers (-1 and 0: the broker's defaults)",
            2,
        ) from None
    targets = Targets(
        admin=AdminClient(endpoints.kafka.admin()),
        es=endpoints.es.client(),
        kafka=endpoints.kafka,
        credentials_dir=credentials_dir,
        replication_factor=replication,
        min_insync_replicas=min_insync,
        ceilings=platform_ceilings(),
    )
    try:
        changes = plan_declared(targets, result, prune=prune, delete_data=delete_data, scope=scope)
    except SERVER_ERRORS as exc:
        failure = unreachable(exc)
        diagnosis: object
        if failure.server == "Kafka":
            diagnosis, hint = endpoints.kafka.diagnose(), "LOGWAY_KAFKA_BOOTSTRAP right"
            where = str(endpoints.kafka)
        else:
            diagnosis, hint = endpoints.es.diagnose(), "are the LOGWAY_ES_* settings right"
            where = str(endpoints.es)
        raise fail(
            f"cannot reach {failure.server} at {where}: {diagnosis or failure.detail}; "
            f"is it up (`logway dev status`) and {hint}?"
        ) from None
    report()
    return result, targets, changes


def _show(change: Any) -> str:
    detail = f" ({change.detail})" if change.detail else ""
    result = f" [{change.result}]" if change.result else ""
    return (
        f"{SYMBOLS[change.action]} {change.kind:<15} {change.name:<42} "
        f"{change.action}{detail}{result}"
    )


@app.command()
def plan(
    paths: Paths, prune: Prune = False, delete_data: DeleteData = False, scope: Scope = ".*"
) -> None:
    """Show what `apply` would change, like a diff: topics (create, grow partitions, settings),
    index templates, SCRAM users and ACLs, and tenant versions to publish. Changes nothing.
    Exit 1 if a tenant is rejected."""
    result, _targets, changes = _load_and_plan(
        paths, prune=prune, delete_data=delete_data, scope=scope
    )
    for change in changes:
        typer.echo(_show(change))
    pending = sum(c.pending for c in changes)
    typer.echo(f"{pending} change(s) for {len(result.tenants)} tenant(s)")
    if result.errors:
        raise typer.Exit(1)


@app.command()
def apply(
    paths: Paths,
    credentials_dir: CredentialsDir = Path(".logway/credentials"),
    prune: Prune = False,
    delete_data: DeleteData = False,
    scope: Scope = ".*",
) -> None:
    """Validate tenant files, then make each valid tenant real: its raw, processed and DLQ
    topics, their settings, its index template, its Kafka principal and ACLs (it may write only
    its raw topic and read only its DLQ), and its published version in _logway.tenants.

    Each tenant is accepted or rejected on its own: a rejected one (a claim taken, more than a
    platform ceiling LOGWAY_TENANT_MAX_* allows) is reported and left at its last good version
    while the others apply. Idempotent; nothing is deleted without --prune,
    and no topic holding data without --delete-data too. Exit 1 if any tenant was rejected or
    any change failed."""
    from topology.apply import apply as carry_out

    result, targets, changes = _load_and_plan(
        paths, credentials_dir, prune=prune, delete_data=delete_data, scope=scope
    )
    outcome = carry_out(targets, [t.tenant for t in result.tenants], changes)
    for change in outcome:
        typer.echo(_show(change))
    failed = sorted({c.tenant for c in outcome if c.result in ("failed", "skipped")})
    applied = [t.tenant.name for t in result.tenants if t.tenant.name not in failed]
    typer.echo(f"applied {len(applied)} tenant(s)")
    if failed:
        raise fail(f"not applied, left at their last good version: {', '.join(failed)}")
    if result.errors:
        raise typer.Exit(1)


@app.command("release")
def release(
    tenant: Annotated[str, typer.Argument(help="The tenant name to release.")],
) -> None:
    """Release a tenant name kept for the owner that removed it with its data kept, so another
    owner may declare it. That owner's reader key then reads the kept data
    (`logs-<tenant>.*`) and its topics: release only when that is meant, or delete the data
    instead (`logway apply --prune --delete-data`, or the resource's `logway.dev/delete-data`)."""
    from topology.reservations import release as release_name

    endpoints = server_endpoints()
    owner = release_name(endpoints.es.client(), tenant)
    if owner is None:
        raise fail(f"{tenant}: the name is not reserved; nothing to release", 1)
    typer.echo(f"{tenant}: released (it was kept for {owner}); its data goes to its next owner")
