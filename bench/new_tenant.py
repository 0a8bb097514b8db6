"""How soon a new tenant's first line is searchable after `apply` returns, with the workers
already running (no restart).

    python -m bench.new_tenant [--tenants 3]

1. applies one tenant `bench-nt-<id>-0`, starts a processor and a sink serving
   `bench-nt-<id>-.*`, and waits until a line of it is searchable (the workers are warm);
2. for each new tenant: `logway apply` of its file; the moment it returns, one line is written
   to its raw topic; then Elasticsearch is asked every 50 ms until the line is found;
3. prints the seconds from `apply` returning to the line being searchable, and how long each
   `apply` took, and writes them to `bench/results/new-tenant-<date>-<commit>.json`.

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

from bench.common import logway_env, run_id, write_result
from logway.core.names import raw_topic
from logway.core.settings import Endpoints

TENANT = 'name: {name}\nowners: {{team: bench, slack_channel: "#bench", webhook_secret: B_HOOK}}\n'


def apply(endpoints: Endpoints, folder: Path, name: str) -> float:
    (folder / f"{name}.yaml").write_text(TENANT.format(name=name))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "logway", "apply", str(folder / f"{name}.yaml")],
        env={**os.environ, **logway_env(endpoints)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


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
    parser.add_argument("--tenants", type=int, default=3)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    prefix = f"bench-nt-{run_id()}"
    folder = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    es = endpoints.es.client()
    producer = Producer(endpoints.kafka.client({"acks": "all"}))

    def send(name: str, marker: str) -> None:
        producer.produce(raw_topic(name), f'{{"marker": "{marker}"}}'.encode())
        producer.flush(10)

    apply(endpoints, folder, f"{prefix}-0")
    matching = f"{prefix}-.*"
    processes = [
        worker(endpoints, folder, "processor", "--tenants-matching", matching, "--app-id",
               f"{prefix}-proc", "--data-dir", str(folder / "faust")),
        worker(endpoints, folder, "sink", "--tenants-matching", matching, "--group-id",
               f"{prefix}-sink"),
    ]  # fmt: skip
    rows = []
    try:
        send(f"{prefix}-0", "warm")
        print("warming up: the first tenant's line ...", flush=True)
        searchable(es, f"{prefix}-0", "warm", 180)
        for index in range(1, args.tenants + 1):
            name = f"{prefix}-{index}"
            applied_s = apply(endpoints, folder, name)
            send(name, f"first-{index}")
            seconds = searchable(es, name, f"first-{index}", 120)
            rows.append({"tenant": name, "apply_s": applied_s, "searchable_after_apply_s": seconds})
            print(f"{name}: apply {applied_s:.1f} s, then searchable after {seconds:.2f} s")
    finally:
        for process in processes:
            process.terminate()
            process.wait(60)
    worst = max(row["searchable_after_apply_s"] for row in rows)
    _result, out = write_result("new-tenant-", {"tenants": rows, "worst_s": worst})
    print(f"worst: {worst:.2f} s from apply returning to the first line searchable -> {out}")


if __name__ == "__main__":
    main()
