"""Writing the sink's dead letters to the tenants' dead-letter topics, each cut to fit."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from connectors.runtime.commit import Deliveries
from logway.core.deadletter import DeadLetter
from logway.core.discovery import topic_config
from logway.core.limits import DEFAULT_MAX_RECORD_BYTES, max_value_bytes
from logway.core.names import dlq_topic

log = logging.getLogger("logway.sink")


class DeadLetterWriter:
    """Produces dead letters and waits for Kafka to take them all (else `DeliveryError`)."""

    def __init__(self, producer: Producer, admin: AdminClient) -> None:
        self.admin = admin
        self.deliveries = Deliveries(producer, "dead letter(s)")
        self._value_limits: dict[str, int] = {}  # DLQ topic -> largest record value it takes

    def write(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            topic = dlq_topic(letter.tenant)
            self.deliveries.produce(
                topic, letter.fitted(self._value_limit(topic)), letter.event_id.encode()
            )
        self.deliveries.settle()

    def _value_limit(self, topic: str) -> int:
        """The largest record value `topic` takes: its max.message.bytes less the framing,
        looked up once; if Kafka cannot say, the smallest limit a tenant may declare."""
        limit = self._value_limits.get(topic)
        if limit is None:
            limit = DEFAULT_MAX_RECORD_BYTES
            try:
                limit = int(topic_config(self.admin, topic, "max.message.bytes") or limit)
            except KafkaException as exc:
                log.warning("cannot read %s's record limit, assuming 1 MiB: %s", topic, exc)
            limit = max_value_bytes(limit)
            self._value_limits[topic] = limit
        return limit
