"""Four tenants on one processor, each with its own pipeline, through the real processes.

- `good`: parses JSON, reads its timestamp, masks e-mail addresses, routes errors to their own
  index family;
- `docker`: Docker json-file records with lines split in pieces, reassembled;
- `trace`: CRI lines of Java stack traces, some lines split in pieces, joined into one document
  per trace (`multiline`), four pods interleaved;
- `broken`: a pipeline that fails on every record (its regex never matches).

Every record of `broken` must end in its DLQ with the step and reason, and the two others must
be untouched by it: every record indexed, in the right index, nothing in their DLQs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from logway.core.deadletter import DeadLetter, Reason
from logway.core.names import dlq_topic, raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    free_port,
    logway,
    metric,
    processor,
    read_topic,
    scrape,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration

RECORDS = 600
GOOD_PIPELINE = """\
pipeline:
  - {step: parse, format: json}
  - {step: timestamp, field: ts, remove_source: true}
  - {step: mask, fields: [msg], pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+'}
routes:
  - {index: errors, when: 'level == "error"'}
  - {index: default}
"""
DOCKER_PIPELINE = """\
pipeline:
  - {step: parse, format: docker}
  - {step: reassemble, timeout_s: 30}
  - {step: parse, format: json}
"""
TRACE_PIPELINE = """\
pipeline:
  - {step: parse, format: cri}
  - {step: reassemble, timeout_s: 30}
  - {step: multiline, preset: java}
"""
TRACES = RECORDS // 3
BROKEN_PIPELINE = """\
pipeline:
  - {step: parse, format: regex, pattern: '^NEVER (?P<x>\\d+)$'}
"""


def good_record(n: int) -> bytes:
    level = "error" if n % 4 == 0 else "info"
    return orjson.dumps(
        {"seq": n, "level": level, "ts": "2026-11-25T10:00:00Z", "msg": f"mail u{n}@example.com"}
    )


def docker_records(n: int) -> list[tuple[bytes, bytes]]:
    """Record n as Docker writes it: every 5th line split into 3 pieces. Keyed by pod."""
    line = orjson.dumps({"seq": n, "pad": "x" * (n % 50)}).decode() + "\n"
    key = f"pod-{n % 4}".encode()
    cuts = [line] if n % 5 else [line[:4], line[4:9], line[9:]]
    return [(key, orjson.dumps({"log": c, "stream": "stdout", "time": "t"})) for c in cuts]


def trace_lines(n: int) -> list[str]:
    """Trace n as a Java service's logger writes it."""
    return [
        f"2026-11-25 10:00:00 ERROR order {n} failed",
        f"java.lang.IllegalStateException: order {n}",
        f"\tat Checkout.charge(Checkout.java:{n})",
        "\t... 3 more",
    ]


def trace_records(n: int) -> list[tuple[bytes, bytes]]:
    """Trace n's lines as CRI records on stderr, keyed by pod; every 3rd trace has its frame
    line split in two pieces."""
    key = f"pod-{n % 4}".encode()
    records = []
    for index, line in enumerate(trace_lines(n)):
        split = index == 2 and n % 3 == 0
        for tag, text in [("P", line[:8]), ("F", line[8:])] if split else [("F", line)]:
            records.append((key, f"2026-11-25T10:00:00Z stderr {tag} {text}".encode()))
    return records


def indexed(es: Elasticsearch, tenant: str) -> list[dict[str, object]]:
    return [{**hit["_source"], "_index": hit["_index"]} for hit in tenant_documents(es, tenant)]


def test_one_tenants_failing_pipeline_leaves_the_others_untouched(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    good, docker, broken = (f"{tenant_prefix}-{t}" for t in ("good", "dock", "broken"))
    trace = f"{tenant_prefix}-trace"
    (tmp_path / "good.yaml").write_text(tenant_yaml(good, extra=GOOD_PIPELINE))
    (tmp_path / "docker.yaml").write_text(tenant_yaml(docker, extra=DOCKER_PIPELINE))
    (tmp_path / "trace.yaml").write_text(tenant_yaml(trace, extra=TRACE_PIPELINE))
    (tmp_path / "broken.yaml").write_text(tenant_yaml(broken, extra=BROKEN_PIPELINE))
    logway(endpoints, "apply", str(tmp_path))

    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for n in range(RECORDS):  # interleaved, as a shared worker sees them
        producer.produce(raw_topic(good), good_record(n))
        for key, value in docker_records(n):
            producer.produce(raw_topic(docker), value, key)
        producer.produce(raw_topic(broken), orjson.dumps({"seq": n}))
        if n < TRACES:
            for key, value in trace_records(n):
                producer.produce(raw_topic(trace), value, key)
    assert producer.flush(30) == 0
    trace_records_sent = sum(len(trace_records(n)) for n in range(TRACES))

    port = free_port()
    matching = f"{tenant_prefix}-(good|dock|broken|trace)"
    processing = processor(
        endpoints, matching, f"{tenant_prefix}-tp", tmp_path, metrics_port=port
    ).start()
    indexing = sink(endpoints, matching, f"{tenant_prefix}-tp-sink", tmp_path).start()
    es = endpoints.es.client()
    try:
        wait_for(
            "the healthy tenants fully indexed",
            lambda: (len(indexed(es, good)), len(indexed(es, docker)), len(indexed(es, trace))),
            lambda n: n == (RECORDS, RECORDS, TRACES),
            180,
            lambda: (processing.assert_running(), indexing.assert_running()),
        )
        letters = wait_for(
            "every broken record dead-lettered",
            lambda: read_topic(endpoints.kafka, dlq_topic(broken)),
            lambda found: len(found) >= RECORDS,
            60,
            processing.assert_running,
        )
        metrics = scrape(port)
    finally:
        processing.stop()
        indexing.stop()

    good_docs = indexed(es, good)
    assert sorted(d["seq"] for d in good_docs) == list(range(RECORDS))  # type: ignore[type-var]
    by_index = Counter(str(d["_index"]) for d in good_docs)
    assert by_index == {  # each route's first generation
        f"logs-{good}.errors-first": RECORDS // 4,
        f"logs-{good}.default-first": RECORDS * 3 // 4,
    }
    assert all(d["@timestamp"] == "2026-11-25T10:00:00.000Z" for d in good_docs)
    assert all("@" not in str(d["msg"]) for d in good_docs)

    docker_docs = indexed(es, docker)
    assert sorted(d["seq"] for d in docker_docs) == list(range(RECORDS))  # type: ignore[type-var]
    split = [d for d in docker_docs if d["seq"] % 5 == 0]  # type: ignore[operator]
    assert len(split) == RECORDS // 5
    assert all(d["pad"] == "x" * (d["seq"] % 50) for d in docker_docs)  # type: ignore[operator]

    trace_docs = indexed(es, trace)
    assert sorted(str(d["message"]) for d in trace_docs) == sorted(
        "\n".join(trace_lines(n)) for n in range(TRACES)
    )
    assert all(d["stream"] == "stderr" for d in trace_docs)
    joined = metric(
        metrics, "logway_records_out_total", component="processor", tenant=trace, outcome="joined"
    )
    assert TRACES + joined == trace_records_sent  # each record read is a document or joined

    for healthy in (good, docker, trace):
        assert read_topic(endpoints.kafka, dlq_topic(healthy), timeout=5) == []
    dead = [DeadLetter.from_bytes(value) for _key, value in letters]
    assert len({d.event_id for d in dead}) == RECORDS
    assert {(d.step, d.reason, d.tenant) for d in dead} == {
        ("parse", Reason.PATTERN_MISMATCH, broken)
    }
    assert metric(
        metrics, "logway_records_out_total", component="processor", tenant=docker, outcome="joined"
    ) == (RECORDS // 5 * 2)
    assert (
        metric(
            metrics,
            "logway_dead_letters_total",
            component="processor",
            tenant=broken,
            reason="pattern_mismatch",
        )
        == RECORDS
    )
