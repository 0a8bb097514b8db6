"""Planning declared tenants against the live servers, and what it means when a server cannot
answer: written once for `logway plan` and `apply`, `logway validate --online` and the
operator, which each only say it in their own words (a message and an exit code, a problem
line, a status reason)."""

from __future__ import annotations

from typing import Literal

from confluent_kafka import KafkaException
from elasticsearch import ApiError, TransportError
from pydantic import BaseModel, ConfigDict

from logway.core.control import FILES
from logway.core.discovery import tenant_matcher
from topology.apply import plan
from topology.live import check_servers
from topology.load import LoadResult
from topology.resources.change import Change
from topology.targets import Targets

# What the Kafka admin client and the Elasticsearch client raise when their server cannot
# answer (down, refusing the login, timing out): the one set every caller catches.
SERVER_ERRORS = (KafkaException, ApiError, TransportError)

Server = Literal["Kafka", "Elasticsearch"]
UnreachableReason = Literal["KafkaUnreachable", "ElasticsearchUnreachable"]


class Unreachable(BaseModel):
    """A server that could not answer, and what its client said."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: Server
    detail: str

    @property
    def reason(self) -> UnreachableReason:
        return "KafkaUnreachable" if self.server == "Kafka" else "ElasticsearchUnreachable"


def unreachable(exc: BaseException) -> Unreachable:
    """Which server one of `SERVER_ERRORS` came from, with its client's own words (librdkafka's
    error string rather than the exception's repr)."""
    if isinstance(exc, KafkaException):
        error: object = exc.args[0] if exc.args else None
        describe = getattr(error, "str", None)  # a KafkaError says it best itself
        return Unreachable(server="Kafka", detail=str(describe()) if describe else str(exc))
    if isinstance(exc, TransportError):  # its str() is only its kind ("Connection error")
        return Unreachable(server="Elasticsearch", detail=f"{exc}: {exc.message}")
    return Unreachable(server="Elasticsearch", detail=str(exc))


def plan_declared(
    targets: Targets,
    declared: LoadResult,
    *,
    prune: bool = False,
    delete_data: bool = False,
    scope: str = ".*",
) -> list[Change]:
    """Check the declared tenants against what the servers hold (taking out the ones they
    refuse, into `declared.errors` and `declared.rejected`), then plan the rest.

    With `prune`, the published tenants that nothing declares are removed, but only those
    whose name fully matches `scope`, that were published from files (a LoggingPipeline's
    tenant is its operator's) and that are not merely refused now. Raises one of
    `SERVER_ERRORS` when a server cannot answer. Nothing is planned when the servers
    refuse every declared tenant: with `prune`, an empty declaration would remove them all."""
    published = check_servers(
        declared, targets.admin, targets.kafka, targets.timeout, targets.ceilings, es=targets.es
    )
    if not declared.tenants:
        return []
    in_scope = tenant_matcher(scope)
    refused = set(declared.rejected)  # declared but refused: never pruned as undeclared
    return plan(
        targets,
        [loaded.tenant for loaded in declared.tenants],
        published,
        prune=prune,
        delete_data=delete_data,
        scope=lambda name: (
            in_scope(name) and name not in refused and published[name].source == FILES
        ),
    )
