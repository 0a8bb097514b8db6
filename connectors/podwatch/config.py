"""Settings of the pod watcher."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from logway.core.kafka import KafkaConnection


class PodWatchConfig(BaseModel):
    """How the pod watcher reaches the API server and Kafka, and what it keeps of a pod."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and this worker's login.")
    kubeconfig: Path | None = Field(
        None,
        description="A kubeconfig file to reach the API server; unset, the pod's own service "
        "account (in the cluster).",
    )
    annotations: list[str] = Field(
        [],
        description="Annotation keys (or prefixes ending in `/`) copied onto records, e.g. "
        "`prometheus.io/`; none by default: annotations can be large and hold what a team "
        "did not mean to put in its logs.",
    )
    resync_s: float = Field(
        300, gt=0, le=3600, description="How long one watch runs before it is renewed."
    )
    metrics_port: int = Field(
        9645, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
