"""The whole pipeline against its own limits, in one run on the dev runner's servers.

    python -m bench.pipeline [--lines 150000]

Load: three tenants with different volumes and formats (60% JSON lines, 30% Docker json-file
records with every 10th line split in pieces, 10% logfmt text), 300-2,000-byte lines, 5% broken,
each line carrying a unique event id (`eid`) and its send time (`sent_at`).

Measured:
1. throughput: a processor and a sink start, and 30,000 warm-up lines go through them
   (groups joined, indices made, JVMs warm); then the clock starts and the lines are written
   as fast as the load generator can while the pipeline runs. The clock stops when every
   line is dead-lettered or processed and the sink has committed it (it commits only what
   Elasticsearch acknowledged); then one refresh, and the ledger is checked against
   Elasticsearch: indexed + dlq = sent, no duplicate ids. With each process's CPU seconds per
   1,000 lines and peak memory;
2. latency at 5,000 lines/s, half the 10,000 lines/s target (a fixed rate, so that runs compare;
   `--latency-rate` sets another): lines sent at a steady pace while the pipeline runs, 10 s to
   settle into it (Elasticsearch is still writing out the burst of step 1), then 30 s timed;
   Elasticsearch's count is polled every 100 ms and the k-th line to become searchable is
   matched with the k-th line sent (first in, first out), giving p50 and p99;
3. baselines on the same servers: Kafka's ProducerPerformance and ConsumerPerformance with the
   same record count and mean size, and a direct bulk load of the same final documents into
   the same indices (see `direct_bulk`);
4. ratios: pipeline / direct bulk, processor / raw consumer;
5. where the CPU went, in step 1 and in the direct bulk load with two in flight: each
   worker's, Kafka's, Elasticsearch's and this program's CPU seconds per 1,000 lines, and how
   busy the machine was (`bench.common.CpuMeter`). When both runs keep every core busy, the
   ratio of their CPU per line is the most the pipeline could reach on this machine.
Writes bench/results/<date>-<commit>.json and prints a table.
"""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from elasticsearch import Elasticsearch
from elasticsearch.helpers import parallel_bulk, streaming_bulk

from bench.common import (
    ALONE_PARTS,
    PIPELINE_PARTS,
    CpuMeter,
    bench_tenants,
    cpu_text,
    free_port,
    kafka_perf,
    logway_env,
    peak_memory_mb,
    run_id,
    total,
    write_result,
)
from bench.load import BROKEN_EVERY, PIPELINES, SHARES, Load, kinds_for
from connectors.elasticsearch.index import Generations
from logway.core.kafka import KafkaConnection
from logway.core.names import (
    dlq_topic,
    index_pattern,
    index_patterns,
    index_template_name,
    processed_topic,
)
from logway.core.settings import Endpoints
from logway.counts import end_offset

# Lines through the pipeline before the clock starts: groups joined, indices made, and the
# JVMs' JIT warm (on fresh servers a cold Elasticsearch took the first 150,000 lines at half
# the rate it manages a minute later).
WARMUP_LINES = 30_000
TARGET_LINES_PER_S = 10_000  # the end-to-end target on this 2-core machine
SLOW_S = 1.5  # a line slower than this is counted by the second it was sent in
BULKS = "logway_bulk_duration_seconds"  # the sink's histogram of bulk requests
PACE_S = 0.005  # lines of the latency run leave in bursts at most this long


