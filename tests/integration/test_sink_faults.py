"""The sink against real Elasticsearch refusals: retry what may pass later, dead-letter the rest.

Faults are real server states, not fakes: a write block on the tenant's index (403
cluster_block_exception, waited for until lifted), the cluster's shard limit reached (400
validation_exception on a new index: the tenant waits, the others flow) and a mapping conflict
(400, dead-lettered).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.names import dlq_topic, index_name, processed_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    free_port,
    group_lag,
    indexed_count,
    metric,
    processed_record,
    produce,
    read_topic,
    scrape,
    sink,
    wait_for,
)

pytestmark = pytest.mark.integration


def only_letter(endpoints: Endpoints, tenant: str, event_id: str) -> tuple[DeadLetter, int]:
    """The one dead letter in the tenant's DLQ, a mapping conflict keyed by `event_id`, and
    its size in bytes."""
    [(key, value)] = read_topic(endpoints.kafka, dlq_topic(tenant))
    letter = DeadLetter.from_bytes(value)
    assert key == event_id.encode()
    assert letter.reason is Reason.MAPPING_CONFLICT
    return letter, len(value)


def start_sink(endpoints: Endpoints, tenant: str, folder: Path) -> PipelineProcess:
    return sink(endpoints, tenant, f"{tenant}-sink", folder, metrics_port=free_port()).start()


def test_a_write_block_pauses_the_sink_and_nothing_is_lost_when_it_lifts(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-blocked"
    apply_tenant(endpoints, tmp_path, tenant)
    es = endpoints.es.client()
    index = index_name(tenant, datetime(2026, 11, 25, tzinfo=UTC).date())
    es.indices.create(index=index)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    produce(endpoints, processed_topic(tenant), [processed_record(tenant, n) for n in range(200)])

    sink = start_sink(endpoints, tenant, tmp_path)
    labels = {"component": "sink", "tenant": tenant, "reason": "blocked"}

    def held_and_retried() -> tuple[float, float]:
        """Held records and retries, once the held count has settled (the same over half a
        second): a batch's refusals are counted before its records join the held ones."""
        counts = []
        for _ in range(2):
            samples = scrape(sink.metrics_port)
            held = metric(samples, "logway_sink_waiting_records", tenant=tenant, reason="blocked")
            counts.append((held, metric(samples, "logway_retries_total", **labels)))
            time.sleep(0.5)
        return counts[1] if counts[0][0] == counts[1][0] else (0.0, 0.0)

    try:
        # The sink holds what it read before it paused the tenant's partitions (one fetch:
        # some of the 200, not always all) and sends it again with backoff: each attempt
        # counts every held record, so twice the settled held ones is a second attempt.
        wait_for(
            "the sink to hold the blocked records and try them again",
            held_and_retried,
            lambda counts: 0 < 2 * counts[0] <= counts[1],
            60,
            sink.assert_running,
        )
        # Polled, not read once: the gauge is set as the sink moves the held records between
        # its retry and its parking, and a single scrape can fall between the two.
        wait_for(
            "the sink to say its partition is paused",
            lambda: metric(scrape(sink.metrics_port), "logway_paused_partitions", component="sink"),
            lambda paused: paused > 0,
            10,
            sink.assert_running,
        )
        assert indexed_count(es, tenant) == 0
        # Nothing was committed past what Elasticsearch accepted.
        assert group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)]) == 200

        es.indices.put_settings(index=index, settings={"index.blocks.write": False})
        wait_for(
            "all 200 documents",
            lambda: indexed_count(es, tenant),
            lambda n: n == 200,
            90,
            sink.assert_running,
        )
        wait_for(
            "the sink to commit everything",
            lambda: group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)]),
            lambda lag: lag == 0,
            30,
        )
        assert metric(scrape(sink.metrics_port), "logway_paused_partitions", component="sink") == 0
    finally:
        sink.stop()
    assert read_topic(endpoints.kafka, dlq_topic(tenant)) == []


