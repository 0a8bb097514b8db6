"""Where the shared servers are. Every process reads these once at start-up."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection


class Endpoints(BaseModel):
    """The Kafka cluster and Elasticsearch cluster a logway process talks to, and its logins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(
        default_factory=KafkaConnection,
        description="Kafka's servers and the process's login "
        "(LOGWAY_KAFKA_*, see logway.core.kafka).",
    )
    es: ElasticConnection = Field(
        default_factory=ElasticConnection,
        description="Elasticsearch's URL and the process's login "
        "(LOGWAY_ES_*, see logway.core.elastic).",
    )

    @classmethod
    def from_env(cls) -> Endpoints:
        """Raises `KafkaSettingsError` or `ElasticSettingsError` when the settings do not add
        up, naming the variable to fix."""
        return cls(kafka=KafkaConnection.from_env(), es=ElasticConnection.from_env())

    def environment(self) -> dict[str, str]:
        """The variables that make a child process reach both clusters the same way."""
        return {**self.kafka.environment(), **self.es.environment()}
