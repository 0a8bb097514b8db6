"""The tests' reads of Elasticsearch wait for an index whose primary shard has not started.

A daily index the sink has just created answers a search with 503 until its primary starts;
a poll that landed in that moment once failed a CI run. Here the moment is held open on
purpose: the index may not be allocated anywhere until a timer lifts the restriction.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from logway.core.names import index_name
from logway.core.settings import Endpoints
from tests.integration.support import searched, tenant_documents

pytestmark = pytest.mark.integration

HELD_S = 2.0


def test_a_read_that_meets_an_unstarted_primary_shard_waits_for_it_and_reads_again(
    endpoints: Endpoints, tenant_prefix: str
) -> None:
    """The index appears between the helper's wait and its read, as the sink's next daily
    index can; the first read meets the 503, the helper waits for the shard and reads again."""
    tenant = f"{tenant_prefix}-unstarted"
    index = index_name(tenant, date(2026, 11, 26))
    es = endpoints.es.client()
    release = threading.Timer(
        HELD_S,
        lambda: es.indices.put_settings(
            index=index, settings={"index.routing.allocation.require._name": None}
        ),
    )
    reads: list[float] = []

    def count(target: str) -> int:
        reads.append(time.monotonic())
        if len(reads) == 1:
            es.indices.create(
                index=index,
                settings={
                    "number_of_replicas": 0,
                    "index.routing.allocation.require._name": "nowhere",
                },
                wait_for_active_shards="0",
            )
            release.start()
        return int(es.options(max_retries=0).count(index=target)["count"])

    try:
        assert searched(es, tenant, count) == 0
        assert len(reads) == 2, "the first read should have met the 503 and been retried"
        assert reads[1] - reads[0] >= HELD_S * 0.9, "it read again before the shard started"
        assert tenant_documents(es, tenant) == []
    finally:
        release.cancel()
        es.indices.delete(index=index, ignore_unavailable=True)
