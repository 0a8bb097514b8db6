"""Kubernetes metadata on every line the node forwarder read, through the real servers: a real
kube-apiserver (with etcd) holds the pods, the pod watcher publishes them to `_logway.pods`,
the processor joins them onto the lines of their containers, and Elasticsearch indexes labels
whose keys conflict under dynamic mapping (`app` next to `app.kubernetes.io/name`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from elasticsearch import BadRequestError
from kubernetes import client, config

from logway.core.kubernetes import PODS_TOPIC, PodRecord, pod_key
from logway.core.names import dlq_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev.kube import KubeApiServer
from logway.dev.servers import DevConfig
from tests.integration.support import (
    PipelineProcess,
    logway,
    processor,
    read_topic,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration

LABELS = {
    "app": "web",  # a keyword under dynamic mapping...
    "app.kubernetes.io/name": "web",  # ...and then an object: the classic rejected document
    "app.kubernetes.io/part-of": "shop",
    "pod-template-hash": "7d9f8",
}
ANNOTATIONS = {"prometheus.io/scrape": "true", "team.example.com/secret-note": "not for logs"}
CONTAINER_ID = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def core() -> client.CoreV1Api:
    kube = KubeApiServer(DevConfig.from_env())
    api = config.new_client_from_config(config_file=str(kube.kubeconfig))
    return client.CoreV1Api(api)


def create_pod(core: client.CoreV1Api, namespace: str, name: str) -> Any:
    core.create_namespace({"metadata": {"name": namespace}})
    return core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": LABELS, "annotations": ANNOTATIONS},
            "spec": {"nodeName": "node-3", "containers": [{"name": "app", "image": "web:1"}]},
        },
    )


def published(endpoints: Endpoints, namespace: str, pod: str) -> PodRecord | None:
    """The pod's latest record in `_logway.pods` (None if none, or a tombstone last)."""
    latest: PodRecord | None = None
    for key, value in read_topic(endpoints.kafka, PODS_TOPIC, timeout=10):
        if key == pod_key(namespace, pod):
            latest = PodRecord.model_validate_json(value) if value else None
    return latest


def podwatch(endpoints: Endpoints, folder: Path) -> PipelineProcess:
    kube = KubeApiServer(DevConfig.from_env())
    args = ["podwatch", "--kubeconfig", str(kube.kubeconfig), "--annotations", "prometheus.io/"]
    return PipelineProcess(endpoints, args, folder / "podwatch.log")


def log_path(pod: str, namespace: str) -> bytes:
    return f"/var/log/containers/{pod}_{namespace}_app-{CONTAINER_ID}.log".encode()


