"""The tenant declaration: what an application team writes in YAML.

Every model is frozen and rejects unknown keys, so a typo is an error, never a silently ignored
setting. Descriptions and examples here become `logway schema` and the reference docs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    field_validator,
    model_validator,
)

from logway.core.deadletter import Reason
from logway.core.limits import DEFAULT_MAX_RECORD_BYTES
from logway.core.names import DEFAULT_ROUTE, TENANT_NAME
from streams.steps import DEFAULT_PIPELINE, AnyStep
from streams.steps.base import semantic_error
from streams.steps.multiline import MultilineStep
from streams.steps.parse import ParseStep
from streams.steps.reassemble import ReassembleStep
from streams.steps.route import DEFAULT_ROUTES, Route

PLATFORM_PREFIX = "logway"  # names the platform keeps for itself: its principals, its settings


def _not_the_platforms_name(name: str) -> str:
    if name.startswith(PLATFORM_PREFIX):
        raise ValueError(
            f"names starting with {PLATFORM_PREFIX!r} are the platform's own (its Kafka "
            "principals and groups): choose another"
        )
    return name


def _not_the_platforms_principal(principal: str) -> str:
    user = principal.removeprefix("User:")
    if user == "ANONYMOUS" or user.startswith(PLATFORM_PREFIX):
        raise ValueError(
            f"{principal} is the platform's (its own login, or every client without one); "
            "a tenant's quota and ACLs on it would reach every tenant"
        )
    return principal


def _not_the_platforms_setting(name: str) -> str:
    if name.upper().startswith("LOGWAY_"):
        raise ValueError(
            "secret names starting with LOGWAY_ are the platform's own settings: name the "
            "secret your team created"
        )
    return name


TenantName = Annotated[
    str,
    AfterValidator(_not_the_platforms_name),
    Field(
        pattern=rf"^{TENANT_NAME}$",
        description="Tenant name: lower case letters, digits and '-', 2-31 characters, "
        "starting with a letter, not with 'logway' (the platform's). It names the tenant's "
        "topics and indices.",
        examples=["payments", "search-api"],
    ),
]


SecretName = Annotated[str, AfterValidator(_not_the_platforms_setting)]


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
    webhook_secret: SecretName = Field(
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
        DEFAULT_MAX_RECORD_BYTES,
        ge=1_048_576,
        le=8_388_608,
        description="Largest record the tenant's topics accept, in bytes. Not under 1 MiB: "
        "logway's producers send batches of up to 1 MB, and the topic limit applies to a batch.",
        examples=[1_048_576],
    )


def _not_a_system_namespace(namespace: str) -> str:
    if namespace.startswith(("kube-", PLATFORM_PREFIX)):
        raise ValueError(
            f"{namespace!r} is the cluster's or the platform's own namespace: its logs are "
            "no tenant's (they go to _logway.unclaimed)"
        )
    return namespace


KubernetesNamespace = Annotated[
    str,
    AfterValidator(_not_a_system_namespace),
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="A Kubernetes namespace (an RFC 1123 label); not `kube-*` or `logway*`.",
        examples=["payments", "payments-canary"],
    ),
]
KafkaPrincipal = Annotated[
    str,
    AfterValidator(_not_the_platforms_principal),
    Field(
        pattern=r"^User:[A-Za-z0-9._@=-]{1,128}$",
        description="A Kafka principal, as the broker's authorizer names it; not the "
        "platform's (`User:ANONYMOUS`, `User:logway*`, the one logway logs in as).",
        examples=["User:payments-batch"],
    ),
]


class ForwardSource(Frozen):
    """Clients that send through the forward-protocol gateway (`logway run gateway`): the
    fluent-logger libraries, or Fluentd / Fluent Bit `forward` outputs, with tags
    `<tenant>.<anything>`."""

    shared_key_secret: SecretName | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,252}$",
        description="Name of the environment variable or Kubernetes Secret holding the shared "
        "key clients sign the handshake with. A connection signed with it may write this "
        "tenant's tags, and only those.",
        examples=["PAYMENTS_FORWARD_KEY"],
    )
    allow_unauthenticated: bool = Field(
        False,
        description="Also accept clients that skip the handshake (the Python fluent-logger has "
        "none). Anyone who can reach the gateway can then write this tenant's tags: only for "
        "clients inside a network you trust.",
    )

    @model_validator(mode="after")
    def _some_way_in(self) -> ForwardSource:
        if self.shared_key_secret is None and not self.allow_unauthenticated:
            raise semantic_error(
                "name a `shared_key_secret`, or set `allow_unauthenticated: true`; "
                "otherwise no client can use the gateway"
            )
        return self


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
    forward: ForwardSource | None = Field(
        None,
        description="Clients allowed to send through the forward-protocol gateway. Without it "
        "the gateway refuses this tenant's tags.",
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


OverLimit = Literal["delay", "drop"]


class Limits(Frozen):
    """What the tenant may send. Bounds are the platform's."""

    produce_bytes_per_s: StrictInt = Field(
        1_048_576,
        ge=1024,
        le=104_857_600,
        description="Broker produce quota for each of the tenant's principals, and for the "
        "node forwarder sending the tenant's namespaces (Kafka user logway-forwarder with the "
        "tenant's name as client id), in bytes per second. Producers over it are slowed down "
        "(throttled) by the broker, not refused.",
        examples=[1_048_576],
    )
    records_per_s: StrictInt = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="Records per second the processors, all of them together, take from the "
        "tenant's raw topic. Each processor takes its share: the limit times the part of the "
        "topic's partitions assigned to it. What is over it is `over_limit`'s.",
        examples=[5000],
    )
    over_limit: OverLimit = Field(
        "delay",
        description="Records over `records_per_s`: `delay` leaves them in Kafka (the tenant's "
        "partitions are paused until its rate is back under the limit; counted in "
        "`logway_throttled_seconds_total` and as consumer lag), `drop` drops them (counted in "
        "`logway_dropped_records_total`, reason `rate_limited`). Nothing over the limit slows "
        "another tenant.",
        examples=["delay"],
    )


