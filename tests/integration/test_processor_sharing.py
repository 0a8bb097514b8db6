"""Two processors of one group on real Kafka share one-partition tenants evenly, and both
process: Faust's own assignor gave one of them every partition (`connectors.processor.assignor`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from logway.core.settings import Endpoints
from tests.integration.support import (
    free_port,
    logway,
    metric,
    processor,
    scrape,
    tenant_yaml,
    wait_for,
    write_lines,
)

pytestmark = pytest.mark.integration

TENANTS = 6
LINES = 20  # per tenant


def shares(admin: AdminClient, group: str) -> list[int]:
    """How many raw partitions each member of `group` holds, fewest first, once the group is
    stable (while it rebalances, a joining member is listed with nothing yet)."""
    described = admin.describe_consumer_groups([group])[group].result(30)
    if described.state != ConsumerGroupState.STABLE:
        return []
    return sorted(
        len([tp for tp in m.assignment.topic_partitions if tp.topic.endswith(".raw")])
        for m in described.members
    )


def test_two_processors_take_half_of_the_one_partition_tenants_each(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    names = [f"{tenant_prefix}-s{i}" for i in range(TENANTS)]
    for name in names:
        (tmp_path / f"{name}.yaml").write_text(tenant_yaml(name, partitions=1))
    logway(endpoints, "apply", str(tmp_path))
    group = f"{tenant_prefix}-proc"
    ports = [free_port(), free_port()]
    workers = [
        processor(endpoints, f"{tenant_prefix}-s[0-9]+", group, tmp_path,
                  name=f"processor-{i}", metrics_port=port).start()
        for i, port in enumerate(ports)
    ]  # fmt: skip

    def alive() -> None:
        for worker in workers:
            worker.assert_running()

    admin = AdminClient(endpoints.kafka.admin())
    try:
        held = wait_for(
            "both processors in the group with every partition placed",
            lambda: shares(admin, group),
            lambda counts: len(counts) == 2 and sum(counts) == TENANTS,
            120,
            alive,
        )
        for name in names:
            write_lines(endpoints, name, LINES)

        def processed_by_each() -> list[float]:
            return [
                sum(
                    metric(scrape(port), "logway_records_out_total", component="processor",
                           tenant=name, outcome="processed")
                    for name in names
                )
                for port in ports
            ]  # fmt: skip

        per_worker = wait_for(
            f"{TENANTS * LINES} lines processed",
            processed_by_each,
            lambda counts: sum(counts) >= TENANTS * LINES,
            120,
            alive,
        )
    finally:
        for worker in workers:
            worker.stop()
    assert held == [TENANTS // 2, TENANTS // 2]  # Faust's own assignor: [0, 6]
    assert sorted(per_worker) == [TENANTS // 2 * LINES, TENANTS // 2 * LINES]
