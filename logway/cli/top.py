"""`logway top`: a live per-tenant view of the workers, from their metrics."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from logway.cli.apps import app
from logway.cli.common import fail


def _size(value: float | None) -> str:
    from logway.status import size_text

    return "-" if value is None else size_text(int(value))


def _table(rows: list[Any], unreachable: tuple[str, ...], sort: str, limit: int) -> Any:
    from rich.table import Table

    table = Table(title=f"logway top: per tenant, busiest by {sort} first (Ctrl-C stops)")
    for column in ("tenant", "in/s", "out/s", "dead/s", "lag", "throttled", "storage"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    for row in rows[:limit]:
        budget = f" of {_size(row.budget_bytes)}" if row.budget_bytes else ""
        table.add_row(
            row.tenant,
            f"{row.in_per_s:,.1f}",
            f"{row.out_per_s:,.1f}",
            f"{row.dead_per_s:,.1f}",
            f"{row.lag:,.0f}",
            f"{row.throttled:.2f}",
            _size(row.storage_bytes) + budget,
        )
    hidden = f"; {len(rows) - limit} more tenants" if len(rows) > limit else ""
    silent = f"; not answering: {', '.join(unreachable)}" if unreachable else ""
    table.caption = f"{len(rows)} tenants{hidden}{silent}"
    return table


@app.command("top")
def top(
    *,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            help="A worker's /metrics URL (repeatable); the processor's, the sink's and the "
            "retention worker's on this host when not given."
        ),
    ] = None,
    sort: Annotated[
        str, typer.Option(help="in, out, dead, lag, throttled, storage or tenant.")
    ] = "in",
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    rows: Annotated[int, typer.Option(min=1, help="Show at most this many tenants.")] = 40,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many refreshes.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table (redrawn in place) or json (one per refresh).")
    ] = "table",
) -> None:
    """Show, per tenant, what the workers do now, busiest first, redrawn in place: records
    in and out per second, dead letters per second, lag, the share of time throttled for its
    `records_per_s`, and storage against its budget.

    It reads the workers' /metrics, the same figures the alerts use, every `--interval`; in a
    cluster, point `--metrics` at each worker pod (or port-forward them).

    Example: logway top --sort dead --metrics http://processor-0:9641/metrics
    """
    import time

    from rich.console import Console
    from rich.live import Live

    from logway.top import DEFAULT_SOURCES, SORT_KEYS, compare, scrape

    if sort not in SORT_KEYS:
        raise fail(f"--sort {sort}: one of {', '.join(SORT_KEYS)}", 2)
    if output not in ("table", "json"):
        raise fail(f"--format {output}: table or json", 2)
    sources = metrics or list(DEFAULT_SOURCES)
    try:
        before = scrape(sources)
    except ValueError as exc:
        raise fail(f"--metrics {exc}", 2) from None
    if len(before.unreachable) == len(sources):
        raise fail(f"no worker answers at {', '.join(sources)}: are they running? (--metrics)")
    refreshes = 0

    def refreshed() -> tuple[list[Any], tuple[str, ...]]:
        nonlocal before, refreshes
        time.sleep(interval)
        after = scrape(sources)
        found = compare(before, after, sort)
        before, refreshes = after, refreshes + 1
        return found, after.unreachable

    try:
        if output == "json":  # one object a line, never wrapped
            while count is None or refreshes < count:
                found, _silent = refreshed()
                typer.echo(json.dumps({"tenants": [row.as_json() for row in found]}))
            return
        console = Console()
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while count is None or refreshes < count:
                found, silent = refreshed()
                table = _table(found, silent, sort, rows)
                if console.is_terminal:
                    live.update(table, refresh=True)
                else:
                    live.console.print(table)
    except KeyboardInterrupt:
        return
