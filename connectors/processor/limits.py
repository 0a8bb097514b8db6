"""Each tenant's `limits.records_per_s`, held for all the processor processes together.

No process talks to another about rates. The group already shares every raw topic's partitions
out, so a process takes a tenant's records at the limit times its part of that tenant's
partitions (2 of 6: a third of the limit). The shares add up to the limit however many
processes run, and follow each rebalance. A tenant whose records all go to one partition is
held to that partition's share: the limit is a ceiling, never exceeded, but an uneven tenant
may get less than it.

What is over the share (`limits.over_limit`):
- `delay`: the records of a fetched batch over the tenant's tokens are set aside, unacked
  (so their offsets are not committed), and the tenant's partitions are paused: Faust
  fetches nothing more of them, and Kafka holds the rest. As tokens come back the records set
  aside are processed, in order, and when none are left the partitions resume. Counted in
  `logway_throttled_seconds_total`, and visible as consumer lag. A paused tenant's backlog
  costs the others nothing: no fetch, no processing.
- `drop`: records over the share are dropped before processing, counted as dropped with
  reason `rate_limited`, and their offsets committed.

A bucket holds one second's worth: a quiet tenant may send that much at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from logway.core.metrics import THROTTLED_SECONDS
from logway.core.names import tenant_of_topic
from topology.model import Limits, OverLimit

log = logging.getLogger("logway.processor")


@dataclass
class Bucket:
    """Tokens for one tenant in this process: `rate` a second, up to one second's worth, in
    debt after a batch that took more than there were."""

    rate: float
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now


@dataclass
class Paused:
    partitions: set[Any]
    since: float
    throttled: bool = True  # for the tenant's rate (counted); else its tenant is unpublished


class TenantLimits:
    """The buckets of the tenants this process consumes, and the partitions it paused.

    `limit_of(tenant)` gives the tenant's live limit; `pause` and `resume` take sets of Faust
    TPs. Called from the worker's event loop only.
    """

    def __init__(
        self,
        limit_of: Callable[[str], Limits],
        pause: Callable[[set[Any]], None],
        resume: Callable[[set[Any]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_of = limit_of
        self.pause, self.resume = pause, resume
        self.clock = clock
        self._share: dict[str, float] = {}  # tenant -> part of its partitions assigned here
        self._mine: dict[str, set[Any]] = {}  # tenant -> its partitions assigned here
        self._buckets: dict[str, Bucket] = {}
        self._paused: dict[str, Paused] = {}

    def assigned(self, partitions: Iterable[Any], count: Callable[[str], int | None]) -> None:
        """A rebalance gave this process `partitions`; `count(topic)` is a topic's partition
        count (None when unknown: the whole limit). Faust resumes every assigned partition
        after a rebalance, and the records set aside were forgotten with the revocation, so
        nothing is held any more."""
        now = self.clock()
        for tenant, paused in self._paused.items():
            self._count_throttled(tenant, paused, now)
        self._paused.clear()
        mine: dict[str, set[Any]] = {}
        for tp in partitions:
            if (owner := tenant_of_topic(tp.topic)) is not None:
                mine.setdefault(owner, set()).add(tp)
        self._mine = mine
        self._share = {}
        for tenant, tps in mine.items():
            total = count(next(iter(tps)).topic)
            self._share[tenant] = min(1.0, len(tps) / total) if total else 1.0
            log.debug(
                "limits: %d of %s partition(s) of %s here: %.0f records/s of its %d",
                len(tps), total or "?", tenant,
                self._share[tenant] * self.limit_of(tenant).records_per_s,
                self.limit_of(tenant).records_per_s,
            )  # fmt: skip
        log.info(
            "limits: this processor's share set for %d tenant(s), from %d partition(s)",
            len(mine), sum(len(tps) for tps in mine.values()),
        )  # fmt: skip

    def _bucket(self, tenant: str, now: float) -> Bucket:
        limit = self.limit_of(tenant)
        rate = limit.records_per_s * self._share.get(tenant, 1.0)
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = Bucket(rate, rate, now)
        elif bucket.rate != rate:  # a new limit, or a new share after a rebalance
            bucket.refill(now)
            bucket.rate = rate
            bucket.tokens = min(bucket.tokens, rate)
        bucket.refill(now)
        return bucket

    def policy(self, tenant: str) -> OverLimit:
        return self.limit_of(tenant).over_limit

    def admit(self, tenant: str) -> bool:
        """One record: True to process it now, False when it is over the limit."""
        bucket = self._bucket(tenant, self.clock())
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        return False

    def ready(self, tenant: str) -> bool:
        """Whether the tenant may have a record processed again."""
        return self._bucket(tenant, self.clock()).tokens >= 1

    def hold(self, tenant: str, *, throttled: bool = True) -> None:
        """Pause the tenant's partitions here (once): it has records waiting for its rate, or
        (`throttled` False, not counted as throttled time) for its tenant to be published."""
        if tenant in self._paused:
            return
        partitions = set(self._mine.get(tenant, ()))
        self._paused[tenant] = Paused(partitions, self.clock(), throttled)
        if partitions:
            self.pause(partitions)

    def release(self, tenant: str) -> None:
        """Resume the tenant's partitions: nothing of it waits any more."""
        paused = self._paused.pop(tenant, None)
        if paused is not None:
            self._count_throttled(tenant, paused, self.clock())
            if paused.partitions:
                self.resume(paused.partitions)

    def held(self) -> set[str]:
        return set(self._paused)

    @staticmethod
    def _count_throttled(tenant: str, paused: Paused, now: float) -> None:
        if not paused.throttled:
            return
        THROTTLED_SECONDS.labels(component="processor", tenant=tenant).inc(now - paused.since)
