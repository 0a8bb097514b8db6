"""Gateway throughput against the broker's own produce rate, in one run on the same servers.

    python -m bench.gateway [--events 1000000]

1. baseline: Kafka's own `ProducerPerformance` (kafka-producer-perf-test, from the dev runner's
   Kafka) writes the same number of 300-byte records with acks=all to a scratch topic;
2. a real `logway run gateway` process takes PackedForward frames of 1,000 events each with a
   `chunk` option from 2 client connections (up to 4 chunks in flight each), every chunk acked
   only after Kafka stored all of it; the clock runs from the first frame sent to the last ack;
3. then one client sends single events, each waiting for its ack before the next (what a
   fluent-logger with RequestAck does under light load): events/s and milliseconds per ack;
4. prints events/s for both, their ratio, and the gateway's CPU microseconds per event; writes
   `bench/results/gateway-<date>-<commit>.json`.

Needs the dev servers (`logway dev up`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack

from bench.common import bench_tenants, cpu_seconds, kafka_perf, run_id, write_result
from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints

EVENTS_PER_CHUNK = 1000
CONNECTIONS = 2
IN_FLIGHT = 4
RECORD = {"level": "info", "msg": "request served", "path": "/api/orders/12345", "pad": "x" * 200}


def broker_baseline(kafka: KafkaConnection, events: int, size: int) -> dict[str, float]:
    perf = kafka_perf(kafka, events, size, consume=False)
    return {"events_per_s": perf["produce_records_per_s"]}


def client(port: int, tag: str, chunks: int, done: list[int]) -> None:
    entries = b"".join(
        msgpack.packb([int(time.time()), {**RECORD, "n": n}]) for n in range(EVENTS_PER_CHUNK)
    )
    sock = socket.create_connection(("127.0.0.1", port))
    unpacker = msgpack.Unpacker(raw=False)
    in_flight = 0
    sent = acked = 0

    def read_some() -> None:
        nonlocal in_flight, acked
        unpacker.feed(sock.recv(65536))
        for reply in unpacker:
            if isinstance(reply, dict) and "ack" in reply:
                in_flight -= 1
                acked += 1

    while acked < chunks:
        while sent < chunks and in_flight < IN_FLIGHT:
            frame = msgpack.packb(
                [tag, entries, {"chunk": f"{tag}-{sent}", "size": EVENTS_PER_CHUNK}]
            )
            sock.sendall(frame)
            sent += 1
            in_flight += 1
        read_some()
    sock.close()
    done.append(acked * EVENTS_PER_CHUNK)


ONE_BY_ONE = 500  # single events, each acked before the next is sent


def one_by_one(port: int, tag: str, events: int) -> dict[str, float]:
    """Message-mode events, one at a time, each waiting for its ack."""
    sock = socket.create_connection(("127.0.0.1", port))
    unpacker = msgpack.Unpacker(raw=False)
    started = time.perf_counter()
    for n in range(events):
        sock.sendall(
            msgpack.packb([tag, int(time.time()), {**RECORD, "n": n}, {"chunk": f"one-{n}"}])
        )
        while not any(isinstance(reply, dict) and "ack" in reply for reply in unpacker):
            unpacker.feed(sock.recv(65536))
    wall = time.perf_counter() - started
    sock.close()
    return {"events_per_s": events / wall, "ms_per_ack": wall / events * 1000}


def gateway_run(endpoints: Endpoints, tenant: str, events: int, workdir: Path) -> dict[str, float]:
    port = _free_port()
    env = {**os.environ, **endpoints.kafka.environment()}
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logway",
            "run",
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            "0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while b"listening" not in (workdir / "gateway.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not start; see {workdir / 'gateway.log'}")
            time.sleep(0.2)
        chunks = events // EVENTS_PER_CHUNK // CONNECTIONS
        done: list[int] = []
        cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
        threads = [
            threading.Thread(target=client, args=(port, f"{tenant}.bench{i}", chunks, done))
            for i in range(CONNECTIONS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - started, cpu_seconds(process.pid) - cpu_before
        acked = sum(done)
        return {
            "events_per_s": acked / wall,
            "seconds": wall,
            "acked": acked,
            "cpu_us_per_event": cpu / acked * 1e6,
            "one_by_one": one_by_one(port, f"{tenant}.single", ONE_BY_ONE),
        }
    finally:
        process.terminate()
        process.wait(60)
        log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    tenant = f"bench-{run_id()}"
    workdir = bench_tenants(
        endpoints, {tenant: "sources: {forward: {allow_unauthenticated: true}}\n"}
    )
    size = len(json.dumps({**RECORD, "n": 1, "@timestamp": "2026-11-25T10:00:00.000Z"}))
    print(
        f"broker baseline: kafka ProducerPerformance, {args.events:,} x {size} bytes ...",
        flush=True,
    )
    baseline = broker_baseline(endpoints.kafka, args.events, size)
    print("logway gateway: PackedForward, chunks of 1,000 acked after Kafka ...", flush=True)
    gateway = gateway_run(endpoints, tenant, args.events, workdir)
    result, out = write_result(
        "gateway-",
        {
            "events": args.events,
            "event_bytes": size,
            "broker_producer_perf": baseline,
            "gateway": gateway,
            "ratio_gateway_to_broker": gateway["events_per_s"] / baseline["events_per_s"],
        },
    )
    print(f"\n{'':34}{'events/s':>12}{'CPU µs/event':>15}")
    print(f"{'Kafka ProducerPerformance (acks=all)':34}{baseline['events_per_s']:>12,.0f}{'':>15}")
    print(
        f"{'logway gateway (PackedForward+ack)':34}{gateway['events_per_s']:>12,.0f}"
        f"{gateway['cpu_us_per_event']:>15.1f}"
    )
    single = gateway["one_by_one"]
    print(
        f"{'one event at a time, each acked':34}{single['events_per_s']:>12,.0f}"
        f"{'':>15}  ({single['ms_per_ack']:.1f} ms per ack)"
    )
    print(f"gateway / broker: {result['ratio_gateway_to_broker']:.2f}   -> {out}")


if __name__ == "__main__":
    main()