def test_a_mapping_conflict_is_dead_lettered_and_the_rest_is_indexed(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-mapping"
    apply_tenant(endpoints, tmp_path, tenant)
    es = endpoints.es.client()
    # The template maps logway.received_at as a date: a string that is no date cannot go in.
    bad = orjson.loads(processed_record(tenant, 7))
    bad["logway"]["received_at"] = "yesterday-ish"
    values = [processed_record(tenant, n) for n in range(20) if n != 7]
    values.insert(7, orjson.dumps(bad))
    produce(endpoints, processed_topic(tenant), values)

    sink = start_sink(endpoints, tenant, tmp_path)
    try:
        wait_for(
            "19 documents",
            lambda: indexed_count(es, tenant),
            lambda n: n == 19,
            60,
            sink.assert_running,
        )
        wait_for(
            "one dead letter",
            lambda: read_topic(endpoints.kafka, dlq_topic(tenant)),
            lambda letters: len(letters) == 1,
            30,
        )
    finally:
        sink.stop()
    letter, _size = only_letter(endpoints, tenant, f"logs.{tenant}.raw:0:7:0")
    assert letter.stage is Stage.SINK
    assert "received_at" in letter.error
    assert orjson.loads(letter.original_bytes()) == bad  # the record, whole, for a replay
    assert letter.source.topic == f"logs.{tenant}.raw"


def test_a_dead_letter_too_big_for_the_dlq_keeps_the_head_of_its_record(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """A document near the topic limit whose letter would not fit the DLQ (the letter escapes
    the document's JSON once more) is dead-lettered with the head of the document, and the
    sink goes on; before, Kafka refused the letter and the sink stopped on it for good."""
    tenant = f"{tenant_prefix}-bigletter"
    apply_tenant(endpoints, tmp_path, tenant)
    es = endpoints.es.client()
    big = orjson.loads(processed_record(tenant, 1, msg='"' * 450_000))
    big["logway"]["received_at"] = "yesterday-ish"  # a mapping conflict: dead-lettered
    value = orjson.dumps(big)
    limit = 1_048_576  # the default topics.max_record_bytes
    assert 900_000 < len(value) < limit - 1_024 < 2 * len(value)
    produce(endpoints, processed_topic(tenant), [value, processed_record(tenant, 2)])

    sink = start_sink(endpoints, tenant, tmp_path)
    try:
        wait_for(
            "the letter",
            lambda: read_topic(endpoints.kafka, dlq_topic(tenant)),
            bool,
            60,
            sink.assert_running,
        )
        wait_for(
            "1 document",
            lambda: indexed_count(es, tenant),
            lambda n: n == 1,
            60,
            sink.assert_running,
        )
    finally:
        sink.stop()
    letter, size = only_letter(endpoints, tenant, f"logs.{tenant}.raw:0:1:0")
    assert size <= limit - 1_024
    kept = letter.original_bytes()
    assert 0 < len(kept) < len(value)
    assert value.startswith(kept)
    assert f"the original is {len(value)} bytes; its first {len(kept)} are kept" in letter.error


def test_a_batch_of_only_dead_letters_commits_and_the_sink_goes_on(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """A batch with nothing for Elasticsearch (every record dead-lettered by `prepare`) sends
    no bulk: before, the empty bulk's 400 was split into empty halves until RecursionError
    ended the sink. The records after it are indexed, and every offset is committed."""
    tenant = f"{tenant_prefix}-onlyletters"
    apply_tenant(endpoints, tmp_path, tenant)
    es = endpoints.es.client()
    produce(endpoints, processed_topic(tenant), [b"not a logway document"] * 5)
    sink = start_sink(endpoints, tenant, tmp_path)
    try:
        wait_for(
            "five dead letters",
            lambda: read_topic(endpoints.kafka, dlq_topic(tenant)),
            lambda letters: len(letters) == 5,
            60,
            sink.assert_running,
        )
        wait_for(
            "the batch committed",
            lambda: group_lag(endpoints.kafka, f"{tenant}-sink", [processed_topic(tenant)]),
            lambda lag: lag == 0,
            30,
            sink.assert_running,
        )
        produce(endpoints, processed_topic(tenant), [processed_record(tenant, n) for n in range(3)])
        wait_for(
            "3 documents after it",
            lambda: indexed_count(es, tenant),
            lambda n: n == 3,
            60,
            sink.assert_running,
        )
        sink.assert_running()
    finally:
        sink.stop()
    letters = [DeadLetter.from_bytes(v) for _k, v in read_topic(endpoints.kafka, dlq_topic(tenant))]
    assert [letter.reason for letter in letters] == [Reason.INVALID_JSON] * 5
    assert "splitting" not in (tmp_path / "sink.log").read_text()


def test_a_tenant_deleted_while_the_sink_reads_it_stops_nothing_else(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """A tenant's processed topic deleted (its data deleted) under a sink that reads it: the
    sink's batches then hold only Kafka's events about that topic, and never a bulk of
    nothing. The other tenant served by the same sink goes on being indexed."""
    from confluent_kafka.admin import AdminClient

    gone, stays = f"{tenant_prefix}-gone", f"{tenant_prefix}-stays"
    for tenant in (gone, stays):
        apply_tenant(endpoints, tmp_path, tenant)
        produce(endpoints, processed_topic(tenant), [processed_record(tenant, n) for n in range(5)])
    es = endpoints.es.client()
    worker = sink(endpoints, f"{tenant_prefix}-.*", f"{tenant_prefix}-sink", tmp_path).start()
    try:
        for tenant in (gone, stays):
            wait_for(
                f"{tenant}: 5 documents",
                lambda t=tenant: indexed_count(es, t),  # type: ignore[misc]
                lambda n: n == 5,
                60,
                worker.assert_running,
            )
        admin = AdminClient(endpoints.kafka.client())
        admin.delete_topics([processed_topic(gone)])[processed_topic(gone)].result(30)
        time.sleep(5)  # the sink meets the deleted topic
        later = [processed_record(stays, n) for n in range(5, 10)]
        produce(endpoints, processed_topic(stays), later)
        wait_for(
            "the other tenant's 5 more",
            lambda: indexed_count(es, stays),
            lambda n: n == 10,
            60,
            worker.assert_running,
        )
        worker.assert_running()
    finally:
        worker.stop()
    assert "splitting" not in (tmp_path / "sink.log").read_text()


def test_a_cluster_at_its_shard_limit_holds_the_tenants_needing_an_index_and_loses_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """With `cluster.max_shards_per_node` at the shards open, a tenant whose records need a new
    index waits (nothing dead-lettered: the cluster is full, not the tenant wrong; Kafka keeps
    its records, uncommitted), a tenant writing into its existing index flows through the same
    sink, and a metric names the cause. Once the limit is lifted, every waiting record is
    indexed, once."""
    full, room = f"{tenant_prefix}-full", f"{tenant_prefix}-room"
    es = endpoints.es.client()
    day = datetime(2026, 11, 25, tzinfo=UTC).date()
    for tenant in (full, room):
        apply_tenant(endpoints, tmp_path, tenant, partitions=1)
    es.indices.create(index=index_name(room, day))  # the tenant with room has its day's index
    worker = sink(
        endpoints,
        f"{tenant_prefix}-(full|room)",
        f"{tenant_prefix}-sink",
        tmp_path,
        metrics_port=free_port(),
    ).start()
    group = f"{tenant_prefix}-sink"
    try:
        open_shards = es.cluster.health()["active_shards"]
        es.cluster.put_settings(persistent={"cluster.max_shards_per_node": open_shards})
        for tenant in (full, room):
            produce(
                endpoints,
                processed_topic(tenant),
                [processed_record(tenant, n) for n in range(100)],
            )
        wait_for(
            "the tenant with an index: 100 documents",
            lambda: indexed_count(es, room),
            lambda n: n == 100,
            60,
            worker.assert_running,
        )
        waiting = {"tenant": full, "reason": "shard_limit"}
        wait_for(
            "the sink to hold the full tenant's 100 records for the shard limit",
            lambda: metric(scrape(worker.metrics_port), "logway_sink_waiting_records", **waiting),
            lambda held: held == 100,
            30,
            worker.assert_running,
        )
        time.sleep(3)  # a retry or two meanwhile: still waiting, nothing dead-lettered
        seen = scrape(worker.metrics_port)
        assert metric(seen, "logway_sink_waiting_records", **waiting) == 100
        assert metric(seen, "logway_retries_total", component="sink", **waiting) >= 200
        assert not es.indices.exists(index=index_name(full, day))
        assert read_topic(endpoints.kafka, dlq_topic(full)) == []
        assert group_lag(endpoints.kafka, group, [processed_topic(full)]) == 100
        # The other tenant keeps flowing while the full one waits.
        produce(
            endpoints, processed_topic(room), [processed_record(room, n) for n in range(100, 150)]
        )
        wait_for(
            "the tenant with an index: 50 more",
            lambda: indexed_count(es, room),
            lambda n: n == 150,
            30,
            worker.assert_running,
        )
        es.cluster.put_settings(persistent={"cluster.max_shards_per_node": None})
        wait_for(
            "the waiting tenant's 100 documents once the cluster takes them",
            lambda: indexed_count(es, full),
            lambda n: n == 100,
            90,
            worker.assert_running,
        )
        wait_for(
            "the sink to commit everything",
            lambda: group_lag(
                endpoints.kafka, group, [processed_topic(full), processed_topic(room)]
            ),
            lambda lag: lag == 0,
            30,
        )
        seen = scrape(worker.metrics_port)
        assert metric(seen, "logway_sink_waiting_records", **waiting) == 0
        assert metric(seen, "logway_paused_partitions", component="sink") == 0
    finally:
        es.cluster.put_settings(persistent={"cluster.max_shards_per_node": None})
        worker.stop()
    for tenant, count in ((full, 100), (room, 150)):
        ids = {hit["_id"] for hit in es.search(index=f"logs-{tenant}.*", size=200)["hits"]["hits"]}
        assert len(ids) == count == indexed_count(es, tenant)  # each once
        assert read_topic(endpoints.kafka, dlq_topic(tenant)) == []
