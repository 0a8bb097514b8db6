"""What every kind of object `apply` keeps offers, and what they share: the question a plan
answers (`Wanted`), batching and doing many server calls at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from confluent_kafka import KafkaException
from elasticsearch import ApiError, TransportError

from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.quotas import QuotaError
from topology.resources.change import Change, Kind
from topology.targets import Targets

T = TypeVar("T")
S = TypeVar("S")

# Most objects in one Kafka admin request, and most Elasticsearch requests at a time.
BATCH = 500
PARALLEL = 8
# Up to this many names, objects are looked up by name; more are listed at once.
FEW = 30


@dataclass(frozen=True)
class Wanted:
    """What a plan is asked: the declared tenants, and the published ones no longer declared
    (within scope) with what to do about them."""

    tenants: tuple[Tenant, ...]
    removed: tuple[PublishedTenant, ...]
    published: Mapping[str, PublishedTenant]
    prune: bool = False
    delete_data: bool = False
    keep_data: bool = False

    @property
    def names(self) -> list[str]:
        """Every tenant the plan concerns, declared or removed."""
        return [t.name for t in self.tenants] + [r.name for r in self.removed]

    @property
    def pruned(self) -> list[PublishedTenant]:
        """The removed tenants whose objects go (with `prune`)."""
        return list(self.removed) if self.prune else []


class ResourceKind(Protocol[S]):
    """One kind of server object kept per tenant."""

    kinds: frozenset[Kind]  # the `Change.kind`s it plans and carries out

    def observe(self, targets: Targets, wanted: Wanted) -> S:
        """What the servers hold for `wanted`'s tenants, in as few requests as it takes."""
        ...

    def diff(self, wanted: Wanted, seen: S) -> list[Change]:
        """The changes that make the declared tenants real. Pure."""
        ...

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: S) -> list[Change]:
        """The changes that remove a pruned tenant's objects of this kind. Pure."""
        ...

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        """Carry out pending `changes` of this kind; return each with its result."""
        ...


def batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_parallel(work: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
    """`work(item)` for every item, `PARALLEL` at a time; results in the items' order."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(PARALLEL, "apply") as pool:
        return list(pool.map(work, items))


def server_error(exc: BaseException) -> str | None:
    """A server's refusal as text; None for anything else (a bug, to be raised)."""
    if isinstance(exc, KafkaException):
        return str(exc.args[0].str() if exc.args else exc)
    if isinstance(exc, ApiError | TransportError | QuotaError):
        return str(exc)
    return None


def each(change: Change, act: Callable[[], object]) -> Change:
    """`act()` for one change, done (with the text `act` returns, if any, as its detail) or
    failed with the server's refusal."""
    try:
        detail = act()
    except Exception as exc:
        error = server_error(exc)
        if error is None:
            raise
        return change.failed(error)
    return change.done(detail if isinstance(detail, str) else "")
