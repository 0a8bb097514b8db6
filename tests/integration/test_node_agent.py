"""The node agent for real: the OpenTelemetry Collector built from the Go module proxy
(`logway.dev.otelcol`), run on the configuration `logway render forwarder --format
otel-collector` writes, reading container log files laid out as the kubelet lays them out and
written as containerd and Docker write them, and sending them over Kafka's SCRAM-over-TLS
listener as the forwarder user; then the processor and the sink. Counted in Elasticsearch:
every line once, byte-identical, with its pod's metadata.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from logway.core.names import FORWARDER_USER, dlq_topic, processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev.otelcol import collector_binary
from logway.dev.servers import DevConfig, Kafka
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    free_port,
    indexed_count,
    processor,
    read_topic,
    sink,
    tenant_documents,
    wait_for,
)
from tests.integration.test_forwarder_login import forwarder_password  # noqa: F401 (fixture)
from topology.model import Tenant
from topology.otel_collector import FEATURE_GATES, render_otel_collector

pytestmark = pytest.mark.integration

PIECE = 16_384  # what containerd and Docker cut a line at
PIPELINE = "pipeline:\n  - {step: parse, format: json}\n"


@pytest.fixture(scope="module")
def collector() -> Path:
    return collector_binary(lambda line: print(f"[otelcol] {line}"))


@dataclass
class Agent:
    """The collector as a child process, its output kept in a file."""

    binary: Path
    config: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Agent:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.binary), "--config", str(self.config), f"--feature-gates={FEATURE_GATES}"],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def assert_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the collector exited {self.process.returncode}:\n{self.log()}")


def agent_for(
    binary: Path, tenant: str, namespace: str, folder: Path, password: str, *, brokers: str = ""
) -> Agent:
    """The collector on the rendered configuration, reading `folder/pods`, logged in as the
    forwarder user over SCRAM and TLS (the dev CA where the chart mounts the cluster CA), to
    `brokers` (the dev broker's TLS listener unless given)."""
    secrets = folder / "secrets"
    (secrets / "kafka-ca").mkdir(parents=True, exist_ok=True)
    shutil.copy(Kafka(DevConfig.from_env()).ca_file, secrets / "kafka-ca" / "ca.crt")
    owners = {"team": "t", "slack_channel": "#t", "webhook_secret": "T"}
    spec = Tenant.model_validate(
        {"name": tenant, "owners": owners, "sources": {"namespaces": [namespace]}}
    )
    config = folder / "agent.yaml"
    config.write_text(
        render_otel_collector(
            [spec],
            "scram",
            log_dir=str(folder / "pods"),
            state_dir=str(folder / "agent-state"),
            secrets_dir=str(secrets),
        )
    )
    env = {
        "KAFKA_BROKERS": brokers or DevConfig.from_env().kafka_tls_bootstrap,
        "KAFKA_USERNAME": FORWARDER_USER,
        "KAFKA_PASSWORD": password,
    }
    return Agent(binary, config, env, folder / "agent.log")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def cri(stream: str, text: str) -> bytes:
    """A line as containerd writes it: pieces of at most 16 KiB of bytes (`P`, then `F`),
    cut wherever the limit falls, inside a character too."""
    data = text.encode()
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)] or [b""]
    out = b""
    for index, piece in enumerate(pieces):
        tag = b"F" if index == len(pieces) - 1 else b"P"
        out += f"{stamp()} {stream} ".encode() + tag + b" " + piece + b"\n"
    return out


def docker(stream: str, text: str) -> bytes:
    """A line as Docker's json-file writes it: pieces of 16 KiB, the last ending in "\\n"
    (Docker cuts between characters: its JSON cannot hold half of one)."""
    pieces = [text[i : i + PIECE] for i in range(0, len(text), PIECE)] or [""]
    out = b""
    for index, piece in enumerate(pieces):
        log = piece + "\n" if index == len(pieces) - 1 else piece
        out += orjson.dumps({"log": log, "stream": stream, "time": stamp()}) + b"\n"
    return out


@dataclass
class Pod:
    """One container's log file, as the kubelet names it, and what it was sent."""

    root: Path
    namespace: str
    name: str
    container: str
    encode: str  # "cri" or "docker"
    written: list[str] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, self.name))

    @property
    def file(self) -> Path:
        return self.root / f"{self.namespace}_{self.name}_{self.uid}" / self.container / "0.log"

    def write(self, lines: list[str], stream: str = "stdout") -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        encode = cri if self.encode == "cri" else docker
        with self.file.open("ab") as out:
            for line in lines:
                out.write(encode(stream, line))
        self.written += lines


def wait_until_read(state: Path, agent: Agent) -> None:
    """Until the agent's state on disk (positions and queue) has stopped growing for 2 s, the
    files read to their ends: with the synchronous emitter on, a position is saved only once
    its lines are queued, so everything read is in the queue."""
    sizes: list[int] = []
    deadline = time.monotonic() + 90
    while len(sizes) < 5 or sizes[-1] != sizes[-5] or sizes[-1] < 200_000:
        agent.assert_running()
        assert time.monotonic() < deadline, f"the agent's state kept changing: {sizes[-5:]}"
        sizes.append(sum(f.stat().st_size for f in state.glob("*") if f.is_file()))
        time.sleep(0.5)


