"""OTLP logs to logway records: a request's bytes decoded (protobuf or JSON, gzip or not), and
each log record made into the document teams search.

- `@timestamp`: the record's time, else the time it was observed, else now;
- the body: a string is `message`; a map's fields go to the top level (a field the mapping
  below sets wins); any other value is `message` as JSON;
- `log.level`: the severity text, lower-cased, else the severity number's range (trace, debug,
  info, warn, error, fatal); `event.severity`: the number;
- `trace.id`, `span.id`: hex, as OTLP/JSON writes them; `event.name` when the record has one;
- the resource's `service.*` to `service`, its `k8s.*` to `kubernetes` (`k8s.pod.name` to
  `kubernetes.pod.name`, `k8s.deployment.name` to `kubernetes.deployment.name`, ...); every
  other resource attribute under `resource.attributes`, the record's own under `attributes`,
  the instrumentation scope under `scope`.

Each record gets an event id from the request and its place in it (`fwd:<tenant>:otlp<hash of
the request's content>:<index>`, the gateway's form), so a request a client sends again after a
lost answer overwrites what it stored the first time. Two identical requests are one: OTLP records
carry their times, so a real repeat differs.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from streams.steps.timestamp import format_time

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_RECORDS = 1_000_000  # an event id's index has at most 6 digits
SEVERITIES = ("trace", "debug", "info", "warn", "error", "fatal")  # 1-4, 5-8, ... 21-24
SERVICE = {
    "service.name": ("name",),
    "service.version": ("version",),
    "service.namespace": ("namespace",),
    "service.instance.id": ("instance", "id"),
}
K8S_PREFIX = "k8s."


class Unread(StrEnum):
    """Why a request could not be read (bounded: a metric's label)."""

    CONTENT_TYPE = "content_type"
    CONTENT_ENCODING = "content_encoding"
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A request that cannot be read: why, and what is wrong with it, for the client."""

    reason: Unread
    detail: str


class _MalformedError(ValueError):
    """Raised inside the JSON reading only; `decode` returns it as `Unreadable`."""


@dataclass(frozen=True, slots=True)
class OtlpRecord:
    """One log record as a raw record of the tenant: its key (its resource), value, time."""

    key: bytes
    value: bytes
    timestamp_ms: int


def decode(
    body: bytes, content_type: str, content_encoding: str | None, max_bytes: int
) -> ExportLogsServiceRequest | Unreadable:
    """The request in `body`, or why it cannot be read (over `max_bytes` once decompressed
    among the reasons)."""
    if content_encoding not in (None, "", "identity", "gzip"):
        detail = f"Content-Encoding {content_encoding!r}: send gzip or nothing"
        return Unreadable(Unread.CONTENT_ENCODING, detail)
    if content_type not in (PROTOBUF, JSON):
        detail = f"Content-Type {content_type!r}: send {PROTOBUF} or {JSON}"
        return Unreadable(Unread.CONTENT_TYPE, detail)
    if content_encoding == "gzip":
        inflated = _gunzip(body, max_bytes)
        if isinstance(inflated, Unreadable):
            return inflated
        body = inflated
    request = ExportLogsServiceRequest()
    try:
        if content_type == PROTOBUF:
            request.ParseFromString(body)
        else:
            ParseDict(_ids_as_base64(orjson.loads(body)), request, ignore_unknown_fields=True)
    except (DecodeError, orjson.JSONDecodeError, ParseError, TypeError, ValueError) as exc:
        form = "protobuf" if content_type == PROTOBUF else "JSON"
        return Unreadable(Unread.MALFORMED, f"not an ExportLogsServiceRequest in {form}: {exc}")
    return request


def _gunzip(body: bytes, max_bytes: int) -> bytes | Unreadable:
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        return Unreadable(Unread.MALFORMED, f"not gzip: {exc}")
    if len(out) > max_bytes or inflate.unconsumed_tail:
        return Unreadable(Unread.TOO_LARGE, f"over {max_bytes} bytes once decompressed")
    if not inflate.eof:
        return Unreadable(Unread.MALFORMED, "gzip stream cut short")
    return out


def _ids_as_base64(document: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON reads bytes as base64. What
    is not of the request's shape is left for the protobuf reader to refuse."""
    if not isinstance(document, dict):
        raise _MalformedError("the request is not a JSON object")
    for resource_logs in _objects(document, "resourceLogs"):
        for scope_logs in _objects(resource_logs, "scopeLogs"):
            for record in _objects(scope_logs, "logRecords"):
                for name in ("traceId", "spanId"):
                    value = record.get(name)
                    if isinstance(value, str) and value:
                        try:
                            record[name] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError as exc:
                            raise _MalformedError(f"{name} {value!r} is not hex") from exc
    return document


def _objects(parent: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    items = parent.get(name)
    if isinstance(items, list):
        yield from (item for item in items if isinstance(item, dict))


def records(request: ExportLogsServiceRequest) -> Iterator[OtlpRecord]:
    """Each log record of the request, in order, as the tenant's raw record."""
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        common = _from_resource(resource)
        key = hashlib.blake2b(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS), digest_size=8)
        for scope_logs in resource_logs.scope_logs:
            scope = {
                name: value
                for name, value in (
                    ("name", scope_logs.scope.name),
                    ("version", scope_logs.scope.version),
                )
                if value
            }
            for record in scope_logs.log_records:
                document, nanos = _document(record, common, scope)
                yield OtlpRecord(key.hexdigest().encode(), orjson.dumps(document), nanos // 10**6)


def event_id_prefix(tenant: str, request: ExportLogsServiceRequest) -> str:
    """The ids of a request's records are this and their index (see the module docstring):
    from the request's content, so that a client compressing it again (gzip writes the time
    into its header) or sending it as JSON the second time names the same records."""
    content = request.SerializeToString(deterministic=True)
    return f"fwd:{tenant}:otlp{hashlib.blake2b(content, digest_size=20).hexdigest()}:"


def response(rejected: int, message: str, content_type: str) -> bytes:
    """The answer: empty when everything was stored, else a partial success."""
    answer = ExportLogsServiceResponse()
    if rejected:
        answer.partial_success.rejected_log_records = rejected
        answer.partial_success.error_message = message
    if content_type == PROTOBUF:
        return answer.SerializeToString()
    if not rejected:
        return b"{}"
    partial = {"rejectedLogRecords": rejected, "errorMessage": message}
    return orjson.dumps({"partialSuccess": partial})


def _document(
    record: LogRecord, common: dict[str, Any], scope: dict[str, str]
) -> tuple[dict[str, Any], int]:
    document: dict[str, Any] = {}
    body = _value(record.body) if record.HasField("body") else None
    if isinstance(body, dict):
        document.update(body)
    elif isinstance(body, str):
        document["message"] = body
    elif body is not None:
        document["message"] = orjson.dumps(body).decode()
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    if not nanos:
        nanos = int(datetime.now(UTC).timestamp() * 10**9)
    document["@timestamp"] = format_time(datetime.fromtimestamp(nanos / 10**9, UTC))
    level = record.severity_text.lower() or _level(record.severity_number)
    if level:
        document["log"] = {"level": level}
    event: dict[str, Any] = {}
    if record.severity_number:
        event["severity"] = int(record.severity_number)
    if record.event_name:
        event["name"] = record.event_name
    if event:
        document["event"] = event
    if record.trace_id.strip(b"\0"):
        document["trace"] = {"id": record.trace_id.hex()}
    if record.span_id.strip(b"\0"):
        document["span"] = {"id": record.span_id.hex()}
    if record.attributes:
        document["attributes"] = _attributes(record.attributes)
    if scope:
        document["scope"] = scope
    document.update(common)
    return document, nanos


def _level(number: int) -> str | None:
    return SEVERITIES[(number - 1) // 4] if 1 <= number <= 24 else None


def _from_resource(resource: dict[str, Any]) -> dict[str, Any]:
    """`service`, `kubernetes` and `resource.attributes` from a resource's attributes."""
    mapped: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for name, value in resource.items():
        if name in SERVICE:
            _put(mapped.setdefault("service", {}), SERVICE[name], value)
        elif name.startswith(K8S_PREFIX) and name.count(".") == 2:
            _, kind, field = name.split(".")  # k8s.pod.name, k8s.namespace.name, ...
            k8s = mapped.setdefault("kubernetes", {})
            if kind == "namespace" and field == "name":
                k8s["namespace"] = value
            else:
                _put(k8s, (kind, field), value)
        else:
            others[name] = value
    if others:
        mapped["resource"] = {"attributes": others}
    return mapped


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        inner = target.get(name)
        if not isinstance(inner, dict):
            inner = target[name] = {}
        target = inner
    target[path[-1]] = value


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        found[pair.key] = _value(pair.value)
    return found


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)
