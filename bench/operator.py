"""The operator's figures, through the dev runner's real kube-apiserver, Kafka and Elasticsearch.

    python -m bench.operator [--resources 300] [--changes 3] [--admissions 40]

1. **A change, end to end.** A LoggingPipeline whose pipeline stamps each record `rev: <n>`,
   served by a running processor and sink, with a line written every 50 ms. Its spec is
   patched to the next `rev` (as `kubectl apply` would); measured from the patch returning:
   status Ready at the new generation, and the first document indexed with the new `rev`.
2. **Admission.** Round trips of `create` with server-side dry run (nothing stored): a valid
   resource (the webhook runs the model, the samples' dry run and the claims), an invalid one
   (refused with 422), and a ConfigMap (no webhook: the API server's own cost).
3. **Many resources.** `--resources` LoggingPipelines created at once, until all are Ready;
   then the operator is restarted and timed until it has reconciled every one again.

Writes bench/results/operator-<date>-<commit>.json. Needs `logway dev up` (all four servers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bench.common import logway_env, run_id, write_result
from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from logway.dev.kube import KubeApiServer, install_crd
from logway.dev.leftovers import sweep
from logway.dev.servers import DevConfig
from topology.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION

OWNERS = {"team": "bench", "slack_channel": "#bench", "webhook_secret": "B_HOOK"}


class Cluster:
    def __init__(self) -> None:
        self.kube = KubeApiServer(DevConfig.from_env())
        api = config.new_client_from_config(config_file=str(self.kube.kubeconfig))
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        install_crd(api)

    def namespace(self, name: str) -> None:
        self.core.create_namespace({"metadata": {"name": name}})

    def create(self, ns: str, name: str, spec: dict[str, Any], dry_run: bool = False) -> None:
        body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, body, dry_run="All" if dry_run else None
        )

    def get(self, ns: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name
        )
        return found

    def ready(self, body: dict[str, Any]) -> bool:
        status = body.get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return bool(
            conditions.get("Ready") == "True"
            and status.get("observedGeneration") == body["metadata"]["generation"]
        )

    def forget(self, ns: str) -> None:
        """Remove the bench's resources without unpublishing (as the integration tests do);
        their tenants' objects are swept after."""
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
        for body in listed["items"]:
            name = body["metadata"]["name"]
            patch = {"metadata": {"finalizers": None}}
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch)
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)


