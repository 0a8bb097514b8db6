"""The whole pipeline against its own limits, in one run on the dev runner's servers.

    python -m bench.pipeline [--lines 150000]

Load: three tenants with different volumes and formats (60% JSON lines, 30% Docker json-file
records with every 10th line split in pieces, 10% logfmt text), 300-2,000-byte lines, 5% broken,
each line carrying a unique event id (`eid`) and its send time (`sent_at`).

Measured:
1. throughput: the lines are written first, then a processor and a sink start; the clock runs
   until every line is indexed or dead-lettered (checked: indexed + dlq = sent, no duplicate
   ids), with each process's CPU seconds per 1,000 lines and peak memory;
2. latency at half that rate: lines sent at a steady pace for 20 s while the pipeline runs;
   Elasticsearch's count is polled every 100 ms and the k-th line to become searchable is
   matched with the k-th line sent (first in, first out), giving p50 and p99;
3. baselines on the same servers: Kafka's ProducerPerformance and ConsumerPerformance with the
   same record count and mean size, and a direct bulk load of the same final documents into
   Elasticsearch (helpers.streaming_bulk, 1,000 per request);
4. ratios: pipeline / direct bulk, processor / raw consumer.
Writes bench/results/<date>-<commit>.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk

from bench.common import (
    bench_tenants,
    cpu_seconds,
    kafka_perf,
    logway_env,
    peak_memory_mb,
    run_id,
    write_result,
)
from logway.counts import end_offset
from logway.settings import Endpoints
from topology.names import dlq_topic, index_pattern, processed_topic, raw_topic

SHARES = {"json": 0.6, "docker": 0.3, "text": 0.1}
PIPELINES = {
    "json": "pipeline:\n  - {step: parse, format: json}\n"
    "  - {step: timestamp, field: ts, remove_source: true}\n",
    "docker": "pipeline:\n  - {step: parse, format: docker}\n  - {step: reassemble}\n"
    "  - {step: parse, format: json}\n",
    "text": "pipeline:\n  - {step: parse, format: logfmt}\n",
}
BROKEN_EVERY = 20  # 5%


def body(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=rng.randint(250, 1900)))


def records(kind: str, n: int, eid: str, rng: random.Random) -> list[tuple[bytes, bytes]]:
    """The Kafka records (key, value) of line n of a `kind` tenant."""
    sent = int(time.time() * 1000)
    key = f"pod-{n % 16}".encode()
    broken = n % BROKEN_EVERY == BROKEN_EVERY - 1
    if kind == "text":
        line = (
            "no pairs here at all"
            if broken
            else f'eid={eid} sent_at={sent} level=info msg="{body(rng)[:200]}"'
        )
        return [(key, line.encode())]
    document = {
        "eid": eid,
        "sent_at": sent,
        "ts": "2026-11-25T10:00:00Z",
        "level": "info",
        "msg": body(rng),
    }
    text = orjson.dumps(document).decode()
    if broken:
        text = text[: len(text) // 2]  # cut off: invalid JSON
    if kind == "json":
        return [(key, text.encode())]
    line = text + "\n"
    if n % 10 == 0:  # a line Docker split in three pieces
        a, b = len(line) // 3, 2 * len(line) // 3
        pieces = [line[:a], line[a:b], line[b:]]
    else:
        pieces = [line]
    return [(key, orjson.dumps({"log": p, "stream": "stdout", "time": "t"})) for p in pieces]


class Load:
    """Writes lines to the tenants' raw topics and remembers how many of each kind."""

    def __init__(self, bootstrap: str, tenants: dict[str, str]) -> None:
        self.tenants = tenants
        self.producer = Producer(
            bootstrap.client(
                {
                    "linger.ms": 20,
                    "acks": "all",
                    "compression.type": "lz4",
                    "queue.buffering.max.messages": 1_000_000,
                }
            )
        )
        self.sent = dict.fromkeys(tenants, 0)
        self.broken = dict.fromkeys(tenants, 0)
        self.records = 0
        self.bytes = 0
        self.rng = random.Random(7)  # noqa: S311 - test data, not secrets

    def send(self, kind: str, prefix: str) -> None:
        n = self.sent[kind]
        for key, value in records(kind, n, f"{prefix}-{kind}-{n}", self.rng):
            while True:
                try:
                    self.producer.produce(raw_topic(self.tenants[kind]), value, key)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.records += 1
            self.bytes += len(value)
        self.sent[kind] += 1
        self.broken[kind] += n % BROKEN_EVERY == BROKEN_EVERY - 1

    def flush(self) -> None:
        if self.producer.flush(120):
            raise SystemExit("Kafka did not take the benchmark's records")


