"""Kubernetes metadata: what a container log file's path says, and the pod records the pod
watcher publishes to `_logway.pods` (compacted, keyed `<namespace>/<pod>`).

The node forwarder keys each record by the file it read, `/var/log/containers/<pod>_
<namespace>_<container>-<container id>.log` (the kubelet's names; none of the parts can hold
`_`), so the path gives namespace, pod, container and container id without asking anyone. The
pod's uid, node, labels and chosen annotations come from one watcher of the API server
(`connectors.podwatch`) instead of a watch per node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

PODS_TOPIC = "_logway.pods"
# Compacted; a deleted pod's tombstone is kept a day, so a reader that was away sees it.
PODS_TOPIC_CONFIG = {"cleanup.policy": "compact", "delete.retention.ms": str(86_400_000)}
LOG_PATH = re.compile(
    r"^/var/log/containers/(?P<pod>[a-z0-9][a-z0-9.-]{0,252})_(?P<namespace>[a-z0-9][a-z0-9-]{0,62})"
    r"_(?P<container>[a-z0-9][a-z0-9-]{0,62})-(?P<id>[a-f0-9]{64})\.log$"
)


@dataclass(frozen=True, slots=True)
class LogPath:
    """A container log file's path, read."""

    namespace: str
    pod: str
    container: str
    container_id: str


def read_log_path(path: bytes | str | None) -> LogPath | None:
    """The parts of a kubelet container log path, or None for anything else."""
    if path is None:
        return None
    text = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
    found = LOG_PATH.match(text)
    if found is None:
        return None
    return LogPath(found["namespace"], found["pod"], found["container"], found["id"])


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