def written_to(consumer: Consumer, topic: str) -> int:
    """How many records `topic` holds (its partitions' end offsets)."""
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
    )


def lines(pod: str, start: int, count: int) -> list[str]:
    return [f"{pod} line {n} café ✓ " for n in range(start, start + count)]


def long_lines(pod: str) -> list[str]:
    """Lines over one piece, with characters of 2, 3 and 4 bytes across every cut."""
    return [f"{pod} long {n} " + "é€😀x" * (PIECE // 10 * (n + 1)) for n in range(3)]


def start_workers(endpoints: Endpoints, tenant: str, folder: Path) -> list[PipelineProcess]:
    return [
        processor(endpoints, tenant, f"{tenant}-p", folder, metrics_port=free_port()).start(),
        sink(endpoints, tenant, f"{tenant}-s", folder, metrics_port=free_port()).start(),
    ]


def documents(endpoints: Endpoints, tenant: str) -> list[dict[str, Any]]:
    return [hit["_source"] for hit in tenant_documents(endpoints.es.client(), tenant)]


def wait_indexed(endpoints: Endpoints, tenant: str, count: int, agent: Agent) -> None:
    """Until the tenant has `count` documents (a few minutes at most)."""
    wait_for(
        f"{count} lines indexed",
        lambda: indexed_count(endpoints.es.client(), tenant),
        lambda n: n >= count,
        180,
        agent.assert_running,
    )


def trace_missing(
    endpoints: Endpoints, tenant: str, found: list[dict[str, Any]], pods: list[Pod]
) -> str:
    """Where each line written and not indexed got to: how many records of the tenant's raw,
    processed and dead-letter topics hold it, and how many indexed lines contain it ("" when
    none is missing)."""
    indexed = {str(doc["message"]) for doc in found}
    missing = [line for pod in pods for line in pod.written if line not in indexed]
    if not missing:
        return ""
    stages = {
        stage: [value for _key, value in read_topic(endpoints.kafka, topic)]
        for stage, topic in (
            ("raw", raw_topic(tenant)),
            ("processed", processed_topic(tenant)),
            ("dlq", dlq_topic(tenant)),
        )
    }
    rows = []
    for line in missing[:20]:
        # the ASCII head ("api line 24 caf"): JSON may escape what follows
        head = line[: next((i for i, c in enumerate(line) if not c.isascii()), len(line))][:60]
        found_in = ", ".join(
            f"{stage} {sum(head.encode() in value for value in values)}"
            for stage, values in stages.items()
        )
        inside = sum(head in message for message in indexed)  # joined into another line?
        rows.append(f"{line[:40]!r}: {found_in}, inside an indexed line {inside}")
    return "not indexed, records holding each line: " + "; ".join(rows)


def assert_each_line_once(found: list[dict[str, Any]], pods: list[Pod], namespace: str) -> None:
    """Every line the pods wrote, byte for byte, in one document each, with its pod's
    metadata; nothing else."""
    indexed = Counter(str(doc["message"]) for doc in found)
    assert not [line for line, n in indexed.items() if n > 1], "a line indexed twice"
    written = [line for pod in pods for line in pod.written]
    missing = [line[:60] for line in written if line not in indexed]
    assert not missing, f"{len(missing)} of {len(written)} lines not indexed: {missing[:20]}"
    assert sorted(indexed) == sorted(written)
    for doc in found:
        k8s = doc["kubernetes"]
        pod = next(p for p in pods if k8s["pod"]["name"] == p.name)
        assert k8s["namespace"] == namespace
        assert k8s["pod"]["uid"] == pod.uid
        assert k8s["container"] == {"name": pod.container}


def test_the_collector_delivers_each_line_of_real_container_files_once_byte_identical(
    endpoints: Endpoints,
    tenant_prefix: str,
    tmp_path: Path,
    collector: Path,
    forwarder_password: str,  # noqa: F811 (the fixture)
) -> None:
    tenant, namespace = f"{tenant_prefix}-agent", f"{tenant_prefix}-agent-ns"
    extra = f"sources:\n  namespaces: [{namespace}]\n" + PIPELINE
    apply_tenant(endpoints, tmp_path, tenant, partitions=2, extra=extra)
    pods = tmp_path / "pods"
    rotated = Pod(pods, namespace, "api-6d4f9-a1", "api", "cri")
    truncated = Pod(pods, namespace, "web-7c5b8-b2", "web", "docker")
    other = Pod(pods, f"{tenant_prefix}-other", "dns-1", "dns", "cri")  # nobody's: unclaimed
    rotated.write(lines("api", 0, 200) + long_lines("api"))
    rotated.write(lines("api-err", 0, 50), stream="stderr")
    truncated.write(lines("web", 0, 200) + long_lines("web"))
    other.write(lines(f"{tenant_prefix}-dns", 0, 10))

    agent = agent_for(collector, tenant, namespace, tmp_path, forwarder_password).start()
    workers = start_workers(endpoints, tenant, tmp_path)
    try:
        # Rotation by rename, as the kubelet does, at once after more lines: the rest of the
        # renamed file is read, and the new one from its head.
        rotated.write(lines("api", 200, 100))
        rotated.file.rename(rotated.file.with_name("0.log.20261206-120000"))
        rotated.write(lines("api", 300, 100))
        # copytruncate, as logrotate does, once what was written is read: the file starts
        # again at 0, and its new lines are read from there, none of the old again.
        wait_for(
            "the web pod's lines indexed",
            lambda: sum(str(d["message"]).startswith("web") for d in documents(endpoints, tenant)),
            lambda n: n == len(truncated.written),
            90,
            agent.assert_running,
        )
        shutil.copy(truncated.file, truncated.file.with_name("0.log.1"))
        with truncated.file.open("r+b") as out:
            out.truncate(0)
        truncated.write(lines("web", 200, 100))

        wait_indexed(endpoints, tenant, len(rotated.written) + len(truncated.written), agent)
    finally:
        agent.stop()
        for worker in workers:
            worker.stop()
    found = documents(endpoints, tenant)
    assert_each_line_once(found, [rotated, truncated], namespace)
    assert Counter(str(doc["stream"]) for doc in found)["stderr"] == 50
    unclaimed = read_topic(endpoints.kafka, "_logway.unclaimed", 10)
    mine = f"{tenant_prefix}-dns line".encode()
    assert sum(mine in value for _key, value in unclaimed) == 10


def test_a_killed_agent_cut_off_from_kafka_loses_nothing_and_its_resends_are_indexed_once(
    endpoints: Endpoints,
    tenant_prefix: str,
    tmp_path: Path,
    collector: Path,
    forwarder_password: str,  # noqa: F811 (the fixture)
) -> None:
    """Kafka away: the agent reads its files into its queue on disk. A pod is deleted (its
    files with it) before anything was sent; the agent is killed with -9; more lines are
    written while it is down. Restarted with Kafka back, it is killed again as its first
    records land, mid-send, and restarted. Every line is indexed once: the agent's resends
    (counted) carry the same ids.

    The two pods' files are of the two formats, Docker's and CRI's: one `container` operator
    for both lost a line in about five runs to a data race between the file readers
    (`topology.otel_collector._container_parsers`); a missing line is traced to its stage."""
    tenant, namespace = f"{tenant_prefix}-kill", f"{tenant_prefix}-kill-ns"
    extra = f"sources:\n  namespaces: [{namespace}]\n" + PIPELINE
    apply_tenant(endpoints, tmp_path, tenant, partitions=2, extra=extra)
    pods = tmp_path / "pods"
    steady = Pod(pods, namespace, "api-6d4f9-k1", "api", "cri")
    deleted = Pod(pods, namespace, "batch-5f7d6-k2", "job", "docker")
    steady.write(lines("api", 0, 5_000))
    deleted.write(lines("batch", 0, 5_000) + long_lines("batch"))
    closed = f"127.0.0.1:{free_port()}"  # no broker there

    away = agent_for(
        collector, tenant, namespace, tmp_path, forwarder_password, brokers=closed
    ).start()
    wait_until_read(tmp_path / "agent-state", away)
    shutil.rmtree(deleted.file.parent.parent)  # the pod is gone, nothing of it sent
    away.stop(signal.SIGKILL)
    steady.write(lines("api", 5_000, 1_000))  # while the agent is down

    workers = start_workers(endpoints, tenant, tmp_path)
    consumer = Consumer(endpoints.kafka.client({"group.id": f"{tenant}-watch"}))
    agent = agent_for(collector, tenant, namespace, tmp_path, forwarder_password)
    agent.log_path = tmp_path / "agent-2.log"
    try:
        agent.start()
        landed = 0
        deadline = time.monotonic() + 60
        while landed == 0 and time.monotonic() < deadline:
            agent.assert_running()
            landed = written_to(consumer, raw_topic(tenant))
            time.sleep(0.01)
        agent.stop(signal.SIGKILL)  # mid-send
        steady.write(lines("api", 6_000, 1_000))
        agent.log_path = tmp_path / "agent-3.log"
        agent.start()
        sent = len(steady.written) + len(deleted.written)
        try:
            wait_indexed(endpoints, tenant, sent, agent)
        finally:
            found = documents(endpoints, tenant)
            try:  # a diagnostic: never in place of the assertion below
                print(trace_missing(endpoints, tenant, found, [steady, deleted]))
            except Exception as exc:
                print(f"could not trace the missing lines: {exc!r}")
            assert_each_line_once(found, [steady, deleted], namespace)
        records = written_to(consumer, raw_topic(tenant))
    finally:
        consumer.close()
        agent.stop()
        for worker in workers:
            worker.stop()
    print(
        f"killed at {landed} records in Kafka; {records} records for {sent} lines: "
        f"{records - sent} sent twice, 0 indexed twice"
    )
