"""The Kafka connection and the group preset in Faust's spelling (aiokafka underneath): the
only place outside the processor's app that names Faust, and the processor is the only worker
on Faust (`.importlinter`). `logway.core.kafka` holds the same settings for confluent-kafka."""

from __future__ import annotations

from typing import Any

from faust.auth import SASLCredentials, SSLCredentials

from logway.core.kafka import (
    CONSUMER_PRESET,
    HEARTBEAT_INTERVAL_S,
    SESSION_TIMEOUT_S,
    KafkaConnection,
)


def faust_credentials(kafka: KafkaConnection) -> Any:
    """Faust's `broker_credentials` for the same login as `kafka.client()`; None on
    PLAINTEXT."""
    context = kafka.ssl_context()
    if kafka.username and kafka.password:
        return SASLCredentials(
            username=kafka.username,
            password=kafka.password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    return SSLCredentials(context) if context is not None else None


def faust_group(instance_id: str | None = None) -> dict[str, Any]:
    """The group membership of `KafkaConnection.consumer`, in Faust's settings. aiokafka has no
    cooperative protocol: a rebalance there pauses every member for a moment."""
    return {
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S,
        "broker_rebalance_timeout": SESSION_TIMEOUT_S * 3,
        "consumer_group_instance_id": instance_id,
        "consumer_auto_offset_reset": CONSUMER_PRESET["auto.offset.reset"],
    }
