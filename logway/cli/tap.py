"""`logway tap`: a live tail of one tenant's records."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from logway.cli.apps import app
from logway.cli.common import fail, server_endpoints


@app.command("tap")
def tap(
    tenant: Annotated[str, typer.Argument(help="The tenant whose records to show.")],
    *,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            "-s",
            help="raw, processed or dlq (repeatable); all three when not given.",
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(help="Only records matching this condition, e.g. 'level == \"error\"'."),
    ] = None,
    sample: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Show each matching record with this chance."),
    ] = 1.0,
    last: Annotated[
        int,
        typer.Option(min=0, help="Start this many records before the end of each partition."),
    ] = 0,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after showing this many records.")
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop after this many seconds of reading."),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="text (one line each) or json (one object each).")
    ] = "text",
) -> None:
    """Show a tenant's records as they pass: as they arrive (`raw`), as its pipeline left
    them with their route (`processed`), and as they failed with the step and the reason
    (`dlq`). Until Ctrl-C, `--count` or `--seconds`. What it reads, and from where, goes to
    stderr first.

    Reading never disturbs the pipeline: partitions are assigned by hand under a group that
    never joins and never commits. With the tenant's own Kafka login (its SCRAM user) a team
    taps its dead letters; `raw` and `processed` need the platform's login.

    `--where` takes the condition language of `when:` and sees the record's JSON object (a raw
    line that is not one as `log`; a dead letter's `reason`, `step`, `error`, `original`).

    Example: logway tap checkout --stage processed --where 'level == "error"' --sample 0.1
    """
    from logway.tap import STAGES, Stage, Tap, TapError
    from streams.conditions import ConditionError, compile_condition

    chosen: list[Stage] = []
    for name in stage or list(STAGES):
        if name not in STAGES:
            raise fail(f"--stage {name}: one of {', '.join(STAGES)}", 2)
        chosen.append(name)
    if output not in ("text", "json"):
        raise fail(f"--format {output}: text or json", 2)
    try:
        condition = compile_condition(where) if where else None
    except ConditionError as exc:
        raise fail(f"--where: {exc}", 2) from None
    tapping = Tap(tenant, chosen, condition, sample, last)
    ends: list[float] = []  # when --seconds is up, counted from the first read

    def assigned(partitions: list[Any]) -> None:
        if seconds is not None:
            ends.append(time.monotonic() + seconds)
        topics = sorted({p.topic for p in partitions})
        where_from = f"{last} record(s) before the end" if last else "the end"
        typer.echo(
            f"tapping {', '.join(topics)} ({len(partitions)} partitions) from {where_from}; "
            "Ctrl-C stops",
            err=True,
        )

    shown = 0
    try:
        for record in tapping.records(
            server_endpoints().kafka,
            until=lambda: bool(ends) and time.monotonic() >= ends[0],
            assigned=assigned,
        ):
            typer.echo(json.dumps(record.as_json()) if output == "json" else record.line())
            shown += 1
            if count is not None and shown >= count:
                return
    except TapError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        return
