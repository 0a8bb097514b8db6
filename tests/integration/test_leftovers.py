"""Tests leave nothing behind: what `apply` and the workers make for a tenant is found by
`logway.dev.leftovers`, and swept, so the dev servers do not pile up thousands of topics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from logway.core.names import index_name, raw_topic
from logway.core.settings import Endpoints
from logway.dev.leftovers import find, sweep
from tests.integration.support import apply_tenant, logway

pytestmark = pytest.mark.integration


def test_every_object_apply_makes_is_found_and_swept(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-all"
    extra = f"sources:\n  namespaces: [{tenant}]\n  producers: ['User:{tenant}-svc']\n"
    apply_tenant(endpoints, tmp_path, tenant, extra=extra)
    es = endpoints.es.client()
    es.indices.create(index=index_name(tenant, datetime.now(UTC).date()))  # as the sink would
    group = Consumer(endpoints.kafka.consumer(f"{tenant}.readers"))
    group.commit(offsets=[TopicPartition(raw_topic(tenant), 0, 0)], asynchronous=False)
    group.close()

    mine = lambda name: name.startswith(tenant_prefix)  # noqa: E731
    found = find(endpoints, mine)
    assert found.counts() == {
        "topics": 3,  # raw, processed, DLQ
        "users": 1,
        # each of 2 principals: write+describe raw, read+describe DLQ, read groups (5);
        # the node forwarder: write+describe raw
        "acls": 12,
        "quotas": 3,  # each principal's, and the forwarder's for this tenant's client id
        "roles": 1,
        "keys": 1,
        "indices": 1,
        "templates": 1,
        "versions": 1,
        "groups": 1,
    }
    removed = sweep(endpoints, mine)
    assert removed == found
    assert not find(endpoints, mine)
    status = logway(endpoints, "dev", "status", check=False)
    assert "tenant objects: " in status.stdout
