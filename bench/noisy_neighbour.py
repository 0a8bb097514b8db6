"""A noisy neighbour: does one tenant's flood slow another tenant down in the shared workers?

    python -m bench.noisy_neighbour [--limit 1000] [--flood-times 12] [--rate 500]

1. applies tenants A (`limits: {records_per_s: <limit>, over_limit: delay}`) and B (the
   default limit), and starts one processor and one sink for both;
2. quiet: B sends `--rate` lines/s; each line's time from send to searchable (p50, p99);
3. flood: A writes `--flood` lines at `--flood-times` its limit (12: 12,000 lines/s), from a
   process of its own, while B sends `--rate` lines/s again, timed the same way;
4. A's side: how fast it wrote (against its limit), how many of its lines the processor took
   while B was timed (against the limit), the seconds the processor held A paused
   (`logway_throttled_seconds_total`), and what still waited in Kafka at the end (delayed,
   not lost: the processor's consumer lag);
5. prints a table and writes `bench/results/noisy-neighbour-<date>-<commit>.json`.

The goal (the README's "Fair to every tenant"): B's p99 at or under 2 s while A floods, and
within 1.5 times B's p99 while A is quiet.

Needs the dev servers (`logway dev up`) or LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from elasticsearch import Elasticsearch
from prometheus_client.parser import text_string_to_metric_families

from bench.common import (
    bench_tenants,
    cpu_seconds,
    free_port,
    logway_env,
    run_id,
    write_result,
)
from bench.load import PIPELINES, Load
from bench.pipeline import PACE_S, measure_latency, start
from logway.core.kafka import KafkaConnection
from logway.core.names import index_pattern, processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.counts import end_offset

WARMUP_S = 20.0


def scrape(port: int, name: str, tenant: str) -> float:
    """One per-tenant sample of a worker's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("tenant") == tenant:
                return float(sample.value)
    return 0.0


def wait_searchable(es: Elasticsearch, tenants: list[str], timeout_s: float = 180) -> None:
    """Until each tenant has a document searchable (its index made, its shard started)."""
    deadline = time.monotonic() + timeout_s
    for tenant in tenants:
        while (
            not es.options(ignore_status=(404, 503)).count(index=index_pattern(tenant)).get("count")
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"{tenant}'s first line was not searchable in {timeout_s:.0f} s")
            time.sleep(0.2)


def flood(kafka: KafkaConnection, tenant: str, lines: int, rate: float, out: Any) -> None:
    """A's writer, in a process of its own so that it takes nothing from the timing of B
    (the GIL): `lines` lines at `rate` lines/s; puts the seconds it took on `out`."""
    load = Load(kafka, {"json": tenant})
    started = time.perf_counter()
    for n in range(lines):
        if (left := started + n / rate - time.perf_counter()) > PACE_S:
            load.producer.poll(left)
        load.send("json", "f")
    load.flush()
    out.put(time.perf_counter() - started)