def kinds_for(count: int) -> list[str]:
    rng = random.Random(11)  # noqa: S311 - test data, not secrets
    return rng.choices(list(SHARES), weights=list(SHARES.values()), k=count)


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "logway", "run", *args, "--metrics-port", "0"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def searchable(
    es: Elasticsearch,
    tenants: dict[str, str],
    field_filter: dict[str, Any] | None = None,
    refresh: bool = True,
) -> int:
    """Documents of `tenants` a search finds; `refresh=False` leaves Elasticsearch's own 1 s
    refresh to make them searchable, as it does for everyone."""
    target = ",".join(index_pattern(t) for t in tenants.values())
    if refresh:
        es.indices.refresh(index=target, allow_no_indices=True, ignore_unavailable=True)
    query = field_filter or {"match_all": {}}
    return int(
        es.count(index=target, query=query, ignore_unavailable=True, allow_no_indices=True)["count"]
    )


def direct_bulk(es: Elasticsearch, bootstrap: str, tenants: dict[str, str]) -> dict[str, float]:
    """The pipeline's own final documents, bulk-loaded straight into a scratch index."""
    consumer = Consumer(
        bootstrap.client(
            {
                "group.id": f"bench-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    topics = [processed_topic(t) for t in tenants.values()]
    wanted = sum(end_offset(consumer, t) for t in topics)
    consumer.subscribe(topics)
    documents: list[bytes] = []
    while len(documents) < wanted:
        for message in consumer.consume(5000, 1.0):
            if message.error() is None:
                documents.append(message.value() or b"")
    consumer.close()
    index = f"bench-direct-{uuid.uuid4().hex[:8]}"
    es.indices.create(
        index=index,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={"dynamic": True},
    )
    actions = (
        {"_index": index, "_id": str(i), "_source": orjson.loads(d)}
        for i, d in enumerate(documents)
    )
    started = time.perf_counter()
    ok = sum(
        1 for good, _ in streaming_bulk(es, actions, chunk_size=1000, raise_on_error=False) if good
    )
    es.indices.refresh(index=index)
    seconds = time.perf_counter() - started
    es.indices.delete(index=index)
    return {"documents": ok, "documents_per_s": ok / seconds, "seconds": seconds}


def main() -> None:  # noqa: PLR0915 - one run, its steps in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    run = run_id()
    tenants = {kind: f"bench-{kind}-{run}" for kind in SHARES}
    work = bench_tenants(endpoints, {tenants[kind]: PIPELINES[kind] for kind in SHARES})
    env = {**os.environ, **logway_env(endpoints)}
    es = Elasticsearch(endpoints.es_url, request_timeout=60)
    counter = Consumer(endpoints.kafka.client({"group.id": "bench-count"}))

    print(f"writing {args.lines:,} lines for 3 tenants ...", flush=True)
    load = Load(endpoints.kafka, tenants)
    for kind in kinds_for(args.lines):
        load.send(kind, "t")
    load.flush()
    sent, broken = sum(load.sent.values()), sum(load.broken.values())
    mean_size = load.bytes // load.records

    print("pipeline: processor + sink draining them ...", flush=True)
    matching = f"bench-(json|docker|text)-{run}"
    processor = start(
        [
            "processor",
            "--tenants-matching",
            matching,
            "--app-id",
            f"bench-{run}-proc",
            "--data-dir",
            str(work / "faust"),
        ],
        work / "processor.log",
        env,
    )
    sink = start(
        ["sink", "--tenants-matching", matching, "--group-id", f"bench-{run}-sink"],
        work / "sink.log",
        env,
    )
    started = time.perf_counter()
    cpu0 = {"processor": cpu_seconds(processor.pid), "sink": cpu_seconds(sink.pid)}
    processed_at = None
    while True:
        time.sleep(0.5)
        for proc in (processor, sink):
            if proc.poll() is not None:
                raise SystemExit(f"a worker stopped; see {work}")
        dead = sum(end_offset(counter, dlq_topic(t)) for t in tenants.values())
        out = sum(end_offset(counter, processed_topic(t)) for t in tenants.values())
        if processed_at is None and out + dead >= sent:
            processed_at = time.perf_counter() - started
        if processed_at is not None and searchable(es, tenants) + dead >= sent:
            break
        if time.perf_counter() - started > 900:
            raise SystemExit("the pipeline did not finish within 15 minutes")
    elapsed = time.perf_counter() - started
    cpu = {
        "processor": cpu_seconds(processor.pid) - cpu0["processor"],
        "sink": cpu_seconds(sink.pid) - cpu0["sink"],
    }
    indexed = searchable(es, tenants)
    dead = sum(end_offset(counter, dlq_topic(t)) for t in tenants.values())
    ids = _distinct_eids(es, tenants)
    throughput = {
        "lines": sent,
        "records": load.records,
        "mean_record_bytes": mean_size,
        "indexed": indexed,
        "dead_lettered": dead,
        "expected_dead": broken,
        "duplicates": indexed - len(ids),
        "lost": sent - indexed - dead,
        "seconds": elapsed,
        "lines_per_s": sent / elapsed,
        "processor_lines_per_s": sent / (processed_at or elapsed),
        "cpu_s_per_1000": {k: v / sent * 1000 for k, v in cpu.items()},
        "peak_memory_mb": {
            "processor": peak_memory_mb(processor.pid),
            "sink": peak_memory_mb(sink.pid),
        },
    }

    rate = throughput["lines_per_s"] / 2
    print(f"latency: {rate:,.0f} lines/s for {args.latency_seconds:.0f} s ...", flush=True)
    latency = measure_latency(load, es, tenants, rate, args.latency_seconds)
    processor.terminate()
    sink.terminate()
    processor.wait(60)
    sink.wait(60)

    print("baselines: Kafka's perf tools, direct bulk load ...", flush=True)
    kafka = kafka_perf(endpoints.kafka, sent, mean_size)
    bulk = direct_bulk(es, endpoints.kafka, tenants)
    result, out = write_result(
        "",
        {
            "throughput": throughput,
            "latency": latency,
            "kafka": kafka,
            "direct_bulk": bulk,
            "ratio_pipeline_to_direct_bulk": throughput["lines_per_s"] / bulk["documents_per_s"],
            "ratio_processor_to_raw_consumer": throughput["processor_lines_per_s"]
            / kafka["consume_records_per_s"],
        },
    )
    print(table(result) + f"\n-> {out}")


def _distinct_eids(es: Elasticsearch, tenants: dict[str, str]) -> set[str]:
    from elasticsearch.helpers import scan

    target = ",".join(index_pattern(t) for t in tenants.values())
    found = set()
    for hit in scan(es, index=target, query={"_source": ["eid", "logway.id"]}, size=5000):
        source = hit["_source"]
        found.add(str(source.get("eid") or source["logway"]["id"]))
    return found


def measure_latency(
    load: Load, es: Elasticsearch, tenants: dict[str, str], rate: float, seconds: float
) -> dict[str, float]:
    """Send at `rate` lines/s; pair the k-th line sent with the k-th to become searchable."""
    query = {"prefix": {"eid.keyword": {"value": "l-"}}}
    base = searchable(es, tenants, query)
    sent_times: list[float] = []
    seen: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.append((time.time(), searchable(es, tenants, query, refresh=False) - base))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    kinds = kinds_for(int(rate * seconds))
    started = time.perf_counter()
    for i, kind in enumerate(kinds):
        due = started + i / rate
        while (left := due - time.perf_counter()) > 0:
            load.producer.poll(min(left, 0.01))
        n = load.sent[kind]
        if n % BROKEN_EVERY == BROKEN_EVERY - 1:
            load.sent[kind] += 1  # skip broken ones here: they are never searchable
            n += 1
        load.send(kind, "l")
        sent_times.append(time.time())
    load.flush()
    deadline = time.time() + 60
    while (seen[-1][1] if seen else 0) < len(sent_times) and time.time() < deadline:
        time.sleep(0.2)
    done.set()
    poller.join()
    latencies = []
    k = 0
    for at, count in seen:
        while k < min(count, len(sent_times)):
            latencies.append(at - sent_times[k])
            k += 1
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))]
            if latencies
            else float("nan")
        )

    return {
        "rate_lines_per_s": rate,
        "lines": len(sent_times),
        "searchable": k,
        "p50_s": pct(0.5),
        "p99_s": pct(0.99),
    }


