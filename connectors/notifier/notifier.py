"""The notifier: each tenant's dead letters, summed up per interval, posted to its owners' Slack.

Contract:
- a digest covers the dead letters read for one tenant since the last post; it is posted once
  the tenant's `dlq.notify.digest_minutes` have passed and only if its worst letter reaches
  `min_severity` (a quieter digest is committed without a post);
- the offsets a digest covers are committed right after Slack accepted it (2xx), so a restart
  neither loses a digest nor posts one again (only a crash between Slack's answer and the commit,
  milliseconds, could repeat one);
- Slack's 429 is obeyed (`Retry-After`), 5xx and network errors are retried with exponential
  backoff and jitter, other 4xx (a revoked webhook) are retried slowly and counted; meanwhile
  the digest keeps growing, and nothing is committed;
- the webhook URL is read from the environment variable the tenant names in
  `owners.webhook_secret`, and never logged or posted.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from pydantic import ValidationError

from connectors.notifier.config import NotifierConfig
from connectors.notifier.digest import Digest
from connectors.runtime.commit import commit
from connectors.runtime.signals import stop_on_signals
from connectors.runtime.subscription import Subscription, TenantTopics
from logway.core.deadletter import DeadLetter
from logway.core.discovery import tenant_matcher
from logway.core.metrics import NOTIFIER_POSTS, TenantMeters
from logway.core.names import DLQ_TOPIC_RE, tenant_of_topic
from topology.registry import TenantRegistry

log = logging.getLogger("logway.notifier")


@dataclass(frozen=True)
class PostResult:
    status: int  # 0: no answer (network error)
    retry_after_s: float | None = None


Post = Callable[[str, dict[str, Any]], PostResult]


def post_json(url: str, payload: dict[str, Any]) -> PostResult:
    """POST `payload` as JSON; the status, and Retry-After when Slack sends one."""
    request = urllib.request.Request(  # noqa: S310 - the tenant's https webhook
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return PostResult(response.status)
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        try:
            seconds = float(retry_after) if retry_after else None
        except ValueError:
            seconds = None
        return PostResult(exc.code, seconds)
    except (urllib.error.URLError, OSError):
        return PostResult(0)


class Notifier:
    """One notifier worker; `run` until `stop` is set."""

    def __init__(
        self,
        config: NotifierConfig,
        registry: TenantRegistry,
        post: Post = post_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.registry = registry
        self.post = post
        self.clock = clock
        self.meters = TenantMeters("notifier")
        self.digests: dict[str, Digest] = {}
        self.next_attempt: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.consumer = Consumer(config.kafka.consumer(config.group_id, config.instance_id))
        self.subscription = Subscription(
            self.consumer,
            TenantTopics(
                AdminClient(config.kafka.admin()),
                DLQ_TOPIC_RE,
                tenant_matcher(config.tenants_matching),
                config.discovery_interval_s,
                clock=clock,
            ),
            on_revoke=self._revoked,
        )

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                subscribed = self.subscription.refresh()
                message = self.consumer.poll(0.5) if subscribed else None
                if message is None:
                    if not subscribed:
                        stop.wait(0.5)
                elif message.error() is None:
                    self._take(message)
                self._post_due()
        finally:
            self.consumer.close()

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # uncommitted: the next owner reads and posts them
            tenant = tenant_of_topic(tp.topic)
            if tenant:
                self.digests.pop(tenant, None)

    def _take(self, message: Any) -> None:
        topic = message.topic()
        tenant = tenant_of_topic(topic)
        if tenant is None:
            return
        value = message.value() or b""
        self.meters.read(tenant, len(value))
        digest = self.digests.get(tenant)
        if digest is None:
            digest = self.digests[tenant] = Digest(tenant, self.clock())
        try:
            letter = DeadLetter.from_bytes(value)
        except ValidationError:
            log.warning("%s offset %d is not a dead letter; skipped", topic, message.offset())
            digest.offsets[(topic, message.partition())] = message.offset() + 1
            return
        if letter.failed_at < datetime.now(UTC) - timedelta(hours=self.config.max_age_hours):
            digest.offsets[(topic, message.partition())] = message.offset() + 1
            self.meters.finished(tenant, "too_old")
            return
        digest.add(letter, topic, message.partition(), message.offset())

    def _post_due(self) -> None:
        now = self.clock()
        for tenant, digest in list(self.digests.items()):
            spec = self.registry.specs().get(tenant)
            minutes = spec.dlq.notify.digest_minutes if spec else 15
            interval = self.config.digest_interval_s or minutes * 60
            if now - digest.opened < interval or now < self.next_attempt.get(tenant, 0):
                continue
            if spec is None or not digest.worth_posting(spec.dlq.notify.min_severity):
                self._done(tenant, digest, "quiet")
                continue
            url = os.environ.get(spec.owners.webhook_secret)
            if not url:
                self._retry_later(tenant, "no_webhook", 60.0)
                log.error(
                    "tenant %r: its webhook secret %s is not set here; the digest waits",
                    tenant,
                    spec.owners.webhook_secret,
                )
                continue
            result = self.post(url, digest.message(spec.owners.slack_channel, interval / 60))
            if 200 <= result.status < 300:
                self._done(tenant, digest, "posted")
            elif result.status == 429:
                self._retry_later(tenant, "rate_limited", result.retry_after_s or 30.0)
            elif result.status == 0 or result.status >= 500:
                self._retry_later(tenant, "failed", self._backoff(tenant))
            else:
                log.error("tenant %r: Slack refused the digest (HTTP %d)", tenant, result.status)
                self._retry_later(tenant, "refused", self.config.retry_max_s)

    def _done(self, tenant: str, digest: Digest, outcome: str) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in digest.offsets.items()]
        commit(self.consumer, offsets, "notifier")
        NOTIFIER_POSTS.labels(component="notifier", outcome=outcome).inc()
        self.meters.finished(tenant, outcome, digest.total)
        del self.digests[tenant]
        self.failures.pop(tenant, None)
        self.next_attempt.pop(tenant, None)

    def _retry_later(self, tenant: str, outcome: str, delay_s: float) -> None:
        NOTIFIER_POSTS.labels(component="notifier", outcome=outcome).inc()
        self.next_attempt[tenant] = self.clock() + min(delay_s, self.config.retry_max_s)

    def _backoff(self, tenant: str) -> float:
        failures = self.failures[tenant] = self.failures.get(tenant, 0) + 1
        return min(self.config.retry_max_s, 2.0**failures) * random.uniform(0.5, 1.5)  # noqa: S311


def run_notifier(config: NotifierConfig) -> None:
    """Run a notifier worker until it is stopped (SIGINT/SIGTERM)."""
    registry = TenantRegistry(config.kafka, "notifier").start()
    registry.caught_up.wait(60)
    Notifier(config, registry).run(stop_on_signals())
