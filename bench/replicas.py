"""Two of each worker over many tenants: one of each killed under load, nothing lost.

    python -m bench.replicas [--tenants 1000] [--lines 60000] [--kill-at 0.4]

1. `--tenants` new tenants `bench-rp-<run>-<i>` (one partition per topic), applied at once;
2. two processors (one Faust app) and two sinks (one consumer group) start, and one line to
   every tenant is waited for in Elasticsearch;
3. `--lines` lines (about 300 bytes of JSON each) spread evenly over the tenants are written as
   fast as this program can; once `--kill-at` of them are indexed, one processor and one sink
   are killed with SIGKILL (no goodbye to their groups);
4. the partitions each member of each group holds just before the kill (evenly shared, or
   one member idle), and the takeover: from the kill until the survivor of each group holds
   every partition (the group's description has one member, with all of them);
   and, once the ledger below is in, one more tenant applied while the survivors serve all
   the others: the seconds from its `apply` returning to its first line being searchable;
5. the ledger, once Elasticsearch holds as many documents as lines were sent (or 10 minutes
   pass): documents, lines sent, dead letters, and the documents indexed again
   (`index_total` - `docs.count`: records redelivered after the kill, which their `_id` keeps
   single);
6. lines/s end to end, and each worker kind's CPU per line, as lines/s per core: what the
   README's capacity section divides a platform's rate by.

Writes bench/results/replicas-<date>-<commit>.json. Needs the dev servers (`logway dev up`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import ConsumerGroupState, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bench.common import (
    cpu_seconds,
    free_port,
    logway,
    logway_env,
    run_id,
    shard_room,
    total,
    write_result,
)
from bench.new_tenant import apply, searchable
from bench.pipeline import start
from bench.tenants import PADDING, TENANT
from logway.core.names import dlq_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev.leftovers import sweep

LEDGER_WAIT_S = 600


def takeover_s(admin: AdminClient, group: str, partitions: int, since: float) -> float:
    """Seconds from `since` until `group` has one member holding all `partitions`."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        described = admin.describe_consumer_groups([group])[group].result()
        members = described.members
        held = sum(len(m.assignment.topic_partitions) for m in members) if members else 0
        # Faust's app also holds its assignor's leader topic: at least, not exactly
        if (
            len(members) == 1
            and held >= partitions
            and described.state == ConsumerGroupState.STABLE
        ):
            return time.perf_counter() - since
        time.sleep(0.25)
    raise SystemExit(f"group {group}: no single member held all {partitions} partitions in 300 s")


def shares(admin: AdminClient, group: str) -> list[int]:
    """Partitions each member of `group` holds, fewest first."""
    described = admin.describe_consumer_groups([group])[group].result()
    return sorted(len(m.assignment.topic_partitions) for m in described.members)


def documents(endpoints: Endpoints, prefix: str) -> tuple[int, int]:
    """(documents, index operations) in the tenants' indices, primaries only."""
    es = endpoints.es.client(request_timeout=300)  # a refresh of 1,000 indices takes a while
    es.indices.refresh(index=f"logs-{prefix}-*")
    stats = es.indices.stats(index=f"logs-{prefix}-*", metric="docs,indexing")["_all"]
    primaries = stats["primaries"]  # without indices yet: no "docs" in it
    return (
        int(primaries.get("docs", {}).get("count", 0)),
        int(primaries.get("indexing", {}).get("index_total", 0)),
    )


def dead_letters(admin: AdminClient, names: list[str]) -> int:
    last = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    wanted = {TopicPartition(dlq_topic(name), 0): last for name in names}
    answers = admin.list_offsets(wanted)
    return sum(future.result().offset for future in answers.values())


def measure(endpoints: Endpoints, count: int, lines: int, kill_at: float) -> dict[str, Any]:
    prefix = f"bench-rp-{run_id()}"
    names = [f"{prefix}-{i}" for i in range(count)]
    folder = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    (folder / "tenants").mkdir()
    for name in names:
        (folder / "tenants" / f"{name}.yaml").write_text(TENANT.format(name=name))
    print(f"{count} tenants: apply ...", flush=True)
    try:
        apply_s = logway(
            endpoints, "apply", str(folder / "tenants"), "--credentials-dir", str(folder)
        )
        outcome = run(endpoints, prefix, names, folder, lines=lines, kill_at=kill_at)
        return outcome | {"apply_s": apply_s}
    finally:
        print(f"{count} tenants: removing them ...", flush=True)
        sweep(endpoints, lambda name: name.startswith(prefix))


@dataclass
class Crew:
    """Two processors (one Faust app) and two sinks (one group), each with its /metrics."""

    app_id: str
    group: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, endpoints: Endpoints, prefix: str, folder: Path) -> Crew:
        crew = cls(f"{prefix}-proc", f"{prefix}-sink")
        env = {**os.environ, **logway_env(endpoints)}
        matching = f"{prefix}-[0-9]+"
        for part in ("processor-a", "processor-b", "sink-a", "sink-b"):
            if part.startswith("processor"):
                args = ["processor", "--tenants-matching", matching, "--app-id", crew.app_id,
                        "--data-dir", str(folder / f"faust-{part}")]  # fmt: skip
            else:
                args = ["sink", "--tenants-matching", matching, "--group-id", crew.group]
            crew.ports[part] = free_port()
            crew.workers[part] = start(args, folder / f"{part}.log", env, crew.ports[part])
        return crew

    def indexed(self) -> float:
        """Records the living sinks have indexed, from their metrics."""
        found = 0.0
        for part in ("sink-a", "sink-b"):
            if self.workers[part].poll() is None:
                with contextlib.suppress(OSError):  # not serving yet
                    found += total(self.ports[part], "logway_records_out_total", outcome="indexed")
        return found

    def cpu(self) -> dict[str, float]:
        return {part: cpu_seconds(worker.pid) for part, worker in self.workers.items()}

    def end(self, part: str, sig: signal.Signals) -> None:
        self.workers[part].send_signal(sig)
        self.workers[part].wait(60)


