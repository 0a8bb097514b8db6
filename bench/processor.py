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
   to `bench/results/processor-<date>-<commit>.json`.

Needs the dev servers (`logway dev up`) or LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
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


def produce(kafka: KafkaConnection, topic: str, count: int) -> float:
    producer = Producer(kafka.client({"linger.ms": 20, "batch.size": 1_000_000, "acks": "all"}))
    started = time.perf_counter()
    for n in range(count):
        while True:
            try:
                producer.produce(topic, line(n), key=str(n % 64).encode())
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


def processor_run(endpoints: Endpoints, tenant: str, count: int, workdir: Path) -> dict[str, float]:
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
            if done >= count:
                wall = time.perf_counter() - first_wall
                cpu = cpu_seconds(process.pid) - first_cpu
                measured = count - first_done
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
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    tenant = f"bench-{run_id()}"
    workdir = bench_tenants(endpoints, {tenant: PIPELINE}, PARTITIONS)
    print(f"writing {args.records:,} records of 500 bytes to {raw_topic(tenant)} ...", flush=True)
    produce(endpoints.kafka, raw_topic(tenant), args.records)
    print("raw-client baseline (consume, parse, produce) ...", flush=True)
    baseline = raw_baseline(endpoints.kafka, raw_topic(tenant), args.records)
    print("logway processor ...", flush=True)
    processor = processor_run(endpoints, tenant, args.records, workdir)
    result, out = write_result(
        "processor-",
        {
            "records": args.records,
            "record_bytes": 500,
            "pipeline": "parse json, timestamp, rename, set, remove, route",
            "raw_client": baseline,
            "processor": processor,
            "ratio_processor_to_raw": processor["records_per_s"] / baseline["records_per_s"],
        },
    )
    print(f"\n{'':24}{'records/s':>12}{'CPU µs/record':>16}")
    for name, figures in (("raw clients (baseline)", baseline), ("logway processor", processor)):
        print(f"{name:24}{figures['records_per_s']:>12,.0f}{figures['cpu_us_per_record']:>16.1f}")
    print(f"processor / raw clients: {result['ratio_processor_to_raw']:.2f}   -> {out}")


if __name__ == "__main__":
    main()
