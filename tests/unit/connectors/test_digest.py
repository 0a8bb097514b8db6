"""The Slack digest: what it counts, what it shows, and what it never shows."""

from datetime import UTC, datetime, timedelta

import orjson

from connectors.notifier.digest import Digest, mask, severity
from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.origin import Origin

WEBHOOK = "https://hooks.slack.com/services/T000/B000/secretpart"


def letter(reason: Reason, original: bytes, n: int = 0, step: str = "parse") -> DeadLetter:
    return DeadLetter.build(
        tenant="payments",
        stage=Stage.PROCESSOR,
        step=step,
        reason=reason,
        error=f"failed on user x{n}@example.com",
        original=original,
        source=Origin(topic="logs.payments.raw", partition=0, offset=n),
        tenant_version="3f1c2a9b0d4e",
    )


def test_counts_by_reason_and_step_with_first_and_last_time() -> None:
    digest = Digest("payments", opened=0.0)
    for n in range(5):
        digest.add(letter(Reason.INVALID_JSON, b'{"cut', n), "logs.payments.dlq", 0, 10 + n)
    digest.add(letter(Reason.PATTERN_MISMATCH, b"x", 9, step="parse"), "logs.payments.dlq", 1, 3)
    assert digest.total == 6
    assert digest.counts.most_common(1) == [(("invalid_json", "processor", "parse"), 5)]
    assert digest.offsets == {("logs.payments.dlq", 0): 15, ("logs.payments.dlq", 1): 4}
    assert digest.first is not None
    assert digest.last is not None
    assert digest.first <= digest.last
    assert [s.reason for s in digest.samples] == [Reason.INVALID_JSON, Reason.PATTERN_MISMATCH]


def test_the_message_is_block_kit_with_the_commands_and_no_secrets() -> None:
    digest = Digest("payments", opened=0.0)
    original = b'{"password": "hunter2", "email": "ana@example.com", "card": "4111111111111111'
    digest.add(letter(Reason.INVALID_JSON, original), "logs.payments.dlq", 0, 0)
    message = digest.message("#payments-alerts", 15)
    text = orjson.dumps(message).decode()
    assert message["channel"] == "#payments-alerts"
    assert [b["type"] for b in message["blocks"]] == [
        "header",
        "section",
        "section",
        "section",
        "context",
    ]
    assert "`invalid_json` at processor/parse: *1*" in text
    assert "3f1c2a9b0d4e" in text
    assert "logway dlq show --tenant payments --since 15m" in text
    assert "logway dlq replay --tenant payments --since 15m" in text
    for secret in ("hunter2", "ana@example.com", "4111111111111111", "x0@example.com", WEBHOOK):
        assert secret not in text


def test_samples_are_cut_short() -> None:
    assert len(mask("x" * 5000)) < 320


def test_severity_and_what_is_worth_posting() -> None:
    assert severity(Reason.INTERNAL_ERROR) == "critical"
    assert severity(Reason.RATE_LIMITED) == "info"
    assert severity(Reason.MAPPING_CONFLICT) == "warning"
    digest = Digest("payments", opened=0.0)
    assert not digest.worth_posting("info")  # nothing in it
    digest.add(letter(Reason.RATE_LIMITED, b"{}"), "logs.payments.dlq", 0, 0)
    assert digest.worth_posting("info")
    assert not digest.worth_posting("warning")
    digest.add(letter(Reason.INTERNAL_ERROR, b"{}"), "logs.payments.dlq", 0, 1)
    assert digest.worth_posting("critical")


def test_failure_times_are_timezone_aware() -> None:
    one = letter(Reason.INVALID_JSON, b"{")
    assert one.failed_at.tzinfo is not None
    assert datetime.now(UTC) - one.failed_at < timedelta(seconds=5)