def start_workers(
    endpoints: Endpoints, run: str, work: Path, port: int
) -> dict[str, subprocess.Popen[bytes]]:
    """A processor (/metrics on `port`) and a sink for both tenants."""
    env = {**os.environ, **logway_env(endpoints)}
    matching = f"bench-nn-{run}-[ab]"
    processor = start(
        ["processor", "--tenants-matching", matching, "--app-id", f"bench-nn-{run}-proc",
         "--data-dir", str(work / "faust")],
        work / "processor.log", env, metrics_port=port,
    )  # fmt: skip
    sink = start(
        ["sink", "--tenants-matching", matching, "--group-id", f"bench-nn-{run}-sink"],
        work / "sink.log",
        env,
    )
    return {"processor": processor, "sink": sink}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000, help="A's records_per_s")
    parser.add_argument("--flood", type=int, default=300_000, help="lines A writes")
    parser.add_argument(
        "--flood-times", type=float, default=12.0, help="A writes at this many times its limit"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="B's lines/s")
    parser.add_argument("--seconds", type=float, default=45.0, help="B's timed seconds")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    endpoints = Endpoints.from_env()
    run = run_id()
    a, b = f"bench-nn-{run}-a", f"bench-nn-{run}-b"
    a_limits = f"limits: {{records_per_s: {args.limit}, over_limit: delay}}\n"
    work = bench_tenants(
        endpoints,
        {a: PIPELINES["json"] + a_limits, b: PIPELINES["json"] + "limits: {}\n"},
    )
    port = free_port()
    workers = start_workers(endpoints, run, work, port)
    processor, sink = workers["processor"], workers["sink"]
    es = endpoints.es.client(request_timeout=60)
    quiet_b = Load(endpoints.kafka, {"json": b})

    print("both tenants' first lines (their indices made) ...", flush=True)
    for load in (Load(endpoints.kafka, {"json": a}), quiet_b):
        load.send("json", "w")
        load.flush()
    wait_searchable(es, [a, b])

    def time_b(warmup: float) -> dict[str, Any]:
        """B's latency, and the workers' CPU seconds meanwhile."""
        cpu = {name: cpu_seconds(worker.pid) for name, worker in workers.items()}
        started = time.perf_counter()
        figures: dict[str, Any] = measure_latency(
            quiet_b, es, {"json": b}, args.rate, seconds=args.seconds, warmup=warmup, kind="json"
        )
        figures["elapsed_s"] = time.perf_counter() - started
        figures["cpu_s"] = {name: cpu_seconds(w.pid) - cpu[name] for name, w in workers.items()}
        return figures

    print(f"quiet: B sends {args.rate:.0f} lines/s ({WARMUP_S:.0f} s to settle) ...", flush=True)
    quiet = time_b(WARMUP_S)
    counter = Consumer(endpoints.kafka.client({"group.id": f"bench-nn-{run}-count"}))
    a_before = end_offset(counter, processed_topic(a))
    throttled_before = scrape(port, "logway_throttled_seconds_total", a)

    flood_rate = args.limit * args.flood_times
    print(
        f"flood: A writes {args.flood:,} lines at {flood_rate:,.0f}/s, B sends on ...", flush=True
    )
    written: Any = multiprocessing.Queue()
    writer = multiprocessing.Process(
        target=flood, args=(endpoints.kafka, a, args.flood, flood_rate, written)
    )
    writer.start()
    loud = time_b(0.0)
    write_s = written.get(timeout=600)
    writer.join()
    a_taken = end_offset(counter, processed_topic(a)) - a_before
    a_throttled = scrape(port, "logway_throttled_seconds_total", a) - throttled_before
    a_waiting = scrape(port, "logway_consumer_lag_records", a)
    a_dropped = scrape(port, "logway_dropped_records_total", a)
    in_kafka = end_offset(counter, raw_topic(a))
    counter.close()
    for worker in (processor, sink):
        worker.terminate()
        worker.wait(60)

    timed_s = loud["elapsed_s"]
    figures: dict[str, Any] = {
        "a_limit_records_per_s": args.limit,
        "a_lines_written": args.flood,
        "a_write_lines_per_s": args.flood / write_s,
        "a_write_over_limit": args.flood / write_s / args.limit,
        "a_processed_while_b_timed_per_s": a_taken / timed_s,
        "a_throttled_seconds": a_throttled,
        "a_waiting_in_kafka_at_end": a_waiting,
        "a_raw_records": in_kafka,
        "a_dropped": a_dropped,
        "b_rate_lines_per_s": args.rate,
        "b_quiet": quiet,
        "b_while_a_floods": loud,
        "b_p99_ratio": loud["p99_s"] / quiet["p99_s"],
    }
    result, out = write_result("noisy-neighbour-", figures)
    print(table(result))
    print(f"-> {out}")


def table(r: dict[str, Any]) -> str:
    quiet, loud = r["b_quiet"], r["b_while_a_floods"]
    return "\n".join(
        [
            f"noisy neighbour ({r['date']}, {r['commit']}): one processor, one sink",
            f"  A: limit {r['a_limit_records_per_s']:,}/s, wrote {r['a_lines_written']:,} lines "
            f"at {r['a_write_lines_per_s']:,.0f}/s ({r['a_write_over_limit']:.0f}x its limit)",
            f"     processed {r['a_processed_while_b_timed_per_s']:,.0f}/s while B was timed; "
            f"held paused {r['a_throttled_seconds']:.1f} s; "
            f"{r['a_waiting_in_kafka_at_end']:,.0f} waiting in Kafka at the end (delayed); "
            f"{r['a_dropped']:,.0f} dropped",
            f"  B at {r['b_rate_lines_per_s']:,.0f} lines/s, send to searchable:",
            f"     A quiet:  p50 {quiet['p50_s']:.2f} s  p99 {quiet['p99_s']:.2f} s "
            f"({quiet['searchable']:,} of {quiet['lines']:,} lines; CPU s processor "
            f"{quiet['cpu_s']['processor']:.1f}, sink {quiet['cpu_s']['sink']:.1f})",
            f"     A floods: p50 {loud['p50_s']:.2f} s  p99 {loud['p99_s']:.2f} s "
            f"({loud['searchable']:,} of {loud['lines']:,} lines; CPU s processor "
            f"{loud['cpu_s']['processor']:.1f}, sink {loud['cpu_s']['sink']:.1f})",
            f"     p99 ratio {r['b_p99_ratio']:.2f} (goal: <= 1.5, and p99 <= 2 s)",
        ]
    )


if __name__ == "__main__":
    main()
