"""A route's indices as generations against the real Elasticsearch: the daily indices of before
are taken as they are (nothing to migrate), a route is rolled over by age into an index that
starts ten minutes later, the sink keeps writing into the generation a record's time belongs
to, and no timestamp makes an index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logway.core.generations import ROLLOVER_LEAD, read_generation
from logway.core.names import index_name, index_template_name, processed_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    apply_tenant,
    free_port,
    logway,
    metric,
    processed_record,
    produce,
    scrape,
    sink,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_daily_indices_become_generations_rolled_over_by_age_and_written_by_time(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-gen"
    apply_tenant(endpoints, tmp_path, tenant, partitions=1, extra="storage:\n  retention_days: 3\n")
    es = endpoints.es.client()
    now = datetime.now(UTC)
    today = now.date()
    daily = {age: index_name(tenant, today - timedelta(days=age)) for age in (3, 4, 5)}
    for age, index in daily.items():  # as the sink of before made them, a day each
        es.index(index=index, id=f"old-{age}", document={"age": age}, refresh=True)

    planned = logway(endpoints, "retention", "--tenant", tenant).stdout
    assert f"would delete {daily[5]} " in planned
    assert f"would delete {daily[4]} " in planned
    assert f"after {daily[3]} (age)" in planned  # its newest: three days old, the retention
    assert sorted(es.indices.get(index=f"logs-{tenant}.*")) == sorted(daily.values())

    done = logway(endpoints, "retention", "--apply", "--tenant", tenant).stdout
    assert f"deleted {daily[5]} " in done
    assert f"deleted {daily[4]} " in done
    names = sorted(es.indices.get(index=f"logs-{tenant}.*"))
    assert daily[3] in names
    assert len(names) == 2
    [successor] = [name for name in names if name != daily[3]]
    assert f"rolled over to {successor} after {daily[3]} (age)" in done
    route, start = read_generation(successor, tenant) or ("", now)
    assert route == "default"
    assert now + ROLLOVER_LEAD <= start <= now + ROLLOVER_LEAD + timedelta(minutes=2)
    settings = es.indices.get_settings(index=successor)[successor]["settings"]["index"]
    assert settings["number_of_shards"] == "1"  # the tenant's template made it

    # Records arriving now belong to the generation that holds now (the successor starts
    # later), whatever their own timestamps: none of them makes an index.
    stamps = [now, now - timedelta(days=1), now + timedelta(days=3), now - timedelta(days=400)]
    records = [
        processed_record(tenant, n, at=stamps[n % 4].isoformat(), received=now.isoformat())
        for n in range(40)
    ]
    produce(endpoints, processed_topic(tenant), records)
    worker = sink(endpoints, tenant, f"{tenant}-sink", tmp_path, metrics_port=free_port()).start()
    try:

        def counted() -> int:
            es.indices.refresh(index=f"logs-{tenant}.*")
            return int(es.count(index=daily[3])["count"])

        wait_for("40 records in the older generation", counted, lambda n: n == 41, timeout=60)
    finally:
        worker.stop()
    assert int(es.count(index=successor)["count"]) == 0
    assert sorted(es.indices.get(index=f"logs-{tenant}.*")) == names

    # The successor holds nothing yet: no rollover for nothing, however small the limit.
    again = logway(
        endpoints, "retention", "--apply", "-t", tenant, "--generation-max-bytes", "1"
    ).stdout
    assert "0 index(es) deleted, 0 route(s) rolled over; 1 tenant(s)" in again


def test_a_new_routes_first_lines_are_searchable_at_once_and_later_ones_at_the_interval(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """The sink refreshes a route's first index when its bulk has made it (a new tenant's
    first line is searchable in 3 s, and the refresh interval is up to 1 s of that); later
    writes wait for the interval. With the tenant's refresh turned off (-1), only that one
    refresh makes anything searchable."""
    tenant = f"{tenant_prefix}-fresh"
    apply_tenant(endpoints, tmp_path, tenant, partitions=1)
    es = endpoints.es.client()
    found = es.indices.get_index_template(name=index_template_name(tenant))["index_templates"]
    template = found[0]["index_template"]
    template["template"].setdefault("settings", {}).setdefault("index", {})
    template["template"]["settings"]["index"]["refresh_interval"] = "-1"
    # put back with what this test needs (its `_meta`, logway's bookkeeping, is not read here)
    es.indices.put_index_template(
        name=index_template_name(tenant),
        index_patterns=template["index_patterns"],
        priority=template["priority"],
        template=template["template"],
    )
    port = free_port()
    worker = sink(endpoints, tenant, f"{tenant}-sink", tmp_path, metrics_port=port).start()

    def indexed() -> float:
        return metric(scrape(port), "logway_records_out_total", component="sink",
                      tenant=tenant, outcome="indexed")  # fmt: skip

    def searchable() -> int:
        return int(es.count(index=f"logs-{tenant}.*")["count"])

    try:
        produce(endpoints, processed_topic(tenant), [processed_record(tenant, 0)])
        wait_for("the first line indexed", indexed, lambda n: n >= 1, 60, worker.assert_running)
        # the metric moves when the bulk is done, the refresh follows as the batch lands; with
        # the tenant's refresh off, nothing else would ever make the line searchable
        first = wait_for("the first line searchable", searchable, lambda n: n >= 1, 15)
        produce(endpoints, processed_topic(tenant), [processed_record(tenant, 1)])
        wait_for("the second line indexed", indexed, lambda n: n >= 2, 60, worker.assert_running)
        later = searchable()
    finally:
        worker.stop()
    assert first == 1  # refreshed with the index's making
    assert later == 1  # the second waits for a refresh, which this tenant turned off
