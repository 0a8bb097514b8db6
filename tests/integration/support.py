"""What integration tests need around the real servers: tenants, processes, reading topics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import msgpack
import orjson
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import scan
from prometheus_client.parser import text_string_to_metric_families

from logway.core.kafka import KafkaConnection
from logway.core.names import index_pattern, raw_topic
from logway.core.settings import Endpoints

T = TypeVar("T")


def tenant_yaml(name: str, partitions: int = 2, extra: str = "") -> str:
    """A valid tenant document; `extra` is appended YAML (a pipeline, routes, limits)."""
    return (
        f"name: {name}\n"
        "owners:\n"
        f"  team: team-{name}\n"
        f'  slack_channel: "#{name}"\n'
        f"  webhook_secret: {name.upper().replace('-', '_')}_WEBHOOK\n"
        "topics:\n"
        f"  partitions: {partitions}\n"
        "  retention_hours: 24\n"
        f"{extra}"
    )


def apply_tenant(
    endpoints: Endpoints, folder: Path, name: str, partitions: int = 2, extra: str = ""
) -> None:
    """Declare the tenant `name` (see `tenant_yaml`) in `folder` and `logway apply` it."""
    (folder / f"{name}.yaml").write_text(tenant_yaml(name, partitions, extra))
    logway(endpoints, "apply", str(folder))


def logway(
    endpoints: Endpoints, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real `logway` command line against the test servers; with `check`, a failure
    says what the command printed."""
    done = subprocess.run(
        [sys.executable, "-m", "logway", *args],
        env=env_for(endpoints),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"logway {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return done


def validate_online(
    endpoints: Endpoints, path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`logway validate --online --format json path`, with `env` added to its environment."""
    return subprocess.run(
        [sys.executable, "-m", "logway", "validate", "--online", "--format", "json", str(path)],
        env={**env_for(endpoints), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


TEST_CREDENTIALS = Path(tempfile.gettempdir()) / "logway-test-credentials"


def env_for(endpoints: Endpoints) -> dict[str, str]:
    return {
        **os.environ,
        **endpoints.environment(),
        # Tenants applied by tests must not leave passwords in the checkout's .logway.
        "LOGWAY_CREDENTIALS_DIR": str(TEST_CREDENTIALS),
    }


@dataclass
class PipelineProcess:
    """A `logway run <component>` child process, with its output kept in a file."""

    endpoints: Endpoints
    args: list[str]
    log_path: Path
    metrics_port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> PipelineProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "logway",
                "run",
                *self.args,
                "--metrics-port",
                str(self.metrics_port),
            ],
            env={**env_for(self.endpoints), **self.extra_env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if self.metrics_port:
            wait_for(
                f"{self.args[0]}'s /metrics on port {self.metrics_port}",
                lambda: accepts(self.metrics_port),
                bool,
                60,
                self.assert_running,
            )
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
        return self.process.returncode

    def assert_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.args[0]} exited with {self.process.returncode}:\n"
                + self.log_path.read_text(errors="replace")[-4000:]
            )


def processor(
    endpoints: Endpoints,
    matching: str,
    group: str,
    folder: Path,
    *,
    name: str = "processor",
    metrics_port: int = 0,
    env: dict[str, str] | None = None,
) -> PipelineProcess:
    """A processor (not started yet) for the tenants `matching`, in consumer group `group`,
    with its Faust state and its log (`<name>.log`) in `folder`; /metrics on `metrics_port`
    if one is given; `env` adds to (or overrides) its environment."""
    args = ["processor", "--tenants-matching", matching, "--app-id", group]
    return PipelineProcess(
        endpoints,
        [*args, "--data-dir", str(folder / f"faust-{name}")],
        folder / f"{name}.log",
        metrics_port=metrics_port,
        extra_env=env or {},
    )


def sink(
    endpoints: Endpoints,
    matching: str,
    group: str,
    folder: Path,
    *,
    name: str = "sink",
    metrics_port: int = 0,
    env: dict[str, str] | None = None,
) -> PipelineProcess:
    """A sink (not started yet) for the tenants `matching`, in consumer group `group`, with
    its log (`<name>.log`) in `folder`; /metrics on `metrics_port` if one is given; `env`
    adds to (or overrides) its environment."""
    args = ["sink", "--tenants-matching", matching, "--group-id", group]
    return PipelineProcess(
        endpoints, args, folder / f"{name}.log", metrics_port=metrics_port, extra_env=env or {}
    )


def refused_sink_log(endpoints: Endpoints, folder: Path, tenant_prefix: str) -> str:
    """Start a sink that the servers must refuse; it has to exit 2 by itself within 30 s (not
    wait for ever). Returns its log."""
    refused = sink(endpoints, f"{tenant_prefix}-none", tenant_prefix, folder).start()
    assert refused.process is not None
    try:
        assert refused.process.wait(30) == 2  # it gave up by itself, with the reason
    finally:
        refused.stop()
    return (folder / "sink.log").read_text(errors="replace")


def gateway(
    endpoints: Endpoints, port: int, folder: Path, env: dict[str, str] | None = None
) -> PipelineProcess:
    """A gateway (not started yet) on 127.0.0.1:`port`; `env` holds its shared-key variables."""
    args = ["gateway", "--host", "127.0.0.1", "--port", str(port)]
    return PipelineProcess(endpoints, args, folder / "gateway.log", extra_env=env or {})


def indexed_count(es: Elasticsearch, tenant: str) -> int:
    """How many documents the tenant has in Elasticsearch, once searchable (see `searched`)."""
    return searched(
        es,
        tenant,
        lambda target: int(
            es.count(index=target, ignore_unavailable=True, allow_no_indices=True)["count"]
        ),
    )


def tenant_documents(
    es: Elasticsearch, tenant: str, source: list[str] | bool = True
) -> list[dict[str, Any]]:
    """Every document the pipeline wrote for the tenant (its index pattern, and
    `logway.tenant`), as scan hits with `_id`, `_index` and `_source`."""
    query = {"query": {"term": {"logway.tenant": tenant}}, "_source": source}
    return searched(es, tenant, lambda target: list(scan(es, index=target, query=query)))


def searched(es: Elasticsearch, tenant: str, read: Callable[[str], T]) -> T:
    """`read(the tenant's index pattern)`, once every index it matches is searchable.

    A daily index the sink has just created answers searches with 503 until its primary
    shard has started, a moment a poll can land in on a busy machine. So: wait for the
    primaries, refresh, read; a 503 that still comes (an index created in between) is
    waited out the same way, three times at most. Any other error is the test's to see.
    """
    target = index_pattern(tenant)
    attempts_left = 3
    while True:
        es.cluster.health(index=target, wait_for_status="yellow", timeout="30s")
        es.indices.refresh(index=target, allow_no_indices=True, ignore_unavailable=True)
        try:
            return read(target)
        except ApiError as error:
            attempts_left -= 1
            if error.meta.status != 503 or not attempts_left:
                raise


def forward_chunk(port: int, tag: str, records: list[dict[str, object]], chunk: str) -> bool:
    """Send `records` as one PackedForward chunk that asks for an ack; True once it came."""
    entries = b"".join(msgpack.packb((int(time.time()), record)) for record in records)
    frame = msgpack.packb([tag, entries, {"chunk": chunk, "size": len(records)}])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(frame)
            unpacker = msgpack.Unpacker(raw=False)
            while True:
                data = sock.recv(4096)
                if not data:
                    return False
                unpacker.feed(data)
                if {"ack": chunk} in list(unpacker):
                    return True
    except OSError:
        return False


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A running process's /metrics as {(sample name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value, 0 when absent (a counter that never moved is not exported)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(
    what: str,
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    alive: Callable[[], None] = lambda: None,
) -> T:
    """Poll `probe` until `done(value)`; fail with the last value seen after `timeout`."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        alive()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last: {value}"
            )
        time.sleep(1)
        value = probe()
    return value


def read_topic(
    kafka: KafkaConnection, topic: str, timeout: float = 30
) -> list[tuple[bytes | None, bytes]]:
    """Every record currently in `topic`, as (key, value), read without a consumer group."""
    return [(m.key(), m.value() or b"") for m in _read_all(kafka, topic, timeout)]


def produced_at(kafka: KafkaConnection, topic: str, timeout: float = 30) -> list[tuple[bytes, int]]:
    """Every record currently in `topic`, as (value, its producer's timestamp in ms)."""
    return [(m.value() or b"", m.timestamp()[1]) for m in _read_all(kafka, topic, timeout)]


def _read_all(kafka: KafkaConnection, topic: str, timeout: float) -> list[Message]:
    consumer = Consumer(
        kafka.client(
            {
                "group.id": "logway-tests-reader",
                "enable.auto.commit": False,
            }
        )
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assignment = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        records: list[Message] = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            records.append(message)
            partition, offset = message.partition(), message.offset()
            assert partition is not None
            assert offset is not None
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        if ends:
            raise AssertionError(f"could not read all of {topic} within {timeout}s")
        return records
    finally:
        consumer.close()


def group_lag(kafka: KafkaConnection, group: str, topics: list[str]) -> int:
    """Records in `topics` not yet committed by consumer group `group` (without joining it)."""
    consumer = Consumer(kafka.client({"group.id": group}))
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        committed = consumer.committed(partitions, timeout=10)
        lag = 0
        for tp in committed:
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def write_lines(endpoints: Endpoints, tenant: str, count: int, start: int = 0) -> None:
    """`count` JSON lines (`n` from `start`) to the tenant's raw topic, acknowledged."""
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for n in range(start, start + count):
        producer.produce(raw_topic(tenant), f'{{"n": {n}, "msg": "line {n}"}}'.encode())
    assert producer.flush(15) == 0


def processed_record(
    tenant: str,
    n: int,
    at: str = "2026-11-25T12:00:00+00:00",
    received: str | None = None,
    **fields: object,
) -> bytes:
    """A record as the processor writes it to logs.<tenant>.processed: its event `at`, its
    arrival `received` (the same when None; RFC 3339 both)."""
    origin = {"topic": f"logs.{tenant}.raw", "partition": 0, "offset": n, "index": 0}
    document = {
        "@timestamp": at,
        "seq": n,
        **fields,
        "logway": {
            "tenant": tenant,
            "id": f"logs.{tenant}.raw:0:{n}:0",
            "origin": origin,
            "received_at": received or at,
            "tenant_version": None,
        },
    }
    return orjson.dumps(document)


def produce(endpoints: Endpoints, topic: str, values: list[bytes]) -> None:
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(10) == 0


def credentials(path: Path) -> dict[str, str]:
    """A tenant's Kafka client properties, as `apply --credentials-dir` writes them."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}
