"""The processor's copy of `_logway.pods`: each pod's uid, node, labels and chosen annotations,
as the pod watcher last published them, for the `kubernetes` block of its containers' lines.

Followed from the topic's beginning in a thread, without a consumer group, as the tenant
registry follows `_logway.tenants`. A deleted pod's record (a tombstone) is kept for
`KEEP_DELETED_S` more: its last lines may still be on their way through Kafka.
"""

from __future__ import annotations

import logging
import threading
import time

from pydantic import ValidationError

from logway.core.control import TopicFollower
from logway.core.kafka import KafkaConnection
from logway.core.kubernetes import PODS_TOPIC, PodRecord

log = logging.getLogger("logway.processor.pods")
KEEP_DELETED_S = 600.0


class PodTable:
    """(namespace, pod) -> its `PodRecord`, following `_logway.pods`."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._pods: dict[tuple[str, str], PodRecord] = {}
        self._deleted: dict[tuple[str, str], float] = {}  # -> when to forget it
        self._lock = threading.Lock()
        self._follower = TopicFollower(
            kafka,
            "logway-pod-table",
            PODS_TOPIC,
            self._take,
            ready_when_missing=True,
            tick=lambda: self._forget_deleted(time.monotonic()),
        )
        self.caught_up = self._follower.caught_up

    def start(self) -> PodTable:
        self._follower.start()
        return self

    def stop(self) -> None:
        self._follower.stop()

    def get(self, namespace: str, pod: str) -> PodRecord | None:
        return self._pods.get((namespace, pod))  # one dict read: atomic under the GIL

    def __len__(self) -> int:
        return len(self._pods)

    def _take(self, key: str, value: bytes | None) -> None:
        namespace, _, name = key.partition("/")
        if value is None:
            with self._lock:
                if (namespace, name) in self._pods:
                    self._deleted[(namespace, name)] = time.monotonic() + KEEP_DELETED_S
            return
        try:
            pod = PodRecord.model_validate_json(value)
        except ValidationError as exc:
            log.error("pod %s: record refused: %s", key, exc.errors()[0]["msg"])
            return
        with self._lock:
            self._pods[(namespace, name)] = pod
            self._deleted.pop((namespace, name), None)

    def _forget_deleted(self, now: float) -> None:
        with self._lock:
            for key in [k for k, when in self._deleted.items() if when <= now]:
                del self._deleted[key]
                self._pods.pop(key, None)
