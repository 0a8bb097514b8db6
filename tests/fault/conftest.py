"""The ledger table of the fault scenarios: every scenario appends its row to `LEDGER`;
`make chaos` (LOGWAY_CHAOS_LEDGER=1) writes them to bench/results/chaos-<date>-<commit>.json
and prints them as a table at the end of the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bench.common import write_result

LEDGER: list[dict[str, Any]] = []


@pytest.fixture(scope="session", autouse=True)
def ledger_table() -> Iterator[None]:
    yield
    if LEDGER and os.environ.get("LOGWAY_CHAOS_LEDGER"):
        _result, path = write_result("chaos-", {"scenarios": LEDGER})
        print(f"\nledger written to {path}\n" + ledger_markdown(LEDGER))


def ledger_markdown(rows: list[dict[str, Any]]) -> str:
    columns = ["scenario", "sent", "acked", "indexed", "dlq", "duplicates", "lost"]
    lines = [
        "| " + " | ".join([*columns, "resent chunks", "recovery s"]) + " |",
        "|" + " --- |" * (len(columns) + 2),
    ]
    for row in rows:
        cells = [str(row[c]) for c in columns]
        cells += [str(row.get("resent_chunks", "-")), str(row.get("recovery_s", "-"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
