"""Which of a tenant's daily indices retention and the size budget delete."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from topology.model import Storage
from topology.retention import DailyIndex, plan_deletions, read_daily

TODAY = date(2026, 11, 30)


def days(*ages: int, size: int = 100, routes: tuple[str, ...] = ("default",)) -> list[DailyIndex]:
    found = []
    for age in sorted(ages, reverse=True):
        day = TODAY - timedelta(days=age)
        for route in routes:
            found.append(DailyIndex(f"logs-acme.{route}-{day:%Y.%m.%d}", route, day, size, 1))
    return found


def ages(deletions: list) -> list[int]:  # type: ignore[type-arg]
    return [(TODAY - d.index.day).days for d in deletions]


def test_retention_keeps_that_many_days_today_included() -> None:
    planned = plan_deletions(Storage(retention_days=3), days(0, 1, 2, 3, 4), TODAY)
    assert ages(planned) == [4, 3]
    assert {d.why for d in planned} == {"retention"}


def test_over_the_budget_the_oldest_days_go_all_routes_together_but_never_today() -> None:
    indices = days(0, 1, 2, 3, size=1000, routes=("default", "errors"))  # 8 x 1000 bytes
    planned = plan_deletions(Storage(retention_days=30, max_bytes=4500), indices, TODAY)
    assert ages(planned) == [3, 3, 2, 2]  # 8000 -> 4000 bytes: two whole days
    assert {d.why for d in planned} == {"budget"}
    everything = plan_deletions(
        Storage(retention_days=30, max_bytes=1024), days(0, size=5000), TODAY
    )
    assert everything == []  # today alone over the budget: kept (the alert says so)


def test_retention_first_then_the_budget_on_what_is_left() -> None:
    planned = plan_deletions(
        Storage(retention_days=2, max_bytes=1024), days(0, 1, 5, size=600), TODAY
    )
    assert [(age, d.why) for age, d in zip(ages(planned), planned, strict=True)] == [
        (5, "retention"),
        (1, "budget"),
    ]


@pytest.mark.parametrize(
    ("name", "tenant", "expected"),
    [
        ("logs-acme.default-2026.11.30", "acme", ("default", date(2026, 11, 30))),
        ("logs-acme.slow-path-2026.11.30", "acme", ("slow-path", date(2026, 11, 30))),
        ("logs-acme-x.default-2026.11.30", "acme", None),  # a neighbour sharing the prefix
        ("logs-acme.default-2026.13.01", "acme", None),  # not a day
        ("logs-acme.default", "acme", None),
        (".ds-logs-acme.default-2026.11.30", "acme", None),
    ],
)
def test_only_the_tenants_own_daily_indices_are_read_as_such(
    name: str, tenant: str, expected: tuple[str, date] | None
) -> None:
    assert read_daily(name, tenant) == expected
