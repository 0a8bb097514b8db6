"""Each round: every live tenant's indices measured (metrics per tenant), the generations its
`storage` no longer keeps deleted, whole, by name, and the routes whose newest generation is old
or big rolled over to a new one (see `topology.retention`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from connectors.retention.config import RetentionConfig
from logway.core.discovery import tenant_matcher
from logway.core.loops import Loop, run_supervised
from logway.core.metrics import (
    INDICES_DELETED,
    ROLLOVERS,
    ROLLOVERS_REFUSED,
    STORAGE_BUDGET,
    STORAGE_BYTES,
    STORAGE_DOCUMENTS,
    STORAGE_OLDEST_DAY,
)
from topology.model import Storage
from topology.publish import read_published
from topology.retention import TenantStorage, delete, roll_over, survey

log = logging.getLogger("logway.retention")
RETENTION_ROUND_S = 600.0  # the longest a round may take before /livez says it hangs


def enforce(
    es: Elasticsearch,
    storages: Mapping[str, Storage],
    generation_max_bytes: int,
    *,
    apply: bool,
    tell: Callable[[str], None] = lambda _line: None,
) -> list[TenantStorage]:
    """Survey every tenant (name -> its `Storage`), each at the clock's time when it is
    reached; with `apply`, delete and roll over what it plans, telling each line done. A
    rollover Elasticsearch refuses is logged and counted; the others go on."""
    found = []
    for tenant, storage in sorted(storages.items()):
        surveyed = survey(es, tenant, storage, datetime.now(UTC), generation_max_bytes)
        if apply:
            for deletion in surveyed.deletions:
                delete(es, tenant, deletion)
                INDICES_DELETED.labels(tenant=tenant, reason=deletion.why).inc()
                log.info("tenant %s: deleted %s", tenant, deletion)
                tell(f"deleted {deletion}")
            for rollover in surveyed.rollovers:
                index, refused = roll_over(es, tenant, rollover)
                if refused is None:
                    ROLLOVERS.labels(tenant=tenant, reason=rollover.why).inc()
                    done = f"rolled over to {index} after {rollover.after.name} ({rollover.why})"
                    log.info("tenant %s: %s", tenant, done)
                    tell(done)
                else:
                    ROLLOVERS_REFUSED.labels(tenant=tenant).inc()
                    log.warning("tenant %s: rollover to %s refused: %s", tenant, index, refused)
                    tell(f"rollover to {index} refused: {refused}")
        found.append(surveyed)
    return found


def report(surveyed: TenantStorage, *, applied: bool) -> None:
    """The tenant's storage metrics, as they are after this round."""
    gone = {deletion.index.name for deletion in surveyed.deletions} if applied else set()
    kept = [index for index in surveyed.indices if index.name not in gone]
    tenant = surveyed.tenant
    STORAGE_BYTES.labels(tenant=tenant).set(sum(index.bytes for index in kept))
    STORAGE_DOCUMENTS.labels(tenant=tenant).set(sum(index.documents for index in kept))
    if kept:
        STORAGE_OLDEST_DAY.labels(tenant=tenant).set(kept[0].start.timestamp())
    if surveyed.storage.max_bytes is not None:
        STORAGE_BUDGET.labels(tenant=tenant).set(surveyed.storage.max_bytes)
    else:
        with contextlib.suppress(KeyError):  # it had none before either
            STORAGE_BUDGET.remove(tenant)


def run_retention(config: RetentionConfig, stop: threading.Event | None = None) -> None:
    """Measure and delete every `interval_s` until stopped (SIGINT/SIGTERM)."""
    from connectors.runtime.signals import stop_on_signals

    stop = stop or stop_on_signals()
    es = config.es.client()
    serves = tenant_matcher(config.tenants_matching)

    def rounds(loop: Loop) -> None:
        while not stop.is_set():
            live = read_published(config.kafka)
            storages = {
                name: published.spec.storage for name, published in live.items() if serves(name)
            }
            for surveyed in enforce(es, storages, config.generation_max_bytes, apply=True):
                report(surveyed, applied=True)
            loop.beat()
            stop.wait(config.interval_s)

    # A round that fails in passing (Elasticsearch or Kafka away) is tried again after a
    # backoff; one that fails otherwise ends the process, never a worker that deletes nothing.
    silence = config.interval_s + RETENTION_ROUND_S
    run_supervised("retention", rounds, stop, max_silence_s=silence)
