"""Many tenants: what 3, 100, 300 and 1,000 tenants cost the shared workers, at the same load.

    python -m bench.tenants [--counts 3,100,300,1000] [--lines 60000]

For each count N, with new tenants `bench-mt-<run>-<N>-<i>` (one partition per topic):
1. `apply` of all N in one run, timed;
2. one line to every tenant, then a processor and a sink start: the seconds until every one
   of those N lines is indexed (a new processor and sink joining, subscribing to N topics,
   and Elasticsearch making N indices);
3. `--lines` lines (about 300 bytes of JSON each), spread evenly over the N tenants, written
   as fast as this program can while the pipeline runs; end to end lines/s, from the first
   line written to the sink's last one indexed, and the processor's, to its last one put
   out (from their metrics);
4. the processor's and the sink's peak memory (VmHWM); the CPU per 1,000 lines of the
   workers, Kafka, Elasticsearch and this program, and how busy the machine was
   (`bench.common.CpuMeter`); and the primary shards each tenant holds in Elasticsearch;
   Elasticsearch's own ceiling at this count: the documents the pipeline indexed, bulk-loaded
   straight into copies of the same N tenants' indices (made beforehand, not timed), 1,000
   per request with two in flight as the sink sends them; each count's end to end lines/s
   is also given against it;
   and, with the workers stopped, what the processor waits for once per batch: the flush of
   1,000 records spread over the N processed topics with its producer's settings;
5. the tenants are removed again with everything named after them (`logway dev sweep`'s
   `logway.dev.leftovers`), so that the dev servers do not keep thousands of partitions.

Prints a table, with each count's throughput against the first count's and memory per tenant,
and writes `bench/results/tenants-<date>-<commit>.json`.

Needs the dev servers (`logway dev up`) or LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan

from bench.common import (
    ALONE_PARTS,
    PIPELINE_PARTS,
    UNLIMITED,
    CpuMeter,
    cpu_text,
    free_port,
    logway,
    logway_env,
    peak_memory_mb,
    run_id,
    shard_room,
    total,
    write_result,
)
from bench.pipeline import start, two_in_flight
from logway.core.elastic import index_lists
from logway.core.names import (
    INDEX_TEMPLATE_PRIORITY,
    index_template_name,
    processed_topic,
    raw_topic,
)
from logway.core.settings import Endpoints
from logway.dev.leftovers import sweep

TENANT = (
    "name: {name}\n"
    'owners: {{team: bench, slack_channel: "#bench", webhook_secret: BENCH_HOOK}}\n'
    "topics: {{partitions: 1}}\n"
    "pipeline:\n  - {{step: parse, format: json}}\n"
    f"limits: {{{{records_per_s: {UNLIMITED}}}}}\n"
)
PADDING = "x" * 220
EVERYTHING = {"query": {"match_all": {}}}


def wait_through(
    ports: dict[str, int], count: int, workers: list[subprocess.Popen[bytes]]
) -> dict[str, float]:
    """Block until the processor has put out and the sink has indexed `count` records (from
    their metrics); when each happened."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + 900
    while len(done) < len(ports):
        for worker in workers:
            if worker.poll() is not None:
                raise SystemExit(f"a worker stopped (exit {worker.returncode}); see its log")
        for part, port in ports.items():
            outcome = "indexed" if part == "sink" else "processed"
            try:
                if part not in done and (
                    total(port, "logway_records_out_total", outcome=outcome) >= count
                ):
                    done[part] = time.perf_counter()
            except OSError:
                pass  # not serving yet
        if time.monotonic() > deadline:
            raise SystemExit(f"{count:,} records not through within 15 minutes: {done}")
        time.sleep(0.2)
    return done


def produce_fanout_ms(
    endpoints: Endpoints, topics: list[str], rounds: int = 30
) -> dict[str, float]:
    """What the processor waits for once per batch: the flush of 1,000 records spread over
    `topics`, with its producer's settings (acks=all, idempotent, no linger); p50 and max ms."""
    producer = Producer(endpoints.kafka.producer({"log_level": 3}))
    value = b"x" * 300
    for topic in topics:
        producer.produce(topic, value)
    producer.flush(60)
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        for n in range(1000):
            producer.produce(topics[n % len(topics)], value)
        producer.flush(60)
        took.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(took), "max_ms": max(took)}


