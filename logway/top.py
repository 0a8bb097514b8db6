"""`logway top`: per tenant, what the workers do right now, from the metrics the alerts use.

Each refresh scrapes the workers' /metrics (by default those `logway run all` and the dev
runner's workers serve on this host: the processor's 9641, the sink's 9642, the retention
worker's 9646) and takes, per tenant:

- in/s: records the processors read from its raw topic (`logway_records_in_total`);
- out/s: records the sinks indexed (`logway_records_out_total{outcome="indexed"}`);
- dead/s: records dead-lettered, by any worker (`logway_dead_letters_total`);
- lag: records not yet committed by the processors' group and the sinks' group together
  (`logway_consumer_lag_records`, which each worker of a group reports for the whole group);
- throttled: the share of the time its partitions were paused for its `records_per_s`
  (`logway_throttled_seconds_total`; 1.0 is one partition paused all the time);
- storage: bytes in Elasticsearch against its budget (`logway_tenant_storage_bytes`,
  `logway_tenant_storage_budget_bytes`).

Rates are the counters' growth between two scrapes; a worker restarted in between (its
counters back at zero) counts from zero, never negative.
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

DEFAULT_SOURCES = (
    "http://127.0.0.1:9641/metrics",
    "http://127.0.0.1:9642/metrics",
    "http://127.0.0.1:9646/metrics",
)
SortKey = Literal["in", "out", "dead", "lag", "throttled", "storage", "tenant"]
SORT_KEYS: tuple[SortKey, ...] = ("in", "out", "dead", "lag", "throttled", "storage", "tenant")

Key = tuple[str, str]  # (figure, tenant)


@dataclass(frozen=True)
class Scrape:
    """Per-tenant sums of the figures' metrics over every source, at `taken` (monotonic)."""

    taken: float
    totals: Mapping[Key, float]
    unreachable: tuple[str, ...]


def _component_in(*names: str) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: labels.get("component") in names


# metric -> (the figure it feeds, which of its samples do)
FIGURES: dict[str, tuple[str, Callable[[Mapping[str, str]], bool]]] = {
    # every worker of a group reports the whole group's lag: the same figure, never added up
    "logway_consumer_lag_records": ("lag", _component_in("processor", "sink")),
    "logway_records_in_total": ("in", _component_in("processor")),
    "logway_records_out_total": (
        "out",
        lambda labels: labels.get("component") == "sink" and labels.get("outcome") == "indexed",
    ),
    "logway_dead_letters_total": ("dead", lambda _labels: True),
    "logway_throttled_seconds_total": ("throttled", lambda _labels: True),
    "logway_tenant_storage_bytes": ("storage", lambda _labels: True),
    "logway_tenant_storage_budget_bytes": ("budget", lambda _labels: True),
}


GAUGES = frozenset({"lag", "storage", "budget"})  # taken once, not summed over sources


def figure_of(name: str, labels: Mapping[str, str]) -> str | None:
    """Which figure a sample feeds, if any (the lag per component: `lag:processor`)."""
    found = FIGURES.get(name)
    if found is None or not found[1](labels):
        return None
    return f"lag:{labels['component']}" if found[0] == "lag" else found[0]


def read_metrics(text: str, into: dict[Key, float]) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            tenant = sample.labels.get("tenant")
            figure = figure_of(sample.name, sample.labels)
            if not tenant or not figure:
                continue
            key = (figure, tenant)
            if figure.split(":")[0] in GAUGES:
                into[key] = max(into.get(key, sample.value), sample.value)
            else:
                into[key] = into.get(key, 0.0) + sample.value


def scrape(sources: Iterable[str], timeout_s: float = 2.0) -> Scrape:
    """One look at every source; one that does not answer is named, not fatal."""
    totals: dict[Key, float] = {}
    unreachable = []
    for url in sources:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url}: a /metrics URL starts with http:// or https://")
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
                text = response.read().decode()
        except OSError:
            unreachable.append(url)
            continue
        read_metrics(text, totals)
    return Scrape(time.monotonic(), totals, tuple(unreachable))


@dataclass(frozen=True)
class TenantNow:
    tenant: str
    in_per_s: float
    out_per_s: float
    dead_per_s: float
    lag: float
    throttled: float
    storage_bytes: float | None
    budget_bytes: float | None

    def sort_value(self, key: SortKey) -> float | str:
        if key == "tenant":
            return self.tenant
        return {
            "in": self.in_per_s,
            "out": self.out_per_s,
            "dead": self.dead_per_s,
            "lag": self.lag,
            "throttled": self.throttled,
            "storage": self.storage_bytes or 0.0,
        }[key]

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def compare(before: Scrape, after: Scrape, sort: SortKey = "in") -> list[TenantNow]:
    """Each tenant's figures between two scrapes, the busiest (by `sort`) first."""
    seconds = max(after.taken - before.taken, 1e-9)
    tenants = {tenant for _figure, tenant in after.totals}
    by: dict[str, dict[str, float]] = defaultdict(dict)
    for (figure, tenant), value in after.totals.items():
        by[tenant][figure] = value

    def rate(figure: str, tenant: str) -> float:
        now = after.totals.get((figure, tenant), 0.0)
        then = before.totals.get((figure, tenant), 0.0)
        return (now - then if now >= then else now) / seconds  # a restart: from zero

    rows = [
        TenantNow(
            tenant,
            rate("in", tenant),
            rate("out", tenant),
            rate("dead", tenant),
            by[tenant].get("lag:processor", 0.0) + by[tenant].get("lag:sink", 0.0),
            rate("throttled", tenant),
            by[tenant].get("storage"),
            by[tenant].get("budget"),
        )
        for tenant in tenants
    ]
    rows.sort(key=lambda row: row.tenant)
    return sorted(rows, key=lambda row: row.sort_value(sort), reverse=sort != "tenant")
