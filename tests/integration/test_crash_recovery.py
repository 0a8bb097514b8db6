"""kill -9 mid-stream: the processor (twice) and the sink restart; nothing is lost or duplicated.

At-least-once on every hop plus the deterministic `_id`: records processed again after a crash
may appear twice in the processed topic, never twice in Elasticsearch, and none go missing.
The records are Docker json-file lines from 8 pods, every 10th split in three pieces, so kills
land while lines are half-assembled: their pieces' offsets were not committed, so the restarted
processor reads them again and the line still arrives whole, once.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from logway.core.names import processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.counts import counts_consumer, topic_size
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    processor,
    sink,
    tenant_documents,
    wait_for,
)

pytestmark = pytest.mark.integration

RECORDS = 20_000
PIPELINE = """\
pipeline:
  - {step: parse, format: docker}
  - {step: reassemble, timeout_s: 60}
  - {step: parse, format: json}
"""


def docker_pieces(n: int) -> list[tuple[bytes, bytes]]:
    line = orjson.dumps({"seq": n, "msg": f"event {n}"}).decode() + "\n"
    pieces = [line[:5], line[5:12], line[12:]] if n % 10 == 0 else [line]
    key = f"pod-{n % 8}".encode()
    return [(key, orjson.dumps({"log": p, "stream": "stdout", "time": "t"})) for p in pieces]


def produce_all(
    endpoints: Endpoints, topic: str, batches: Iterable[list[tuple[bytes, bytes]]]
) -> None:
    """Write every (key, value) of every batch to `topic`, acknowledged."""
    producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 20}))
    for n, batch in enumerate(batches):
        for key, value in batch:
            producer.produce(topic, value, key)
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def seqs_indexed(es: Elasticsearch, tenant: str) -> list[int]:
    return [hit["_source"]["seq"] for hit in tenant_documents(es, tenant, ["seq"])]


def kill_processor_twice_and_sink_once_then_finish(
    endpoints: Endpoints, tenant: str, tmp_path: Path, documents: int
) -> list[int]:
    """Run the pipeline with the kills; return the `seq` of every document indexed."""
    counter = counts_consumer(endpoints.kafka)
    es = endpoints.es.client()

    def start_processor() -> PipelineProcess:
        """Every run shares the Faust data dir, as a pod restarted in place would; every
        run's output goes on in the one processor.log."""
        return processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start()

    def start_sink() -> PipelineProcess:
        return sink(endpoints, tenant, f"{tenant}-sink", tmp_path).start()

    first_processor, first_sink = start_processor(), start_sink()
    wait_for(
        "the processor to be part-way",
        lambda: topic_size(counter, processed_topic(tenant)),
        lambda n: n >= documents // 5,
        120,
        first_processor.assert_running,
    )
    first_processor.stop(signal.SIGKILL)
    killed_again = start_processor()
    wait_for(
        "the restarted processor to be further on",
        lambda: topic_size(counter, processed_topic(tenant)),
        lambda n: n >= documents // 2,
        120,
        killed_again.assert_running,
    )
    killed_again.stop(signal.SIGKILL)
    wait_for(
        "the sink to have indexed some",
        lambda: len(seqs_indexed(es, tenant)),
        lambda n: n > 0,
        60,
        first_sink.assert_running,
    )
    first_sink.stop(signal.SIGKILL)

    second_processor, second_sink = start_processor(), start_sink()
    try:
        wait_for(
            f"all {documents} documents",
            lambda: len(seqs_indexed(es, tenant)),
            lambda n: n >= documents,
            240,
            lambda: (second_processor.assert_running(), second_sink.assert_running()),
        )
    finally:
        second_processor.stop()
        second_sink.stop()
    processed = topic_size(counter, processed_topic(tenant))
    print(
        f"processed topic holds {processed} records for {documents} documents "
        f"({processed - documents} re-processed after the kill)"
    )
    assert processed >= documents
    return seqs_indexed(es, tenant)


def test_kill_9_of_processor_twice_and_sink_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-crash"
    apply_tenant(endpoints, tmp_path, tenant, partitions=3, extra=PIPELINE)
    produce_all(endpoints, raw_topic(tenant), (docker_pieces(n) for n in range(RECORDS)))
    seqs = kill_processor_twice_and_sink_once_then_finish(endpoints, tenant, tmp_path, RECORDS)
    assert len(seqs) == RECORDS  # no duplicates
    assert sorted(seqs) == list(range(RECORDS))  # nothing lost


TRACES = 6_000
TRACE_PIPELINE = r"""
pipeline:
  - {step: parse, format: cri}
  - {step: reassemble, timeout_s: 60}
  - {step: multiline, start_pattern: '^\{', continue_pattern: '^\s', flush_timeout_s: 30}
  - {step: parse, format: regex, pattern: '^\{"seq": (?P<seq>\d+)\}', keep_source: true}
"""


def trace_lines(n: int) -> list[tuple[bytes, bytes]]:
    """Event n: a JSON line and two indented lines under it, as CRI lines of pod n % 8; every
    7th event has its second line split in two pieces."""
    key = f"pod-{n % 8}".encode()
    lines = [f'{{"seq": {n}}}', f"  at frame {n}.1", f"  at frame {n}.2"]
    pieces = []
    for index, line in enumerate(lines):
        cut = [("P", line[:6]), ("F", line[6:])] if index == 1 and n % 7 == 0 else [("F", line)]
        pieces += [(key, f"2026-11-30T10:00:00Z stderr {tag} {text}".encode()) for tag, text in cut]
    return pieces


def test_kill_9_mid_trace_joins_every_trace_once_whole(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """`multiline` holds a trace's lines (and `reassemble` their pieces) uncommitted until the
    trace is produced: the kills land mid-trace, and every trace still arrives whole, once."""
    tenant = f"{tenant_prefix}-crashml"
    apply_tenant(endpoints, tmp_path, tenant, partitions=3, extra=TRACE_PIPELINE)
    produce_all(endpoints, raw_topic(tenant), (trace_lines(n) for n in range(TRACES)))
    seqs = kill_processor_twice_and_sink_once_then_finish(endpoints, tenant, tmp_path, TRACES)
    assert sorted(int(seq) for seq in seqs) == list(range(TRACES))  # each once, none lost
    es = endpoints.es.client()
    messages = {
        int(hit["_source"]["seq"]): hit["_source"]["message"]
        for hit in tenant_documents(es, tenant, ["seq", "message"])
    }
    assert all(
        messages[n] == f'{{"seq": {n}}}\n  at frame {n}.1\n  at frame {n}.2' for n in range(TRACES)
    )
