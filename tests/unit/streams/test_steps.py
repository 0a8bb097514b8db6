"""Each step alone: config validation and what its runtime does to a document."""

import hashlib
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from logway.core.deadletter import Reason
from streams.steps import AnyStep
from streams.steps.base import Dropped, Failure, Record, StepResult
from streams.steps.select import token_bucket

STEP: TypeAdapter[Any] = TypeAdapter(AnyStep)


def run(config: dict[str, Any], doc: dict[str, Any], offset: int = 0) -> StepResult:
    record = Record("logs.acme.raw", 0, offset, b"key", 1_764_064_800_000)
    return STEP.validate_python(config).compile()(doc, record)


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        STEP.validate_python(config)
    return str(caught.value)


# parse


def test_parse_json_merges_the_object_and_removes_the_source() -> None:
    doc = run({"step": "parse", "format": "json"}, {"message": '{"a": 1, "b": {"c": "x"}}'})
    assert doc == {"a": 1, "b": {"c": "x"}}


def test_parse_into_a_target_and_keep_the_source() -> None:
    config = {"step": "parse", "format": "json", "target": "body", "keep_source": True}
    assert run(config, {"message": '{"a": 1}'}) == {"message": '{"a": 1}', "body": {"a": 1}}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"a": 1', Reason.INVALID_JSON),
        ("", Reason.INVALID_JSON),
        ("[1, 2]", Reason.NOT_AN_OBJECT),
        ("42", Reason.NOT_AN_OBJECT),
    ],
)
def test_parse_json_failures_are_values(line: str, reason: Reason) -> None:
    result = run({"step": "parse", "format": "json"}, {"message": line})
    assert isinstance(result, Failure)
    assert result.reason is reason


def test_parse_missing_or_non_text_field() -> None:
    missing = run({"step": "parse", "format": "json", "field": "body"}, {"message": "{}"})
    assert missing == Failure(Reason.MISSING_FIELD, "field 'body' is missing")
    doc = {"message": 12}
    wrong = run({"step": "parse", "format": "json"}, doc)
    assert isinstance(wrong, Failure)
    assert wrong.reason is Reason.PATTERN_MISMATCH
    assert doc == {"message": 12}  # a failed parse leaves the field where it was


def test_parse_logfmt() -> None:
    line = 'level=warn msg="disk almost full" used=93% verbose'
    assert run({"step": "parse", "format": "logfmt"}, {"message": line}) == {
        "level": "warn",
        "msg": "disk almost full",
        "used": "93%",
        "verbose": True,
    }
    nothing = run({"step": "parse", "format": "logfmt"}, {"message": "just words"})
    assert isinstance(nothing, Failure)
    assert nothing.reason is Reason.PATTERN_MISMATCH


def test_parse_regex_with_named_groups() -> None:
    config = {
        "step": "parse",
        "format": "regex",
        "pattern": r'^(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" '
        r"(?P<status>\d{3})(?: (?P<size>\d+))?$",
    }
    doc = run(config, {"message": '10.0.0.1 "GET /pay" 200'})
    assert doc == {"client": "10.0.0.1", "method": "GET", "path": "/pay", "status": "200"}
    miss = run(config, {"message": "garbage"})
    assert isinstance(miss, Failure)
    assert miss.reason is Reason.PATTERN_MISMATCH


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"step": "parse", "format": "regex"}, "needs a `pattern`"),
        ({"step": "parse", "format": "regex", "pattern": r"(a+)\1"}, "RE2 cannot compile"),
        ({"step": "parse", "format": "regex", "pattern": r"(?=a)b"}, "RE2 cannot compile"),
        ({"step": "parse", "format": "regex", "pattern": r"\d+"}, "no named group"),
        ({"step": "parse", "format": "json", "pattern": "x"}, "only for `format: regex`"),
        ({"step": "parse", "format": "xml"}, "format"),
        ({"step": "parse", "format": "json", "field": "a..b"}, "String should match pattern"),
        ({"step": "parse", "format": "json", "colour": "red"}, "Extra inputs are not permitted"),
        ({"step": "unheard-of"}, "does not match any of the expected tags"),
    ],
)
def test_bad_parse_configs_are_refused(config: dict[str, Any], message: str) -> None:
    assert message in refused(config)


