"""Retrying what Elasticsearch refused for now, with the partitions paused meanwhile: Kafka
holds the backlog, not the sink's memory."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message

from connectors.elasticsearch.request import Pending
from connectors.elasticsearch.service import Attempt, Waiting
from logway.core.deadletter import DeadLetter
from logway.core.metrics import PAUSED_PARTITIONS

log = logging.getLogger("logway.sink")


class StoppedWhileRetrying(Exception):  # noqa: N818 - a stop request, not an error
    """Shutdown was asked while Elasticsearch still refused the batch; it is not committed."""


class PausedRetry:
    """Exponential backoff with jitter, from `initial_s` doubling up to `max_s`, while the
    consumer's partitions stay paused and its group membership alive. A record fetched before
    the pause that still arrives goes to `late` (the next batch). This is for an overloaded or
    unreachable cluster, which every tenant waits for. What one tenant's index cannot take goes
    to `parking.Parking` instead; its partitions (`held`) stay paused when this resumes the
    others."""

    def __init__(
        self,
        consumer: Consumer,
        initial_s: float,
        max_s: float,
        late: Callable[[Message], None],
        *,
        held: Callable[[], set[tuple[str, int]]],
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        """`beat` is called at least once a second while waiting: the sink is alive."""
        self.consumer, self.initial_s, self.max_s, self.late = consumer, initial_s, max_s, late
        self.held, self.beat = held, beat

    def run(
        self,
        attempt: Attempt,
        pending: list[Pending],
        error: str,
        *,
        letters: list[DeadLetter],
        waiting: list[Waiting],
        stop: threading.Event,
    ) -> None:
        """Send `pending` again until every item is indexed, refused for good (into
        `letters`) or to wait for its index (into `waiting`); raise `StoppedWhileRetrying` if
        `stop` is set first."""
        if not pending:
            return
        delay = self.initial_s
        try:
            while pending:
                if stop.is_set():
                    raise StoppedWhileRetrying
                log.warning(
                    "Elasticsearch refused %d item(s) for now, retrying in %.1fs: %s",
                    len(pending),
                    delay,
                    error,
                )
                self._wait(delay)
                delay = min(self.max_s, delay * 2)
                pending, error = attempt(pending, letters, waiting)
        finally:
            held = self.held()
            free = [tp for tp in self.consumer.assignment() if (tp.topic, tp.partition) not in held]
            self.consumer.resume(free)
            PAUSED_PARTITIONS.labels(component="sink").set(len(held))

    def _wait(self, delay: float) -> None:
        deadline = time.monotonic() + delay * random.uniform(0.5, 1.0)  # noqa: S311
        while (left := deadline - time.monotonic()) > 0:
            # Paused: polling serves callbacks and keeps the membership. Partitions that a
            # cooperative rebalance hands over meanwhile arrive unpaused: pause them too.
            assignment = self.consumer.assignment()
            self.consumer.pause(assignment)
            PAUSED_PARTITIONS.labels(component="sink").set(len(assignment))
            message = self.consumer.poll(min(left, 1.0))
            self.beat()
            if message is not None:
                self.late(message)
