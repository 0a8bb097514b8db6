"""One thing `apply` would do (or found already done) for one tenant: the plan's unit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from topology.access import Grant

Kind = Literal[
    "topic",
    "topic config",
    "index template",
    "user",
    "acl",
    "quota",
    "forwarder quota",
    "reader role",
    "reader key",
    "forwarder route",
    "tenant version",
    "indices",
]
Action = Literal[
    "create",
    "grow partitions",
    "update",
    "publish",
    "unchanged",
    "kept larger",
    "not declared",
    "unsupported",
    "delete",
    "keep data",
    "re-render",
]
Result = Literal["done", "failed", "skipped"]
PENDING: frozenset[Action] = frozenset({"create", "grow partitions", "update", "publish", "delete"})


@dataclass(frozen=True)
class Change:
    """One change of one tenant's objects on the servers."""

    tenant: str
    kind: Kind
    name: str
    action: Action
    detail: str = ""
    result: Result | None = None  # set by apply
    grant: Grant | None = field(default=None, compare=False, repr=False)  # for ACL changes

    @property
    def pending(self) -> bool:
        return self.action in PENDING

    def done(self, detail: str = "") -> Change:
        return replace(self, result="done", detail=detail or self.detail)

    def failed(self, error: str) -> Change:
        return replace(self, result="failed", detail=error)
