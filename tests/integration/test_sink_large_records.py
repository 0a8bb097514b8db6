"""A tenant of the largest records against the real sink and Elasticsearch: every bulk request
stays within the sink's bytes (`LOGWAY_SINK_BATCH_MAX_BYTES`), so its memory does not follow
the records' size, and everything is indexed once.

Before the bound, a batch was 1,000 records whatever their size: at the default 1 MiB a record
that is a gigabyte in hand, with two more in flight, in a pod allowed 512 MiB (the chart's
limit), and a request Elasticsearch refuses over its 100 MB `http.max_content_length`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.utils import floatToGoString

from logway.core.names import dlq_topic, processed_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    apply_tenant,
    free_port,
    group_lag,
    indexed_count,
    processed_record,
    produce,
    read_topic,
    scrape,
    sink,
    wait_for,
)

pytestmark = pytest.mark.integration

RECORDS = 120
LINE_BYTES = 900_000  # most of the default 1 MiB record
MAX_BYTES = 4 * 1024 * 1024  # LOGWAY_SINK_BATCH_MAX_BYTES for this sink
PEAK_MB = 300  # the sink held 5 batches of 1,000 small records in 151-240 MB (bench.tenants)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_the_largest_records_go_in_bulks_within_the_sinks_bytes_and_all_are_indexed_once(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-large"
    apply_tenant(endpoints, tmp_path, tenant)
    line = "large " * (LINE_BYTES // 6)
    for start in range(0, RECORDS, 20):  # 18 MB per produce call
        produce(
            endpoints,
            processed_topic(tenant),
            [processed_record(tenant, n, message=line) for n in range(start, start + 20)],
        )
    port = free_port()
    worker = sink(
        endpoints,
        tenant,
        f"{tenant}-sink",
        tmp_path,
        metrics_port=port,
        env={"LOGWAY_SINK_BATCH_MAX_BYTES": str(MAX_BYTES)},
    ).start()
    es = endpoints.es.client()
    try:
        wait_for(
            f"all {RECORDS} large records indexed",
            lambda: indexed_count(es, tenant),
            lambda n: n >= RECORDS,
            180,
            worker.assert_running,
        )
        wait_for(
            "the sink to commit everything",
            lambda: group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)]),
            lambda lag: lag == 0,
            30,
        )
        samples = scrape(port)
        peak_mb = peak_rss_mb(worker.process.pid)
    finally:
        worker.stop()
    assert indexed_count(es, tenant) == RECORDS  # once each: ids are the records' own
    assert read_topic(endpoints.kafka, dlq_topic(tenant)) == []
    labels = frozenset({("component", "sink")})
    requests = samples[("logway_bulk_request_bytes_count", labels)]
    within = samples[
        ("logway_bulk_request_bytes_bucket", labels | {("le", floatToGoString(MAX_BYTES))})
    ]
    assert within == requests, f"{requests - within} of {requests} bulks over {MAX_BYTES} bytes"
    record_bytes = len(processed_record(tenant, 0, message=line))
    assert requests >= math.ceil(RECORDS / (MAX_BYTES // record_bytes))
    assert peak_mb < PEAK_MB, f"the sink's memory peaked at {peak_mb:.0f} MB"
    print(
        f"{requests:.0f} bulk requests for {RECORDS} records; the sink peaked at {peak_mb:.0f} MB"
    )
