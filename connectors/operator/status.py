"""A LoggingPipeline's status from a reconcile's verdict: three conditions, the generation they
are about, the live version, its topics and its index family.

- **Validated**: the spec passed the model, its samples' dry run and the claim rules;
- **Applied**: this generation's version is published (topics, grants, template, version);
- **Ready**: both, so the workers run what the resource says. When a later spec is refused,
  Ready is False with the reason, and `liveVersion` still names the last good version, which
  the workers keep running.

A condition's `lastTransitionTime` moves only when its status changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.operator.reconcile import Verdict
from logway.core.names import index_pattern, tenant_topics

Status = dict[str, Any]


def status(
    verdict: Verdict,
    name: str,
    generation: int,
    previous: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Status:
    """The status to write for `verdict`, about the spec of `generation`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    validated = verdict.result in ("applied", "failed")
    applied = verdict.result == "applied"
    if validated:
        validation = ("True", "Valid", f"version {verdict.version}")
    else:
        validation = ("False", verdict.reason, verdict.message)
    if applied:
        application = ("True", verdict.reason, verdict.message)
    elif verdict.result == "failed":
        application = ("False", verdict.reason, verdict.message)
    else:
        stays = (
            f"not applied; version {verdict.live} stays live"
            if verdict.live
            else "not applied; nothing is live"
        )
        application = ("False", "NotApplied", stays)
    readiness = (
        ("True", "Live", verdict.message) if applied else ("False", verdict.reason, verdict.message)
    )
    before = {c.get("type"): c for c in (previous or {}).get("conditions", [])}
    conditions = [
        _condition(kind, values, generation=generation, before=before.get(kind), stamp=stamp)
        for kind, values in (
            ("Validated", validation),
            ("Applied", application),
            ("Ready", readiness),
        )
    ]
    return {
        "observedGeneration": generation,
        "conditions": conditions,
        "liveVersion": verdict.live,
        "topics": list(tenant_topics(name)) if verdict.live else None,
        "indexPattern": index_pattern(name) if verdict.live else None,
        "owner": verdict.owner,
    }


def _condition(
    kind: str,
    values: tuple[str, str, str],
    *,
    generation: int,
    before: Mapping[str, Any] | None,
    stamp: str,
) -> dict[str, Any]:
    state, reason, message = values
    moved = before is None or before.get("status") != state
    return {
        "type": kind,
        "status": state,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": stamp
        if moved or before is None
        else before.get("lastTransitionTime", stamp),
    }
