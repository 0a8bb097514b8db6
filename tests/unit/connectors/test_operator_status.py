"""A LoggingPipeline's status from a reconcile's verdict: the conditions, the last good
version kept when a spec is refused, and transition times that move only on a change."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.operator.reconcile import Verdict
from connectors.operator.status import status

T1 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
APPLIED = Verdict("applied", "Applied", "version abc is live", "abc", "abc")


def states(found: dict[str, object]) -> dict[str, tuple[str, str]]:
    conditions = found["conditions"]
    assert isinstance(conditions, list)
    return {c["type"]: (c["status"], c["reason"]) for c in conditions}


def test_an_applied_spec_is_validated_applied_and_ready_with_its_topics() -> None:
    found = status(APPLIED, "pay", 3, now=T1)
    assert states(found) == {
        "Validated": ("True", "Valid"),
        "Applied": ("True", "Applied"),
        "Ready": ("True", "Live"),
    }
    assert found["observedGeneration"] == 3
    assert found["liveVersion"] == "abc"
    assert found["topics"] == ["logs.pay.raw", "logs.pay.processed", "logs.pay.dlq"]
    assert found["indexPattern"] == "logs-pay.*"
    assert found["owner"] is None


def test_a_refused_spec_keeps_the_last_good_version_live_and_says_so() -> None:
    invalid = Verdict("invalid", "Invalid", "spec.routes.0.when: bad", live="abc")
    found = status(invalid, "pay", 4, status(APPLIED, "pay", 3, now=T1), now=T2)
    assert states(found) == {
        "Validated": ("False", "Invalid"),
        "Applied": ("False", "NotApplied"),
        "Ready": ("False", "Invalid"),
    }
    conditions = {c["type"]: c for c in found["conditions"]}  # type: ignore[attr-defined]
    assert conditions["Applied"]["message"] == "not applied; version abc stays live"
    assert conditions["Validated"]["message"] == "spec.routes.0.when: bad"
    assert found["liveVersion"] == "abc"


def test_a_claim_refusal_names_its_owner_and_a_failed_apply_is_valid_but_not_applied() -> None:
    taken = Verdict("refused", "ClaimTaken", "taken", "def", None, "shop/pay")
    found = status(taken, "web", 1, now=T1)
    assert found["owner"] == "shop/pay"
    assert found["liveVersion"] is None
    assert found["topics"] is None
    failed = Verdict("failed", "ApplyFailed", "topic: refused", "def", None)
    assert states(status(failed, "web", 1, now=T1))["Validated"] == ("True", "Valid")
    assert states(status(failed, "web", 1, now=T1))["Applied"] == ("False", "ApplyFailed")


def test_a_transition_time_moves_only_when_the_condition_changes() -> None:
    first = status(APPLIED, "pay", 1, now=T1)
    again = status(APPLIED, "pay", 2, first, now=T2)
    times = {c["type"]: c["lastTransitionTime"] for c in again["conditions"]}  # type: ignore[attr-defined]
    assert set(times.values()) == {"2026-11-30T10:00:00Z"}
    refused = status(Verdict("invalid", "Invalid", "x", live="abc"), "pay", 3, again, now=T2)
    moved = {c["type"]: c["lastTransitionTime"] for c in refused["conditions"]}  # type: ignore[attr-defined]
    assert moved == dict.fromkeys(("Validated", "Applied", "Ready"), "2026-11-30T11:00:00Z")
