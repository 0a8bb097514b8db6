"""The names of a route's generations, and when a rolled-over one starts."""

from datetime import UTC, datetime

import pytest

from logway.core.generations import (
    FIRST,
    ROLLOVER_LEAD,
    generation_index,
    next_start,
    read_generation,
)


@pytest.mark.parametrize(
    ("start", "name"),
    [
        (FIRST, "logs-acme.default-first"),  # every sink names a route's first one alike
        (datetime(2026, 11, 30, tzinfo=UTC), "logs-acme.default-2026.11.30"),  # as daily ones
        (datetime(2026, 11, 30, 7, 5, tzinfo=UTC), "logs-acme.default-2026.11.30-07.05"),
    ],
)
def test_a_generation_is_named_by_its_start(start: datetime, name: str) -> None:
    assert generation_index("acme", "default", start) == name
    assert read_generation(name, "acme") == ("default", start)


@pytest.mark.parametrize(
    "name",
    [
        "logs-acme-x.default-2026.11.30",  # a neighbour sharing the prefix
        "logs-acme.default-2026.13.01",  # not a day
        "logs-acme.default-2026.11.30-24.00",  # not a time
        "logs-acme.default-2026.11.30-7.05",
        "logs-acme.default",
        "logs-acme.default-firsts",
        "logs-acme.Default-2026.11.30",  # not a route name
        ".ds-logs-acme.default-2026.11.30",
    ],
)
def test_only_the_tenants_own_generations_are_read_as_such(name: str) -> None:
    assert read_generation(name, "acme") is None


def test_a_rolled_over_generation_starts_a_lead_later_on_the_minute() -> None:
    now = datetime(2026, 11, 30, 23, 55, 0, 1, tzinfo=UTC)
    start = next_start(now)
    assert start == datetime(2026, 12, 1, 0, 6, tzinfo=UTC)
    assert start - now >= ROLLOVER_LEAD
    assert next_start(datetime(2026, 11, 30, 23, 50, tzinfo=UTC)) == datetime(
        2026, 12, 1, tzinfo=UTC
    )
