"""The chart's Grafana dashboards against a real Prometheus (built from the Go module proxy, as
promtool is) scraping the real workers while lines flow: every panel's query returns series.

Prometheus loads logway's rules file, so the dashboards' recording rules are the alerts' own."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    accepts,
    apply_tenant,
    free_port,
    processor,
    sink,
    wait_for,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
DASHBOARDS = ROOT / "helm" / "logway" / "files" / "dashboards"


def prometheus_binary() -> Path:
    found = ROOT / ".logway" / "tools" / "prometheus"
    assert found.exists(), "prometheus is missing: `make tools` builds it (make test does)"
    return found


def panel_queries(dashboard: dict[str, Any], tenant: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, the tenant variable filled in."""
    return [
        (panel["title"], target["expr"].replace("$tenant", tenant))
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def query(port: int, promql: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_every_dashboard_panel_shows_series_from_the_running_workers(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-dash"
    # Over its limit (throttled), with a budget (storage against it), some lines broken.
    apply_tenant(
        endpoints, tmp_path, tenant, partitions=1,
        extra="limits: {records_per_s: 20}\nstorage: {max_bytes: 100000000}\n",
    )  # fmt: skip
    ports = {"processor": free_port(), "sink": free_port(), "retention": free_port()}
    workers: list[PipelineProcess] = [
        processor(endpoints, tenant, f"{tenant}-proc", tmp_path, metrics_port=ports["processor"]),
        sink(endpoints, tenant, f"{tenant}-sink", tmp_path, metrics_port=ports["sink"]),
        PipelineProcess(
            endpoints,
            ["retention", "--tenants-matching", tenant, "--interval-s", "2"],
            tmp_path / "retention.log",
            metrics_port=ports["retention"],
        ),
    ]
    config = tmp_path / "prometheus.yml"
    scrapes = [
        {"job_name": f"logway-{kind}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for kind, port in ports.items()
    ]
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ROOT / "prometheus" / "rules.yaml")],
                "scrape_configs": scrapes,
            }
        )
    )
    web = free_port()
    server = subprocess.Popen(
        [str(prometheus_binary()), f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    stop = threading.Event()

    def write() -> None:
        producer = Producer(endpoints.kafka.client({"acks": "all"}))
        n = 0
        while not stop.is_set():
            for _ in range(20):
                n += 1
                producer.produce(
                    raw_topic(tenant), b"{cut" if n % 5 == 0 else orjson.dumps({"n": n})
                )
            producer.flush(10)
            stop.wait(0.5)

    writer = threading.Thread(target=write, daemon=True)
    for worker in workers:
        worker.start()
    writer.start()
    missing: list[str] = []
    try:
        wait_for("prometheus", lambda: accepts(web), bool, 60)
        everything = [
            (name, title, promql)
            for path in sorted(DASHBOARDS.glob("*.json"))
            for name in [path.name]
            for title, promql in panel_queries(json.loads(path.read_text()), tenant)
        ]
        assert len(everything) >= 15
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            missing = [
                f"{name} / {title}: {promql}"
                for name, title, promql in everything
                if not query(web, promql)
            ]
            if not missing:
                break
            for worker in workers:
                worker.assert_running()
            time.sleep(2)
    finally:
        stop.set()
        writer.join(10)
        for worker in workers:
            worker.stop()
        server.terminate()
        server.wait(30)
    assert missing == [], "panels that show nothing:\n" + "\n".join(missing)