class Writer:
    """Lines of about 300 bytes of JSON to the tenants' raw topics, as fast as it can."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.producer = Producer(
            endpoints.kafka.client(
                {"linger.ms": 20, "acks": "all", "queue.buffering.max.messages": 1_000_000}
            )
        )

    def send(self, name: str, n: int) -> None:
        value = orjson.dumps({"n": n, "tenant": name, "msg": PADDING})
        while True:
            try:
                self.producer.produce(raw_topic(name), value)
                return
            except BufferError:
                self.producer.poll(0.05)

    def flush(self) -> None:
        if self.producer.flush(120):
            raise SystemExit("lines not acknowledged by Kafka within 120 s")


def run(
    endpoints: Endpoints, prefix: str, names: list[str], folder: Path, *, lines: int, kill_at: float
) -> dict[str, Any]:
    count = len(names)
    crew = Crew.start(endpoints, prefix, folder)
    writer = Writer(endpoints)
    for name in names:
        writer.send(name, -1)
    writer.flush()
    print(f"{count} tenants: two processors and two sinks start ...", flush=True)
    while crew.indexed() < count:
        time.sleep(0.5)

    print(f"{count} tenants: {lines:,} lines, one of each worker killed at {kill_at:.0%} ...")
    before = crew.cpu()
    started = time.perf_counter()
    for n in range(lines):
        writer.send(names[n % count], n)
    writer.flush()
    while crew.indexed() < count + lines * kill_at:
        time.sleep(0.1)
    cpu = {part: now - before[part] for part, now in crew.cpu().items()}
    admin = AdminClient(endpoints.kafka.client())
    held = {"processor": shares(admin, crew.app_id), "sink": shares(admin, crew.group)}
    for part in ("processor-a", "sink-a"):
        crew.end(part, signal.SIGKILL)
    killed = time.perf_counter()
    takeover = {
        "processor": takeover_s(admin, crew.app_id, count, killed),
        "sink": takeover_s(admin, crew.group, count, killed),
    }
    print(f"takeover: processor {takeover['processor']:.1f} s, sink {takeover['sink']:.1f} s")
    sent = count + lines
    deadline = time.monotonic() + LEDGER_WAIT_S
    while (found := documents(endpoints, prefix))[0] < sent and time.monotonic() < deadline:
        time.sleep(5)
    seconds = time.perf_counter() - started
    newcomer = new_tenant(endpoints, folder, f"{prefix}-{count}", writer)
    for part in ("processor-b", "sink-b"):
        cpu[part] = cpu_seconds(crew.workers[part].pid) - before[part]
        crew.end(part, signal.SIGTERM)
    docs, operations = found
    letters = dead_letters(admin, names)
    return {
        "tenants": count,
        "lines": lines,
        "sent": sent,
        "documents": docs,
        "dead_letters": letters,
        "lost": sent - docs - letters,
        "indexed_again": operations - docs,
        "partitions_per_member_before_kill": held,
        "takeover_s": takeover,
        "lines_per_s": lines / seconds,
        "lines_per_s_per_core": {
            kind: lines / (cpu[f"{kind}-a"] + cpu[f"{kind}-b"]) for kind in ("processor", "sink")
        },
        "cpu_s": cpu,
        "new_tenant": newcomer,
    }


def new_tenant(endpoints: Endpoints, folder: Path, name: str, writer: Writer) -> dict[str, float]:
    """One more tenant, while the survivors serve all the others: `logway apply` of its file,
    one line written the moment it returns, and the seconds until that line is searchable."""
    apply_s = apply(endpoints, folder, name)
    marker = f"first-{name}"
    writer.producer.produce(raw_topic(name), orjson.dumps({"marker": marker}))
    writer.flush()
    return {
        "apply_s": apply_s,
        "searchable_after_apply_s": searchable(endpoints.es.client(), name, marker, 120),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=60_000)
    parser.add_argument("--kill-at", type=float, default=0.4)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    with shard_room(endpoints, args.tenants):
        row = measure(endpoints, args.tenants, args.lines, args.kill_at)
    result, out = write_result("replicas-", row)
    print(
        f"two of each over {row['tenants']} tenants ({result['date']}, {result['commit']}): "
        f"{row['sent']:,} sent = {row['documents']:,} indexed + {row['dead_letters']} dead "
        f"letters + {row['lost']} lost; {row['indexed_again']:,} indexed again (same _id); "
        f"partitions per member before the kill: processors "
        f"{row['partitions_per_member_before_kill']['processor']}, sinks "
        f"{row['partitions_per_member_before_kill']['sink']}; "
        f"takeover processor {row['takeover_s']['processor']:.1f} s, sink "
        f"{row['takeover_s']['sink']:.1f} s; {row['lines_per_s']:,.0f} lines/s; per core: "
        f"processor {row['lines_per_s_per_core']['processor']:,.0f}, sink "
        f"{row['lines_per_s_per_core']['sink']:,.0f} lines/s; a new tenant: apply "
        f"{row['new_tenant']['apply_s']:.1f} s, first line searchable "
        f"{row['new_tenant']['searchable_after_apply_s']:.1f} s after"
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
