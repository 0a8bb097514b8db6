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
JSON_OBJECTS_PER_RECORD = 16  # a record with its body, attributes and values, generously
SEVERITIES = ("trace", "debug", "info", "warn", "error", "fatal")  # 1-4, 5-8, ... 21-24
SERVICE = {
    "service.name": ("service", "name"),
    "service.version": ("service", "version"),
    "service.namespace": ("service", "namespace"),
    "service.instance.id": ("service", "instance", "id"),
}
K8S_KINDS = (
    "pod", "container", "node", "deployment", "statefulset", "daemonset", "replicaset", "job",
    "cronjob",
)  # fmt: skip
K8S = {
    "k8s.namespace.name": ("kubernetes", "namespace"),
    "k8s.pod.uid": ("kubernetes", "pod", "uid"),
    **{f"k8s.{kind}.name": ("kubernetes", kind, "name") for kind in K8S_KINDS},
}


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
    body: bytes,
    content_type: str,
    content_encoding: str | None,
    max_bytes: int,
    max_records: int,
) -> ExportLogsServiceRequest | Unreadable:
    """The request in `body`, or why it cannot be read: among the reasons, over `max_bytes`
    once decompressed, or over `max_records` log records, counted before any is built (a
    few kilobytes of gzip can hold millions of empty records)."""
    if content_type not in (PROTOBUF, JSON):
        detail = f"Content-Type {content_type!r}: send {PROTOBUF} or {JSON}"
        return Unreadable(Unread.CONTENT_TYPE, detail)
    unpacked = _unpacked(body, content_encoding, max_bytes)
    if isinstance(unpacked, Unreadable):
        return unpacked
    return _parsed(unpacked, content_type, max_records)


def _unpacked(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes | Unreadable:
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip":
        return _gunzip(body, max_bytes)
    if encoding not in ("", "identity"):
        detail = f"Content-Encoding {content_encoding!r}: send gzip or nothing"
        return Unreadable(Unread.CONTENT_ENCODING, detail)
    if len(body) > max_bytes:
        return Unreadable(Unread.TOO_LARGE, f"over {max_bytes} bytes")
    return body


def _parsed(
    body: bytes, content_type: str, max_records: int
) -> ExportLogsServiceRequest | Unreadable:
    too_many = Unreadable(Unread.TOO_LARGE, f"over {max_records} log records in one request")
    request = ExportLogsServiceRequest()
    try:
        if content_type == PROTOBUF:
            if count_records(body, max_records) is None:
                return too_many
            request.ParseFromString(body)
        else:
            # Each record is a JSON object: this bounds what parsing the body can build.
            if body.count(b"{") > max_records * JSON_OBJECTS_PER_RECORD:
                return too_many
            ParseDict(_ids_as_base64(orjson.loads(body)), request, ignore_unknown_fields=True)
    except (DecodeError, orjson.JSONDecodeError, ParseError, TypeError, ValueError) as exc:
        form = "protobuf" if content_type == PROTOBUF else "JSON"
        return Unreadable(Unread.MALFORMED, f"not an ExportLogsServiceRequest in {form}: {exc}")
    if content_type == JSON and _records_in(request) > max_records:
        return too_many
    return request


def _records_in(request: ExportLogsServiceRequest) -> int:
    return sum(
        len(scope.log_records)
        for resource in request.resource_logs
        for scope in resource.scope_logs
    )


def count_records(data: bytes, limit: int) -> int | None:
    """The log records of a serialized ExportLogsServiceRequest, counted on the wire without
    building any (request.resource_logs = 1, ResourceLogs.scope_logs = 2, ScopeLogs.log_records
    = 2); None once past `limit`. Bytes not of that form raise DecodeError."""
    count = 0
    for _resource, start, end in _embedded(data, 0, len(data), 1):
        for _scope, scope_start, scope_end in _embedded(data, start, end, 2):
            for _record in _embedded(data, scope_start, scope_end, 2):
                count += 1
                if count > limit:
                    return None
    return count


def _embedded(data: bytes, start: int, end: int, wanted: int) -> Iterator[tuple[int, int, int]]:
    """(field, start, end) of each length-delimited field numbered `wanted` in data[start:end];
    every other field skipped."""
    at = start
    while at < end:
        key, at = _varint(data, at, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(data, at, end)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            size, at = _varint(data, at, end)
            if field == wanted:
                if at + size > end:
                    raise DecodeError("a field runs past its message")
                yield field, at, at + size
            at += size
        else:
            raise DecodeError(f"wire type {wire} is not in OTLP")
    if at != end:
        raise DecodeError("truncated message")


def _varint(data: bytes, at: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < end and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise DecodeError("truncated varint")


def _gunzip(body: bytes, max_bytes: int) -> bytes | Unreadable:
    """Every gzip member of `body`, decompressed, at most `max_bytes` of them."""
    out = b""
    rest = body
    while rest:
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflate.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as exc:
            return Unreadable(Unread.MALFORMED, f"not gzip: {exc}")
        if len(out) > max_bytes or inflate.unconsumed_tail:
            return Unreadable(Unread.TOO_LARGE, f"over {max_bytes} bytes once decompressed")
        if not inflate.eof:
            return Unreadable(Unread.MALFORMED, "gzip stream cut short")
        rest = inflate.unused_data
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
        identity = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
        key = hashlib.blake2b(identity, digest_size=8).hexdigest().encode()  # once per resource
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
                yield OtlpRecord(key, orjson.dumps(document), nanos // 10**6)


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
    """`service`, `kubernetes` and `resource.attributes` from a resource's attributes. Only the
    names below are mapped, so no attribute can turn a mapped string into an object."""
    mapped: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for name, value in resource.items():
        path = SERVICE.get(name) or K8S.get(name)
        if path is None:
            others[name] = value
            continue
        target = mapped
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    if others:
        mapped["resource"] = {"attributes": others}
    return mapped


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
