"""What every benchmark program shares: tenants to measure with, `logway` run as a command,
CPU and memory of a process, room for many tenants' shards, and writing a result where the
README's tables come from."""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints
from logway.dev.config import DevConfig
from logway.dev.leftovers import sweep
from logway.dev.servers import servers

RESULTS = Path(__file__).parent / "results"
UNLIMITED = 1_000_000  # the highest limits.records_per_s


def bench_tenants(endpoints: Endpoints, extras: dict[str, str], partitions: int = 3) -> Path:
    """Apply one tenant per `extras` item (name -> extra YAML); returns their work folder.
    A tenant whose extra YAML sets no `limits` gets the highest `records_per_s`: benchmarks
    measure what the pipeline can do, not the default limit. The tenants are swept, with
    everything named after them, when the program ends (after its workers stop: `atexit` runs
    the last registered first)."""
    work = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    for name, extra in extras.items():
        limits = "" if "limits:" in extra else f"limits: {{records_per_s: {UNLIMITED}}}\n"
        (work / f"{name}.yaml").write_text(
            f'name: {name}\nowners: {{team: bench, slack_channel: "#bench", '
            f"webhook_secret: BENCH_HOOK}}\ntopics: {{partitions: {partitions}}}\n"
            f"{extra}{limits}"
        )
    names = set(extras)
    atexit.register(sweep, endpoints, names.__contains__)
    subprocess.run(
        [sys.executable, "-m", "logway", "apply", str(work), "--credentials-dir", str(work)],
        env={**os.environ, **logway_env(endpoints)},
        check=True,
        capture_output=True,
    )
    return work


def logway_env(endpoints: Endpoints) -> dict[str, str]:
    return endpoints.environment()


def run_id() -> str:
    return uuid.uuid4().hex[:6]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """The whole machine's busy and idle CPU seconds so far, over all cores (/proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, idle / hz


def server_pids() -> dict[str, int]:
    """The running dev servers' pids by name (`kafka`, `kafka-2`, ..., `elasticsearch`)."""
    found = {}
    for server in servers(DevConfig.from_env(), kubernetes=False):
        pid = server.pid()
        if pid is not None:
            found[server.name] = pid
    return found


class CpuMeter:
    """Where a timed window's CPU went: each named process (the workers, the dev servers, this
    program as the load), and how busy the whole machine was. On a machine whose cores the
    servers share, this says what a component costs the others."""

    def __init__(self, workers: dict[str, int]) -> None:
        self.pids = {**workers, **server_pids(), "load": os.getpid()}
        self.started = time.perf_counter()
        self.cpu0 = self._now()
        self.machine0 = machine_cpu_seconds()

    def _now(self) -> dict[str, float]:
        # Elasticsearch's pid is its launcher; the server is the launcher's child.
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        spent = {}
        for name, pid in self.pids.items():
            tree, total = [pid], 0.0
            while tree:
                here = tree.pop()
                try:
                    total += cpu_seconds(here)
                except OSError:
                    continue
                if here != os.getpid():  # the load's own threads only, not its workers
                    tree.extend(children.get(here, []))
            spent[name] = total
        return spent

    def seconds(self) -> dict[str, float]:
        """CPU seconds each process (with its children) used since the meter started."""
        now = self._now()
        return {name: now[name] - self.cpu0[name] for name in self.pids}

    def report(self, units: int) -> dict[str, Any]:
        """CPU seconds per 1,000 `units` of each process and of them all, and the machine's
        busy share (1.0: every core busy) over the window."""
        spent = self.seconds()
        (busy, idle), (busy0, idle0) = machine_cpu_seconds(), self.machine0
        busy, idle = busy - busy0, idle - idle0
        return {
            "cpu_s_per_1000": {name: s / units * 1000 for name, s in spent.items()},
            "all_cpu_s_per_1000": sum(spent.values()) / units * 1000,
            "machine_busy": busy / (busy + idle) if busy + idle else 0.0,
            "window_s": time.perf_counter() - self.started,
        }


