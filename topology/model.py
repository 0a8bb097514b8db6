"""The tenant declaration: what an application team writes in YAML.

Every model is frozen and rejects unknown keys, so a typo is an error, never a silently ignored
setting. Descriptions and examples here become `logway schema` and the reference docs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from topology.names import TENANT_NAME

TenantName = Annotated[
    str,
    Field(
        pattern=rf"^{TENANT_NAME}$",
        description="Tenant name: lower case letters, digits and '-', 2-31 characters, "
        "starting with a letter. It names the tenant's topics and indices.",
        examples=["payments", "search-api"],
    ),
]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Owners(Frozen):
    """Who owns the tenant's logs and hears about its dead letters."""

    team: str = Field(
        min_length=1,
        max_length=100,
        description="The owning team, as people know it.",
        examples=["payments-platform"],
    )
    slack_channel: str = Field(
        pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$",
        description="Slack channel the owners read, with its leading '#'.",
        examples=["#payments-alerts"],
    )
    webhook_secret: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,252}$",
        description="Name of the environment variable or Kubernetes Secret that holds the "
        "Slack webhook URL. Never the URL itself: configs are shared and reviewed in the open.",
        examples=["PAYMENTS_SLACK_WEBHOOK"],
    )

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _not_a_url(cls, value: object) -> object:
        if isinstance(value, str) and "://" in value:
            raise ValueError(
                "this looks like a webhook URL; put the URL in a secret and name the secret here"
            )
        return value


class TopicSettings(Frozen):
    """How the tenant's Kafka topics are sized. Bounds are the platform's."""

    partitions: StrictInt = Field(
        3,
        ge=1,
        le=64,
        description="Partitions of each of the tenant's topics: the most consumers that can "
        "share its load. Can only grow.",
        examples=[3],
    )
    retention_hours: StrictInt = Field(
        72,
        ge=1,
        le=720,
        description="How long Kafka keeps the tenant's records: the buffer when anything "
        "downstream is down. Records older than this are deleted, read or not.",
        examples=[72],
    )
    max_record_bytes: StrictInt = Field(
        1_048_576,
        ge=1024,
        le=8_388_608,
        description="Largest record the tenant's topics accept, in bytes.",
        examples=[1_048_576],
    )


KubernetesNamespace = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="A Kubernetes namespace (an RFC 1123 label).",
        examples=["payments", "payments-canary"],
    ),
]
KafkaPrincipal = Annotated[
    str,
    Field(
        pattern=r"^User:[A-Za-z0-9._@=-]{1,128}$",
        description="A Kafka principal, as the broker's authorizer names it.",
        examples=["User:payments-batch"],
    ),
]


class Sources(Frozen):
    """Where the tenant's logs come from. Each namespace and principal belongs to one tenant."""

    namespaces: tuple[KubernetesNamespace, ...] = Field(
        (),
        max_length=100,
        description="Kubernetes namespaces whose container logs are the tenant's: the node "
        "forwarders send them to `logs.<name>.raw`.",
        examples=[["payments", "payments-canary"]],
    )
    producers: tuple[KafkaPrincipal, ...] = Field(
        (),
        max_length=50,
        description="Kafka principals of producers outside the cluster allowed to write the "
        "tenant's raw topic directly.",
        examples=[["User:payments-batch"]],
    )

    @field_validator("namespaces", "producers")
    @classmethod
    def _no_repeats(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return values


class Notify(Frozen):
    """How the owners hear about dead letters on Slack."""

    digest_minutes: StrictInt = Field(
        15,
        ge=1,
        le=1440,
        description="Dead letters are summed up in one message per this many minutes, at most.",
        examples=[15],
    )
    min_severity: Literal["info", "warning", "critical"] = Field(
        "warning",
        description="Least severe dead letters that cause a message. `critical`: the platform "
        "failed (internal errors); `warning`: records the tenant sent cannot be processed or "
        "indexed; `info`: everything.",
        examples=["warning"],
    )


class DeadLetterSettings(Frozen):
    """The tenant's dead-letter topic and its notices."""

    retention_hours: StrictInt = Field(
        168,
        ge=24,
        le=2160,
        description="How long dead letters are kept for inspection and replay.",
        examples=[168],
    )
    notify: Notify = Field(default_factory=Notify, description="Slack notices to the owners.")


class Limits(Frozen):
    """What the tenant may send. Bounds are the platform's."""

    produce_bytes_per_s: StrictInt = Field(
        1_048_576,
        ge=1024,
        le=104_857_600,
        description="Broker produce quota for each of the tenant's principals, in bytes per "
        "second. Producers over it are slowed down (throttled) by the broker, not refused.",
        examples=[1_048_576],
    )
    records_per_s: StrictInt = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="Records per second the processor takes from the tenant.",
        examples=[5000],
    )


class Tenant(Frozen):
    """One tenant: an application team's logs, from source to index.

    It gets three topics: `logs.<name>.raw` (what forwarders and producers write),
    `logs.<name>.processed` (what the processor made of it) and `logs.<name>.dlq` (what could
    not be processed, with a reason), and daily indices `logs-<name>-<yyyy.mm.dd>`.
    """

    name: TenantName
    owners: Owners = Field(description="Who owns the logs and hears about dead letters.")
    sources: Sources = Field(default_factory=Sources, description="Where the logs come from.")
    topics: TopicSettings = Field(
        default_factory=TopicSettings,
        description="Sizing of the tenant's topics.",
    )
    dlq: DeadLetterSettings = Field(
        default_factory=DeadLetterSettings, description="Dead letters and their notices."
    )
    limits: Limits = Field(default_factory=Limits, description="What the tenant may send.")