def test_parse_cri_line() -> None:
    line = "2026-11-25T10:00:00.123456789Z stderr P part one"
    assert run({"step": "parse", "format": "cri"}, {"message": line}) == {
        "time": "2026-11-25T10:00:00.123456789Z",
        "stream": "stderr",
        "logtag": "P",
        "message": "part one",
    }
    bad = run({"step": "parse", "format": "cri"}, {"message": "2026 stdin X hi"})
    assert isinstance(bad, Failure)
    assert bad.reason is Reason.PATTERN_MISMATCH


def test_parse_docker_marks_split_pieces() -> None:
    whole = '{"log":"hello\\n","stream":"stdout","time":"2026-11-25T10:00:00Z"}'
    piece = '{"log":"hel","stream":"stdout","time":"2026-11-25T10:00:00Z"}'
    assert run({"step": "parse", "format": "docker"}, {"message": whole}) == {
        "message": "hello",
        "stream": "stdout",
        "time": "2026-11-25T10:00:00Z",
        "logtag": "F",
    }
    assert run({"step": "parse", "format": "docker"}, {"message": piece})["logtag"] == "P"  # type: ignore[index]
    not_docker = run({"step": "parse", "format": "docker"}, {"message": '{"msg": "x"}'})
    assert isinstance(not_docker, Failure)


# timestamp


@pytest.mark.parametrize(
    ("value", "formats", "expected"),
    [
        ("2026-11-25T10:00:00Z", ["iso8601"], "2026-11-25T10:00:00.000Z"),
        ("2026-11-25T11:00:00.5+01:00", ["iso8601"], "2026-11-25T10:00:00.500Z"),
        ("2026-11-25 10:00:00", ["iso8601"], "2026-11-25T09:00:00.000Z"),  # Berlin, no offset
        (1764064800, ["unix"], "2025-11-25T10:00:00.000Z"),
        ("1764064800.25", ["unix"], "2025-11-25T10:00:00.250Z"),
        (1764064800123, ["unix_ms"], "2025-11-25T10:00:00.123Z"),
        (
            "25/Nov/2026:10:00:00 +0000",
            ["iso8601", "%d/%b/%Y:%H:%M:%S %z"],
            "2026-11-25T10:00:00.000Z",
        ),
    ],
)
def test_timestamp_formats(value: object, formats: list[str], expected: str) -> None:
    config = {"step": "timestamp", "field": "t", "formats": formats, "timezone": "Europe/Berlin"}
    doc = run(config, {"t": value})
    assert doc["@timestamp"] == expected  # type: ignore[index]


def test_unreadable_timestamp_falls_back_to_kafka_time_with_a_flag() -> None:
    record = Record("logs.acme.raw", 0, 0, None, 1_764_064_800_000)
    step = STEP.validate_python({"step": "timestamp", "field": "t"}).compile()
    doc = step({"t": "yesterday"}, record)
    assert doc == {"t": "yesterday", "@timestamp": "2025-11-25T10:00:00.000Z"}
    assert record.flags == ["timestamp_fallback"]


def test_timestamp_config_is_checked() -> None:
    assert "unknown format" in refused({"step": "timestamp", "formats": ["rfc-something"]})
    assert "unknown time zone" in refused({"step": "timestamp", "timezone": "Mars/Olympus"})


# field steps


def test_set_rename_copy_remove() -> None:
    doc: dict[str, Any] = {"msg": "hi", "k8s": {"pod": "p-1"}, "password": "x"}
    doc = run({"step": "set", "field": "env.name", "value": "prod"}, doc)  # type: ignore[assignment]
    doc = run({"step": "rename", "field": "msg", "to": "message"}, doc)  # type: ignore[assignment]
    doc = run({"step": "copy", "field": "k8s.pod", "to": "pod"}, doc)  # type: ignore[assignment]
    doc = run({"step": "remove", "fields": ["password", "absent.field"]}, doc)  # type: ignore[assignment]
    assert doc == {"env": {"name": "prod"}, "message": "hi", "k8s": {"pod": "p-1"}, "pod": "p-1"}
    assert run({"step": "rename", "field": "nope", "to": "x"}, {"a": 1}) == {"a": 1}


