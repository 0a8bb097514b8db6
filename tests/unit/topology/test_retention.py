"""Which of a tenant's generations retention and the size budget delete, and which routes roll
over (`topology.retention`)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from logway.core.generations import FIRST, ROLLOVER_LEAD, generation_index, read_generation
from topology.model import Storage
from topology.retention import Generation, plan_deletions, plan_rollovers

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 30, tzinfo=UTC)
BIG = 50 * 1024**3


def generations(
    *ages: float, size: int = 100, routes: tuple[str, ...] = ("default",), documents: int = 1
) -> list[Generation]:
    """One generation per route starting `age` days before today's midnight, oldest first."""
    found = []
    for age in sorted(ages, reverse=True):
        start = MIDNIGHT - timedelta(days=age)
        for route in routes:
            name = generation_index("acme", route, start)
            found.append(Generation(name, route, start, size, size // 2, documents))
    return found


def ages(deletions: list) -> list[float]:  # type: ignore[type-arg]
    return [(MIDNIGHT - d.index.start) / timedelta(days=1) for d in deletions]


def test_daily_indices_go_as_they_did_today_included() -> None:
    planned = plan_deletions(Storage(retention_days=3), generations(0, 1, 2, 3, 4), NOW)
    assert ages(planned) == [4, 3]
    assert {d.why for d in planned} == {"retention"}


def test_a_generation_goes_once_everything_in_it_is_older_than_the_retention() -> None:
    # Generations of 30 days: the one from 50 days ago holds days 50..20 back, so it stays.
    kept = generations(50, 20)
    assert plan_deletions(Storage(retention_days=30), kept, NOW) == []
    # The one from 62 days ago ended 32 days ago: everything in it is older than 30 days.
    planned = plan_deletions(Storage(retention_days=30), generations(62, 32, 2), NOW)
    assert ages(planned) == [62]


def test_over_the_budget_the_oldest_generations_go_but_never_one_still_written() -> None:
    found = generations(0, 1, 2, 3, size=1000, routes=("default", "errors"))  # 8 x 1000 bytes
    planned = plan_deletions(Storage(retention_days=30, max_bytes=4500), found, NOW)
    assert ages(planned) == [3, 3, 2, 2]  # 8000 -> 4000 bytes
    assert {d.why for d in planned} == {"budget"}
    small = Storage(retention_days=30, max_bytes=1024)
    assert plan_deletions(small, generations(0, size=5000), NOW) == []  # the newest: kept
    # Rolled over a moment ago: the successor has not started, the old one is still written.
    rolled = generations(20, size=5000)
    start = NOW + ROLLOVER_LEAD
    rolled.append(Generation(generation_index("acme", "default", start), "default", start, 0, 0, 0))
    assert plan_deletions(small, rolled, NOW) == []


def test_retention_first_then_the_budget_on_what_is_left() -> None:
    planned = plan_deletions(
        Storage(retention_days=2, max_bytes=1024), generations(0, 1, 5, size=600), NOW
    )
    assert [(age, d.why) for age, d in zip(ages(planned), planned, strict=True)] == [
        (5, "retention"),
        (1, "budget"),
    ]


def test_a_routes_newest_is_never_deleted() -> None:
    quiet = generations(400, documents=0)
    assert plan_deletions(Storage(retention_days=30), quiet, NOW) == []


def test_a_route_rolls_over_when_its_newest_is_as_old_as_the_retention() -> None:
    storage = Storage(retention_days=30)
    assert plan_rollovers("acme", storage, generations(29), NOW, BIG) == []
    (rollover,) = plan_rollovers("acme", storage, generations(60, 30), NOW, BIG)
    assert rollover.why == "age"
    assert rollover.after.name == "logs-acme.default-2026.10.31"
    assert rollover.index == generation_index("acme", "default", NOW + ROLLOVER_LEAD)


def test_a_route_rolls_over_by_size_and_not_when_nothing_was_written() -> None:
    storage = Storage(retention_days=30)
    (rollover,) = plan_rollovers("acme", storage, generations(1, size=4000), NOW, 2000)
    assert rollover.why == "size"
    empty = [replace(g, documents=0, written=False) for g in generations(31)]
    assert plan_rollovers("acme", storage, empty, NOW, BIG) == []
    # counted as none yet (not refreshed) but indexed into: written
    unrefreshed = [replace(g, documents=0) for g in generations(31)]
    assert len(plan_rollovers("acme", storage, unrefreshed, NOW, BIG)) == 1


def test_with_a_budget_a_generation_rolls_over_at_a_quarter_of_it() -> None:
    budgeted = Storage(retention_days=30, max_bytes=40_000)
    (rollover,) = plan_rollovers("acme", budgeted, generations(1, size=20_000), NOW, BIG)
    assert rollover.why == "size"  # 10,000 bytes of primary: a quarter of the budget
    assert plan_rollovers("acme", budgeted, generations(1, size=19_000), NOW, BIG) == []


def test_a_first_generation_ages_from_its_making() -> None:
    storage = Storage(retention_days=30)
    first = Generation("logs-acme.default-first", "default", FIRST, 1, 1, 1, True, NOW)
    assert plan_rollovers("acme", storage, [first], NOW + timedelta(days=29), BIG) == []
    (rollover,) = plan_rollovers("acme", storage, [first], NOW + timedelta(days=30), BIG)
    assert rollover.why == "age"


def test_a_just_rolled_route_is_not_rolled_again() -> None:
    found = generations(40)
    start = NOW + ROLLOVER_LEAD
    found.append(Generation(generation_index("acme", "default", start), "default", start, 0, 0, 0))
    assert plan_rollovers("acme", Storage(retention_days=30), found, NOW, BIG) == []


def test_two_generations_per_route_over_a_year_of_rounds() -> None:
    """Age rollover and retention together, a round every 15 minutes: a route written every
    day holds at most two generations at any time, the round of a rollover included."""
    storage = Storage(retention_days=30)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found = [Generation(generation_index("acme", "default", start), "default", start, 1, 1, 1)]
    most = 0
    now = start
    while now < start + timedelta(days=365):
        now += timedelta(minutes=15)
        gone = {d.index.name for d in plan_deletions(storage, found, now)}
        found = [g for g in found if g.name not in gone]
        for rollover in plan_rollovers("acme", storage, found, now, BIG):
            _, when = read_generation(rollover.index, "acme") or ("", now)
            found.append(Generation(rollover.index, "default", when, 1, 1, 1))
        most = max(most, len(found))
    assert most == 2
