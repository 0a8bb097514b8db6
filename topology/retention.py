"""Storage per tenant: the generations its routes' indices hold, which of them to delete, and
which routes to roll over to a new generation (`logway.core.generations` has the rule that
places documents in generations).

Retention deletes whole generations, never documents inside one, and only indices whose name
parses as exactly this tenant's: `logs-acme.*` cannot match `logs-acme-x.*` (tenant names hold
no '.'), and each name is read again before it is deleted. Indices are deleted by their exact
names, so no wildcard reaches Elasticsearch's delete API.

- `storage.retention_days`: a generation is deleted once the next generation of its route
  started before the cutoff (midnight `retention_days - 1` days before today; today is day 1),
  that is once everything in it is older than that. A document is kept at least
  `retention_days` and at most about twice that (one generation's span);
- `storage.max_bytes`: while the tenant's indices hold more (on disk, replicas included), its
  oldest generation whose successor has started is deleted, whatever its route; an index still
  written never is (`LogwayTenantStorageNearBudget` warns before). With a budget, a generation
  is rolled over at a quarter of it, so that what the budget deletes is a bounded slice;
- rollover: a route's newest generation that is `retention_days` old, or holds
  `generation_max_bytes` (or a quarter of the budget) in its primary shard, gets a successor,
  starting ROLLOVER_LEAD after it is made. So a route holds two generations over its
  retention, and more only by volume.

A route's newest generation is never deleted: a route the tenant no longer writes keeps one
(empty, once rolled over) until the tenant is pruned with its data. Rolling back to a release
that knows only daily indices is not safe: it reads a generation's name as one day.

This works on any Elasticsearch logway supports, without ILM or data streams (the integ-test
distribution has neither), and is what the tests run against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch

from logway.core.generations import FIRST, generation_index, next_start, read_generation
from logway.core.names import index_pattern
from topology.model import Storage

Why = Literal["retention", "budget"]
RollWhy = Literal["age", "size"]


@dataclass(frozen=True)
class Generation:
    name: str
    route: str
    start: datetime
    bytes: int  # on disk, replicas included
    primary_bytes: int
    documents: int
    written: bool = True  # any document in it: counted, or indexed since its shard started
    created: datetime | None = None  # when Elasticsearch made it

    @property
    def age_from(self) -> datetime:
        """Where its age counts from: its start, or its making for a `first` generation."""
        return self.created if self.start == FIRST and self.created else self.start


@dataclass(frozen=True)
class Deletion:
    index: Generation
    why: Why

    def __str__(self) -> str:
        return f"{self.index.name} ({self.index.bytes} bytes, {self.why})"


@dataclass(frozen=True)
class Rollover:
    """A route's next generation: `index`, after its newest one, `after`."""

    index: str
    after: Generation
    why: RollWhy

    def __str__(self) -> str:
        return f"{self.index} after {self.after.name} ({self.why})"


def tenant_generations(es: Elasticsearch, tenant: str) -> list[Generation]:
    """The tenant's generations, oldest start first."""
    rows: Any = es.cat.indices(
        index=index_pattern(tenant),
        bytes="b",
        format="json",
        h="index,store.size,pri.store.size,docs.count,pri.indexing.index_total,creation.date",
        expand_wildcards="all",
    )
    found = []
    for row in rows:
        name = str(row["index"])
        parsed = read_generation(name, tenant)
        if parsed is None:
            continue
        route, start = parsed
        documents = int(row.get("docs.count") or 0)  # refreshed documents only
        indexed = int(row.get("pri.indexing.index_total") or 0)
        made = row.get("creation.date")
        created = datetime.fromtimestamp(int(made) / 1000, UTC) if made else None
        found.append(
            Generation(
                name,
                route,
                start,
                int(row.get("store.size") or 0),
                int(row.get("pri.store.size") or 0),
                documents,
                documents > 0 or indexed > 0,
                created,
            )
        )
    return sorted(found, key=lambda index: (index.start, index.name))


def _newest(generations: list[Generation]) -> dict[str, Generation]:
    """Each route's newest generation."""
    newest: dict[str, Generation] = {}
    for generation in generations:  # oldest first: the last one of a route wins
        newest[generation.route] = generation
    return newest


def _cutoff(storage: Storage, now: datetime) -> datetime:
    day = now.astimezone(UTC).date() - timedelta(days=storage.retention_days - 1)
    return datetime.combine(day, time(), tzinfo=UTC)