def test_set_gives_each_record_its_own_copy_of_an_object() -> None:
    step = STEP.validate_python({"step": "set", "field": "meta", "value": {"team": "a"}}).compile()
    record = Record("t", 0, 0, None, 0)
    first, second = step({}, record), step({}, record)
    first["meta"]["team"] = "changed"  # type: ignore[index]
    assert second == {"meta": {"team": "a"}}


def test_a_step_with_when_applies_only_to_matching_records() -> None:
    config = {"step": "set", "field": "alert", "value": True, "when": 'level == "error"'}
    assert run(config, {"level": "error"}) == {"level": "error", "alert": True}
    assert run(config, {"level": "info"}) == {"level": "info"}
    assert "condition 'level = 1'" in refused({**config, "when": "level = 1"})


# redaction


def test_mask_by_pattern_and_whole_field() -> None:
    email = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
    config = {"step": "mask", "fields": ["message", "user"], "pattern": email}
    doc = run(config, {"message": "mail a.b@c.de and x@y.org", "user": 7})
    assert doc == {"message": "mail [masked] and [masked]", "user": 7}
    whole = run({"step": "mask", "fields": ["token"], "replacement": r"\1***"}, {"token": "abc"})
    assert whole == {"token": r"\1***"}
    assert "RE2 cannot compile" in refused({"step": "mask", "pattern": "(?<=x)y"})


def test_hash_is_stable_and_unreadable() -> None:
    doc = {"user": {"email": "a@b.c"}, "ids": [1]}
    hashed = run({"step": "hash", "fields": ["user.email", "ids"]}, doc)
    assert hashed == {
        "user": {"email": hashlib.sha256(b"a@b.c").hexdigest()},
        "ids": hashlib.sha256(b"[1]").hexdigest(),
    }
    again = run({"step": "hash", "fields": ["user.email"]}, {"user": {"email": "a@b.c"}})
    assert again == {"user": {"email": hashlib.sha256(b"a@b.c").hexdigest()}}


# selection


def test_drop_and_keep() -> None:
    drop = {"step": "drop", "when": 'level == "debug"'}
    assert run(drop, {"level": "debug"}) == Dropped("rule")
    assert run(drop, {"level": "info"}) == {"level": "info"}
    keep = {"step": "keep", "when": "exists trace_id"}
    assert run(keep, {"trace_id": "t"}) == {"trace_id": "t"}
    assert run(keep, {}) == Dropped("rule")
    assert "Field required" in refused({"step": "drop"})


def test_sample_is_decided_by_origin_so_a_reread_decides_the_same() -> None:
    config = {"step": "sample", "rate": 0.25}
    kept = [offset for offset in range(4000) if run(config, {}, offset) == {}]
    assert 800 < len(kept) < 1200
    assert kept == [offset for offset in range(4000) if run(config, {}, offset) == {}]


def test_limit_is_a_token_bucket() -> None:
    now = [0.0]
    refused_result = Failure(Reason.RATE_LIMITED, "over")
    step = token_bucket(10.0, 5.0, refused_result, clock=lambda: now[0])
    record = Record("t", 0, 0, None, 0)
    results = [step({}, record) for _ in range(8)]
    assert results.count(refused_result) == 3  # burst of 5, then refused
    now[0] = 0.5  # half a second refills 5 tokens
    assert [step({}, record) for _ in range(6)].count(refused_result) == 1


def test_limit_over_limit_choice() -> None:
    dead = STEP.validate_python({"step": "limit", "records_per_s": 1, "burst": 1}).compile()
    record = Record("t", 0, 0, None, 0)
    assert dead({}, record) == {}
    over = dead({}, record)
    assert isinstance(over, Failure)
    assert over.reason is Reason.RATE_LIMITED
    drop = STEP.validate_python(
        {"step": "limit", "records_per_s": 1, "burst": 1, "over_limit": "drop"}
    ).compile()
    drop({}, record)
    assert drop({}, record) == Dropped("rate_limited")
