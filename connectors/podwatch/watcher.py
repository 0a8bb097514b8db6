"""Watch every pod once for the whole cluster and publish what the processor needs of each to
the compacted topic `_logway.pods` (key `<namespace>/<pod>`, a tombstone when it is deleted).

One watcher spares the API server a watch per node (what a per-node metadata filter costs).
A pod's record is published only when what is kept of it changes (labels, chosen annotations,
node), not on every status update. On start, and when its watch expires (410 Gone), the
watcher lists all pods again and tombstones those it published that are gone, so the topic
converges to the cluster's pods whatever it missed while it was down.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from connectors.podwatch.config import PodWatchConfig
from connectors.runtime.commit import Deliveries
from connectors.runtime.kube import api_client
from logway.core.control import ControlReader
from logway.core.kubernetes import PODS_TOPIC, PodRecord, pod_key
from logway.core.loops import BACKOFF_MAX_S, Loop, run_supervised
from logway.core.metrics import POD_RECORDS

log = logging.getLogger("logway.podwatch")
WATCH_GRACE_S = 30.0  # how long past `resync_s` the client waits for a watch to end


def kept_annotations(annotations: dict[str, str] | None, keep: list[str]) -> dict[str, str]:
    """The annotations named by `keep`: exact keys, or prefixes ending in `/`."""
    return {
        key: value
        for key, value in (annotations or {}).items()
        if key in keep or any(p.endswith("/") and key.startswith(p) for p in keep)
    }


def pod_record(pod: Any, keep: list[str]) -> PodRecord:
    meta = pod.metadata
    return PodRecord(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        node=pod.spec.node_name if pod.spec else None,
        labels=dict(meta.labels or {}),
        annotations=kept_annotations(meta.annotations, keep),
    )


class PodWatcher:
    """Lists, then watches, every pod; publishes what changed."""

    def __init__(self, settings: PodWatchConfig, api: client.CoreV1Api | None = None) -> None:
        self.settings = settings
        self.api = api or client.CoreV1Api(api_client(settings.kubeconfig))
        self.deliveries = Deliveries(Producer(settings.kafka.producer()), "pod record(s)")
        self.published: dict[bytes, bytes] = {}  # key -> the value last published

    def run(self, loop: Loop) -> None:
        """Read the topic, list, then watch for ever (run under `run_supervised`: an API
        server or broker away starts it again from the topic, after a backoff)."""
        self.published = self._read_topic()
        log.info("%s holds %d pod(s); listing the cluster's", PODS_TOPIC, len(self.published))
        version = self.relist()
        log.info("published %d pod(s); watching from version %s", len(self.published), version)
        while True:  # until killed: see run_podwatch
            loop.beat()
            try:
                version = self._watch(version, loop)
            except ApiException as exc:
                if exc.status != 410:
                    raise
                log.info("the watch's version expired (410 Gone); listing again")
                version = self.relist()

    def relist(self) -> str:
        """Publish every pod, tombstone those gone; return the list's resource version."""
        listed = self.api.list_pod_for_all_namespaces(watch=False)
        seen = set()
        for pod in listed.items:
            seen.add(self._publish(pod_record(pod, self.settings.annotations)))
        for key in set(self.published) - seen:
            self._tombstone(key)
        self._flush()
        return str(listed.metadata.resource_version if listed.metadata else "")

    def _watch(self, version: str, loop: Loop) -> str:
        """Watch from `version` for up to `resync_s`; return the last version seen. The
        client gives up too (`_request_timeout`) should the server stop answering silently."""
        stream = watch.Watch()
        for event in stream.stream(
            self.api.list_pod_for_all_namespaces,
            resource_version=version,
            timeout_seconds=int(self.settings.resync_s),
            _request_timeout=self.settings.resync_s + WATCH_GRACE_S,
        ):
            loop.beat()
            pod = event["object"]
            if event["type"] == "DELETED":
                self._tombstone(pod_key(pod.metadata.namespace, pod.metadata.name))
            elif event["type"] in ("ADDED", "MODIFIED"):
                self._publish(pod_record(pod, self.settings.annotations))
            self._flush()
            version = str(pod.metadata.resource_version or version)
        return version

    def _publish(self, record: PodRecord) -> bytes:
        key = pod_key(record.namespace, record.name)
        value = record.model_dump_json().encode()
        if self.published.get(key) != value:
            self.deliveries.produce(PODS_TOPIC, value, key)
            self.published[key] = value
            POD_RECORDS.labels(outcome="changed").inc()
        return key

    def _tombstone(self, key: bytes) -> None:
        if self.published.pop(key, None) is not None:
            self.deliveries.produce(PODS_TOPIC, None, key)
            POD_RECORDS.labels(outcome="deleted").inc()

    def _flush(self) -> None:
        self.deliveries.settle()

    def _read_topic(self) -> dict[bytes, bytes]:
        """What `_logway.pods` holds now: the watcher's memory across restarts."""
        reader = ControlReader(self.settings.kafka, "logway-podwatch", PODS_TOPIC)
        held: dict[bytes, bytes] = {}
        try:
            if not reader.start():  # a first install: the first `apply` makes it
                message = f"{PODS_TOPIC} does not exist yet; the first `logway apply` makes it"
                raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, message))
            while not reader.caught_up:
                found = reader.poll(0.5)
                if found is None:
                    continue
                key, value = found
                if value is None:
                    held.pop(key.encode(), None)
                else:
                    held[key.encode()] = value
        finally:
            reader.close()
        return held


def run_podwatch(settings: PodWatchConfig) -> None:
    """Run the pod watcher until it is killed. Everything it knows is in `_logway.pods`,
    flushed after each change, so a kill at any moment loses nothing: the next start reads
    the topic, lists the pods again and publishes the difference."""
    watcher = PodWatcher(settings)
    # Until killed (SIGTERM's default): a watch without events lasts `resync_s`.
    silence = settings.resync_s + WATCH_GRACE_S + BACKOFF_MAX_S
    run_supervised("podwatch", watcher.run, threading.Event(), max_silence_s=silence)
