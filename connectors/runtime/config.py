"""The settings every worker that shares partitions in a consumer group has."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logway.core.discovery import TenantsMatching
from logway.core.kafka import INSTANCE_ID, KafkaConnection


class GroupWorkerConfig(BaseModel):
    """A processor, sink or notifier: its Kafka login, the tenants it serves, its name in its
    group. Each worker's own settings extend these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and this worker's login.")
    tenants_matching: TenantsMatching = ".*"
    instance_id: str | None = Field(
        None,
        pattern=INSTANCE_ID,
        description="This worker's lasting name in its group (static membership): started "
        "again under the same name, it takes back its partitions at once instead of after the "
        "group's session timeout (10 s). One name per worker (the Helm chart gives the pod's "
        "name); unset, each start joins as a new member.",
    )
    discovery_interval_s: float = Field(
        10.0, gt=0, le=300, description="How often the worker looks for new tenants' topics."
    )