def table(r: dict[str, Any]) -> str:
    t, lat, k, b = r["throughput"], r["latency"], r["kafka"], r["direct_bulk"]
    cpu, memory = t["cpu_s_per_1000"], t["peak_memory_mb"]
    ledger = (
        f"{t['lines']:,} = {t['indexed']:,} + {t['dead_lettered']:,} "
        f"(lost {t['lost']}, duplicates {t['duplicates']})"
    )
    rows = [
        ("pipeline, end to end (lines/s, nothing lost)", f"{t['lines_per_s']:,.0f}"),
        ("sent = indexed + dead-lettered", ledger),
        (
            f"latency send -> searchable at {lat['rate_lines_per_s']:,.0f} lines/s: p50 / p99",
            f"{lat['p50_s']:.2f} s / {lat['p99_s']:.2f} s",
        ),
        ("processor alone (lines/s)", f"{t['processor_lines_per_s']:,.0f}"),
        ("CPU s per 1,000 lines: processor / sink", f"{cpu['processor']:.3f} / {cpu['sink']:.3f}"),
        ("peak memory MB: processor / sink", f"{memory['processor']:.0f} / {memory['sink']:.0f}"),
        (
            "Kafka ProducerPerformance / ConsumerPerformance (records/s)",
            f"{k['produce_records_per_s']:,.0f} / {k['consume_records_per_s']:,.0f}",
        ),
        ("direct bulk load of the same documents (docs/s)", f"{b['documents_per_s']:,.0f}"),
        ("ratio pipeline / direct bulk", f"{r['ratio_pipeline_to_direct_bulk']:.2f}"),
        ("ratio processor / raw consumer", f"{r['ratio_processor_to_raw_consumer']:.2f}"),
    ]
    return "\n".join(["| | figure |", "| --- | ---: |", *(f"| {a} | {b} |" for a, b in rows)])


if __name__ == "__main__":
    main()