def measure(endpoints: Endpoints, run: str, count: int, lines: int) -> dict[str, Any]:
    prefix = f"bench-mt-{run}-{count}"
    names = [f"{prefix}-{i}" for i in range(count)]
    folder = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    tenants = folder / "tenants"
    tenants.mkdir()
    for name in names:
        (tenants / f"{name}.yaml").write_text(TENANT.format(name=name))
    print(f"{count} tenants: apply ...", flush=True)
    apply_s = logway(endpoints, "apply", str(tenants), "--credentials-dir", str(folder))
    producer = Producer(
        endpoints.kafka.client(
            {
                "linger.ms": 20,
                "acks": "all",
                "queue.buffering.max.messages": 1_000_000,
                "log_level": 3,  # not the notices of the tenants' topics deleted at the end
            }
        )
    )

    def send(name: str, n: int) -> None:
        value = orjson.dumps({"n": n, "tenant": name, "msg": PADDING})
        while True:
            try:
                producer.produce(raw_topic(name), value)
                return
            except BufferError:
                producer.poll(0.05)

    try:
        for name in names:
            send(name, -1)
        producer.flush(60)
        env = {**os.environ, **logway_env(endpoints)}
        matching = f"{prefix}-[0-9]+"
        ports = {"processor": free_port(), "sink": free_port()}
        started = time.perf_counter()
        processor = start(
            ["processor", "--tenants-matching", matching, "--app-id", f"{prefix}-proc",
             "--data-dir", str(folder / "faust")],
            folder / "processor.log", env, metrics_port=ports["processor"],
        )  # fmt: skip
        sink = start(
            ["sink", "--tenants-matching", matching, "--group-id", f"{prefix}-sink"],
            folder / "sink.log",
            env,
            metrics_port=ports["sink"],
        )
        workers = [processor, sink]
        print(f"{count} tenants: workers start, every tenant's first line ...", flush=True)
        join_s = wait_through(ports, count, workers)["sink"] - started

        print(f"{count} tenants: {lines:,} lines ...", flush=True)
        meter = CpuMeter({"processor": processor.pid, "sink": sink.pid})
        started = time.perf_counter()
        for n in range(lines):
            send(names[n % count], n)
        producer.flush(120)
        written_s = time.perf_counter() - started
        done = wait_through(ports, count + lines, workers)
        lines_per_s = lines / (done["sink"] - started)
        figures: dict[str, Any] = {
            "tenants": count,
            "apply_s": apply_s,
            "apply_s_per_tenant": apply_s / count,
            "first_lines_indexed_after_start_s": join_s,
            "lines": lines,
            "lines_per_s": lines_per_s,
            "written_lines_per_s": lines / written_s,
            "processor_lines_per_s": lines / (done["processor"] - started),
            **meter.report(lines),
            "peak_memory_mb": {
                "processor": peak_memory_mb(processor.pid),
                "sink": peak_memory_mb(sink.pid),
            },
        }
        for worker in workers:
            worker.terminate()
            worker.wait(60)
        figures.update(with_workers_stopped(endpoints, prefix, names, lines_per_s))
    finally:
        print(f"{count} tenants: removing them ...", flush=True)
        started = time.perf_counter()
        sweep(endpoints, lambda name: name.startswith(prefix))
        remove_s = time.perf_counter() - started
    figures["remove_s"] = remove_s
    return figures


def with_workers_stopped(
    endpoints: Endpoints, prefix: str, names: list[str], lines_per_s: float
) -> dict[str, Any]:
    """The figures taken once the workers are stopped: the processor's flush over these
    tenants' topics, their shards, and Elasticsearch alone against the pipeline."""
    # the workers are stopped: these records are never read, and go with the topics
    fanout = produce_fanout_ms(endpoints, [processed_topic(n) for n in names])
    shards = primary_shards(endpoints, prefix, len(names))
    print(f"{len(names)} tenants: Elasticsearch alone, the same documents ...", flush=True)
    bulk = direct_bulk(endpoints.es.client(request_timeout=120), prefix)
    return {
        "produce_fanout": fanout,
        "primary_shards_per_tenant": shards,
        "direct_bulk": bulk,
        "vs_direct_bulk": lines_per_s / bulk["documents_per_s"],
    }


def direct_bulk(es: Elasticsearch, prefix: str) -> dict[str, Any]:
    """The documents the pipeline indexed for this count's tenants, bulk-loaded straight into
    copies of their indices (the tenants' template's settings and mappings, made before the
    clock starts), 1,000 per request, two in flight: what Elasticsearch alone takes into that
    many indices on this machine."""
    names = sorted(es.indices.get(index=f"logs-{prefix}-*"))
    hits = [  # a scroll holds a context per shard, and a node allows 500 at once
        hit for chunk in index_lists(names) for hit in scan(es, index=chunk, query=EVERYTHING)
    ]
    scratch = f"bench-direct-{uuid.uuid4().hex[:8]}"
    template = es.indices.get_index_template(name=index_template_name(f"{prefix}-0"))
    es.indices.put_index_template(
        name=scratch,
        index_patterns=[f"{scratch}-*"],
        priority=INDEX_TEMPLATE_PRIORITY + 1,
        template=template["index_templates"][0]["index_template"]["template"],
    )
    indices = sorted({f"{scratch}-{hit['_index']}" for hit in hits})
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda name: es.indices.create(index=name), indices))
        actions = (
            {"_index": f"{scratch}-{h['_index']}", "_id": h["_id"], "_source": h["_source"]}
            for h in hits
        )
        meter, started = CpuMeter({}), time.perf_counter()
        ok = two_in_flight(es, actions)
        seconds = time.perf_counter() - started
        cpu = meter.report(ok)
    finally:
        for chunk in index_lists(indices):
            es.indices.delete(index=chunk, ignore_unavailable=True)
        es.indices.delete_index_template(name=scratch)
    if ok != len(hits):
        raise SystemExit(f"direct bulk: {len(hits) - ok} documents refused")
    return {"documents": ok, "indices": len(indices), "documents_per_s": ok / seconds, **cpu}


