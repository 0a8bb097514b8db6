"""The node agent and OTLP in, each beside the broker's own produce rate, in one run.

    python -m bench.agents [--lines 200000]

1. baseline: Kafka's own `ProducerPerformance` (acks=all, lz4) writes as many records of the
   agent's record size to a scratch topic;
2. the OpenTelemetry Collector (built from the Go module proxy, `logway.dev.otelcol`) on the
   configuration `logway render forwarder --format otel-collector` writes, reading `--lines`
   containerd lines from 4 pods' files under a kubelet-like folder: the clock runs from its
   start to the last record in the tenant's raw topic; the collector's CPU per line;
3. OTLP/HTTP into a real `logway run gateway`: protobuf requests of 1,000 records each, 4 in
   flight, each answered once Kafka stored it; the clock runs from the first request to the
   last answer; the gateway's CPU per event;
4. prints events/s and each one's ratio to the baseline; writes
   `bench/results/agents-<date>-<commit>.json`.

Needs the dev servers (`logway dev up`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from bench.common import bench_tenants, cpu_seconds, kafka_perf, run_id, write_result
from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from logway.dev.otelcol import collector_binary
from topology.model import Tenant
from topology.otel_collector import FEATURE_GATES, render_otel_collector

PODS = 4
PER_REQUEST = 1000
IN_FLIGHT = 4
LINE = "INFO request served path=/api/orders/12345 status=200 duration_ms=12 " + "x" * 80
KEY_SECRET = "BENCH_OTLP_KEY"  # noqa: S105 - the name of the variable holding it


def records_in(consumer: Consumer, topic: str) -> int:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
    )


def collector_run(
    endpoints: Endpoints, tenant: str, namespace: str, lines: int, work: Path
) -> dict[str, float]:
    pods = work / "pods"
    stamp = "2026-12-06T10:00:00.000000000Z"
    for pod in range(PODS):
        folder = pods / f"{namespace}_api-{pod}_0b7c9e2a-1f3d-4c5e-9a8b-00000000000{pod}" / "api"
        folder.mkdir(parents=True)
        with (folder / "0.log").open("w") as out:
            for n in range(pod, lines, PODS):
                out.write(f"{stamp} stdout F {LINE} n={n}\n")
    owners = {"team": "bench", "slack_channel": "#bench", "webhook_secret": "BENCH_HOOK"}
    spec = Tenant.model_validate(
        {"name": tenant, "owners": owners, "sources": {"namespaces": [namespace]}}
    )
    config = work / "agent.yaml"
    config.write_text(
        render_otel_collector(
            [spec], "none", log_dir=str(pods), state_dir=str(work / "agent-state")
        )
    )
    binary = collector_binary(lambda line: print(f"  {line}", flush=True))
    consumer = Consumer(endpoints.kafka.client({"group.id": f"{tenant}-bench-watch"}))
    log = (work / "agent.log").open("wb")
    env = {**os.environ, "KAFKA_BROKERS": endpoints.kafka.bootstrap}
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(binary), "--config", str(config), f"--feature-gates={FEATURE_GATES}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        while (count := records_in(consumer, raw_topic(tenant))) < lines:
            if process.poll() is not None:
                raise SystemExit(f"the collector exited; see {work / 'agent.log'}")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        consumer.close()
    return {
        "events_per_s": count / wall,
        "seconds": wall,
        "records": count,
        "cpu_us_per_event": cpu / count * 1e6,
        "record_bytes": len(envelope_example(pods)),
    }


def envelope_example(pods: Path) -> bytes:
    """One record as the agent writes it, for the baseline's record size."""
    path = next(pods.glob("*/*/0.log"))
    return (
        b'{"@timestamp":"2026-12-06T10:00:00.000000Z","log":"'
        + LINE.encode()
        + b' n=0","offset":0,"source_file":"'
        + str(path).encode()
        + b'","stream":"stdout"}'
    )


