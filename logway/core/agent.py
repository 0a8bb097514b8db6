"""The records the node agent writes: the OpenTelemetry Collector configuration that `logway
render forwarder --format otel-collector` renders sends one container log line per record, as
JSON, with the header `logway-agent: otel-filelog`:

    {"message": <the line>, "stream": "stdout", "@timestamp": <when the runtime wrote it>,
     "source_file": <the file>, "offset": <where the line starts in it>}

The collector's kafka exporter keys a record by a hash of the container's resource attributes
(it cannot key by a record's own attribute), which keeps a container's lines in one partition,
in order, but names no file. So the processor reads the file from the record itself:

- the file's path stands for the key, as with the Fluent Bit records keyed by their path: it
  gives the Kubernetes metadata (only in the tenant's own namespaces) and groups the pieces
  and lines of one stream (`reassemble`, `multiline`);
- the event id is `file:` and a hash of the file (its name before rotation), the offset, the
  time the runtime wrote the line and the line, so a line the agent sends again after a crash
  overwrites itself in Elasticsearch; the same text at the same offset of the next file (after
  a rotation or a truncation) was written at another time, and is another event.

Anyone who may write a tenant's raw topic can set the header; what it gives is bounded the
same way as a key: metadata of the tenant's own namespaces only, and an id in the tenant's own
indices. A record with the header whose body is not of this form is processed as any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from logway.core.kubernetes import unrotated

AGENT_HEADER = "logway-agent"
FILELOG = b"otel-filelog"
ID_PREFIX = "file:"


@dataclass(frozen=True, slots=True)
class AgentLine:
    """Where a line the agent sent was read: its file (the record's stand-in key), its id."""

    key: bytes
    event_id: str


def agent_line(
    headers: Iterable[tuple[str, bytes | None]], value: bytes | None
) -> AgentLine | None:
    """The file and id of a line the node agent sent; None for any other record."""
    if value is None or not any(h == (AGENT_HEADER, FILELOG) for h in headers):
        return None
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    path, offset, line = body.get("source_file"), body.get("offset"), body.get("message")
    written = body.get("@timestamp")
    if not (isinstance(path, str) and type(offset) is int and isinstance(line, str)):
        return None
    digest = hashlib.blake2b(digest_size=16)
    for part in (unrotated(path), str(offset), str(written), line):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return AgentLine(path.encode("utf-8", "surrogatepass"), ID_PREFIX + digest.hexdigest())