def test_lines_of_a_claimed_namespace_carry_their_pods_metadata_and_labels_never_conflict(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, core: client.CoreV1Api
) -> None:
    tenant = f"{tenant_prefix}-k8s"
    shop, other = f"{tenant_prefix}-shop", f"{tenant_prefix}-other"
    pod_name = f"web-{uuid.uuid4().hex[:6]}"
    pod = create_pod(core, shop, pod_name)
    create_pod(core, other, pod_name)  # the same pod name in a namespace the tenant lacks
    extra = f"sources:\n  namespaces: [{shop}]\npipeline:\n  - {{step: parse, format: cri}}\n"
    (tmp_path / "t.yaml").write_text(tenant_yaml(tenant, extra=extra))
    logway(endpoints, "apply", str(tmp_path))

    watching = podwatch(endpoints, tmp_path).start()
    processing = processor(endpoints, tenant, f"{tenant}-proc", tmp_path).start()
    indexing = sink(endpoints, tenant, f"{tenant}-sink", tmp_path).start()
    es = endpoints.es.client()
    try:
        record = wait_for(
            "the pod watcher's record of the pod",
            lambda: published(endpoints, shop, pod_name),
            lambda found: found is not None,
            60,
            watching.assert_running,
        )
        assert record is not None
        assert record.uid == pod.metadata.uid
        assert record.labels == LABELS
        assert record.annotations == {"prometheus.io/scrape": "true"}  # only those asked for

        producer = Producer(endpoints.kafka.client({"acks": "all"}))
        line = "2026-11-30T10:00:00.000000001Z stdout F GET /cart 200"
        producer.produce(raw_topic(tenant), line.encode(), log_path(pod_name, shop))
        # A line naming a pod of a namespace the tenant does not claim gets no metadata.
        forged = "2026-11-30T10:00:00.000000002Z stdout F forged"
        producer.produce(raw_topic(tenant), forged.encode(), log_path(pod_name, other))
        assert producer.flush(30) == 0
        docs = wait_for(
            "both lines indexed",
            lambda: [d["_source"] for d in tenant_documents(es, tenant)],
            lambda found: len(found) == 2,
            90,
            lambda: (processing.assert_running(), indexing.assert_running()),
        )
        by_message = {d["message"]: d for d in docs}
        enriched = by_message["GET /cart 200"]
        assert enriched["kubernetes"] == {
            "namespace": shop,
            "pod": {"name": pod_name, "uid": pod.metadata.uid},
            "container": {"name": "app"},
            "node": {"name": "node-3"},
            "labels": LABELS,
            "annotations": {"prometheus.io/scrape": "true"},
        }
        assert enriched["container"] == {"id": CONTAINER_ID}
        assert enriched["data_stream"] == {
            "type": "logs",
            "dataset": tenant,
            "namespace": "default",
        }
        assert "kubernetes" not in by_message["forged"]
        assert read_topic(endpoints.kafka, dlq_topic(tenant), timeout=5) == []
        hits = es.search(
            index=f"logs-{tenant}.*",
            query={"term": {"kubernetes.labels.app.kubernetes.io/name": "web"}},
        )["hits"]["hits"]
        assert len(hits) == 1  # a dotted label key is searchable as itself

        # A label changed on the live pod reaches the next lines.
        core.patch_namespaced_pod(pod_name, shop, {"metadata": {"labels": {"app": "web-v2"}}})
        wait_for(
            "the changed label published",
            lambda: published(endpoints, shop, pod_name),
            lambda found: found is not None and found.labels["app"] == "web-v2",
            60,
            watching.assert_running,
        )
        later = "2026-11-30T10:00:01.000000001Z stdout F GET /cart 201"
        producer.produce(raw_topic(tenant), later.encode(), log_path(pod_name, shop))
        assert producer.flush(30) == 0
        docs = wait_for(
            "the later line indexed with the new label",
            lambda: [d["_source"] for d in tenant_documents(es, tenant)],
            lambda found: any(
                d["message"] == "GET /cart 201" and d["kubernetes"]["labels"]["app"] == "web-v2"
                for d in found
            ),
            60,
            lambda: (processing.assert_running(), indexing.assert_running()),
        )

        # A deleted pod's record is tombstoned.
        core.delete_namespaced_pod(pod_name, shop, grace_period_seconds=0)
        wait_for(
            "the deleted pod's tombstone",
            lambda: [
                v
                for k, v in read_topic(endpoints.kafka, PODS_TOPIC, timeout=10)
                if k == pod_key(shop, pod_name)
            ][-1:],
            lambda last: last == [b""],
            60,
            watching.assert_running,
        )
    finally:
        for process in (watching, processing, indexing):
            process.stop()
        for namespace in (shop, other):
            core.delete_namespace(namespace)

    # The same labels under dynamic mapping, in an index without logway's template: rejected.
    plain = f"{tenant_prefix}-plain-labels"
    with pytest.raises(BadRequestError, match="can't merge a non object mapping"):
        es.index(index=plain, document={"kubernetes": {"labels": dict(LABELS)}}, refresh=True)
    es.options(ignore_status=404).indices.delete(index=plain)
