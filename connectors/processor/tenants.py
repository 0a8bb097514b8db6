"""The compiled pipeline of every tenant, following the versions published in `_logway.tenants`.

A tenant's pipeline is compiled when its version is first needed and again only when the
registry shows a new version. A version that does not compile (it passed validation, so this is
a bug or a newer logway's config) is counted as a reload failure and the tenant keeps its previous
pipeline: a bad config never takes the worker down. Only published tenants are processed
(`published`): a deleted tenant's records wait in Kafka, never processed with its last version.
Without a registry (tests, benchmarks) every tenant uses the default pipeline.

A replaced pipeline is kept while it still holds half-assembled lines, so `expire` finishes them
instead of losing them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from logway.core.metrics import RELOAD_FAILURES, STEP_SECONDS
from streams.pipeline import PodLookup, TenantPipeline
from topology.registry import TenantRegistry

log = logging.getLogger("logway.processor")


def _time_step(step: str, seconds: float) -> None:
    STEP_SECONDS.labels(component="processor", step=step).observe(seconds)


class TenantPipelines:
    """Tenant name -> its live `TenantPipeline`."""

    def __init__(self, registry: TenantRegistry | None, pods: PodLookup | None = None) -> None:
        self.registry = registry
        self.pods = pods
        self._live: dict[str, TenantPipeline] = {}
        self._retiring: list[TenantPipeline] = []
        self._refused: dict[str, str] = {}  # tenant -> version that failed to compile

    def published(self, tenant: str) -> bool:
        """Whether the tenant's records may be processed: it has a published version."""
        return self.registry is None or self.registry.get(tenant) is not None

    def get(self, tenant: str) -> TenantPipeline:
        published = self.registry.get(tenant) if self.registry else None
        version = published.version if published else None
        current = self._live.get(tenant)
        if current is not None and (
            current.version == version
            or (version is not None and self._refused.get(tenant) == version)
        ):
            return current
        if published is None:
            pipeline = TenantPipeline(tenant, step_timer=_time_step)
        else:
            try:
                pipeline = TenantPipeline(
                    tenant,
                    published.spec.pipeline,
                    published.spec.routes,
                    version,
                    step_timer=_time_step,
                    max_record_bytes=published.spec.topics.max_record_bytes,
                    namespaces=frozenset(published.spec.sources.namespaces),
                    pods=self.pods,
                )
            except Exception:
                RELOAD_FAILURES.labels(component="processor").inc()
                log.exception(
                    "tenant %r version %s does not compile; keeping the previous one",
                    tenant,
                    version,
                )
                self._refused[tenant] = version or ""
                if current is None:
                    current = self._live[tenant] = TenantPipeline(tenant, step_timer=_time_step)
                return current
        if current is not None and current.holding():
            self._retiring.append(current)
        self._live[tenant] = pipeline
        self._refused.pop(tenant, None)
        return pipeline

    def all(self) -> Iterator[TenantPipeline]:
        """Live and retiring pipelines: those that may hold half-joined lines or events."""
        self._retiring = [p for p in self._retiring if p.holding()]
        yield from self._retiring
        yield from self._live.values()