class Storage(Frozen):
    """How long the tenant's documents stay in Elasticsearch, and how much room they may take.
    Enforced by `logway retention` (and the retention worker), which deletes whole indices of
    this tenant only: each route writes into generations, an index each, rolled over when the
    newest is `retention_days` old (or very big)."""

    retention_days: StrictInt = Field(
        14,
        ge=1,
        le=3650,
        description="Days of documents kept, today included: a route's index is deleted once "
        "everything in it is older. A document stays at least that long and at most about "
        "twice that (one index's span; a route holds two indices over its retention).",
        examples=[14],
    )
    max_bytes: StrictInt | None = Field(
        None,
        ge=1024,
        description="Budget for the size of all the tenant's indices on disk (replicas "
        "included), in bytes. Over it, the oldest indices are deleted, whole, until it fits; "
        "a route's newest index is never deleted. An alert fires at 90%. Unset: no budget.",
        examples=[53_687_091_200],
    )


class Sample(Frozen):
    """An example input and what the pipeline must make of it, checked by `logway validate`.

    Exactly one expectation: `output` (the document, without the `logway` block; `@timestamp`
    is compared only when given), `dead_letter` (the reason) or `dropped: true`.
    """

    input: str | tuple[str, ...] = Field(
        description="A raw record as the forwarder sends it, or several records of one "
        "container stream in order (for split lines).",
        examples=['{"level": "info", "msg": "paid", "amount": 12}'],
    )
    output: dict[str, JsonValue] | None = Field(
        None, description="The document expected in Elasticsearch, without `logway`."
    )
    route: str = Field(
        DEFAULT_ROUTE, description="The route the output must take.", examples=["audit"]
    )
    dead_letter: Reason | None = Field(
        None, description="The dead-letter reason expected instead of a document."
    )
    dropped: bool = Field(False, description="The record is expected to be dropped.")

    @field_validator("input")
    @classmethod
    def _bounded_input(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        pieces = (value,) if isinstance(value, str) else value
        if not pieces or len(pieces) > 64 or sum(len(p) for p in pieces) > 262_144:
            raise ValueError("a sample is 1-64 records and at most 256 KiB")
        return value

    @model_validator(mode="after")
    def _one_expectation(self) -> Sample:
        given = [self.output is not None, self.dead_letter is not None, self.dropped]
        if sum(given) != 1:
            raise semantic_error(
                "a sample expects exactly one of `output`, `dead_letter` or `dropped: true`"
            )
        return self


# The most a tenant's declaration takes as JSON: a LoggingPipeline of this size, with its
# status and kopf's bookkeeping (a digest), stays well inside what etcd stores (1.5 MiB), and
# its published version inside `_logway.tenants`' records (1 MiB).
MAX_TENANT_BYTES = 512 * 1024


class Tenant(Frozen):
    """One tenant: an application team's logs, from source to index.

    It gets three topics: `logs.<name>.raw` (what forwarders and producers write),
    `logs.<name>.processed` (what the processor made of it) and `logs.<name>.dlq` (what could
    not be processed, with a reason), and per route indices `logs-<name>.<route>-<start>`
    (`<start>`: `first`, `yyyy.mm.dd-hh.mm` for a rolled-over one, `yyyy.mm.dd` for the daily
    ones of before).
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
    storage: Storage = Field(
        default_factory=Storage,
        description="How long its documents are kept in Elasticsearch, and its size budget.",
    )
    pipeline: tuple[AnyStep, ...] = Field(
        DEFAULT_PIPELINE,
        max_length=50,
        description="Processing steps, in order, applied to each raw record. A record starts "
        "as `{message: <the raw line>}`. Without a pipeline each line is parsed as JSON.",
        examples=[[{"step": "parse", "format": "json"}, {"step": "timestamp", "field": "ts"}]],
    )
    routes: tuple[Route, ...] = Field(
        DEFAULT_ROUTES,
        min_length=1,
        max_length=32,
        description="Where records go: tried in order, the first matching route wins; the last "
        "route has no `when` and takes the rest.",
        examples=[[{"index": "audit", "when": 'kind == "audit"'}, {"index": "default"}]],
    )
    samples: tuple[Sample, ...] = Field(
        (),
        max_length=100,
        description="Example records with their expected results; `logway validate` runs them "
        "through the pipeline (the dry-run level).",
    )

    @field_validator("routes")
    @classmethod
    def _default_route_last(cls, routes: tuple[Route, ...]) -> tuple[Route, ...]:
        *rules, default = routes
        if default.when is not None:
            raise semantic_error(
                "the last route is the default and takes every record left: remove its `when`"
            )
        unconditional = [route.index for route in rules if route.when is None]
        if unconditional:
            raise semantic_error(
                f"route {unconditional[0]!r} has no `when` but is not last; only the last "
                "route (the default) may have none"
            )
        indices = [route.index for route in routes]
        repeated = sorted({index for index in indices if indices.count(index) > 1})
        if repeated:
            raise semantic_error(f"routes send to {repeated[0]!r} more than once; merge them")
        return routes

    @field_validator("pipeline")
    @classmethod
    def _reassembly_after_runtime_parse(cls, pipeline: tuple[AnyStep, ...]) -> tuple[AnyStep, ...]:
        at = [i for i, step in enumerate(pipeline) if isinstance(step, ReassembleStep)]
        if len(at) > 1:
            raise semantic_error("the pipeline reassembles twice; keep one `reassemble` step")
        if at and not any(
            isinstance(step, ParseStep) and step.format in ("docker", "cri")
            for step in pipeline[: at[0]]
        ):
            raise semantic_error(
                "`reassemble` needs a `parse` step with format `docker` or `cri` before it: "
                "that is what marks the pieces of a split line"
            )
        return pipeline

    @field_validator("pipeline")
    @classmethod
    def _one_multiline_after_reassembly(cls, pipeline: tuple[AnyStep, ...]) -> tuple[AnyStep, ...]:
        at = [i for i, step in enumerate(pipeline) if isinstance(step, MultilineStep)]
        if len(at) > 1:
            raise semantic_error("the pipeline joins events twice; keep one `multiline` step")
        reassembly = [i for i, step in enumerate(pipeline) if isinstance(step, ReassembleStep)]
        if at and reassembly and reassembly[0] > at[0]:
            raise semantic_error(
                "`multiline` must come after `reassemble`: it joins whole lines, and a runtime "
                "may have split one"
            )
        return pipeline

    @model_validator(mode="after")
    def _fits_the_servers(self) -> Tenant:
        size = len(self.model_dump_json(exclude_defaults=True))
        if size > MAX_TENANT_BYTES:
            raise semantic_error(
                f"the declaration is {size} bytes as JSON, over the {MAX_TENANT_BYTES} a tenant "
                "may take (it is published to Kafka, and stored in Kubernetes as a "
                "LoggingPipeline): shorten the samples"
            )
        return self

    @model_validator(mode="after")
    def _samples_take_declared_routes(self) -> Tenant:
        indices = {route.index for route in self.routes}
        for sample in self.samples:
            if sample.route not in indices:
                raise semantic_error(
                    f"a sample expects route {sample.route!r}, which is not declared"
                )
        return self
