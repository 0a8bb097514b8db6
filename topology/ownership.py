"""Who may claim what, when tenants are `LoggingPipeline` resources: ownership from Kubernetes.

A resource in namespace N is one team's, and claims for its tenant:

- **its name** (the tenant's name), unique in the cluster;
- **namespaces' logs:** N's own always; another namespace M's only when M consents, by the
  label `logway.dev/logs-tenant=<tenant>` (set by whoever administers M, usually the platform:
  a team's role in its own namespace cannot label a Namespace);
- **producer principals** (beyond its own `User:<tenant>`) and a **forward shared key
  secret** only when N lists them, in the annotations `logway.dev/producers` and
  `logway.dev/forward-key-secrets` (comma-separated) that the platform puts on N when it gives
  the team those identities.

A tenant published from files (`logway apply`) is taken over by a resource only when N's
annotation `logway.dev/adopt` lists it: the platform's call, never the team's (a team could
otherwise take another team's tenant, and a reader key to its logs, by naming it).

When two resources claim the same thing, the one created first keeps it (then the one whose
`namespace/name` sorts first); the later is refused, naming the owner, and is reconciled again
until the owner lets go. These rules are pure: the operator feeds them what it watches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from topology.load import Claim, claims_of
from topology.model import Tenant

CONSENT_LABEL = "logway.dev/logs-tenant"
PRODUCERS_ANNOTATION = "logway.dev/producers"
FORWARD_KEYS_ANNOTATION = "logway.dev/forward-key-secrets"
ADOPT_ANNOTATION = "logway.dev/adopt"
DELETE_DATA_ANNOTATION = "logway.dev/delete-data"


@dataclass(frozen=True, order=True)
class Resource:
    """One LoggingPipeline, as far as ownership goes. Orders by age, the oldest first."""

    created: str  # metadata.creationTimestamp (RFC 3339, so it sorts as text)
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def source(self) -> str:
        """What its tenant's published versions say they were declared in."""
        return f"LoggingPipeline {self.ref}"


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def listed(self, annotation: str) -> set[str]:
        return {v.strip() for v in self.annotations.get(annotation, "").split(",") if v.strip()}


@dataclass(frozen=True)
class Refusal:
    """A claim this resource may not make: where, why, and who holds it (if someone does)."""

    loc: tuple[int | str, ...]
    message: str
    owner: str | None = None


def all_claims(tenant: Tenant) -> list[Claim]:
    return [("tenant name", tenant.name, ("name",)), *claims_of(tenant)]


def refusals(
    tenant: Tenant,
    resource: Resource,
    namespaces: Mapping[str, Namespace],
    claimants: Mapping[tuple[str, str], Iterable[Resource]],
) -> list[Refusal]:
    """Every claim of `tenant` (declared by `resource`) that its namespace's grants do not
    allow, or that an older resource holds. `claimants`: (kind, value) -> the resources
    claiming it, this one included or not."""
    found: list[Refusal] = []
    for claim in claims_of(tenant):
        refused = _consent(claim, tenant, resource, namespaces)
        if refused is not None:
            found.append(refused)
    for kind, value, loc in all_claims(tenant):
        others = sorted(c for c in claimants.get((kind, value), ()) if c.ref != resource.ref)
        if others and others[0] < resource:
            owner = others[0]
            found.append(
                Refusal(
                    loc,
                    f"{kind} {value!r} is already claimed by LoggingPipeline {owner.ref}, "
                    "created earlier; each belongs to one tenant",
                    owner.ref,
                )
            )
    return found


def _consent(
    claim: Claim, tenant: Tenant, resource: Resource, namespaces: Mapping[str, Namespace]
) -> Refusal | None:
    kind, value, loc = claim
    if kind == "namespace":
        other = namespaces.get(value)
        if value == resource.namespace or (
            other is not None and other.labels.get(CONSENT_LABEL) == tenant.name
        ):
            return None
        missing = "" if other is not None else " (it does not exist yet)"
        return Refusal(
            loc,
            f"namespace {value!r} is not this resource's{missing}: its logs may be claimed only "
            f"with its consent, the label {CONSENT_LABEL}={tenant.name} on it",
        )
    home = namespaces.get(resource.namespace, Namespace(resource.namespace))
    annotation = PRODUCERS_ANNOTATION if kind == "producer principal" else FORWARD_KEYS_ANNOTATION
    if value == f"User:{tenant.name}" or value in home.listed(annotation):
        return None
    return Refusal(
        loc,
        f"{kind} {value!r} is not granted to namespace {resource.namespace!r}: the platform "
        f"lists what a namespace may claim in its {annotation} annotation",
    )
