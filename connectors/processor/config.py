"""Settings of a processor worker. Read once at start-up; runtime code never reads raw dicts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from connectors.runtime.config import GroupWorkerConfig
from logway.core.discovery import tenant_matcher


class ProcessorConfig(GroupWorkerConfig):
    """How one processor worker runs. Every worker of one group must share `app_id`."""

    app_id: str = Field(
        "logway-processor",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Faust application id: the Kafka consumer group of the processors.",
    )
    discovery_interval_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="How often the worker looks for new tenants' raw topics. A new tenant is "
        "consumed within this interval plus the resubscription delay (0.2 s).",
    )
    batch_max: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Most raw records fetched and handled as one batch: produced together, "
        "then acked.",
    )
    batch_linger_s: float = Field(
        0.05,
        ge=0,
        le=5,
        description="Under light traffic (a fetch of less than a quarter of `batch_max`), the "
        "least time between two batches, so records arrive in fewer, larger batches (fewer "
        "Kafka requests and flushes per record); adds at most this much latency, and nothing "
        "to a backlog. 0 hands each fetch over at once.",
    )
    data_dir: Path = Field(Path(".logway/processor"), description="Faust's local state folder.")
    metrics_port: int = Field(
        9641, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )

    def serves(self, tenant: str) -> bool:
        return tenant_matcher(self.tenants_matching)(tenant)
