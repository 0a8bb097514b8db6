"""Settings of a notifier worker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.discovery import TenantsMatching
from logway.core.kafka import INSTANCE_ID, KafkaConnection


class NotifierConfig(BaseModel):
    """How one notifier reads the dead-letter topics and posts to the owners' webhooks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and this worker's login.")
    group_id: str = Field(
        "logway-notifier",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Kafka consumer group shared by the notifier workers.",
    )
    tenants_matching: TenantsMatching = ".*"
    instance_id: str | None = Field(
        None,
        pattern=INSTANCE_ID,
        description="This worker's lasting name in its group (static membership): started "
        "again under the same name, it takes back its partitions at once instead of after the "
        "group's session timeout (10 s). One name per worker (the Helm chart gives the pod's "
        "name); unset, each start joins as a new member.",
    )
    digest_interval_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="Override every tenant's `dlq.notify.digest_minutes` (for trying it out "
        "and for tests); unset, each tenant's own interval applies.",
    )
    max_age_hours: float = Field(
        24, gt=0, description="Dead letters older than this are counted but not posted about."
    )
    retry_max_s: float = Field(300, gt=0, description="Longest wait between failed posts.")
    metrics_port: int = Field(
        9644, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
    discovery_interval_s: float = Field(
        10.0, gt=0, le=300, description="How often to look for new tenants' dead-letter topics."
    )
