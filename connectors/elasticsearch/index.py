"""Which index a document goes to: its tenant's route, on its day, within bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from logway.core.document import BLOCK
from logway.core.names import DEFAULT_ROUTE, ROUTE_NAME_RE, index_name

# How far from its arrival an event's own day may place it (days before, days after). Further
# out, the arrival day does: a tenant cannot make an index per day of the calendar (each is a
# shard of the shared cluster) by sending records with far-flung timestamps.
EVENT_DAYS_BEFORE_ARRIVAL = 7
EVENT_DAYS_AFTER_ARRIVAL = 1


def document_index(tenant: str, document: dict[str, Any]) -> str:
    """The daily index of a document's route: the day of its `@timestamp`, when that is within
    a week before (or a day after) its arrival (`logway.received_at`); else of its arrival.

    The route is the one the processor chose (`logway.route`); a name that is not a route name
    falls back to the default route, so no record can create an index outside the tenant's
    templates.
    """
    meta = document.get(BLOCK)
    meta = meta if isinstance(meta, dict) else {}
    route = meta.get("route")
    if not isinstance(route, str) or not ROUTE_NAME_RE.match(route):
        route = DEFAULT_ROUTE
    received = meta.get("received_at")
    arrival = received[:10] if isinstance(received, str) else datetime.now(UTC).date().isoformat()
    stamp = document.get("@timestamp")
    event = stamp[:10] if isinstance(stamp, str) else _day_of(stamp)
    return _daily_index(tenant, event, arrival, route)


@lru_cache(maxsize=4096)
def _daily_index(tenant: str, event: str | date | None, arrival: str, route: str) -> str:
    """`index_name` of the day chosen from an event's day and its arrival day (ISO text);
    cached, as a batch's records share a few days (the name's date formatting was 8% of the
    sink's time under load)."""
    arrived = _day_of(arrival) or datetime.now(UTC).date()
    day = event if isinstance(event, date) else _day_of(event)
    if day is None or not (
        -EVENT_DAYS_BEFORE_ARRIVAL <= (day - arrived).days <= EVENT_DAYS_AFTER_ARRIVAL
    ):
        day = arrived
    return index_name(tenant, day, route)


def _day_of(value: object) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    return None
