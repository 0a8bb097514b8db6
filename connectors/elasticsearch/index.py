"""Which index a document goes to: the generation of its tenant's route that holds its routing
time (`logway.core.generations` has the rule and why it keeps a record resent after a crash in
the index it went to the first time)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from logway.core.document import BLOCK
from logway.core.generations import (
    FIRST,
    GENERATIONS_REFRESH_S,
    VIEW_MAX_AGE_S,
    choose,
    generation_index,
    parse_generation,
    routing_time,
)
from logway.core.names import DEFAULT_ROUTE, ROUTE_NAME_RE

log = logging.getLogger("logway.sink")
Family = tuple[str, str]  # (tenant, route)
RETRY_LOOK_S = 1.0

# The name's formatting was 8% of the sink's time under load; a batch's records share a few.
_index_name = lru_cache(maxsize=4096)(generation_index)


class Generations:
    """The sink's view of every route's generations: one listing of `logs-*`, taken again
    every GENERATIONS_REFRESH_S, and the `first` generations this sink makes as it makes them
    (by sending a route's first document; the tenant's template gives the index its settings).

    Without Elasticsearch to look at (`es` None), every route starts with the first
    generation its first document names.

    The first generations it names are kept until `made()` takes them: once its bulk request
    has made them, the sink refreshes them at once, so that a new tenant's (or route's) first
    lines are searchable when indexed, not up to a refresh interval (1 s) later. Only a
    route's first index costs that request (again after a listing taken while its bulk was
    in flight, or by a second sink: at most once per route per listing per sink); every later
    write waits for the interval. Best effort: a first document parked (the cluster cannot
    make the index now) or retried is left to the interval."""

    def __init__(
        self, es: Elasticsearch | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._es = es
        self._clock = clock
        self._starts: dict[Family, list[datetime]] = {}
        self._looked: float | None = None
        self._failed: float | None = None
        self._made: set[str] = set()

    def refresh(self) -> bool:
        """Look at the generations again when the last look is GENERATIONS_REFRESH_S old;
        True while the view is fresh enough to place documents by. A failed look is tried
        again a second later; a view that has not been renewed for VIEW_MAX_AGE_S (or was
        never taken) places nothing, as it may miss a rollover about to start, so that no
        record is put in an index other than the one the generations there are choose."""
        now = self._clock()
        if self._es is None:
            return True
        fresh = self._looked is not None and now - self._looked < VIEW_MAX_AGE_S
        due = self._looked is None or now - self._looked >= GENERATIONS_REFRESH_S
        if not due or (self._failed is not None and now - self._failed < RETRY_LOOK_S):
            return fresh
        try:  # the cluster state's names only, not every index's statistics
            found: Any = self._es.indices.resolve_index(name="logs-*", expand_wildcards="all")
        except (ApiError, TransportError) as exc:
            self._failed = now
            log.warning("could not list the routes' indices (tried again in 1 s): %s", exc)
            return fresh
        self.see(str(index["name"]) for index in found.get("indices", []))
        self._looked, self._failed = now, None
        return True

    def see(self, names: Iterable[str]) -> None:
        """Take `names` (every index under `logs-*`) as the generations there are."""
        starts: dict[Family, list[datetime]] = {}
        for name in names:
            parsed = parse_generation(name)
            if parsed is not None:
                tenant, route, start = parsed
                starts.setdefault((tenant, route), []).append(start)
        for family_starts in starts.values():
            family_starts.sort()
        self._starts = starts

    def index(self, tenant: str, document: dict[str, Any], now: datetime) -> str:
        """The index of `document`, a record of `tenant` read at `now`.

        The route is the one the processor chose (`logway.route`); a name that is not a route
        name falls back to the default route, so no record can make an index outside the
        tenant's template. The arrival is `logway.received_at` (the raw record's Kafka
        timestamp, the broker's), `now` only for a record without one.
        """
        meta = document.get(BLOCK)
        meta = meta if isinstance(meta, dict) else {}
        route = meta.get("route")
        if not isinstance(route, str) or not ROUTE_NAME_RE.match(route):
            route = DEFAULT_ROUTE
        arrival = _moment(meta.get("received_at")) or now
        when = routing_time(_moment(document.get("@timestamp")), arrival)
        starts = self._starts.get((tenant, route))
        if not starts:  # the route's first generation: named alike by every sink
            self._starts[(tenant, route)] = [FIRST]
            first = _index_name(tenant, route, FIRST)
            self._made.add(first)
            return first
        return _index_name(tenant, route, choose(starts, when))

    def made(self) -> list[str]:
        """The first generations named since the last call (each once), to refresh."""
        made, self._made = sorted(self._made), set()
        return made

    def starts(self, tenant: str, route: str) -> list[datetime]:
        """The generation starts known for a route, oldest first."""
        return list(self._starts.get((tenant, route), []))


def _moment(value: object) -> datetime | None:
    """A document's time: RFC 3339 text (UTC when it names no zone) or epoch milliseconds."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