def primary_shards(endpoints: Endpoints, prefix: str, count: int) -> dict[str, float]:
    """Primary shards per tenant of this count's tenants: mean and most."""
    shards: list[dict[str, str]] = list(
        endpoints.es.client().cat.shards(index=f"logs-{prefix}-*", format="json")  # type: ignore[arg-type]
    )
    per: dict[str, int] = dict.fromkeys((f"{prefix}-{i}" for i in range(count)), 0)
    for shard in shards:
        if shard["prirep"] == "p":
            tenant = shard["index"].removeprefix("logs-").split(".", 1)[0]
            per[tenant] = per.get(tenant, 0) + 1
    return {"mean": sum(per.values()) / count, "max": max(per.values(), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="3,100,300,1000")
    parser.add_argument("--lines", type=int, default=60_000)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    run = run_id()
    counts = [int(c) for c in args.counts.split(",")]
    # each count's indices, and as many again for Elasticsearch alone's copies of them
    with shard_room(endpoints, 2 * max(counts)) as limit:
        rows = [measure(endpoints, run, count, args.lines) for count in counts]
    base = rows[0]
    for row in rows:
        row["throughput_vs_first"] = row["lines_per_s"] / base["lines_per_s"]
        extra = row["tenants"] - base["tenants"]
        row["memory_mb_per_extra_tenant"] = {
            part: (row["peak_memory_mb"][part] - base["peak_memory_mb"][part]) / extra
            if extra
            else 0.0
            for part in ("processor", "sink")
        }
    result, out = write_result("tenants-", {"rows": rows, "max_shards_per_node": limit})
    print(table(result))
    print(f"-> {out}")


def table(result: dict[str, Any]) -> str:
    lines = [
        f"many tenants ({result['date']}, {result['commit']}): one processor, one sink",
        f"{'tenants':>8}{'apply s':>10}{'join s':>9}{'lines/s':>10}{'vs first':>10}"
        f"{'ES alone/s':>12}{'vs ES':>7}"
        f"{'processor/s':>13}{'written/s':>11}{'flush ms':>10}{'proc MB':>9}{'sink MB':>9}"
        f"{'MB/tenant p/s':>16}{'shards/tenant':>15}",
    ]
    spent = [
        "CPU s per 1,000 lines, pipeline: Elasticsearch / Kafka / processor / sink / load "
        "(machine busy); Elasticsearch alone: Elasticsearch / load (machine busy)"
    ]
    for r in result["rows"]:
        per, alone = r["memory_mb_per_extra_tenant"], r["direct_bulk"]
        lines.append(
            f"{r['tenants']:>8}{r['apply_s']:>10.1f}{r['first_lines_indexed_after_start_s']:>9.1f}"
            f"{r['lines_per_s']:>10,.0f}{r['throughput_vs_first']:>10.2f}"
            f"{alone['documents_per_s']:>12,.0f}{r['vs_direct_bulk']:>7.2f}"
            f"{r['processor_lines_per_s']:>13,.0f}{r['written_lines_per_s']:>11,.0f}"
            f"{r['produce_fanout']['p50_ms']:>10.1f}"
            f"{r['peak_memory_mb']['processor']:>9.0f}{r['peak_memory_mb']['sink']:>9.0f}"
            f"{per['processor']:>8.2f}/{per['sink']:.2f}"
            f"{r['primary_shards_per_tenant']['max']:>15}"
        )
        spent.append(
            f"{r['tenants']:>8}  {cpu_text(r['cpu_s_per_1000'], PIPELINE_PARTS)}"
            f"  ({r['machine_busy']:.2f});  {cpu_text(alone['cpu_s_per_1000'], ALONE_PARTS)}"
            f"  ({alone['machine_busy']:.2f})"
        )
    return "\n".join(lines + spent)


if __name__ == "__main__":
    main()
