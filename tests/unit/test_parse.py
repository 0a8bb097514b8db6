import base64

import orjson
import pytest

from streams.deadletter import DeadLetter, Reason
from streams.origin import Origin
from streams.parse import Rejection, parse_log_record
from streams.processing import process_record

ORIGIN = Origin(topic="logs.acme.raw", partition=2, offset=41)


def test_json_object_is_the_document() -> None:
    assert parse_log_record(b'{"level": "info", "msg": "hi"}') == {"level": "info", "msg": "hi"}


def test_docker_record_is_unwrapped_and_keeps_stream_and_time() -> None:
    line = orjson.dumps({"msg": "hi"}).decode() + "\n"
    record = orjson.dumps({"log": line, "stream": "stderr", "time": "2026-11-25T10:00:00Z"})
    assert parse_log_record(record) == {
        "msg": "hi",
        "stream": "stderr",
        "@timestamp": "2026-11-25T10:00:00Z",
    }


def test_docker_record_does_not_override_the_lines_own_timestamp() -> None:
    line = '{"@timestamp": "2026-01-01T00:00:00Z"}\n'
    record = orjson.dumps({"log": line, "stream": "stdout", "time": "2026-11-25T10:00:00Z"})
    parsed = parse_log_record(record)
    assert isinstance(parsed, dict)
    assert parsed["@timestamp"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"msg": "truncated', Reason.INVALID_JSON),
        (b"", Reason.INVALID_JSON),
        (b"   \n", Reason.INVALID_JSON),
        (b"plain text line", Reason.INVALID_JSON),
        (b"42", Reason.NOT_AN_OBJECT),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'"a string"', Reason.NOT_AN_OBJECT),
        (b"\xc3\x28", Reason.INVALID_UTF8),
        (b'{"msg": "\xed\xa0\x80"}', Reason.INVALID_UTF8),  # a lone surrogate, UTF-8 encoded
        (b"[" * 5000 + b"]" * 5000, Reason.INVALID_JSON),  # deeper than the parser allows
        (b'{"log": "not json\\n", "stream": "stdout", "time": "t"}', Reason.INVALID_JSON),
    ],
)
def test_bad_records_are_rejected_with_a_reason(raw: bytes, reason: Reason) -> None:
    result = parse_log_record(raw)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert result.error


def test_nul_bytes_are_valid_text() -> None:
    assert parse_log_record(b'{"msg": "a\\u0000b"}') == {"msg": "a\x00b"}


def test_processed_document_carries_its_origin_and_id() -> None:
    output = process_record("acme", ORIGIN, b'{"msg": "hi"}', 1_764_064_800_000)
    assert not output.dead_letter
    assert output.topic == "logs.acme.processed"
    assert output.key == b"logs.acme.raw:2:41:0"
    document = orjson.loads(output.value)
    assert document["msg"] == "hi"
    assert document["logway"] == {
        "tenant": "acme",
        "id": "logs.acme.raw:2:41:0",
        "origin": {"topic": "logs.acme.raw", "partition": 2, "offset": 41, "index": 0},
        "received_at": "2025-11-25T10:00:00+00:00",
        "tenant_version": None,
    }
    assert document["@timestamp"] == "2025-11-25T10:00:00+00:00"


def test_invalid_utf8_goes_to_the_tenant_dlq_with_the_original_bytes_in_base64() -> None:
    raw = b'{"msg": "caf\xc3\x28"}'
    output = process_record("acme", ORIGIN, raw, 1_764_064_800_000)
    assert output.dead_letter
    assert output.topic == "logs.acme.dlq"
    letter = DeadLetter.from_bytes(output.value)
    assert letter.tenant == "acme"
    assert letter.reason is Reason.INVALID_UTF8
    assert letter.original_encoding == "base64"
    assert base64.b64decode(letter.original) == raw
    assert letter.original_bytes() == raw
    assert letter.source == ORIGIN
    assert letter.event_id == "logs.acme.raw:2:41:0"


def test_invalid_json_keeps_the_original_as_text() -> None:
    output = process_record("acme", ORIGIN, b"{oops", None)
    letter = DeadLetter.from_bytes(output.value)
    assert letter.reason is Reason.INVALID_JSON
    assert letter.original_encoding == "utf-8"
    assert letter.original == "{oops"


def test_a_bug_in_a_step_dead_letters_the_record_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_value: bytes) -> object:
        raise KeyError("surprise")

    monkeypatch.setattr("streams.processing.parse_log_record", broken)
    output = process_record("acme", ORIGIN, b"{}", None)
    letter = DeadLetter.from_bytes(output.value)
    assert letter.reason is Reason.INTERNAL_ERROR
    assert "KeyError" in letter.error


def test_a_tombstone_is_dead_lettered_not_dropped() -> None:
    output = process_record("acme", ORIGIN, None, None)
    assert output.dead_letter
    assert DeadLetter.from_bytes(output.value).reason is Reason.INVALID_JSON


def test_both_outputs_carry_the_tenant_version_that_made_them() -> None:
    document = orjson.loads(process_record("acme", ORIGIN, b"{}", None, "3f1c2a9b0d4e").value)
    assert document["logway"]["tenant_version"] == "3f1c2a9b0d4e"
    letter = DeadLetter.from_bytes(process_record("acme", ORIGIN, b"{", None, "3f1c2a9b0d4e").value)
    assert letter.tenant_version == "3f1c2a9b0d4e"
