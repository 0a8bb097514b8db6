"""The live tenant versions, followed from `_logway.tenants` by every worker.

A background thread reads the compacted topic from its beginning and keeps following it, so a
newly applied version is in use within about a second of its publication. A record that does
not validate (a bad publish, or one from a newer logway) is counted and skipped: the tenant
keeps its previous version and the worker keeps running.
"""

from __future__ import annotations

import logging
import threading
import time

from pydantic import ValidationError

from logway.core.control import TopicFollower
from logway.core.kafka import KafkaConnection
from logway.core.metrics import CONFIG_PUBLISHED_AT, RELOAD_FAILURES, Component
from logway.core.names import TENANTS_TOPIC
from topology.model import Tenant
from topology.publish import PublishedTenant

log = logging.getLogger("logway.registry")


class TenantRegistry:
    """Thread-safe map of tenant name to its live `PublishedTenant`."""

    def __init__(self, kafka: KafkaConnection, component: Component) -> None:
        self.kafka = kafka
        self.component = component
        self._tenants: dict[str, PublishedTenant] = {}
        self._lock = threading.Lock()
        self._follower = TopicFollower(
            kafka, f"logway-registry-{component}", TENANTS_TOPIC, self._take
        )
        self.caught_up = self._follower.caught_up  # set once every published version is read

    def start(self) -> TenantRegistry:
        self._follower.start()
        return self

    def stop(self) -> None:
        self._follower.stop()

    def get(self, tenant: str) -> PublishedTenant | None:
        with self._lock:
            return self._tenants.get(tenant)

    def specs(self) -> dict[str, Tenant]:
        """Every live tenant's declaration, at its live version."""
        with self._lock:
            return {name: published.spec for name, published in self._tenants.items()}

    def version_of(self, tenant: str) -> str | None:
        published = self.get(tenant)
        return published.version if published else None

    def _take(self, tenant: str, value: bytes | None) -> None:
        if value is None:
            with self._lock:
                self._tenants.pop(tenant, None)
            return
        try:
            published = PublishedTenant.model_validate_json(value)
        except ValidationError as exc:
            RELOAD_FAILURES.labels(component=self.component).inc()
            log.error(
                "tenant %r: published version refused, keeping the previous one: %s",
                tenant,
                exc.errors()[0]["msg"] if exc.errors() else exc,
            )
            return
        with self._lock:
            previous = self._tenants.get(tenant)
            self._tenants[tenant] = published
        CONFIG_PUBLISHED_AT.labels(component=self.component, tenant=tenant).set(
            published.published_at.timestamp()
        )
        if previous is None or previous.version != published.version:
            log.info("tenant %r now at version %s", tenant, published.version)

    def wait_for(self, tenant: str, version: str, timeout: float) -> bool:
        """True once `tenant` is at `version` (for tests and start-up ordering)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.version_of(tenant) == version:
                return True
            time.sleep(0.05)
        return False
