"""Retention and the size budget against the real Elasticsearch: whole daily indices of exactly
the tenant are deleted, never those of a neighbour whose name shares its prefix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logway.core.generations import read_generation
from logway.core.names import index_name
from logway.core.settings import Endpoints
from tests.integration.support import logway, tenant_yaml

pytestmark = pytest.mark.integration


def test_old_days_and_days_over_the_budget_go_and_a_neighbours_never(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    kept, neighbour = f"{tenant_prefix}-ret", f"{tenant_prefix}-ret-x"  # one prefixes the other
    (tmp_path / "a.yaml").write_text(tenant_yaml(kept, extra="storage:\n  retention_days: 3\n"))
    (tmp_path / "b.yaml").write_text(tenant_yaml(neighbour))  # the default: 14 days
    logway(endpoints, "apply", str(tmp_path))
    es = endpoints.es.client()
    today = datetime.now(UTC).date()
    for tenant in (kept, neighbour):
        for age in range(6):
            for route in ("default", "errors"):
                index = index_name(tenant, today - timedelta(days=age), route)
                es.index(index=index, document={"age": age, "pad": "x" * 2000}, refresh=True)

    def days_of(tenant: str) -> list[int]:
        names = es.indices.get(index=f"logs-{tenant}.*").keys()
        starts = [found[1] for n in names if (found := read_generation(n, tenant))]
        return sorted({max((today - start.date()).days, 0) for start in starts})

    both = ["--tenant", kept, "--tenant", neighbour]
    planned = logway(endpoints, "retention", *both).stdout
    assert f"{kept}: " in planned
    assert planned.count(f"would delete logs-{kept}.") == 6  # days 3, 4, 5 x two routes
    assert f"would delete logs-{neighbour}." not in planned
    assert days_of(kept) == [0, 1, 2, 3, 4, 5]  # without --apply nothing goes

    logway(endpoints, "retention", "--apply", *both)
    assert days_of(kept) == [0, 1, 2]
    assert days_of(neighbour) == [0, 1, 2, 3, 4, 5]

    # A budget smaller than what is left: the oldest days go, whole, today stays.
    sizes = es.cat.indices(index=f"logs-{kept}.*", bytes="b", format="json", h="store.size")
    total = sum(int(row["store.size"]) for row in sizes)
    budget = total // 2
    (tmp_path / "a.yaml").write_text(
        tenant_yaml(kept, extra=f"storage:\n  retention_days: 3\n  max_bytes: {budget}\n")
    )
    logway(endpoints, "apply", str(tmp_path))
    done = logway(endpoints, "retention", "--apply", *both).stdout
    assert "budget)" in done
    assert 0 in days_of(kept)
    assert len(days_of(kept)) < 3
    assert days_of(neighbour) == [0, 1, 2, 3, 4, 5]
