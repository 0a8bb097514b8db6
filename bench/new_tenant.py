"""How soon a new tenant's first line is searchable after `apply` returns, with the workers
already running (no restart).

    python -m bench.new_tenant [--tenants 3] [--served 1000]

1. applies one tenant `bench-nt-<id>-0` (and with `--served N`, N more in one `apply`, one
   partition each), starts a processor and a sink serving `bench-nt-<id>-.*`, writes a line
   to each and waits until all are searchable (the workers are warm, every served tenant has
   its index);
2. for each new tenant: `logway apply` of its file; the moment it returns, one line is written
   to its raw topic; then Elasticsearch is asked every 50 ms until the line is found;
3. prints the seconds from `apply` returning to the line being searchable, and how long each
   `apply` took, and writes them to `bench/results/new-tenant-<date>-<commit>.json`;
4. removes every tenant it made, with everything named after them (`logway dev sweep`'s
   `logway.dev.leftovers`).

Needs the dev servers (`logway dev up`) or LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from bench.common import logway, logway_env, run_id, shard_room, write_result
from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from logway.dev.leftovers import sweep

TENANT = 'name: {name}\nowners: {{team: bench, slack_channel: "#bench", webhook_secret: B_HOOK}}\n'
SERVED = TENANT + "topics: {{partitions: 1}}\n"


def serve(endpoints: Endpoints, folder: Path, names: list[str]) -> float:
    """Apply the tenants already served, in one `apply`; its seconds."""
    served = folder / "served"
    served.mkdir()
    for name in names:
        (served / f"{name}.yaml").write_text(SERVED.format(name=name))
    return logway(endpoints, "apply", str(served), "--credentials-dir", str(folder / "credentials"))


def indexed(es: Elasticsearch, pattern: str, count: int, timeout_s: float) -> None:
    """Wait until `count` documents are searchable in the indices matching `pattern`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = es.options(ignore_status=(404, 503)).count(index=pattern)
        if found.get("count", 0) >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"{count} documents not searchable in {pattern} within {timeout_s:.0f} s")


def apply(endpoints: Endpoints, folder: Path, name: str) -> float:
    (folder / f"{name}.yaml").write_text(TENANT.format(name=name))
    return logway(endpoints, "apply", str(folder / f"{name}.yaml"))


def searchable(es: Elasticsearch, name: str, marker: str, timeout_s: float) -> float:
    """Seconds until the line carrying `marker` is found in the tenant's indices."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        # 404: no index yet; 503: an index just made, its shard not yet started.
        found = es.options(ignore_status=(404, 503)).count(
            index=f"logs-{name}.*", query={"match_phrase": {"marker": marker}}
        )
        if found.get("count"):
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"{name}'s line was not searchable within {timeout_s:.0f} s")


def worker(endpoints: Endpoints, folder: Path, *args: str) -> subprocess.Popen[bytes]:
    log = (folder / f"{args[0]}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "logway", "run", *args, "--metrics-port", "0"],
        env={**os.environ, **logway_env(endpoints)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=3, help="new tenants, one at a time")
    parser.add_argument("--served", type=int, default=0, help="tenants served before them")
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    prefix = f"bench-nt-{run_id()}"
    folder = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    es = endpoints.es.client()
    producer = Producer(endpoints.kafka.client({"acks": "all", "log_level": 3}))

    def send(name: str, marker: str) -> None:
        producer.produce(raw_topic(name), f'{{"marker": "{marker}"}}'.encode())
        producer.flush(10)

    rows = []
    served = [f"{prefix}-s{i}" for i in range(args.served)]
    processes: list[subprocess.Popen[bytes]] = []
    with shard_room(endpoints, args.served + args.tenants + 1):
        try:
            serve_s = serve(endpoints, folder, served) if served else 0.0
            apply(endpoints, folder, f"{prefix}-0")
            matching = f"{prefix}-.*"
            processes = [
                worker(endpoints, folder, "processor", "--tenants-matching", matching,
                       "--app-id", f"{prefix}-proc", "--data-dir", str(folder / "faust")),
                worker(endpoints, folder, "sink", "--tenants-matching", matching,
                       "--group-id", f"{prefix}-sink"),
            ]  # fmt: skip
            for name in [*served, f"{prefix}-0"]:
                producer.produce(raw_topic(name), b'{"marker": "warm"}')
            producer.flush(60)
            print(f"warming up: {len(served) + 1} tenant(s)' first lines ...", flush=True)
            indexed(es, f"logs-{prefix}-*", len(served) + 1, 900)
            for index in range(1, args.tenants + 1):
                name = f"{prefix}-{index}"
                applied_s = apply(endpoints, folder, name)
                send(name, f"first-{index}")
                seconds = searchable(es, name, f"first-{index}", 120)
                rows.append(
                    {"tenant": name, "apply_s": applied_s, "searchable_after_apply_s": seconds}
                )
                print(f"{name}: apply {applied_s:.1f} s, then searchable after {seconds:.2f} s")
        finally:
            for process in processes:
                process.terminate()
                process.wait(60)
            print("removing the tenants ...", flush=True)
            sweep(endpoints, lambda name: name.startswith(prefix))
    worst = max(row["searchable_after_apply_s"] for row in rows)
    figures = {"served": args.served, "serve_apply_s": serve_s, "tenants": rows, "worst_s": worst}
    _result, out = write_result("new-tenant-", figures)
    print(f"worst: {worst:.2f} s from apply returning to the first line searchable -> {out}")


if __name__ == "__main__":
    main()
