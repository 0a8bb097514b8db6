"""Processor throughput against the raw-client baseline, in one run on the same servers.

    python -m bench.processor [--records 300000]

1. applies a tenant `bench-<id>` whose pipeline is parse + timestamp + three field steps +
   route, and writes N 500-byte JSON lines to its raw topic;
2. baseline: one Python process with the raw clients (confluent-kafka consumer, orjson,
   confluent-kafka producer with acks=all) reads the same records, parses each and produces it
   to a scratch topic: the least a processor in Python must do;
3. `logway run processor` (a real worker process) processes the same records; the clock and the
   process's CPU time run from its first output to its N-th;
4. prints records/s and CPU microseconds per record for both, and their ratio, and writes them
   to `bench/results/processor-<date>-<commit>.json`;
5. the cost of `multiline`: the same CRI lines of Java stack traces (5 lines per trace, 8 pods)
   through two more tenants, parse cri + reassemble with and without `multiline` (java
   preset), in the same run; CPU per line read, for both.

Needs the dev servers (`logway dev up`) or LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.common import bench_tenants, cpu_seconds, run_id, write_result
from logway.core.kafka import KafkaConnection
from logway.core.names import processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.counts import end_offset

PARTITIONS = 3
PIPELINE = """\
pipeline:
  - {step: parse, format: json}
  - {step: timestamp, field: ts, remove_source: true}
  - {step: rename, field: msg, to: message}
  - {step: set, field: env, value: production}
  - {step: remove, fields: [debug]}
routes:
  - {index: errors, when: 'level == "error"'}
  - {index: default}
"""


CRI_PIPELINE = """\
pipeline:
  - {step: parse, format: cri}
  - {step: reassemble}
"""
TRACE_PIPELINE = CRI_PIPELINE + "  - {step: multiline, preset: java}\n"
TRACE_LINES = 5
TRACE_FRAMES = [
    "2026-11-25 10:00:00.123 ERROR c.e.Checkout - order {k} failed",
    "java.lang.IllegalStateException: card declined for order {k}",
    "\tat com.example.Checkout.charge(Checkout.java:42)",
    "\tat com.example.Checkout.handle(Checkout.java:17)",
    "\t... 12 more",
]


def trace_line(n: int) -> tuple[bytes, bytes]:
    """Line n of the trace stream: trace n // 5, written by pod (n // 5) % 8, keyed by it."""
    k = n // TRACE_LINES
    text = TRACE_FRAMES[n % TRACE_LINES].format(k=k)
    return f"pod-{k % 8}".encode(), f"2026-11-25T10:00:00.123Z stderr F {text}".encode()


def line(n: int) -> bytes:
    record = {
        "ts": "2026-11-25T10:00:00.123Z",
        "level": "error" if n % 10 == 0 else "info",
        "msg": f"request {n} served",
        "http": {"method": "GET", "path": "/api/orders/12345", "status": 200},
        "user": f"user-{n % 1000}",
        "debug": "x" * 40,
        "pad": "y" * 200,
    }
    value = orjson.dumps(record)
    return value + b" " * max(0, 500 - len(value))


def produce(
    kafka: KafkaConnection,
    topic: str,
    count: int,
    record: Callable[[int], tuple[bytes, bytes]] = lambda n: (str(n % 64).encode(), line(n)),
) -> float:
    producer = Producer(kafka.client({"linger.ms": 20, "batch.size": 1_000_000, "acks": "all"}))
    started = time.perf_counter()
    for n in range(count):
        key, value = record(n)
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("could not write the bench records to Kafka")
    return time.perf_counter() - started