def otlp_request(first: int) -> bytes:
    request = ExportLogsServiceRequest()
    resource = request.resource_logs.add()
    attribute = resource.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "bench"
    scope = resource.scope_logs.add()
    for n in range(first, first + PER_REQUEST):
        record = scope.log_records.add()
        record.time_unix_nano = 1_796_600_000_000_000_000 + n
        record.severity_number = 9
        record.body.string_value = f"{LINE} n={n}"
    return request.SerializeToString()


async def otlp_client(port: int, key: str, events: int) -> int:
    url = f"http://127.0.0.1:{port}/v1/logs"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"}
    bodies = [otlp_request(first) for first in range(0, events, PER_REQUEST)]
    stored = 0
    async with aiohttp.ClientSession() as session:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)

        async def worker() -> None:
            nonlocal stored
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    async with session.post(url, data=body, headers=headers) as answer:
                        if answer.status == 200:
                            stored += PER_REQUEST
                            break
                        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return stored


def otlp_run(endpoints: Endpoints, key: str, events: int, work: Path) -> dict[str, float]:
    port, otlp_port = free_port(), free_port()
    env = {**os.environ, **endpoints.kafka.environment(), KEY_SECRET: key}
    log = (work / "gateway.log").open("wb")
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--otlp-port",
        str(otlp_port),
        "--otlp-plaintext",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "logway", "run", "gateway", *args, "--metrics-port", "0"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while b"OTLP/HTTP logs in" not in (work / "gateway.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not start; see {work / 'gateway.log'}")
            time.sleep(0.2)
        cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
        stored = asyncio.run(otlp_client(otlp_port, key, events))
        wall, cpu = time.perf_counter() - started, cpu_seconds(process.pid) - cpu_before
    finally:
        process.terminate()
        process.wait(60)
        log.close()
    return {
        "events_per_s": stored / wall,
        "seconds": wall,
        "stored": stored,
        "cpu_us_per_event": cpu / stored * 1e6,
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    name = f"bench-{run_id()}"
    agent_tenant, otlp_tenant, namespace = f"{name}-agent", f"{name}-otlp", f"{name}-ns"
    key = os.urandom(18).hex()
    work = bench_tenants(
        endpoints,
        {
            agent_tenant: f"sources: {{namespaces: [{namespace}]}}\n",
            otlp_tenant: f"sources: {{forward: {{shared_key_secret: {KEY_SECRET}}}}}\n",
        },
    )
    print(f"the collector: {args.lines:,} containerd lines from {PODS} pods ...", flush=True)
    agent = collector_run(endpoints, agent_tenant, namespace, args.lines, work)
    size = int(agent["record_bytes"])
    print(f"broker baseline: kafka ProducerPerformance, {args.lines:,} x {size} bytes ...")
    baseline = kafka_perf(endpoints.kafka, args.lines, size, consume=False)
    broker = baseline["produce_records_per_s"]
    print(f"OTLP/HTTP: {args.lines:,} records, {PER_REQUEST:,} a request, {IN_FLIGHT} in flight")
    otlp = otlp_run(endpoints, key, args.lines // PER_REQUEST * PER_REQUEST, work)
    _result, out = write_result(
        "agents-",
        {
            "lines": args.lines,
            "broker_producer_perf": {"events_per_s": broker, "record_bytes": size},
            "collector": agent,
            "otlp": otlp,
            "ratio_collector_to_broker": agent["events_per_s"] / broker,
            "ratio_otlp_to_broker": otlp["events_per_s"] / broker,
        },
    )
    print(f"\n{'':38}{'events/s':>12}{'ratio':>8}{'CPU µs/event':>15}")
    print(f"{'Kafka ProducerPerformance (acks=all)':38}{broker:>12,.0f}{1:>8.2f}")
    for label, figures in (
        ("OpenTelemetry Collector (files)", agent),
        ("OTLP/HTTP into the gateway", otlp),
    ):
        print(
            f"{label:38}{figures['events_per_s']:>12,.0f}"
            f"{figures['events_per_s'] / broker:>8.2f}{figures['cpu_us_per_event']:>15.1f}"
        )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
