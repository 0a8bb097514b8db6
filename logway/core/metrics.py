"""Every metric logway exports, in one place. The spec is docs/metrics.md; a test keeps both equal.

Names are `logway_<name>_<unit>[_total]`. Labels come only from bounded sets: `component` and
`outcome`/`reason`/`step` are enums in code; `tenant` is bounded by the tenants a platform
declares. "Dead-lettered", "dropped" and "will be retried" are never the same counter.
"""

from __future__ import annotations

import logging
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram, Info

from logway.core.health import start_health_server

Component = Literal["processor", "sink", "gateway", "notifier", "podwatch", "retention", "operator"]
log = logging.getLogger("logway.metrics")

INFO = Info("logway", "Version and component of this process.", ["component"])

RECORDS_IN = Counter(
    "logway_records_in_total",
    "Records read from a tenant's input (forward-protocol events for the gateway, the raw topic "
    "for the processor, the processed topic for the sink, the DLQ for the notifier), "
    "including records read again after a restart or rebalance.",
    ["component", "tenant"],
)
BYTES_IN = Counter(
    "logway_bytes_in_total",
    "Bytes of record values read from a tenant's input topic.",
    ["component", "tenant"],
)
RECORDS_OUT = Counter(
    "logway_records_out_total",
    "Records a component finished with, by outcome: gateway: produced | notifier: posted | "
    "quiet | too_old | processor: processed | "
    "dead_lettered | "
    "dropped (by the tenant's own rule) | joined (a piece of a split line, joined into the "
    "record that completed it); sink: indexed | dead_lettered.",
    ["component", "tenant", "outcome"],
)
DEAD_LETTERS = Counter(
    "logway_dead_letters_total",
    "Records sent to a tenant's dead-letter topic, by reason (the DLQ envelope's reason).",
    ["component", "tenant", "reason"],
)
DROPPED = Counter(
    "logway_dropped_records_total",
    "Records dropped on purpose by a tenant's own pipeline, by reason: rule (drop/keep), "
    "sampled, rate_limited (a limit step set to drop, or over `limits.records_per_s` with "
    "`over_limit: drop`).",
    ["component", "tenant", "reason"],
)
FLAGGED = Counter(
    "logway_flagged_records_total",
    "Documents produced with a `logway.<flag>` mark, by flag: partial (a cut line), "
    "timestamp_fallback, foreign_fields_moved (the record's own `logway` fields were moved to "
    "`logway_foreign`), event_id_refused (a `logway-event-id` header not of the gateway's form).",
    ["component", "tenant", "reason"],
)
STEP_SECONDS = Histogram(
    "logway_step_duration_seconds",
    "Time spent in one processing step for one record.",
    ["component", "step"],
    buckets=(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1),
)
BULK_SECONDS = Histogram(
    "logway_bulk_duration_seconds",
    "Duration of one Elasticsearch bulk request, whatever its outcome.",
    ["component"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BULK_BYTES = Histogram(
    "logway_bulk_request_bytes",
    "Records' bytes in one Elasticsearch bulk request (retries and split halves included).",
    ["component"],
    buckets=tuple(n * 1024 * 1024 for n in (1 / 64, 1 / 16, 1 / 4, 1, 2, 4, 8, 16, 32, 64)),
)
RETRIES = Counter(
    "logway_retries_total",
    "Records Elasticsearch refused for now and that will be retried (not lost, not "
    "dead-lettered), by reason: overloaded (429), unavailable (5xx or no connection), and "
    "the cluster states a tenant waits for (see logway_sink_waiting_records): blocked, "
    "shard_limit, pipeline_missing, index_missing, index_closed.",
    ["component", "tenant", "reason"],
)
WAITING_RECORDS = Gauge(
    "logway_sink_waiting_records",
    "Records a sink holds because their tenant's index cannot take them for a reason of the "
    "cluster (shard_limit: cluster.max_shards_per_node reached; blocked: a cluster block; "
    "pipeline_missing; index_missing: auto-creation refused; index_closed). The tenant's "
    "partitions are paused and Kafka keeps the rest; nothing is dead-lettered.",
    ["tenant", "reason"],
)
THROTTLED_SECONDS = Counter(
    "logway_throttled_seconds_total",
    "Seconds a processor kept a tenant's partitions paused because the tenant was over "
    "`limits.records_per_s` (`over_limit: delay`): its records waited in Kafka meanwhile.",
    ["component", "tenant"],
)
PAUSED_PARTITIONS = Gauge(
    "logway_paused_partitions",
    "Partitions a consumer has paused while its destination refuses records.",
    ["component"],
)
COMMIT_FAILURES = Counter(
    "logway_commit_failures_total",
    "Offset commits that failed; the records are read again (at-least-once), not lost.",
    ["component"],
)
CONSUMER_LAG = Gauge(
    "logway_consumer_lag_records",
    "Records in a tenant's input topic not yet committed by the component's consumer group "
    "(end offset minus committed offset, from the broker).",
    ["component", "tenant"],
)

GATEWAY_CONNECTIONS = Gauge(
    "logway_gateway_connections",
    "Forward-protocol client connections open now.",
    ["component"],
)
GATEWAY_FRAMES = Counter(
    "logway_gateway_frames_total",
    "Forward-protocol frames accepted (messages, forward and packed-forward batches, PINGs).",
    ["component"],
)
GATEWAY_ACKS = Counter(
    "logway_gateway_acks_total",
    "Chunks acknowledged to clients, each after Kafka acknowledged all of its events.",
    ["component"],
)
GATEWAY_REFUSALS = Counter(
    "logway_gateway_refusals_total",
    "Connections the gateway closed, by reason: malformed, oversized, unsupported_compression, "
    "unknown_tenant, wrong_tenant, auth_failed, auth_required, idle, too_many_connections.",
    ["component", "reason"],
)
OTLP_REQUESTS = Counter(
    "logway_otlp_requests_total",
    "OTLP/HTTP export requests answered, by outcome: stored, partial (some records refused), "
    "unauthorized, unknown_tenant, content_type, content_encoding, too_large, malformed, busy "
    "(429: too many requests in flight), slow (408: the body came too slowly), "
    "kafka_unavailable (503: Kafka did not store them).",
    ["component", "outcome"],
)
NOTIFIER_POSTS = Counter(
    "logway_notifier_posts_total",
    "Digests of dead letters, by outcome: posted (Slack accepted it), quiet (below the tenant's "
    "min_severity: committed, not posted), rate_limited, failed (5xx or no answer), refused "
    "(other 4xx), no_webhook (the secret is not set); all but posted and quiet are retried.",
    ["component", "outcome"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "logway_consumer_lag_seconds",
    "Age of the oldest record in a tenant's input topic that the component's group has not "
    "committed (Kafka time of the record at the committed offset; 0 when caught up).",
    ["component", "tenant"],
)
TOPIC_RETENTION_SECONDS = Gauge(
    "logway_topic_retention_seconds",
    "Retention of a tenant's input topic, as the broker has it: a backlog older than this is "
    "deleted, read or not.",
    ["component", "tenant"],
)
CONFIG_PUBLISHED_AT = Gauge(
    "logway_config_published_timestamp_seconds",
    "When the tenant version this process uses was published (Unix time); compare with the "
    "newest publication to see a worker that did not follow.",
    ["component", "tenant"],
)
RELOAD_FAILURES = Counter(
    "logway_config_reload_failures_total",
    "Published tenant versions this process refused (it keeps the previous version).",
    ["component"],
)

POD_RECORDS = Counter(
    "logway_pod_records_published_total",
    "Pod records the pod watcher published to _logway.pods: `outcome` is `changed` (a pod "
    "new or changed) or `deleted` (a tombstone).",
    ["outcome"],
)

RECONCILES = Counter(
    "logway_operator_reconciles_total",
    "LoggingPipeline reconciles by the operator: `outcome` is `applied` (published, or already "
    "live), `invalid` (the spec is refused; the last good version stays), `refused` (a claim "
    "held by another or not consented to; retried), `failed` (a server refused a change; "
    "retried) or `removed` (deleted, its tenant unpublished).",
    ["outcome"],
)

STORAGE_BYTES = Gauge(
    "logway_tenant_storage_bytes",
    "Size of the tenant's indices on disk, replicas included, as the retention worker last saw.",
    ["tenant"],
)
STORAGE_DOCUMENTS = Gauge(
    "logway_tenant_storage_documents", "Documents in the tenant's indices.", ["tenant"]
)
STORAGE_OLDEST_DAY = Gauge(
    "logway_tenant_storage_oldest_day_timestamp_seconds",
    "Start of the oldest index the tenant holds (Unix time).",
    ["tenant"],
)
STORAGE_BUDGET = Gauge(
    "logway_tenant_storage_budget_bytes",
    "The tenant's `storage.max_bytes`; absent when it has no budget.",
    ["tenant"],
)
INDICES_DELETED = Counter(
    "logway_indices_deleted_total",
    "Indices the retention worker deleted, by `reason`: `retention` (older than "
    "`storage.retention_days`) or `budget` (over `storage.max_bytes`).",
    ["tenant", "reason"],
)
ROLLOVERS = Counter(
    "logway_rollovers_total",
    "New indices the retention worker made for a route, by `reason`: `age` (the newest was "
    "`retention_days` old) or `size` (it held `generation_max_bytes`).",
    ["tenant", "reason"],
)
ROLLOVERS_REFUSED = Counter(
    "logway_rollovers_refused_total",
    "Rollovers Elasticsearch refused (the shard limit, a block); the route goes on in its "
    "newest index and the next round tries again.",
    ["tenant"],
)


def serve(port: int, component: Component, version: str) -> None:
    """Serve /metrics, /livez and /readyz (`logway.core.health`) on `port` (all interfaces)
    from a background thread; 0 disables it."""
    INFO.labels(component=component).info({"version": version})
    if not port:
        return
    try:
        start_health_server(port)
    except OSError as exc:
        raise SystemExit(
            f"{component}: cannot serve /metrics on port {port} ({exc.strerror}); another "
            f"process has it: choose another with --metrics-port, or 0 to turn it off"
        ) from None
    log.info("metrics on :%d/metrics, health on /livez and /readyz", port)


class TenantMeters:
    """The per-record counters of one component, with label children cached per tenant."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self._children: dict[tuple[str, ...], Counter] = {}

    def _child(self, metric: Counter, tenant: str, *extra: str) -> Counter:
        key = (metric._name, tenant, *extra)
        child = self._children.get(key)
        if child is None:
            labels = {"component": self.component, "tenant": tenant}
            if extra:
                labels["outcome" if metric is RECORDS_OUT else "reason"] = extra[0]
            child = self._children[key] = metric.labels(**labels)
        return child

    def read(self, tenant: str, size: int, count: int = 1) -> None:
        self._child(RECORDS_IN, tenant).inc(count)
        self._child(BYTES_IN, tenant).inc(size)

    def finished(self, tenant: str, outcome: str, count: int = 1) -> None:
        self._child(RECORDS_OUT, tenant, outcome).inc(count)

    def dropped(self, tenant: str, reason: str, count: int = 1) -> None:
        self._child(RECORDS_OUT, tenant, "dropped").inc(count)
        self._child(DROPPED, tenant, reason).inc(count)

    def dead_lettered(self, tenant: str, reason: str, count: int = 1) -> None:
        self._child(RECORDS_OUT, tenant, "dead_lettered").inc(count)
        self._child(DEAD_LETTERS, tenant, reason).inc(count)

    def retried(self, tenant: str, reason: str, count: int = 1) -> None:
        self._child(RETRIES, tenant, reason).inc(count)

    def flagged(self, tenant: str, flag: str, count: int = 1) -> None:
        self._child(FLAGGED, tenant, flag).inc(count)

    def batch(self) -> MeterBatch:
        """Counts kept locally for one batch, applied with `MeterBatch.apply`: one locked
        increment per counter per batch instead of several per record."""
        return MeterBatch(self)


class MeterBatch:
    """The per-record counters of one batch, added to their `TenantMeters` at once."""

    def __init__(self, meters: TenantMeters) -> None:
        self.meters = meters
        self.records_in: dict[str, int] = {}
        self.bytes_in: dict[str, int] = {}
        self.out: dict[tuple[str, str], int] = {}
        self.dead: dict[tuple[str, str], int] = {}
        self.drops: dict[tuple[str, str], int] = {}
        self.flags: dict[tuple[str, str], int] = {}

    def read(self, tenant: str, size: int) -> None:
        self.records_in[tenant] = self.records_in.get(tenant, 0) + 1
        self.bytes_in[tenant] = self.bytes_in.get(tenant, 0) + size

    def finished(self, tenant: str, outcome: str, count: int = 1) -> None:
        key = (tenant, outcome)
        self.out[key] = self.out.get(key, 0) + count

    def dropped(self, tenant: str, reason: str, count: int = 1) -> None:
        self.drops[(tenant, reason)] = self.drops.get((tenant, reason), 0) + count

    def dead_lettered(self, tenant: str, reason: str, count: int = 1) -> None:
        self.dead[(tenant, reason)] = self.dead.get((tenant, reason), 0) + count

    def flagged(self, tenant: str, flag: str) -> None:
        self.flags[(tenant, flag)] = self.flags.get((tenant, flag), 0) + 1

    def apply(self) -> None:
        meters = self.meters
        for tenant, count in self.records_in.items():
            meters._child(RECORDS_IN, tenant).inc(count)
            meters._child(BYTES_IN, tenant).inc(self.bytes_in[tenant])
        for (tenant, outcome), count in self.out.items():
            meters.finished(tenant, outcome, count)
        for (tenant, reason), count in self.dead.items():
            meters.dead_lettered(tenant, reason, count)
        for (tenant, reason), count in self.drops.items():
            meters.dropped(tenant, reason, count)
        for (tenant, flag), count in self.flags.items():
            meters.flagged(tenant, flag, count)