def raw_baseline(kafka: KafkaConnection, topic: str, count: int) -> dict[str, float]:
    """Consume, parse, produce with acks=all: the raw clients doing the processor's minimum."""
    admin = AdminClient(kafka.client())
    scratch = f"_logway.bench.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(scratch, PARTITIONS, 1)])[scratch].result(30)
    consumer = Consumer(
        kafka.client(
            {
                "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    producer = Producer(
        kafka.client(
            {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )
    )
    consumer.subscribe([topic])
    seen = 0
    started_wall = started_cpu = 0.0
    try:
        while seen < count:
            for message in consumer.consume(2000, 1.0):
                if message.error():
                    continue
                if not seen:
                    started_wall, started_cpu = time.perf_counter(), time.process_time()
                document = orjson.loads(message.value())
                document["received"] = message.timestamp()[1]
                while True:
                    try:
                        producer.produce(scratch, orjson.dumps(document), message.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                seen += 1
            producer.poll(0)
        producer.flush(60)
        consumer.commit(asynchronous=False)
        wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    finally:
        consumer.close()
        admin.delete_topics([scratch])
    return {"records_per_s": count / wall, "cpu_us_per_record": cpu / count * 1e6, "seconds": wall}


def processor_run(
    endpoints: Endpoints, tenant: str, count: int, workdir: Path, outputs: int | None = None
) -> dict[str, float]:
    """The processor over `count` records that give `outputs` documents (default: one each);
    records/s and CPU µs are per record read."""
    outputs = count if outputs is None else outputs
    env = {
        **os.environ,
        **endpoints.environment(),
    }
    log = (workdir / "processor.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logway",
            "run",
            "processor",
            "--tenants-matching",
            tenant,
            "--app-id",
            f"{tenant}-proc",
            "--data-dir",
            str(workdir / "faust"),
            "--metrics-port",
            "0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    consumer = Consumer(endpoints.kafka.client({"group.id": "bench-watch"}))
    topic = processed_topic(tenant)
    try:
        deadline = time.monotonic() + 600
        first_wall = first_cpu = 0.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the processor stopped; see {workdir / 'processor.log'}")
            done = end_offset(consumer, topic)
            if done and not first_wall:
                first_wall, first_cpu = time.perf_counter(), cpu_seconds(process.pid)
                first_done = done
            if done >= outputs:
                wall = time.perf_counter() - first_wall
                cpu = cpu_seconds(process.pid) - first_cpu
                measured = (outputs - first_done) * count / outputs
                return {
                    "records_per_s": measured / wall,
                    "seconds": wall,
                    "cpu_us_per_record": cpu / measured * 1e6,
                }
            time.sleep(0.1)
        raise SystemExit("the processor did not finish within 10 minutes")
    finally:
        consumer.close()
        process.terminate()
        process.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--trace-lines", type=int, default=100_000)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    tenant = f"bench-{run_id()}"
    lines_only, traces = f"{tenant}-cri", f"{tenant}-traces"
    workdir = bench_tenants(
        endpoints,
        {tenant: PIPELINE, lines_only: CRI_PIPELINE, traces: TRACE_PIPELINE},
        PARTITIONS,
    )
    print(f"writing {args.records:,} records of 500 bytes to {raw_topic(tenant)} ...", flush=True)
    produce(endpoints.kafka, raw_topic(tenant), args.records)
    print("raw-client baseline (consume, parse, produce) ...", flush=True)
    baseline = raw_baseline(endpoints.kafka, raw_topic(tenant), args.records)
    print("logway processor ...", flush=True)
    processor = processor_run(endpoints, tenant, args.records, workdir)
    lines = args.trace_lines - args.trace_lines % TRACE_LINES
    print(f"multiline: {lines:,} CRI lines of Java traces, without and with it ...", flush=True)
    for name in (lines_only, traces):
        produce(endpoints.kafka, raw_topic(name), lines, trace_line)
    without = processor_run(endpoints, lines_only, lines, workdir)
    joined = processor_run(endpoints, traces, lines, workdir, outputs=lines // TRACE_LINES)
    result, out = write_result(
        "processor-",
        {
            "records": args.records,
            "record_bytes": 500,
            "pipeline": "parse json, timestamp, rename, set, remove, route",
            "raw_client": baseline,
            "processor": processor,
            "ratio_processor_to_raw": processor["records_per_s"] / baseline["records_per_s"],
            "multiline": {
                "lines": lines,
                "lines_per_trace": TRACE_LINES,
                "parse_cri_reassemble": without,
                "with_multiline_java": joined,
                "cpu_ratio_with_to_without": joined["cpu_us_per_record"]
                / without["cpu_us_per_record"],
            },
        },
    )
    print(f"\n{'':24}{'records/s':>12}{'CPU µs/record':>16}")
    for name, figures in (("raw clients (baseline)", baseline), ("logway processor", processor)):
        print(f"{name:24}{figures['records_per_s']:>12,.0f}{figures['cpu_us_per_record']:>16.1f}")
    print(f"processor / raw clients: {result['ratio_processor_to_raw']:.2f}")
    print(f"\n{'per CRI line read':24}{'lines/s':>12}{'CPU µs/line':>16}")
    for name, figures in (("cri + reassemble", without), ("... + multiline java", joined)):
        print(f"{name:24}{figures['records_per_s']:>12,.0f}{figures['cpu_us_per_record']:>16.1f}")
    ratio = result["multiline"]["cpu_ratio_with_to_without"]
    print(f"multiline's CPU cost: x{ratio:.2f} per line   -> {out}")


if __name__ == "__main__":
    main()
