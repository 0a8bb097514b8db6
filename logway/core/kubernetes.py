"""Kubernetes metadata: what a container log file's path says, and the pod records the pod
watcher publishes to `_logway.pods` (compacted, keyed `<namespace>/<pod>`).

The node forwarder keys each record by the file it read, `/var/log/containers/<pod>_
<namespace>_<container>-<container id>.log` (the kubelet's names; none of the parts can hold
`_`), so the path gives namespace, pod, container and container id without asking anyone. The
OpenTelemetry Collector agent reads the files those names link to, `/var/log/pods/<namespace>_
<pod>_<pod uid>/<container>/<restart count>.log` (and, once the kubelet rotated it,
`.log.<yyyymmdd-hhmmss>`), which give the pod's uid instead of the container's id. The pod's
uid, node, labels and chosen annotations come from one watcher of the API server
(`connectors.podwatch`) instead of a watch per node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

PODS_TOPIC = "_logway.pods"
# Compacted; a deleted pod's tombstone is kept a day, so a reader that was away sees it.
PODS_TOPIC_CONFIG = {"cleanup.policy": "compact", "delete.retention.ms": str(86_400_000)}
NAMESPACE = r"(?P<namespace>[a-z0-9][a-z0-9-]{0,62})"
POD = r"(?P<pod>[a-z0-9][a-z0-9.-]{0,252})"
CONTAINER = r"(?P<container>[a-z0-9][a-z0-9-]{0,62})"
LOG_PATH = re.compile(
    rf"^/var/log/containers/{POD}_{NAMESPACE}_{CONTAINER}-(?P<id>[a-f0-9]{{64}})\.log$"
)
# Under any folder (the agent's mount of /var/log/pods): the kubelet's own layout.
POD_LOG_PATH = re.compile(
    rf"^/(?:[^/]+/)*{NAMESPACE}_{POD}_(?P<uid>[a-f0-9-]{{1,64}})/{CONTAINER}/\d{{1,9}}\.log"
    r"(?P<rotated>\.\d{8}-\d{6})?$"
)


@dataclass(frozen=True, slots=True)
class LogPath:
    """A container log file's path, read."""

    namespace: str
    pod: str
    container: str
    container_id: str | None = None  # in /var/log/containers/ names
    pod_uid: str | None = None  # in /var/log/pods/ names


def read_log_path(path: bytes | str | None) -> LogPath | None:
    """The parts of a kubelet container log path, or None for anything else."""
    if path is None:
        return None
    text = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
    found = LOG_PATH.match(text)
    if found is not None:
        return LogPath(found["namespace"], found["pod"], found["container"], found["id"])
    found = POD_LOG_PATH.match(text)
    if found is not None:
        return LogPath(found["namespace"], found["pod"], found["container"], None, found["uid"])
    return None


def unrotated(path: str) -> str:
    """A pod log file's name before the kubelet rotated it (`0.log.20261206-233000` -> `0.log`):
    one file, whichever name its line was read under."""
    found = POD_LOG_PATH.match(path)
    if found is None or found["rotated"] is None:
        return path
    return path[: found.start("rotated")]


def pod_key(namespace: str, pod: str) -> bytes:
    return f"{namespace}/{pod}".encode()


class PodRecord(BaseModel):
    """One pod as the watcher saw it last; a tombstone (null value) once it is deleted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    name: str
    uid: str
    node: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Only those the watcher was told to keep."
    )