PIPELINE_PARTS = ("elasticsearch", "kafka", "processor", "sink", "load")
ALONE_PARTS = ("elasticsearch", "load")


def cpu_text(cpu: dict[str, float], names: tuple[str, ...]) -> str:
    """`CpuMeter.report`'s seconds per 1,000 of these processes, as `a / b / c`."""
    return " / ".join(f"{cpu.get(name, float('nan')):.3f}" for name in names)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def total(port: int, name: str, **labels: str) -> float:
    """The sum over labels not given of a worker's metric sample `name` with `labels`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_result(prefix: str, figures: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Stamp `figures` with the date and commit and write bench/results/<prefix><date>-<commit>."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit, **figures}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{prefix}{result['date'][:10]}-{commit}.json"
    again = 1
    while out.exists():  # a run of the same commit the same day is kept beside the first
        again += 1
        out = RESULTS / f"{prefix}{result['date'][:10]}-{commit}-{again}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result, out


def kafka_perf(
    kafka: KafkaConnection, count: int, size: int, consume: bool = True
) -> dict[str, float]:
    """Kafka's own ProducerPerformance (acks=all, lz4) and, with `consume`, ConsumerPerformance:
    `count` records of `size` bytes through a scratch topic of 3 partitions, deleted after."""
    import re

    from confluent_kafka.admin import AdminClient, NewTopic

    from logway.dev.servers import DevConfig, Kafka, require_java

    admin = AdminClient(kafka.client())
    topic = f"_logway.bench.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    java = [
        require_java(17, "LOGWAY_KAFKA_JAVA_HOME", "Kafka's perf tools need Java 17"),
        "-Xmx512m",
        "-cp",
        str(Kafka(DevConfig.from_env()).dist / "libs" / "*"),
    ]

    def tool(*args: str) -> str:
        return subprocess.run(
            [*java, *args], capture_output=True, text=True, check=True, timeout=600
        ).stdout

    try:
        produced = tool(
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={kafka.bootstrap}",
            "acks=all",
            "linger.ms=5",
            "compression.type=lz4",
        )
        consumed = (
            tool(
                "org.apache.kafka.tools.ConsumerPerformance",
                "--bootstrap-server",
                kafka.bootstrap,
                "--topic",
                topic,
                "--messages",
                str(count),
                "--timeout",
                "60000",
            )
            if consume
            else ""
        )
    finally:
        admin.delete_topics([topic])
    last = [line for line in produced.splitlines() if "records sent" in line][-1]
    rate = re.search(r"([\d.]+) records/sec", last)
    figures = {"produce_records_per_s": float(rate.group(1)) if rate else float("nan")}
    if consumed:
        figures["consume_records_per_s"] = float(consumed.strip().splitlines()[-1].split(",")[5])
    return figures


@contextmanager
def shard_room(endpoints: Endpoints, tenants: int) -> Iterator[int]:
    """Room for every tenant's first index: Elasticsearch opens at most
    `cluster.max_shards_per_node` (1,000 by default) shards per data node, and the dev runner
    has one node, so 1,000 tenants with a daily index each cannot all be served. Raised for the
    run when below what `tenants` need (then put back); yields the limit in force."""
    es = endpoints.es.client()
    settings = es.cluster.get_settings(include_defaults=True, flat_settings=True)
    key = "cluster.max_shards_per_node"
    limit = int(
        settings["persistent"].get(key)
        or settings["transient"].get(key)
        or settings["defaults"][key]
    )
    needed = int(es.cluster.health()["active_shards"]) + tenants + 100
    if limit >= needed:
        yield limit
        return
    es.cluster.put_settings(persistent={key: needed})
    try:
        yield needed
    finally:
        es.cluster.put_settings(persistent={key: settings["persistent"].get(key)})


def logway(endpoints: Endpoints, *args: str) -> float:
    """Run `logway <args>` against `endpoints`, failing on a non-zero exit; its seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "logway", *args],
        env={**os.environ, **logway_env(endpoints)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started
