"""A day of container logs, as a platform receives them, through every real part.

Four tenants, one per runtime (Java and Go on containerd's CRI lines, Python and Node on
Docker's json-file), two pods each with labels whose keys conflict under dynamic mapping. Each
pod writes ordinary lines over a day on stdout and stderr, some of them longer than the
runtimes' 16 KiB pieces, and between them the stack traces the real runtimes wrote
(tests/traces.py). The node forwarder's records (keyed by log path) go to the tenants' raw
topics interleaved; the pods live in a real kube-apiserver, the pod watcher publishes them,
and the processor and the sink do the rest.

What must hold: each trace is one document, byte-identical; every other line is its own
document; every document carries its pod's metadata; nothing is dead-lettered (no mapping
conflict); and the records read = documents + records joined into them.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from kubernetes import client, config

from logway.core.kubernetes import PODS_TOPIC, pod_key
from logway.core.names import dlq_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev.kube import KubeApiServer
from logway.dev.servers import DevConfig
from tests.integration.support import (
    PipelineProcess,
    free_port,
    logway,
    metric,
    processor,
    read_topic,
    scrape,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)
from tests.traces import RUNTIMES, Written, run_runtimes, traces

pytestmark = pytest.mark.integration

FORMAT = {"java": "cri", "go": "cri", "python": "docker", "node": "docker"}
HEAD = {"python": ["ERROR:checkout:charge failed"]}  # logging.exception's line: kept with it
ROUNDS = 6
PIECE = 16_384  # what the runtimes cut lines at
DAY = datetime(2026, 11, 29, tzinfo=UTC)

Record = tuple[bytes, bytes]  # (key, value) as the forwarder produces it


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return run_runtimes(tmp_path_factory.mktemp("runtimes"))


def labels(runtime: str, pod: str) -> dict[str, str]:
    return {
        "app": runtime,
        "app.kubernetes.io/name": f"{runtime}-api",
        "app.kubernetes.io/instance": pod,
        "app.kubernetes.io/version": "1.4.2",
        "team": "shop",
    }


def encode(fmt: str, stream: str, text: str, at: datetime) -> list[bytes]:
    """The records one line becomes as the runtime writes it: pieces of at most 16 KiB."""
    pieces = [text[i : i + PIECE] for i in range(0, len(text), PIECE)] or [""]
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    out = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if fmt == "cri":
            out.append(f"{stamp} {stream} {'F' if last else 'P'} {piece}".encode())
        else:
            log = piece + "\n" if last else piece
            out.append(orjson.dumps({"log": log, "stream": stream, "time": stamp}))
    return out


def pod_streams(
    runtime: str, written: Written, rng: random.Random
) -> dict[str, tuple[list[str], list[str]]]:
    """stream -> (the lines the pod writes, the documents they must give), over a day."""
    stdout, stderr = written[runtime]
    out_lines: list[str] = []
    err_lines: list[str] = []
    err_docs: list[str] = []
    for round_ in range(ROUNDS):
        for n in range(rng.randint(8, 20)):
            out_lines.append(
                f"INFO {runtime} request {round_}-{n} served in {rng.randint(1, 900)}ms"
            )
        long = f"WARN {runtime} slow query plan " + "x" * rng.randint(PIECE, 3 * PIECE)
        ordinary = [f"WARN {runtime} retrying upstream {round_}", long]
        err_lines += ordinary
        err_docs += ordinary
        found = traces(runtime, stderr)
        err_lines += HEAD.get(runtime, []) + stderr
        err_docs += ["\n".join(HEAD.get(runtime, []) * (i == 0) + t) for i, t in enumerate(found)]
    out_lines += stdout
    return {"stdout": (out_lines, list(out_lines)), "stderr": (err_lines, err_docs)}


def interleave(streams: list[list[Record]], rng: random.Random) -> list[Record]:
    """All streams' records in one order, each stream's own order kept."""
    cursors = [0] * len(streams)
    merged = []
    while True:
        open_ = [i for i, s in enumerate(streams) if cursors[i] < len(s)]
        if not open_:
            return merged
        i = rng.choice(open_)
        merged.append(streams[i][cursors[i]])
        cursors[i] += 1


def test_a_day_of_mixed_runtime_logs_is_indexed_whole_with_metadata_and_no_conflict(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, written: Written
) -> None:
    rng = random.Random(20261129)
    kube = KubeApiServer(DevConfig.from_env())
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kube.kubeconfig)))
    expected: dict[tuple[str, str, str], list[str]] = {}  # (tenant, pod, stream) -> documents
    sent: Counter[str] = Counter()
    pods: dict[str, list[str]] = {}
    records: dict[str, list[Record]] = {}
    for runtime in RUNTIMES:
        tenant, namespace = f"{tenant_prefix}-{runtime}", f"{tenant_prefix}-{runtime}-ns"
        pipeline = (
            f"sources:\n  namespaces: [{namespace}]\npipeline:\n"
            f"  - {{step: parse, format: {FORMAT[runtime]}}}\n"
            "  - {step: reassemble}\n"
            f"  - {{step: multiline, preset: {runtime}}}\n"
        )
        (tmp_path / f"{runtime}.yaml").write_text(tenant_yaml(tenant, extra=pipeline))
        core.create_namespace({"metadata": {"name": namespace}})
        streams = []
        for replica in range(2):
            pod = f"{runtime}-api-{uuid.uuid4().hex[:5]}-{replica}"
            pods.setdefault(tenant, []).append(pod)
            core.create_namespaced_pod(
                namespace,
                {
                    "metadata": {"name": pod, "labels": labels(runtime, pod)},
                    "spec": {"containers": [{"name": "app", "image": f"{runtime}:1"}]},
                },
            )
            key = f"/var/log/containers/{pod}_{namespace}_app-{uuid.uuid4().hex * 2}.log".encode()
            for stream, (lines, docs) in pod_streams(runtime, written, rng).items():
                expected[(tenant, pod, stream)] = docs
                at = DAY
                encoded = []
                for line in lines:
                    at += timedelta(seconds=rng.randint(1, 120))
                    encoded += [(key, v) for v in encode(FORMAT[runtime], stream, line, at)]
                sent[tenant] += len(encoded)
                streams.append(encoded)
        records[tenant] = interleave(streams, rng)
    logway(endpoints, "apply", str(tmp_path))

    kubeconfig = str(kube.kubeconfig)
    watching = PipelineProcess(
        endpoints, ["podwatch", "--kubeconfig", kubeconfig], tmp_path / "podwatch.log"
    ).start()
    wait_for(
        "every pod published",
        lambda: {k for k, v in read_topic(endpoints.kafka, PODS_TOPIC, timeout=10) if v},
        lambda keys: all(pod_key(f"{t}-ns", p) in keys for t, ps in pods.items() for p in ps),
        60,
        watching.assert_running,
    )
    producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 20}))
    for tenant, batch in records.items():
        for key, value in batch:
            producer.produce(raw_topic(tenant), value, key)
    assert producer.flush(60) == 0

    port = free_port()
    matching = f"{tenant_prefix}-({'|'.join(RUNTIMES)})"
    processing = processor(
        endpoints, matching, f"{tenant_prefix}-day", tmp_path, metrics_port=port
    ).start()
    indexing = sink(endpoints, matching, f"{tenant_prefix}-day-sink", tmp_path).start()
    es = endpoints.es.client()
    want = {t: sum(len(d) for (tt, _p, _s), d in expected.items() if tt == t) for t in pods}
    try:
        found = wait_for(
            "every document indexed",
            lambda: {t: [h["_source"] for h in tenant_documents(es, t)] for t in pods},
            lambda docs: {t: len(d) for t, d in docs.items()} == want,
            240,
            lambda: (processing.assert_running(), indexing.assert_running()),
        )
        metrics = scrape(port)
    finally:
        for process in (watching, processing, indexing):
            process.stop()

    for tenant, docs in found.items():
        runtime = tenant.rsplit("-", 1)[1]
        got: dict[tuple[str, str], list[str]] = {}
        for doc in docs:
            meta: dict[str, Any] = doc["kubernetes"]
            pod = meta["pod"]["name"]
            assert meta["namespace"] == f"{tenant}-ns"
            assert meta["labels"] == labels(runtime, pod)  # dotted keys, no conflict
            assert doc["container"]["id"]
            got.setdefault((pod, doc["stream"]), []).append(doc["message"])
        for pod in pods[tenant]:
            for stream in ("stdout", "stderr"):
                # Byte-identical, each trace whole, no line lost, doubled or swallowed.
                assert Counter(got[(pod, stream)]) == Counter(expected[(tenant, pod, stream)])
        assert read_topic(endpoints.kafka, dlq_topic(tenant), timeout=5) == []
        joined = metric(
            metrics,
            "logway_records_out_total",
            component="processor",
            tenant=tenant,
            outcome="joined",
        )
        assert len(docs) + joined == sent[tenant]  # every record read: a document, or in one
