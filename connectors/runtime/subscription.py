"""Following the served tenants' topics, so a new tenant is consumed without a restart."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from logway.core.control import TopicFollower
from logway.core.discovery import served_topics
from logway.core.kafka import KafkaConnection
from logway.core.loops import is_transient
from logway.core.names import TENANTS_TOPIC

log = logging.getLogger("logway.runtime")


class TenantTopics:
    """The topics of one kind (`logs.<tenant>.raw`, `.processed` or `.dlq`) of the tenants a
    worker serves, looked up on the broker at most every `interval_s`."""

    def __init__(
        self,
        admin: AdminClient,
        kind: re.Pattern[str],
        serves: Callable[[str], bool],
        interval_s: float,
        *,
        known: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`known`: topics the worker already consumes, so only others count as new."""
        self.admin, self.kind, self.serves = admin, kind, serves
        self.interval_s = interval_s
        self.clock = clock
        self.topics: list[str] = sorted(known)
        self._next_look = 0.0

    def nudge(self) -> None:
        """Look at the next `changed()`, not at the next interval (a tenant was published)."""
        self._next_look = 0.0

    def changed(self) -> list[str] | None:
        """All the topics now, when a look is due and found a change; else None. A look that
        failed in passing (a broker away) is logged and tried again at the next interval; any
        other failure is raised, for the worker to end (`logway.core.loops`)."""
        now = self.clock()
        if now < self._next_look:
            return None
        self._next_look = now + self.interval_s
        try:
            found = served_topics(self.admin, self.kind, self.serves)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("listing topics failed, will retry: %s", exc)
            return None
        if found == self.topics:
            return None
        added = sorted(set(found) - set(self.topics))
        log.info("following %d %s topic(s); new: %s", len(found), self.kind.pattern, added)
        self.topics = found
        return found


class Subscription:
    """A confluent-kafka group consumer subscribed to `TenantTopics`, following its changes.

    `refresh()` is called from the worker's loop; it returns whether there is anything to
    consume. `callbacks` go to `Consumer.subscribe` (`on_assign`, `on_revoke`, `on_lost`)."""

    def __init__(self, consumer: Consumer, topics: TenantTopics, **callbacks: Any) -> None:
        self.consumer, self.topics, self.callbacks = consumer, topics, callbacks
        self._waiting_told = False

    def refresh(self) -> bool:
        found = self.topics.changed()
        if found:
            self.consumer.subscribe(found, **self.callbacks)
        elif not self.topics.topics and not self._waiting_told:
            log.warning(
                "no %s topics for the served tenants yet; run `logway apply` (waiting)",
                self.topics.kind.pattern,
            )
            self._waiting_told = True
        return bool(self.topics.topics)


def nudged_by_publications(
    kafka: KafkaConnection, topics: TenantTopics, reader: str
) -> TopicFollower:
    """Follow `_logway.tenants` and nudge `topics` at each publication, so a tenant `apply`
    just made is consumed within a second or two instead of at the next interval (`apply`
    creates a tenant's topics before it publishes its version)."""
    follower = TopicFollower(kafka, reader, TENANTS_TOPIC, lambda _key, _value: topics.nudge())
    follower.start()
    return follower
