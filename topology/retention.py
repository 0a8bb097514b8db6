"""Storage per tenant: how much its daily indices hold, and which of them to delete.

A tenant's documents live in daily indices `logs-<tenant>.<route>-<yyyy.mm.dd>`. Retention
deletes whole daily indices, never documents inside one, and only indices whose name parses as
exactly this tenant's: `logs-acme.*` cannot match `logs-acme-x.*` (tenant names hold no '.'),
and each name is read again before it is deleted. Indices are deleted by their exact names, so
no wildcard reaches Elasticsearch's delete API.

- `storage.retention_days`: a day older than that many days (today is day 1) is deleted;
- `storage.max_bytes`: while the tenant's indices hold more (on disk, replicas included), its
  oldest day is deleted, all routes together; today's indices are never deleted.

This works on any Elasticsearch logway supports, without ILM or data streams (the integ-test
distribution has neither), and is what the tests run against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from elasticsearch import Elasticsearch

from logway.core.names import index_pattern
from topology.model import Storage

DAILY = re.compile(
    r"^logs-(?P<tenant>[a-z][a-z0-9-]*)\.(?P<route>.+)-(?P<day>\d{4}\.\d{2}\.\d{2})$"
)
Why = Literal["retention", "budget"]


@dataclass(frozen=True)
class DailyIndex:
    name: str
    route: str
    day: date
    bytes: int
    documents: int


@dataclass(frozen=True)
class Deletion:
    index: DailyIndex
    why: Why

    def __str__(self) -> str:
        return f"{self.index.name} ({self.index.bytes} bytes, {self.why})"


def read_daily(name: str, tenant: str) -> tuple[str, date] | None:
    """(route, day) of `name` if it is one of `tenant`'s daily indices, else None."""
    found = DAILY.match(name)
    if found is None or found["tenant"] != tenant:
        return None
    try:
        year, month, day = (int(part) for part in found["day"].split("."))
        return found["route"], date(year, month, day)
    except ValueError:
        return None


def tenant_indices(es: Elasticsearch, tenant: str) -> list[DailyIndex]:
    """The tenant's daily indices, oldest day first."""
    rows: Any = es.cat.indices(
        index=index_pattern(tenant), bytes="b", format="json", h="index,store.size,docs.count"
    )
    found = []
    for row in rows:
        name = str(row["index"])
        parsed = read_daily(name, tenant)
        if parsed is None:
            continue
        route, day = parsed
        found.append(
            DailyIndex(
                name, route, day, int(row.get("store.size") or 0), int(row.get("docs.count") or 0)
            )
        )
    return sorted(found, key=lambda index: (index.day, index.name))


def plan_deletions(storage: Storage, indices: list[DailyIndex], today: date) -> list[Deletion]:
    """What retention and the budget delete of `indices` (oldest first)."""
    cutoff = today - timedelta(days=storage.retention_days - 1)
    deletions = [Deletion(index, "retention") for index in indices if index.day < cutoff]
    if storage.max_bytes is None:
        return deletions
    kept = [index for index in indices if index.day >= cutoff]
    total = sum(index.bytes for index in kept)
    for day in sorted({index.day for index in kept}):
        if total <= storage.max_bytes or day >= today:
            break
        for index in (i for i in kept if i.day == day):
            deletions.append(Deletion(index, "budget"))
            total -= index.bytes
    return deletions


def delete(es: Elasticsearch, tenant: str, deletion: Deletion) -> None:
    """Delete one daily index of `tenant`, by its exact name, after reading the name again."""
    if read_daily(deletion.index.name, tenant) is None:
        raise ValueError(f"{deletion.index.name} is not one of {tenant}'s daily indices")
    es.options(ignore_status=404).indices.delete(index=deletion.index.name)


@dataclass(frozen=True)
class TenantStorage:
    """One tenant's indices as found, and what retention and the budget delete of them."""

    tenant: str
    storage: Storage
    indices: list[DailyIndex]
    deletions: list[Deletion]

    @property
    def bytes(self) -> int:
        return sum(index.bytes for index in self.indices)

    @property
    def documents(self) -> int:
        return sum(index.documents for index in self.indices)

    @property
    def oldest(self) -> date | None:
        return self.indices[0].day if self.indices else None


def survey(es: Elasticsearch, tenant: str, storage: Storage, today: date) -> TenantStorage:
    indices = tenant_indices(es, tenant)
    return TenantStorage(tenant, storage, indices, plan_deletions(storage, indices, today))
