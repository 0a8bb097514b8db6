"""Per-tenant status for people: `logway status` and its read-only page.

Everything comes from Kafka itself, so it is true whichever workers run and wherever:
- the live config version: the tenant's latest record in `_logway.tenants`;
- records/s in (raw topic) and out (processed + dead-letter topics): end offsets sampled twice,
  `window_s` apart;
- lag: records the processor group has not committed on the raw topic, and the sink group on
  the processed topic;
- dead letters of the last hour by reason, and the newest one's error: read from the DLQ topic
  from the offsets Kafka gives for one hour ago.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from elasticsearch import ApiError, Elasticsearch, TransportError

from connectors.dlq.replay import Selection, read_dead_letters
from logway.core.kafka import KafkaConnection
from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.counts import end_offset
from topology.publish import read_published
from topology.retention import tenant_generations


@dataclass
class TenantStatus:
    tenant: str
    version: str | None
    published_at: str | None
    in_per_s: float
    out_per_s: float
    processor_lag: int | None
    sink_lag: int | None
    dead_letters_last_hour: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] | None = None
    storage_bytes: int | None = None  # its indices on disk; None: Elasticsearch not asked
    storage_budget: int | None = None  # its `storage.max_bytes`

    @property
    def healthy(self) -> bool:
        return not self.dead_letters_last_hour and (self.processor_lag or 0) < 10_000


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return []
    return [TopicPartition(topic, p) for p in metadata.partitions]


def _lag(kafka: KafkaConnection, group: str, topic: str) -> int | None:
    consumer = Consumer(kafka.reader(group))
    try:
        partitions = _partitions(consumer, topic)
        if not partitions:
            return None
        committed = consumer.committed(partitions, timeout=10)
        if all(tp.offset < 0 for tp in committed):
            return None  # the group never committed here: no such worker yet
        return sum(
            consumer.get_watermark_offsets(tp, timeout=10)[1] - max(tp.offset, 0)
            for tp in committed
        )
    finally:
        consumer.close()


def collect(
    kafka: KafkaConnection,
    tenants: Iterable[str] | None = None,
    *,
    processor_group: str = "logway-processor",
    sink_group: str = "logway-sink",
    window_s: float = 2.0,
    es: Elasticsearch | None = None,
) -> list[TenantStatus]:
    """The status of `tenants` (default: every published tenant), sorted by name; with `es`,
    also each tenant's storage and budget."""
    published = read_published(kafka)
    names = sorted(tenants if tenants is not None else published)
    consumer = Consumer(kafka.reader("logway-status"))
    try:

        def ends() -> dict[str, tuple[int, int]]:
            return {
                t: (
                    end_offset(consumer, raw_topic(t)),
                    end_offset(consumer, processed_topic(t)) + end_offset(consumer, dlq_topic(t)),
                )
                for t in names
            }

        first, started = ends(), time.monotonic()
        time.sleep(window_s)
        second, elapsed = ends(), time.monotonic() - started
        statuses = []
        for tenant in names:
            letters = list(read_dead_letters(kafka, Selection(tenant, since=timedelta(hours=1))))
            newest = max(letters, key=lambda d: d.failed_at, default=None)
            live = published.get(tenant)
            statuses.append(
                TenantStatus(
                    tenant=tenant,
                    version=live.version if live else None,
                    published_at=live.published_at.isoformat(timespec="seconds") if live else None,
                    in_per_s=(second[tenant][0] - first[tenant][0]) / elapsed,
                    out_per_s=(second[tenant][1] - first[tenant][1]) / elapsed,
                    processor_lag=_lag(kafka, processor_group, raw_topic(tenant)),
                    sink_lag=_lag(kafka, sink_group, processed_topic(tenant)),
                    dead_letters_last_hour=dict(
                        Counter(str(d.reason) for d in letters).most_common()
                    ),
                    storage_bytes=_storage(es, tenant),
                    storage_budget=live.spec.storage.max_bytes if live else None,
                    last_error=None
                    if newest is None
                    else {
                        "at": newest.failed_at.isoformat(timespec="seconds"),
                        "reason": str(newest.reason),
                        "step": f"{newest.stage}/{newest.step}",
                        "error": newest.error[:300],
                    },
                )
            )
        return statuses
    finally:
        consumer.close()


def _storage(es: Elasticsearch | None, tenant: str) -> int | None:
    """The tenant's indices' size on disk; None without Elasticsearch or when it fails (the
    rest of the status still shows)."""
    if es is None:
        return None
    try:
        return sum(index.bytes for index in tenant_generations(es, tenant))
    except (ApiError, TransportError):
        return None


def storage_text(s: TenantStatus) -> str:
    if s.storage_bytes is None:
        return "-"
    used = size_text(s.storage_bytes)
    if not s.storage_budget:
        return used
    return f"{used} / {size_text(s.storage_budget)} ({s.storage_bytes / s.storage_budget:.0%})"