def plan_deletions(
    storage: Storage, generations: list[Generation], now: datetime
) -> list[Deletion]:
    """What retention and the budget delete of `generations` (oldest first)."""
    cutoff = _cutoff(storage, now)
    following: dict[str, datetime] = {}  # name -> the start of the next one of its route
    last: dict[str, Generation] = {}
    for generation in generations:
        before = last.get(generation.route)
        if before is not None:
            following[before.name] = generation.start
        last[generation.route] = generation

    def expired(generation: Generation) -> bool:
        return generation.name in following and following[generation.name] <= cutoff

    deletions = [Deletion(g, "retention") for g in generations if expired(g)]
    if storage.max_bytes is None:
        return deletions
    kept = [g for g in generations if not expired(g)]
    total = sum(g.bytes for g in kept)
    for generation in kept:
        if total <= storage.max_bytes:
            break
        if generation.name in following and following[generation.name] <= now:
            deletions.append(Deletion(generation, "budget"))
            total -= generation.bytes
    return deletions


def plan_rollovers(
    tenant: str,
    storage: Storage,
    generations: list[Generation],
    now: datetime,
    generation_max_bytes: int,
) -> list[Rollover]:
    """The routes whose newest generation is `retention_days` old, or big (its primary shard
    at `generation_max_bytes`, or a quarter of the budget), with something written in it, and
    the name of the generation that follows. A route whose newest has not started yet (rolled
    over a moment ago) is not rolled again."""
    biggest = generation_max_bytes
    if storage.max_bytes is not None:
        biggest = min(biggest, max(storage.max_bytes // 4, 1))
    rollovers = []
    for route, newest in sorted(_newest(generations).items()):
        if not newest.written or newest.start > now:
            continue
        if now - newest.age_from >= timedelta(days=storage.retention_days):
            why: RollWhy = "age"
        elif newest.primary_bytes >= biggest:
            why = "size"
        else:
            continue
        rollovers.append(Rollover(generation_index(tenant, route, next_start(now)), newest, why))
    return rollovers


def delete(es: Elasticsearch, tenant: str, deletion: Deletion) -> None:
    """Delete one generation of `tenant`, by its exact name, after reading the name again."""
    if read_generation(deletion.index.name, tenant) is None:
        raise ValueError(f"{deletion.index.name} is not one of {tenant}'s indices")
    es.options(ignore_status=404).indices.delete(index=deletion.index.name)


def roll_over(es: Elasticsearch, tenant: str, rollover: Rollover) -> tuple[str, str | None]:
    """Make the route's next generation (the tenant's template gives its settings), named by
    the clock at this moment, so that it starts ROLLOVER_LEAD from now however long the round
    took. Returns its name, and why Elasticsearch refused it (the shard limit, a block) or
    None: refused, the route goes on in its newest generation and the next round tries again."""
    start = next_start(datetime.now(UTC))
    index = generation_index(tenant, rollover.after.route, start)
    if read_generation(index, tenant) is None:
        raise ValueError(f"{index} is not one of {tenant}'s indices")
    try:
        es.indices.create(index=index)
    except ApiError as exc:
        if _error_type(exc) != "resource_already_exists_exception":
            return index, f"{_error_type(exc) or exc.meta.status}: {exc.message}"
    return index, None


def _error_type(exc: ApiError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    return str(error.get("type")) if isinstance(error, dict) else None


@dataclass(frozen=True)
class TenantStorage:
    """One tenant's generations as found, what retention and the budget delete of them, and
    the routes to roll over."""

    tenant: str
    storage: Storage
    indices: list[Generation]
    deletions: list[Deletion]
    rollovers: list[Rollover]

    @property
    def bytes(self) -> int:
        return sum(index.bytes for index in self.indices)

    @property
    def documents(self) -> int:
        return sum(index.documents for index in self.indices)

    @property
    def oldest(self) -> datetime | None:
        return self.indices[0].start if self.indices else None


def survey(
    es: Elasticsearch, tenant: str, storage: Storage, now: datetime, generation_max_bytes: int
) -> TenantStorage:
    found = tenant_generations(es, tenant)
    deletions = plan_deletions(storage, found, now)
    gone = {deletion.index.name for deletion in deletions}
    rollovers = plan_rollovers(
        tenant, storage, [g for g in found if g.name not in gone], now, generation_max_bytes
    )
    return TenantStorage(tenant, storage, found, deletions, rollovers)