def start(
    args: list[str], log: Path, env: dict[str, str], metrics_port: int = 0
) -> subprocess.Popen[bytes]:
    """A logway worker, stopped when this program ends, however it ends (bar SIGKILL);
    /metrics on `metrics_port` if one is given."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "logway", "run", *args, "--metrics-port", str(metrics_port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    atexit.register(_stop, worker)
    return worker


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()


class Drain:
    """Watches the pipeline finish lines: processed or dead-lettered, then committed by the
    sink, which commits a batch only after Elasticsearch acknowledged it. No forced refresh:
    polling with one would cost Elasticsearch the time it is being measured on."""

    def __init__(
        self,
        kafka: KafkaConnection,
        tenants: dict[str, str],
        sink_group: str,
        workers: dict[str, subprocess.Popen[bytes]],
    ) -> None:
        self.tenants = tenants
        self.workers = workers
        self.counter = Consumer(kafka.client({"group.id": "bench-count"}))
        self.committer = Consumer(kafka.client({"group.id": sink_group}))

    def wait(self, lines: int, started: float) -> float:
        """Block until all `lines` sent so far are through; return when the processor had
        finished them, in seconds since `started`."""
        processed_at = None
        while True:
            time.sleep(0.2)
            for name, proc in self.workers.items():
                if proc.poll() is not None:
                    raise SystemExit(f"the {name} stopped (exit {proc.returncode}); see its log")
            topics = self.tenants.values()
            dead = sum(end_offset(self.counter, dlq_topic(t)) for t in topics)
            out = sum(end_offset(self.counter, processed_topic(t)) for t in topics)
            if processed_at is None and out + dead >= lines:
                processed_at = time.perf_counter() - started
            if processed_at is not None and committed(self.committer, self.tenants) >= out:
                return processed_at
            if time.perf_counter() - started > 900:
                raise SystemExit("the pipeline did not finish within 15 minutes")


def committed(consumer: Consumer, tenants: dict[str, str]) -> int:
    """Processed records the sink's group has committed (each one acknowledged by
    Elasticsearch or the DLQ first)."""
    partitions = []
    for tenant in tenants.values():
        topic = processed_topic(tenant)
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions += [TopicPartition(topic, p) for p in metadata.partitions]
    return sum(max(0, tp.offset) for tp in consumer.committed(partitions, timeout=10))


def searchable(es: Elasticsearch, tenants: dict[str, str], refresh: bool = True) -> int:
    """Documents of `tenants` a search finds; `refresh=False` leaves Elasticsearch's own 1 s
    refresh to make them searchable, as it does for everyone. A match-all count: Lucene
    answers it from each segment's document count, so polling it costs Elasticsearch next to
    nothing (a prefix query on the event ids, polled ten times a second, walked every id
    sent so far each time and took CPU from the indexing it was timing)."""
    target = ",".join(index_pattern(t) for t in tenants.values())
    if refresh:
        es.indices.refresh(index=target, allow_no_indices=True, ignore_unavailable=True)
    return int(es.count(index=target, ignore_unavailable=True, allow_no_indices=True)["count"])


def direct_bulk(
    es: Elasticsearch, kafka: KafkaConnection, tenants: dict[str, str]
) -> dict[str, Any]:
    """The pipeline's own final documents, bulk-loaded straight into Elasticsearch: into the
    same indices (scratch copies, made from the tenants' own index templates) with the same
    `_id`s, 1,000 per request; once one request at a time, as the sink sends them, and once
    with two in flight (`parallel_bulk`), the most this machine's Elasticsearch took in trials.
    """
    consumer = Consumer(
        kafka.client(
            {
                "group.id": f"bench-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    by_topic = {processed_topic(t): t for t in tenants.values()}
    wanted = sum(end_offset(consumer, t) for t in by_topic)
    consumer.subscribe(list(by_topic))
    documents: list[tuple[str, dict[str, Any]]] = []
    while len(documents) < wanted:
        for message in consumer.consume(5000, 1.0):
            if message.error() is None:
                tenant = by_topic[message.topic() or ""]
                documents.append((tenant, orjson.loads(message.value() or b"")))
    consumer.close()
    result: dict[str, Any] = {"documents": len(documents)}
    for label, load in (("sequential", _sequential), ("two_in_flight", two_in_flight)):
        scratch = f"bench-direct-{uuid.uuid4().hex[:8]}"
        for tenant in tenants.values():
            template = es.indices.get_index_template(name=index_template_name(tenant))[
                "index_templates"
            ][0]
            es.indices.put_index_template(
                name=f"{scratch}-{tenant}",
                index_patterns=[f"{scratch}-{p}" for p in index_patterns(tenant)],
                priority=template["index_template"]["priority"] + 1,
                template=template["index_template"]["template"],
            )
        generations, now = Generations(None), datetime.now(UTC)  # each route's first index
        actions = (
            {
                "_index": f"{scratch}-{generations.index(tenant, document, now)}",
                "_id": document["logway"]["id"],
                "_source": document,
            }
            for tenant, document in documents
        )
        try:
            meter, started = CpuMeter({}), time.perf_counter()
            ok = load(es, actions)
            es.indices.refresh(index=f"{scratch}-*")
            seconds = time.perf_counter() - started
            cpu = meter.report(len(documents))
        finally:
            if made := es.indices.get(index=f"{scratch}-*"):
                es.indices.delete(index=",".join(made))
            for tenant in tenants.values():
                es.indices.delete_index_template(name=f"{scratch}-{tenant}")
        if ok != len(documents):
            raise SystemExit(f"direct bulk ({label}): {len(documents) - ok} documents refused")
        result[label] = {"documents_per_s": ok / seconds, "seconds": seconds, **cpu}
    return result


def _sequential(es: Elasticsearch, actions: Iterable[dict[str, Any]]) -> int:
    return sum(
        good for good, _ in streaming_bulk(es, actions, chunk_size=1000, raise_on_error=False)
    )


def two_in_flight(es: Elasticsearch, actions: Iterable[dict[str, Any]]) -> int:
    return sum(
        good
        for good, _ in parallel_bulk(
            es, actions, thread_count=2, chunk_size=1000, raise_on_error=False
        )
    )


def start_workers(
    run: str, work: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int]:
    """A processor and a sink for this run's tenants; the sink's /metrics port."""
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
    sink_port = free_port()
    sink = start(
        ["sink", "--tenants-matching", matching, "--group-id", f"bench-{run}-sink"],
        work / "sink.log",
        env,
        metrics_port=sink_port,
    )
    return processor, sink, sink_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=TARGET_LINES_PER_S / 2,
        help="lines/s of the latency run (default: half the 10,000 lines/s target)",
    )
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--latency-warmup", type=float, default=10.0)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    run = run_id()
    tenants = {kind: f"bench-{kind}-{run}" for kind in SHARES}
    work = bench_tenants(endpoints, {tenants[kind]: PIPELINES[kind] for kind in SHARES})
    env = {**os.environ, **logway_env(endpoints)}
    es = endpoints.es.client(request_timeout=60)

    print("pipeline: a processor and a sink start, warm-up lines ...", flush=True)
    processor, sink, sink_port = start_workers(run, work, env)
    drain = Drain(
        endpoints.kafka, tenants, f"bench-{run}-sink", {"processor": processor, "sink": sink}
    )
    load = Load(endpoints.kafka, tenants)
    for kind in kinds_for(WARMUP_LINES):
        load.send(kind, "w")
    load.flush()
    drain.wait(sum(load.sent.values()), time.perf_counter())
    warm_lines, warm_records, warm_bytes = sum(load.sent.values()), load.records, load.bytes

    print(f"writing {args.lines:,} lines for 3 tenants while the pipeline runs ...", flush=True)
    meter = CpuMeter({"processor": processor.pid, "sink": sink.pid})
    bulks0 = total(sink_port, f"{BULKS}_count"), total(sink_port, f"{BULKS}_sum")
    started = time.perf_counter()
    for kind in kinds_for(args.lines):
        load.send(kind, "t")
    load.flush()
    written_at = time.perf_counter() - started
    sent, broken = sum(load.sent.values()), sum(load.broken.values())
    processed_at = drain.wait(sent, started)
    elapsed = time.perf_counter() - started
    timed = sent - warm_lines
    cpu = meter.report(timed)
    bulks = total(sink_port, f"{BULKS}_count") - bulks0[0]
    bulk_s = total(sink_port, f"{BULKS}_sum") - bulks0[1]
    indexed = searchable(es, tenants)
    dead = sum(end_offset(drain.counter, dlq_topic(t)) for t in tenants.values())
    ids = _distinct_eids(es, tenants)
    mean_size = (load.bytes - warm_bytes) // (load.records - warm_records)
    throughput = {
        "lines": sent,
        "warmup_lines": warm_lines,
        "timed_lines": timed,
        "records": load.records,
        "mean_record_bytes": mean_size,
        "indexed": indexed,
        "dead_lettered": dead,
        "expected_dead": broken,
        "duplicates": indexed - len(ids),
        "lost": sent - indexed - dead,
        "written_in_s": written_at,
        "seconds": elapsed,
        "lines_per_s": timed / elapsed,
        "processor_lines_per_s": timed / processed_at,
        **cpu,
        "bulk_requests": bulks,  # every request: first tries, retries, halves of a split one
        "mean_bulk_s": bulk_s / bulks if bulks else 0.0,
        "peak_memory_mb": {
            "processor": peak_memory_mb(processor.pid),
            "sink": peak_memory_mb(sink.pid),
        },
    }

    rate = args.latency_rate
    print(
        f"latency: {rate:,.0f} lines/s, {args.latency_warmup:.0f} s to settle, "
        f"{args.latency_seconds:.0f} s timed ...",
        flush=True,
    )
    latency = measure_latency(
        load, es, tenants, rate, seconds=args.latency_seconds, warmup=args.latency_warmup
    )
    _stop(processor)
    _stop(sink)

    print("baselines: Kafka's perf tools, direct bulk load ...", flush=True)
    kafka = kafka_perf(endpoints.kafka, timed, mean_size)
    bulk = direct_bulk(es, endpoints.kafka, tenants)
    result, out = write_result(
        "",
        {
            "throughput": throughput,
            "latency": latency,
            "kafka": kafka,
            "direct_bulk": bulk,
            "ratio_pipeline_to_direct_bulk": throughput["lines_per_s"]
            / bulk["sequential"]["documents_per_s"],
            "ratio_pipeline_to_direct_bulk_two_in_flight": throughput["lines_per_s"]
            / bulk["two_in_flight"]["documents_per_s"],
            "ratio_processor_to_raw_consumer": throughput["processor_lines_per_s"]
            / kafka["consume_records_per_s"],
            # With the cores busy in both runs, throughput goes as the inverse of the CPU
            # each line costs the machine: the most the pipeline could reach here.
            "ratio_cpu_bound_two_in_flight": bulk["two_in_flight"]["all_cpu_s_per_1000"]
            / throughput["all_cpu_s_per_1000"],
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
    load: Load,
    es: Elasticsearch,
    tenants: dict[str, str],
    rate: float,
    *,
    seconds: float,
    warmup: float,
    kind: str | None = None,
) -> dict[str, float]:
    """Send at `rate` lines/s for `warmup` + `seconds`; time the lines of the last `seconds`,
    pairing the k-th line sent with the k-th to become searchable. The lines are all whole
    (no broken ones), so the timed ones searchable are the count less what was there before
    and the settling lines. `kind`: only lines of that kind (else the usual mix)."""
    warm = int(rate * warmup)
    base = searchable(es, tenants) + warm
    sent_times: list[float] = []
    seen: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.append((time.time(), searchable(es, tenants, refresh=False) - base))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    count = warm + int(rate * seconds)
    kinds = [kind] * count if kind else kinds_for(count)
    started = time.perf_counter()
    for i, line_kind in enumerate(kinds):
        # Sleep in steps of at least PACE_S: waiting out every 0.2 ms gap between lines would
        # spin the CPU the pipeline is measured on.
        if (left := started + i / rate - time.perf_counter()) > PACE_S:
            load.producer.poll(left)
        n = load.sent[line_kind]
        if n % BROKEN_EVERY == BROKEN_EVERY - 1:
            load.sent[line_kind] += 1  # skip broken ones here: they are never searchable
            n += 1
        if i < warm:
            load.send(line_kind, "w")  # the same pace, not timed: the pipeline settles into it
            continue
        load.send(line_kind, "l")
        sent_times.append(time.time())
    load.flush()
    deadline = time.time() + 60
    while (seen[-1][1] if seen else 0) < len(sent_times) and time.time() < deadline:
        time.sleep(0.2)
    done.set()
    poller.join()
    latencies = []
    slow: dict[int, int] = {}  # second of the timed run -> lines of it slower than SLOW_S
    k = 0
    for at, count in seen:
        while k < min(count, len(sent_times)):
            latencies.append(at - sent_times[k])
            if latencies[-1] > SLOW_S:
                second = int(sent_times[k] - sent_times[0])
                slow[second] = slow.get(second, 0) + 1
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
        "slow_lines_by_second": slow,
    }


def table(r: dict[str, Any]) -> str:
    t, lat, k, b = r["throughput"], r["latency"], r["kafka"], r["direct_bulk"]
    memory = t["peak_memory_mb"]
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
        (
            "processor: lines/s until it had put out every line",
            f"{t['processor_lines_per_s']:,.0f}",
        ),
        (
            "sink's bulk requests while timed: count / lines per request / mean seconds",
            f"{t['bulk_requests']:,.0f} / {t['timed_lines'] / max(1, t['bulk_requests']):,.0f}"
            f" / {t['mean_bulk_s']:.3f}",
        ),
        ("peak memory MB: processor / sink", f"{memory['processor']:.0f} / {memory['sink']:.0f}"),
        (
            "Kafka ProducerPerformance / ConsumerPerformance (records/s)",
            f"{k['produce_records_per_s']:,.0f} / {k['consume_records_per_s']:,.0f}",
        ),
        (
            "direct bulk load of the same documents (docs/s): one request at a time / two",
            f"{b['sequential']['documents_per_s']:,.0f} / "
            f"{b['two_in_flight']['documents_per_s']:,.0f}",
        ),
        (
            "ratio pipeline / direct bulk: one request at a time / two",
            f"{r['ratio_pipeline_to_direct_bulk']:.2f} / "
            f"{r['ratio_pipeline_to_direct_bulk_two_in_flight']:.2f}",
        ),
        ("ratio processor / raw consumer", f"{r['ratio_processor_to_raw_consumer']:.2f}"),
        (
            "CPU s per 1,000 lines, pipeline: Elasticsearch / Kafka / processor / sink / load",
            cpu_text(t["cpu_s_per_1000"], PIPELINE_PARTS),
        ),
        (
            "CPU s per 1,000 documents, direct bulk (two in flight): Elasticsearch / load",
            cpu_text(b["two_in_flight"]["cpu_s_per_1000"], ALONE_PARTS),
        ),
        (
            "machine busy (every core busy = 1.00): pipeline / direct bulk (two in flight)",
            f"{t['machine_busy']:.2f} / {b['two_in_flight']['machine_busy']:.2f}",
        ),
        (
            "ratio bound by CPU: direct bulk's CPU per document / the pipeline's per line",
            f"{r['ratio_cpu_bound_two_in_flight']:.2f}",
        ),
    ]
    return "\n".join(["| | figure |", "| --- | ---: |", *(f"| {a} | {b} |" for a, b in rows)])


if __name__ == "__main__":
    main()