def size_text(count: int) -> str:
    """Bytes for people: `812 B`, `14.8 KB`, `1.1 MB`."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def as_json(statuses: list[TenantStatus]) -> list[dict[str, Any]]:
    return [asdict(s) for s in statuses]


def _lag_text(lag: int | None) -> str:
    return "-" if lag is None else f"{lag:,}"


def table(statuses: list[TenantStatus]) -> str:
    header = (
        f"{'tenant':20}{'version':14}{'in/s':>9}{'out/s':>9}{'proc lag':>10}{'sink lag':>10}"
        f"{'storage':>26}  dead letters (1 h)"
    )
    rows = [header]
    for s in statuses:
        dead = ", ".join(f"{r} {n}" for r, n in s.dead_letters_last_hour.items()) or "none"
        rows.append(
            f"{s.tenant:20}{s.version or '-':14}{s.in_per_s:>9.1f}{s.out_per_s:>9.1f}"
            f"{_lag_text(s.processor_lag):>10}{_lag_text(s.sink_lag):>10}"
            f"{storage_text(s):>26}  {dead}"
        )
        if s.last_error:
            e = s.last_error
            rows.append(
                f"{'':20}last error {e['at']} {e['step']} {e['reason']}: {e['error'][:120]}"
            )
    return "\n".join(rows)


def needs_a_look(s: TenantStatus) -> tuple[bool, float, float, float, str]:
    """The page's order: tenants needing attention first, the most dead letters, then the most
    lag, then the busiest."""
    dead = sum(s.dead_letters_last_hour.values())
    lag = (s.processor_lag or 0) + (s.sink_lag or 0)
    return (s.healthy, -dead, -lag, -s.in_per_s, s.tenant)


def page(
    statuses: list[TenantStatus], refreshed: datetime, charts: Mapping[str, str] | None = None
) -> str:
    """The read-only status page: one row per tenant, the one needing a look first, with its
    last hour's chart (`charts`, tenant -> SVG) when given; reloads itself every 10 s."""
    charts = charts or {}
    rows = []
    for s in sorted(statuses, key=needs_a_look):
        dead = (
            "".join(
                f"<li><code>{html.escape(r)}</code> {n}</li>"
                for r, n in s.dead_letters_last_hour.items()
            )
            or "<li>none</li>"
        )
        error = (
            f"<div class='error'>{html.escape(s.last_error['at'])} "
            f"{html.escape(s.last_error['step'])} "
            f"<code>{html.escape(s.last_error['reason'])}</code>: "
            f"{html.escape(s.last_error['error'])}</div>"
            if s.last_error
            else ""
        )
        state = "ok" if s.healthy else "attention"
        rows.append(
            f"<tr class='{state}' data-tenant='{html.escape(s.tenant)}'>"
            f"<th>{html.escape(s.tenant)}</th><td>{html.escape(s.version or '-')}</td>"
            f"<td class='num'>{s.in_per_s:.1f}</td><td class='num'>{s.out_per_s:.1f}</td>"
            f"<td class='num'>{_lag_text(s.processor_lag)}</td>"
            f"<td class='num'>{_lag_text(s.sink_lag)}</td>"
            f"<td class='num'>{html.escape(storage_text(s))}</td>"
            f"<td><ul>{dead}</ul>{error}</td><td>{charts.get(s.tenant, '')}</td></tr>"
        )
    refreshed_text = f"{refreshed:%Y-%m-%d %H:%M:%S} UTC"
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='10'><title>logway status</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>logway: tenant status</h1>\n"
        "<table><thead><tr><th>tenant</th><th>config version</th><th>in/s</th><th>out/s</th>"
        "<th>processor lag</th><th>sink lag</th><th>storage</th><th>dead letters, last hour</th>"
        "<th>last hour: <span class='in'>in</span>, <span class='out'>out</span>, "
        "<span class='dead'>dead letters</span>, <span class='lag'>lag</span></th>"
        "</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
        f"<footer>Read from Kafka and Elasticsearch at {refreshed_text}; reloads every 10 s. "
        "JSON: <a href='status.json'>status.json</a></footer>\n</body></html>\n"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
h1 { font-size: 1.4rem; }
table { border-collapse: collapse; width: 100%; }
th, td {
  text-align: left; padding: .5rem .75rem; border-bottom: 1px solid #d0d7de; vertical-align: top;
}
thead th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.ok th { border-left: 6px solid #2da44e; }
tr.attention th { border-left: 6px solid #d1242f; }
ul { margin: 0; padding-left: 1rem; }
.error { color: #a40e26; font-size: .85rem; margin-top: .3rem; }
footer { margin-top: 1rem; color: #57606a; font-size: .85rem; }
.in { color: #0969da; } .out { color: #2da44e; } .dead { color: #d1242f; } .lag { color: #8c959f; }
"""
