"""Settings of a notifier worker."""

from __future__ import annotations

from pydantic import Field

from connectors.runtime.config import GroupWorkerConfig


class NotifierConfig(GroupWorkerConfig):
    """How one notifier reads the dead-letter topics and posts to the owners' webhooks."""

    group_id: str = Field(
        "logway-notifier",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Kafka consumer group shared by the notifier workers.",
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