def start(endpoints: Endpoints, folder: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "logway", "run", *args],
        env={**os.environ, **logway_env(endpoints)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def operator(endpoints: Endpoints, folder: Path, kube: KubeApiServer) -> subprocess.Popen[bytes]:
    tls = kube.webhook_tls
    return start(
        endpoints, folder, "operator", "operator",
        "--kubeconfig", str(kube.kubeconfig),
        "--webhook-host", "127.0.0.1", "--webhook-port", "9443",
        "--webhook-cert-file", str(tls / "operator.crt"),
        "--webhook-key-file", str(tls / "operator.key"),
        "--webhook-ca-file", str(tls / "ca.crt"), "--metrics-port", "9647",
    )  # fmt: skip


def reconciled() -> float:
    import urllib.request

    try:
        with urllib.request.urlopen("http://127.0.0.1:9647/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith('logway_operator_reconciles_total{outcome="applied"}'):
            return float(line.split()[-1])
    return 0


def poll(what: str, probe: Any, timeout: float = 300, every: float = 0.05) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if probe():
            return time.perf_counter() - started
        time.sleep(every)
    raise SystemExit(f"{what}: not within {timeout:.0f} s")


def stamped(rev: int) -> dict[str, Any]:
    return {
        "owners": OWNERS,
        "topics": {"partitions": 1},
        "pipeline": [
            {"step": "parse", "format": "json"},
            {"step": "set", "field": "rev", "value": rev},
        ],
    }


def change_end_to_end(
    endpoints: Endpoints, cluster: Cluster, folder: Path, ns: str, changes: int
) -> list[dict[str, float]]:
    name = f"{ns}-e2e"
    cluster.create(ns, name, stamped(0))
    poll("the first version Ready", lambda: cluster.ready(cluster.get(ns, name)), 120)
    workers = [
        start(endpoints, folder, "processor", "processor", "--tenants-matching", name,
              "--app-id", f"{name}-proc", "--data-dir", str(folder / "faust"),
              "--metrics-port", "0"),
        start(endpoints, folder, "sink", "sink", "--tenants-matching", name,
              "--group-id", f"{name}-sink", "--metrics-port", "0"),
    ]  # fmt: skip
    stop = threading.Event()

    def write() -> None:
        producer = Producer(endpoints.kafka.client({"linger.ms": 0}))
        seq = 0
        while not stop.is_set():
            producer.produce(raw_topic(name), f'{{"seq": {seq}}}'.encode())
            producer.poll(0)
            seq += 1
            time.sleep(0.05)
        producer.flush(10)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    es = endpoints.es.client()

    def indexed(rev: int) -> bool:
        found = es.options(ignore_status=(404, 503)).count(
            index=f"logs-{name}.*", query={"term": {"rev": rev}}
        )
        return bool(found.get("count"))

    rows = []
    try:
        print("warming up: the workers take the tenant (about a minute) ...", flush=True)
        poll("rev 0 indexed", lambda: indexed(0), 240, 0.5)
        for rev in range(1, changes + 1):
            cluster.custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, name, {"spec": stamped(rev)}
            )
            started = time.perf_counter()
            ready = poll("Ready", lambda: cluster.ready(cluster.get(ns, name)), 60)
            poll(f"rev {rev} indexed", lambda r=rev: indexed(r), 60)
            first = time.perf_counter() - started
            rows.append({"rev": rev, "ready_s": ready, "first_document_s": first})
            print(f"change {rev}: Ready after {ready:.2f} s, first document after {first:.2f} s")
    finally:
        stop.set()
        writer.join(15)
        for worker in workers:
            worker.terminate()
            worker.wait(60)
    return rows


def admission(cluster: Cluster, ns: str, count: int) -> dict[str, dict[str, float]]:
    def timed(call: Any) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    def refused() -> None:
        bad = {"owners": OWNERS, "routes": [{"index": "a", "when": "x ==="}, {"index": "b"}]}
        try:
            cluster.create(ns, f"{ns}-bad", bad, dry_run=True)
        except ApiException as exc:
            if exc.status != 422:
                raise SystemExit(f"refused with {exc.status}, not 422: {exc.body}") from exc
        else:
            raise SystemExit("an invalid resource was admitted")

    def config_map() -> None:
        cluster.core.create_namespaced_config_map(
            ns, {"metadata": {"name": "bench"}}, dry_run="All"
        )

    samples = {
        "valid_resource": [
            timed(lambda: cluster.create(ns, f"{ns}-ok", stamped(1), dry_run=True))
            for _ in range(count)
        ],
        "invalid_resource": [timed(refused) for _ in range(count)],
        "config_map_no_webhook": [timed(config_map) for _ in range(count)],
    }
    return {
        kind: {
            "p50_ms": statistics.median(values) * 1000,
            "p95_ms": statistics.quantiles(values, n=20)[-1] * 1000,
        }
        for kind, values in samples.items()
    }


def many(cluster: Cluster, ns: str, count: int) -> dict[str, float]:
    started = time.perf_counter()
    for index in range(count):
        cluster.create(ns, f"{ns}-m{index:03d}", {"owners": OWNERS, "topics": {"partitions": 1}})

    def all_ready() -> bool:
        listed = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
        return sum(1 for body in listed["items"] if cluster.ready(body)) >= count

    poll(f"{count} Ready", all_ready, 900, 1)
    return {"resources": count, "created_to_ready_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--admissions", type=int, default=40)
    args = parser.parse_args()
    endpoints = Endpoints.from_env()
    cluster = Cluster()
    ns = f"bench-op-{run_id()}"
    cluster.namespace(ns)
    folder = Path(tempfile.mkdtemp(prefix="logway-bench-"))
    running = operator(endpoints, folder, cluster.kube)
    figures: dict[str, Any] = {}
    try:
        poll("the operator's metrics", _answers, 60, 0.5)
        figures["change"] = change_end_to_end(endpoints, cluster, folder, ns, args.changes)
        figures["admission"] = admission(cluster, ns, args.admissions)
        for kind, row in figures["admission"].items():
            print(f"admission, {kind}: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms")
        figures["many"] = many(cluster, ns, args.resources)
        total = len(cluster.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"])
        running.terminate()
        running.wait(60)
        restarted = time.perf_counter()
        running = operator(endpoints, folder, cluster.kube)
        poll(f"{total} reconciled after a restart", lambda: reconciled() >= total, 600, 0.2)
        figures["many"] |= {
            "resumed": total,
            "restart_to_all_reconciled_s": time.perf_counter() - restarted,
        }
        print(
            f"{args.resources} resources: Ready {figures['many']['created_to_ready_s']:.1f} s "
            f"after their creation; after a restart, {total} reconciled in "
            f"{figures['many']['restart_to_all_reconciled_s']:.1f} s"
        )
    finally:
        running.terminate()
        running.wait(60)
        cluster.forget(ns)
        sweep(endpoints, lambda name: name.startswith(ns))  # their topics, users, indices...
    _result, out = write_result("operator-", figures)
    print(f"-> {out}")


def _answers() -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", 9647)) == 0


if __name__ == "__main__":
    main()
