"""Where the shared servers are. Every process reads these once at start-up."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from logway.core.kafka import KafkaConnection

DEFAULT_ES_URL = "http://127.0.0.1:9200"


class Endpoints(BaseModel):
    """The Kafka cluster and Elasticsearch cluster a logway process talks to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(
        default_factory=KafkaConnection,
        description="Kafka's servers and the process's login "
        "(LOGWAY_KAFKA_*, see logway.core.kafka).",
    )
    es_url: str = Field(
        DEFAULT_ES_URL,
        description="Elasticsearch URL (LOGWAY_ES_URL).",
        examples=["http://127.0.0.1:9200"],
    )

    @classmethod
    def from_env(cls) -> Endpoints:
        """Raises `logway.core.kafka.KafkaSettingsError` when the Kafka settings do not add up."""
        return cls(
            kafka=KafkaConnection.from_env(),
            es_url=os.environ.get("LOGWAY_ES_URL", DEFAULT_ES_URL),
        )
