"""A route's indices over time: generations, each holding the documents from its start to the
next one's start.

A tenant's route writes into a series of indices `logs-<tenant>.<route>-<start>`:
- `first`: the route's first generation, from the beginning of time. Every sink names it alike
  without asking another, so two sinks seeing a new route's first records at once (around
  midnight, or replaying days of backlog) make one index, never two;
- `yyyy.mm.dd-hh.mm`: a generation a rollover started at that minute (UTC);
- `yyyy.mm.dd`: one starting at midnight: the daily indices of earlier releases are such
  generations, so they need no migration.

A document goes to the generation whose span holds its routing time (`routing_time`: its event
time, kept within a week before its arrival and never after it; the arrival is the raw record's
Kafka timestamp, which the broker sets: raw topics keep `LogAppendTime`). That time is the
record's own, so the same record goes to the same generation at every attempt: the newest
generation starting at or before it, or the oldest when it is older than all of them.

The set of a route's generations changes in three ways only:
- its `first` generation, which the sink makes for the route's first document;
- a rollover, which the retention worker makes when the newest generation is `retention_days`
  old, or big: the new generation starts ROLLOVER_LEAD after it is made, and every sink looks
  at the generations again at least every GENERATIONS_REFRESH_S (and holds its records when it
  has not managed to for VIEW_MAX_AGE_S), so all of them know it before the first record it is
  for arrives: a record sent again after a crash goes to the generation it went to the first
  time, where its `_id` keeps it one document;
- retention, which deletes a whole generation once the next one starts before the cutoff.

A route therefore holds about two generations over its retention, whatever the timestamps and
the calendar, and more only by volume.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from logway.core.names import ROUTE_NAME, TENANT_NAME, index_family

ROLLOVER_LEAD = timedelta(minutes=10)
GENERATIONS_REFRESH_S = 60.0  # well within ROLLOVER_LEAD, with room for a slow listing
# Past this, a sink's view may miss a rollover about to start: it holds its records instead.
VIEW_MAX_AGE_S = ROLLOVER_LEAD.total_seconds() - 2 * GENERATIONS_REFRESH_S
FIRST = datetime(1970, 1, 1, tzinfo=UTC)  # the start of every route's `first` generation
# How far before its arrival an event's own time may place it; further, its arrival does.
EVENT_BEFORE_ARRIVAL = timedelta(days=7)

GENERATION_RE = re.compile(
    rf"^logs-(?P<tenant>{TENANT_NAME})\.(?P<route>{ROUTE_NAME})-(?:(?P<first>first)|"
    r"(?P<day>\d{4}\.\d{2}\.\d{2})(?:-(?P<hour>\d{2})\.(?P<minute>\d{2}))?)$"
)


def generation_index(tenant: str, route: str, start: datetime) -> str:
    """`logs-<tenant>.<route>-first` for FIRST, `-yyyy.mm.dd` for a start at midnight UTC,
    else `-yyyy.mm.dd-hh.mm`."""
    start = start.astimezone(UTC)
    if start == FIRST:
        return f"{index_family(tenant, route)}-first"
    name = f"{index_family(tenant, route)}-{start:%Y.%m.%d}"
    return name if start.time() == time() else f"{name}-{start:%H.%M}"


def parse_generation(name: str) -> tuple[str, str, datetime] | None:
    """(tenant, route, start) of a generation's index name, else None."""
    found = GENERATION_RE.match(name)
    if found is None:
        return None
    if found["first"]:
        return found["tenant"], found["route"], FIRST
    try:
        year, month, day = (int(part) for part in found["day"].split("."))
        hour, minute = int(found["hour"] or 0), int(found["minute"] or 0)
        start = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None
    return found["tenant"], found["route"], start


def read_generation(name: str, tenant: str) -> tuple[str, datetime] | None:
    """(route, start) of `name` if it is one of `tenant`'s generations, else None."""
    parsed = parse_generation(name)
    if parsed is None or parsed[0] != tenant:
        return None
    return parsed[1], parsed[2]


def routing_time(event: datetime | None, arrival: datetime) -> datetime:
    """The time that places a document: its event time within a week before its arrival,
    else its arrival. Never after the arrival, so that no record arriving before a rollover's
    start can belong to the generation it starts."""
    if event is None or not (arrival - EVENT_BEFORE_ARRIVAL <= event <= arrival):
        return arrival
    return event


def choose(starts: Sequence[datetime], when: datetime) -> datetime:
    """Of a route's generation starts (oldest first, not empty), the one `when` belongs to."""
    return starts[max(bisect_right(starts, when) - 1, 0)]


def next_start(now: datetime) -> datetime:
    """The start of a generation rolled over at `now`: ROLLOVER_LEAD later, on the minute."""
    later = (now + ROLLOVER_LEAD).astimezone(UTC)
    whole = later.replace(second=0, microsecond=0)
    return whole if whole == later else whole + timedelta(minutes=1)
