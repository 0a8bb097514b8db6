"""OTLP logs read (protobuf and JSON, gzip) and mapped to the fields teams search."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from connectors.gateway.otlp import (
    JSON,
    PROTOBUF,
    Unread,
    Unreadable,
    count_records,
    decode,
    event_id_prefix,
    records,
    response,
)
from logway.core.origin import FORWARDED_ID_RE

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
MAX = 1 << 20


def request() -> ExportLogsServiceRequest:
    """One resource (a service in a pod) with three records: a string body with everything
    set, a map body, and a record with nothing but an int body."""

    def kv(key: str, **value: Any) -> dict[str, Any]:
        return {"key": key, "value": value}

    document = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        kv("service.name", stringValue="checkout"),
                        kv("service.version", stringValue="4.2.0"),
                        kv("service.instance.id", stringValue="c-7f9"),
                        kv("k8s.namespace.name", stringValue="shop"),
                        kv("k8s.pod.name", stringValue="checkout-7f9c"),
                        kv("k8s.pod.uid", stringValue="0b7c9e2a"),
                        kv("k8s.container.name", stringValue="api"),
                        kv("k8s.deployment.name", stringValue="checkout"),
                        kv("host.name", stringValue="node-3"),
                    ]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "checkout.orders", "version": "1.0"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1796600000123456789",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "charge failed: card declined"},
                                "attributes": [
                                    kv("order.id", intValue="18"),
                                    kv("retry", boolValue=True),
                                ],
                                "traceId": TRACE,
                                "spanId": SPAN,
                                "eventName": "charge.failed",
                            },
                            {
                                "observedTimeUnixNano": "1796600001000000000",
                                "severityNumber": 9,
                                "body": {
                                    "kvlistValue": {
                                        "values": [
                                            kv("msg", stringValue="cart saved"),
                                            kv("items", arrayValue={"values": [{"intValue": "3"}]}),
                                        ]
                                    }
                                },
                            },
                            {"timeUnixNano": "1796600002000000000", "body": {"intValue": "7"}},
                        ],
                    }
                ],
            }
        ]
    }
    message = ExportLogsServiceRequest()
    decoded = decode(orjson.dumps(document), JSON, None, MAX, 1000)
    assert isinstance(decoded, ExportLogsServiceRequest), decoded
    message.CopyFrom(decoded)
    return message


def documents(message: ExportLogsServiceRequest) -> list[dict[str, Any]]:
    return [orjson.loads(record.value) for record in records(message)]


def test_a_record_becomes_the_fields_teams_search() -> None:
    first, second, third = documents(request())
    resource = {
        "service": {"name": "checkout", "version": "4.2.0", "instance": {"id": "c-7f9"}},
        "kubernetes": {
            "namespace": "shop",
            "pod": {"name": "checkout-7f9c", "uid": "0b7c9e2a"},
            "container": {"name": "api"},
            "deployment": {"name": "checkout"},
        },
        "resource": {"attributes": {"host.name": "node-3"}},
    }
    assert first == {
        "message": "charge failed: card declined",
        "@timestamp": "2026-12-06T23:33:20.123Z",
        "log": {"level": "error"},
        "event": {"severity": 17, "name": "charge.failed"},
        "trace": {"id": TRACE},
        "span": {"id": SPAN},
        "attributes": {"order.id": 18, "retry": True},
        "scope": {"name": "checkout.orders", "version": "1.0"},
        **resource,
    }
    # A map body gives fields; no time but the observed one; the level from the number.
    assert second["msg"] == "cart saved"
    assert second["items"] == [3]
    assert second["@timestamp"] == "2026-12-06T23:33:21.000Z"
    assert second["log"] == {"level": "info"}
    assert third["message"] == "7"
    assert "log" not in third
    keys = {record.key for record in records(request())}
    assert len(keys) == 1  # one resource, one key: its records stay in order


def test_protobuf_json_and_gzip_read_the_same_request_and_name_the_same_records() -> None:
    message = request()
    binary = message.SerializeToString()
    as_json = orjson.dumps(MessageToDict(message))
    half = len(binary) // 2
    for body, content_type, encoding in (
        (binary, PROTOBUF, None),
        (gzip.compress(binary), PROTOBUF, "gzip"),
        (gzip.compress(binary, mtime=1), PROTOBUF, "GZIP"),  # compressed again, another header
        (gzip.compress(binary[:half]) + gzip.compress(binary[half:]), PROTOBUF, "gzip"),  # members
    ):
        decoded = decode(body, content_type, encoding, MAX, 1000)
        assert isinstance(decoded, ExportLogsServiceRequest)
        assert documents(decoded) == documents(message)
        assert event_id_prefix("shop", decoded) == event_id_prefix("shop", message)
    # MessageToDict writes ids in base64: OTLP/JSON's are hex, read as hex.
    assert b'"traceId":"W47/95gDgQPSabYzgT/GDA=="' in as_json
    prefix = event_id_prefix("shop", message)
    assert FORWARDED_ID_RE.fullmatch(f"{prefix}999999")  # the processor takes the ids


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "reason"),
    [
        (b"\x00\x01", "text/plain", None, Unread.CONTENT_TYPE),
        (b"{}", JSON, "br", Unread.CONTENT_ENCODING),
        (b"not gzip", PROTOBUF, "gzip", Unread.MALFORMED),
        (gzip.compress(b"\x00" * (MAX + 1)), PROTOBUF, "gzip", Unread.TOO_LARGE),  # a bomb
        (gzip.compress(b"x" * 100)[:20], PROTOBUF, "gzip", Unread.MALFORMED),
        (b"\xff\xff\xff", PROTOBUF, None, Unread.MALFORMED),
        (b"[1, 2]", JSON, None, Unread.MALFORMED),
        (b'{"resourceLogs": "x"}', JSON, None, Unread.MALFORMED),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
            JSON,
            None,
            Unread.MALFORMED,
        ),
    ],
)
def test_a_request_that_cannot_be_read_says_why(
    body: bytes, content_type: str, encoding: str | None, reason: Unread
) -> None:
    decoded = decode(body, content_type, encoding, MAX, 1000)
    assert isinstance(decoded, Unreadable)
    assert decoded.reason == reason
    assert decoded.detail


def test_a_request_of_too_many_records_is_refused_before_any_is_built() -> None:
    """16 KiB of gzip can hold millions of empty records: they are counted on the wire."""
    bomb = ExportLogsServiceRequest()
    scope = bomb.resource_logs.add().scope_logs.add()
    for _ in range(1001):
        scope.log_records.add()
    binary = bomb.SerializeToString()
    assert count_records(binary, 5000) == 1001
    assert count_records(binary, 1000) is None
    refused = decode(gzip.compress(binary), PROTOBUF, "gzip", MAX, 1000)
    assert isinstance(refused, Unreadable)
    assert refused.reason == Unread.TOO_LARGE
    assert "1000 log records" in refused.detail
    as_json = orjson.dumps(MessageToDict(bomb))
    refused = decode(as_json, JSON, None, MAX, 1000)
    assert isinstance(refused, Unreadable)
    assert refused.reason == Unread.TOO_LARGE
    assert isinstance(decode(binary, PROTOBUF, None, MAX, 1001), ExportLogsServiceRequest)


def test_resource_attributes_never_turn_a_mapped_field_into_an_object() -> None:
    message = ExportLogsServiceRequest()
    resource = message.resource_logs.add()
    for key, value in (
        ("k8s.namespace.name", "shop"),
        ("k8s.namespace.uid", "u-1"),
        ("service.name", "api"),
        ("service.name.suffix", "x"),
    ):
        attribute = resource.resource.attributes.add()
        attribute.key, attribute.value.string_value = key, value
    resource.scope_logs.add().log_records.add().body.string_value = "hi"
    [doc] = documents(message)
    assert doc["kubernetes"] == {"namespace": "shop"}
    assert doc["service"] == {"name": "api"}
    assert doc["resource"]["attributes"] == {"k8s.namespace.uid": "u-1", "service.name.suffix": "x"}


def test_the_answer_is_a_partial_success_only_when_records_were_refused() -> None:
    assert response(0, "", JSON) == b"{}"
    assert orjson.loads(response(2, "too big", JSON)) == {
        "partialSuccess": {"rejectedLogRecords": 2, "errorMessage": "too big"}
    }
    answer = ExportLogsServiceResponse()
    answer.ParseFromString(response(2, "too big", PROTOBUF))
    assert answer.partial_success.rejected_log_records == 2
    assert not ExportLogsServiceResponse.FromString(response(0, "", PROTOBUF)).HasField(
        "partial_success"
    )
