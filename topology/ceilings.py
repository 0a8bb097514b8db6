"""The platform's ceilings on what a tenant may declare for the resources every tenant shares.

A tenant declares its own limits (`limits.records_per_s`, `limits.produce_bytes_per_s`), its
partitions and its storage; the model's bounds are only what logway can run at all. A platform
that does not trust its tenants sets ceilings below them, and `validate --online`, `plan`,
`apply` and the operator refuse a tenant declaring more, naming the field and the ceiling: a
limit a tenant may raise at will would keep no tenant from slowing the others.

Each ceiling is set by an environment variable of the one applying (the CLI's, the operator's
pod): unset, that field has no ceiling beyond the model's.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, ValidationError

from topology.model import Frozen, Tenant

Loc = tuple[str, ...]
ENV_PREFIX = "LOGWAY_TENANT_MAX_"


class Ceilings(Frozen):
    """The most any tenant may declare; None: the model's bound only."""

    records_per_s: int | None = Field(None, ge=1, description="limits.records_per_s")
    produce_bytes_per_s: int | None = Field(None, ge=1, description="limits.produce_bytes_per_s")
    partitions: int | None = Field(None, ge=1, description="topics.partitions")
    retention_days: int | None = Field(None, ge=1, description="storage.retention_days")
    storage_bytes: int | None = Field(
        None, ge=1, description="storage.max_bytes (which must then be declared)"
    )
    shards: int | None = Field(
        None,
        ge=1,
        description="primary shards of the tenant's indices: two generations per route "
        "(more only by volume, past the retention worker's generation_max_bytes)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Ceilings:
        """From `LOGWAY_TENANT_MAX_<FIELD>` (e.g. LOGWAY_TENANT_MAX_RECORDS_PER_S=20000).
        Raises ValueError naming the variable when one is not a positive whole number."""
        values: dict[str, int] = {}
        for name in cls.model_fields:
            variable = ENV_PREFIX + name.upper()
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw.replace("_", ""))
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a whole number") from None
        try:
            return cls(**values)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            raise ValueError(f"{ENV_PREFIX}{field.upper()} must be 1 or more") from None


# Each ceiling's field of the tenant model, as a path into the tenant's document.
DECLARED: dict[str, Loc] = {
    "records_per_s": ("limits", "records_per_s"),
    "produce_bytes_per_s": ("limits", "produce_bytes_per_s"),
    "partitions": ("topics", "partitions"),
    "retention_days": ("storage", "retention_days"),
    "storage_bytes": ("storage", "max_bytes"),
}
CEILING_PATHS: tuple[str, ...] = tuple("." + ".".join(loc) for loc in DECLARED.values())


GENERATIONS_PER_ROUTE = 2  # over its retention, while each stays under generation_max_bytes


def most_shards(tenant: Tenant) -> int:
    """The primary shards the tenant's indices hold: two generations (one shard each) per
    route, whatever its retention and timestamps (`topology.retention`); more only by volume."""
    routes = {route.index for route in tenant.routes}
    return len(routes) * GENERATIONS_PER_ROUTE


def over_ceilings(tenant: Tenant, ceilings: Ceilings) -> list[tuple[Loc, str]]:
    """Where `tenant` declares more than `ceilings` allow: (path into its document, message)."""
    found: list[tuple[Loc, str]] = []
    if ceilings.shards is not None and (shards := most_shards(tenant)) > ceilings.shards:
        routes = len({route.index for route in tenant.routes})
        found.append(
            (
                ("routes",),
                f"{routes} route index(es) x {GENERATIONS_PER_ROUTE} generations = {shards} "
                f"shards, over the platform's ceiling of {ceilings.shards} "
                f"({ENV_PREFIX}SHARDS): route to fewer indices",
            )
        )
    for name, loc in DECLARED.items():
        ceiling = getattr(ceilings, name)
        if ceiling is None:
            continue
        section, field = loc
        value = getattr(getattr(tenant, section), field)
        variable = ENV_PREFIX + name.upper()
        if value is None:
            found.append(
                (
                    loc,
                    f"the platform allows at most {ceiling} ({variable}): declare it, "
                    f"{ceiling} or less",
                )
            )
        elif value > ceiling:
            found.append(
                (
                    loc,
                    f"{value} is over the platform's ceiling of {ceiling} ({variable}): declare "
                    f"{ceiling} or less, or ask the platform team for more",
                )
            )
    return found
